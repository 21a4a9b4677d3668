"""`cloudpane watch`: a headless loop that prints each new event once, for systemd or tmux.

One line per event, timestamped (UTC), in a stable format that grep and log shippers can rely on:

    2026-11-27T03:12:00Z START watching my-project (Google Cloud) every 60 s
    2026-11-27T03:12:00Z WARNING gpu-1 idle: CPU 0.4 % for 47 min, costing $2.93/h
    2026-11-27T03:40:00Z RESOLVED gpu-1 idle
    2026-11-27T03:41:00Z JOB depth-tune (8812) RUNNING -> FAILED: the replica exited with 1
    2026-11-27T03:42:00Z ERROR could not read instances: … (retrying in 120 s)
    2026-11-27T03:44:00Z RECOVERED the project is readable again
    2026-11-27T03:50:00Z STOP SIGTERM received, exiting

Each event also runs the optional hook (`--hook CMD` or config `hook`) with the details in
CLOUDPANE_* environment variables (tui.alerts.run_hook). SIGTERM and SIGINT end it cleanly
(exit 0, a final STOP line), even while a read is stuck in retries.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from tui.cli.report import ProjectReport, ReadError, gather, iso
from tui.inert import visible

if TYPE_CHECKING:
    from tui.config import Config
    from tui.services.clients import Backend

DEFAULT_INTERVAL = 60.0
MAX_BACKOFF = 900.0  # an unreadable project is retried at least every 15 minutes
HOOK_GRACE = 5.0  # seconds to let running hooks finish at exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `watch` verb's own options."""
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between reads of the project (default {DEFAULT_INTERVAL:g})",
    )
    parser.add_argument(
        "--hook", default=None, metavar="CMD", help="command run per event (overrides config hook)"
    )
    parser.add_argument("--once", action="store_true", help="read once, print the events, exit")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


@dataclass(frozen=True)
class Event:
    """One line of output and the hook's fields."""

    kind: str  # START WARNING RESOLVED JOB ERROR RECOVERED STOP
    text: str  # what follows the kind on the line
    fields: dict[str, str] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def line(self) -> str:
        """The printed line: the text's cloud values (names, errors) visibly escaped, so no
        escape sequence reaches the terminal or the log it is piped to."""
        return f"{iso(self.at)} {self.kind} {visible(self.text)}"


_SPACES = re.compile(r"[ \t\n]+")


def _one_line(text: str) -> str:
    """Events are one line each, whatever a cloud error message holds: runs of spaces, tabs
    and newlines become one space. Only those: a carriage return, U+2028 or another control
    in a name stays itself, for `Event.line` to show escaped (`x\\rFORGED`), not disguised
    as a space."""
    return _SPACES.sub(" ", text).strip()


@dataclass
class EventDiff:
    """Remembers what was already said, and turns each new report into the events since."""

    warned: dict[tuple[str, str], str] = field(default_factory=dict)  # key → instance name
    job_states: dict[str, str] | None = None  # job name → state; None before the first read
    failing: bool = False

    def events(self, report: ProjectReport) -> list[Event]:
        now = report.generated_at
        found: list[Event] = []
        if report.errors:
            self.failing = True
        elif self.failing:
            self.failing = False
            found.append(Event("RECOVERED", "the project is readable again", {}, now))
        if report.instances_available:
            current = {w.key for w in report.warnings}
            for key in [k for k in self.warned if k not in current]:
                name = self.warned.pop(key)
                found.append(
                    Event(
                        "RESOLVED",
                        f"{name} {key[1]}",
                        {"instance": name, "rule": key[1], "message": f"{name}: {key[1]} cleared"},
                        now,
                    )
                )
            for warning in report.new_warnings:
                self.warned[warning.key] = warning.instance_name
                found.append(
                    Event(
                        "WARNING",
                        _one_line(f"{warning.instance_name} {warning.rule}: {warning.evidence}"),
                        {
                            "instance": warning.instance_name,
                            "rule": warning.rule,
                            "message": warning.message,
                        },
                        now,
                    )
                )
        if report.jobs_available:
            states = {job.name: job.state for job in report.jobs}
            if self.job_states is not None:  # the first read is the baseline, not news
                for job in report.jobs:
                    before = self.job_states.get(job.name)
                    if before == job.state:
                        continue
                    old = before.removeprefix("JOB_STATE_") if before else "NEW"
                    text = f"{job.display_name} ({job.id}) {old} -> {job.status}"
                    if job.reason and job.status == "FAILED":
                        text += f": {job.reason}"
                    found.append(
                        Event(
                            "JOB",
                            _one_line(text),
                            {
                                "job": job.display_name,
                                "job_id": job.id,
                                "job_name": job.name,
                                "state": job.status,
                                "previous_state": old,
                                "message": _one_line(text),
                            },
                            now,
                        )
                    )
            self.job_states = states
        return found


class DaemonThreadExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each blocking call in a daemon thread, so exit never waits for a read in retries.

    The default executor's threads are joined at interpreter exit: a Google read retrying for
    30 s would hold SIGTERM's clean exit hostage.
    """

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:  # type: ignore[override]
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def target() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=target, daemon=True, name="cloudpane-watch-read").start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


class Watcher:
    """The loop: read, print what is new, run hooks, sleep (longer after errors), until stopped."""

    def __init__(
        self,
        backend: Backend,
        config: Config,
        *,
        interval: float = DEFAULT_INTERVAL,
        hook: str | None = None,
        out: TextIO | None = None,
    ) -> None:
        from tui.services.policy import WarningTracker
        from tui.services.spend_ledger import SpendStore
        from tui.services.warning_state import WarningState

        self.backend = backend
        self.config = config
        self.interval = interval
        self.hook = hook
        self.out = out or sys.stdout
        self.tracker = WarningTracker(state=WarningState.in_state_dir(backend.project, "watch"))
        self.spend = SpendStore.in_state_dir(backend.project)
        self.ledger = self.spend.load()
        self.diff = EventDiff()
        self.failures = 0
        self.hooks: list[threading.Thread] = []
        self.stop_reason: str | None = None
        self.once = False

    def emit(self, event: Event) -> None:
        print(event.line, file=self.out, flush=True)
        if self.hook:
            from tui.alerts import run_hook

            fields = {**event.fields, "line": event.line, "time": iso(event.at) or ""}
            self.hooks = [t for t in self.hooks if t.is_alive()]
            self.hooks.append(run_hook(self.hook, event.kind.lower(), fields))

    async def poll(self) -> float:
        """One read; returns the seconds to wait before the next."""
        try:
            report = await gather(
                self.backend, self.config, tracker=self.tracker, ledger=self.ledger
            )
            self.spend.save(self.ledger, report.generated_at)
        except Exception as exc:  # a bug must not end an unattended watch: say it, keep going
            from tui.services.errors import translate

            error = translate(exc, "read the project")
            report = ProjectReport(
                self.backend.project,
                self.backend.label,
                self.backend.region,
                datetime.now(timezone.utc),
                errors=(ReadError("project", error.message, error.hint),),
            )
        for event in self.diff.events(report):
            self.emit(event)
        if not report.errors:
            self.failures = 0
            return self.interval
        self.failures += 1
        delay = min(self.interval * 2**self.failures, max(MAX_BACKOFF, self.interval))
        problems = "; ".join(f"could not read {e.what}: {e.text}" for e in report.errors)
        retry = "" if self.once else f" (retrying in {delay:.0f} s)"
        self.emit(
            Event(
                "ERROR",
                _one_line(problems + retry),
                {"message": _one_line(problems)},
                report.generated_at,
            )
        )
        return delay

    async def run(self, stop: asyncio.Event, once: bool = False) -> int:
        self.once = once
        self.emit(
            Event(
                "START",
                f"watching {self.backend.project} ({self.backend.label}) every {self.interval:g} s",
                {"project": self.backend.project},
            )
        )
        waiter = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                reading = asyncio.ensure_future(self.poll())
                await asyncio.wait({reading, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()  # stopped mid-read: the daemon thread is abandoned
                    break
                delay = reading.result()
                if once:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter), timeout=delay)
        finally:
            waiter.cancel()
        reason = self.stop_reason or ("one read done (--once)" if once else "stopped")
        self.emit(Event("STOP", f"{reason}, exiting", {"message": reason}))
        self.finish_hooks()
        return 0

    def finish_hooks(self) -> None:
        """Give running hooks a moment: the last events' notifications should still go out."""
        deadline = time.monotonic() + HOOK_GRACE
        for thread in self.hooks:
            thread.join(max(0.0, deadline - time.monotonic()))


async def _main(watcher: Watcher, once: bool) -> int:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(DaemonThreadExecutor())
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        watcher.stop_reason = f"{signal.Signals(signum).name} received"
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        # Windows, or not the main thread: the default handlers stay.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal, signum)
    return await watcher.run(stop, once)


def run_watch(
    backend: Backend,
    config: Config,
    interval: float = DEFAULT_INTERVAL,
    hook: str | None = None,
    once: bool = False,
    *,
    out: TextIO | None = None,
) -> int:
    """Watch until SIGTERM/SIGINT (or one read with `once`); returns the exit code (0)."""
    watcher = Watcher(backend, config, interval=interval, hook=hook or config.hook, out=out)
    return asyncio.run(_main(watcher, once))


def watch_command(
    args: argparse.Namespace,
    config: Config,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`cloudpane watch`: connect as the TUI does, then watch. Exit 2 if it cannot connect."""
    from tui.services.connect import connect
    from tui.services.errors import CloudpaneError

    err = err or sys.stderr
    try:
        connection = connect(getattr(args, "project", None), bool(args.sandbox), config)
    except CloudpaneError as exc:
        print(f"cloudpane watch: {visible(exc.message)}", file=err)
        if exc.hint:
            print(f"  {visible(exc.hint)}", file=err)
        return 2
    if connection.note:
        print(visible(connection.note), file=err)
    return run_watch(
        connection.backend,
        config,
        interval=float(getattr(args, "interval", DEFAULT_INTERVAL)),
        hook=getattr(args, "hook", None),
        once=bool(getattr(args, "once", False)),
        out=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tui.cli.watch` (the verb without the main CLI)."""
    from tui.cli import standalone_main

    return standalone_main("cloudpane watch", add_arguments, watch_command, argv)


if __name__ == "__main__":
    sys.exit(main())
