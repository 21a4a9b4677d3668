"""The Buckets pane driven as a person would, with Pilot, against the real sandbox."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select

from tui.app import CloudpaneApp, StatusHeader
from tui.config import Config
from tui.panes.bucket_forms import (
    CreateBucketScreen,
    SignedUrlScreen,
    UrlScreen,
    class_options,
    cost_summary,
    parse_expiry,
    price_text,
)
from tui.panes.bucket_permissions import AddMemberScreen, PermissionsScreen
from tui.panes.bucket_tables import breadcrumb, parent_prefix
from tui.panes.bucket_transfers import (
    ConflictScreen,
    DownloadScreen,
    UploadScreen,
    complete_path,
)
from tui.panes.buckets import BucketsPane
from tui.sandbox.daemon import SandboxInfo
from tui.services.audit import read_entries
from tui.services.clients import Backend
from tui.services.connect import Connection
from tui.services.storage import StorageService
from tui.services.storage_models import PUBLIC
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen

SIZE = (100, 30)


def make_app(backend: Backend, info: SandboxInfo, **config: object) -> CloudpaneApp:
    """The app on the sandbox; slow polls by default (the tests refresh what they change)."""
    config.setdefault("refresh_seconds", 5.0)
    settings = Config(**config)  # type: ignore[arg-type]
    return CloudpaneApp(settings, connection=Connection(backend, "", info.data_dir))


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def pane(app: CloudpaneApp) -> BucketsPane:
    return app.query_one(BucketsPane)


def rows(app: CloudpaneApp, table_id: str, column: int = 0) -> list[str]:
    found = app.screen.query(table_id)
    table = found.first(DataTable) if found else app.query_one(table_id, DataTable)
    return [str(table.get_row(row.key)[column]) for row in table.ordered_rows]


def bucket_names(app: CloudpaneApp) -> list[str]:
    return rows(app, "#buckets-table")


def object_names(app: CloudpaneApp) -> list[str]:
    return rows(app, "#objects-table", 1)


def message(app: CloudpaneApp) -> str:
    return str(app.query_one("#buckets-message").render())


def notifications(app: CloudpaneApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


def anon_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def put(service: StorageService, bucket: str, names: list[str], data: bytes = b"x") -> None:
    def upload() -> None:
        target = service.client().bucket(bucket)
        for name in names:
            target.blob(name).upload_from_string(data)

    await asyncio.to_thread(upload)


async def open_tab(pilot: Pilot, app: CloudpaneApp, *wanted: str) -> None:
    await pilot.press("2")
    await wait_for(pilot, lambda: pane(app).loaded and set(wanted) <= set(bucket_names(app)))
    app.query_one("#buckets-table", DataTable).focus()


async def select(pilot: Pilot, app: CloudpaneApp, table_id: str, label: str, col: int) -> None:
    await wait_for(pilot, lambda: label in rows(app, table_id, col))
    found = app.screen.query(table_id)
    table = found.first(DataTable) if found else app.query_one(table_id, DataTable)
    table.move_cursor(row=rows(app, table_id, col).index(label))
    table.focus()
    await pilot.pause()


async def open_bucket(pilot: Pilot, app: CloudpaneApp, bucket: str) -> None:
    await select(pilot, app, "#buckets-table", bucket, 0)
    await pilot.press("enter")
    await wait_for(pilot, lambda: pane(app).bucket == bucket and pane(app).objects_loaded)


async def select_object(pilot: Pilot, app: CloudpaneApp, shown: str) -> None:
    await select(pilot, app, "#objects-table", shown, 1)


@pytest.fixture
def svc(clean_sandbox: Backend) -> StorageService:
    return StorageService(clean_sandbox)


@pytest.fixture(autouse=True)
def _only_the_panes_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hidden panes (Jobs) never wake during these tests: faster, and snapshots stay still."""
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_DELAY", 3600.0)
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_LATEST", 3600.0)


# --- the bucket list ---------------------------------------------------------------------------


