"""Interrupted work: transfers cut off mid-way, a sandbox that goes away, quitting mid-operation.

Real sandbox, real google-cloud-storage client. Two kinds of fault, both on the real wire:
- the sandbox's own fault injection (503 answers on a path, latency), for failures between
  the requests of a transfer (between resumable chunks, before a ranged re-read);
- `CuttingProxy`, a TCP relay between the client and the sandbox that resets a connection
  after N bytes in one direction: the only way to cut a body *in the middle*, as a flaky
  network does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import pytest

from tui.sandbox import daemon
from tui.services import transfer, transfer_control
from tui.services.clients import Backend, sandbox_backend
from tui.services.storage import StorageService
from tui.services.storage_models import TransferProgress
from tui.services.transfer import CHUNK_SIZE, PARTIAL_SUFFIX, STOPPED_DOWNLOAD, STOPPED_UPLOAD

BIG = 40 * 1024 * 1024  # three resumable chunks: 16 + 16 + 8 MiB


# --- a network that cuts connections -------------------------------------------------------


class CuttingProxy:
    """A TCP relay to the sandbox that resets connections after N bytes in one direction.

    `cut_once(up=N)`: the connection carrying request byte N (counted from now) is reset,
    once. `cut_every(down=N)`: every connection is reset once it carried N response bytes
    (a link that cannot carry a big body any more). "up" is client → sandbox.
    """

    def __init__(self, target_url: str) -> None:
        host, port = target_url.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        # The sandbox answers only requests addressed to itself (a foreign Host is refused):
        # the relay readdresses them and the links in the answers (a resumable upload's
        # Location), as a reverse proxy does. Same length, so Content-Length still holds.
        mine, theirs = self.url[7:].encode(), f"{host}:{port}".encode()
        assert len(mine) == len(theirs), (mine, theirs)
        self.rewrite = {"up": (mine, theirs), "down": (theirs, mine)}
        self.lock = threading.Lock()
        self.once: dict[str, int | None] = {"up": None, "down": None}
        self.every: dict[str, int | None] = {"up": None, "down": None}
        self.cuts = 0
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_once(self, *, up: int | None = None, down: int | None = None) -> None:
        with self.lock:
            self.once = {"up": up, "down": down}

    def cut_every(self, *, up: int | None = None, down: int | None = None) -> None:
        with self.lock:
            self.every = {"up": up, "down": down}

    def heal(self) -> None:
        self.cut_once()
        self.cut_every()

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            _reset(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _reset(client)
                continue
            self.sockets += [client, upstream]
            pair = (client, upstream)
            for src, dst, direction in ((client, upstream, "up"), (upstream, client, "down")):
                args = (pair, src, dst, direction)
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self, pair: tuple[socket.socket, ...], src: socket.socket, dst: socket.socket, way: str
    ) -> None:
        carried = 0
        while True:
            try:
                data = src.recv(256 * 1024)
            except OSError:
                data = b""
            if not data:
                break
            data = data.replace(*self.rewrite[way])
            cut_at: int | None = None
            with self.lock:
                once = self.once[way]
                if once is not None:
                    if len(data) >= once:
                        cut_at, self.once[way] = once, None
                    else:
                        self.once[way] = once - len(data)
                every = self.every[way]
                if every is not None and carried + len(data) > every:
                    at = max(0, every - carried)
                    cut_at = at if cut_at is None else min(cut_at, at)
                if cut_at is not None:
                    self.cuts += 1
            if cut_at is not None:
                with contextlib.suppress(OSError):
                    dst.sendall(data[:cut_at])
                break
            carried += len(data)
            try:
                dst.sendall(data)
            except OSError:
                break
        for sock in pair:
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a broken network does (not a polite end of stream)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # shutdown wakes the relay thread blocked in recv on this socket; close alone does
        # not, and the far end would never hear that the connection is gone.
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def svc(clean_sandbox: Backend) -> StorageService:
    return StorageService(clean_sandbox)


@pytest.fixture
def proxy(clean_sandbox: Backend) -> Iterator[CuttingProxy]:
    assert clean_sandbox.endpoint
    relay = CuttingProxy(clean_sandbox.endpoint)
    yield relay
    relay.close()


@pytest.fixture
def flaky_svc(proxy: CuttingProxy, clean_sandbox: Backend) -> StorageService:
    """The same sandbox, reached through the cutting proxy."""
    return StorageService(
        sandbox_backend(
            proxy.url,
            clean_sandbox.project,
            data_dir=clean_sandbox.credentials.data_dir,
            daemon_url=clean_sandbox.endpoint,  # the relay is ours: the daemon is behind it
        )
    )


@pytest.fixture
def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give up after ~2 s of retrying instead of Google's 120 s, so "faults persist" is quick."""
    monkeypatch.setattr(transfer, "RETRY_DEADLINE", 2.0)


