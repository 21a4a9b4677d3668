"""Upload and download engines: many files in parallel, progress, verification, safe paths.

Runs in worker threads (google-cloud-storage is blocking); progress reports are handed to the
caller's event loop, so a UI callback runs on its own loop and never on a worker thread.

Safety rules:
- uploads never overwrite silently: every write carries a generation precondition unless the
  caller chose "overwrite" (`ifGenerationMatch=0` means "only if absent");
- downloads never write outside the chosen folder, whatever the object is called
  (`safe_local_path`), and never leave a corrupt file under the final name: bytes go to a
  temporary name beside it, are checked against the object's CRC32C, then renamed.

Interrupted work (README, "Interrupted work"): a request cut off mid-way is retried by the
library from where it stopped (resumable upload sessions; ranged re-reads for downloads) for
up to RETRY_DEADLINE seconds. A file that still fails is reported with what was left: an
upload that did not finish leaves no object (Cloud Storage creates one only when its last
byte arrives, and this is checked when it can be); a download that did not finish leaves no
file under its name and an existing file there untouched. Each batch is registered in
`transfer_control`, so it can be stopped (cancel, quit) and says afterwards what it left.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.services.errors import CloudpaneError, InvalidArgument, translate
from tui.services.storage_models import (
    ChecksumMismatch,
    DownloadResult,
    ObjectExists,
    OnExists,
    TransferProgress,
    TransferState,
    UnsafePath,
    UploadResult,
    validate_object_name,
)
from tui.services.transfer_control import (
    TransferCancelled,
    TransferRecord,
    register,
    unregister,
)

ProgressCallback = Callable[[TransferProgress], None]

RESUMABLE_THRESHOLD = 8 * 1024 * 1024  # above this, resumable uploads (as the library does)
CHUNK_SIZE = 16 * 1024 * 1024  # resumable chunk: progress granularity and retry unit
MAX_PARALLEL = 32
PROGRESS_INTERVAL = 0.1  # seconds between progress reports for one file
REPORT_BYTES = 1024 * 1024  # a download reports progress (and checks for a stop) per MiB
MAX_COMPONENT_BYTES = 255  # a file name on Linux, macOS and Windows file systems
MAX_PATH_BYTES = 4000
PARTIAL_SUFFIX = ".cloudpane-partial"
# How long the library keeps retrying one request (a chunk, a ranged read) before the file
# fails. Google's default; tests shorten it to see "faults persist" in seconds.
RETRY_DEADLINE = 120.0
LEFTOVER_CHECK_TIMEOUT = 10.0  # seconds for the one look at what a failed upload left


def transfer_retry(on_retry: Callable[[], None] | None = None) -> Any:
    """The retry policy of every transfer request: Google's default, with RETRY_DEADLINE.

    `on_retry` hears each retried failure: a request retried after its first try may have
    arrived, which changes what a later "already exists" answer means.
    """
    from google.cloud.storage.retry import DEFAULT_RETRY

    policy = DEFAULT_RETRY.with_timeout(RETRY_DEADLINE)
    if on_retry is None:
        return policy
    retryable = policy._predicate  # Google's own list of transient errors

    def predicate(exc: Exception) -> bool:
        if retryable(exc):
            on_retry()
            return True
        return False

    return policy.with_predicate(predicate)


# --- local paths -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x01-\x1f\x7f]")
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_WINDOWS_BAD = re.compile(r'[<>:"|?*]')


def _unsafe(object_name: str, why: str) -> UnsafePath:
    shown = object_name if len(object_name) <= 80 else object_name[:77] + "…"
    return UnsafePath(
        f"Object {shown!r} was not saved: {why}.",
        "It is skipped; rename the object in the bucket to download it.",
    )


def _shorten(part: str) -> str:
    """Fit one path component in 255 bytes, keeping its extension and a hash of the whole."""
    encoded = part.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_COMPONENT_BYTES:
        return part
    digest = hashlib.sha1(encoded).hexdigest()[:8]
    stem, dot, ext = part.rpartition(".")
    suffix = f".{ext}" if dot and stem and len(ext.encode()) <= 16 else ""
    stem = part[: len(part) - len(suffix)] if suffix else part
    budget = MAX_COMPONENT_BYTES - len(suffix.encode()) - len(digest) - 1
    head = stem.encode("utf-8", "surrogatepass")[:budget].decode("utf-8", "ignore")
    return f"{head}~{digest}{suffix}"


def partial_path(target: Path) -> Path:
    """The hidden file a download is written to before it is renamed to `target`.

    Beside the target (so the rename stays on one file system), named from a hash of the
    target's name: a name of its own would push a long name (84 CJK characters are 252
    bytes) past the 255-byte limit, and the download would fail before its first byte.
    """
    digest = hashlib.sha1(target.name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return target.parent / f".{digest}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"


def name_too_long(target: Path) -> CloudpaneError:
    """The file system refused the name itself (some allow fewer than 255 bytes)."""
    size = len(target.name.encode("utf-8", "surrogatepass"))
    return CloudpaneError(
        f"{target.name!r} ({size} bytes) is too long a file name for the file system at "
        f"{target.parent}. Nothing was saved there.",
        "Download it into a folder on another file system, or rename the object.",
    )


def safe_local_path(root: Path, object_name: str, strip_prefix: str = "") -> Path:
    """Where object `object_name` goes under `root`: always inside `root`, or UnsafePath.

    `/` and `\\` separate folders; empty and `.` components are dropped (so `/etc/passwd`
    lands at `root/etc/passwd`); `..` and other all-dot components, NUL characters and names
    with nothing left are refused; control characters become `_`; components longer than a
    file system allows are shortened with a hash; a path that would leave `root` through a
    symbolic link already on disk is refused.
    """
    if "\x00" in object_name:
        raise _unsafe(object_name, "its name contains a NUL character")
    name = object_name
    if strip_prefix and name.startswith(strip_prefix):
        name = name[len(strip_prefix) :]
    parts: list[str] = []
    for raw in name.replace("\\", "/").split("/"):
        if raw in ("", "."):
            continue
        if set(raw) == {"."}:
            raise _unsafe(object_name, f"its name contains the component {raw!r}")
        part = _CONTROL.sub("_", raw)
        if os.name == "nt":  # pragma: no cover - exercised on Windows only
            part = _WINDOWS_BAD.sub("_", part).rstrip(" .") or "_"
            if _WINDOWS_RESERVED.match(part):
                part = "_" + part
        parts.append(_shorten(part))
    if not parts:
        raise _unsafe(object_name, "its name has no usable file name")
    base = root.resolve()
    target = base.joinpath(*parts)
    if len(str(target).encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _unsafe(object_name, "its name is too long for a local path")
    # The folders on the way may already exist: none may lead out through a link.
    real_parent = target.parent.resolve()
    if real_parent != base and base not in real_parent.parents:
        raise _unsafe(object_name, "a folder on its path is a link that leads outside the folder")
    if target.is_symlink():
        raise _unsafe(object_name, "a symbolic link already has its local name")
    return target


def free_name(name: str, taken: Callable[[str], bool]) -> str:
    """`a/b.txt` → `a/b (1).txt`, `a/b (2).txt`, … the first not taken."""
    folder, slash, base = name.rpartition("/")
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem:
        stem, ext = base, ""
    for i in range(1, 10_000):
        candidate = f"{folder}{slash}{stem} ({i}){'.' + ext if ext else ''}"
        if not taken(candidate):
            return candidate
    raise CloudpaneError(f"No free name found for {name}.")


# --- progress ----------------------------------------------------------------------------------


class ProgressRelay:
    """Thread-safe totals; hands each report to the caller's loop (throttled per file)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: ProgressCallback | None,
        files_total: int,
        bytes_total: int,
    ) -> None:
        self.loop = loop
        self.callback = callback
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = 0
        self.bytes_done = 0
        self.lock = threading.Lock()
        self.last: dict[str, float] = {}

    def add_bytes(self, count: int) -> None:
        with self.lock:
            self.bytes_done += count

    def report(
        self,
        name: str,
        local: Path,
        state: TransferState,
        file_bytes: int,
        file_total: int,
        message: str = "",
    ) -> None:
        with self.lock:
            if state in ("done", "skipped", "failed"):
                self.files_done += 1
            elif state == "progress":
                now = time.monotonic()
                if now - self.last.get(name, 0.0) < PROGRESS_INTERVAL:
                    return
                self.last[name] = now
            event = TransferProgress(
                name=name,
                local_path=local,
                state=state,
                file_bytes=file_bytes,
                file_total=file_total,
                files_done=self.files_done,
                files_total=self.files_total,
                bytes_done=self.bytes_done,
                bytes_total=self.bytes_total,
                message=message,
            )
        if self.callback is not None:
            self.loop.call_soon_threadsafe(self.callback, event)