async def test_lists_buckets_with_their_settings(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("open-data", "us-central1", uniform_access=True)
    await svc.make_bucket_public("open-data")
    await svc.create_bucket("fine", "NAM4", "NEARLINE", uniform_access=False)
    await svc.create_bucket("sealed", "EU", public_access_prevention="enforced")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "open-data", "fine", "sealed")
        assert bucket_names(app) == ["fine", "open-data", "sealed"]
        table = app.query_one("#buckets-table", DataTable)
        cells = {str(r[0]): [str(c) for c in r] for r in (table.get_row(k) for k in table.rows)}
        assert cells["fine"] == ["fine", "NAM4", "NEARLINE", "off", "per object", "inherited"]
        assert cells["open-data"][3:5] == ["on", "PUBLIC"]
        assert cells["sealed"][1:] == ["EU", "STANDARD", "on", "no", "enforced"]
        assert "3 buckets · 1 public to the internet" in message(app)
        await pilot.press("slash", "s")
        app.query_one("#buckets-filter", Input).value = "sea"
        await wait_for(pilot, lambda: bucket_names(app) == ["sealed"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(bucket_names(app)) == 3)


async def test_create_bucket_through_the_form(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateBucketScreen))
        form = app.screen
        await pilot.press(*"My_Bucket")
        await wait_for(pilot, lambda: "lowercase" in str(form.query_one("#name-error").render()))
        await pilot.press("ctrl+s")
        assert "Name:" in str(form.query_one("#form-error").render())  # refused, with reason
        form.query_one("#bucket-name", Input).value = "goog-data"
        await pilot.pause()
        assert '"goog" prefix' in str(form.query_one("#name-error").render())
        form.query_one("#bucket-name", Input).value = "team-checkpoints"
        form.query_one("#bucket-location", Select).value = "EUR4"
        await pilot.pause()
        form.query_one("#bucket-class", Select).value = "COLDLINE"
        await pilot.pause()
        summary = str(form.query_one("#summary").render())
        assert "COLDLINE in EUR4 (dual-region" in summary and "$0.0088 per GB-month" in summary
        assert "90 days" in summary
        form.query_one("#bucket-pap").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "team-checkpoints" in bucket_names(app))
        await wait_for(pilot, lambda: "team-checkpoints created" in notifications(app))
    made = await svc.get_bucket("team-checkpoints")
    assert (made.location, made.storage_class, made.uniform_access) == ("EUR4", "COLDLINE", True)
    assert made.public_access_prevention == "inherited"


# --- browsing ----------------------------------------------------------------------------------


