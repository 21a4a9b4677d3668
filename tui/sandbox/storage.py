"""The sandbox's Cloud Storage: the JSON API v1 that google-cloud-storage speaks.

Paths (Google's): `/storage/v1/b…` (buckets, objects, ACLs, IAM), `/upload/storage/v1/b/B/o`
(media, multipart, resumable), `/download/storage/v1/b/B/o/O?alt=media`, and the public URL
`/BUCKET/OBJECT` (what `https://storage.googleapis.com/BUCKET/OBJECT` is on Google).

Object names are percent-encoded path segments (`a%2Fb`), so handlers split the *raw* path;
Starlette's decoded path would make `a/b/acl` ambiguous.

Who is calling: auth.OwnerMiddleware decides (the owner presents the owner token; anyone else
is anonymous) and lets anonymous callers reach only object reads. Here an anonymous caller may
read only what is public now (IAM allUsers, or an allUsers ACL without uniform access, and never
under public access prevention): media on every download path, and the object's metadata.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route, request_response
from starlette.types import Receive, Scope, Send

from tui.sandbox import auth
from tui.sandbox import storage_access as acc
from tui.sandbox import storage_io as io
from tui.sandbox import storage_listing as listing
from tui.sandbox import storage_state as st
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError

# First path segments that belong to other APIs: the public-URL route never claims them.
RESERVED_PREFIXES = frozenset(
    {"compute", "storage", "upload", "download", "batch", "v1", "v1beta1", "v2", "v3", "_sandbox"}
)


def _segments(request: Request, prefix: str) -> list[str]:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    path = raw.decode("latin-1")
    rest = path[len(prefix) :].strip("/")
    return [urllib.parse.unquote(part) for part in rest.split("/")] if rest else []


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "The request body is not valid JSON.", "parseError") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", "invalid")
    return body


def _is_owner(request: Request) -> bool:
    return auth.principal(request.scope) == auth.OWNER


def _full(query: dict[str, str], default: bool = False) -> bool:
    projection = query.get("projection")
    return projection == "full" if projection else default


# --- the JSON API ----------------------------------------------------------------------------


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    async def json_api(request: Request) -> Response:
        return await _json_api(ctx, request, _segments(request, "/storage/v1"))

    async def upload_api(request: Request) -> Response:
        return await _upload_api(ctx, request, _segments(request, "/upload/storage/v1"))

    async def download_api(request: Request) -> Response:
        parts = _segments(request, "/download/storage/v1")
        if len(parts) != 4 or parts[0] != "b" or parts[2] != "o":
            raise ApiError(404, f"The sandbox does not serve {request.url.path}")
        return await _serve_media(ctx, request, parts[1], parts[3], anonymous_ok=True)

    async def public_url(request: Request) -> Response:
        raw = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        bucket, _, name = raw.lstrip("/").partition("/")
        return await _serve_media(
            ctx,
            request,
            urllib.parse.unquote(bucket),
            urllib.parse.unquote(name),
            anonymous_ok=True,
            xml=True,
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    return [
        Route("/storage/v1/{rest:path}", json_api, methods=methods),
        Route("/upload/storage/v1/{rest:path}", upload_api, methods=methods),
        Route("/download/storage/v1/{rest:path}", download_api, methods=["GET", "HEAD"]),
        PublicObjectRoute(public_url),  # last: it claims /BUCKET/OBJECT
    ]


async def _json_api(ctx: SandboxContext, request: Request, parts: list[str]) -> Response:
    method = request.method
    query = _query(request)
    base = io.base_url(request)
    n = len(parts)
    if n == 0 or parts[0] != "b":
        raise ApiError(404, f"The sandbox does not serve {method} {request.url.path}")
    if n == 1:
        if method == "GET":
            return _list_buckets(ctx, query, base)
        if method == "POST":
            doc = st.create_bucket(ctx, await _json(request), query)
            return JSONResponse(st.render_bucket(ctx, doc, base, full=True))
    bucket = parts[1] if n > 1 else ""
    if n == 2:
        if method == "GET":
            doc = st.get_bucket(ctx, bucket)
            st.check_metageneration(doc["resource"], query)
            return JSONResponse(st.render_bucket(ctx, doc, base, _full(query)))
        if method in ("PATCH", "PUT"):
            doc = st.patch_bucket(ctx, bucket, await _json(request), query)
            return JSONResponse(st.render_bucket(ctx, doc, base, full=True))
        if method == "DELETE":
            st.delete_bucket(ctx, bucket, query)
            return Response(status_code=204)
    if n >= 3 and parts[2] == "iam":
        return await _iam(ctx, request, bucket, parts[3:])
    if n >= 3 and parts[2] in ("acl", "defaultObjectAcl"):
        return await _bucket_acl(ctx, request, bucket, parts[2], parts[3:])
    if n == 3 and parts[2] == "o" and method == "GET":
        return _list_objects(ctx, bucket, query, base)
    if n >= 4 and parts[2] == "o":
        name = parts[3]
        if n == 4:
            return await _object(ctx, request, bucket, name, query, base)
        if parts[4] == "acl":
            return await _object_acl(ctx, request, bucket, name, parts[5:])
        if n == 9 and parts[4] in ("rewriteTo", "copyTo") and parts[5] == "b" and parts[7] == "o":
            return await _copy(ctx, request, bucket, name, parts[6], parts[8], parts[4], base)
    raise ApiError(404, f"The sandbox does not serve {method} {request.url.path}")


def _list_buckets(ctx: SandboxContext, query: dict[str, str], base: str) -> Response:
    prefix = query.get("prefix", "")
    limit = max(1, min(int(query.get("maxResults") or 1000), 1000))
    after = listing.decode_token(query["pageToken"]) if query.get("pageToken") else ""
    rows = ctx.store.list(st.BUCKET, prefix=prefix, start_after=after, limit=limit + 1)
    body: dict[str, Any] = {
        "kind": "storage#buckets",
        "items": [st.render_bucket(ctx, d, base, _full(query)) for _, d in rows[:limit]],
    }
    if len(rows) > limit:
        body["nextPageToken"] = listing.encode_token(rows[limit - 1][0])
    return JSONResponse(body)


def _list_objects(ctx: SandboxContext, bucket: str, query: dict[str, str], base: str) -> Response:
    bucket_doc = st.get_bucket(ctx, bucket)
    try:
        max_results = int(query.get("maxResults") or 1000)
    except ValueError as exc:
        raise ApiError(400, "Invalid value for maxResults.", "invalid") from exc
    items, prefixes, token = listing.list_objects(
        ctx,
        bucket,
        prefix=query.get("prefix", ""),
        delimiter=query.get("delimiter", ""),
        max_results=max_results,
        page_token=query.get("pageToken", ""),
        start_offset=query.get("startOffset", ""),
        end_offset=query.get("endOffset", ""),
        include_trailing_delimiter=query.get("includeTrailingDelimiter") == "true",
    )
    full = _full(query)
    body: dict[str, Any] = {
        "kind": "storage#objects",
        "items": [st.render_object(ctx, bucket_doc, d, base, full) for d in items],
    }
    if prefixes:
        body["prefixes"] = prefixes
    if token:
        body["nextPageToken"] = token
    return JSONResponse(body)


async def _object(
    ctx: SandboxContext,
    request: Request,
    bucket: str,
    name: str,
    query: dict[str, str],
    base: str,
) -> Response:
    method = request.method
    if method in ("GET", "HEAD"):
        if query.get("alt") == "media":
            return await _serve_media(ctx, request, bucket, name, anonymous_ok=True)
        bucket_doc = st.get_bucket(ctx, bucket)
        if not _is_owner(request):
            found = ctx.store.get(st.OBJECT, st.object_key(bucket, name))
            if found is None or not acc.anonymous_can_read(bucket_doc, found):
                raise ApiError(401, _anonymous_get(bucket_doc), "required")
        doc = st.get_object(ctx, bucket, name)
        if "generation" in query and query["generation"] != doc["resource"]["generation"]:
            raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
        st.check_preconditions(doc, query)
        return JSONResponse(st.render_object(ctx, bucket_doc, doc, base, _full(query)))
    if method in ("PATCH", "PUT"):
        body = await _json(request)
        doc = st.patch_object(ctx, bucket, name, body, query, replace=method == "PUT")
        bucket_doc = st.get_bucket(ctx, bucket)
        return JSONResponse(st.render_object(ctx, bucket_doc, doc, base, full=True))
    if method == "DELETE":
        st.delete_object(ctx, bucket, name, query)
        return Response(status_code=204)
    raise ApiError(405, f"{method} is not allowed here.")


async def _copy(
    ctx: SandboxContext,
    request: Request,
    src_bucket: str,
    src_name: str,
    dst_bucket: str,
    dst_name: str,
    verb: str,
    base: str,
) -> Response:
    """objects.copy / objects.rewrite (done in one step, as Google does for small objects)."""
    if request.method != "POST":
        raise ApiError(405, f"{request.method} is not allowed here.")
    src = st.get_object(ctx, src_bucket, src_name)
    body = await _json(request)
    metadata = {k: v for k, v in src["resource"].items() if k not in ("acl", "name", "bucket")}
    metadata.update({k: v for k, v in body.items() if k not in ("name", "bucket")})
    tmp = io.upload_dir(ctx) / f"copy-{time.time_ns()}"
    await asyncio.to_thread(shutil.copyfile, st.object_path(ctx, src), tmp)
    # Preconditions on the destination (ifGenerationMatch…); the source ones are not kept.
    query = {k: v for k, v in _query(request).items() if k.startswith("if") and "Source" not in k}
    doc = st.store_object(
        ctx,
        dst_bucket,
        dst_name,
        tmp,
        size=int(src["resource"]["size"]),
        md5=src["resource"]["md5Hash"],
        crc32c=src["resource"]["crc32c"],
        metadata=metadata,
        query=query,
    )
    rendered = st.render_object(ctx, st.get_bucket(ctx, dst_bucket), doc, base, full=True)
    if verb == "copyTo":
        return JSONResponse(rendered)
    size = rendered["size"]
    return JSONResponse(
        {
            "kind": "storage#rewriteResponse",
            "totalBytesRewritten": size,
            "objectSize": size,
            "done": True,
            "resource": rendered,
        }
    )


async def _serve_media(
    ctx: SandboxContext,
    request: Request,
    bucket: str,
    name: str,
    *,
    anonymous_ok: bool,
    xml: bool = False,
) -> Response:
    query = _query(request)
    bucket_doc = st.get_bucket(ctx, bucket)
    doc = ctx.store.get(st.OBJECT, st.object_key(bucket, name))
    anonymous = anonymous_ok and not _is_owner(request)
    if anonymous and (doc is None or not acc.anonymous_can_read(bucket_doc, doc)):
        readable_bucket = acc.iam_grants_public_read(bucket_doc) and not acc.pap_enforced(
            bucket_doc
        )
        if doc is None and readable_bucket:
            raise ApiError(404, "The specified key does not exist.", "notFound")
        raise ApiError(
            403 if xml else 401, _anonymous_get(bucket_doc), "forbidden" if xml else "required"
        )
    if doc is None:
        raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
    if "generation" in query and query["generation"] != doc["resource"]["generation"]:
        raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
    st.check_preconditions(doc, query)
    return await io.download(ctx, request, bucket_doc, doc)


def _anonymous_get(bucket_doc: dict[str, Any]) -> str:
    why = ""
    if acc.pap_enforced(bucket_doc):
        why = " Public access prevention is enforced on this bucket."
    return (
        "Anonymous caller does not have storage.objects.get access to the Google Cloud "
        "Storage object. Permission 'storage.objects.get' denied on resource (or it may "
        f"not exist).{why}"
    )


# --- IAM and ACLs ----------------------------------------------------------------------------


async def _iam(ctx: SandboxContext, request: Request, bucket: str, rest: list[str]) -> Response:
    if rest == ["testPermissions"]:
        st.get_bucket(ctx, bucket)
        wanted = request.query_params.getlist("permissions")
        return JSONResponse({"kind": "storage#testIamPermissionsResponse", "permissions": wanted})
    if rest:
        raise ApiError(404, f"The sandbox does not serve {request.url.path}")
    if request.method == "GET":
        doc = st.get_bucket(ctx, bucket)
        return JSONResponse(acc.render_iam(bucket, doc["iam"]))
    if request.method == "PUT":
        policy = st.set_iam(ctx, bucket, await _json(request))
        return JSONResponse(acc.render_iam(bucket, policy))
    raise ApiError(405, f"{request.method} is not allowed here.")


async def _bucket_acl(
    ctx: SandboxContext, request: Request, bucket: str, which: str, rest: list[str]
) -> Response:
    doc = st.get_bucket(ctx, bucket)
    acc.refuse_acl_under_ubla(doc, "use", "a bucket")
    kind = "object" if which == "defaultObjectAcl" else "bucket"
    roles = acc.OBJECT_ROLES if kind == "object" else acc.BUCKET_ROLES
    entries: list[dict[str, Any]] = doc[which]

    def render(entry: dict[str, Any]) -> dict[str, Any]:
        return acc.render_acl_entry(entry, bucket=bucket, kind=kind)

    method = request.method
    if not rest:
        if method == "GET":
            kind_name = (
                "storage#objectAccessControls"
                if kind == "object"
                else ("storage#bucketAccessControls")
            )
            return JSONResponse({"kind": kind_name, "items": [render(e) for e in entries]})
        if method == "POST":
            entry = acc.clean_acl_entry(await _json(request), roles)
            new = [e for e in entries if e["entity"] != entry["entity"]] + [entry]
            _save_bucket_acl(ctx, bucket, which, new)
            return JSONResponse(render(entry))
    else:
        entity = rest[0]
        found = [e for e in entries if e["entity"] == entity]
        if method == "GET":
            if not found:
                raise ApiError(404, f"No ACL entry for {entity}.", "notFound")
            return JSONResponse(render(found[0]))
        if method in ("PUT", "PATCH"):
            body = await _json(request)
            entry = acc.clean_acl_entry({**body, "entity": entity}, roles)
            new = [e for e in entries if e["entity"] != entity] + [entry]
            _save_bucket_acl(ctx, bucket, which, new)
            return JSONResponse(render(entry))
        if method == "DELETE":
            if not found:
                raise ApiError(404, f"No ACL entry for {entity}.", "notFound")
            _save_bucket_acl(ctx, bucket, which, [e for e in entries if e["entity"] != entity])
            return Response(status_code=204)
    raise ApiError(405, f"{method} is not allowed here.")


def _save_bucket_acl(
    ctx: SandboxContext, bucket: str, which: str, entries: list[dict[str, Any]]
) -> None:
    with ctx.lock:
        doc = st.get_bucket(ctx, bucket)
        acc.refuse_public_under_pap(doc, entries)
        doc[which] = entries
        res = doc["resource"]
        res["metageneration"] = str(int(res["metageneration"]) + 1)
        ctx.store.put(st.BUCKET, bucket, doc)


async def _object_acl(
    ctx: SandboxContext, request: Request, bucket: str, name: str, rest: list[str]
) -> Response:
    bucket_doc = st.get_bucket(ctx, bucket)
    doc = st.get_object(ctx, bucket, name)
    method = request.method
    verbs = {"GET": "get", "POST": "insert", "PUT": "update", "PATCH": "update"}
    acc.refuse_acl_under_ubla(bucket_doc, verbs.get(method, "delete"))
    entries = acc.object_acl(ctx, doc)
    gen = doc["resource"]["generation"]

    def render(entry: dict[str, Any]) -> dict[str, Any]:
        return acc.render_acl_entry(entry, bucket=bucket, obj=name, generation=gen)

    if not rest:
        if method == "GET":
            return JSONResponse(
                {"kind": "storage#objectAccessControls", "items": [render(e) for e in entries]}
            )
        if method == "POST":
            entry = acc.clean_acl_entry(await _json(request), acc.OBJECT_ROLES)
            new = [e for e in entries if e["entity"] != entry["entity"]] + [entry]
            st.set_object_acl(ctx, bucket, name, new)
            return JSONResponse(render(entry))
    else:
        entity = rest[0]
        found = [e for e in entries if e["entity"] == entity]
        if method == "GET":
            if not found:
                raise ApiError(404, f"No ACL entry for {entity}.", "notFound")
            return JSONResponse(render(found[0]))
        if method in ("PUT", "PATCH"):
            body = await _json(request)
            entry = acc.clean_acl_entry({**body, "entity": entity}, acc.OBJECT_ROLES)
            st.set_object_acl(
                ctx, bucket, name, [e for e in entries if e["entity"] != entity] + [entry]
            )
            return JSONResponse(render(entry))
        if method == "DELETE":
            if not found:
                raise ApiError(404, f"No ACL entry for {entity}.", "notFound")
            st.set_object_acl(ctx, bucket, name, [e for e in entries if e["entity"] != entity])
            return Response(status_code=204)
    raise ApiError(405, f"{method} is not allowed here.")


# --- uploads ---------------------------------------------------------------------------------


async def _upload_api(ctx: SandboxContext, request: Request, parts: list[str]) -> Response:
    if len(parts) != 3 or parts[0] != "b" or parts[2] != "o":
        raise ApiError(404, f"The sandbox does not serve {request.url.path}")
    bucket = parts[1]
    query = _query(request)
    upload_id = query.get("upload_id")
    if upload_id:
        if request.method == "PUT" or request.method == "POST":
            return await io.resumable_chunk(ctx, request, upload_id)
        if request.method == "DELETE":
            return await io.cancel_resumable(ctx, upload_id)
        raise ApiError(405, f"{request.method} is not allowed on an upload session.")
    if request.method != "POST":
        raise ApiError(405, f"{request.method} is not allowed here.")
    kind = query.get("uploadType", "")
    if kind == "media":
        return await io.media_upload(ctx, request, bucket, query)
    if kind == "multipart":
        return await io.multipart_upload(ctx, request, bucket, query)
    if kind == "resumable":
        return await io.start_resumable(ctx, request, bucket, query)
    raise ApiError(400, f"Invalid uploadType: '{kind}'.", "invalid")


# --- the public URL (/BUCKET/OBJECT), tried last ----------------------------------------------


class PublicObjectRoute(BaseRoute):
    """GET/HEAD `/BUCKET/OBJECT` for a valid bucket name not used by another API's paths."""

    def __init__(self, endpoint: Any) -> None:
        self.endpoint = endpoint
        self.app = request_response(endpoint)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return Match.NONE, {}
        bucket, sep, name = scope["path"].lstrip("/").partition("/")
        if not sep or not name or bucket in RESERVED_PREFIXES:
            return Match.NONE, {}
        if st.validate_bucket_name(bucket) is not None:
            return Match.NONE, {}
        return Match.FULL, {"endpoint": self.endpoint, "path_params": {}}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