class _CountingReader:
    """A file wrapper for uploads: reports bytes read and computes CRC32C on the way."""

    def __init__(self, fh: Any, on_bytes: Callable[[int], None], check: Callable[[], None]) -> None:
        import google_crc32c

        self.fh = fh
        self.on_bytes = on_bytes
        self.check = check  # raises TransferCancelled once the batch is stopped
        self.crc = google_crc32c.Checksum()
        self.position = 0
        self.sequential = True  # False once the library seeks back (a retried chunk)

    def read(self, size: int = -1) -> bytes:
        # Checked before each read: the library reads a chunk, then sends it, so a stopped
        # upload never sends its last chunk and Cloud Storage never creates the object.
        self.check()
        data = self.fh.read(size)
        if data:
            self.crc.update(data)
            self.position += len(data)
            self.on_bytes(len(data))
        return data  # type: ignore[no-any-return]

    def seek(self, offset: int, whence: int = 0) -> int:
        result = self.fh.seek(offset, whence)
        if result != self.position:
            self.sequential = False
        self.position = result
        return result  # type: ignore[no-any-return]

    def tell(self) -> int:
        return self.fh.tell()  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


class _CountingWriter:
    """A file wrapper for downloads: counts bytes written and reports them in steps.

    The client library already verifies the object's CRC32C (`checksum="crc32c"`), so this
    computes none of its own; and it reports progress (and looks for a stop request) once per
    `REPORT_BYTES`, not on every 8 KiB write — 32,768 calls per 256 MiB halved the speed.
    """

    def __init__(self, fh: Any, on_bytes: Callable[[int], None], check: Callable[[], None]) -> None:
        self.fh = fh
        self.on_bytes = on_bytes
        self.check = check  # raises TransferCancelled once the batch is stopped
        self.size = 0
        self.unreported = 0

    def write(self, data: bytes) -> int:
        written = self.fh.write(data)
        self.size += len(data)
        self.unreported += len(data)
        if self.unreported >= REPORT_BYTES:
            self.flush_progress()
        return written  # type: ignore[no-any-return]

    def flush_progress(self) -> None:
        if self.unreported:
            self.on_bytes(self.unreported)
            self.unreported = 0
        self.check()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def crc32c_of_file(path: Path) -> str:
    import google_crc32c

    crc = google_crc32c.Checksum()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            crc.update(chunk)
    return base64.b64encode(crc.digest()).decode()


