"""A strip of long-running operations, each with a progress bar until it is DONE.

Also what quitting does to work in flight: `work_in_flight` lists the operations of every
pane and the transfers of the services, each with what happens to it on quit; `quit_safely`
asks first, stops the local transfers cleanly and returns the summary printed after exit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar

from tui.services import transfer_control
from tui.widgets.literal import Label

if TYPE_CHECKING:
    from textual.app import App

STOP_WAIT_SECONDS = 5.0  # how long quitting waits for stopped transfers to end


class OperationRow(Horizontal):
    def __init__(self, key: str, description: str, on_quit: str | None = None) -> None:
        super().__init__(id=key)
        self.description = description
        self.on_quit = on_quit  # what quitting does to it; None: inferred (`quit_effect`)
        self.acknowledged = False  # Google answered with a status: it runs on Google's side

    def compose(self) -> ComposeResult:
        yield Label(f"⟳ {self.description}")
        yield ProgressBar(total=100, show_eta=False)

    def set_progress(self, status: str, progress: int) -> None:
        self.acknowledged = True
        self.query_one(Label).update(f"⟳ {self.description} — {status.lower()}")
        bar = self.query_one(ProgressBar)
        # Google often reports 0 until the end: show an indeterminate bar until it moves.
        bar.update(total=100 if progress else None, progress=progress)


class OperationsBar(Vertical):
    """Operations in flight; a row appears when one starts and goes when it ends."""

    _counter = 0

    def start(self, description: str, on_quit: str | None = None) -> str:
        """Show an operation; `on_quit` says what quitting cloudpane now would do to it."""
        OperationsBar._counter += 1
        key = f"op-{OperationsBar._counter}"
        self.mount(OperationRow(key, description, on_quit))
        return key

    def update_op(self, key: str, status: str, progress: int) -> None:
        for row in self.query(OperationRow):
            if row.id == key:
                row.set_progress(status, progress)

    def finish(self, key: str) -> None:
        for row in self.query(OperationRow):
            if row.id == key:
                row.remove()


# --- quitting with work in flight ---------------------------------------------------------------


@dataclass(frozen=True)
class InFlight:
    what: str  # "stop vm-1", "upload of a.bin to gs://b"
    on_quit: str  # the sentence shown before quitting
    record: transfer_control.TransferRecord | None = None  # a local transfer (stoppable)


def quit_effect(row: OperationRow) -> str:
    """What quitting does to an operation of a pane, from what it is and how far it got."""
    if row.on_quit:
        return row.on_quit
    what = row.description
    verb = what.split(" ", 1)[0]
    if verb == "submit":
        return (
            f"{what}: if Vertex AI already accepted the job it runs on (see the Jobs pane); "
            "otherwise no job is created."
        )
    if what.startswith("delete ") and " objects in " in what:
        return f"{what} stops: objects already deleted stay deleted, the others stay."
    if row.acknowledged:
        return f"{what} continues on Google's side; see its state when you come back."
    return f"{what} may have reached Google and would then finish there; check when you come back."


def work_in_flight(app: App[Any]) -> list[InFlight]:
    """Everything that quitting now would interrupt: transfers first, then operations."""
    found = [
        InFlight(record.title, record.on_quit(), record)
        for record in transfer_control.active_transfers()
    ]
    main = app.screen_stack[0] if app.screen_stack else None
    if main is not None:
        found += [InFlight(row.description, quit_effect(row)) for row in main.query(OperationRow)]
    return found


def quit_question(items: list[InFlight]) -> str:
    lines = [f"{len(items)} operation{'s are' if len(items) != 1 else ' is'} in flight:"]
    lines += [f"• {item.on_quit}" for item in items]
    lines.append("Quit anyway?")
    return "\n".join(lines)


async def stop_and_summarize(items: list[InFlight]) -> str:
    """Stop the local transfers, wait (briefly) until they ended, say what was left where."""
    records = [item.record for item in items if item.record is not None]
    for record in records:
        record.cancel()
    for record in records:
        await asyncio.to_thread(record.wait, STOP_WAIT_SECONDS)
    lines = ["cloudpane quit with work in flight:"]
    lines += [f"• {record.outcome()}" for record in records]
    lines += [f"• {item.on_quit}" for item in items if item.record is None]
    return "\n".join(lines)


async def quit_safely(app: App[Any]) -> str | None:
    """None: the person chose to stay. Otherwise the summary to print after exit ("" if idle)."""
    from tui.widgets.confirm import ConfirmScreen

    items = work_in_flight(app)
    if not items:
        return ""
    question = ConfirmScreen("Quit cloudpane?", quit_question(items), confirm_label="Quit")
    if not await app.push_screen_wait(question):
        return None
    # Looked at again: what finished while the question was open is no longer in flight.
    items = work_in_flight(app)
    return await stop_and_summarize(items) if items else ""