async def test_browse_folders_breadcrumb_and_lazy_pages(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("big", "us-central1")
    await put(svc, "big", [f"logs/{i:03d}.txt" for i in range(70)] + ["logs/old/a", "top.md"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "big")
        pane(app).page_size = 20
        await open_bucket(pilot, app, "big")
        assert object_names(app) == ["▸ logs/", "top.md"]
        await pilot.press("enter")  # the cursor is on logs/
        await wait_for(pilot, lambda: pane(app).prefix == "logs/" and pane(app).objects_loaded)
        assert "gs://big › logs ›" in str(app.query_one("#buckets-crumb").render())
        assert len(object_names(app)) == 20  # one page, not the whole folder
        assert "more load as you scroll" in message(app)
        await pilot.press("j", "j", "j")
        assert len(object_names(app)) == 20  # far from the end: nothing more fetched
        app.query_one("#objects-table", DataTable).move_cursor(row=15)
        await wait_for(pilot, lambda: len(object_names(app)) == 40)
        app.query_one("#objects-table", DataTable).move_cursor(row=39)
        await wait_for(pilot, lambda: len(object_names(app)) == 60)
        await pilot.press("backspace")
        await wait_for(pilot, lambda: pane(app).prefix == "" and pane(app).objects_loaded)
        await wait_for(pilot, lambda: pane(app).cursor_key() == "logs/")  # back where it was
        await pilot.press("slash", *"to", "enter")  # a prefix filter, listed by the server
        await wait_for(pilot, lambda: object_names(app) == ["top.md"])
        await pilot.press("backspace")
        await wait_for(pilot, lambda: not pane(app).in_bucket)
        assert pane(app).cursor_key() == "big"


async def test_a_huge_folder_stops_at_the_row_cap_and_says_how_to_narrow(
    svc: StorageService, sandbox_info: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui.panes.buckets.MAX_OBJECT_ROWS", 40)  # 50,000 in real life
    await svc.create_bucket("huge", "us-central1")
    await put(svc, "huge", [f"f{i:03d}.bin" for i in range(90)])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "huge")
        pane(app).page_size = 20
        await open_bucket(pilot, app, "huge")
        table = app.query_one("#objects-table", DataTable)
        table.move_cursor(row=19)
        await wait_for(pilot, lambda: len(object_names(app)) == 40)
        table.move_cursor(row=39)
        await pilot.pause(0.5)
        assert len(object_names(app)) == 40  # no more pages past the cap
        assert "the most one view keeps" in message(app) and "/ narrows" in message(app)
        await pilot.press("slash", *"f08", "enter")
        await wait_for(pilot, lambda: len(object_names(app)) == 10)
        assert "f089.bin" in object_names(app)


async def test_object_details(svc: StorageService, sandbox_info: SandboxInfo) -> None:
    await svc.create_bucket("info", "us-central1")
    await put(svc, "info", ["model/weights.bin"], b"0123456789")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "info")
        await open_bucket(pilot, app, "info")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane(app).prefix == "model/" and pane(app).objects_loaded)
        await select_object(pilot, app, "weights.bin")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        text = app.screen.text  # type: ignore[attr-defined]
        for field in ("md5Hash:", "crc32c:", "generation:", "storageClass: STANDARD"):
            assert field in text
        assert "10 bytes" in text and "publicUrl: not public" in text
        await pilot.press("escape")  # closes the details
        await pilot.press("escape")  # goes up, as in k9s
        await wait_for(pilot, lambda: pane(app).prefix == "" and pane(app).objects_loaded)
        assert object_names(app) == ["▸ model/"]


# --- transfers ---------------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    for rel, content in {
        "run1/config.yaml": b"lr: 0.1\n",
        "run1/ckpt/model.bin": b"\x00" * 5000,
        "run1/notes.txt": b"first run\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)


async def test_upload_folder_then_conflicts_asked_once(
    svc: StorageService, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    make_tree(tmp_path)
    await svc.create_bucket("runs", "us-central1")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "runs")
        await open_bucket(pilot, app, "runs")
        assert "Empty" in message(app)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        path = app.screen.query_one("#upload-path", Input)
        path.value = f"{tmp_path}/ru"
        await pilot.press("tab")  # completes the folder name
        assert path.value == f"{tmp_path}/run1/"
        await pilot.press("enter")
        await wait_for(pilot, lambda: object_names(app) == ["▸ run1/"])
        await wait_for(pilot, lambda: "3 files" in notifications(app))
        assert "uploaded to gs://runs/" in notifications(app)
        # The same folder again: every name is taken; asked once for the batch.
        (tmp_path / "run1" / "extra.txt").write_text("new")
        app.clear_notifications()
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        app.screen.query_one("#upload-path", Input).value = str(tmp_path / "run1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen))
        assert "3 objects already exist" in str(app.screen.query_one("#conflict-body").render())
        await pilot.press("r")  # keep both
        await wait_for(pilot, lambda: "3 renamed" in notifications(app))
    names = {b.name for b in (await svc.list_page("runs", "run1/", "")).blobs}
    assert {"run1/notes.txt", "run1/notes (1).txt", "run1/extra.txt"} <= names
    assert "run1/ckpt/model (1).bin" in names


async def test_x_stops_an_upload_and_leaves_no_object(
    svc: StorageService, sandbox_info: SandboxInfo, tmp_path: Path, faults: Callable[..., dict]
) -> None:
    from tui.services.transfer_control import active_transfers

    big = tmp_path / "weights.bin"
    big.write_bytes(b"w" * (40 * 1024 * 1024))  # resumable: three chunks
    await svc.create_bucket("stopme", "us-central1")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "stopme")
        await open_bucket(pilot, app, "stopme")
        await pilot.press("x")
        await wait_for(pilot, lambda: "No upload or download is running" in notifications(app))
        faults(latency_ms=1500, path_prefix="/upload/")  # a slow link: time to change one's mind
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
        app.screen.query_one("#upload-path", Input).value = str(big)
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(active_transfers()))
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "upload of weights.bin to gs://stopme will stop" in body
        assert "no partial object is kept" in body
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: "Upload incomplete" in notifications(app), timeout=30)
        assert "no object was created" in notifications(app)
        faults()
    assert [b.name for b in (await svc.list_page("stopme")).blobs] == []