# --- uploads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadJob:
    local: Path
    name: str
    size: int


def plan_upload(sources: Path | Sequence[Path], dest_prefix: str) -> list[UploadJob]:
    """Files and folders → (local file, object name). A folder keeps its name and layout."""
    if isinstance(sources, str | Path):
        sources = [Path(sources)]
    prefix = dest_prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    jobs: list[UploadJob] = []
    for source in (Path(s) for s in sources):
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    rel = path.relative_to(source).as_posix()
                    name = f"{prefix}{source.name}/{rel}"
                    jobs.append(UploadJob(path, name, path.stat().st_size))
        elif source.is_file():
            jobs.append(UploadJob(source, prefix + source.name, source.stat().st_size))
        else:
            raise InvalidArgument(f"{source} is not a file or folder.", "Check the path.")
    for job in jobs:  # every name is checked before the first byte goes up
        if len(job.name.encode()) > 1024:
            raise InvalidArgument(
                f"The object name for {job.local} is longer than 1024 bytes.",
                "Choose a shorter destination folder.",
            )
        problem = validate_object_name(job.name)
        if problem:
            raise InvalidArgument(
                f"Cannot upload {job.local} as {job.name!r}: {problem}",
                "Rename the file, or choose another destination folder. Nothing was uploaded.",
            )
    return jobs


