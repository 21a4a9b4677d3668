"""Shared fixtures: a real sandbox daemon for the whole test session.

Tests drive Google's own clients against it; nothing of Google is mocked.
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.sandbox import daemon
from tui.services.clients import Backend, sandbox_backend

# Fast lifecycle transitions for tests (seconds).
TEST_TIMING = '{"provisioning": 0.2, "staging": 0.2, "stopping": 0.2, "operation": 0.05}'
# Executor images get the TensorFlow already installed here (linked, whatever its version)
# instead of downloading the image's own: tests must not fetch a framework
# (tui/sandbox/executors.py; test_executors.py covers the real mapping with its own daemon).
TEST_EXECUTORS = '{"^tf-": ["tensorflow-cpu"]}'
os.environ.setdefault("CLOUDPANE_SANDBOX_EXECUTORS", TEST_EXECUTORS)  # every daemon tests start


@pytest.fixture(scope="session")
def sandbox_info(tmp_path_factory: pytest.TempPathFactory) -> Iterator[daemon.SandboxInfo]:
    data_dir = tmp_path_factory.mktemp("sandbox")
    info = daemon.start(
        data_dir,
        env={
            "CLOUDPANE_SANDBOX_TIMING": TEST_TIMING,
            "CLOUDPANE_SANDBOX_EXECUTORS": TEST_EXECUTORS,
        },
    )
    yield info
    daemon.stop(data_dir)


@pytest.fixture(scope="session")
def sandbox(sandbox_info: daemon.SandboxInfo) -> Backend:
    """A Backend pointing the real google-cloud clients at the sandbox (as its owner)."""
    return sandbox_backend(sandbox_info.url, sandbox_info.project, data_dir=sandbox_info.data_dir)


def as_owner(
    info: daemon.SandboxInfo, request: str | urllib.request.Request
) -> urllib.request.Request:
    """A raw request (urllib) to the sandbox, carrying its owner's token as Google's clients do."""
    if isinstance(request, str):
        request = urllib.request.Request(request)
    for name, value in info.owner_headers().items():
        request.add_header(name, value)
    return request


def owner_credentials(info: daemon.SandboxInfo) -> object:
    """Credentials for a google-cloud client built by hand against the sandbox `info`."""
    return sandbox_backend(info.url, info.project, data_dir=info.data_dir).credentials


@pytest.fixture(scope="session")
def owner_headers(sandbox_info: daemon.SandboxInfo) -> dict[str, str]:
    """The header a raw HTTP request (urllib, requests) needs to be the sandbox's owner."""
    return sandbox_info.owner_headers()


@pytest.fixture
def clean_sandbox(sandbox_info: daemon.SandboxInfo, sandbox: Backend) -> Iterator[Backend]:
    """The sandbox, emptied before the test and with faults cleared after it."""
    daemon.admin(sandbox_info, "reset")
    yield sandbox
    daemon.admin(sandbox_info, "faults", {})


@pytest.fixture
def faults(sandbox_info: daemon.SandboxInfo):  # type: ignore[no-untyped-def]
    """Call faults(error_rate=..., latency_ms=..., fail_next=...) to inject; cleared after."""

    def set_faults(**settings: object) -> dict:
        return daemon.admin(sandbox_info, "faults", settings)

    yield set_faults
    daemon.admin(sandbox_info, "faults", {})


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's own config, credentials or gcloud settings."""
    monkeypatch.setenv("CLOUDPANE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CLOUDPANE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CLOUDPANE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CLOUDPANE_AUDIT_LOG", str(tmp_path / "state" / "audit.log"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=120.0,
        help="how long the fault soak (tests/test_fault_soak.py) drives the app (default 120)",
    )


@pytest.fixture
def soak_seconds(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--soak-seconds"))


@pytest.fixture
def private_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A sandbox folder of the test's own, to stop and start without disturbing the others."""
    # This process started the daemon, so its exit leaves a zombie that daemon.stop would take
    # for alive (and wait 10 s for): reap it first. Not needed where the CLI stops it.
    alive = daemon._pid_alive

    def reaped_alive(pid: int) -> bool:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return alive(pid)

    monkeypatch.setattr(daemon, "_pid_alive", reaped_alive)
    data_dir = tmp_path / "own-sandbox"
    yield data_dir
    daemon.stop(data_dir)
