"""Partial responses: the `fields` system parameter (or the `X-Goog-FieldMask` header).

Google's API platform lets every REST call name the fields it wants back
(https://cloud.google.com/apis/docs/system-parameters): `a,b/c,d(e,f),items/*/instances(name)`
— paths separated by `,`, steps by `/` or `.`, sub-selections in `( )`, `*` for every key of
a map (such as aggregatedList's `items`). Lists are filtered element by element. The sandbox
applies the mask to successful JSON answers; errors and media downloads pass untouched.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A mask: field name → sub-mask, or None for "the whole value".
Mask = dict[str, Any]


class FieldMaskError(ValueError):
    pass


def parse_mask(text: str) -> Mask:
    mask, end = _parse_list(text, 0)
    if end != len(text):
        raise FieldMaskError(f"Invalid field selection {text!r}: unexpected {text[end]!r}.")
    return mask


def _parse_list(text: str, i: int) -> tuple[Mask, int]:
    mask: Mask = {}
    while True:
        path, i = _parse_path(text, i)
        _merge(mask, path)
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        return mask, i


def _parse_path(text: str, i: int) -> tuple[Mask, int]:
    start = i
    while i < len(text) and text[i] not in ",()/.":
        i += 1
    name = text[start:i].strip()
    if not name:
        raise FieldMaskError(f"Invalid field selection {text!r}: empty field name at {start}.")
    if i < len(text) and text[i] in "/.":
        sub, i = _parse_path(text, i + 1)
        return {name: sub}, i
    if i < len(text) and text[i] == "(":
        sub, i = _parse_list(text, i + 1)
        if i >= len(text) or text[i] != ")":
            raise FieldMaskError(f"Invalid field selection {text!r}: missing ')'.")
        return {name: sub}, i + 1
    return {name: None}, i


def _merge(into: Mask, other: Mask) -> None:
    for name, sub in other.items():
        if name not in into:
            into[name] = sub
        elif into[name] is None or sub is None:  # the whole value wins over a part of it
            into[name] = None
        else:
            _merge(into[name], sub)


def apply_mask(value: Any, mask: Mask | None) -> Any:
    if mask is None:
        return value
    if isinstance(value, list):
        return [apply_mask(item, mask) for item in value]
    if not isinstance(value, dict):
        return value
    if "*" in mask and len(mask) == 1 and mask["*"] is None:
        return value
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if key in mask:
            kept[key] = apply_mask(item, mask[key])
        elif "*" in mask:
            kept[key] = apply_mask(item, mask["*"])
    return kept


def requested_mask(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == b"x-goog-fieldmask":
            return value.decode("latin-1")
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    for name in ("fields", "$fields"):
        if name in query:
            return query[name][-1]
    return None


class PartialResponseMiddleware:
    """Filters successful JSON answers of requests that name the fields they want."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = requested_mask(scope) if scope["type"] == "http" else None
        if not text or text.strip() == "*":
            await self.app(scope, receive, send)
            return
        try:
            mask = parse_mask(text)
        except FieldMaskError as exc:
            from tui.sandbox.errors import error_response

            await error_response(400, str(exc))(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await send_filtered(start, b"".join(body))

        async def send_filtered(start: Message, raw: bytes) -> None:
            headers = dict(start.get("headers") or ())
            is_json = headers.get(b"content-type", b"").startswith(b"application/json")
            if start["status"] == 200 and is_json and raw:
                raw = json.dumps(apply_mask(json.loads(raw), mask)).encode()
                headers[b"content-length"] = str(len(raw)).encode()
                start = {**start, "headers": list(headers.items())}
            await send(start)
            await send({"type": "http.response.body", "body": raw})

        await self.app(scope, receive, capture)