def translate_transfer_error(exc: BaseException, action: str) -> CloudpaneError:
    """`translate`, plus the media layer's own error: once its retries are spent, the library
    raises RetryError(InvalidResponse(503…)) instead of an api_core error, which `translate`
    would call "unexpected". Turned into the api_core error of its HTTP status first."""
    from google.api_core import exceptions as gexc
    from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

    if isinstance(exc, DataCorruption):  # the library's own CRC32C check of what arrived
        return ChecksumMismatch(
            f"Could not {action}: the bytes received do not match the CRC32C Cloud Storage "
            "holds for the object.",
            "Try again; nothing partial is kept under the file's name.",
        )
    retried = isinstance(exc, gexc.RetryError) and exc.cause is not None
    inner = exc.cause if isinstance(exc, gexc.RetryError) and retried else exc
    if not isinstance(inner, InvalidResponse) or inner.response is None:
        return translate(exc, action)
    status = int(getattr(inner.response, "status_code", 0) or 0)
    error = translate(gexc.from_http_status(status, f"HTTP {status}"), action)
    if retried:
        error.message = f"{error.message} (gave up after retrying)"
    return error


def _is_precondition_failure(exc: BaseException) -> bool:
    from google.api_core import exceptions as gexc

    return isinstance(exc, gexc.PreconditionFailed)


def _holds_this_file(blob: Any, job: UploadJob) -> bool:
    """Whether an object in the bucket has exactly the bytes of the local file."""
    return (
        blob is not None
        and int(blob.size or 0) == job.size
        and blob.crc32c is not None
        and blob.crc32c == crc32c_of_file(job.local)
    )


def _look_up(bucket: Any, name: str) -> Any:
    """The object under `name` now (None if absent); one short try, no retries."""
    return bucket.get_blob(name, retry=None, timeout=LEFTOVER_CHECK_TIMEOUT)


def _what_was_left(bucket: Any, name: str, job: UploadJob, overwrite: bool) -> tuple[Any, str]:
    """After a failed upload: (the object, if it landed complete after all; what is there).

    Cloud Storage creates an object only when its last byte arrived, so a failed upload
    normally leaves nothing; but the answer to a last chunk that did arrive can be lost on the
    way back. One look settles it, and the person is told what is there.
    """
    where = f"gs://{bucket.name}/{name}"
    try:
        blob = _look_up(bucket, name)
    except Exception:
        return None, f"cloudpane could not check {where} afterwards; look before relying on it."
    if blob is None:
        return None, f"No object was created at {where}; upload it again."
    if _holds_this_file(blob, job):
        return blob, ""
    if overwrite:
        return None, f"{where} still holds the previous object, unchanged."
    return None, f"{where} holds another object ({blob.size} bytes), not this file."


def _own_object(bucket: Any, name: str, job: UploadJob) -> Any:
    """The object under `name` if it holds exactly this file (else None, also on error)."""
    try:
        blob = _look_up(bucket, name)
    except Exception:
        return None
    return blob if _holds_this_file(blob, job) else None