# --- admin hooks -----------------------------------------------------------------------------


def reset(ctx: SandboxContext) -> None:
    io.reset()
    shutil.rmtree(ctx.blob_dir / "gcs", ignore_errors=True)


SEED_CONTENT = b"cloudpane sandbox object\n"


def seed(ctx: SandboxContext, **options: Any) -> dict[str, Any]:
    """`objects=N, bucket=NAME, folders=K`: a bucket of N objects written directly (scale
    tests); without `objects`, a small demo bucket for the Buckets pane."""
    if "objects" not in options:
        return _seed_demo(ctx)
    count = int(options["objects"])
    bucket = str(options.get("bucket") or "big-bucket")
    folders = int(options.get("folders") or 0)
    if ctx.store.get(st.BUCKET, bucket) is None:
        st.create_bucket(ctx, {"name": bucket, "location": "us-central1"}, {})
    # Every seeded object shares one content file (marked shared: deletes keep it).
    shared_rel = "objects/_seed/content"
    shared = ctx.blob_dir / "gcs" / shared_rel
    shared.parent.mkdir(parents=True, exist_ok=True)
    shared.write_bytes(SEED_CONTENT)
    hasher = io.Hasher()
    hasher.update(SEED_CONTENT)
    stamp = st.now_rfc3339()
    batch: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        folder = f"folder-{i % folders:04d}/" if folders else ""
        name = f"{folder}object-{i:07d}.txt"
        generation = st.new_generation()
        resource = {
            "name": name,
            "bucket": bucket,
            "generation": str(generation),
            "metageneration": "1",
            "contentType": "text/plain",
            "storageClass": "STANDARD",
            "size": str(len(SEED_CONTENT)),
            "md5Hash": hasher.md5_b64,
            "crc32c": hasher.crc32c_b64,
            "timeCreated": stamp,
            "updated": stamp,
            "acl": None,
        }
        batch.append(
            (
                st.object_key(bucket, name),
                {"resource": resource, "file": shared_rel, "shared": True},
            )
        )
        if len(batch) >= 10_000:
            ctx.store.put_many(st.OBJECT, batch)
            batch = []
    if batch:
        ctx.store.put_many(st.OBJECT, batch)
    return {"storage": {"bucket": bucket, "objects": count}}


