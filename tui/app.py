"""The cloudpane App: a header (project, backend, zone, burn rate), one tab per pane, a footer.

Start-up stays instant: nothing here imports a google-cloud library. The connection (reading
credentials, starting the sandbox) runs in a thread worker after the first frame, and each pane
starts loading when it hears that the backend is ready.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from tui.services.pricing import JobsBurn, TickerFigures

from tui.config import Config
from tui.format import utcnow
from tui.gc_policy import GcPolicy
from tui.inert import visible, visible_lines
from tui.messages import JobCosts, VmCosts
from tui.panes.base import Pane
from tui.panes.buckets import BucketsPane
from tui.panes.jobs import JobsPane
from tui.panes.vms import VmsPane
from tui.services.connect import Connection, connect
from tui.services.errors import CloudpaneError, translate
from tui.widgets.literal import Input, Static

PANES = ("vms", "buckets", "jobs")
BACKGROUND_PANES_DELAY = 5.0  # seconds after connecting before hidden panes start loading
BACKGROUND_IDLE_SECONDS = 1.5  # … at the first pause in typing this long
BACKGROUND_PANES_LATEST = 30.0  # … or after this long, pause or not
GC_TICK_SECONDS = 2.0
# Columns the header keeps for "Sandbox project — nothing here is billed · PROJECT".
HEADER_LEFT_MINIMUM = 60


class StatusHeader(Horizontal):
    """One line: project · backend · zone on the left, the burn rate on the right.

    Says plainly when nothing is billed. At 80 columns the left part is cut, never the money.
    """

    def __init__(self) -> None:
        super().__init__(id="status-header")
        self.project = ""
        self.backend_text = "connecting…"
        self.zone = ""
        self.burn = ""
        self.costs_full = self.costs_short = ""

    def compose(self) -> ComposeResult:
        yield Static("cloudpane · connecting…", id="header-left")
        yield Static("", id="header-right")

    def set_connection(self, connection: Connection) -> None:
        backend = connection.backend
        self.project = backend.project
        self.zone = backend.zone
        if backend.is_sandbox:
            self.backend_text = "Sandbox project — nothing here is billed"
            self.add_class("sandbox")
        else:
            self.backend_text = "Google Cloud project"
            self.remove_class("sandbox")
        self.refresh_text()

    def set_burn(self, text: str) -> None:
        if text != self.burn:
            self.burn = text
            self.query_one("#header-right", Static).update(text)

    def show_costs(self, vms: TickerFigures | None, jobs: JobsBurn | None) -> None:
        """VMs and running training together: burn, today, the month's projection, and the
        date of the prices behind them. "≥" admits prices that are unknown (never $0)."""
        from tui.services import pricing

        if vms is None and jobs is None:
            return
        rate = today = 0.0
        unknown = False
        if vms is not None:
            rate += vms.burn.total
            today += vms.today.value
            unknown = bool(vms.burn.unknown or vms.today.unknown)
        if jobs is not None:
            rate += jobs.rate
            today += jobs.today
            unknown = unknown or bool(jobs.unknown)
        month_value = pricing.month_projection(rate, utcnow())
        at_least = "≥" if unknown else ""
        burn = at_least + pricing.format_rate(rate)
        spent = at_least + pricing.format_money(today)
        month = (at_least or "≈") + pricing.format_money(month_value, cents=False)
        label = pricing.get_catalog().as_of.isoformat()
        training = " incl. training" if jobs is not None and jobs.rate > 0 else ""
        self.costs_short = f"{burn}{training}  today {spent}  month {month}"
        self.costs_full = f"{self.costs_short}  prices {label}"
        self.fit_costs()

    def fit_costs(self) -> None:
        """The prices' date when the line has room for it next to the backend notice (at 80
        columns it has not: the money comes first, the date is in `?` and the docs)."""
        if not self.costs_full:
            return
        # The terminal's width, known from the start (this widget's own is 0 before layout).
        room = self.app.size.width - len(self.costs_full) >= HEADER_LEFT_MINIMUM
        self.set_burn(self.costs_full if room else self.costs_short)

    def on_resize(self) -> None:
        self.fit_costs()

    def refresh_text(self) -> None:
        # Most important first: at 80 columns the end is cut, never the sandbox notice.
        parts = [self.backend_text]
        if self.project:
            parts.append(self.project)
        if self.zone:
            parts.append(self.zone)
        self.query_one("#header-left", Static).update(" · ".join(parts))

    @property
    def text(self) -> str:
        left = self.query_one("#header-left", Static).render()
        return f"{left} {self.burn}".strip()


class ComingSoon(Static):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} — coming soon.", classes="coming-soon")


class CloudpaneApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "cloudpane"

    BINDINGS = [
        Binding("colon", "command_line", "Jump", key_display=":"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("1", "show_tab('vms')", "VMs", show=False),
        Binding("2", "show_tab('buckets')", "Buckets", show=False),
        Binding("3", "show_tab('jobs')", "Jobs", show=False),
    ]

    def __init__(
        self,
        config: Config | None = None,
        *,
        project: str | None = None,
        use_sandbox: bool = False,
        read_only: bool = False,
        connection: Connection | None = None,
    ) -> None:
        super().__init__()
        self.config = config or Config()
        self.cli_project = project
        self.use_sandbox = use_sandbox
        self.read_only = read_only or self.config.read_only
        self.connection: Connection | None = connection
        self._ready_panes: set[str] = set()
        self._connected_at = time.monotonic()
        self._background_timer: Timer | None = None
        self.gc_policy = GcPolicy()  # full collections only when idle: see tui/gc_policy.py
        self.vm_costs: TickerFigures | None = None
        self.job_costs: JobsBurn | None = None

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with TabbedContent(initial="vms"):
            with TabPane("VMs", id="vms"):
                yield VmsPane(id="vms-pane")
            with TabPane("Buckets", id="buckets"):
                yield BucketsPane(id="buckets-pane")
            with TabPane("Jobs", id="jobs"):
                yield JobsPane(id="jobs-pane")
        # Disabled while hidden, so it never takes the focus from the tables.
        yield Input(
            placeholder=":vms  :buckets  :jobs  :project NAME  :q", id="command-line", disabled=True
        )
        yield Footer()

    @on(VmCosts)
    def _vm_costs(self, message: VmCosts) -> None:
        self.vm_costs = message.figures
        self.show_costs()

    @on(JobCosts)
    def _job_costs(self, message: JobCosts) -> None:
        self.job_costs = message.burn
        self.show_costs()

    def show_costs(self) -> None:
        # query, not query_one: a figure may still arrive while the app shuts down.
        for header in self.query(StatusHeader):
            header.show_costs(self.vm_costs, self.job_costs)

    def on_mount(self) -> None:
        self.gc_policy.install()
        self.set_interval(GC_TICK_SECONDS, self.gc_policy.tick)
        pane = self.active_pane()
        if pane is not None:
            pane.focus_main()
        if self.read_only:
            self.sub_title = "read-only"
        if self.connection is not None:
            self._connected(self.connection)
        else:
            self.connect_backend()

    # ------------------------------------------------------------- connection
    @work(thread=True, exclusive=True, group="connect", exit_on_error=False)
    def connect_backend(self) -> None:
        connection = connect(self.cli_project, self.use_sandbox, self.config)
        self.call_from_thread(self._connected, connection)

    def _connected(self, connection: Connection) -> None:
        self.connection = connection
        self.query_one(StatusHeader).set_connection(connection)
        if connection.note:
            self.notify(connection.note, title="Sandbox", timeout=10)
        # The visible pane first. Each pane imports its client library (seconds of CPU, under
        # the GIL), so the hidden ones wait until shown or until the first data is on screen.
        self._ready_panes = set()
        self.wake_pane(self.active_pane())
        # Importing a client library holds the interpreter in long stretches; done while the
        # person types, it delays their keys. So the hidden panes wake at the first pause
        # after BACKGROUND_PANES_DELAY, and after BACKGROUND_PANES_LATEST at the latest (the
        # VMs pane's turn-off warnings must not wait for ever).
        self._connected_at = time.monotonic()
        if self._background_timer is not None:  # a project switch: start the wait again
            self._background_timer.stop()
        self._background_timer = self.set_interval(0.5, self._wake_background_when_idle)

    def _wake_background_when_idle(self) -> None:
        waited = time.monotonic() - self._connected_at
        idle = time.monotonic() - self.gc_policy.last_input >= BACKGROUND_IDLE_SECONDS
        if (waited >= BACKGROUND_PANES_DELAY and idle) or waited >= BACKGROUND_PANES_LATEST:
            if self._background_timer is not None:
                self._background_timer.stop()
                self._background_timer = None
            self.wake_all_panes()

    def on_unmount(self) -> None:
        self.gc_policy.uninstall()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown):
            self.gc_policy.saw_input()
        await super().on_event(event)

    def wake_pane(self, pane: Pane | None) -> None:
        if pane is None or self.connection is None or pane.id in self._ready_panes:
            return
        self._ready_panes.add(pane.id or "")
        pane.backend_ready(self.connection)

    def wake_all_panes(self) -> None:
        for pane in self.query(Pane):
            self.wake_pane(pane)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self) -> None:
        self.wake_pane(self.active_pane())

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed worker becomes a message instead of a traceback."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        error = translate(event.worker.error, event.worker.description or "")
        self.show_error(error)
        if event.worker.group == "connect":
            header = self.query_one(StatusHeader)
            header.backend_text = f"not connected: {error.title}"
            header.refresh_text()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is literal text, whatever the caller asked for.

        Notifications carry cloud text (job and object names, Google's error messages), and
        Textual parses a message as markup by default: `[@click=…]` would become an action
        and a bare `[/]` would raise. cloudpane never means markup in a notification, so it
        is switched off here, once, and controls and escape sequences are shown escaped.
        """
        super().notify(
            visible_lines(message),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def show_error(self, error: CloudpaneError) -> None:
        self.notify(
            f"{error.message}\n{error.hint}".strip(),
            title=error.title,
            severity="error",
            timeout=12,
        )

    # ---------------------------------------------------------------- actions
    def active_pane(self) -> Pane | None:
        active = self.query_one(TabbedContent).active
        panes = self.query_one(f"#{active}", TabPane).query(Pane)
        return panes.first() if panes else None

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        pane = self.active_pane()
        if pane is not None:
            pane.focus_main()

    def action_filter(self) -> None:
        pane = self.active_pane()
        if pane is not None:
            pane.start_filter()

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def action_command_line(self) -> None:
        line = self.query_one("#command-line", Input)
        line.disabled = False
        line.add_class("visible")
        line.value = ""
        line.focus()

    @on(Input.Submitted, "#command-line")
    def _run_command_line(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.input
        self.hide_command_line()
        self.run_command(line.value)

    def hide_command_line(self) -> None:
        line = self.query_one("#command-line", Input)
        line.remove_class("visible")
        line.disabled = True
        pane = self.active_pane()
        if pane is not None:
            pane.focus_main()

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        line = self.query_one("#command-line", Input)
        if key == "escape" and line.has_class("visible"):
            self.hide_command_line()

    def run_command(self, text: str) -> None:
        """k9s-style `:` commands."""
        words = text.strip().lstrip(":").split()
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        aliases = {
            "vm": "vms",
            "instances": "vms",
            "bucket": "buckets",
            "gcs": "buckets",
            "job": "jobs",
            "vertex": "jobs",
        }
        verb = aliases.get(verb, verb)
        if verb in PANES:
            self.action_show_tab(verb)
        elif verb == "q!":
            self.exit()
        elif verb in ("q", "quit"):
            self.request_quit()
        elif verb == "project":
            self.switch_project(args[0] if args else "")
        else:
            self.notify(
                f"Unknown command :{verb}. Try :vms, :buckets, :jobs, :project NAME or :q.",
                severity="warning",
            )

    def switch_project(self, project: str) -> None:
        if not project:
            if self.connection is None:
                self.notify("Not connected yet.", severity="warning")
                return
            from tui.widgets.project_picker import ProjectPickerScreen

            self.push_screen(ProjectPickerScreen(self.connection.backend), self._project_picked)
            return
        if self.connection and self.connection.backend.is_sandbox:
            self.notify(
                "The sandbox has one project. Start cloudpane with Google credentials "
                "to switch between real projects.",
                severity="warning",
            )
            return
        self.cli_project = project
        self.use_sandbox = False
        self.connect_backend()

    def _project_picked(self, project: str | None) -> None:
        if project and self.connection and project != self.connection.backend.project:
            self.switch_project(project)

    # ------------------------------------------------------------------- quit
    async def action_quit(self) -> None:
        """q, ctrl+q and :q: with work in flight, ask first (tui/widgets/operations.py)."""
        self.request_quit()

    def quit_pending(self) -> bool:
        """The quit question is open already (q again must not stack a second one)."""
        return any(w.group == "quit" and not w.is_finished for w in self.workers)

    def action_help_quit(self) -> None:
        """ctrl+c: quits the same careful way while work is in flight; else Textual's hint."""
        from tui.widgets.operations import work_in_flight

        if work_in_flight(self):
            self.request_quit()
        else:
            super().action_help_quit()

    def request_quit(self) -> None:
        if not self.quit_pending():
            self._quit_safely()

    @work(group="quit", exit_on_error=False, description="quit")
    async def _quit_safely(self) -> None:
        from tui.widgets.operations import quit_safely

        summary = await quit_safely(self)
        if summary is not None:  # None: the person chose to stay
            self.exit(message=summary or None)

    # ---------------------------------------------------------------- palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for tab in PANES:
            yield SystemCommand(
                f"Go to {tab}",
                f"Show the {tab} pane (:{tab})",
                lambda tab=tab: self.action_show_tab(tab),
            )
        pane = self.active_pane()
        if pane is None:
            return
        for item in pane.PALETTE:
            if item.mutating and self.read_only:
                continue
            yield SystemCommand(
                item.title,
                item.help,
                lambda name=item.action, p=pane: self.call_later(self.run_action, name, p),
            )