def _upload_one(
    bucket: Any,
    job: UploadJob,
    on_exists: OnExists,
    existing: set[str],
    existing_lock: threading.Lock,
    relay: ProgressRelay,
    record: TransferRecord,
) -> tuple[str, str]:
    """→ (state, object name): ("done", name), ("skipped", name) or ("renamed", new name)."""
    name = job.name
    renamed = False
    record.check(name)
    with existing_lock:
        if name in existing and on_exists == "skip":
            return "skipped", name
        if name in existing and on_exists == "rename":
            name = free_name(name, existing.__contains__)
            renamed = True
        if renamed:
            existing.add(name)
    relay.report(name, job.local, "started", 0, job.size)
    precondition = None if on_exists == "overwrite" else 0
    for _attempt in range(100):
        blob = bucket.blob(name, chunk_size=CHUNK_SIZE if job.size > RESUMABLE_THRESHOLD else None)
        sent = [0]

        def on_bytes(count: int, _sent: list[int] = sent, _name: str = name) -> None:
            _sent[0] += count
            relay.add_bytes(count)
            relay.report(_name, job.local, "progress", min(_sent[0], job.size), job.size)

        reader: _CountingReader | None = None
        retried = [False]

        def check(_name: str = name) -> None:
            record.check(_name)

        def note_retry(_retried: list[bool] = retried) -> None:
            _retried[0] = True

        try:
            with job.local.open("rb") as fh:
                reader = _CountingReader(fh, on_bytes, check)
                blob.upload_from_file(
                    reader,
                    size=job.size,
                    if_generation_match=precondition,
                    checksum="crc32c",
                    retry=transfer_retry(note_retry),
                )
        except TransferCancelled:
            relay.add_bytes(-sent[0])
            raise
        except Exception as exc:
            relay.add_bytes(-sent[0])
            sent[0] = 0
            reader = None
            if not _is_precondition_failure(exc):
                landed, left = _what_was_left(bucket, name, job, precondition is None)
                if landed is None:
                    error = translate_transfer_error(exc, f"upload {name}")
                    error.message = f"{error.message} {left}"
                    raise error from exc
                blob = landed  # it arrived; only the answer was lost
            else:
                # A retried request whose first try did arrive (its answer was lost) meets
                # its own object: that is this file, not a conflict.
                mine = _own_object(bucket, name, job) if retried[0] else None
                if mine is None:
                    if on_exists == "skip":
                        return "skipped", name
                    if on_exists == "rename":
                        with existing_lock:
                            existing.add(name)
                            name = free_name(job.name, existing.__contains__)
                            existing.add(name)
                        renamed = True
                        continue
                    raise ObjectExists(
                        f"{name} already exists in the bucket.",
                        "Choose skip, overwrite or rename.",
                    ) from exc
                blob = mine
        relay.add_bytes(job.size - sent[0])  # a retried chunk counts once
        local_crc = (
            base64.b64encode(reader.crc.digest()).decode()
            if reader is not None and reader.sequential and reader.position == job.size
            else crc32c_of_file(job.local)
        )
        relay.report(name, job.local, "verifying", job.size, job.size)
        if blob.crc32c != local_crc or int(blob.size or 0) != job.size:
            raise ChecksumMismatch(
                f"{name}: the bucket holds {blob.size} bytes with CRC32C {blob.crc32c}, "
                f"the local file {job.size} bytes with CRC32C {local_crc}.",
                "The local file may have changed during the upload; upload it again.",
            )
        return ("renamed" if renamed else "done"), name
    raise CloudpaneError(f"No free name found for {job.name}.")


async def _run_batch(
    record: TransferRecord,
    work: Callable[[Any], None],
    jobs: Sequence[Any],
    parallel: int,
    prefix: str,
) -> None:
    """Run `work(job)` for every job in threads; a cancelled caller stops the threads too.

    Cancelling the awaiting task (a worker stopped, the app quitting) must not leave threads
    finishing the batch unseen, nor block the event loop until they do: the record is stopped,
    jobs not yet begun are dropped, and the record is marked finished once the threads end.
    """
    loop = asyncio.get_running_loop()
    workers = max(1, min(parallel, MAX_PARALLEL, len(jobs) or 1))
    pool = ThreadPoolExecutor(workers, thread_name_prefix=prefix)
    futures = [loop.run_in_executor(pool, work, job) for job in jobs]
    try:
        await asyncio.gather(*futures)
    except asyncio.CancelledError:
        record.cancel()
        pool.shutdown(wait=False, cancel_futures=True)

        def wait_then_unregister() -> None:
            pool.shutdown(wait=True)
            unregister(record)

        threading.Thread(target=wait_then_unregister, name=f"{prefix}-stop", daemon=True).start()
        raise
    except BaseException:
        pool.shutdown(wait=True)
        unregister(record)
        raise
    pool.shutdown(wait=True)
    unregister(record)


STOPPED_UPLOAD = "stopped before it finished; no object was created."
STOPPED_DOWNLOAD = "stopped before it finished; nothing was saved under its name."


