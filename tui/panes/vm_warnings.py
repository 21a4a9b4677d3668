"""Turn-off warnings and auto-stop: see what costs money for nothing and act on one key."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Switch
from textual.widgets.option_list import Option

from tui.format import utcnow
from tui.services import policy
from tui.services.idle_stop import IdleStop
from tui.services.models import Instance
from tui.services.policy import TurnOffWarning
from tui.widgets.literal import DataTable, Input, Label, Static


@dataclass(frozen=True)
class WarningChoice:
    """What the person chose in the warnings list."""

    action: str  # "stop", "snooze", "auto_stop"
    warning: TurnOffWarning


class WarningsScreen(ModalScreen[WarningChoice | None]):
    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("t", "choose('stop')", "Stop now"),
        Binding("z", "choose('snooze')", "Snooze"),
        Binding("a", "choose('auto_stop')", "Set auto-stop"),
    ]

    def __init__(self, warnings: list[TurnOffWarning]) -> None:
        super().__init__()
        self.warnings = warnings

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Turn-off warnings", classes="dialog-title")
            if not self.warnings:
                yield Static("Nothing is costing money for nothing right now.")
            table: DataTable[str] = DataTable(id="warnings-table", cursor_type="row")
            table.add_columns("Instance", "Rule", "Evidence")
            for index, warning in enumerate(self.warnings):
                table.add_row(
                    warning.instance_name, warning.title, warning.evidence, key=str(index)
                )
            yield table
            yield Label(
                "t stop now · z snooze · a set auto-stop · esc close", classes="dialog-hint"
            )

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def action_choose(self, action: str) -> None:
        table = self.query_one(DataTable)
        if not self.warnings:
            return
        warning = self.warnings[table.cursor_row]
        if action != "snooze" and warning.instance_id.startswith("("):
            self.app.notify(
                "This warning is about the whole project, not one instance: "
                "snooze it, or stop instances from the list.",
                severity="warning",
            )
            return
        self.dismiss(WarningChoice(action, warning))

    def action_close(self) -> None:
        self.dismiss(None)


def snooze_options(now: datetime) -> list[tuple[str, datetime]]:
    """Sensible snooze ends in local time: 30 min, 1 h, 4 h, tomorrow 9:00, Monday 9:00."""
    local = now.astimezone()
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(9), local.tzinfo)
    monday = datetime.combine(
        local.date() + timedelta(days=(7 - local.weekday()) % 7 or 7), time(9), local.tzinfo
    )
    return [
        ("30 minutes", now + timedelta(minutes=30)),
        ("1 hour", now + timedelta(hours=1)),
        ("4 hours", now + timedelta(hours=4)),
        ("until tomorrow 09:00", tomorrow),
        ("until Monday 09:00", monday),
    ]


class SnoozeScreen(ModalScreen[datetime | None]):
    BINDINGS = [Binding("escape", "close", "Cancel")]

    def __init__(self, warning: TurnOffWarning) -> None:
        super().__init__()
        self.warning = warning
        self.options = snooze_options(utcnow())

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Snooze: {self.warning.message}", classes="dialog-title")
            yield OptionList(
                *[Option(label, id=str(i)) for i, (label, _) in enumerate(self.options)]
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[int(event.option.id or 0)][1])

    def action_close(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class AutoStop:
    """Server-side stop: after a run length, or at a time; both None clears it."""

    max_run_seconds: int | None = None
    termination_time: datetime | None = None
    # The instance is running: stop it, set the limit, start it again (Google changes a
    # run-time limit only on a stopped instance).
    restart: bool = False
    # The on-VM idle watcher: add (settings) or remove (None) — only when `idle_change`.
    idle_change: bool = False
    idle: IdleStop | None = None
    limit_change: bool = True  # False: the run-time limit was left as it was


def parse_auto_stop(text: str) -> AutoStop | str:
    """The dialog's reading of the one auto-stop syntax (services.policy): a limit per run,
    or why the text is not one."""
    try:
        return AutoStop(max_run_seconds=policy.parse_auto_stop(text))
    except policy.AutoStopSyntaxError as problem:
        return str(problem)


class AutoStopScreen(ModalScreen[AutoStop | None]):
    """Set or clear an instance's server-side auto-stop (it works with the laptop closed)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, instance: Instance, idle: IdleStop | None = None) -> None:
        super().__init__()
        self.instance = instance
        self.idle = idle or IdleStop()  # the watcher's thresholds: the idle rule's
        self.had_idle = instance.idle_stop_minutes is not None
        seconds = instance.max_run_seconds
        self.current_text = f"{seconds / 3600:g}" if seconds else ""

    @property
    def needs_restart(self) -> bool:
        return self.instance.status not in ("TERMINATED", "STOPPED")

    def compose(self) -> ComposeResult:
        current = self.instance.stops_at()
        now_text = (
            f"Now: stops at {current.astimezone():%a %H:%M}." if current else "Now: no auto-stop."
        )
        with Vertical(classes="dialog form"):
            yield Label(f"Auto-stop {self.instance.name}", classes="dialog-title")
            yield Static(
                f"{now_text} Google stops the instance at the deadline even when "
                "cloudpane is closed."
            )
            if self.needs_restart:
                yield Static(
                    f"{self.instance.name} is {self.instance.status}. Google changes the run-time "
                    "limit only on a stopped instance, so cloudpane will stop it, set the limit "
                    "and start it again: about a minute without the machine; processes and "
                    "anything in memory end, disks are kept. The limit counts from the restart.",
                    id="restart-note",
                )
            yield Label(
                f"Stop after each start ({policy.AUTO_STOP_EXAMPLES}):", classes="field-label"
            )
            yield Input(self.current_text, id="auto-stop-input", placeholder="4h")
            yield Label(
                f"Idle stop: {self.idle.describe()} (from its next boot)",
                classes="field-label",
            )
            yield Switch(value=self.had_idle, id="idle-stop")
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                label = "Stop, set, start" if self.needs_restart else "Set"
                yield Button(
                    label, id="set", variant="warning" if self.needs_restart else "primary"
                )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#set")
    def _set(self) -> None:
        result = parse_auto_stop(self.query_one(Input).value)
        if isinstance(result, str):
            self.query_one("#form-error", Static).update(result)
            return
        wanted = self.query_one("#idle-stop", Switch).value
        limit_change = self.query_one(Input).value.strip() != self.current_text
        idle_change = wanted != self.had_idle
        if not (limit_change or idle_change):
            self.dismiss(None)  # nothing to do: no stop, no restart
            return
        self.dismiss(
            replace(
                result,
                restart=self.needs_restart,
                idle_change=idle_change,
                idle=self.idle if wanted else None,
                limit_change=limit_change,
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