async def test_download_marked_objects_and_a_folder(
    svc: StorageService, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    await svc.create_bucket("share", "us-central1")
    await put(svc, "share", ["a.txt", "b.txt", "c.txt", "data/x.csv", "data/y.csv"], b"abc")
    dest = tmp_path / "got"
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "share")
        await open_bucket(pilot, app, "share")
        await select_object(pilot, app, "▸ data/")
        await pilot.press("space")  # marks data/ and moves to a.txt
        await pilot.press("j", "space")  # skips a.txt, marks b.txt
        assert pane(app).marked == {"data/", "b.txt"}
        assert "2 marked" in message(app)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadScreen))
        app.screen.query_one("#download-dest", Input).value = str(dest)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Download finished" in notifications(app))
        assert f"3 files (9 B) saved in {dest}" in notifications(app)  # says where they went
        assert not pane(app).marked
        await pilot.press("backspace", "d")  # from the list: the whole bucket
        await wait_for(pilot, lambda: isinstance(app.screen, DownloadScreen))
        assert app.screen.query_one("#download-dest", Input).value == str(dest)  # remembered
        app.screen.query_one("#download-dest", Input).value = str(tmp_path / "all")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: f"5 files (15 B) saved in {tmp_path / 'all'}" in notifications(app)
        )
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "b.txt",
        "data/x.csv",
        "data/y.csv",
    ]


# --- deleting ----------------------------------------------------------------------------------


async def test_delete_marked_objects_asks_first(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("trash", "us-central1")
    await put(svc, "trash", ["keep.txt", "old1.txt", "old2.txt", "tmp/1", "tmp/2"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "trash")
        await open_bucket(pilot, app, "trash")
        await select_object(pilot, app, "▸ tmp/")
        await pilot.press("space")
        await select_object(pilot, app, "old1.txt")
        await pilot.press("space", "space")  # old1.txt and old2.txt
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "Delete 4 objects from gs://trash" in body and "tmp/  (2 objects)" in body
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: object_names(app) == ["keep.txt"])
    assert [b.name for b in (await svc.list_page("trash", "", "")).blobs] == ["keep.txt"]


async def test_delete_non_empty_bucket_says_how_many_and_needs_the_name(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("full", "us-central1")
    await put(svc, "full", ["a", "b", "c/d"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "full")
        await select(pilot, app, "#buckets-table", "full", 0)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "not empty: it holds 3 objects" in body
        confirm = app.screen.query_one("#confirm")
        assert confirm.disabled and "3 objects" in str(confirm.label)  # type: ignore[attr-defined]
        await pilot.press(*"ful")
        assert confirm.disabled
        await pilot.press("l", "enter")
        await wait_for(pilot, lambda: "full" not in bucket_names(app))
        await wait_for(pilot, lambda: "Bucket full and its 3 objects deleted" in notifications(app))
    assert await svc.list_buckets() == []


async def test_cancelled_bucket_delete_keeps_everything(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("stays", "us-central1")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "stays")
        await select(pilot, app, "#buckets-table", "stays", 0)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "empty bucket stays" in str(app.screen.query_one("#dialog-body").render())
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert bucket_names(app) == ["stays"]
    assert [b.name for b in await svc.list_buckets()] == ["stays"]


# --- permissions and sharing ---------------------------------------------------------------


async def test_add_and_remove_a_user_in_permissions(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("team", "us-central1")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "team")
        await select(pilot, app, "#buckets-table", "team", 0)
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PermissionsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.loaded)  # type: ignore[attr-defined]
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddMemberScreen))
        app.screen.query_one("#member", Input).value = "ana@example.com"
        await pilot.press("enter")
        assert "user:ana@example.com" in str(app.screen.query_one("#form-error").render())
        app.screen.query_one("#member", Input).value = "user:ana@example.com"
        app.screen.query_one("#role", Select).value = "roles/storage.objectUser"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "user:ana@example.com" in rows(app, "#iam-table", 1))
        assert "Access granted" in notifications(app)
        policy = await svc.get_iam_policy("team")
        assert any(
            b.role == "roles/storage.objectUser" and "user:ana@example.com" in b.members
            for b in policy
        )
        await select(pilot, app, "#iam-table", "user:ana@example.com", 1)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: "user:ana@example.com" not in rows(app, "#iam-table", 1))
    assert all("user:ana@example.com" not in b.members for b in await svc.get_iam_policy("team"))


