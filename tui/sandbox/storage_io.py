"""Object bytes on the wire: media, multipart and resumable uploads, and ranged downloads.

Everything streams: request bodies go to disk in slices as they arrive (hashed on the way),
downloads are read from disk in slices. Nothing becomes a visible object until its last byte
arrived and its MD5/CRC32C match what the client said (`x-goog-hash`, `md5Hash`/`crc32c` in
the metadata): an upload cut off mid-way leaves only a session to resume, never a partial
object.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tui.sandbox import storage_access as acc
from tui.sandbox import storage_state as st
from tui.sandbox import validation
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError

WRITE_SLICE = 4 * 1024 * 1024  # bytes gathered before one disk write (off the event loop)
READ_SLICE = 1024 * 1024

_CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Hasher:
    """MD5 and CRC32C together, base64 as Google reports them."""

    def __init__(self) -> None:
        import google_crc32c

        self.md5 = hashlib.md5()
        self.crc = google_crc32c.Checksum()
        self.size = 0

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        self.crc.update(data)
        self.size += len(data)

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(self.md5.digest()).decode()

    @property
    def crc32c_b64(self) -> str:
        return base64.b64encode(self.crc.digest()).decode()

    @classmethod
    def of_file(cls, path: Path) -> Hasher:
        hasher = cls()
        with path.open("rb") as fh:
            while chunk := fh.read(READ_SLICE):
                hasher.update(chunk)
        return hasher


def _write(fh: Any, hasher: Hasher, data: bytes) -> None:
    fh.write(data)
    hasher.update(data)


class Spool:
    """Appends to a file in large slices written in a thread, hashing what it writes."""

    def __init__(self, fh: Any, hasher: Hasher) -> None:
        self.fh = fh
        self.hasher = hasher
        self.buffer = bytearray()
        self.written = 0

    async def add(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= WRITE_SLICE:
            await self.flush()

    async def flush(self) -> None:
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            await asyncio.to_thread(_write, self.fh, self.hasher, data)
            self.written += len(data)


def upload_dir(ctx: SandboxContext) -> Path:
    path = ctx.blob_dir / "gcs" / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_goog_hash(header: str | None) -> dict[str, str]:
    """`x-goog-hash: crc32c=AAAAAA==,md5=…` → {"crc32c": …, "md5Hash": …}."""
    found: dict[str, str] = {}
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "crc32c" and value:
            found["crc32c"] = value
        elif key == "md5" and value:
            found["md5Hash"] = value
    return found


def verify(hasher: Hasher, expected: dict[str, str]) -> None:
    actual = {"md5Hash": hasher.md5_b64, "crc32c": hasher.crc32c_b64}
    labels = {"md5Hash": "MD5", "crc32c": "CRC32C"}
    for key, label in labels.items():
        want = expected.get(key)
        if want and want != actual[key]:
            raise ApiError(
                400,
                f'Provided {label} "{want}" doesn\'t match calculated {label} "{actual[key]}".',
                "invalid",
            )


def finish_object(
    ctx: SandboxContext,
    request: Request,
    bucket: str,
    name: str,
    path: Path,
    hasher: Hasher,
    metadata: dict[str, Any],
    expected: dict[str, str],
    query: dict[str, str],
) -> Response:
    try:
        verify(hasher, expected)
        doc = st.store_object(
            ctx,
            bucket,
            name,
            path,
            size=hasher.size,
            md5=hasher.md5_b64,
            crc32c=hasher.crc32c_b64,
            metadata=metadata,
            query=query,
        )
    finally:
        path.unlink(missing_ok=True)  # already moved when it succeeded
    bucket_doc = st.get_bucket(ctx, bucket)
    return JSONResponse(st.render_object(ctx, bucket_doc, doc, base_url(request), full=True))


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _expected_from(metadata: dict[str, Any]) -> dict[str, str]:
    return {k: str(metadata[k]) for k in ("md5Hash", "crc32c") if metadata.get(k)}


# --- simple (media) and multipart uploads ----------------------------------------------------


async def media_upload(
    ctx: SandboxContext, request: Request, bucket: str, query: dict[str, str]
) -> Response:
    name = query.get("name") or ""
    st.validate_object_name(name)
    st.get_bucket(ctx, bucket)
    metadata = {"contentType": request.headers.get("content-type") or "application/octet-stream"}
    path = upload_dir(ctx) / f"media-{secrets.token_hex(12)}"
    hasher = Hasher()
    try:
        with path.open("wb") as fh:
            spool = Spool(fh, hasher)
            async for chunk in request.stream():
                await spool.add(chunk)
            await spool.flush()
    except ClientDisconnect:
        path.unlink(missing_ok=True)
        raise
    expected = parse_goog_hash(request.headers.get("x-goog-hash"))
    return finish_object(ctx, request, bucket, name, path, hasher, metadata, expected, query)


async def multipart_upload(
    ctx: SandboxContext, request: Request, bucket: str, query: dict[str, str]
) -> Response:
    """multipart/related: a JSON metadata part, then the media part — parsed as it streams."""
    st.get_bucket(ctx, bucket)
    content_type = request.headers.get("content-type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ApiError(400, "Missing multipart boundary.", "invalid")
    boundary = match.group(1).encode()
    head_end = b"\r\n\r\n"
    closing = b"\r\n--" + boundary + b"--"
    header = bytearray()
    metadata: dict[str, Any] | None = None
    media_type = "application/octet-stream"
    tail = bytearray()
    keep = len(closing) + 2  # the closing delimiter and an optional CRLF
    path = upload_dir(ctx) / f"multipart-{secrets.token_hex(12)}"
    hasher = Hasher()
    try:
        with path.open("wb") as fh:
            spool = Spool(fh, hasher)
            async for chunk in request.stream():
                if metadata is None:
                    header += chunk
                    parsed = _parse_multipart_head(bytes(header), boundary, head_end)
                    if parsed is None:
                        if len(header) > 1024 * 1024:
                            raise ApiError(400, "Multipart metadata part too large.", "invalid")
                        continue
                    metadata, media_type, offset = parsed
                    chunk = bytes(header[offset:])
                tail += chunk
                if len(tail) > keep:
                    await spool.add(bytes(tail[:-keep]))
                    del tail[:-keep]
            if metadata is None:
                raise ApiError(400, "Malformed multipart body.", "invalid")
            end = bytes(tail).rfind(closing)
            if end < 0:
                raise ApiError(400, "Malformed multipart body: no closing boundary.", "invalid")
            await spool.add(bytes(tail[:end]))
            await spool.flush()
    except (ApiError, ClientDisconnect):
        path.unlink(missing_ok=True)
        raise
    metadata.setdefault("contentType", media_type)
    name = str(metadata.get("name") or query.get("name") or "")
    expected = _expected_from(metadata)
    expected.update(parse_goog_hash(request.headers.get("x-goog-hash")))
    return finish_object(ctx, request, bucket, name, path, hasher, metadata, expected, query)


def _parse_multipart_head(
    data: bytes, boundary: bytes, head_end: bytes
) -> tuple[dict[str, Any], str, int] | None:
    """(metadata, media content type, offset of the media bytes) once all headers arrived."""
    sep = b"--" + boundary
    first = data.find(sep)
    if first < 0:
        return None
    meta_start = data.find(head_end, first)
    if meta_start < 0:
        return None
    meta_start += len(head_end)
    second = data.find(b"\r\n" + sep, meta_start)
    if second < 0:
        return None
    media_headers_end = data.find(head_end, second + 2)
    if media_headers_end < 0:
        return None
    metadata = validation.parse_json_object(data[meta_start:second], "metadata part")
    validation.check_object_metadata(metadata)
    media_type = "application/octet-stream"
    for line in data[second + 2 : media_headers_end].split(b"\r\n"):
        key, _, value = line.decode("latin-1").partition(":")
        if key.strip().lower() == "content-type":
            media_type = value.strip()
    return metadata, media_type, media_headers_end + len(head_end)


# --- resumable uploads -----------------------------------------------------------------------

_session_hashers: dict[str, Hasher] = {}
_session_locks: dict[str, asyncio.Lock] = {}


def reset() -> None:
    _session_hashers.clear()
    _session_locks.clear()


async def start_resumable(
    ctx: SandboxContext, request: Request, bucket: str, query: dict[str, str]
) -> Response:
    bucket_doc = st.get_bucket(ctx, bucket)
    metadata = validation.parse_json_object(await request.body(), "upload metadata")
    validation.check_object_metadata(metadata)
    name = str(metadata.get("name") or query.get("name") or "")
    st.validate_object_name(name)
    # Preconditions and ACL rules are checked now, as Google does, and again at the end.
    st.check_preconditions(ctx.store.get(st.OBJECT, st.object_key(bucket, name)), query)
    acc.object_acl_for_insert(ctx, bucket_doc, metadata, query)
    content_type = request.headers.get("x-upload-content-type")
    if content_type:
        metadata.setdefault("contentType", content_type)
    length = request.headers.get("x-upload-content-length")
    upload_id = secrets.token_urlsafe(24)
    session = {
        "bucket": bucket,
        "name": name,
        "metadata": metadata,
        "query": {k: v for k, v in query.items() if k not in ("uploadType", "name")},
        "total": int(length) if length and length.isdigit() else None,
    }
    (upload_dir(ctx) / upload_id).touch()
    ctx.store.put(st.UPLOAD, upload_id, session)
    _session_hashers[upload_id] = Hasher()
    location = (
        f"{base_url(request)}/upload/storage/v1/b/{st.quote(bucket)}/o"
        f"?uploadType=resumable&upload_id={upload_id}"
    )
    return Response(
        status_code=200, headers={"Location": location, "X-GUploader-UploadID": upload_id}
    )


async def resumable_chunk(ctx: SandboxContext, request: Request, upload_id: str) -> Response:
    lock = _session_locks.setdefault(upload_id, asyncio.Lock())
    async with lock:
        return await _resumable_chunk(ctx, request, upload_id)


async def _resumable_chunk(ctx: SandboxContext, request: Request, upload_id: str) -> Response:
    session = ctx.store.get(st.UPLOAD, upload_id)
    if session is None:
        raise ApiError(404, "No such upload session (it was cancelled or has finished).")
    bucket, name = session["bucket"], session["name"]
    if session.get("done"):
        doc = st.get_object(ctx, bucket, name)
        return JSONResponse(
            st.render_object(ctx, st.get_bucket(ctx, bucket), doc, base_url(request), True)
        )
    path = upload_dir(ctx) / upload_id
    persisted = path.stat().st_size if path.exists() else 0
    header = request.headers.get("content-range")
    length = int(request.headers.get("content-length") or 0)
    if header is None:  # the whole object in one request
        start, end, total = 0, length - 1, length
    else:
        match = _CONTENT_RANGE.match(header.strip())
        if not match:
            raise ApiError(400, f"Invalid Content-Range header: {header}", "invalid")
        first, last, size = match.groups()
        start = int(first) if first is not None else None  # type: ignore[assignment]
        end = int(last) if last is not None else None  # type: ignore[assignment]
        total = int(size) if size != "*" else None  # type: ignore[assignment]
    if total is not None:
        if session["total"] is not None and session["total"] != total:
            raise ApiError(
                400,
                f"The total object size in Content-Range ({total}) does not match "
                f"X-Upload-Content-Length ({session['total']}).",
                "invalid",
            )
        session["total"] = total
        ctx.store.put(st.UPLOAD, upload_id, session)
    hasher = _session_hashers.get(upload_id)
    if hasher is None or hasher.size != persisted:  # the daemon restarted meanwhile
        hasher = await asyncio.to_thread(Hasher.of_file, path)
        _session_hashers[upload_id] = hasher
    if start is not None:
        if start > persisted:
            raise ApiError(
                400,
                f"Invalid request. According to the Content-Range header, the upload offset is "
                f"{start} byte(s), which exceeds already uploaded size of {persisted} byte(s).",
                "invalid",
            )
        skip = persisted - start
        with path.open("ab") as fh:
            spool = Spool(fh, hasher)
            try:
                async for chunk in request.stream():
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    if chunk:
                        await spool.add(chunk)
            finally:
                # What arrived is kept even when the connection drops: the client resumes
                # from the Range a status query reports.
                with contextlib.suppress(Exception):
                    await asyncio.shield(spool.flush())
        persisted = path.stat().st_size
        if end is not None and persisted < end + 1:
            raise ApiError(400, "The request body is shorter than its Content-Range.", "invalid")
    if total is not None and persisted > total:
        raise ApiError(400, "More bytes were sent than the declared object size.", "invalid")
    if total is not None and persisted == total:
        expected = _expected_from(session["metadata"])
        expected.update(parse_goog_hash(request.headers.get("x-goog-hash")))
        try:
            response = finish_object(
                ctx,
                request,
                bucket,
                name,
                path,
                hasher,
                session["metadata"],
                expected,
                session["query"],
            )
        except ApiError:
            _forget(ctx, upload_id)
            raise
        session["done"] = True
        ctx.store.put(st.UPLOAD, upload_id, session)
        _session_hashers.pop(upload_id, None)
        _session_locks.pop(upload_id, None)
        return response
    headers = {"X-GUploader-UploadID": upload_id}
    if persisted:
        headers["Range"] = f"bytes=0-{persisted - 1}"
    return Response(status_code=308, headers=headers)


def _forget(ctx: SandboxContext, upload_id: str) -> None:
    ctx.store.delete(st.UPLOAD, upload_id)
    _session_hashers.pop(upload_id, None)
    _session_locks.pop(upload_id, None)
    (upload_dir(ctx) / upload_id).unlink(missing_ok=True)


async def cancel_resumable(ctx: SandboxContext, upload_id: str) -> Response:
    if ctx.store.get(st.UPLOAD, upload_id) is None:
        raise ApiError(404, "No such upload session.")
    _forget(ctx, upload_id)
    return Response(status_code=499)


# --- downloads -------------------------------------------------------------------------------


async def download(
    ctx: SandboxContext, request: Request, bucket: dict[str, Any], doc: dict[str, Any]
) -> Response:
    res = doc["resource"]
    size = int(res["size"])
    path = st.object_path(ctx, doc)
    headers = {
        "Content-Type": res.get("contentType") or "application/octet-stream",
        "x-goog-hash": f"crc32c={res['crc32c']},md5={res['md5Hash']}",
        "x-goog-generation": res["generation"],
        "x-goog-metageneration": res["metageneration"],
        "x-goog-stored-content-length": str(size),
        "x-goog-stored-content-encoding": res.get("contentEncoding") or "identity",
        "x-goog-storage-class": res.get("storageClass", "STANDARD"),
        "ETag": f'"{res["md5Hash"]}"',
        "Accept-Ranges": "bytes",
    }
    for field, header in (
        ("contentEncoding", "Content-Encoding"),
        ("contentDisposition", "Content-Disposition"),
        ("cacheControl", "Cache-Control"),
        ("contentLanguage", "Content-Language"),
    ):
        if res.get(field):
            headers[header] = res[field]
    start, end, status = 0, size - 1, 200
    wanted = request.headers.get("range")
    if wanted:
        match = _RANGE.match(wanted.strip())
        if match and (match.group(1) or match.group(2)):
            first, last = match.groups()
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            else:  # suffix: the last N bytes
                start = max(0, size - int(last))
            if start >= size or start > end:
                return JSONResponse(
                    {"error": {"code": 416, "message": "Requested range not satisfiable."}},
                    status_code=416,
                    headers={"Content-Range": f"bytes */{size}"},
                )
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(max(0, end - start + 1))
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    return StreamingResponse(
        _read_range(path, start, end - start + 1), status_code=status, headers=headers
    )


async def _read_range(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        await asyncio.to_thread(fh.seek, start)
        left = length
        while left > 0:
            chunk = await asyncio.to_thread(fh.read, min(READ_SLICE, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        fh.close()
