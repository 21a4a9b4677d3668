"""The sandbox's ASGI app: one HTTP address serving every REST API cloudpane uses.

Google's REST paths do not overlap (`/compute/v1/…`, `/storage/v1/…`, `/upload/storage/v1/…`,
`/v1/projects/…/locations/…`, `/v2/entries:list`, `/v1/services/…/skus`), so each API module
contributes its routes to one Starlette app. A module exposes:

    def routes(ctx: SandboxContext) -> list[BaseRoute]          # required
    async def startup(ctx) / async def shutdown(ctx)            # optional background work
    def reset(ctx)                                              # optional: forget its state
    def seed(ctx, **options) -> dict                            # optional: demo/scale data
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import urllib.parse
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import owner
from tui.sandbox.auth import OwnerMiddleware
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError, error_response
from tui.sandbox.faults import FaultMiddleware, FaultSettings
from tui.sandbox.partial_response import PartialResponseMiddleware
from tui.sandbox.validation import guard_routes

log = logging.getLogger("cloudpane.sandbox")

# The API modules, in the order their routes are tried.
API_MODULES = [
    "compute",
    "compute_disks",
    "compute_networks",
    "storage",
    "vertex",
    "vertex_tuning",
    "logging_api",
    "monitoring",
    "billing",
    "resource_manager",
]

VERSION = "1"


def load_api_modules() -> list[ModuleType]:
    return [importlib.import_module(f"tui.sandbox.{name}") for name in API_MODULES]


def create_app(ctx: SandboxContext) -> Starlette:
    modules = load_api_modules()

    async def health(request: Request) -> Response:
        body: dict[str, Any] = {
            "status": "ok",
            "project": ctx.project,
            "url": ctx.base_url,
            "apis": [m.__name__.rsplit(".", 1)[1] for m in modules],
            "version": VERSION,
        }
        nonce = request.query_params.get("nonce")
        if nonce and ctx.owner_token:  # the daemon proves it holds the secret (owner.py)
            body["proof"] = owner.proof(ctx.owner_token, nonce[:200], ctx.base_url)
        return JSONResponse(body)

    async def token(request: Request) -> Response:
        """OAuth's refresh grant, as the ADC file of `cloudpane sandbox env` asks for it."""
        raw = (await request.body()).decode("utf-8", errors="replace")
        form = dict(urllib.parse.parse_qsl(raw))
        presented = form.get("refresh_token", "")
        if form.get("grant_type") != "refresh_token" or not (
            ctx.owner_token and owner.token_matches(presented, ctx.owner_token)
        ):
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Bad Request"}, status_code=400
            )
        return JSONResponse(
            {"access_token": ctx.owner_token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                ctx.faults = FaultSettings.from_mapping(await request.json())
            except (ValueError, TypeError) as exc:
                return error_response(400, str(exc))
        return JSONResponse(ctx.faults.to_dict())

    async def requests(request: Request) -> Response:
        """API requests per path since the last POST here (POST reads and clears)."""
        counts = dict(ctx.request_counts)
        if request.method == "POST":
            ctx.request_counts.clear()
        return JSONResponse(counts)

    async def reset(request: Request) -> Response:
        for module in modules:
            if hasattr(module, "reset"):
                module.reset(ctx)
        ctx.store.clear()
        return JSONResponse({"reset": True})

    async def seed(request: Request) -> Response:
        options: dict[str, Any] = await request.json() if await request.body() else {}
        result: dict[str, Any] = {}
        try:
            for module in modules:
                if hasattr(module, "seed"):
                    result.update(module.seed(ctx, **options) or {})
        except (TypeError, ValueError) as exc:  # an option of the wrong type
            return error_response(400, f"Invalid seed options: {exc}")
        return JSONResponse(result)

    admin: list[BaseRoute] = [
        Route("/_sandbox/health", health),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
        Route("/_sandbox/requests", requests, methods=["GET", "POST"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/seed", seed, methods=["POST"]),
    ]
    # OAuth's token endpoint takes a form body, not a JSON one: not behind the JSON checks.
    oauth: list[BaseRoute] = [Route("/token", token, methods=["POST"])]
    api: list[BaseRoute] = []
    for module in modules:
        api.extend(module.routes(ctx))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for module in modules:
            if hasattr(module, "startup"):
                await module.startup(ctx)
        try:
            yield
        finally:
            for module in reversed(modules):
                if hasattr(module, "shutdown"):
                    await module.shutdown(ctx)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, exc.message, exc.reason)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(
            404, f"The sandbox does not serve {request.method} {request.url.path}"
        )

    async def internal(request: Request, exc: Exception) -> Response:
        log.exception("sandbox error on %s %s", request.method, request.url.path)
        return error_response(500, f"Sandbox internal error: {exc}")

    return Starlette(
        routes=oauth + guard_routes(admin + api),  # Google's front-end checks, before handlers
        middleware=[
            Middleware(OwnerMiddleware, ctx=ctx),  # first: every path, /_sandbox/* too
            Middleware(FaultMiddleware, settings_ref=ctx),
            Middleware(PartialResponseMiddleware),
        ],
        exception_handlers={ApiError: api_error, 404: not_found, 405: not_found, 500: internal},
        lifespan=lifespan,
    )
