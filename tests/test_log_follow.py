"""Following job logs as Google serves them: entries readable late and out of order (a lag
window with insertId de-duplication catches them), one reader per project per process, and a
request budget that holds under 429. Entries are written with google-cloud-logging's own client;
requests are counted by the sandbox (`/_sandbox/requests`), over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from jobs_helpers import ManualClock
from textual.widgets import Log

from tui.app import CloudpaneApp
from tui.config import Config, ConfigError, load_config
from tui.panes.job_logs import LogScreen, log_hub
from tui.sandbox import daemon
from tui.services import logs as logs_module
from tui.services.clients import Backend
from tui.services.connect import Connection
from tui.services.job_models import Job, JobSpec, LogEntry, WorkerPool
from tui.services.logs import LogPoller, LogsService, shared_poller

T0 = datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc)


@pytest.fixture
def write(clean_sandbox: Backend, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """write(job_id, text, seconds_after_T0, severity="INFO"): one entry, Google's client."""
    import google.cloud.logging_v2
    from google.cloud import logging as cloud_logging
    from google.cloud.logging import Resource

    # The client's first write adds a "diagnostic" entry stamped now: not one of ours.
    monkeypatch.setattr(google.cloud.logging_v2, "_instrumentation_emitted", True)
    client = cloud_logging.Client(
        project=clean_sandbox.project,
        credentials=clean_sandbox.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": clean_sandbox.endpoint},
    )
    logger = client.logger("workerpool0-0")

    def write_one(job_id: str, text: str, seconds: float, severity: str = "INFO") -> None:
        logger.log_text(
            text,
            severity=severity,
            timestamp=T0 + timedelta(seconds=seconds),
            insert_id=f"{job_id}-{text}",
            resource=Resource(
                type="ml_job", labels={"job_id": job_id, "task_name": "workerpool0-0"}
            ),
        )

    return write_one


