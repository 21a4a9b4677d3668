"""Fault injection on the wire: latency, error answers and dropped connections.

Settings come from the admin endpoint (`POST /_sandbox/faults`) or the environment
(`CLOUDPANE_SANDBOX_FAULTS='{"error_rate": 0.2, "latency_ms": 300}'`), so reliability tests
exercise the real client code and its real retry paths.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tui.sandbox.errors import error_response


@dataclass
class FaultSettings:
    error_rate: float = 0.0  # share of requests answered with one of `codes`
    codes: list[int] = field(default_factory=lambda: [429, 503])
    latency_ms: int = 0
    drop_rate: float = 0.0  # share of requests whose connection is closed without an answer
    path_prefix: str = ""  # only requests under this path ("" = all API paths)
    fail_next: int = 0  # the next N matching requests fail (deterministic tests)
    seed: int | None = None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FaultSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**known)

    @classmethod
    def from_env(cls) -> FaultSettings:
        raw = os.environ.get("CLOUDPANE_SANDBOX_FAULTS", "")
        return cls.from_mapping(json.loads(raw)) if raw else cls()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultMiddleware:
    """ASGI middleware that applies the current FaultSettings to API requests."""

    def __init__(self, app: ASGIApp, settings_ref: Any) -> None:
        self.app = app
        self.settings_ref = settings_ref  # an object with a `.faults` attribute (the context)
        self.random = random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        faults: FaultSettings = self.settings_ref.faults
        if faults.path_prefix and not scope["path"].startswith(faults.path_prefix):
            await self.app(scope, receive, send)
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.fail_next > 0:
            faults.fail_next -= 1
            code = faults.codes[0] if faults.codes else 503
            await error_response(code, f"Injected fault ({code}).")(scope, receive, send)
            return
        if faults.drop_rate and self.random.random() < faults.drop_rate:
            # Closing without a response makes the client see a dropped connection.
            raise ConnectionAbortedError("injected dropped connection")
        if faults.error_rate and self.random.random() < faults.error_rate:
            code = self.random.choice(faults.codes or [503])
            await error_response(code, f"Injected fault ({code}).")(scope, receive, send)
            return
        await self.app(scope, receive, send)