async def run_upload(
    bucket: Any,
    jobs: list[UploadJob],
    on_exists: OnExists,
    existing: set[str],
    progress: ProgressCallback | None,
    parallel: int,
) -> UploadResult:
    loop = asyncio.get_running_loop()
    relay = ProgressRelay(loop, progress, len(jobs), sum(j.size for j in jobs))
    record = register(
        TransferRecord("upload", str(bucket.name), len(jobs), jobs[0].name if jobs else "")
    )
    lock = threading.Lock()
    uploaded: list[str] = []
    skipped: list[str] = []
    renamed: dict[str, str] = {}
    failed: dict[str, str] = {}
    conflicts: list[str] = []
    started = time.monotonic()

    def work(job: UploadJob) -> None:
        record.begin(job.name)
        try:
            state, name = _upload_one(bucket, job, on_exists, existing, lock, relay, record)
        except TransferCancelled:
            failed[job.name] = STOPPED_UPLOAD
            record.end(job.name, "stopped")
            relay.report(job.name, job.local, "failed", 0, job.size, STOPPED_UPLOAD)
            return
        except ObjectExists as exc:
            conflicts.append(job.name)
            failed[job.name] = str(exc)
            record.end(job.name, "failed")
            relay.report(job.name, job.local, "failed", 0, job.size, str(exc))
            return
        except Exception as exc:
            error = translate_transfer_error(exc, f"upload {job.name}")
            failed[job.name] = str(error)
            record.end(job.name, "failed")
            relay.report(job.name, job.local, "failed", 0, job.size, str(error))
            return
        record.end(job.name, "completed")
        if state == "skipped":
            skipped.append(name)
            relay.add_bytes(job.size)
            relay.report(name, job.local, "skipped", 0, job.size, "exists")
            return
        uploaded.append(name)
        if state == "renamed":
            renamed[job.name] = name
        relay.report(name, job.local, "done", job.size, job.size, name)

    await _run_batch(record, work, jobs, parallel, "upload")
    return UploadResult(
        uploaded=tuple(sorted(uploaded)),
        skipped=tuple(sorted(skipped)),
        renamed=renamed,
        failed=failed,
        bytes=sum(j.size for j in jobs if j.name not in failed and j.name not in skipped),
        seconds=time.monotonic() - started,
        conflicts=tuple(sorted(conflicts)),
    )


# --- downloads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadJob:
    name: str
    size: int
    generation: int | None
    crc32c: str | None
    local: Path | None  # None when the name is unsafe
    problem: str = ""


def plan_download(bucket: Any, items: Iterable[str], dest: Path, retry: Any) -> list[DownloadJob]:
    """Objects and folders (names ending in `/`) → local paths under `dest`.

    A folder `data/train/` lands as `dest/train/…`; an object `data/a.txt` as `dest/a.txt`.
    """
    jobs: list[DownloadJob] = []
    for item in items:
        if item.endswith("/") or item == "":
            parent = item.rstrip("/").rpartition("/")[0]
            strip = f"{parent}/" if parent else ""
            blobs = bucket.client.list_blobs(bucket, prefix=item, retry=retry)
            found = [b for b in blobs if not b.name.endswith("/")]
        else:
            parent = item.rpartition("/")[0]
            strip = f"{parent}/" if parent else ""
            blob = bucket.get_blob(item, retry=retry)
            if blob is None:
                jobs.append(DownloadJob(item, 0, None, None, None, "no such object"))
                continue
            found = [blob]
        for blob in found:
            try:
                local: Path | None = safe_local_path(dest, blob.name, strip)
                problem = ""
            except UnsafePath as exc:
                local, problem = None, exc.message
            jobs.append(
                DownloadJob(
                    blob.name, int(blob.size or 0), blob.generation, blob.crc32c, local, problem
                )
            )
    return jobs


