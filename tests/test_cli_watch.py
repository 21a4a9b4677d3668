"""`cloudpane watch` as a real subprocess against the sandbox: one line per event, hooks,
errors with backoff, and a clean exit on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import pytest

from tests.test_cli_status import gpu_instance, make_instance, submit_job
from tui.cli.report import JobRow, ProjectReport, ReadError
from tui.cli.watch import EventDiff, positive_seconds
from tui.sandbox import daemon
from tui.services.clients import Backend
from tui.services.compute import ComputeService

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (START|WARNING|RESOLVED|JOB|ERROR|RECOVERED|STOP) \S.*$"
)

HOOK_SCRIPT = """
import json, os, sys
keys = ["CLOUDPANE_EVENT", "CLOUDPANE_INSTANCE", "CLOUDPANE_RULE", "CLOUDPANE_JOB",
        "CLOUDPANE_STATE", "CLOUDPANE_LINE"]
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({k: os.environ.get(k) for k in keys}) + "\\n")
"""


class Watch:
    """`python -m tui.cli.watch` in the background, its stdout read line by line."""

    def __init__(self, sandbox_info: daemon.SandboxInfo, *args: str) -> None:
        env = {**os.environ, "CLOUDPANE_SANDBOX_DIR": str(sandbox_info.data_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli.watch", "--sandbox", "--interval", "0.5", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The first line (seen or coming) that matches `pattern`."""
        found = re.compile(pattern)
        for line in self.lines:
            if found.search(line):
                return line
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self._queue.empty():
                    break
                continue
            self.lines.append(line)
            if found.search(line):
                return line
        err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(f"no line matching {pattern!r} in {self.lines!r} {err}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        time.sleep(0.1)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watch(sandbox_info: daemon.SandboxInfo):  # type: ignore[no-untyped-def]
    started: list[Watch] = []

    def start(*args: str) -> Watch:
        w = Watch(sandbox_info, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


def stop_instance(backend: Backend, name: str) -> None:
    svc = ComputeService(backend)

    async def stop() -> None:
        await svc.wait_operation(await svc.stop_instance("us-central1-a", name), timeout=30)

    asyncio.run(stop())


def test_each_event_once_hooks_and_clean_sigterm(
    clean_sandbox: Backend,
    watch: Callable[..., Watch],
    tmp_path: Path,
) -> None:
    gpu_instance(clean_sandbox)
    hook_file, script = tmp_path / "hook.jsonl", tmp_path / "hook.py"
    script.write_text(HOOK_SCRIPT)
    w = watch("--hook", f"{sys.executable} {script} {hook_file}")
    w.wait_for(r" START watching cloudpane-sandbox \(sandbox\) every 0\.5 s$")
    warning = w.wait_for(r" WARNING gpu-1 gpu-no-auto-stop: ")
    assert re.search(
        r"1 GPU and no auto-stop set \(max run duration\), costing \$0\.\d+/h$", warning
    )

    # A job that fails while we watch: its change is one JOB line.
    submit_job(clean_sandbox, "depth-broken", "gs://stage/missing.tar.gz")
    failed = w.wait_for(r" JOB depth-broken \(\d+\) \w+ -> FAILED: ")
    assert "missing.tar.gz" in failed
    # Stopping the VM ends its warning episodes: one RESOLVED line each.
    stop_instance(clean_sandbox, "gpu-1")
    w.wait_for(r" RESOLVED gpu-1 gpu-no-auto-stop$")
    time.sleep(1.5)  # three more polls with nothing new

    assert w.stop(signal.SIGTERM) == 0
    assert w.lines[-1].endswith(" STOP SIGTERM received, exiting"), w.lines
    for line in w.lines:
        assert LINE.match(line), f"unstable line format: {line!r}"
    assert sum(" WARNING gpu-1 gpu-no-auto-stop:" in line for line in w.lines) == 1
    assert sum(" RESOLVED gpu-1 gpu-no-auto-stop" in line for line in w.lines) == 1
    assert sum("-> FAILED" in line for line in w.lines) == 1
    job_lines = [line for line in w.lines if " JOB depth-broken " in line]
    states = [line.split(" -> ")[1].split(":")[0] for line in job_lines]
    assert len(states) == len(set(states)), f"a state change was printed twice: {job_lines}"

    hooked = [line for line in hook_file.read_text().splitlines() if line]
    events = [json.loads(line) for line in hooked]  # hooks run concurrently: any order
    assert len(events) == len(w.lines), "one hook run per printed event"
    assert sorted(e["CLOUDPANE_LINE"] for e in events) == sorted(w.lines)
    warned = [
        e for e in events if (e["CLOUDPANE_EVENT"], e["CLOUDPANE_INSTANCE"]) == ("warning", "gpu-1")
    ]
    assert "gpu-no-auto-stop" in {e["CLOUDPANE_RULE"] for e in warned}
    job = next(
        e for e in events if e["CLOUDPANE_EVENT"] == "job" and e["CLOUDPANE_STATE"] == "FAILED"
    )
    assert job["CLOUDPANE_JOB"] == "depth-broken"
    assert {e["CLOUDPANE_EVENT"] for e in events} >= {"start", "warning", "job", "resolved", "stop"}


def test_errors_back_off_and_recover_and_sigint_exits_cleanly(
    clean_sandbox: Backend,
    watch: Callable[..., Watch],
    faults: Callable[..., dict],
) -> None:
    make_instance(clean_sandbox, "web-1")
    w = watch()
    w.wait_for(r" START ")
    faults(error_rate=1.0, codes=[403])  # every read refused
    error = w.wait_for(r" ERROR could not read instances: ")
    assert re.search(r"\(retrying in \d+ s\)$", error)
    faults()  # readable again
    w.wait_for(r" RECOVERED the project is readable again$", timeout=30)
    assert w.stop(signal.SIGINT) == 0
    assert w.lines[-1].endswith(" STOP SIGINT received, exiting")
    errors = [line for line in w.lines if " ERROR " in line]
    # Faults cleared right after the first ERROR: the next read (1 s later) succeeds.
    assert 1 <= len(errors) <= 2, errors
    assert not any(" WARNING " in line for line in w.lines)


def test_once_reads_once_and_exits_0(clean_sandbox: Backend, watch: Callable[..., Watch]) -> None:
    gpu_instance(clean_sandbox)
    w = watch("--once")
    assert w.proc.wait(60) == 0
    w.wait_for(r" STOP one read done \(--once\), exiting$")
    assert any(" WARNING gpu-1 " in line for line in w.lines)


# -- the event diff (pure) ------------------------------------------------------------------


def report(jobs: tuple[JobRow, ...], errors: tuple[ReadError, ...] = ()) -> ProjectReport:
    return ProjectReport(
        "p",
        "sandbox",
        "us-central1",
        datetime(2026, 11, 27, 3, 12, tzinfo=timezone.utc),
        jobs=jobs,
        jobs_available=not errors,
        errors=errors,
    )


def job(state: str, error: str | None = None) -> JobRow:
    return JobRow(
        "42", "projects/p/locations/us-central1/customJobs/42", "train", state,
        "us-central1", "1× n1-standard-4", None, None, None, None, error,
    )  # fmt: skip


def test_job_changes_are_reported_once_and_the_first_read_is_a_baseline() -> None:
    diff = EventDiff()
    assert diff.events(report((job("JOB_STATE_RUNNING"),))) == []
    assert diff.events(report((job("JOB_STATE_RUNNING"),))) == []
    (event,) = diff.events(report((job("JOB_STATE_FAILED", "exit\ncode 1"),)))
    assert event.line == "2026-11-27T03:12:00Z JOB train (42) RUNNING -> FAILED: exit code 1"
    assert event.fields["previous_state"] == "RUNNING" and event.fields["state"] == "FAILED"
    assert diff.events(report((job("JOB_STATE_FAILED"),))) == []
    # A read that fails forgets nothing: no duplicate after it recovers.
    assert diff.events(report((), (ReadError("jobs", "down"),))) == []
    (recovered,) = diff.events(report((job("JOB_STATE_FAILED"),)))
    assert recovered.kind == "RECOVERED"


def test_interval_must_be_positive() -> None:
    assert positive_seconds("0.5") == 0.5
    for bad in ("0", "-1", "soon"):
        with pytest.raises(Exception, match="seconds"):
            positive_seconds(bad)


def test_an_unreadable_project_resolves_nothing() -> None:
    from tui.services.policy import TurnOffWarning

    warning = TurnOffWarning("1", "gpu-1", "idle", "CPU 0.4 % for 47 min, costing $2.93/h")
    diff = EventDiff()
    now = datetime(2026, 11, 27, 3, 12, tzinfo=timezone.utc)
    (first,) = diff.events(
        ProjectReport("p", "sandbox", "r", now, warnings=(warning,), new_warnings=(warning,))
    )
    assert first.line == (
        "2026-11-27T03:12:00Z WARNING gpu-1 idle: CPU 0.4 % for 47 min, costing $2.93/h"
    )
    for what in ("instances", "project"):
        unread = ProjectReport("p", "sandbox", "r", now, errors=(ReadError(what, "down"),))
        assert diff.events(unread) == [], "not knowing is not 'resolved'"
    kinds = [e.kind for e in diff.events(ProjectReport("p", "sandbox", "r", now))]
    assert kinds == ["RECOVERED", "RESOLVED"]
