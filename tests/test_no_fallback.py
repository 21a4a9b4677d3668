"""No silent fallback: a project named anywhere, with missing or expired credentials, is an
error (exit 2) — never an "all clear" about the sandbox.

The matrix of the issue: where the project is named (flag, each environment variable, the
config file, gcloud's active configuration) × (no credentials, expired credentials). Expired
credentials are real user credentials whose token endpoint answers as Google's does for a
revoked or expired refresh token (400 invalid_grant).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tui.cli import status

PROJECT = "team-prod"


class ExpiredGrant(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ExpiredGrant)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()


@pytest.fixture
def no_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sandbox folder of its own: the test sees whether a sandbox was started."""
    folder = tmp_path / "sandbox"
    monkeypatch.setenv("CLOUDPANE_SANDBOX_DIR", str(folder))
    monkeypatch.delenv("CLOUDPANE_SANDBOX", raising=False)
    yield folder
    from tui.sandbox import daemon

    daemon.stop(folder)  # only if the test failed by starting one


def name_project(where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Name the project in one place; returns the extra command-line arguments."""
    if where == "flag":
        return ["--project", PROJECT]
    if where in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.setenv(where, PROJECT)
    elif where == "config":
        config_dir = tmp_path / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "config.toml").write_text(f'project = "{PROJECT}"\n')
    elif where == "gcloud":
        gcloud = tmp_path / "gcloud"
        (gcloud / "configurations").mkdir(parents=True, exist_ok=True)
        (gcloud / "active_config").write_text("work")
        (gcloud / "configurations" / "config_work").write_text(
            f"[core]\nproject = {PROJECT}\n[compute]\nzone = europe-west4-a\n"
        )
    return []


def expired_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token_uri: str) -> None:
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                # gcloud's workforce user credentials: the one ADC type whose token endpoint
                # is read from the file (authorized_user always uses Google's).
                "type": "external_account_authorized_user",
                "audience": "//iam.googleapis.com/locations/global/workforcePools/p/providers/x",
                "client_id": "id",
                "client_secret": "not-a-secret",
                "refresh_token": "expired-refresh-token",
                "token_url": token_uri,
                "token_info_url": token_uri,
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))


WHERE = ["flag", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "config", "gcloud"]


@pytest.mark.parametrize("where", WHERE)
def test_named_project_without_credentials_is_exit_2(
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_sandbox: Path,
) -> None:
    code = status.main(name_project(where, tmp_path, monkeypatch))
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert f"No Google credentials found for project {PROJECT}" in err
    assert "not switching to the sandbox" in err
    assert "sandbox" not in out and "OK" not in out
    assert not (no_sandbox / "sandbox.json").exists()


@pytest.mark.parametrize("where", WHERE)
def test_named_project_with_expired_credentials_is_exit_2(
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_sandbox: Path,
    token_endpoint: str,
) -> None:
    expired_credentials(tmp_path, monkeypatch, token_endpoint)
    code = status.main(name_project(where, tmp_path, monkeypatch))
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert PROJECT in out + err
    assert "could not be refreshed" in out + err
    assert "nothing needs attention" not in out
    assert "expired-refresh-token" not in out + err
    assert not (no_sandbox / "sandbox.json").exists()


def test_nothing_named_and_no_credentials_is_still_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newcomer's case is unchanged: no project and no credentials anywhere → sandbox."""
    from tui.config import Config
    from tui.services.connect import connect

    monkeypatch.setenv("CLOUDPANE_SANDBOX_DIR", str(tmp_path / "sb"))
    try:
        connection = connect(None, False, Config())
        assert connection.backend.is_sandbox
    finally:
        from tui.sandbox import daemon

        daemon.stop(tmp_path / "sb")
