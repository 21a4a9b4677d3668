"""The hyperparameter tuning screen: tuning jobs, one job's trials, a plot of the metric.

Opened from the Jobs pane (`h`): `app.push_screen(TuningScreen(connection))`.

Keys: n new from YAML · enter details · tab jobs/trials · s sort trials by the metric ·
p plot/table · l the trial's logs · c cancel the job · e export the best parameters ·
r re-run the best trial as a plain job · esc back.

The list polls every few seconds; the next poll is armed only after the previous one finished,
and backs off after errors. The trials table is keyed by trial id and updated cell by cell; its
columns follow the selected job's parameters. The best trial (for the study's goal) is marked ★.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from tui.services.errors import CloudpaneError, ReadOnly, translate
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen
from tui.widgets.literal import DataTable, Static

if TYPE_CHECKING:
    from tui.services.connect import Connection
    from tui.services.job_models import TrainerJobRequest
    from tui.services.tuning import Trial, TuningJob, TuningService

BEST_MARK = "★"
STATE_STYLES = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "INFEASIBLE": "red",
    "CANCELLED": "yellow",
    "CANCELLING": "yellow",
    "STOPPING": "yellow",
    "RUNNING": "cyan",
    "ACTIVE": "cyan",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _state(text: str) -> Text:
    return Text(text, style=STATE_STYLES.get(text, ""))


def _created(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if moment else "—"


def _sort_value(cell: Any) -> float:
    """A metric cell → a number for sorting (blanks last)."""
    try:
        return float(str(cell).lstrip(BEST_MARK + "~ "))
    except ValueError:
        return math.inf


class TuningScreen(Screen[None]):
    DEFAULT_CSS = """
    TuningScreen { layout: vertical; }
    #tuning-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    #tuning-jobs { height: 7; }
    #tuning-summary { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    #tuning-summary.error { color: $error; }
    #tuning-switcher { height: 1fr; }
    #tuning-trials { height: 1fr; }
    #tuning-plot { height: 1fr; }
    #tuning-message { height: auto; padding: 0 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("n", "new", "New from YAML"),
        Binding("enter", "details", "Details", show=False),
        Binding("tab", "switch_table", "Jobs/Trials", show=False),
        Binding("s", "sort", "Sort by metric"),
        Binding("p", "toggle_plot", "Plot"),
        Binding("l", "logs", "Trial logs"),
        Binding("c", "cancel_job", "Cancel job"),
        Binding("e", "export", "Export best"),
        Binding("r", "rerun", "Re-run best"),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]
    MUTATING = frozenset({"new", "cancel_job", "rerun"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode hides the keys that submit, cancel or re-run (and refuses them)."""
        return not (action in self.MUTATING and getattr(self.app, "read_only", False))

    def __init__(
        self,
        connection: Connection,
        *,
        trainer_defaults: TrainerJobRequest | None = None,
        poll_seconds: float = 3.0,
        poll: bool = True,
        region: str | None = None,
        start_dir: Path | None = None,
    ) -> None:
        super().__init__()
        from tui.services.tuning import TuningService

        self.connection = connection
        self.service: TuningService = TuningService(connection.backend)
        self.trainer_defaults = trainer_defaults
        self.poll_seconds = poll_seconds
        self.polling = poll
        self.cloud_region = region or (
            trainer_defaults.region if trainer_defaults else connection.backend.region
        )
        self.start_dir = start_dir
        self.jobs: dict[str, TuningJob] = {}  # by name, newest first
        self.selected: str | None = None
        self.sort_descending: bool | None = None  # None: by trial id
        self._trial_columns: tuple[str, ...] = ()
        self._trials_of: str | None = None
        self._delay = poll_seconds
        self._poll_timer: Any = None

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        backend = self.connection.backend
        where = "sandbox" if backend.is_sandbox else "Google Cloud"
        yield Static(
            f"Hyperparameter tuning · {backend.project} · {self.cloud_region} · {where}",
            id="tuning-title",
        )
        jobs: DataTable[str | Text] = DataTable(id="tuning-jobs", cursor_type="row")
        yield jobs
        yield Static("", id="tuning-summary", markup=False)
        with ContentSwitcher(initial="tuning-trials", id="tuning-switcher"):
            trials: DataTable[str | Text] = DataTable(id="tuning-trials", cursor_type="row")
            yield trials
            yield PlotextPlot(id="tuning-plot")
        yield Static("Loading tuning jobs…", id="tuning-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#tuning-jobs", DataTable)
        for label, key, width in (
            ("Name", "name", 20),
            ("State", "state", 10),
            ("Trials", "trials", 9),
            ("Best", "best", 13),
            ("Created (UTC)", "created", 16),
        ):
            table.add_column(label, key=key, width=width)
        table.focus()
        if self.polling:
            self.refresh_jobs()

    # ------------------------------------------------------------------ polling
    @work(exclusive=True, group="tuning-poll", exit_on_error=False, description="list tuning jobs")
    async def refresh_jobs(self) -> None:
        try:
            jobs = await self.service.list_jobs(self.cloud_region)
        except CloudpaneError as exc:
            self._message(f"{exc.message} Retrying in {self._delay * 2:.0f} s.", error=True)
            self._delay = min(self._delay * 2, 60.0)
        else:
            self._delay = self.poll_seconds
            self.apply_jobs(jobs)
        if self.polling and self.is_attached:
            self._poll_timer = self.set_timer(self._delay, self.refresh_jobs)

    def apply_jobs(self, jobs: list[TuningJob]) -> None:
        """Show these jobs (newest first): rows updated by diff, the selected job's trials."""
        self.jobs = {j.name: j for j in jobs}
        table = self.query_one("#tuning-jobs", DataTable)
        wanted = [j.name for j in jobs]
        for row_key in [r.key for r in table.ordered_rows]:
            if row_key.value not in self.jobs:
                table.remove_row(row_key)
        existing = {r.key.value for r in table.ordered_rows}
        for job in jobs:
            cells = self._job_cells(job)
            if job.name in existing:
                for column, value in cells.items():
                    if str(table.get_cell(job.name, column)) != str(value):
                        table.update_cell(job.name, column, value)
            else:
                table.add_row(*cells.values(), key=job.name)
        if [r.key.value for r in table.ordered_rows] != wanted:  # a new job: newest first
            table.clear()
            for job in jobs:
                table.add_row(*self._job_cells(job).values(), key=job.name)
            if self.selected in self.jobs:
                table.move_cursor(row=wanted.index(self.selected))
        if not jobs:
            self._message(
                "No tuning jobs in this region yet. Press n to start one from a YAML file."
            )
        else:
            self._message("")
        if self.selected not in self.jobs:
            self.selected = jobs[0].name if jobs else None
            if jobs:
                table.move_cursor(row=0)
        self.show_job()

    def _job_cells(self, job: TuningJob) -> dict[str, str | Text]:
        from tui.services.tuning import format_value

        best = job.best_trial
        trials = f"{job.succeeded + job.failed}/{job.max_trial_count}"
        if job.running:
            trials += f" ({job.running}▶)"
        return {
            "name": job.display_name,
            "state": _state(job.status),
            "trials": trials,
            "best": f"{format_value(best.metric)} #{best.id}" if best else "—",
            "created": _created(job.created),
        }

    @on(DataTable.RowHighlighted, "#tuning-jobs")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key else None
        if name and name != self.selected:
            self.selected = name
            self.show_job()

    # ------------------------------------------------------------- the selected job
    @property
    def job(self) -> TuningJob | None:
        return self.jobs.get(self.selected) if self.selected else None

    def show_job(self) -> None:
        job = self.job
        summary = self.query_one("#tuning-summary", Static)
        if job is None:
            summary.update("")
            self._fill_trials(None)
            return
        from tui.services.hpconfig import ALGORITHM_WORDS

        text = (
            f"{job.metric_id} ({job.goal}) · {ALGORITHM_WORDS.get(job.algorithm, job.algorithm)} · "
            f"{job.parallel_trial_count} in parallel · {job.trial_job.hardware}"
        )
        if job.error:
            text += f"\n{job.error.splitlines()[0]}"
        summary.update(text)
        summary.set_class(bool(job.error) and job.status == "FAILED", "error")
        self._fill_trials(job)
        self._plot(job)

    def _fill_trials(self, job: TuningJob | None) -> None:
        from tui.services.tuning import format_duration, format_value

        table = self.query_one("#tuning-trials", DataTable)
        if job is None:
            table.clear(columns=True)
            self._trial_columns, self._trials_of = (), None
            return
        columns = ("best", "trial", "state", *job.parameter_ids, "metric", "time")
        if columns != self._trial_columns or job.name != self._trials_of:
            table.clear(columns=True)
            table.add_column("", key="best", width=1)
            table.add_column("Trial", key="trial", width=5)
            table.add_column("State", key="state", width=10)
            for pid in job.parameter_ids:
                table.add_column(pid, key=f"p:{pid}")
            table.add_column(job.metric_id, key="metric")
            table.add_column("Time", key="time", width=7)
            self._trial_columns, self._trials_of = columns, job.name
        best = job.best_trial
        now = utcnow()
        existing = {r.key.value for r in table.ordered_rows}
        for trial in job.trials:
            cells: dict[str, str | Text] = {
                "best": Text(BEST_MARK, style="bold yellow")
                if best and trial.id == best.id
                else "",
                "trial": trial.id,
                "state": _state(trial.state),
            }
            for pid in job.parameter_ids:
                cells[f"p:{pid}"] = format_value(trial.parameters.get(pid))
            latest = trial.latest
            metric = format_value(latest)
            if trial.metric is None and latest is not None:
                metric = f"~{metric}"  # an intermediate value of a running trial
            cells["metric"] = metric
            cells["time"] = format_duration(trial.running_time(now))
            if trial.id in existing:
                for column, value in cells.items():
                    if str(table.get_cell(trial.id, column)) != str(value):
                        table.update_cell(trial.id, column, value)
            else:
                table.add_row(*cells.values(), key=trial.id)
        self._apply_sort()

    def _apply_sort(self) -> None:
        table = self.query_one("#tuning-trials", DataTable)
        if not table.row_count:
            return
        if self.sort_descending is None:
            table.sort("trial", key=lambda cell: int(str(cell)) if str(cell).isdigit() else 0)
        else:
            table.sort("metric", key=_sort_value, reverse=self.sort_descending)

    def _plot(self, job: TuningJob) -> None:
        plot = self.query_one("#tuning-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        done = [t for t in job.trials if t.metric is not None and t.id.isdigit()]
        plt.title(f"{job.metric_id} per trial ({job.goal.lower()})")
        plt.xlabel("trial")
        if done:
            xs = [int(t.id) for t in done]
            ys = [float(t.metric) for t in done if t.metric is not None]
            best_so_far: list[float] = []
            pick = max if job.goal == "MAXIMIZE" else min
            for y in ys:
                best_so_far.append(pick(best_so_far[-1], y) if best_so_far else y)
            plt.plot(xs, best_so_far, label="best so far")  # first: the points stay on top
            plt.scatter(xs, ys, marker="●", label=job.metric_id)
            if len(xs) <= 20:
                plt.xticks([float(x) for x in xs], [str(x) for x in xs])
        plot.refresh()

    # ------------------------------------------------------------------ actions
    def _message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#tuning-message", Static)
        message.update(text)
        message.display = bool(text)
        message.set_class(error, "error")

    def _writable(self, what: str) -> bool:
        if getattr(self.app, "read_only", False):
            self._show_error(
                ReadOnly(f"cloudpane is read-only: cannot {what}.", "Start it without --read-only.")
            )
            return False
        return True

    def _show_error(self, error: CloudpaneError) -> None:
        self.app.notify(
            f"{error.message}\n{error.hint}".strip(),
            title=error.title,
            severity="error",
            timeout=12,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Failed workers become a notification, never a traceback."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self._show_error(translate(event.worker.error, event.worker.description or ""))

    def selected_trial(self) -> Trial | None:
        job = self.job
        table = self.query_one("#tuning-trials", DataTable)
        if job is None or not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((t for t in job.trials if t.id == key), None)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cursor(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, DataTable):
            focused.move_cursor(row=focused.cursor_row + step)

    def action_switch_table(self) -> None:
        jobs = self.query_one("#tuning-jobs", DataTable)
        trials = self.query_one("#tuning-trials", DataTable)
        (trials if self.focused is jobs else jobs).focus()

    def action_sort(self) -> None:
        # by trial id → metric ascending → metric descending → by trial id
        self.sort_descending = {None: False, False: True, True: None}[self.sort_descending]
        self._apply_sort()
        order = {None: "trial id", False: "metric, ascending", True: "metric, descending"}
        self.app.notify(f"Trials sorted by {order[self.sort_descending]}.", timeout=3)

    def action_toggle_plot(self) -> None:
        switcher = self.query_one("#tuning-switcher", ContentSwitcher)
        switcher.current = "tuning-plot" if switcher.current == "tuning-trials" else "tuning-trials"

    def action_new(self) -> None:
        if not self._writable("submit a tuning job"):
            return
        from tui.panes.tuning_new import NewStudyScreen

        def created(job: TuningJob | None) -> None:
            if job is None:
                return
            self.app.notify(f"Submitted tuning job {job.display_name}.", timeout=6)
            self.selected = job.name
            self.apply_jobs([job, *(j for j in self.jobs.values() if j.name != job.name)])
            self.query_one("#tuning-trials", DataTable).focus()

        self.app.push_screen(
            NewStudyScreen(self.service, defaults=self.trainer_defaults, start_dir=self.start_dir),
            created,
        )

    def action_details(self) -> None:
        if self.job is not None:
            self._details(self.job.name)

    @work(group="tuning-details", exit_on_error=False, description="read the tuning job")
    async def _details(self, name: str) -> None:
        resource = await self.service.job_resource(name)
        self.app.push_screen(
            DetailsScreen(f"Tuning job {resource.get('displayName', '')}", resource)
        )

    def action_logs(self) -> None:
        trial = self.selected_trial()
        if self.job is None or trial is None:
            self.app.notify("Select a trial first (tab moves to the trials).", timeout=4)
            return
        from tui.panes.tuning_dialogs import TrialLogsScreen

        self.app.push_screen(TrialLogsScreen(self.service, self.job, trial.id))

    def action_cancel_job(self) -> None:
        job = self.job
        if job is None or not self._writable("cancel a tuning job"):
            return
        if not job.is_active:
            self.app.notify(f"{job.display_name} already ended ({job.status}).", timeout=4)
            return
        body = (
            f"Cancel the tuning job {job.display_name}?\n\n"
            f"Its {job.running} running trial(s) stop now and no new trial starts. "
            f"{job.succeeded} finished trial(s) keep their results."
        )

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._cancel(job.name)

        self.app.push_screen(
            ConfirmScreen("Cancel tuning job", body, confirm_label="Cancel job"), confirmed
        )

    @work(group="tuning-ops", exit_on_error=False, description="cancel the tuning job")
    async def _cancel(self, name: str) -> None:
        await self.service.cancel(name)
        self.app.notify("Cancelling the tuning job…", timeout=4)
        if self.polling:
            self.refresh_jobs()

    def action_export(self) -> None:
        job = self.job
        if job is None:
            return
        if job.best_trial is None:
            self.app.notify("No trial has succeeded yet: nothing to export.", timeout=4)
            return
        from tui.panes.tuning_dialogs import ExportScreen

        self.app.push_screen(ExportScreen(job))

    def action_rerun(self) -> None:
        job = self.job
        if job is None or not self._writable("submit a job"):
            return
        best = job.best_trial
        if best is None:
            self.app.notify("No trial has succeeded yet: nothing to re-run.", timeout=4)
            return
        from tui.services.tuning import best_params_flags, best_trial_job_spec

        spec = best_trial_job_spec(job)
        body = (
            f"Run trial {best.id} again as a plain custom job?\n\n"
            f"{spec.display_name}\n{spec.hardware}\n{' '.join(best_params_flags(job))}\n"
            f"Outputs: {spec.base_output_directory or '(none)'}"
        )

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._rerun(job)

        self.app.push_screen(
            ConfirmScreen("Re-run the best trial", body, confirm_label="Submit", danger=False),
            confirmed,
        )

    @work(group="tuning-ops", exit_on_error=False, description="re-run the best trial")
    async def _rerun(self, job: TuningJob) -> None:
        created = await self.service.rerun_best(job)
        self.app.notify(f"Submitted custom job {created.display_name} ({created.id}).", timeout=8)
