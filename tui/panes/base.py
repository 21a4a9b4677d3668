"""What every pane shares: the connection it works on, its palette actions, error display."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState

from tui.services.errors import CloudpaneError, ReadOnly, translate

if TYPE_CHECKING:
    from tui.services.connect import Connection


@dataclass(frozen=True)
class PaletteAction:
    """An action of a pane, offered in the command palette."""

    title: str
    help: str
    action: str  # the pane's action name, without the `action_` prefix
    mutating: bool = False


class Pane(Vertical):
    """A tab's content. It starts working once the app tells it the backend is ready."""

    PALETTE: tuple[PaletteAction, ...] = ()

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.connection: Connection | None = None

    def backend_ready(self, connection: Connection) -> None:
        self.connection = connection

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Worker state messages do not bubble: each pane turns its failures into a message."""
        report_worker_failure(self, event)

    def show_error(self, error: CloudpaneError) -> None:
        self.app.notify(
            f"{error.message}\n{error.hint}".strip(),
            title=error.title,
            severity="error",
            timeout=12,
        )

    def writable(self, what: str) -> bool:
        """False (with a message) when the app is read-only."""
        if getattr(self.app, "read_only", False):
            self.show_error(
                ReadOnly(f"cloudpane is read-only: cannot {what}.", "Start it without --read-only.")
            )
            return False
        return True

    def focus_main(self) -> None:
        """Give focus to the pane's main widget (its table)."""

    def start_filter(self) -> None:
        """Open the pane's filter input (`/`)."""


def report_worker_failure(node: Vertical | ModalScreen, event: Worker.StateChanged) -> None:
    """Show a failed worker's error as a notification instead of a traceback."""
    if event.state != WorkerState.ERROR or event.worker.error is None:
        return
    error = translate(event.worker.error, event.worker.description or "")
    node.app.notify(
        f"{error.message}\n{error.hint}".strip(), title=error.title, severity="error", timeout=12
    )
