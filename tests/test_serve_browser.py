"""`cloudpane serve` in a real browser: headless Chromium loads the page, textual-serve starts
the TUI, and the VMs pane's content appears in the xterm.js terminal.

xterm.js draws with WebGL/canvas, so the text is not in the DOM. The test reads the terminal's
own buffer instead, through the DevTools protocol: a script injected before the page's own
records the xterm.js Terminal when textual.js assigns it (`this.terminal = new Terminal(…)`),
and `buffer.active.getLine(i).translateToString()` returns what is on screen.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tui.cli.serve import exposure_warning, is_loopback, tui_command
from tui.sandbox import daemon
from tui.services.clients import Backend

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent

CAPTURE_TERMINAL = r"""
window.__terminals = [];
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, 'terminal',
      {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer) window.__terminals.push(value);
  },
});
"""
READ_SCREEN = r"""(() => {
  const term = (window.__terminals || [])[0];
  if (!term) return null;
  const buffer = term.buffer.active, lines = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    if (line) lines.push(line.translateToString(true));
  }
  return lines.join('\n');
})()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class DevTools:
    """The few DevTools-protocol calls the test needs, over one browser WebSocket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    async def send(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}, **kw}
        await self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(await self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]


async def screen_text(devtools_url: str, page_url: str, wanted: list[str], timeout: float) -> str:
    """Open `page_url` and return the terminal's text once every `wanted` string shows."""
    import websockets

    async with websockets.connect(devtools_url, max_size=None) as ws:
        cdp = DevTools(ws)
        target = (await cdp.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        attached = await cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = {"sessionId": attached["sessionId"]}
        await cdp.send("Page.enable", **session)
        await cdp.send(
            "Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE_TERMINAL}, **session
        )
        await cdp.send("Page.navigate", {"url": page_url}, **session)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            result = await cdp.send(
                "Runtime.evaluate", {"expression": READ_SCREEN, "returnByValue": True}, **session
            )
            text = result["result"].get("value") or ""
            if all(w in text for w in wanted):
                return text
            await asyncio.sleep(0.3)
        return text


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[str]:
    """Headless Chromium with the DevTools protocol on a free port; yields its WebSocket URL."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium package (/usr/bin/chromium); apt-get install chromium")
    profile = tempfile.mkdtemp(prefix="cloudpane-chromium-")
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,800",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 30
        url = ""
        while time.monotonic() < deadline and not url:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            url = found.group(1) if found else ""
        assert url, "chromium did not open the DevTools protocol"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


URL_LINE = re.compile(r"(https?://[^\s'\"]+)")


def read_url(stream: Any, timeout: float = 60.0) -> str:
    """The URL `serve` prints for the user (with its token): the first URL on its stdout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        found = URL_LINE.search(line)
        if found:
            return found.group(1)
    raise AssertionError("cloudpane serve printed no URL")


@pytest.fixture
def served(sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend) -> Iterator[str]:
    """`cloudpane serve --sandbox` on a free loopback port, with two seeded VMs; yields the URL
    it printed (with its token). After the test: the token is on no line but that one."""
    daemon.admin(sandbox_info, "seed", {"instances": 2, "zones": 1, "name_prefix": "served"})
    port = free_port()
    env = {**os.environ, "CLOUDPANE_SANDBOX_DIR": str(sandbox_info.data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli.serve", "--sandbox", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its per-browser TUI processes go with it
    )
    try:
        assert proc.stdout is not None
        url = read_url(proc.stdout)
        assert url.startswith(f"http://127.0.0.1:{port}")
        wait_listening(port)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        assert "WARNING" not in err, "no exposure warning on 127.0.0.1"
        assert proc.returncode == 0, "SIGTERM stops the server cleanly"
        token = url.partition("token=")[2]
        if token:
            assert token not in out and token not in err, "the token is printed once, never logged"


def test_the_vms_pane_appears_in_a_real_browser(served: str, chromium: str) -> None:
    wanted = ["Sandbox project", "served-00000", "served-00001"]
    text = asyncio.run(screen_text(chromium, served, wanted, timeout=60))
    missing = [w for w in wanted if w not in text]
    assert not missing, f"{missing} not on the served screen:\n{text}"
    assert re.search(r"VMs\s+Buckets\s+Jobs", text), text
    assert "2 instances" in text


def test_serve_binds_only_to_loopback(served: str) -> None:
    import psutil

    port = int(served.split(":")[2].split("/")[0])
    listening = [
        c.laddr
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    ]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening


def test_exposure_warning_and_forwarded_flags() -> None:
    import argparse

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    assert not is_loopback("myhost.example")
    text = exposure_warning("0.0.0.0", 8000)
    assert "no login" in text and "ssh -L 8000:127.0.0.1:8000" in text
    args = argparse.Namespace(
        project="my proj", sandbox=False, read_only=True, profile=None, region="europe-west4",
        zone=None, config=None, host="127.0.0.1", port=8000,
    )  # fmt: skip
    assert tui_command(args, python="/usr/bin/python3") == (
        "/usr/bin/python3 -m tui --project 'my proj' --read-only --region europe-west4"
    )


def test_serve_refuses_a_bad_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.serve", "--port", "70000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--port must be between 1 and 65535" in done.stderr
