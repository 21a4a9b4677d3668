"""`cloudpane serve` answers only whoever holds its URL's token, from its own origin.

A real `serve` process (the `served` fixture), real HTTP and WebSocket clients (aiohttp): the
attacks of issue 14 — another account or a web page reaching the loopback port without the
token, with a wrong one, a cross-site WebSocket (foreign `Origin`), a DNS-rebinding page
(foreign `Host`) — are refused, and the printed URL opens the TUI, whose screen arrives over
the WebSocket.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.test_serve_browser import served  # noqa: F401  (the fixture)
from tui.cli.serve_access import allowed_hosts, allowed_origins

WS_URL = re.compile(r'data-session-websocket-url="([^"]+)"')


def parts(url: str) -> tuple[str, int, str]:
    split = urlsplit(url)
    token = dict(p.split("=", 1) for p in split.query.split("&") if "=" in p).get("token", "")
    return f"{split.scheme}://{split.netloc}", int(split.port or 80), token


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
        session.get(url, headers=headers or {}) as resp,
    ):
        return resp.status, await resp.text()


async def ws_refused(url: str, headers: dict[str, str] | None = None) -> int:
    """Try to open a WebSocket; → the HTTP status it was refused with (0 if it opened)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        try:
            ws = await session.ws_connect(url, headers=headers or {})
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 0


async def screen_bytes(url: str, origin: str, wanted: bytes, timeout: float = 90) -> bytes:
    """Open the WebSocket as the page would and collect terminal output until `wanted` shows."""
    received = b""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}?width=100&height=30", headers={"Origin": origin}) as ws,
    ):

        async def collect() -> None:
            nonlocal received
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    received += message.data
                    if wanted in received:
                        return

        # A bound on a broken server, not a timed assertion: the test waits for the screen.
        await asyncio.wait_for(collect(), timeout)
    return received


def test_the_page_needs_the_token(served: str) -> None:  # noqa: F811
    origin, _, token = parts(served)
    assert token, f"serve printed no token: {served}"
    assert asyncio.run(get(f"{origin}/"))[0] == 403
    assert asyncio.run(get(f"{origin}/?token=wrong-{token[:8]}"))[0] == 403
    assert asyncio.run(get(f"{origin}/?token="))[0] == 403
    assert asyncio.run(get(f"{origin}/download/anything"))[0] == 403
    status, page = asyncio.run(get(served))
    assert status == 200 and WS_URL.search(page), page[:500]


def test_the_websocket_needs_the_token(served: str) -> None:  # noqa: F811
    origin, _, token = parts(served)
    ws = "ws" + origin[4:]
    assert asyncio.run(ws_refused(f"{ws}/ws")) == 403
    assert asyncio.run(ws_refused(f"{ws}/ws/wrong-{token[:8]}")) == 403
    assert asyncio.run(ws_refused(f"{ws}/ws?token=nope")) == 403


def test_a_foreign_origin_cannot_open_the_websocket(served: str) -> None:  # noqa: F811
    status, page = asyncio.run(get(served))
    assert status == 200
    found = WS_URL.search(page)
    assert found, page[:500]
    for foreign in ("http://evil.example", "http://127.0.0.1:1", "null"):
        assert asyncio.run(ws_refused(found.group(1), {"Origin": foreign})) == 403, foreign
    # …and a cross-site request for the page with the token is refused too.
    assert asyncio.run(get(served, {"Origin": "http://evil.example"}))[0] == 403


def test_a_foreign_host_is_refused(served: str) -> None:  # noqa: F811
    _, port, _ = parts(served)
    status, page = asyncio.run(get(served))
    assert status == 200
    found = WS_URL.search(page)
    assert found, page[:500]
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}"):
        assert asyncio.run(get(served, {"Host": host}))[0] == 403, host
        rebinding = {"Host": host, "Origin": f"http://{host}"}
        assert asyncio.run(ws_refused(found.group(1), rebinding)) == 403, host


def test_the_printed_url_opens_the_tui(served: str) -> None:  # noqa: F811
    origin, _, _ = parts(served)
    status, page = asyncio.run(get(served))
    assert status == 200
    found = WS_URL.search(page)
    assert found, page[:500]
    screen = asyncio.run(screen_bytes(found.group(1), origin, b"served-0000"))
    assert b"served-0000" in screen
    # localhost names the same server.
    assert asyncio.run(get(served.replace("127.0.0.1", "localhost")))[0] == 200


@pytest.mark.parametrize(
    ("host", "public_url", "expected"),
    [
        ("127.0.0.1", None, {"127.0.0.1:8000", "localhost:8000"}),
        ("::1", None, {"[::1]:8000", "localhost:8000"}),
        ("0.0.0.0", "https://tui.example", {"tui.example:443", "tui.example"}),
    ],
)
def test_the_names_a_server_answers_to(host: str, public_url: str | None, expected: set) -> None:
    hosts = allowed_hosts(host, 8000, public_url)
    assert hosts == expected
    origins = allowed_origins(hosts, public_url)
    assert "http://evil.example" not in origins
    if public_url:
        assert public_url in origins
