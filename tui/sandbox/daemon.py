"""Start, stop and find the sandbox daemon.

The daemon outlives the TUI, as a cloud does: a job keeps training after the TUI quits. It
binds to 127.0.0.1 unless told otherwise, writes `sandbox.json` (pid, url, project) into its
data directory once it listens, and logs to `sandbox.log` beside it.

It serves only its owner (auth.py): the data directory is 0700 and everything in it 0600 (the
daemon runs under umask 077), with the owner's secret in `owner-token`. Clients check that the
daemon on the port holds that secret before they send it anything (owner.verify_daemon).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tui.sandbox import owner

LOOPBACK = "127.0.0.1"
STATE_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
# The port of the last run: a restarted sandbox takes it again when it is free, so a TUI (or a
# notebook) still pointing at the old address reconnects by itself.
PORT_FILE = "last-port"


def default_data_dir() -> Path:
    override = os.environ.get("CLOUDPANE_SANDBOX_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("cloudpane")) / "sandbox"


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    url: str
    project: str
    data_dir: Path

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    @property
    def token(self) -> str:
        """The owner's secret (read from the owner-only file; empty if it is missing)."""
        return owner.read_token(self.data_dir) or ""

    def owner_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class SandboxError(RuntimeError):
    pass


def _verified(url: str, data_dir: Path, timeout: float = 1.0) -> dict | None:
    """The health of the daemon at `url` once it proved it holds this data dir's secret.

    None when nothing answers (or there is no secret to check with); SandboxError when
    something answers that is not this user's sandbox: it is never sent the token.
    """
    token = owner.read_token(data_dir)
    if not token:
        return None
    try:
        return owner.verify_daemon(url, token, timeout)
    except owner.NotYourSandbox as exc:
        raise SandboxError(str(exc)) from None


def _pid_alive(pid: int) -> bool:
    # Reap the daemon if it is our own exited child, or it lingers as a zombie that looks alive.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(data_dir: Path | None = None) -> SandboxInfo | None:
    """The running sandbox for this data directory, or None (SandboxError: a stranger on its port)."""
    data_dir = data_dir or default_data_dir()
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    info = SandboxInfo(int(state["pid"]), state["url"], state["project"], data_dir)
    if not _pid_alive(info.pid) or _verified(info.url, data_dir) is None:
        return None
    return info


def start(
    data_dir: Path | None = None,
    port: int = 0,
    host: str = LOOPBACK,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> SandboxInfo:
    """Start the daemon in the background (or return the one already running)."""
    data_dir = data_dir or default_data_dir()
    running = status(data_dir)
    if running:
        return running
    owner.tighten_tree(data_dir)  # a data dir made by an older version was 0755/0644
    owner.private_dir(data_dir)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    previous = _free_previous_port(data_dir, host) if port == 0 else 0
    try:
        return _spawn(data_dir, previous or port, host, timeout, env)
    except SandboxError:
        if not previous:
            raise
        return _spawn(data_dir, 0, host, timeout, env)  # taken meanwhile: any free port


def _free_previous_port(data_dir: Path, host: str) -> int:
    try:
        port = int((data_dir / PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return 0
    return port


def _spawn(
    data_dir: Path, port: int, host: str, timeout: float, env: dict[str, str] | None
) -> SandboxInfo:
    cmd = [sys.executable, "-m", "tui.sandbox.daemon", "--data-dir", str(data_dir)]
    cmd += ["--port", str(port), "--host", host]
    log = os.fdopen(owner.open_private_append(data_dir / LOG_FILE), "ab")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # survives the TUI and its terminal
        env={**os.environ, **(env or {})},
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (data_dir / LOG_FILE).read_text(errors="replace")[-2000:]
            raise SandboxError(f"The sandbox exited at start (code {proc.returncode}):\n{tail}")
        info = status(data_dir)
        if info:
            return info
        time.sleep(0.1)
    proc.terminate()
    raise SandboxError(
        f"The sandbox did not answer within {timeout:.0f} s; see {data_dir / LOG_FILE}"
    )


def stop(data_dir: Path | None = None, timeout: float = 10.0) -> bool:
    """Stop the daemon; True if one was running."""
    data_dir = data_dir or default_data_dir()
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return False
    pid = int(state["pid"])
    if not _pid_alive(pid):
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.05)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return True


def admin(info: SandboxInfo, action: str, payload: dict | None = None) -> dict:
    """POST to an admin endpoint (`reset`, `seed`, `faults`)."""
    data = json.dumps(payload or {}).encode()
    if _verified(info.url, info.data_dir) is None:
        raise SandboxError(f"The sandbox at {info.url} does not answer.")
    req = urllib.request.Request(
        f"{info.url}/_sandbox/{action}",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **info.owner_headers()},
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        return json.loads(resp.read())


def serve(data_dir: Path, port: int = 0, host: str = LOOPBACK) -> None:
    """Run the server in this process until SIGTERM/SIGINT (the daemon's main)."""
    import uvicorn

    from tui.sandbox.context import SandboxContext, Timing
    from tui.sandbox.faults import FaultSettings
    from tui.sandbox.server import create_app
    from tui.sandbox.store import Store

    # Everything the daemon writes (state DB, logs, blobs, serial output, uploads) is the
    # owner's alone; folders made from here on are 0700, files 0600.
    os.umask(0o077)
    owner.tighten_tree(data_dir)  # a data dir made by an older version was 0755/0644
    owner.private_dir(data_dir)
    token = owner.ensure_token(data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if host != LOOPBACK:
        logging.warning("The sandbox is listening on %s, not only on this machine.", host)
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only then; without it each kept-alive request
    # waits ~40 ms for Nagle's algorithm.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    owner.write_private(data_dir / PORT_FILE, str(bound_port))
    ctx = SandboxContext(data_dir=data_dir, store=Store(data_dir / "state.sqlite3"))
    ctx.owner_token = token
    ctx.bound_host = host
    ctx.faults = FaultSettings.from_env()
    ctx.timing = Timing.from_env()
    ctx.base_url = f"http://{LOOPBACK if host in (LOOPBACK, '0.0.0.0') else host}:{bound_port}"
    owner.write_adc(data_dir, token, ctx.base_url)
    app = create_app(ctx)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30)
    server = uvicorn.Server(config)

    state = {"pid": os.getpid(), "url": ctx.base_url, "project": ctx.project, "host": host}

    async def run() -> None:
        await server.serve(sockets=[sock])

    import asyncio

    # Write the state file only once the app's startup hooks ran and it serves requests.
    original_startup = server.startup

    async def startup(sockets=None):  # type: ignore[no-untyped-def]
        await original_startup(sockets=sockets)
        owner.write_private(data_dir / STATE_FILE, json.dumps(state))

    server.startup = startup  # type: ignore[method-assign]
    try:
        asyncio.run(run())
    finally:
        try:
            if json.loads((data_dir / STATE_FILE).read_text()).get("pid") == os.getpid():
                (data_dir / STATE_FILE).unlink()
        except (OSError, ValueError):
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tui.sandbox.daemon")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default=LOOPBACK)
    args = parser.parse_args(argv)
    serve(args.data_dir or default_data_dir(), args.port, args.host)


if __name__ == "__main__":
    main()