@pytest.fixture
def no_shared_pollers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no process-wide poller (they outlive apps, as they should)."""
    monkeypatch.setattr(logs_module, "_SHARED", {})
    yield


def texts(entries: list[LogEntry]) -> list[str]:
    return [e.text for e in entries]


def list_requests(info: daemon.SandboxInfo) -> int:
    return int(daemon.admin(info, "requests").get("/v2/entries:list", 0))  # read and clear


async def test_late_and_out_of_order_entries_are_all_shown_once_in_order(
    clean_sandbox: Backend, write: Callable[..., None]
) -> None:
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, clock=clock)
    poller.follow("91")
    write("91", "a", 0)
    write("91", "b", 1)
    write("91", "d", 3)
    assert texts((await poller.poll_once())["91"]) == ["a", "b", "d"]
    write("91", "c", 2)  # readable only now, after d: late and out of order
    clock.advance(poller.ready_in())
    assert texts((await poller.poll_once())["91"]) == ["c"]
    assert texts(poller.lines("91")) == ["a", "b", "c", "d"]
    assert poller.late("91") == 1
    write("91", "e", 4)
    for _ in range(3):  # the window is read again and again: nothing comes twice
        clock.advance(poller.ready_in())
        got = await poller.poll_once()
        assert texts(got.get("91", [])) in (["e"], [])
    assert texts(poller.lines("91")) == ["a", "b", "c", "d", "e"]


async def test_a_busy_jobs_window_stays_bounded_and_still_catches_late_lines(
    clean_sandbox: Backend, write: Callable[..., None]
) -> None:
    from google.cloud import logging as cloud_logging

    client = cloud_logging.Client(
        project=clean_sandbox.project,
        credentials=clean_sandbox.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": clean_sandbox.endpoint},
    )
    stamp = lambda ms: (T0 + timedelta(milliseconds=ms)).isoformat()  # noqa: E731
    client.logging_api.write_entries(  # 3,000 lines in 3 s: all inside one 5 s window
        [{"textPayload": f"n{i}", "timestamp": stamp(i), "insertId": f"n{i}"} for i in range(3000)],
        logger_name=f"projects/{clean_sandbox.project}/logs/workerpool0-0",
        resource={"type": "ml_job", "labels": {"job_id": "93", "task_name": "workerpool0-0"}},
    )
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, clock=clock)
    poller.follow("93")
    got: list[str] = []
    for _ in range(8):  # three full pages, then the window again and again
        got += texts((await poller.poll_once()).get("93", []))
        clock.advance(poller.ready_in())
    assert got == [f"n{i}" for i in range(3000)]  # each once, in order
    assert poller.remembered("93") <= 1000  # not the 3,000 of the window
    write("93", "late", 2.9985)  # among the newest lines, readable only now
    for _ in range(2):
        got += texts((await poller.poll_once()).get("93", []))
        clock.advance(poller.ready_in())
    assert got[-1] == "late" and len(got) == 3001
    assert [e.text for e in poller.lines("93")][-2:] == ["late", "n2999"]


async def test_two_followers_in_one_process_make_one_readers_requests(
    clean_sandbox: Backend,
    write: Callable[..., None],
    sandbox_info: daemon.SandboxInfo,
    no_shared_pollers: None,
) -> None:
    clock = ManualClock()
    first = shared_poller(clean_sandbox, clock=clock)  # e.g. one app's log view
    second = LogsService(clean_sandbox).poller()  # e.g. another view, elsewhere in the process
    assert second is first
    heard: dict[str, list[str]] = {"81": [], "82": []}

    def hear(job_id: str, entries: list[LogEntry]) -> None:
        heard[job_id] += texts(entries)

    first.subscribe("81", hear)
    second.subscribe("82", hear)
    list_requests(sandbox_info)
    for tick in range(6):
        write("81", f"x{tick}", tick)
        write("82", f"y{tick}", tick)
        # Both followers ask on every tick, as two independent timers would.
        await first.poll_once()
        await second.poll_once()
        clock.advance(first.min_interval)
    assert list_requests(sandbox_info) == 6  # one reader: one entries.list per tick
    assert heard == {"81": [f"x{i}" for i in range(6)], "82": [f"y{i}" for i in range(6)]}
    first.unsubscribe("81", hear)
    assert first.followed == ["82"]  # the other follower still reads its job
    second.unsubscribe("82", hear)
    assert first.followed == []


async def test_the_rate_budget_holds_under_429_and_after(
    clean_sandbox: Backend,
    write: Callable[..., None],
    faults: Callable[..., dict],
    sandbox_info: daemon.SandboxInfo,
) -> None:
    clock = ManualClock()
    poller = LogPoller(clean_sandbox, clock=clock)  # the default budget: 20 a minute
    assert poller.reads_per_minute == 20
    poller.follow("83")
    write("83", "before", 0)
    list_requests(sandbox_info)
    faults(error_rate=1.0, codes=[429], path_prefix="/v2/entries")

    async def one_minute() -> list[LogEntry]:
        got: list[LogEntry] = []
        for _ in range(240):  # a caller asking four times a second
            got += (await poller.poll_once()).get("83", [])
            clock.advance(0.25)
        return got

    assert await one_minute() == []
    throttled = list_requests(sandbox_info)
    assert 1 <= throttled <= 5  # backing off: 0, 6, 18, 42 s
    assert poller.throttled == throttled
    faults()
    assert texts(await one_minute()) == ["before"]
    assert list_requests(sandbox_info) <= 20
    for _ in range(3):
        await one_minute()
        assert list_requests(sandbox_info) == 20  # the budget, exactly, however often asked
    # Compute-style 403 rateLimitExceeded is throttling too, not an error.
    faults(fail_next=1, codes=[403], error_reason="rateLimitExceeded", path_prefix="/v2/entries")
    clock.advance(poller.ready_in())
    assert await poller.poll_once() == {}
    assert poller.last_error is not None and "rate-limiting" in poller.last_error.message


def test_the_budget_is_a_config_key(tmp_path: Any) -> None:
    path = tmp_path / "config.toml"
    path.write_text("log_reads_per_minute = 12\n")
    assert load_config(path).log_reads_per_minute == 12
    assert Config().log_reads_per_minute == 20
    path.write_text("log_reads_per_minute = 90\n")
    with pytest.raises(ConfigError, match=r"config.toml:1: log_reads_per_minute .* at most 60"):
        load_config(path)


async def test_log_view_inserts_a_late_line_in_order_and_shows_each_lines_own_level(
    clean_sandbox: Backend,
    sandbox_info: daemon.SandboxInfo,
    write: Callable[..., None],
    no_shared_pollers: None,
) -> None:
    # Vertex records stderr as ERROR: these are all ERROR at Google, whatever they say.
    write("92", "INFO:root:a starting", 0, "ERROR")
    write("92", "W1202 14:00:01.000000 1 task.py:9] b careful", 1, "ERROR")
    write("92", "d RuntimeError: boom", 3, "ERROR")
    job = Job(
        f"projects/{clean_sandbox.project}/locations/us-central1/customJobs/92",
        "late",
        "JOB_STATE_RUNNING",
        JobSpec("late", (WorkerPool(),)),
    )
    config = Config(refresh_seconds=0.5, log_reads_per_minute=60)
    app = CloudpaneApp(config, connection=Connection(clean_sandbox, "", sandbox_info.data_dir))
    async with app.run_test(size=(100, 30)) as pilot:
        hub = log_hub(app, clean_sandbox)
        assert hub.poller.reads_per_minute == 60  # from the config
        app.push_screen(LogScreen(hub, job))
        await wait_for(pilot, lambda: "boom" in getattr(app.screen, "text", ""))
        screen = app.screen
        assert isinstance(screen, LogScreen)
        write("92", "2026-12-02 14:00:02.000000: I tensorflow/core/x.cc:1] c late", 2, "ERROR")
        await wait_for(pilot, lambda: "c late" in screen.text)
        shown = [row.text for row in screen.rows]
        assert [t.split()[-1] if "late" not in t else "c" for t in shown] == [
            "starting",
            "careful",
            "c",
            "boom",
        ]
        lines = screen.query_one(Log).lines
        assert len(lines) == 4
        levels = [line.split()[1] for line in lines]
        assert levels == ["INFO", "WARN", "INFO", "ERROR"]  # their own, not Google's ERROR
        assert "c late" in lines[2]


async def wait_for(pilot: Any, condition: Callable[[], object], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)