def _download_one(
    bucket: Any,
    job: DownloadJob,
    on_exists: OnExists,
    relay: ProgressRelay,
    lock: threading.Lock,
    claimed: set[Path],
    record: TransferRecord,
) -> tuple[str, Path]:
    assert job.local is not None
    target = job.local
    record.check(job.name)
    with lock:  # choosing the local name must not race with another worker of this batch

        def taken(path: Path) -> bool:
            return path in claimed or path.exists() or path.is_symlink()

        if taken(target):
            if on_exists == "skip":
                return "skipped", target
            if on_exists == "error":
                raise CloudpaneError(
                    f"{target} already exists.", "Choose skip, overwrite or rename."
                )
            if on_exists == "rename":
                parent = target.parent
                target = parent / free_name(target.name, lambda n: taken(parent / n))
        claimed.add(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise name_too_long(target.parent) from exc
            raise
        replacing = target.exists()
    relay.report(job.name, target, "started", 0, job.size)
    tmp = partial_path(target)
    got = [0]

    def on_bytes(count: int) -> None:
        got[0] += count
        relay.add_bytes(count)
        relay.report(job.name, target, "progress", got[0], job.size)

    try:
        blob = bucket.blob(job.name, generation=job.generation)
        with tmp.open("wb") as fh:
            writer = _CountingWriter(fh, on_bytes, lambda: record.check(job.name))
            # A connection cut mid-body is resumed by the library with a ranged request
            # from the last byte received (the generation is pinned, so the bytes match).
            # The library checks the CRC32C Cloud Storage sends (x-goog-hash) and raises
            # DataCorruption on a mismatch; the size is checked here.
            blob.download_to_file(writer, checksum="crc32c", retry=transfer_retry())
            writer.flush_progress()
            fh.flush()
            os.fsync(fh.fileno())  # durable before it takes the file's name
        relay.report(job.name, target, "verifying", job.size, job.size)
        if writer.size != job.size:
            raise ChecksumMismatch(
                f"{job.name}: received {writer.size} bytes, expected {job.size}.",
                "Try again; nothing partial is kept under the file's name.",
            )
        os.replace(tmp, target)
    except BaseException as exc:
        # The partial bytes are removed, not kept for a later resume: a new download starts
        # over, and no stray file is left beside the real ones.
        relay.add_bytes(-got[0])
        tmp.unlink(missing_ok=True)
        if isinstance(exc, TransferCancelled) or not isinstance(exc, Exception):
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            raise name_too_long(target) from exc
        error = translate_transfer_error(exc, f"download {job.name}")
        kept = (
            f"The file already at {target} is unchanged."
            if replacing
            else f"Nothing was saved at {target}."
        )
        if kept not in error.message:
            error.message = f"{error.message} {kept}"
        raise error from exc
    return "done", target


async def run_download(
    bucket: Any,
    jobs: list[DownloadJob],
    on_exists: OnExists,
    progress: ProgressCallback | None,
    parallel: int,
) -> DownloadResult:
    loop = asyncio.get_running_loop()
    todo = [j for j in jobs if j.local is not None]
    relay = ProgressRelay(loop, progress, len(jobs), sum(j.size for j in todo))
    record = register(
        TransferRecord("download", str(bucket.name), len(todo), todo[0].name if todo else "")
    )
    lock = threading.Lock()
    claimed: set[Path] = set()
    downloaded: list[Path] = []
    skipped: list[str] = []
    failed: dict[str, str] = {j.name: j.problem for j in jobs if j.local is None}
    for job in jobs:
        if job.local is None:
            relay.report(job.name, Path(), "failed", 0, job.size, job.problem)
    started = time.monotonic()

    def work(job: DownloadJob) -> None:
        record.begin(job.name)
        try:
            state, path = _download_one(bucket, job, on_exists, relay, lock, claimed, record)
        except TransferCancelled:
            failed[job.name] = STOPPED_DOWNLOAD
            record.end(job.name, "stopped")
            relay.report(job.name, job.local or Path(), "failed", 0, job.size, STOPPED_DOWNLOAD)
            return
        except Exception as exc:
            error = translate_transfer_error(exc, f"download {job.name}")
            failed[job.name] = str(error)
            record.end(job.name, "failed")
            relay.report(job.name, job.local or Path(), "failed", 0, job.size, str(error))
            return
        record.end(job.name, "completed")
        if state == "skipped":
            skipped.append(job.name)
            relay.add_bytes(job.size)
            relay.report(job.name, path, "skipped", 0, job.size, "exists")
        else:
            downloaded.append(path)
            relay.report(job.name, path, "done", job.size, job.size, str(path))

    await _run_batch(record, work, todo, parallel, "download")
    return DownloadResult(
        downloaded=tuple(sorted(downloaded)),
        skipped=tuple(sorted(skipped)),
        failed=failed,
        bytes=sum(j.size for j in todo if j.name not in failed and j.name not in skipped),
        seconds=time.monotonic() - started,
    )