def crc_of(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def write_file(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


async def object_state(svc: StorageService, bucket: str, name: str) -> tuple[int, str] | None:
    """(size, crc32c) of the object, or None when there is no object under that name."""
    gcs = await svc._client()
    blob = await asyncio.to_thread(gcs.bucket(bucket).get_blob, name)
    return None if blob is None else (int(blob.size), blob.crc32c)


def when(
    condition: Callable[[TransferProgress], bool], action: Callable[[], object]
) -> Callable[[TransferProgress], None]:
    """A progress callback that runs `action` once, the first time `condition` holds."""
    fired = [False]

    def callback(event: TransferProgress) -> None:
        if not fired[0] and condition(event):
            fired[0] = True
            action()

    return callback


def second_chunk_read(event: TransferProgress) -> bool:
    # The library reads chunk 2 only after chunk 1's answer came back: chunk 1 is stored.
    return event.state == "progress" and event.file_bytes > CHUNK_SIZE


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(PARTIAL_SUFFIX))


# --- uploads -----------------------------------------------------------------------------------


async def test_resumable_upload_resumes_after_503s_between_chunks(
    svc: StorageService, faults: Any, tmp_path: Path
) -> None:
    await svc.create_bucket("cut", "us-central1")
    data = write_file(tmp_path / "big.bin", BIG)
    # Latency keeps chunk 2 in the sandbox's hands long enough for the fault to be armed.
    faults(latency_ms=150, path_prefix="/upload/")
    arm = when(second_chunk_read, lambda: faults(fail_next=2, codes=[503], path_prefix="/upload/"))
    events: list[TransferProgress] = []

    def progress(event: TransferProgress) -> None:
        events.append(event)
        arm(event)

    result = await svc.upload("cut", tmp_path / "big.bin", progress=progress)
    assert result.ok, result.failed
    assert result.uploaded == ("big.bin",)
    assert daemon.admin(svc_info(svc), "faults", None)["fail_next"] == 0  # both 503s were hit
    assert await object_state(svc, "cut", "big.bin") == (BIG, crc_of(data))
    assert events[-1].bytes_done == BIG  # a retried chunk is not counted twice


async def test_resumable_upload_cut_mid_chunk_resumes(
    flaky_svc: StorageService, svc: StorageService, proxy: CuttingProxy, tmp_path: Path
) -> None:
    await svc.create_bucket("cut", "us-central1")
    data = write_file(tmp_path / "big.bin", BIG)
    proxy.cut_once(up=CHUNK_SIZE + 4 * 1024 * 1024)  # 4 MiB into the second chunk's body
    result = await flaky_svc.upload("cut", tmp_path / "big.bin")
    assert proxy.cuts == 1
    assert result.ok, result.failed
    assert await object_state(svc, "cut", "big.bin") == (BIG, crc_of(data))


async def test_resumable_upload_that_cannot_resume_fails_and_leaves_no_object(
    svc: StorageService, faults: Any, tmp_path: Path, short_retries: None
) -> None:
    await svc.create_bucket("cut", "us-central1")
    write_file(tmp_path / "big.bin", BIG)
    faults(latency_ms=150, path_prefix="/upload/")
    arm = when(
        second_chunk_read, lambda: faults(error_rate=1.0, codes=[503], path_prefix="/upload/")
    )
    result = await svc.upload("cut", tmp_path / "big.bin", progress=arm)
    assert result.uploaded == ()
    message = result.failed["big.bin"]
    assert "Could not upload big.bin" in message
    assert "unavailable" in message
    assert "No object was created at gs://cut/big.bin" in message
    assert await object_state(svc, "cut", "big.bin") is None


async def test_simple_upload_cut_mid_body(
    flaky_svc: StorageService, svc: StorageService, proxy: CuttingProxy, tmp_path: Path
) -> None:
    await svc.create_bucket("cut", "us-central1")
    data = write_file(tmp_path / "small.bin", 4 * 1024 * 1024)  # one multipart request
    proxy.cut_once(up=1024 * 1024)
    result = await flaky_svc.upload("cut", tmp_path / "small.bin")
    assert proxy.cuts == 1 and result.ok, result.failed
    assert await object_state(svc, "cut", "small.bin") == (len(data), crc_of(data))


async def test_simple_upload_that_cannot_get_through_leaves_no_object(
    flaky_svc: StorageService,
    svc: StorageService,
    proxy: CuttingProxy,
    tmp_path: Path,
    short_retries: None,
) -> None:
    await svc.create_bucket("cut", "us-central1")
    write_file(tmp_path / "small.bin", 4 * 1024 * 1024)
    proxy.cut_every(up=1024 * 1024)  # small requests (the look afterwards) still pass
    result = await flaky_svc.upload("cut", tmp_path / "small.bin")
    assert proxy.cuts >= 2  # retried, then gave up
    message = result.failed["small.bin"]
    assert "gave up after retrying" in message
    assert "No object was created at gs://cut/small.bin" in message
    assert await object_state(svc, "cut", "small.bin") is None


async def test_upload_whose_answer_was_lost_is_not_a_conflict(
    flaky_svc: StorageService, svc: StorageService, proxy: CuttingProxy, tmp_path: Path
) -> None:
    """The object arrived but the answer did not: the retry meets it ("already exists")."""
    await svc.create_bucket("cut", "us-central1")
    data = write_file(tmp_path / "small.bin", 300_000)
    proxy.cut_once(down=1)  # the first answer is lost on the way back
    result = await flaky_svc.upload("cut", tmp_path / "small.bin")
    assert proxy.cuts == 1
    assert result.ok and result.conflicts == (), result.failed
    assert result.uploaded == ("small.bin",)
    assert await object_state(svc, "cut", "small.bin") == (len(data), crc_of(data))


async def test_existing_object_is_still_a_conflict(svc: StorageService, tmp_path: Path) -> None:
    """The lost-answer rule must not hide a real conflict, even with identical bytes."""
    await svc.create_bucket("cut", "us-central1")
    write_file(tmp_path / "small.bin", 1000)
    assert (await svc.upload("cut", tmp_path / "small.bin")).ok
    again = await svc.upload("cut", tmp_path / "small.bin")
    assert again.conflicts == ("small.bin",)


async def test_stopped_upload_leaves_each_file_absent_or_complete(
    svc: StorageService, faults: Any, tmp_path: Path
) -> None:
    await svc.create_bucket("cut", "us-central1")
    folder = tmp_path / "batch"
    folder.mkdir()
    contents = {
        "a.txt": write_file(folder / "a.txt", 10),
        "big.bin": write_file(folder / "big.bin", BIG),
    }
    faults(latency_ms=150, path_prefix="/upload/")
    records: list[transfer_control.TransferRecord] = []

    def stop() -> None:
        records.extend(transfer_control.cancel_all())

    result = await svc.upload("cut", folder, parallel=2, progress=when(second_chunk_read, stop))
    assert len(records) == 1 and records[0].cancelled
    assert result.failed == {"batch/big.bin": STOPPED_UPLOAD}
    assert await object_state(svc, "cut", "batch/big.bin") is None
    assert result.uploaded == ("batch/a.txt",)
    assert await object_state(svc, "cut", "batch/a.txt") == (10, crc_of(contents["a.txt"]))
    outcome = records[0].outcome()
    assert "1 of 2 uploaded completely" in outcome and "1 stopped and not created" in outcome
    assert transfer_control.active_transfers() == []


async def test_cancelled_upload_task_stops_its_threads(
    svc: StorageService, faults: Any, tmp_path: Path
) -> None:
    """Cancelling the awaiting task (a worker stopped, the app quitting) stops the upload too,
    at once, instead of finishing it unseen in the background."""
    await svc.create_bucket("cut", "us-central1")
    write_file(tmp_path / "big.bin", BIG)
    faults(latency_ms=300, path_prefix="/upload/")
    started = asyncio.Event()
    task = asyncio.create_task(
        svc.upload("cut", tmp_path / "big.bin", progress=when(second_chunk_read, started.set))
    )
    await asyncio.wait_for(started.wait(), 30)
    [record] = transfer_control.active_transfers()
    task.cancel()
    began = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 1.0  # the event loop was not held until the end
    assert await asyncio.to_thread(record.wait, 10)
    assert record.stopped == ["big.bin"]
    assert await object_state(svc, "cut", "big.bin") is None
    assert transfer_control.active_transfers() == []


# --- downloads ---------------------------------------------------------------------------------


async def put_object(svc: StorageService, folder: Path, name: str, size: int) -> bytes:
    await svc.create_bucket("cut", "us-central1")
    data = write_file(folder / name, size)
    assert (await svc.upload("cut", folder / name)).ok
    (folder / name).unlink()
    return data


async def test_download_cut_mid_body_resumes(
    flaky_svc: StorageService, svc: StorageService, proxy: CuttingProxy, tmp_path: Path
) -> None:
    data = await put_object(svc, tmp_path, "model.bin", 24 * 1024 * 1024)
    dest = tmp_path / "out"
    proxy.cut_once(down=5 * 1024 * 1024)
    result = await flaky_svc.download("cut", "model.bin", dest)
    assert proxy.cuts == 1
    assert result.ok, result.failed
    assert (dest / "model.bin").read_bytes() == data
    assert leftovers(dest) == []


async def test_download_cut_then_503s_on_the_ranged_reread(
    flaky_svc: StorageService,
    svc: StorageService,
    proxy: CuttingProxy,
    faults: Any,
    tmp_path: Path,
) -> None:
    data = await put_object(svc, tmp_path, "model.bin", 24 * 1024 * 1024)
    dest = tmp_path / "out"
    proxy.cut_once(down=5 * 1024 * 1024)
    # Armed once the first read is streaming: the re-reads after the cut get the 503s.
    arm = when(
        lambda e: e.state == "progress",
        lambda: faults(fail_next=2, codes=[503], path_prefix="/download/"),
    )
    result = await flaky_svc.download("cut", "model.bin", dest, progress=arm)
    assert result.ok, result.failed
    assert daemon.admin(svc_info(svc), "faults", None)["fail_next"] == 0
    assert (dest / "model.bin").read_bytes() == data


async def test_download_that_cannot_finish_leaves_nothing_under_its_name(
    flaky_svc: StorageService,
    svc: StorageService,
    proxy: CuttingProxy,
    tmp_path: Path,
    short_retries: None,
) -> None:
    await put_object(svc, tmp_path, "model.bin", 24 * 1024 * 1024)
    dest = tmp_path / "out"
    proxy.cut_every(down=5 * 1024 * 1024)
    result = await flaky_svc.download("cut", "model.bin", dest)
    message = result.failed["model.bin"]
    assert "Could not download model.bin" in message
    assert f"Nothing was saved at {dest / 'model.bin'}" in message
    assert not (dest / "model.bin").exists()
    assert leftovers(dest) == []  # the partial bytes are removed, not kept


async def test_failed_redownload_keeps_the_existing_file(
    flaky_svc: StorageService,
    svc: StorageService,
    proxy: CuttingProxy,
    tmp_path: Path,
    short_retries: None,
) -> None:
    await put_object(svc, tmp_path, "model.bin", 24 * 1024 * 1024)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "model.bin").write_bytes(b"the old model")
    proxy.cut_every(down=5 * 1024 * 1024)
    result = await flaky_svc.download("cut", "model.bin", dest, on_exists="overwrite")
    assert "is unchanged" in result.failed["model.bin"]
    assert (dest / "model.bin").read_bytes() == b"the old model"
    assert leftovers(dest) == []


