"""Soft delete keeps deleted and overwritten objects billed: the sandbox serves the bucket's
softDeletePolicy as Google does, and the Buckets pane's dialogs and details say what it costs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from google.api_core import exceptions as gexc

from tests.test_buckets_pane import (
    SIZE,
    make_app,
    object_names,
    open_bucket,
    open_tab,
    pane,
    put,
    select,
    select_object,
    wait_for,
)
from tui.panes.bucket_tables import bucket_details
from tui.panes.bucket_transfers import ConflictScreen, UploadScreen
from tui.sandbox.daemon import SandboxInfo
from tui.services.storage import StorageService
from tui.widgets.confirm import ConfirmScreen


@pytest.fixture(autouse=True)
def _only_the_panes_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_DELAY", 3600.0)
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_LATEST", 3600.0)


@pytest.fixture
def svc(clean_sandbox) -> StorageService:  # type: ignore[no-untyped-def]
    return StorageService(clean_sandbox)


async def set_retention(svc: StorageService, bucket: str, seconds: int) -> None:
    def patch() -> None:
        target = svc.client().get_bucket(bucket)
        target.soft_delete_policy.retention_duration_seconds = seconds
        target.patch()

    await asyncio.to_thread(patch)


async def test_sandbox_serves_the_soft_delete_policy_as_google_does(svc: StorageService) -> None:
    await svc.create_bucket("kept", "us-central1")
    client = svc.client()
    bucket = await asyncio.to_thread(client.get_bucket, "kept")
    assert bucket.soft_delete_policy.retention_duration_seconds == 604800  # 7 days by default
    assert bucket.soft_delete_policy.effective_time is not None
    await set_retention(svc, "kept", 30 * 86400)
    assert (await svc.get_bucket("kept")).soft_delete_s == 30 * 86400
    await set_retention(svc, "kept", 0)  # 0 turns it off
    assert (await svc.get_bucket("kept")).soft_delete_s == 0
    with pytest.raises(gexc.BadRequest, match="between 7 and 90 days"):
        await set_retention(svc, "kept", 3600)


async def test_delete_dialog_says_deleted_objects_stay_billed_for_the_retention(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("trash", "us-central1")
    await put(svc, "trash", ["keep.txt", "old.bin"], data=b"x" * 4096)
    await svc.create_bucket("scratch", "us-central1")
    await put(svc, "scratch", ["tmp.bin"])
    await set_retention(svc, "scratch", 0)
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "trash", "scratch")
        details = bucket_details(pane(app).buckets["trash"])
        assert details["softDeleteRetention"].startswith("7 days: deleted and overwritten")
        assert bucket_details(pane(app).buckets["scratch"])["softDeleteRetention"].startswith("off")
        await open_bucket(pilot, app, "trash")
        await select_object(pilot, app, "old.bin")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "billed as storage — for 7 days" in body and "For these 4.0 KiB" in body
        assert "cannot be undone" not in body
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: object_names(app) == ["keep.txt"])
        await pilot.press("backspace")
        await wait_for(pilot, lambda: pane(app).bucket is None)
        await select(pilot, app, "#buckets-table", "scratch", 0)
        await open_bucket(pilot, app, "scratch")
        await select_object(pilot, app, "tmp.bin")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "Soft delete is off for this bucket" in body


async def test_overwrite_dialog_says_overwritten_versions_stay_billed(
    svc: StorageService, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    await svc.create_bucket("runs", "us-central1")
    await set_retention(svc, "runs", 14 * 86400)
    await put(svc, "runs", ["model.bin"])
    (tmp_path / "model.bin").write_bytes(b"new")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "runs")
        await open_bucket(pilot, app, "runs")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        app.screen.query_one("#upload-path").value = str(tmp_path / "model.bin")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        body = str(app.screen.query_one("#conflict-body").render())
        assert "If you overwrite: Soft delete: the overwritten versions stay restorable" in body
        assert "for 14 days" in body
        await pilot.press("escape")