def _seed_demo(ctx: SandboxContext) -> dict[str, Any]:
    bucket = f"{ctx.project}-data"
    if ctx.store.get(st.BUCKET, bucket) is None:
        st.create_bucket(
            ctx,
            {
                "name": bucket,
                "location": "us-central1",
                "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}},
            },
            {},
        )
    files = {
        "datasets/README.txt": b"Synthetic depth-estimation scenes for the trainer.\n",
        "datasets/train/manifest.json": json.dumps({"scenes": 512, "size": [64, 64]}).encode(),
        "datasets/eval/manifest.json": json.dumps({"scenes": 64, "size": [64, 64]}).encode(),
        "models/README.txt": b"Trained models land here (AIP_MODEL_DIR).\n",
    }
    for name, data in files.items():
        tmp = io.upload_dir(ctx) / f"seed-{time.time_ns()}"
        tmp.write_bytes(data)
        hasher = io.Hasher()
        hasher.update(data)
        st.store_object(
            ctx,
            bucket,
            name,
            tmp,
            size=len(data),
            md5=hasher.md5_b64,
            crc32c=hasher.crc32c_b64,
            metadata={
                "contentType": "application/json" if name.endswith(".json") else "text/plain"
            },
            query={},
        )
    return {"storage": {"bucket": bucket, "objects": len(files)}}
