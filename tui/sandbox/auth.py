"""Who is calling: every request to the sandbox is checked here, in one place.

The outermost middleware of the app (so it also covers `/_sandbox/*`):

- `Host` must name the loopback address and the bound port (`127.0.0.1:PORT`,
  `localhost:PORT`): a DNS-rebinding page sends its own host name, and is refused (403).
- A browser marks what a web page sends: any `Origin` header (cross-site form posts, fetch,
  WebSocket) or a `Sec-Fetch-Site` other than `none` (a cross-site `<img>` or link) is refused
  (403). Google's clients, gcloud and curl send neither.
- `Authorization: Bearer <owner token>` is the owner. Anything else is anonymous and, as on
  Google, may read public objects and nothing else: anonymous requests reach only the storage
  object reads (the storage module applies the ACL/IAM rules with `principal()`), the health
  check (which proves the daemon to its clients, see owner.py) and `POST /token` (the OAuth
  refresh the ADC file of `cloudpane sandbox env` makes). Everything else answers Google's 401.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from tui.sandbox.owner import token_matches

OWNER = "owner"
ANONYMOUS = "anonymous"

UNAUTHENTICATED = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
FOREIGN_HOST = "The sandbox answers only requests addressed to {allowed}; Host {host!r} refused."
BROWSER = "The sandbox does not answer requests made by web pages (Origin or Sec-Fetch-Site set)."

# First path segments of the other APIs: `/BUCKET/OBJECT` (the public URL) never starts so.
_NOT_BUCKETS = frozenset(
    {"compute", "storage", "upload", "download", "batch", "v1", "v1beta1", "v2", "v3", "_sandbox"}
)
_OBJECT_JSON = re.compile(r"^/storage/v1/b/[^/]+/o/[^/]+$")  # on the raw (encoded) path


def principal(scope: Scope) -> str:
    """OWNER or ANONYMOUS, as decided by OwnerMiddleware for this request."""
    return str(scope.get("state", {}).get("principal", ANONYMOUS))


def allowed_hosts(port: int, bound_host: str) -> frozenset[str]:
    names = {"127.0.0.1", "localhost", "[::1]"}
    if bound_host not in ("127.0.0.1", "0.0.0.0", "", "::"):
        names.add(bound_host)
    return frozenset(f"{name}:{port}" for name in names)


def anonymous_may_try(method: str, raw_path: str) -> bool:
    """Requests an anonymous caller may make at all (the handler then decides on the object)."""
    if raw_path == "/_sandbox/health":
        return method in ("GET", "HEAD")
    if raw_path == "/token":
        return method == "POST"
    if method not in ("GET", "HEAD"):
        return False
    if raw_path.startswith("/download/storage/v1/b/") or _OBJECT_JSON.match(raw_path):
        return True
    bucket, sep, name = raw_path.lstrip("/").partition("/")
    return bool(sep and name and bucket not in _NOT_BUCKETS)


def storage_refusal(method: str, raw_path: str) -> str:
    """Google's wording for an anonymous storage call, with the permission it lacked."""
    parts = [urllib.parse.unquote(p) for p in raw_path.strip("/").split("/")]
    rest = parts[2:] if parts[:1] == ["storage"] else parts[3:]  # after storage/v1 or upload/…
    if len(rest) <= 1:
        perm = "storage.buckets.create" if method == "POST" else "storage.buckets.list"
        return (
            f"Anonymous caller does not have {perm} access to the Google Cloud project. "
            f"Permission '{perm}' denied on resource (or it may not exist)."
        )
    if len(rest) == 2 or rest[2] not in ("o",):
        bucket_verb = {"GET": "get", "DELETE": "delete", "POST": "update"}.get(method, "update")
        perm = f"storage.buckets.{bucket_verb}"
        return (
            f"Anonymous caller does not have {perm} access to the Google Cloud Storage bucket. "
            f"Permission '{perm}' denied on resource (or it may not exist)."
        )
    if len(rest) == 3:
        perm = "storage.objects.create" if method == "POST" else "storage.objects.list"
        what = "bucket"
    else:
        object_verb = {"GET": "get", "HEAD": "get", "DELETE": "delete", "POST": "create"}
        perm = f"storage.objects.{object_verb.get(method, 'update')}"
        what = "object"
    return (
        f"Anonymous caller does not have {perm} access to the Google Cloud Storage {what}. "
        f"Permission '{perm}' denied on resource (or it may not exist)."
    )


def _error_body(code: int, message: str, status: str, reason: str) -> bytes:
    error = {
        "code": code,
        "message": message,
        "status": status,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
    }
    return json.dumps({"error": error}).encode()


class OwnerMiddleware:
    """Decides, before any route, whether a request is answered and as whom."""

    def __init__(self, app: ASGIApp, ctx: Any) -> None:
        self.app = app
        self.ctx = ctx  # SandboxContext: owner_token, base_url, bound_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        allowed = allowed_hosts(self.ctx.port, self.ctx.bound_host)
        if host not in allowed:
            shown = " or ".join(sorted(allowed)[:2])
            message = FOREIGN_HOST.format(allowed=shown, host=host[:100])
            await self._refuse(scope, receive, send, 403, message, "PERMISSION_DENIED")
            return
        if "origin" in headers or headers.get("sec-fetch-site", "none") != "none":
            await self._refuse(scope, receive, send, 403, BROWSER, "PERMISSION_DENIED")
            return
        who = ANONYMOUS
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        token = self.ctx.owner_token
        if scheme.lower() == "bearer" and token and token_matches(presented.strip(), token):
            who = OWNER
        scope.setdefault("state", {})["principal"] = who
        if who == ANONYMOUS:
            raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
            raw = raw.split("?", 1)[0]
            if scope["type"] != "http" or not anonymous_may_try(scope["method"], raw):
                storage = raw.startswith(("/storage/", "/upload/storage/", "/download/storage/"))
                message = (
                    storage_refusal(scope.get("method", "GET"), raw) if storage else UNAUTHENTICATED
                )
                await self._refuse(scope, receive, send, 401, message, "UNAUTHENTICATED")
                return
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, code: int, message: str, status: str
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        reason = "required" if code == 401 else "forbidden"
        body = _error_body(code, message, status, reason)
        head: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json; charset=UTF-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        if code == 401:
            head.append((b"www-authenticate", b'Bearer realm="cloudpane-sandbox"'))
        await send({"type": "http.response.start", "status": code, "headers": head})
        await send({"type": "http.response.body", "body": body})
