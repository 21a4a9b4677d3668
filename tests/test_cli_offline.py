"""Offline with credentials: `status` exits 2 and `watch` says ERROR, with no traceback on
stderr and no secret anywhere; the details go, redacted, to the owner-only log (issue 14,
point 7).

"Offline" for real, without mocking Google: user credentials (an `authorized_user` file, as
`gcloud auth application-default login` writes) and every HTTPS connection sent to a proxy
address where nothing listens — so google-auth's token refresh and each API call meet a
refused connection, as on a train. Nothing reaches Google.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFRESH_TOKEN = "1//0refresh-token-CANARY-do-not-print"
CLIENT_SECRET = "client-secret-CANARY"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when this returns: connections are refused


@pytest.fixture
def offline(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with credentials and no network."""
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "cloudpane-test.apps.googleusercontent.com",
                "client_secret": CLIENT_SECRET,
                "refresh_token": REFRESH_TOKEN,
            }
        )
    )
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(adc), "NO_COLOR": "1"}
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        env[name] = proxy
    for name in ("NO_PROXY", "no_proxy", "CLOUDPANE_SANDBOX_DIR"):
        env.pop(name, None)
    return env


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args, "--project", "offline-proj"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def log_file() -> Path:
    return Path(os.environ["CLOUDPANE_STATE_DIR"]) / "cloudpane.log"


def assert_quiet(done: subprocess.CompletedProcess[str]) -> None:
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        assert "Traceback" not in text, f"a traceback on {stream}:\n{text[-3000:]}"
        assert REFRESH_TOKEN not in text and CLIENT_SECRET not in text, stream
    if log_file().exists():
        logged = log_file().read_text()
        assert REFRESH_TOKEN not in logged and CLIENT_SECRET not in logged
        assert stat.S_IMODE(log_file().stat().st_mode) == 0o600, "the log is the owner's only"


def test_status_offline_exits_2_without_a_traceback(offline: dict[str, str]) -> None:
    done = run(offline, "status")
    assert_quiet(done)
    assert done.returncode == 2, f"{done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    assert "INCOMPLETE (exit 2)" in done.stdout
    assert "cannot reach oauth2.googleapis.com:443" in done.stdout, done.stdout
    assert done.stderr.strip() == "", done.stderr[-3000:]


def test_status_json_offline_exits_2_with_the_errors(offline: dict[str, str]) -> None:
    done = run(offline, "status", "--json")
    assert_quiet(done)
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert doc["exit_code"] == 2
    assert {e["what"] for e in doc["errors"]} == {"instances", "jobs"}


def test_watch_offline_says_error_without_a_traceback(offline: dict[str, str]) -> None:
    done = run(offline, "watch", "--once")
    assert_quiet(done)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert any(" ERROR could not read instances: " in line for line in lines), lines
    assert lines[-1].endswith(" STOP one read done (--once), exiting")
    assert done.stderr.strip() == "", done.stderr[-3000:]