async def test_make_object_public_shows_url_copies_it_and_private_again(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("fine", "us-central1", uniform_access=False)
    await put(svc, "fine", ["figure.png"], b"png")
    url = svc.public_url("fine", "figure.png")
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "fine")
        await open_bucket(pilot, app, "fine")
        await select_object(pilot, app, "figure.png")
        await pilot.press("c")
        await wait_for(pilot, lambda: "is not public" in notifications(app))
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert url in body and "Nothing else in fine becomes public" in body
        assert "recorded in the audit log" in body
        assert anon_status(url) == 403  # nothing happens before the answer
        assert read_entries() == []
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: isinstance(app.screen, UrlScreen))
        assert str(app.screen.query_one("#url-text").render()) == url
        await pilot.press("c")
        assert app.clipboard == url
        await pilot.press("escape")
        assert await asyncio.to_thread(anon_status, url) == 200
        app._clipboard = ""
        await pilot.press("c")  # copy from the list, now that it is public
        await wait_for(pilot, lambda: app.clipboard == url)
        await pilot.press("M")
        await wait_for(pilot, lambda: "private again" in notifications(app))
    assert await asyncio.to_thread(anon_status, url) == 403
    done = [(e["action"], e["target"]) for e in read_entries() if e["outcome"] == "done"]
    assert done == [
        ("make-object-public", "gs://fine/figure.png"),
        ("make-object-private", "gs://fine/figure.png"),
    ]