async def test_stopped_download_leaves_no_file(
    svc: StorageService, faults: Any, tmp_path: Path
) -> None:
    await put_object(svc, tmp_path, "model.bin", 24 * 1024 * 1024)
    dest = tmp_path / "out"
    records: list[transfer_control.TransferRecord] = []
    arm = when(
        lambda e: e.state == "progress",
        lambda: records.extend(transfer_control.cancel_all()),
    )
    result = await svc.download("cut", "model.bin", dest, progress=arm)
    assert records and result.failed == {"model.bin": STOPPED_DOWNLOAD}
    assert not (dest / "model.bin").exists()
    assert leftovers(dest) == []
    assert "0 of 1 downloaded completely" in records[0].outcome()


def svc_info(svc: StorageService) -> daemon.SandboxInfo:
    backend = svc.backend
    assert backend.endpoint
    creds = backend.credentials
    url = creds.daemon_url or backend.endpoint  # past the relay, to the daemon itself
    return daemon.SandboxInfo(0, url, backend.project, creds.data_dir)


# --- the app: a sandbox that goes away, quitting mid-operation ---------------------------------

ZONE = "us-central1-a"


def start_private(data_dir: Path, port: int = 0, stopping: float = 0.2) -> daemon.SandboxInfo:
    timing = f'{{"provisioning": 0.2, "staging": 0.2, "stopping": {stopping}, "operation": 0.05}}'
    return daemon.start(data_dir, port=port, env={"CLOUDPANE_SANDBOX_TIMING": timing})


