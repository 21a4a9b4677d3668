"""LogsService and the shared LogPoller against the sandbox's Cloud Logging: one request per
tick for all followed jobs, no line lost or repeated, 429 backoff, bounded buffers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from jobs_helpers import TRAINER_IMAGE, ManualClock, upload_standin

from tui.services.clients import Backend
from tui.services.errors import Unavailable
from tui.services.job_models import Job, JobSpec, LogEntry, WorkerPool
from tui.services.jobs import JobsService
from tui.services.logs import LogPoller, LogsService, job_filter, parse_epoch_line


async def run_job(service: JobsService, package: str, *args: str) -> Job:
    spec = JobSpec(
        "logs", (WorkerPool(package_uris=(package,), args=args, executor_image_uri=TRAINER_IMAGE),)
    )
    return await service.submit(spec)


async def wait_done(service: JobsService, name: str, timeout: float = 30) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await service.get_job(name)
        if not job.is_active:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("job did not end")


def worker_texts(entries: list[LogEntry]) -> list[str]:
    return [e.text for e in entries if e.task_name.startswith("workerpool")]


@pytest.fixture
def jobs(clean_sandbox: Backend) -> JobsService:
    return JobsService(clean_sandbox)


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_standin(clean_sandbox)


# --- epoch lines -----------------------------------------------------------------------------


def test_parse_epoch_line() -> None:
    line = "epoch=4/12 loss=0.1234 val_loss=0.1111 val_abs_rel=0.0876 images_per_sec=123.4 seconds=20.1"
    assert parse_epoch_line(line) == {
        "epoch": 4,
        "epochs": 12,
        "loss": 0.1234,
        "val_loss": 0.1111,
        "val_abs_rel": 0.0876,
        "images_per_sec": 123.4,
        "seconds": 20.1,
    }
    assert parse_epoch_line("INFO:trainer: epoch=1/2 loss=1e-05") == {
        "epoch": 1,
        "epochs": 2,
        "loss": 1e-05,
    }
    assert parse_epoch_line("epoch=1/2 loss=nan note=x") == {"epoch": 1, "epochs": 2}
    assert parse_epoch_line("trainer end status=ok val_abs_rel=0.07") is None
    assert parse_epoch_line("Epoch 1/10") is None  # Keras' own progress line is not ours
    assert parse_epoch_line("") is None


def test_job_filter_quotes_and_bounds() -> None:
    text = job_filter('12"3', min_severity="ERROR")
    assert 'resource.labels.job_id="12\\"3"' in text
    assert 'timestamp>="1970-01-01T00:00:00.000000Z"' in text and "severity>=ERROR" in text


# --- the poller ------------------------------------------------------------------------------


async def test_one_request_per_poll_for_all_jobs_without_loss_or_repeats(
    clean_sandbox: Backend, jobs: JobsService, package: str
) -> None:
    a = await run_job(jobs, package, "--epochs", "0", "--lines", "40")
    b = await run_job(jobs, package, "--epochs", "3", "--sleep", "0.2")
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, page_size=7, clock=clock)  # small pages: many polls
    poller.follow(a.id)
    poller.follow(b.id)
    got: dict[str, list[LogEntry]] = {a.id: [], b.id: []}
    done = False
    while True:
        before = poller.requests
        new = await poller.poll_once()
        assert poller.requests == before + 1  # one entries.list for both jobs
        for job_id, entries in new.items():
            got[job_id] += entries
        if done and not new:
            break
        done = all([not (await jobs.get_job(j.name)).is_active for j in (a, b)])
        await asyncio.sleep(0.05)
        clock.advance(poller.ready_in())
    texts_a = worker_texts(got[a.id])
    assert texts_a[1:] == [f"line {i}" for i in range(40)] + ["standin done"]
    assert [m["epoch"] for m in poller.metrics(b.id)] == [1, 2, 3]
    all_ids = [e.insert_id for entries in got.values() for e in entries]
    assert len(all_ids) == len(set(all_ids))  # nothing repeated
    assert got[a.id][-1].text == "Job completed successfully."
    assert all(e.job_id == a.id for e in got[a.id])


async def test_only_new_lines(clean_sandbox: Backend, jobs: JobsService, package: str) -> None:
    job = await run_job(jobs, package, "--epochs", "0", "--lines", "5", "--forever")
    logs = LogsService(clean_sandbox)
    for _ in range(100):
        if "line 4" in [e.text for e in await logs.tail(job.id, 20)]:
            break
        await asyncio.sleep(0.1)
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, clock=clock)
    poller.follow(job.id, from_start=False)
    assert await poller.poll_once() == {}  # the old lines are not shown again
    await jobs.cancel(job.name)
    await wait_done(jobs, job.name)
    clock.advance(poller.ready_in())
    new = (await poller.poll_once())[job.id]
    assert "line 0" not in [e.text for e in new]
    assert [e.text for e in new][-1] == "Job was cancelled."
    poller.unfollow(job.id)
    assert poller.followed == [] and poller.lines(job.id) == []
    clock.advance(poller.ready_in())
    assert await poller.poll_once() == {}


async def test_backs_off_on_429_and_recovers(
    clean_sandbox: Backend, jobs: JobsService, package: str, faults: Any
) -> None:
    job = await wait_done(jobs, (await run_job(jobs, package, "--epochs", "2")).name)
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, reads_per_minute=60, clock=clock)  # 1 s apart
    poller.follow(job.id)
    faults(fail_next=1, codes=[429], path_prefix="/v2/entries")
    assert await poller.poll_once() == {}
    assert poller.throttled == 1 and poller.next_delay == 2.0
    assert poller.last_error is not None and "throttling" in poller.last_error.message
    clock.advance(1.0)
    assert await poller.poll_once() == {} and poller.requests == 1  # backing off: no request
    clock.advance(poller.ready_in())
    faults(fail_next=1, codes=[429], path_prefix="/v2/entries")
    await poller.poll_once()
    assert poller.next_delay == 4.0 and poller.ready_in() == 4.0  # doubles while throttled
    clock.advance(4.0)
    new = await poller.poll_once()
    assert worker_texts(new[job.id])[-1] == "standin done"
    assert poller.next_delay == 1.0 and poller.last_error is None
    clock.advance(1.0)
    faults(fail_next=1, codes=[503], path_prefix="/v2/entries")
    with pytest.raises(Unavailable, match="Could not read job logs"):
        await poller.poll_once()  # other errors are raised (and back off too)
    assert poller.next_delay == 2.0


async def test_ring_buffer_is_bounded(
    clean_sandbox: Backend, jobs: JobsService, package: str
) -> None:
    job = await wait_done(
        jobs, (await run_job(jobs, package, "--epochs", "30", "--lines", "50")).name
    )
    poller = LogPoller(clean_sandbox, buffer_lines=10)
    poller.follow(job.id)
    new = await poller.poll_once()
    assert len(new[job.id]) > 80
    kept = poller.lines(job.id)
    assert len(kept) == 10 and kept == new[job.id][-10:]
    assert len(poller.metrics(job.id)) == 30  # metrics outlive the line buffer


async def test_entries_with_one_timestamp_are_all_read_once(clean_sandbox: Backend) -> None:
    from google.cloud import logging as cloud_logging

    client = cloud_logging.Client(
        project=clean_sandbox.project,
        credentials=clean_sandbox.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": clean_sandbox.endpoint},
    )
    stamp = "2024-05-01T12:00:00.000001Z"
    entries = [
        {"textPayload": f"same {i}", "timestamp": stamp, "insertId": f"id-{i}"} for i in range(5)
    ]
    client.logging_api.write_entries(
        entries,
        logger_name=f"projects/{clean_sandbox.project}/logs/workerpool0-0",
        resource={"type": "ml_job", "labels": {"job_id": "77", "task_name": "workerpool0-0"}},
    )
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, page_size=2, clock=clock)
    poller.follow("77")
    seen: list[str] = []
    for _ in range(6):
        seen += [e.text for e in (await poller.poll_once()).get("77", [])]
        clock.advance(poller.ready_in())
    assert seen == [f"same {i}" for i in range(5)]
    # One-shot pages with a cursor, over the same entries.
    logs = LogsService(clean_sandbox)
    page = await logs.read("77", page_size=2)
    texts = [e.text for e in page.entries]
    while page.cursor:
        page = await logs.read("77", page_size=2, cursor=page.cursor)
        texts += [e.text for e in page.entries]
    assert texts == [f"same {i}" for i in range(5)]


async def test_run_loop_delivers_and_stops(
    clean_sandbox: Backend, jobs: JobsService, package: str
) -> None:
    poller = LogPoller(clean_sandbox, reads_per_minute=60)
    received: list[LogEntry] = []
    got_done = asyncio.Event()

    def on_entries(new: dict[str, list[LogEntry]]) -> None:
        for entries in new.values():
            received.extend(entries)
            if any(e.text == "Job completed successfully." for e in entries):
                got_done.set()

    stop = asyncio.Event()
    loop = asyncio.create_task(poller.run(on_entries, stop=stop))
    await asyncio.sleep(0.2)
    assert poller.requests == 0  # idle while nothing is followed
    job = await run_job(jobs, package, "--epochs", "2")
    poller.follow(job.id)
    await asyncio.wait_for(got_done.wait(), 20)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert "standin done" in worker_texts(received)
    # at most one request per min_interval (the budget), whatever `interval` says
    assert poller.min_interval == pytest.approx(1.0)
    assert LogPoller(clean_sandbox, interval=0.3).min_interval == pytest.approx(3.0)
