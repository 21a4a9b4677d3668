"""Who may drive the served TUI: whoever holds the URL's token, from this server's own origin.

textual-serve answers anyone who reaches its port, and its WebSocket reads the screen and sends
keys: with Google credentials, that is the user's whole project. Loopback is no fence — every
account on a shared host reaches 127.0.0.1, and so does any web page the user opens (a
cross-site WebSocket, a DNS-rebinding page whose `Host` is its own name). So, as Jupyter does:

- `serve` makes a random token (`secrets.token_urlsafe`) and prints the one URL that carries it.
  The page needs it (`?token=`, or the cookie the first tokened page load sets, so a reload
  works); the WebSocket needs it (in its path, which the page is given, or the cookie); so do
  downloads (the cookie). Static assets are textual-serve's own public files and need none.
- Every request must name this server in `Host` (the bound loopback address or `localhost`,
  with the port, or the `--public-url`'s): a rebinding page's `Host` is its own name.
- A request with an `Origin` must come from this server's origin; a browser always sends one
  on a WebSocket, so a page elsewhere cannot open one even where the cookie would go along.

The token is never logged: aiohttp's access log is off and the server's own log has no locals.
Comparisons are constant-time.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

log = logging.getLogger("tui.serve")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def allowed_hosts(host: str, port: int, public_url: str | None) -> set[str]:
    """The `Host` values that name this server (lower-case, with the port)."""
    names = set()
    if host not in ("0.0.0.0", "::", ""):
        names.add(_netloc(host, port))
    if host in ("127.0.0.1", "localhost", "::1"):
        names.add(_netloc("localhost", port))
    if public_url:
        parts = urlsplit(public_url)
        if parts.hostname:
            default = 443 if parts.scheme == "https" else 80
            netloc_port = parts.port or default
            names.add(_netloc(parts.hostname, netloc_port))
            if parts.port is None:
                names.add(parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]")
    return {name.lower() for name in names}


def allowed_origins(hosts: set[str], public_url: str | None) -> set[str]:
    origins = {f"http://{h}" for h in hosts} | {f"https://{h}" for h in hosts}
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}".lower())
    return origins


def cookie_name(port: int) -> str:
    # Cookies ignore ports: name it for this one so two servers on one host don't clash.
    return f"cloudpane-serve-{port}"


class AccessGuard:
    """The three checks, as an aiohttp middleware."""

    def __init__(self, token: str, hosts: set[str], origins: set[str], port: int) -> None:
        self.token = token
        self.hosts = hosts
        self.origins = origins
        self.cookie = cookie_name(port)

    def token_ok(self, candidate: str | None) -> bool:
        return bool(candidate) and secrets.compare_digest(
            str(candidate).encode(), self.token.encode()
        )

    def refusal(self, request: web.Request) -> str | None:
        """Why `request` is refused, or None. The reason names no token."""
        if (request.headers.get("Host") or "").lower() not in self.hosts:
            return "this server answers only to its own address (foreign Host)"
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in self.origins:
            return "requests from other sites are refused (foreign Origin)"
        if request.path.startswith("/static/"):
            return None  # textual-serve's own public files
        presented = (
            request.match_info.get("token")
            or request.query.get("token")
            or request.cookies.get(self.cookie)
        )
        if not self.token_ok(presented):
            return "open the URL `cloudpane serve` printed (with its token)"
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        reason = self.refusal(request)
        if reason is not None:
            return web.Response(status=403, text=f"403 Forbidden: {reason}\n")
        return await handler(request)


class GuardedServer(Server):
    """textual-serve's Server behind an `AccessGuard`, printing its tokened URL once."""

    def __init__(self, command: str, *, token: str, out: Any = None, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.token = token
        self.out = out or sys.stdout
        hosts = allowed_hosts(self.host, self.port, kwargs.get("public_url"))
        self.guard = AccessGuard(token, hosts, allowed_origins(hosts, self.public_url), self.port)

    @property
    def url(self) -> str:
        """The one URL that opens the TUI (it carries the token: print it, never log it)."""
        return f"{self.public_url}/?token={self.token}"

    def initialize_logging(self) -> None:
        # textual-serve's RichHandler shows tracebacks with their locals (a request, the
        # token); warnings and errors go to stderr plainly instead.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cloudpane serve: %(levelname)s %(message)s"))
        for name in ("textual-serve", "tui.serve", "aiohttp"):
            logger = logging.getLogger(name)
            logger.handlers[:] = [handler]
            logger.setLevel(logging.WARNING)
            logger.propagate = False

    async def _make_app(self) -> web.Application:
        import aiohttp_jinja2
        import jinja2

        app = web.Application(middlewares=[self.guard.middleware])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_guarded_index, name="index"),
                web.get("/ws", self.handle_websocket, name="websocket"),
                web.get("/ws/{token}", self.handle_websocket),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, show_index=False, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def handle_guarded_index(self, request: web.Request) -> web.StreamResponse:
        """textual-serve's page, with the WebSocket URL carrying the token in its path (the
        page's script appends `?width=…` to it) and a cookie for reloads and downloads."""
        import aiohttp_jinja2

        context: dict[str, Any] = await Server.handle_index.__wrapped__(self, request)  # type: ignore[attr-defined]
        base = context["app_websocket_url"]
        context["app_websocket_url"] = f"{base}/{self.token}"
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.set_cookie(
            self.guard.cookie,
            self.token,
            httponly=True,
            samesite="Strict",
            path="/",
            secure=self.public_url.startswith("https"),
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    async def on_startup(self, app: web.Application) -> None:
        """Nothing to say yet: the socket is not listening (see `announce`)."""

    def announce(self, *_: object) -> None:
        """Print the URL once the server listens (aiohttp calls this where it would print
        its own "Running on …")."""
        print(f"cloudpane serve: open {self.url}", file=self.out, flush=True)
        print("Press Ctrl+C to stop.", file=self.out, flush=True)

    def serve(self, debug: bool = False) -> None:
        """As textual-serve's, without aiohttp's access log (it would log the token)."""
        import asyncio
        import signal

        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.add_signal_handler(signal.SIGINT, self.request_exit)
            loop.add_signal_handler(signal.SIGTERM, self.request_exit)
        except NotImplementedError:
            pass
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            handle_signals=False,
            loop=loop,
            access_log=None,
            print=self.announce,
        )
