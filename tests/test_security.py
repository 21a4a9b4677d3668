"""Security properties (issue 9): loopback only, and no credential in logs, screens, errors or files.

A canary token is handed to the real clients as the credentials of a "Google" backend that
points at the sandbox; the app and the services then work and fail (injected 401/403/500)
while every place a secret could leak is collected and searched for it.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import psutil
import pytest
from google.oauth2.credentials import Credentials as UserCredentials

from tests.test_buckets_pane import make_app, wait_for
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.errors import CloudpaneError
from tui.services.jobs import JobsService
from tui.services.storage import StorageService

CANARY = "ya29.CANARY-cloudpane-must-never-show-this"
REFRESH = "1//CANARY-refresh-token"


def test_sandbox_listens_only_on_loopback(sandbox_info: SandboxInfo) -> None:
    daemon_process = psutil.Process(sandbox_info.pid)
    listening = [
        c.laddr
        for proc in [daemon_process, *daemon_process.children(recursive=True)]
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert len(listening) >= 2  # the REST port and the Monitoring gRPC port
    assert all(_is_loopback(addr.ip) for addr in listening), listening


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # gRPC binds ::ffff:127.0.0.1
    return address.is_loopback or bool(mapped and mapped.is_loopback)


@pytest.fixture
def canary_backend(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> Backend:
    """Real-looking user credentials (valid token, refresh token) on the sandbox's endpoint.

    The access token is the sandbox's owner token (it answers no other); it must not leak either.
    """
    creds = UserCredentials(
        token=sandbox_info.token,
        refresh_token=REFRESH,
        client_id="canary.apps.googleusercontent.com",
        client_secret="CANARY-client-secret",
        account="ana@example.com",
    )
    return Backend(clean_sandbox.project, creds, clean_sandbox.endpoint, is_sandbox=False)


def _secrets_in(text: str, *extra: str) -> list[str]:
    return [s for s in (CANARY, REFRESH, "CANARY-client-secret", *extra) if s in text]


async def _errors_from_services(backend: Backend, faults: Any) -> list[str]:
    """Make the services fail in the ways a user meets; return every message they raised."""
    texts: list[str] = []
    storage, compute, jobs = StorageService(backend), ComputeService(backend), JobsService(backend)
    attempts = [
        lambda: storage.list_buckets(),
        lambda: storage.blob_details("no-such-bucket", "x"),
        lambda: compute.list_instances(),
        lambda: compute.start_instance("us-central1-a", "no-such-vm"),
        lambda: jobs.list_jobs(),
    ]
    for code in (401, 403, 500):
        for attempt in attempts:
            faults(fail_next=1, codes=[code])
            try:
                await attempt()
            except CloudpaneError as exc:
                texts.append(f"{exc.title}\n{exc.message}\n{exc.hint}\n{exc!r}")
            faults()
    return texts


async def test_no_credential_in_errors_logs_screen_or_files(
    canary_backend: Backend,
    faults: Any,
    sandbox_info: SandboxInfo,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    texts = await _errors_from_services(canary_backend, faults)
    assert len(texts) >= 10  # the failures really happened
    assert any("Permission denied" in t or "denied" in t.lower() for t in texts)

    app = make_app(canary_backend, sandbox_info)
    screens: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        faults(error_rate=1.0, codes=[401, 403], path_prefix="/compute")
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        faults()
        screens.append(app.export_screenshot())
        screens.append("\n".join(n.message for n in app._notifications))
        await pilot.press("2")  # Buckets
        await pilot.pause(1.0)
        screens.append(app.export_screenshot())

    token = sandbox_info.token
    for text in texts:
        assert not _secrets_in(text, token), text
    for screen in screens:
        assert not _secrets_in(screen, token)
    assert not _secrets_in(caplog.text, token)
    # Every file cloudpane wrote for this test (config, cache, audit, downloads) and the
    # sandbox's own files (its log, its database).
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    # (but the two owner-only files whose job is to hold the owner token)
    holders = {sandbox_info.data_dir / "owner-token", sandbox_info.data_dir / "adc.json"}
    written += [p for p in sandbox_info.data_dir.rglob("*") if p.is_file() and p not in holders]
    assert written
    for path in written:
        data = path.read_bytes()
        leaked = [s for s in (CANARY, REFRESH, token) if s.encode() in data]
        assert not leaked, f"{path} holds {leaked}"
