"""A strip of long-running operations, each with a progress bar until it is DONE."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar


class OperationRow(Horizontal):
    def __init__(self, key: str, description: str) -> None:
        super().__init__(id=key)
        self.description = description

    def compose(self) -> ComposeResult:
        yield Label(f"⟳ {self.description}")
        yield ProgressBar(total=100, show_eta=False)

    def set_progress(self, status: str, progress: int) -> None:
        self.query_one(Label).update(f"⟳ {self.description} — {status.lower()}")
        bar = self.query_one(ProgressBar)
        # Google often reports 0 until the end: show an indeterminate bar until it moves.
        bar.update(total=100 if progress else None, progress=progress)


class OperationsBar(Vertical):
    """Operations in flight; a row appears when one starts and goes when it ends."""

    _counter = 0

    def start(self, description: str) -> str:
        OperationsBar._counter += 1
        key = f"op-{OperationsBar._counter}"
        self.mount(OperationRow(key, description))
        return key

    def update_op(self, key: str, status: str, progress: int) -> None:
        for row in self.query(OperationRow):
            if row.id == key:
                row.set_progress(status, progress)

    def finish(self, key: str) -> None:
        for row in self.query(OperationRow):
            if row.id == key:
                row.remove()
