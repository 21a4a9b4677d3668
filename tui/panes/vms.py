"""The VMs pane: Compute Engine instances across all zones, live, with their lifecycle actions."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets.data_table import RowDoesNotExist

from tui.alerts import announce_warnings
from tui.config import Config
from tui.format import until, uptime, utcnow
from tui.messages import VmCosts
from tui.panes.base import PaletteAction, TablePane
from tui.services import policy, pricing
from tui.services.errors import CloudpaneError, OperationFailed, translate
from tui.services.models import Instance, Operation
from tui.services.pricing import InstanceCost, format_money, format_rate
from tui.services.spend_ledger import SpendStore
from tui.services.warning_state import WarningState
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen, console_url
from tui.widgets.literal import DataTable, Input, Static
from tui.widgets.operations import OperationsBar

if TYPE_CHECKING:
    from tui.services.compute import ComputeService
    from tui.services.connect import Connection

# Money first after the name: at 80 columns what it costs must be on screen.
COLUMNS = (
    ("name", "Name", 18),
    ("status", "Status", 11),
    ("hourly", "$/h", 7),
    ("run", "This run", 15),
    ("machine", "Machine", 15),
    ("gpus", "GPUs", 9),
    ("uptime", "Uptime", 8),
    ("zone", "Zone", 14),
    ("autostop", "Auto-stop", 10),
    ("internal", "Internal IP", 13),
    ("external", "External IP", 15),
)
TICKING = ("run", "uptime", "autostop")  # the cells the 1 Hz ticker repaints
TICKING_INDEXES = tuple(i for i, (key, _, _) in enumerate(COLUMNS) if key in TICKING)

STATUS_STYLE = {
    "RUNNING": "green",
    "TERMINATED": "dim",
    "STOPPED": "dim",
    "SUSPENDED": "dim",
    "PROVISIONING": "yellow",
    "STAGING": "yellow",
    "STOPPING": "yellow",
    "SUSPENDING": "yellow",
    "REPAIRING": "red",
}

MAX_BACKOFF = 60.0
CPU_POLL_SECONDS = 60.0  # Cloud Monitoring samples once a minute; asking more often buys nothing
T = TypeVar("T")


def gpu_text(instance: Instance) -> str:
    if not instance.accelerators:
        return ""
    return ", ".join(
        f"{a.count}× {a.type.removeprefix('nvidia-').removeprefix('tesla-').upper()}"
        for a in instance.accelerators
    )


def cost_cells(instance: Instance, cost: InstanceCost | None) -> tuple[str, str]:
    """($/h, this run): what it costs while running; for a stopped one, what its disks cost."""
    if cost is None:
        return "", ""
    if instance.is_running:
        run = format_money(cost.run_cost) if cost.run_cost is not None else "price unknown"
        return format_rate(cost.hourly).removesuffix("/h"), run
    if cost.disks_monthly is None:
        return "—", "disks: price unknown"
    return "—", f"disks {format_money(cost.disks_monthly)}/mo"


def instance_row(
    instance: Instance, now: datetime, cost: InstanceCost | None = None, warned: bool = False
) -> tuple[str | Text, ...]:
    """The table cells of one instance, in COLUMNS order."""
    running = instance.is_running
    stop_at = instance.stops_at() if running else None
    hourly, run = cost_cells(instance, cost)
    name: str | Text = Text(f"⚠ {instance.name}", style="bold red") if warned else instance.name
    return (
        name,
        Text(instance.status, style=STATUS_STYLE.get(instance.status, "")),
        hourly,
        run,
        instance.machine_type,
        gpu_text(instance),
        uptime(instance.last_start, now) if running else "",
        instance.zone,
        auto_stop_text(instance, stop_at, now),
        instance.internal_ip or "",
        (instance.external_ip or "") if running else "",
    )


def auto_stop_text(instance: Instance, stop_at: datetime | None, now: datetime) -> str:
    """Google's deadline when there is one ('in 3h 04m'), else the on-VM idle watcher's
    ('idle 30m'): the column is narrow, and the deadline is the sooner certainty."""
    if stop_at is not None:
        return until(stop_at, now)
    minutes = instance.idle_stop_minutes
    return f"idle {minutes:g}m" if minutes is not None else ""


# From this many instances on, the ticker's figures are computed in a thread (see tick).
THREADED_TICK_FROM = 500

# A row's cells, and what they show in comparable form (see cell_keys).
Row = tuple[tuple[str | Text, ...], tuple[str, ...]]


def cell_keys(cells: tuple[str | Text, ...]) -> tuple[str, ...]:
    """What a row shows, comparable: text plus style for styled cells."""
    return tuple(f"{c}\x00{c.style}" if isinstance(c, Text) else c for c in cells)


def ticking_only(before: tuple[str, ...], now: tuple[str, ...]) -> bool:
    """Whether two renderings of a row differ only in the columns the ticker keeps moving."""
    return all(
        before[index] == now[index] for index in range(len(now)) if index not in TICKING_INDEXES
    )


def matches(instance: Instance, needle: str) -> bool:
    if not needle:
        return True
    haystack = " ".join(
        (
            instance.name,
            instance.zone,
            instance.status,
            instance.machine_type,
            gpu_text(instance),
            instance.internal_ip or "",
            instance.external_ip or "",
        )
    ).lower()
    return all(word in haystack for word in needle.lower().split())


class VmsPane(TablePane):
    BINDINGS = [
        Binding("n", "create", "New"),
        Binding("u", "start", "Start"),
        Binding("t", "stop", "Stop"),
        Binding("b", "reset", "Reset", show=False),
        Binding("m", "resize", "Machine type"),
        Binding("ctrl+d", "delete", "Delete"),
        Binding("o", "serial", "Serial out"),
        Binding("s", "ssh", "SSH"),
        Binding("a", "auto_stop", "Auto-stop"),
        Binding("w", "warnings", "Warnings"),
        Binding("enter", "details", "Details", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]

    PALETTE = (
        PaletteAction(
            "Create instance", "A new VM: machine type, GPUs, image, spot", "create", True
        ),
        PaletteAction("Start instance", "Start the selected instance", "start", True),
        PaletteAction("Stop instance", "Turn the selected instance off", "stop", True),
        PaletteAction("Reset instance", "Hard-reset the selected instance", "reset", True),
        PaletteAction(
            "Change machine type", "Make a stopped instance more powerful, or less", "resize", True
        ),
        PaletteAction(
            "Delete instance", "Delete the selected instance and its boot disk", "delete", True
        ),
        PaletteAction(
            "Set auto-stop", "Server-side stop after N hours or at a time", "auto_stop", True
        ),
        PaletteAction("Turn-off warnings", "What is costing money for nothing", "warnings"),
        PaletteAction("Serial port output", "Read the selected instance's console", "serial"),
        PaletteAction("SSH into instance", "Open a shell on the selected instance", "ssh"),
        PaletteAction("Instance details", "Full resource as YAML", "details"),
        PaletteAction("Refresh instances", "Reload the list now", "refresh"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.service: ComputeService | None = None
        self.instances: dict[str, Instance] = {}
        self.filter_text = ""
        self.poll_delay = 5.0
        self.failures = 0
        self.loaded = False
        self._poll_timer: Timer | None = None
        self.ledger = pricing.RunLedger()
        self.spend: SpendStore | None = None
        # The ledger is fed and read from worker threads (refresh and ticker may overlap).
        self.ledger_lock = threading.Lock()
        self.tracker = policy.WarningTracker()
        self.warnings: list[policy.TurnOffWarning] = []
        self.figures: pricing.TickerFigures | None = None
        self.cpu_samples: dict[str, list[tuple[datetime, float]]] = {}
        self.cpu_error_shown = False
        self.warned: set[str] = set()
        self.rendered: dict[str, tuple[str, ...]] = {}  # row key → what its cells show

    def compose(self) -> ComposeResult:
        yield Static("Connecting…", classes="pane-message", id="vms-message")
        table: DataTable[str | Text] = DataTable(
            id="vms-table", cursor_type="row", zebra_stripes=True
        )
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Input(
            placeholder="filter: words to match (esc clears)", id="vms-filter", classes="filter"
        )
        yield OperationsBar(id="vms-operations")

    MUTATING = frozenset({"create", "start", "stop", "reset", "resize", "delete", "auto_stop"})

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)
        self.set_interval(CPU_POLL_SECONDS, self.refresh_cpu)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode hides every mutating key (and Textual then refuses it)."""
        return not (action in self.MUTATING and getattr(self.app, "read_only", False))

    # ----------------------------------------------------------- data flow
    def backend_ready(self, connection: Connection) -> None:
        super().backend_ready(connection)
        self.poll_delay = float(self.app_config().refresh_seconds)
        self.service = None
        self.instances.clear()
        self.rendered.clear()
        self.query_one(DataTable).clear()
        self.set_message(f"Loading instances of {connection.backend.project}…")
        self.refresh_instances()

    async def get_service(self) -> ComputeService:
        if self.service is None:
            assert self.connection is not None

            def build() -> ComputeService:
                # google-cloud-compute takes seconds to import: never on the UI thread.
                from tui.services.compute import ComputeService

                assert self.connection is not None
                return ComputeService(self.connection.backend)

            self.service = await asyncio.to_thread(build)
            project = self.service.project
            # Snoozes, announced warnings and every run seen survive a restart (shared with
            # `status` and `watch`).
            self.tracker.state = WarningState.in_state_dir(project, "tui")
            self.spend = SpendStore.in_state_dir(project)
            loaded = await asyncio.to_thread(self.spend.load)
            with self.ledger_lock:
                self.ledger = loaded
        return self.service

    @work(exclusive=True, group="vms-poll", exit_on_error=False, description="list instances")
    async def refresh_instances(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if self.connection is None:
            return
        delay = self.poll_delay
        try:
            service = await self.get_service()
            started = time.monotonic()
            instances = await service.list_instances()
            # A project so big that listing it takes seconds is polled less often: the
            # listing's parsing competes with the UI for the interpreter.
            delay = max(self.poll_delay, 2 * (time.monotonic() - started))
            filter_text = self.filter_text
            assessment, rows = await asyncio.to_thread(self.prepare, instances, filter_text)
            self.apply(instances, assessment, rows if filter_text == self.filter_text else None)
            self.failures = 0
        except Exception as exc:
            error = translate(exc, "list instances")
            self.failures += 1
            delay = min(self.poll_delay * 2**self.failures, MAX_BACKOFF)
            self.set_message(f"{error.message} {error.hint} Retrying in {delay:.0f} s.", error=True)
            if self.failures == 1:
                self.show_error(error)
        finally:
            # Re-armed only after this poll finished: a slow cloud never piles up calls.
            self._poll_timer = self.set_timer(delay, self.refresh_instances)

    @work(exclusive=True, group="vms-cpu", exit_on_error=False, description="read CPU usage")
    async def refresh_cpu(self) -> None:
        """CPU utilisation from Cloud Monitoring, for the idle rule (kept on error)."""
        if self.connection is None:
            return
        running = [i for i in self.instances.values() if i.is_running]
        if not running:
            return
        rules = self.app_config().turn_off_rules()
        try:
            from tui.services.monitoring import MonitoringService

            service = MonitoringService(self.connection.backend)
            # More than the idle window, or the window is never covered.
            self.cpu_samples = await service.cpu_samples(running, minutes=rules.idle_minutes + 5)
        except CloudpaneError as error:
            if not self.cpu_error_shown:
                self.cpu_error_shown = True
                self.show_error(error)
            return
        self.cpu_error_shown = False
        if self.figures is not None:  # the idle rule may fire now: assess again, in a thread
            instances, filter_text = list(self.instances.values()), self.filter_text
            assessment, rows = await asyncio.to_thread(self.prepare, instances, filter_text)
            self.figures = assessment[0]
            self.announce(assessment[1], utcnow())
            self.render_table(rows if filter_text == self.filter_text else None)

    def assess(
        self, instances: list[Instance], now: datetime
    ) -> tuple[pricing.TickerFigures, list[policy.TurnOffWarning]]:
        """Costs and turn-off warnings of a fresh listing — the same assessment as `status`
        and `watch` (services/fleet.py); runs off the UI thread."""
        from tui.services.fleet import assess

        config = self.app_config()
        with self.ledger_lock:
            # A listing is the whole project: an instance it lacks was deleted (its cost
            # stays in today's figure).
            result = assess(
                instances,
                now,
                config.turn_off_rules(),
                ledger=self.ledger,
                cpu_samples=self.cpu_samples,
                laptop_price=config.cost_settings().laptop_price,
            )
            if self.spend is not None:
                self.spend.save(self.ledger, now, parts=("instances",))
        return result.figures, result.warnings

    def prepare(
        self, instances: list[Instance], filter_text: str
    ) -> tuple[tuple[pricing.TickerFigures, list[policy.TurnOffWarning]], dict[str, Row]]:
        """Off the UI thread: costs, warnings, and the cells of every row to show. With
        thousands of instances, building the rows is most of a refresh's work; the UI thread
        then only compares them with what it shows."""
        now = utcnow()
        figures, warnings = self.assess(instances, now)
        warned = {w.instance_id for w in warnings if not self.tracker.is_snoozed(w.key, now)}
        rows: dict[str, Row] = {}
        for instance in instances:
            if matches(instance, filter_text):
                cost = figures.per_instance.get(instance.id)
                cells = instance_row(instance, now, cost, instance.id in warned)
                rows[instance.id] = (cells, cell_keys(cells))
        return (figures, warnings), rows

    def apply(
        self,
        instances: list[Instance],
        assessment: tuple[pricing.TickerFigures, list[policy.TurnOffWarning]] | None = None,
        rows: dict[str, Row] | None = None,
    ) -> None:
        first = not self.loaded
        self.instances = {i.id: i for i in instances}
        self.loaded = True
        if first:
            self.refresh_cpu()
        now = utcnow()
        self.figures, warnings = assessment or self.assess(instances, now)
        self.announce(warnings, now)
        self.render_table(rows)
        self.update_header()

    def compute_figures(
        self, now: datetime, instances: list[Instance] | None = None
    ) -> pricing.TickerFigures:
        laptop = self.app_config().cost_settings().laptop_price
        found = list(self.instances.values()) if instances is None else instances
        with self.ledger_lock:
            return pricing.ticker(found, now, ledger=self.ledger, laptop_price=laptop)

    def app_config(self) -> Config:
        config = getattr(self.app, "config", None)
        return config if isinstance(config, Config) else Config()

    def announce(self, warnings: list[policy.TurnOffWarning], now: datetime) -> None:
        """Keep the warnings; announce each new episode once."""
        self.warnings = warnings
        fresh = self.tracker.update(self.warnings, now)
        self.update_warned()
        if fresh:
            announce_warnings(self.app, fresh, self.app_config().hook)

    def update_warned(self) -> None:
        """Instances with a warning that is not snoozed (their rows are marked)."""
        now = utcnow()
        self.warned = {
            w.instance_id for w in self.warnings if not self.tracker.is_snoozed(w.key, now)
        }

    def tick(self) -> None:
        """1 Hz: move the cost figures, repainting only the rows on screen."""
        if not self.loaded or not self.instances:
            return
        if len(self.instances) >= THREADED_TICK_FROM:
            self.tick_in_thread()
            return
        now = utcnow()
        self.show_tick(self.compute_figures(now), now)

    @work(exclusive=True, group="vms-tick", exit_on_error=False, description="cost ticker")
    async def tick_in_thread(self) -> None:
        """Thousands of instances: the figures take tens of ms, too long for the UI thread."""
        now = utcnow()
        figures = await asyncio.to_thread(self.compute_figures, now)
        self.show_tick(figures, now)

    def show_tick(self, figures: pricing.TickerFigures, now: datetime) -> None:
        self.figures = figures
        self.update_header()
        table = self.query_one(DataTable)
        first = int(table.scroll_y)
        for row in table.ordered_rows[first : first + table.size.height]:
            key = row.key.value or ""
            instance = self.instances.get(key)
            if instance is None or not instance.is_running or key not in self.rendered:
                continue
            cells = self.row_for(instance, now)
            shown = cell_keys(cells)
            before = self.rendered[key]
            for index in TICKING_INDEXES:
                if shown[index] != before[index]:
                    table.update_cell(key, COLUMNS[index][0], cells[index])
            # Only the ticking cells were repainted; the rest is the next refresh's business.
            self.rendered[key] = tuple(
                shown[i] if i in TICKING_INDEXES else before[i] for i in range(len(shown))
            )

    def row_for(self, instance: Instance, now: datetime) -> tuple[str | Text, ...]:
        cost = self.figures.per_instance.get(instance.id) if self.figures else None
        return instance_row(instance, now, cost, instance.id in self.warned)

    def update_header(self) -> None:
        if self.figures is not None:
            self.post_message(VmCosts(self.figures))

    def render_table(self, rows: dict[str, Row] | None = None) -> None:
        """Bring the table in line with the data by diff: add, update changed cells, remove.

        `self.rendered` remembers what each row shows, so a refresh of thousands of rows
        compares strings instead of asking the table, and touches only cells that changed.
        `rows` are the cells already built off the UI thread (see `prepare`).
        """
        table = self.query_one(DataTable)
        now = utcnow()
        wanted = {i.id: i for i in self.instances.values() if matches(i, self.filter_text)}
        if rows is None or rows.keys() != wanted.keys():
            rows = {}

        def row(instance: Instance) -> Row:
            found = rows.get(instance.id)
            if found is None:
                cells = self.row_for(instance, now)
                found = (cells, cell_keys(cells))
            return found

        for key in self.rendered.keys() - wanted.keys():
            table.remove_row(key)
            del self.rendered[key]
        new = [i for key, i in wanted.items() if key not in self.rendered]
        visible = self.visible_keys(table)
        for key, instance in wanted.items():
            if key not in self.rendered:
                continue
            cells, shown = row(instance)
            before = self.rendered[key]
            if key not in visible and ticking_only(before, shown):
                continue  # off screen, only the costs moved: the ticker repaints it when shown
            if shown != before:
                for index, (column, _, _) in enumerate(COLUMNS):
                    if shown[index] != before[index]:
                        table.update_cell(key, column, cells[index])
                self.rendered[key] = shown
        if new:
            resort = bool(self.rendered)
            for instance in sorted(new, key=lambda i: i.name):
                cells, shown = row(instance)
                table.add_row(*cells, key=instance.id)
                self.rendered[instance.id] = shown
            if resort:  # new rows went to the end; a first fill is already in order
                table.sort("name", key=lambda name: str(name).lstrip("⚠ ").lower())
        self.update_message(len(wanted))

    @staticmethod
    def visible_keys(table: DataTable) -> set[str]:
        first = int(table.scroll_y)
        return {
            row.key.value or ""
            for row in table.ordered_rows[first : first + max(table.size.height, 1)]
        }

    def update_message(self, shown: int) -> None:
        total = len(self.instances)
        running = sum(1 for i in self.instances.values() if i.is_running)
        text = f"{total} instances, {running} running"
        active = [w for w in self.warnings if not self.tracker.is_snoozed(w.key, utcnow())]
        if active:
            text += f" · ⚠ {len(active)} turn-off warning{'s' if len(active) > 1 else ''} (w)"
        if self.filter_text:
            text += f" · {shown} match “{self.filter_text}”"
        if total == 0:
            text = "No instances yet. Press n to create one."
        self.set_message(text)

    # ------------------------------------------------------------- helpers
    def selected(self) -> Instance | None:
        return self.instances.get(self.selected_key() or "")

    def need_selection(self) -> Instance | None:
        instance = self.selected()
        if instance is None:
            self.app.notify("Select an instance first.", severity="warning")
        return instance

    # ------------------------------------------------------------- filter
    # ------------------------------------------------------------- actions
    def action_refresh(self) -> None:
        self.refresh_instances()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    @work(group="vms-details", exit_on_error=False, description="read instance details")
    async def action_details(self) -> None:
        instance = self.need_selection()
        if instance is None:
            return
        try:
            service = await self.get_service()
            resource = await service.instance_resource(instance.zone, instance.name)
        except CloudpaneError as error:
            self.show_error(error)
            return
        self.app.push_screen(
            DetailsScreen(
                f"{instance.name} ({instance.zone})",
                resource,
                self.console_page(instance),
                summary=self.buy_or_rent(instance),
            )
        )

    def buy_or_rent(self, instance: Instance) -> str:
        """The lecture's line for a running machine: '$0.73/h: … costs a $1,500 laptop in 86 days'."""
        if not instance.is_running:
            return ""
        cost = self.figures.per_instance.get(instance.id) if self.figures else None
        hourly = cost.hourly if cost else None
        laptop = self.app_config().cost_settings().laptop_price
        return f"{pricing.format_rate(hourly)} — {pricing.laptop_sentence(hourly, laptop)}."

    def console_page(self, instance: Instance) -> str | None:
        """The instance's page in the Cloud Console (none for the sandbox)."""
        if self.connection is None:
            return None
        return console_url(
            self.connection.backend,
            f"compute/instancesDetail/zones/{instance.zone}/instances/{instance.name}",
        )

    def action_create(self) -> None:
        if self.connection is None or not self.writable("create an instance"):
            return
        from tui.panes.vm_forms import CreateInstanceScreen

        rules = self.app_config().turn_off_rules()
        self.app.push_screen(
            CreateInstanceScreen(
                self.get_service,
                self.connection.backend.zone,
                self.app_config().cost_settings().laptop_price,
                idle=rules.idle_watcher(),
                idle_default=rules.idle_stop,
            ),
            self._create_submitted,
        )

    def _create_submitted(self, spec: object) -> None:
        if spec is None:
            return
        self.create_instance(spec)

    @work(group="vms-ops", exit_on_error=False, description="create the instance")
    async def create_instance(self, spec: object) -> None:
        from tui.services.models import InstanceSpec
        from tui.services.quotas import instance_gpu

        assert isinstance(spec, InstanceSpec)
        service = await self.get_service()
        gpu, _ = instance_gpu(spec.machine_type, spec.accelerator_type, spec.accelerator_count)
        await self.run_operation(
            f"create {spec.name} in {spec.zone}",
            service.create_instance(spec),
            done=f"{spec.name} created.",
            gpu=gpu or None,
        )

    def action_start(self) -> None:
        instance = self.need_selection()
        if instance is None or not self.writable("start an instance"):
            return
        if instance.status not in ("TERMINATED", "STOPPED", "SUSPENDED"):
            self.app.notify(
                f"{instance.name} is {instance.status}; only a stopped one can start.",
                severity="warning",
            )
            return
        if instance.gpu_count:
            self.start_gpu_instance(instance)
            return
        self.simple_op(instance, "start", "started")

    @work(group="vms-ops", exit_on_error=False, description="start the instance")
    async def start_gpu_instance(self, instance: Instance) -> None:
        """Read the GPU quotas first: a start that quota 0 will refuse is not sent."""
        service = await self.get_service()
        gpu = instance.accelerators[0] if instance.accelerators else None
        try:
            problem = await service.gpu_quota_problem(
                instance.zone,
                instance.machine_type,
                gpu.type if gpu else None,
                gpu.count if gpu else 0,
                instance.spot,
            )
        except CloudpaneError as error:
            problem = ""  # unreadable quotas must not block a start; Google still decides
            self.app.notify(f"Could not read the GPU quotas: {error.message}", severity="warning")
        if problem:
            self.show_error(OperationFailed(f"Not starting {instance.name}.", problem))
            return
        await self.run_operation(
            f"start {instance.name}",
            service.start_instance(instance.zone, instance.name),
            done=f"{instance.name} started.",
            gpu=gpu.type if gpu else None,
        )

    def action_stop(self) -> None:
        instance = self.need_selection()
        if instance is None or not self.writable("stop an instance"):
            return
        if instance.status in ("TERMINATED", "STOPPED", "STOPPING"):
            self.app.notify(f"{instance.name} is already {instance.status.lower()}.")
            return
        body = (
            f"Stop {instance.name} ({instance.machine_type} in {instance.zone})?\n"
            "Its processes end; its disks are kept (and still billed). You can start it again."
        )
        self.app.push_screen(
            ConfirmScreen("Stop instance", body, confirm_label="Stop"),
            self.if_confirmed(self.simple_op, instance, "stop", "stopped"),
        )

    def action_reset(self) -> None:
        instance = self.need_selection()
        if instance is None or not self.writable("reset an instance"):
            return
        if not instance.is_running:
            self.app.notify(f"{instance.name} is not running.", severity="warning")
            return
        body = (
            f"Hard-reset {instance.name}? Like pulling the power: unsaved work in memory "
            "is lost; disks are kept."
        )
        self.app.push_screen(
            ConfirmScreen("Reset instance", body, confirm_label="Reset"),
            self.if_confirmed(self.simple_op, instance, "reset", "reset"),
        )

    def action_delete(self) -> None:
        instance = self.need_selection()
        if instance is None or not self.writable("delete an instance"):
            return
        body = (
            f"Delete {instance.name} in {instance.zone}? This cannot be undone: the instance "
            "and its boot disk are removed, with everything stored on it."
        )
        self.app.push_screen(
            ConfirmScreen(
                "Delete instance", body, confirm_label="Delete", type_to_confirm=instance.name
            ),
            self.if_confirmed(self.simple_op, instance, "delete", "deleted"),
        )

    def action_resize(self) -> None:
        instance = self.need_selection()
        if instance is None or not self.writable("change a machine type"):
            return
        if instance.status not in ("TERMINATED", "STOPPED"):
            self.app.notify(
                f"{instance.name} is {instance.status}. Stop it first (t): Compute Engine changes "
                "the machine type only of a stopped instance.",
                severity="warning",
            )
            return
        from tui.panes.vm_forms import MachineTypeScreen

        self.app.push_screen(
            MachineTypeScreen(self.get_service, instance),
            self.with_result(lambda choice: self.resize(instance, choice)),
        )

    @work(group="vms-ops", exit_on_error=False, description="change the machine type")
    async def resize(self, instance: Instance, machine_type: str) -> None:
        service = await self.get_service()
        await self.run_operation(
            f"resize {instance.name} to {machine_type}",
            service.set_machine_type(instance.zone, instance.name, machine_type),
            done=f"{instance.name} is now {machine_type}.",
        )

    @staticmethod
    def if_confirmed(action: Callable[..., object], *args: object) -> Callable[[bool | None], None]:
        """A dialog callback that runs `action(*args)` only when the person confirmed."""

        def callback(confirmed: bool | None) -> None:
            if confirmed:
                action(*args)

        return callback

    @staticmethod
    def with_result(action: Callable[[T], object]) -> Callable[[T | None], None]:
        """A dialog callback that runs `action(result)` unless the dialog was cancelled."""

        def callback(result: T | None) -> None:
            if result:
                action(result)

        return callback

    def simple_op(self, instance: Instance, verb: str, past: str) -> None:
        self._simple_op(instance, verb, past)

    @work(group="vms-ops", exit_on_error=False, description="change the instance")
    async def _simple_op(self, instance: Instance, verb: str, past: str) -> None:
        service = await self.get_service()
        method = getattr(service, f"{verb}_instance")
        await self.run_operation(
            f"{verb} {instance.name}",
            method(instance.zone, instance.name),
            done=f"{instance.name} {past}.",
        )

    async def run_operation(
        self, description: str, starting: object, done: str, gpu: str | None = None
    ) -> bool:
        """Start an operation, show its progress until DONE, then report and refresh.
        True when it succeeded (a failure is shown here, not raised). `gpu`: the instance's
        GPU type, so a stock-out names the other zones that offer it."""
        bar = self.query_one(OperationsBar)
        key = bar.start(description)
        try:
            service = await self.get_service()
            op: Operation = await starting  # type: ignore[misc]
            self.refresh_instances()
            while not op.done:
                bar.update_op(key, op.status, op.progress)
                await asyncio.sleep(0.5)
                op = await service.get_operation(op)
            if op.error:
                raise await service.operation_error(op, f"Could not {description}", gpu)
            if done:
                self.app.notify(done, title="Done")
            return True
        except CloudpaneError as error:
            self.show_error(error)
        except Exception as exc:  # a bug must not take the app down
            self.show_error(translate(exc, description))
        finally:
            bar.finish(key)
            self.refresh_instances()
        return False

    # ------------------------------------------------------- warnings, auto-stop
    def action_warnings(self) -> None:
        from tui.panes.vm_warnings import WarningsScreen

        now = utcnow()
        active = [w for w in self.warnings if not self.tracker.is_snoozed(w.key, now)]
        self.app.push_screen(WarningsScreen(active), self._warning_chosen)

    def _warning_chosen(self, choice: object) -> None:
        from tui.panes.vm_warnings import SnoozeScreen, WarningChoice

        if not isinstance(choice, WarningChoice):
            return
        warning = choice.warning
        if choice.action == "snooze":

            def snooze(until_time: object) -> None:
                if isinstance(until_time, datetime):
                    self.tracker.snooze(warning.instance_id, warning.rule, until_time)
                    self.update_warned()
                    self.app.notify(
                        f"Snoozed until {until_time.astimezone():%a %H:%M}: {warning.message}"
                    )
                    self.render_table()

            self.app.push_screen(SnoozeScreen(warning), snooze)
            return
        instance = self.instances.get(warning.instance_id)
        if instance is None:
            self.app.notify("That instance is gone.", severity="warning")
            return
        self.select_instance(instance.id)
        if choice.action == "stop":
            self.action_stop()
        elif choice.action == "auto_stop":
            self.action_auto_stop()

    def select_instance(self, instance_id: str) -> None:
        table = self.query_one(DataTable)
        with contextlib.suppress(KeyError, RowDoesNotExist):
            table.move_cursor(row=table.get_row_index(instance_id))

    def action_auto_stop(self) -> None:
        instance = self.need_selection()
        if instance is None or not self.writable("set an auto-stop"):
            return
        from tui.panes.vm_warnings import AutoStopScreen

        self.app.push_screen(
            AutoStopScreen(instance, self.app_config().turn_off_rules().idle_watcher()),
            self.with_result(lambda result: self.set_auto_stop(instance, result)),
        )

    @work(group="vms-ops", exit_on_error=False, description="set the auto-stop")
    async def set_auto_stop(self, instance: Instance, choice: object) -> None:
        from tui.panes.vm_warnings import AutoStop

        assert isinstance(choice, AutoStop)
        service = await self.get_service()
        parts = []
        if not choice.limit_change:
            pass
        elif choice.termination_time:
            parts.append(f"stop at {choice.termination_time.astimezone():%a %H:%M}")
        elif choice.max_run_seconds:
            parts.append(f"stop {choice.max_run_seconds / 3600:g} h after each start")
        else:
            parts.append("no auto-stop")
        if choice.idle_change:
            parts.append(choice.idle.describe() if choice.idle else "no idle watcher")
        what = "; ".join(parts)
        name, zone = instance.name, instance.zone
        if choice.restart and not await self.run_operation(
            f"stop {name} to change its auto-stop", service.stop_instance(zone, name), done=""
        ):
            return  # nothing changed; the error says why
        if choice.idle_change and not await self.run_operation(
            f"idle watcher of {name}", service.set_idle_stop(zone, name, choice.idle), done=""
        ):
            if choice.restart:  # leave it running, as it was
                await self.run_operation(
                    f"start {name} again", service.start_instance(zone, name), done=""
                )
            return
        changed = True
        if choice.limit_change:
            changed = await self.run_operation(
                f"auto-stop of {name}",
                service.set_auto_stop(
                    zone,
                    name,
                    max_run_seconds=choice.max_run_seconds,
                    termination_time=choice.termination_time,
                ),
                done="" if choice.restart else f"{name}: {what}.",
            )
        elif not choice.restart:
            self.app.notify(f"{name}: {what}.", title="Done")
        if not choice.restart:
            return
        # Start it again even when setting failed: the person asked for a running machine.
        started = await self.run_operation(
            f"start {name} again", service.start_instance(zone, name), done=""
        )
        if changed and started:
            self.app.notify(f"{name} restarted: {what}.", title="Done")
        elif started:
            self.app.notify(
                f"{name} is running again; its auto-stop is unchanged.", severity="warning"
            )

    def action_serial(self) -> None:
        instance = self.need_selection()
        if instance is None:
            return
        from tui.panes.vm_forms import SerialOutputScreen

        self.app.push_screen(SerialOutputScreen(self.get_service, instance))

    def action_ssh(self) -> None:
        instance = self.need_selection()
        if instance is None or self.connection is None:
            return
        if not instance.is_running:
            self.app.notify(
                f"{instance.name} is not running; start it first (u).", severity="warning"
            )
            return
        command, cwd = ssh_command(self.connection, instance)
        if command is None:
            self.app.notify(cwd or "No way to reach this instance.", severity="warning")
            return
        try:
            with self.app.suspend():
                print(f"cloudpane: {' '.join(command)}  (exit the shell to come back)")
                subprocess.call(command, cwd=cwd)
        except Exception as exc:
            self.app.notify(f"Could not open a shell: {exc}", severity="error")
        self.refresh_instances()


def ssh_command(connection: Connection, instance: Instance) -> tuple[list[str] | None, str | None]:
    """The command that opens a shell on the instance, and its working directory.

    Google: `gcloud compute ssh` when gcloud is installed, else plain ssh to the external IP.
    Sandbox: a shell in the instance's working directory (that is where its processes run).
    """
    if connection.backend.is_sandbox and connection.sandbox_dir is not None:
        from tui.sandbox.context import instance_workdir

        backend = connection.backend
        workdir = instance_workdir(
            connection.sandbox_dir, backend.project, instance.zone, instance.name
        )
        workdir.mkdir(parents=True, exist_ok=True)
        shell = shutil.which("bash") or "/bin/sh"
        return [shell], str(workdir)
    if shutil.which("gcloud"):
        return [
            "gcloud",
            "compute",
            "ssh",
            instance.name,
            f"--zone={instance.zone}",
            f"--project={connection.backend.project}",
        ], None
    if instance.external_ip:
        return ["ssh", instance.external_ip], None
    return None, f"{instance.name} has no external IP and gcloud is not installed (for IAP)."
