"""The tuning screen's dialogs: one trial's logs, and the best trial's parameters to export."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from rich.syntax import Syntax
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import RichLog
from textual.worker import Worker, WorkerState

from tui.inert import cloud_text, visible_lines
from tui.services.errors import translate
from tui.widgets.literal import Label, Static

if TYPE_CHECKING:
    from tui.services.tuning import TuningJob, TuningService


def notify_worker_failure(screen: ModalScreen[None], event: Worker.StateChanged) -> None:
    if event.state != WorkerState.ERROR or event.worker.error is None:
        return
    error = translate(event.worker.error, event.worker.description or "")
    screen.app.notify(
        f"{error.message}\n{error.hint}".strip(), title=error.title, severity="error", timeout=12
    )


class TrialLogsScreen(ModalScreen[None]):
    """The last lines of one trial (Cloud Logging entries labelled with its trial_id)."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("r", "reload", "Reload"),
    ]
    LINES = 500

    def __init__(self, service: TuningService, job: TuningJob, trial_id: str) -> None:
        super().__init__()
        self.service = service
        self.job = job
        self.trial_id = trial_id
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="trial-logs"):
            yield Label(
                f"Trial {self.trial_id} of {self.job.display_name} — logs", classes="dialog-title"
            )
            yield RichLog(id="trial-log", wrap=True, markup=False, highlight=False)
            yield Label("esc close · r reload", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    @work(exclusive=True, group="trial-logs", exit_on_error=False, description="read trial logs")
    async def _load(self) -> None:
        entries = await self.service.trial_logs(self.job, self.trial_id, self.LINES)
        log = self.query_one(RichLog)
        log.clear()
        self.lines = [f"{e.task_name or '-':<14} {e.severity[:1]} {e.text}" for e in entries]
        for line in self.lines or ["(no log lines yet)"]:
            log.write(cloud_text(line))  # log lines are cloud text: escaped, literal

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        notify_worker_failure(self, event)

    def action_close(self) -> None:
        self.dismiss(None)


def export_filename(job: TuningJob) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", job.display_name.lower()).strip("-")[:40] or "tuning"
    return f"{slug}-best-params.yaml"


class ExportScreen(ModalScreen[None]):
    """The best trial's parameters as YAML and as trainer flags: copy them, or save the YAML."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("y", "copy_yaml", "Copy YAML"),
        Binding("f", "copy_flags", "Copy flags"),
        Binding("w", "write", "Save YAML"),
    ]

    def __init__(self, job: TuningJob, folder: Path | None = None) -> None:
        from tui.services.tuning import best_params_flags, best_params_yaml

        super().__init__()
        self.job = job
        self.yaml_text = best_params_yaml(job)
        self.flags_text = " ".join(best_params_flags(job))
        self.folder = folder or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="export-dialog"):
            yield Label(f"Best trial of {self.job.display_name}", classes="dialog-title")
            with VerticalScroll():
                yield Static(
                    Syntax(visible_lines(self.yaml_text), "yaml", theme="ansi_dark", word_wrap=True)
                )
                yield Label("As trainer flags:")
                yield Static(self.flags_text, id="export-flags", markup=False)
            yield Label(
                f"y copy YAML · f copy flags · w save to ./{export_filename(self.job)} · esc close",
                classes="dialog-hint",
            )

    def action_copy_yaml(self) -> None:
        self.app.copy_to_clipboard(self.yaml_text)
        self.app.notify("The best parameters (YAML) are on the clipboard.", timeout=4)

    def action_copy_flags(self) -> None:
        self.app.copy_to_clipboard(self.flags_text)
        self.app.notify("The best parameters (flags) are on the clipboard.", timeout=4)

    def action_write(self) -> None:
        path = self.folder / export_filename(self.job)
        try:
            path.write_text(self.yaml_text, encoding="utf-8")
        except OSError as exc:
            self.app.notify(f"Could not write {path}: {exc}", severity="error", timeout=8)
            return
        self.app.notify(f"Saved {path}", timeout=6)

    def action_close(self) -> None:
        self.dismiss(None)