async def test_uniform_access_refuses_object_and_offers_the_bucket(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("uni", "us-central1", uniform_access=True)
    await put(svc, "uni", ["a.txt", "b.txt"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "uni")
        await open_bucket(pilot, app, "uni")
        await select_object(pilot, app, "a.txt")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "a.txt cannot be made public on its own" in body
        assert "uniform bucket-level access" in body
        assert "Anyone on the internet" in body and "all 2 objects" in body  # what becomes public
        confirm = app.screen.query_one("#confirm")
        assert confirm.disabled  # the bucket's name must be typed back
        await pilot.press(*"uni", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UrlScreen))
        assert str(app.screen.query_one("#url-text").render()) == svc.public_url("uni", "a.txt")
        await pilot.press("escape")
        await wait_for(pilot, lambda: pane(app).buckets["uni"].public == PUBLIC)
    assert await asyncio.to_thread(anon_status, svc.public_url("uni", "b.txt")) == 200


async def test_uniform_access_refusal_can_be_declined(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("uni2", "us-central1", uniform_access=True)
    await put(svc, "uni2", ["a.txt"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "uni2")
        await open_bucket(pilot, app, "uni2")
        await select_object(pilot, app, "a.txt")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Nothing changed" in notifications(app))
    assert (await svc.get_bucket("uni2")).public != PUBLIC


async def test_public_access_prevention_explains_refusal(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket(
        "sealed", "us-central1", uniform_access=False, public_access_prevention="enforced"
    )
    await put(svc, "sealed", ["secret.csv"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "sealed")
        await open_bucket(pilot, app, "sealed")
        await select_object(pilot, app, "secret.csv")
        await pilot.press("m")
        await wait_for(pilot, lambda: "enforces public access prevention" in notifications(app))
        assert not isinstance(app.screen, ConfirmScreen)  # nothing to ask: it cannot be done
        await pilot.press("backspace")
        await wait_for(pilot, lambda: not pane(app).in_bucket)
        app.clear_notifications()
        await pilot.press("m")  # the bucket too
        await wait_for(pilot, lambda: "Public access prevention" in notifications(app))


async def test_signed_url_in_the_sandbox_says_why_not(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("signing", "us-central1")
    await put(svc, "signing", ["doc.pdf"])
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "signing")
        await open_bucket(pilot, app, "signing")
        await select_object(pilot, app, "doc.pdf")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SignedUrlScreen))
        app.screen.query_one("#signed-expiry", Input).value = "9d"
        await pilot.press("enter")
        assert "at most 7 days" in str(app.screen.query_one("#form-error").render())
        app.screen.query_one("#signed-expiry", Input).value = "2h"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "cannot sign URLs" in notifications(app))
        assert "Cannot sign" in notifications(app)


# --- read-only and the palette ---------------------------------------------------------------


async def test_read_only_refuses_and_hides_mutations(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    await svc.create_bucket("prod", "us-central1", uniform_access=False)
    await put(svc, "prod", ["model.bin"])
    app = make_app(svc.backend, sandbox_info, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app, "prod")
        await select(pilot, app, "#buckets-table", "prod", 0)
        for key in ("n", "ctrl+d", "u", "m", "M"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert not isinstance(app.screen, (ConfirmScreen, CreateBucketScreen, UploadScreen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Create bucket" not in titles and "Make public" not in titles
        assert "Download" in titles and "Permissions" in titles
        await open_bucket(pilot, app, "prod")
        await select_object(pilot, app, "model.bin")
        for key in ("ctrl+d", "m", "u"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert not isinstance(app.screen, (ConfirmScreen, UploadScreen))
        await pilot.press("p")  # permissions can be read, not changed
        await wait_for(pilot, lambda: isinstance(app.screen, PermissionsScreen))
        await wait_for(pilot, lambda: app.screen.loaded)  # type: ignore[attr-defined]
        await pilot.press("a", "b")
        await pilot.pause(0.1)
        assert isinstance(app.screen, PermissionsScreen)
    assert [b.name for b in (await svc.list_page("prod", "", "")).blobs] == ["model.bin"]
    assert (await svc.get_bucket("prod")).public != PUBLIC


async def test_palette_offers_bucket_actions(
    svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        wanted = {
            "Create bucket",
            "Delete bucket or objects",
            "Upload files or a folder",
            "Download",
            "Permissions",
            "Make public",
            "Make private",
            "Copy public URL",
            "Signed URL",
            "Details",
        }
        assert wanted <= titles


async def test_list_errors_back_off_and_recover(
    svc: StorageService, sandbox_info: SandboxInfo, faults: Callable[..., dict]
) -> None:
    await svc.create_bucket("steady", "us-central1")
    # 403 is not retried inside the call: the pane's own backoff is what is tested here.
    faults(error_rate=1.0, codes=[403], path_prefix="/storage/v1/b")
    app = make_app(svc.backend, sandbox_info, refresh_seconds=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: "Retrying in 4 s" in message(app), timeout=20)
        assert pane(app).failures == 1 and "Permission" in notifications(app)
        faults()
        await wait_for(pilot, lambda: bucket_names(app) == ["steady"], timeout=20)
        assert pane(app).failures == 0


# --- pure helpers ------------------------------------------------------------------------------


def test_complete_path(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "training.csv").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    assert complete_path(f"{tmp_path}/tr") == (
        f"{tmp_path}/train",
        ["train/", "training.csv"],
    )
    assert complete_path(f"{tmp_path}/train") == (f"{tmp_path}/train", ["train/", "training.csv"])
    assert complete_path(f"{tmp_path}/traini") == (f"{tmp_path}/training.csv", ["training.csv"])
    assert complete_path(f"{tmp_path}/tr", dirs_only=True) == (f"{tmp_path}/train/", ["train/"])
    assert complete_path(f"{tmp_path}/.h")[0] == f"{tmp_path}/.hidden"
    assert ".hidden" not in complete_path(f"{tmp_path}/")[1]
    assert complete_path(f"{tmp_path}/nothing") == (f"{tmp_path}/nothing", [])
    assert complete_path("/no/such/dir/x") == ("/no/such/dir/x", [])


def test_parse_expiry() -> None:
    assert parse_expiry("30m") == timedelta(minutes=30)
    assert parse_expiry("12") == timedelta(hours=12)
    assert parse_expiry(" 7d ") == timedelta(days=7)
    assert parse_expiry("1.5h") == timedelta(minutes=90)
    for bad, reason in (("8d", "at most 7 days"), ("soon", "not a duration"), ("0s", "1 second")):
        with pytest.raises(ValueError, match=reason):
            parse_expiry(bad)


def test_prices_and_paths() -> None:
    assert price_text(0.02) == "$0.020" and price_text(0.0012) == "$0.0012"
    options = dict((value, label) for label, value in class_options("us-central1"))
    assert (
        options["STANDARD"].startswith("STANDARD") and "$0.020 per GB-month" in options["STANDARD"]
    )
    assert "$0.026" in dict((v, k) for k, v in class_options("US"))["STANDARD"]
    assert "≈ $20.48 per TB-month" in cost_summary("x", "us-central1", "STANDARD")
    assert parent_prefix("a/b/c/") == "a/b/" and parent_prefix("a/") == ""
    assert breadcrumb("b", "") == "gs://b" and breadcrumb("b", "x/y/") == "gs://b › x › y ›"


# --- snapshots -----------------------------------------------------------------------------------


def seed_snapshot_buckets(svc: StorageService) -> None:
    async def seed() -> None:
        await svc.create_bucket("datasets-public", "US", uniform_access=True)
        await svc.make_bucket_public("datasets-public")
        await svc.create_bucket("team-checkpoints", "EUR4", "NEARLINE", uniform_access=False)
        await svc.create_bucket("training-data", "us-central1", public_access_prevention="enforced")
        await svc.create_bucket("archive-2024", "us-east1", "ARCHIVE")
        await svc.add_iam_member(
            "team-checkpoints", "user:ana@example.com", "roles/storage.objectUser"
        )
        await svc.add_iam_member(
            "team-checkpoints", "group:ml@example.com", "roles/storage.objectViewer"
        )
        await put(svc, "team-checkpoints", ["run1/model.bin"])
        await svc.add_object_acl(
            "team-checkpoints", "run1/model.bin", "user:bo@example.com", "READER"
        )

    asyncio.run(seed())


@pytest.mark.parametrize("size", [(80, 24), (120, 34)])
def test_bucket_list_snapshot(
    size: tuple[int, int],
    snap_compare: Callable[..., bool],
    svc: StorageService,
    sandbox_info: SandboxInfo,
) -> None:
    seed_snapshot_buckets(svc)
    app = make_app(svc.backend, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await open_tab(pilot, app, "archive-2024", "team-checkpoints", "training-data")
        await wait_for(pilot, lambda: len(bucket_names(app)) == 4)
        await wait_for(pilot, lambda: "/h" in app.query_one(StatusHeader).text)  # costs' message
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_permissions_view_snapshot(
    snap_compare: Callable[..., bool], svc: StorageService, sandbox_info: SandboxInfo
) -> None:
    """A fine-grained bucket: its IAM policy and one object's ACL."""
    seed_snapshot_buckets(svc)
    app = make_app(svc.backend, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await open_tab(pilot, app, "team-checkpoints")
        await open_bucket(pilot, app, "team-checkpoints")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane(app).prefix == "run1/" and pane(app).objects_loaded)
        await select_object(pilot, app, "model.bin")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, PermissionsScreen))
        await wait_for(pilot, lambda: app.screen.loaded)  # type: ignore[attr-defined]
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
