"""Transfers in flight, app-wide: stop them, and know what each one left behind.

Every upload or download batch registers a TransferRecord while it runs. Stopping one (the
person cancels, or quits cloudpane) sets its stop flag; the worker threads notice at their next
read or write, abort the request in progress, and record what each file was left as. The
record's `outcome()` is then a sentence a person can trust ("2 of 5 files uploaded; the other
3 were not created").

Why this is safe for the cloud: Cloud Storage creates an object only when its last byte
arrived, so a stopped upload leaves no object at all (a resumable session without its last
chunk holds nothing visible and expires on its own); a stopped download leaves no file under
the final name (its bytes went to a temporary name that is removed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from tui.services.errors import CloudpaneError

Direction = Literal["upload", "download"]


class TransferCancelled(CloudpaneError):
    title = "Transfer stopped"


@dataclass(eq=False)
class TransferRecord:
    """One upload or download batch while it runs (and, once stopped, what it left)."""

    direction: Direction
    bucket: str
    files_total: int
    first_name: str = ""  # named in messages when the batch is one file
    stop_flag: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    completed: list[str] = field(default_factory=list)  # object names (or local paths)
    stopped: list[str] = field(default_factory=list)  # cut off by the stop flag
    failed: list[str] = field(default_factory=list)  # failed for another reason
    in_flight: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def cancelled(self) -> bool:
        return self.stop_flag.is_set()

    def cancel(self) -> None:
        """Ask the worker threads to stop; they abort at their next read or write."""
        self.stop_flag.set()

    def check(self, name: str) -> None:
        """Raise TransferCancelled when the batch was stopped (called from worker threads)."""
        if self.stop_flag.is_set():
            raise TransferCancelled(f"The {self.direction} of {name} was stopped.")

    def begin(self, name: str) -> None:
        with self.lock:
            self.in_flight.add(name)

    def end(self, name: str, outcome: Literal["completed", "stopped", "failed"]) -> None:
        with self.lock:
            self.in_flight.discard(name)
            getattr(self, outcome).append(name)

    def wait(self, timeout: float) -> bool:
        """Block until every worker thread of the batch has ended; False on timeout."""
        return self.finished.wait(timeout)

    @property
    def title(self) -> str:
        files = f"{self.files_total} file{'s' if self.files_total != 1 else ''}"
        if self.files_total == 1 and self.first_name:
            files = self.first_name
        where = "to" if self.direction == "upload" else "from"
        return f"{self.direction} of {files} {where} gs://{self.bucket}"

    def on_quit(self) -> str:
        """What quitting now does to this batch (said before the person confirms)."""
        with self.lock:
            done = len(self.completed)
        so_far = f" ({done} of {self.files_total} finished so far)" if done else ""
        if self.direction == "upload":
            return (
                f"{self.title} will stop{so_far}: finished files stay in the bucket, "
                "unfinished ones are not created — no partial object is kept."
            )
        return (
            f"{self.title} will stop{so_far}: finished files stay on disk, unfinished ones "
            "are removed — no partial file is left under its name."
        )

    def outcome(self) -> str:
        """What the batch left, once it ended or was stopped."""
        with self.lock:
            done, stopped = len(self.completed), len(self.stopped)
            failed, running = len(self.failed), len(self.in_flight)
            untouched = self.files_total - done - stopped - failed - running
        verb = "uploaded" if self.direction == "upload" else "downloaded"
        parts = [f"{self.title}: {done} of {self.files_total} {verb} completely"]
        if stopped or untouched > 0:
            gone = "not created" if self.direction == "upload" else "not saved (nothing partial)"
            parts.append(f"{stopped + max(untouched, 0)} stopped and {gone}")
        if failed:
            parts.append(f"{failed} failed earlier")
        if running:
            unknown = (
                "still sending when cloudpane quit: each becomes an object only if its last "
                "byte arrived — check the bucket"
                if self.direction == "upload"
                else "still receiving when cloudpane quit: only hidden .cloudpane-partial "
                "files can remain, never one under its final name"
            )
            parts.append(f"{running} {unknown}")
        return "; ".join(parts) + "."


_ACTIVE: list[TransferRecord] = []
_ACTIVE_LOCK = threading.Lock()


def register(record: TransferRecord) -> TransferRecord:
    with _ACTIVE_LOCK:
        _ACTIVE.append(record)
    return record


def unregister(record: TransferRecord) -> None:
    with _ACTIVE_LOCK:
        if record in _ACTIVE:
            _ACTIVE.remove(record)
    record.finished.set()


def active_transfers() -> list[TransferRecord]:
    """The batches running now, oldest first."""
    with _ACTIVE_LOCK:
        return list(_ACTIVE)


def cancel_all() -> list[TransferRecord]:
    """Stop every running batch; returns them, to wait on and report."""
    records = active_transfers()
    for record in records:
        record.cancel()
    return records
