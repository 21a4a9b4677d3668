"""A reusable yes/no dialog; destructive actions can require the resource name typed back."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button

from tui.widgets.literal import Input, Label, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only when the person confirms (and typed the name, if asked)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        body: str,
        *,
        confirm_label: str = "Confirm",
        type_to_confirm: str | None = None,
        danger: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label
        self.type_to_confirm = type_to_confirm
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(self.title_text, id="dialog-title", classes="dialog-title")
            yield Static(self.body, id="dialog-body", markup=False)
            if self.type_to_confirm is not None:
                yield Label(f"Type {self.type_to_confirm} to confirm:")
                yield Input(placeholder=self.type_to_confirm, id="confirm-name")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(
                    self.confirm_label,
                    id="confirm",
                    variant="error" if self.danger else "primary",
                    disabled=self.type_to_confirm is not None,
                )

    def on_mount(self) -> None:
        if self.type_to_confirm is not None:
            self.query_one("#confirm-name", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    @on(Input.Changed, "#confirm-name")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.type_to_confirm

    @on(Input.Submitted, "#confirm-name")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value == self.type_to_confirm:
            self.dismiss(True)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