def make_app(info: daemon.SandboxInfo) -> Any:
    from tui.app import CloudpaneApp
    from tui.config import Config
    from tui.services.connect import Connection

    backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
    return CloudpaneApp(
        Config(refresh_seconds=0.5), connection=Connection(backend, "", info.data_dir)
    )


async def wait_for(pilot: Any, condition: Callable[[], object], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def create_vm(info: daemon.SandboxInfo, name: str) -> None:
    from tui.services.compute import ComputeService
    from tui.services.models import Image, InstanceSpec

    service = ComputeService(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
    spec = InstanceSpec(
        name=name, zone=ZONE, machine_type="e2-small", image=Image("debian-cloud", "debian-12")
    )
    await service.wait_operation(await service.create_instance(spec), timeout=30)


def vm_names(app: Any) -> list[str]:
    from textual.widgets import DataTable

    table = app.query_one("#vms-table", DataTable)
    return [str(table.get_row(row.key)[0]).lstrip("⚠ ") for row in table.ordered_rows]


def vms_message(app: Any) -> str:
    return str(app.query_one("#vms-pane .pane-message").render())


async def test_sandbox_restart_under_the_running_app(private_sandbox: Path) -> None:
    info = start_private(private_sandbox)
    port = int(info.url.rsplit(":", 1)[1])
    await create_vm(info, "survivor")
    app = make_app(info)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: vm_names(app) == ["survivor"])
        await asyncio.to_thread(daemon.stop, private_sandbox)
        # The pane says the backend cannot be reached, keeps the last list, and retries.
        # (after the services' own retries, 30 s for reads, are spent)
        await wait_for(pilot, lambda: "Retrying in" in vms_message(app), timeout=45)
        assert "sandbox is running" in vms_message(app)
        assert vm_names(app) == ["survivor"]
        assert app.is_running and app._exception is None
        # Back on the same address: the pane recovers by itself, nobody presses anything.
        await asyncio.to_thread(start_private, private_sandbox, port)
        await wait_for(pilot, lambda: "Retrying" not in vms_message(app), timeout=30)
        assert vm_names(app) == ["survivor"]
        assert app._exception is None


async def test_quit_with_nothing_in_flight_does_not_ask(private_sandbox: Path) -> None:
    from tui.widgets.confirm import ConfirmScreen

    app = make_app(start_private(private_sandbox))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not app.is_running


async def start_upload(pilot: Any, app: Any, bucket: str, path: Path) -> None:
    from textual.widgets import Input

    from tui.panes.bucket_transfers import UploadScreen
    from tui.panes.buckets import BucketsPane

    await pilot.press("2")  # the Buckets tab wakes its pane
    pane = app.query_one(BucketsPane)
    await wait_for(pilot, lambda: pane.connection is not None)
    pane.upload(bucket, "")
    await wait_for(pilot, lambda: isinstance(app.screen, UploadScreen))
    app.screen.query_one("#upload-path", Input).value = str(path)
    await pilot.press("enter")


async def test_quit_during_an_upload_and_a_vm_stop(
    private_sandbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui.panes.vms import VmsPane
    from tui.services.compute import ComputeService
    from tui.widgets.confirm import ConfirmScreen
    from tui.widgets.operations import OperationRow

    info = start_private(private_sandbox, stopping=4.0)  # the stop takes a while, as on Google
    await create_vm(info, "vm-1")
    own = StorageService(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
    await own.create_bucket("data", "us-central1")
    write_file(tmp_path / "big.bin", BIG)
    daemon.admin(info, "faults", {"latency_ms": 1000, "path_prefix": "/upload/"})
    app = make_app(info)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: vm_names(app) == ["vm-1"])
        vms = app.query_one(VmsPane)
        [vm] = vms.instances.values()
        vms.simple_op(vm, "stop", "stopped")  # what the confirmed stop dialog runs
        await start_upload(pilot, app, "data", tmp_path / "big.bin")
        await wait_for(pilot, lambda: transfer_control.active_transfers() != [])
        # Google answered the stop: from now on it runs there, whatever the app does.
        await wait_for(pilot, lambda: any(r.acknowledged for r in app.query(OperationRow)))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body").render())
        assert "upload of big.bin to gs://data will stop" in body
        assert "no partial object is kept" in body
        assert "stop vm-1 continues on Google's side" in body
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: not app.is_running, timeout=15)
    summary = " ".join(capsys.readouterr().err.split())  # printed after exit
    assert summary.startswith("cloudpane quit with work in flight:")
    assert "upload of big.bin to gs://data: 0 of 1 uploaded completely" in summary
    assert "1 stopped and not created" in summary
    assert "stop vm-1 continues on Google's side" in summary
    daemon.admin(info, "faults", {})
    assert await object_state(own, "data", "big.bin") is None  # nothing partial in the bucket
    compute = ComputeService(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
    deadline = time.monotonic() + 20
    while (await compute.get_instance(ZONE, "vm-1")).status != "TERMINATED":
        assert time.monotonic() < deadline, "the stop did not carry on without the app"
        await asyncio.sleep(0.2)


async def test_quit_question_can_be_declined(private_sandbox: Path, tmp_path: Path) -> None:
    from tui.widgets.confirm import ConfirmScreen

    info = start_private(private_sandbox)
    own = StorageService(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
    await own.create_bucket("data", "us-central1")
    data = write_file(tmp_path / "big.bin", BIG)
    daemon.admin(info, "faults", {"latency_ms": 400, "path_prefix": "/upload/"})
    app = make_app(info)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_upload(pilot, app, "data", tmp_path / "big.bin")
        await wait_for(pilot, lambda: transfer_control.active_transfers() != [])
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("q")  # pressed again: still one question
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running
        await wait_for(pilot, lambda: transfer_control.active_transfers() == [], timeout=30)
    assert await object_state(own, "data", "big.bin") == (BIG, crc_of(data))
