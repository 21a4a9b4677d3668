"""Choosing the backend: the sandbox without credentials, the real project with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.config import Config
from tui.sandbox.daemon import SandboxInfo
from tui.services import errors
from tui.services.connect import connect


@pytest.fixture
def adc_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """User credentials in the ADC format; loading them needs no network."""
    path = tmp_path / "adc.json"
    path.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "id.apps.googleusercontent.com",
                "client_secret": "not-a-secret",
                "refresh_token": "not-a-token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return path


@pytest.fixture
def shared_sandbox(sandbox_info: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> SandboxInfo:
    monkeypatch.setenv("CLOUDPANE_SANDBOX_DIR", str(sandbox_info.data_dir))
    return sandbox_info


def test_no_credentials_means_the_sandbox(shared_sandbox: SandboxInfo) -> None:
    connection = connect(None, False, Config())
    assert connection.backend.is_sandbox
    assert connection.backend.endpoint == shared_sandbox.url
    assert connection.backend.project == shared_sandbox.project
    assert "gcloud auth application-default login" in connection.note


def test_sandbox_flag_wins_over_credentials(shared_sandbox: SandboxInfo, adc_file: Path) -> None:
    connection = connect(None, True, Config())
    assert connection.backend.is_sandbox
    assert connection.note == ""


def test_project_without_credentials_is_an_error() -> None:
    with pytest.raises(errors.NoCredentials, match="my-proj") as info:
        connect("my-proj", False, Config())
    assert "gcloud auth application-default login" in info.value.hint


def test_credentials_without_project_say_how_to_set_one(adc_file: Path) -> None:
    with pytest.raises(errors.NoProject) as info:
        connect(None, False, Config())
    assert "--project" in info.value.hint


def test_credentials_and_project_mean_google(adc_file: Path) -> None:
    connection = connect(None, False, Config(project="team-ml", zone="europe-west4-a"))
    backend = connection.backend
    assert (backend.project, backend.is_sandbox, backend.endpoint) == ("team-ml", False, None)
    assert backend.zone == "europe-west4-a"
    assert "not-a-secret" not in repr(backend)
