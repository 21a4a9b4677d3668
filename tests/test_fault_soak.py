"""Fault soak (issue 9): every pane, driven by keys, against a sandbox that misbehaves.

The sandbox answers 20 % of API calls with 429/503, adds 300 ms to every call and drops 1 %
of connections without an answer. A scripted user cycles through the panes for
`--soak-seconds` (120 by default; `pytest tests/test_fault_soak.py --soak-seconds 600` for a
longer run): stops and starts VMs, opens details, uploads folders (small files and a
resumable one), downloads them again, reads job logs and details.

Afterwards, with the faults off: the app is still running; no unexpected (bug) error was
reported; every operation ended done or with a message that gives its reason; the operations
bar is empty; every uploaded object is complete and verified (or absent), every downloaded
file matches (or is absent), and no partial file is left under any name.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

import tui.app
from tests.jobs_helpers import TRAINER_IMAGE, storage_client, upload_standin
from tui.app import CloudpaneApp
from tui.config import Config
from tui.panes.bucket_transfers import ConflictScreen, DownloadScreen, UploadScreen
from tui.panes.buckets import BucketsPane
from tui.panes.jobs import JobsPane
from tui.panes.vms import VmsPane
from tui.sandbox import daemon
from tui.services.clients import Backend, sandbox_backend
from tui.services.connect import Connection
from tui.services.job_models import JobSpec, WorkerPool
from tui.services.jobs import JobsService
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.operations import OperationsBar

FAULTS = {"error_rate": 0.2, "codes": [429, 503], "latency_ms": 300, "drop_rate": 0.01}
SIZE = (120, 40)
BUCKET = "soak"


class RecordingApp(CloudpaneApp):
    """The real app; every notification is kept (the screen shows them only for a while)."""

    CSS_PATH = str(Path(tui.app.__file__).with_name("app.tcss"))  # relative to tui/, not here

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.said: list[tuple[str, str, str]] = []  # (severity, title, message)

    def notify(
        self, message: str, *, title: str = "", severity: Any = "information", **kw: Any
    ) -> None:  # type: ignore[override]
        self.said.append((str(severity), title, str(message)))
        super().notify(message, title=title, severity=severity, **kw)


@pytest.fixture
def soak_sandbox(tmp_path: Path) -> Iterator[tuple[daemon.SandboxInfo, Backend]]:
    """A private daemon: the faults must not reach the other tests' sandbox."""
    info = daemon.start(tmp_path / "sandbox")
    try:
        yield info, sandbox_backend(info.url, info.project, data_dir=info.data_dir)
    finally:
        daemon.stop(tmp_path / "sandbox")


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float) -> bool:
    """Wait for `condition`; False (not an error) when it does not come: faults are expected."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.1)
    return True


async def back_to_main(pilot: Pilot, app: CloudpaneApp) -> None:
    for _ in range(4):
        if len(app.screen_stack) <= 1:
            return
        await pilot.press("escape")
        await pilot.pause(0.2)


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


class Session:
    """The scripted user, and what it did."""

    def __init__(self, app: RecordingApp, pilot: Pilot, root: Path, rng: random.Random) -> None:
        self.app, self.pilot, self.root, self.rng = app, pilot, root, rng
        self.files: dict[str, bytes] = {}  # object name → content uploaded
        self.downloads: list[Path] = []
        self.actions: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.actions[what] = self.actions.get(what, 0) + 1

    # ---------------------------------------------------------------- VMs
    async def vms(self) -> None:
        app, pilot = self.app, self.pilot
        await pilot.press("1")
        pane = app.query_one(VmsPane)
        if not await until(pilot, lambda: pane.loaded and pane.instances, 20):
            self.count("vms: list not ready")
            return
        table = pane.query_one(DataTable)
        table.focus()
        table.move_cursor(row=self.rng.randrange(table.row_count))
        await pilot.pause(0.1)
        chosen = pane.selected()
        if chosen is None:
            return
        await pilot.press("t" if chosen.is_running else "u")
        if await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 3):
            await pilot.click("#confirm")
        self.count("vms: stop/start")
        await pilot.press("enter")
        if await until(pilot, lambda: len(app.screen_stack) > 1, 10):
            self.count("vms: details")
        await back_to_main(pilot, app)

    # ---------------------------------------------------------------- Buckets
    def make_round_folder(self, index: int) -> Path:
        folder = self.root / f"round-{index:03d}"
        folder.mkdir(parents=True)
        sizes = [self.rng.randrange(1, 200_000) for _ in range(3)]
        if index % 3 == 0:
            sizes.append(9 * 1024 * 1024)  # above the resumable threshold
        for number, size in enumerate(sizes):
            data = os.urandom(size)
            (folder / f"part-{number}.bin").write_bytes(data)
            self.files[f"{folder.name}/part-{number}.bin"] = data
        return folder

    async def buckets(self, index: int) -> None:
        app, pilot = self.app, self.pilot
        await pilot.press("2")
        pane = app.query_one(BucketsPane)
        if pane.bucket != BUCKET:
            if not await until(pilot, lambda: pane.loaded and BUCKET in pane.buckets, 20):
                self.count("buckets: list not ready")
                return
            table = app.query_one("#buckets-table", DataTable)
            table.focus()
            names = [str(table.get_row_at(r)[0]) for r in range(table.row_count)]
            table.move_cursor(row=names.index(BUCKET))
            await pilot.press("enter")
            if not await until(pilot, lambda: pane.bucket == BUCKET and pane.objects_loaded, 20):
                self.count("buckets: bucket not opened")
                await pilot.press("backspace")
                return
        folder = self.make_round_folder(index)
        app.query_one("#objects-table", DataTable).focus()
        await pilot.press("u")
        if not await until(pilot, lambda: isinstance(app.screen, UploadScreen), 5):
            return
        app.screen.query_one("#upload-path", Input).value = str(folder)
        await pilot.press("enter")
        self.count("buckets: upload")
        if await until(pilot, lambda: isinstance(app.screen, ConflictScreen), 2):
            await pilot.press("r")
        await until(pilot, lambda: len(app.screen_stack) == 1 and not self.transfers_running(), 60)
        if index % 2 == 0:
            await self.download_all(index)

    def transfers_running(self) -> bool:
        return any(
            w.is_running and "load" in (w.description or "")
            for w in self.app.workers
            if w.group.startswith("buckets")
        )

    async def download_all(self, index: int) -> None:
        app, pilot = self.app, self.pilot
        app.query_one("#objects-table", DataTable).focus()
        await pilot.press("backspace")  # to the bucket list: d downloads the whole bucket
        pane = app.query_one(BucketsPane)
        if not await until(pilot, lambda: pane.bucket is None, 5):
            return
        app.query_one("#buckets-table", DataTable).focus()
        await pilot.press("d")
        if not await until(pilot, lambda: isinstance(app.screen, DownloadScreen), 5):
            return
        dest = self.root.parent / f"downloads-{index:03d}"
        app.screen.query_one("#download-dest", Input).value = str(dest)
        await pilot.press("enter")
        self.downloads.append(dest)
        self.count("buckets: download")
        await until(pilot, lambda: len(app.screen_stack) == 1 and not self.transfers_running(), 90)

    # ---------------------------------------------------------------- Jobs
    async def jobs(self) -> None:
        app, pilot = self.app, self.pilot
        await pilot.press("3")
        pane = app.query_one(JobsPane)
        if not await until(pilot, lambda: pane.loaded and pane.jobs, 20):
            self.count("jobs: list not ready")
            return
        table = pane.query_one(DataTable)
        table.focus()
        table.move_cursor(row=self.rng.randrange(table.row_count))
        await pilot.press("l")
        if await until(pilot, lambda: len(app.screen_stack) > 1, 10):
            self.count("jobs: logs")
            await pilot.pause(2.0)  # let the poller follow the job through the faults
        await back_to_main(pilot, app)
        table.focus()
        await pilot.press("enter")
        if await until(pilot, lambda: len(app.screen_stack) > 1, 10):
            self.count("jobs: details")
        await back_to_main(pilot, app)


async def test_every_pane_survives_a_faulty_cloud(
    soak_sandbox: tuple[daemon.SandboxInfo, Backend],
    tmp_path: Path,
    soak_seconds: float,
    caplog: pytest.LogCaptureFixture,
) -> None:
    info, backend = soak_sandbox
    caplog.set_level(logging.ERROR)
    daemon.admin(info, "seed", {"instances": 12, "zones": 2})
    storage_client(backend).create_bucket(BUCKET)
    package = upload_standin(backend)
    jobs = JobsService(backend)
    for name, args in (("soak-long", ("--forever",)), ("soak-short", ("--epochs", "2"))):
        pool = WorkerPool(package_uris=(package,), args=args, executor_image_uri=TRAINER_IMAGE)
        await jobs.submit(JobSpec(display_name=name, worker_pools=(pool,)))

    app = RecordingApp(
        Config(refresh_seconds=2.0), connection=Connection(backend, "", info.data_dir)
    )
    session = Session(app, None, tmp_path / "uploads", random.Random(9))  # type: ignore[arg-type]
    rounds = 0
    async with app.run_test(size=SIZE) as pilot:
        session.pilot = pilot
        await until(pilot, lambda: app.query_one(VmsPane).loaded, 20)
        daemon.admin(info, "faults", FAULTS)
        deadline = time.monotonic() + soak_seconds
        while time.monotonic() < deadline:
            rounds += 1
            await session.vms()
            await session.buckets(rounds)
            await session.jobs()
        daemon.admin(info, "faults", {})
        # Quiet now: everything in flight ends (done, or failed with a message).
        bar = app.query_one(OperationsBar)
        settled = await until(
            pilot, lambda: not bar.children and not session.transfers_running(), 60
        )
        assert app.is_running, "the app must still be running"
    assert settled, "operations still in flight a minute after the faults stopped"

    print(f"\nsoak: {soak_seconds:.0f} s, {rounds} rounds, actions {session.actions}")
    errors = [(t, m) for sev, t, m in app.said if sev == "error"]
    print(f"soak: {len(errors)} error messages, e.g. {errors[:3]}")
    # Real work happened under the faults, in every pane.
    assert session.actions.get("vms: stop/start", 0) >= 1
    assert session.actions.get("buckets: upload", 0) >= 1
    assert session.actions.get("jobs: logs", 0) >= 1
    # No bug surfaced: errors are about the cloud, each with its reason.
    unexpected = [r.getMessage() for r in caplog.records if r.name.startswith("tui")]
    assert not unexpected, unexpected
    for title, message in errors:
        assert "Traceback" not in message and message.strip(), (title, message)
        assert "This is unexpected" not in message, (title, message)

    # No data lost: every object complete and verified, or absent; nothing half-written.
    client = storage_client(backend)
    objects = {b.name: b for b in client.list_blobs(BUCKET)}
    uploaded = 0
    for name, blob in objects.items():
        base = name.replace(" (1)", "")
        assert base in session.files, f"unknown object {name} (a partial upload?)"
        data = session.files[base]
        assert (blob.size, blob.crc32c) == (len(data), crc32c_b64(data)), name
        uploaded += 1
    assert uploaded >= 1
    for dest in session.downloads:
        for path in dest.rglob("*") if dest.exists() else ():
            assert ".cloudpane-partial" not in path.name, f"partial file left: {path}"
            if path.is_file():
                rel = path.relative_to(dest).as_posix()
                assert rel in objects, rel
                assert crc32c_b64(path.read_bytes()) == objects[rel].crc32c, rel
    print(f"soak: {uploaded}/{len(session.files)} files in the bucket, all verified")
