"""Fault injection on the wire: latency, error answers, dropped connections, garbled answers.

Settings come from the admin endpoint (`POST /_sandbox/faults`) or the environment
(`CLOUDPANE_SANDBOX_FAULTS='{"error_rate": 0.2, "latency_ms": 300}'`), so reliability tests
exercise the real client code and its real retry paths.

Besides Google's own error answers, two things a real network path produces are imitated:
a 200 whose body is not what the API promises (`malformed_next`: cut-off JSON, a JSON value of
the wrong shape, or an empty body), and an HTML error page from a proxy or load balancer in
front of the API (`html_next`: 502 with `text/html`, as Google's front end sends).

`error_reason` sets the `errors[].reason` of injected errors: `{"codes": [403], "error_reason":
"rateLimitExceeded"}` is Compute Engine's answer to a project over its rate quota (a 403, not a
429; docs/gcp-facts.md), which clients must retry and report as a rate limit, not a permission.

The middleware also counts API requests per path (`/_sandbox/requests`), so a test can check
how many requests a client really sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tui.sandbox.errors import error_response

MalformedBody = Literal["truncated", "wrong-shape", "empty"]

# What a garbled 200 carries: JSON cut off mid-way, valid JSON whose fields have the wrong
# types (lists where strings belong and the reverse), or nothing at all.
MALFORMED_BODIES: dict[str, bytes] = {
    "truncated": b'{"kind": "compute#instanceList", "items": [{"name": "vm-1", "sta',
    "wrong-shape": (
        b'{"kind": 7, "name": ["not", "a", "string"], "items": "not-a-list",'
        b' "customJobs": "not-a-list", "hyperparameterTuningJobs": "not-a-list"}'
    ),
    "empty": b"",
}

# Google's front end answers a failed backend with a page like this one.
HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html lang=en>\n<meta charset=utf-8>\n"
    "<title>Error {code} (Server Error)!!1</title>\n"
    "<p><b>{code}.</b> <ins>That's an error.</ins>\n"
    "<p>The server encountered a temporary error and could not complete your request."
    "<p>Please try again in 30 seconds. <ins>That's all we know.</ins>\n"
)


@dataclass
class FaultSettings:
    error_rate: float = 0.0  # share of requests answered with one of `codes`
    codes: list[int] = field(default_factory=lambda: [429, 503])
    latency_ms: int = 0
    drop_rate: float = 0.0  # share of requests whose connection is closed without an answer
    path_prefix: str = ""  # only requests under this path ("" = all API paths)
    fail_next: int = 0  # the next N matching requests fail (deterministic tests)
    malformed_next: int = 0  # the next N matching requests get 200 with a garbled body
    malformed_body: MalformedBody = "truncated"
    html_next: int = 0  # the next N matching requests get an HTML error page (as a proxy)
    html_code: int = 502
    error_reason: str = ""  # errors[].reason of injected errors ("" = the code's usual one)
    seed: int | None = None

    def __post_init__(self) -> None:
        # A typo here would silently inject nothing (or everything): refuse it with the field.
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number from 0 to 1, not {value!r}")
        for name in ("latency_ms", "fail_next", "malformed_next", "html_next"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        if not isinstance(self.codes, list) or not all(
            isinstance(c, int) and 400 <= c <= 599 for c in self.codes
        ):
            raise ValueError(
                f"codes must be a list of HTTP error codes (400-599), not {self.codes!r}"
            )
        if not isinstance(self.html_code, int) or not 400 <= self.html_code <= 599:
            raise ValueError(
                f"html_code must be an HTTP error code (400-599), not {self.html_code!r}"
            )
        if self.malformed_body not in MALFORMED_BODIES:
            choices = ", ".join(get_args(MalformedBody))
            raise ValueError(
                f"malformed_body must be one of {choices}, not {self.malformed_body!r}"
            )
        if not isinstance(self.path_prefix, str):
            raise ValueError(f"path_prefix must be a string, not {self.path_prefix!r}")
        if not isinstance(self.error_reason, str):
            raise ValueError(f"error_reason must be a string, not {self.error_reason!r}")

    @classmethod
    def from_mapping(cls, data: Any) -> FaultSettings:
        if not isinstance(data, dict):
            raise ValueError(f"fault settings must be a JSON object, not {data!r}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(
                f"unknown fault settings: {', '.join(sorted(unknown))} "
                f"(known: {', '.join(cls.__dataclass_fields__)})"
            )
        return cls(**known)

    @classmethod
    def from_env(cls) -> FaultSettings:
        raw = os.environ.get("CLOUDPANE_SANDBOX_FAULTS", "")
        if not raw:
            return cls()
        try:
            return cls.from_mapping(json.loads(raw))
        except ValueError as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"CLOUDPANE_SANDBOX_FAULTS: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What Google says with each reason (Compute, and every API behind Google's front end).
REASON_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
}


def injected_error(code: int, reason: str) -> Response:
    if reason:
        return error_response(
            code, REASON_MESSAGES.get(reason, f"Injected fault ({reason})."), reason
        )
    return error_response(code, f"Injected fault ({code}).")


def malformed_response(kind: str) -> Response:
    return Response(MALFORMED_BODIES[kind], status_code=200, media_type="application/json")


def html_response(code: int) -> Response:
    return Response(HTML_ERROR_PAGE.format(code=code), status_code=code, media_type="text/html")


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
        counts: Counter[str] | None = getattr(self.settings_ref, "request_counts", None)
        if counts is not None:  # API requests per path, answered or faulted
            counts[scope["path"]] += 1
        faults: FaultSettings = self.settings_ref.faults
        if faults.path_prefix and not scope["path"].startswith(faults.path_prefix):
            await self.app(scope, receive, send)
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.fail_next > 0:
            faults.fail_next -= 1
            code = faults.codes[0] if faults.codes else 503
            await injected_error(code, faults.error_reason)(scope, receive, send)
            return
        if faults.malformed_next > 0:
            faults.malformed_next -= 1
            await malformed_response(faults.malformed_body)(scope, receive, send)
            return
        if faults.html_next > 0:
            faults.html_next -= 1
            await html_response(faults.html_code)(scope, receive, send)
            return
        if faults.drop_rate and self.random.random() < faults.drop_rate:
            # Closing without a response makes the client see a dropped connection.
            raise ConnectionAbortedError("injected dropped connection")
        if faults.error_rate and self.random.random() < faults.error_rate:
            code = self.random.choice(faults.codes or [503])
            await injected_error(code, faults.error_reason)(scope, receive, send)
            return
        await self.app(scope, receive, send)
