"""The local audit trail of exposing actions (issue 9): who, what, when — and never a secret."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials as UserCredentials

from tui.services.audit import AuditLog, AuditLogUnwritable, cloud_identity, read_entries
from tui.services.clients import Backend
from tui.services.errors import NotFound
from tui.services.storage import StorageService
from tui.services.storage_models import UniformAccessEnabled


@pytest.fixture
def svc(clean_sandbox: Backend) -> StorageService:
    return StorageService(clean_sandbox)


async def _bucket_with_object(svc: StorageService, bucket: str, uniform: bool = False) -> None:
    await svc.create_bucket(bucket, "us-central1", uniform_access=uniform)
    svc.client().bucket(bucket).blob("report.csv").upload_from_string(b"a,b\n")


async def test_making_an_object_public_and_private_is_recorded(svc: StorageService) -> None:
    await _bucket_with_object(svc, "audited")
    await svc.make_public("audited", "report.csv")
    await svc.make_private("audited", "report.csv")
    entries = read_entries()
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("make-object-public", "requested"),
        ("make-object-public", "done"),
        ("make-object-private", "requested"),
        ("make-object-private", "done"),
    ]
    first = entries[0]
    assert first["target"] == "gs://audited/report.csv"
    assert first["who"] == "sandbox (anonymous)" and "@" in first["local_user"]
    assert first["project"] == svc.backend.project and first["backend"] == "sandbox"
    assert first["entity"] == "allUsers" and first["time"].endswith("+00:00")
    mode = stat.S_IMODE(os.stat(os.environ["CLOUDPANE_AUDIT_LOG"]).st_mode)
    assert mode == 0o600  # the trail names accounts: owner-only


async def test_bucket_grant_and_revoke_are_recorded(svc: StorageService) -> None:
    await _bucket_with_object(svc, "audited-bucket", uniform=True)
    statement = await svc.make_bucket_public("audited-bucket")
    assert "Anyone on the internet" in statement
    await svc.make_bucket_private("audited-bucket")
    actions = [(e["action"], e["outcome"], e["target"]) for e in read_entries()]
    assert actions == [
        ("make-bucket-public", "requested", "gs://audited-bucket"),
        ("make-bucket-public", "done", "gs://audited-bucket"),
        ("make-bucket-private", "requested", "gs://audited-bucket"),
        ("make-bucket-private", "done", "gs://audited-bucket"),
    ]


async def test_a_failed_exposure_is_recorded_with_its_reason(svc: StorageService) -> None:
    await _bucket_with_object(svc, "audited-missing")
    with pytest.raises(NotFound):
        await svc.make_public("audited-missing", "no-such-object")
    outcomes = [e["outcome"] for e in read_entries()]
    assert outcomes[0] == "requested"
    assert outcomes[1].startswith("failed: ") and "no-such-object" in outcomes[1]


async def test_a_refused_exposure_changes_nothing_and_is_not_a_request(
    svc: StorageService,
) -> None:
    await _bucket_with_object(svc, "audited-uniform", uniform=True)
    with pytest.raises(UniformAccessEnabled):
        await svc.make_public("audited-uniform", "report.csv")
    assert read_entries() == []


async def test_no_trail_no_exposure(svc: StorageService, tmp_path: Path) -> None:
    await _bucket_with_object(svc, "audited-locked")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    svc.audit.path = blocker / "audit.log"  # unwritable for root too
    with pytest.raises(AuditLogUnwritable) as caught:
        await svc.make_public("audited-locked", "report.csv")
    assert "CLOUDPANE_AUDIT_LOG" in caught.value.hint
    details = await svc.blob_details("audited-locked", "report.csv")
    assert details.public_url is None  # refused before anything changed


def test_identity_names_the_account_never_the_token(tmp_path: Path) -> None:
    creds = UserCredentials(token="ya29.SECRET-TOKEN", account="ana@example.com")
    who = cloud_identity(creds, is_sandbox=False)
    assert who == "ana@example.com"
    log = AuditLog(who, "proj-1", "Google Cloud", tmp_path / "audit.log")
    log.record("sign-url", "gs://b/o", "done", expires_seconds=3600)
    text = (tmp_path / "audit.log").read_text()
    assert "ana@example.com" in text and "SECRET" not in text
    anonymous = UserCredentials(token="ya29.OTHER")
    assert cloud_identity(anonymous, is_sandbox=False).startswith("unknown account")


def test_cli_prints_the_trail(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.__main__ import main

    assert main(["audit"]) == 0
    assert "Nothing made public" in capsys.readouterr().out
    log = AuditLog("ana@example.com", "proj-1", "Google Cloud")
    log.record("make-object-public", "gs://b/report.csv", "requested", entity="allUsers")
    log.record("make-object-public", "gs://b/report.csv", "failed: permission denied")
    assert main(["audit"]) == 0
    out = capsys.readouterr().out
    assert "ana@example.com" in out and "gs://b/report.csv" in out and "failed" in out
    assert "2 records in" in out
    assert main(["audit", "--json", "--last", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and '"outcome": "failed: permission denied"' in lines[0]
