"""What every pane shares: the connection it works on, its palette actions, error display."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets.data_table import RowDoesNotExist
from textual.worker import Worker, WorkerState

from tui.services.errors import CloudpaneError, ReadOnly, translate
from tui.widgets.literal import DataTable, Input, Static

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


class TablePane(Pane):
    """A pane whose main widget is a table, filtered by words typed after `/`.

    The filter box is an Input with the class `filter`; subclasses keep `filter_text` in mind
    when they render and implement `render_table`.
    """

    filter_text = ""

    def render_table(self) -> None:
        raise NotImplementedError

    def focus_main(self) -> None:
        self.query_one(DataTable).focus()

    def start_filter(self) -> None:
        box = self.query_one("Input.filter", Input)
        box.add_class("visible")
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "Input.filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.render_table()

    @on(Input.Submitted, "Input.filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def key_escape(self) -> None:
        box = self.query_one("Input.filter", Input)
        if box.has_class("visible"):
            box.remove_class("visible")
            box.value = ""
            self.filter_text = ""
            self.render_table()
            self.query_one(DataTable).focus()

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def set_message(self, text: str, error: bool = False) -> None:
        """The line above the table: counts, or what went wrong."""
        message = self.query_one(".pane-message", Static)
        message.update(text)
        message.set_class(error, "error")

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        if step > 0:
            table.action_cursor_down()
        else:
            table.action_cursor_up()


def report_worker_failure(node: Vertical | ModalScreen, event: Worker.StateChanged) -> None:
    """Show a failed worker's error as a notification instead of a traceback."""
    if event.state != WorkerState.ERROR or event.worker.error is None:
        return
    error = translate(event.worker.error, event.worker.description or "")
    node.app.notify(
        f"{error.message}\n{error.hint}".strip(), title=error.title, severity="error", timeout=12
    )
