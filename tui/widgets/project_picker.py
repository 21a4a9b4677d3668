"""`:project` without a name: pick one of the projects the credentials can see."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.inert import cloud_text
from tui.services.clients import Backend
from tui.services.errors import CloudpaneError
from tui.widgets.literal import Label, Static


class ProjectPickerScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "close", "Cancel")]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Switch project", classes="dialog-title")
            yield Static("Loading the projects you can open…", id="picker-message")
            yield OptionList(id="picker-projects")

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        from tui.services.projects import list_projects

        message = self.query_one("#picker-message", Static)
        try:
            projects = await list_projects(self.backend)
        except CloudpaneError as error:
            message.update(f"{error.message} {error.hint} (:project NAME still works)")
            return
        options = self.query_one(OptionList)
        current_index = 0
        for index, project in enumerate(projects):
            if project.project_id == self.backend.project:
                current_index = index
            current = " (current)" if project.project_id == self.backend.project else ""
            label = f"{project.project_id}  {project.display_name}{current}"
            # A display name is anyone's text: literal, never markup (tui/inert.py).
            options.add_option(Option(cloud_text(label), id=project.project_id))
        message.update(f"{len(projects)} project(s). enter switches, esc cancels.")
        if projects:
            options.highlighted = current_index
        options.focus()

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)
