"""The Jobs pane: Vertex AI custom training jobs, live: submit, watch, logs, curves, cancel, re-run."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets.data_table import RowDoesNotExist

from tui.format import duration, utcnow
from tui.messages import JobCosts
from tui.panes.base import PaletteAction, TablePane
from tui.panes.job_forms import JobSubmission, gpu_label, spec_hourly
from tui.services.errors import CloudpaneError, translate
from tui.services.job_models import Job
from tui.services.pricing import RunLedger, jobs_burn
from tui.services.spend_ledger import SpendStore
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen, console_url
from tui.widgets.literal import DataTable, Input, Static
from tui.widgets.operations import OperationsBar

if TYPE_CHECKING:
    from tui.panes.job_logs import LogHub
    from tui.services.connect import Connection
    from tui.services.jobs import JobsService
    from tui.services.tuning import TuningJob, TuningService

COLUMNS = (
    ("name", "Name", 20),
    ("state", "State", 10),
    ("running", "Running", 8),
    ("cost", "Est. cost", 9),
    ("created", "Created", 11),
    ("hardware", "Hardware", 30),
)
TICKING = ("running", "cost")  # repainted every second while a job runs

STATE_STYLE = {
    "QUEUED": "yellow",
    "PENDING": "yellow",
    "RUNNING": "green",
    "SUCCEEDED": "bold green",
    "FAILED": "bold red",
    "CANCELLING": "yellow",
    "CANCELLED": "dim",
    "PAUSED": "dim",
    "EXPIRED": "red",
    "UPDATING": "yellow",
    "PARTIALLY_SUCCEEDED": "yellow",
}

MAX_BACKOFF = 60.0


def hardware_text(job: Job) -> str:
    """'1× n1-standard-8 + 1 T4, 2× …' — compact, every pool."""
    parts = []
    for pool in job.spec.worker_pools:
        if not pool.replica_count:
            continue
        text = f"{pool.replica_count}× {pool.machine_type}"
        if pool.accelerator_type and pool.accelerator_count:
            text += f" + {pool.accelerator_count} {gpu_label(pool.accelerator_type)}"
        parts.append(text)
    return ", ".join(parts)


def job_times(job: Job, now: datetime) -> tuple[str, float | None]:
    """(created, seconds it has run): the cells that change with the clock."""
    created = job.created.astimezone().strftime("%m-%d %H:%M") if job.created else ""
    ran = job.running_time(now)
    return created, ran.total_seconds() if ran is not None else None


def cost_so_far(job: Job, seconds: float | None) -> str:
    """Estimated cost of the time it ran, from the price catalog (Vertex's training rate)."""
    if seconds is None:
        return ""
    hourly = spec_hourly(job.spec)
    if hourly is None:
        return "unknown"
    cost = hourly * seconds / 3600
    return "<$0.01" if 0 < cost < 0.005 else f"${cost:.2f}"


def job_row(job: Job, now: datetime) -> tuple[str | Text, ...]:
    """The table cells of one job, in COLUMNS order."""
    created, seconds = job_times(job, now)
    return (
        job.display_name,
        Text(job.status, style=STATE_STYLE.get(job.status, "")),
        duration(seconds) if seconds is not None else "",
        cost_so_far(job, seconds),
        created,
        hardware_text(job),
    )


def matches(job: Job, needle: str) -> bool:
    if not needle:
        return True
    haystack = " ".join((job.display_name, job.id, job.status, job.region, hardware_text(job)))
    return all(word in haystack.lower() for word in needle.lower().split())


class JobsPane(TablePane):
    BINDINGS = [
        Binding("n", "submit", "New job"),
        Binding("o", "open_yaml", "Open YAML"),
        Binding("l", "logs", "Logs"),
        Binding("L", "logs_new", "New lines", show=False),
        Binding("p", "curves", "Curves"),
        Binding("c", "cancel", "Cancel job"),
        Binding("e", "rerun", "Re-run"),
        Binding("h", "tuning", "Tuning"),
        Binding("ctrl+d", "delete", "Delete", show=False),
        Binding("enter", "details", "Details", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]

    PALETTE = (
        PaletteAction(
            "Submit training job", "Run the bundled trainer on Vertex AI (form)", "submit", True
        ),
        PaletteAction(
            "Load job spec from YAML",
            "A gcloud ai custom-jobs --config file: check, edit, submit",
            "open_yaml",
            True,
        ),
        PaletteAction("Job logs", "Stream the selected job's logs from the start", "logs"),
        PaletteAction("Job logs (new lines)", "Only lines written from now on", "logs_new"),
        PaletteAction(
            "Training curves", "loss, val_loss and the tuning metric per epoch", "curves"
        ),
        PaletteAction("Cancel job", "Stop the selected job (asks first)", "cancel", True),
        PaletteAction("Re-run job", "Submit the selected job again, same or edited", "rerun", True),
        PaletteAction("Delete job", "Remove a finished job's record (asks first)", "delete", True),
        PaletteAction("Hyperparameter tuning", "Tuning jobs and their trials", "tuning"),
        PaletteAction("Job details", "Full CustomJob resource as YAML", "details"),
        PaletteAction("Refresh jobs", "Reload the list now", "refresh"),
    )

    MUTATING = frozenset({"submit", "open_yaml", "cancel", "rerun", "delete"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.service: JobsService | None = None
        self.tuning: TuningService | None = None
        self.spend: SpendStore | None = None  # the spend ledger's file, once connected
        self.ledger = RunLedger()
        self.hub: LogHub | None = None
        self.jobs: dict[str, Job] = {}
        self.regions: list[str] = []
        self.filter_text = ""
        self.poll_delay = 5.0
        self.failures = 0
        self.loaded = False
        self._poll_timer: Timer | None = None
        self.staging_bucket = ""  # the last one used, offered in the next form

    def compose(self) -> ComposeResult:
        yield Static("Connecting…", classes="pane-message", id="jobs-message")
        table: DataTable[str | Text] = DataTable(
            id="jobs-table", cursor_type="row", zebra_stripes=True
        )
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Input(
            placeholder="filter: words to match (esc clears)", id="jobs-filter", classes="filter"
        )
        yield OperationsBar(id="jobs-operations")

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only mode hides every mutating key (and Textual then refuses it)."""
        return not (action in self.MUTATING and getattr(self.app, "read_only", False))

    # ----------------------------------------------------------- data flow
    def backend_ready(self, connection: Connection) -> None:
        super().backend_ready(connection)
        self.poll_delay = float(getattr(self.app, "config", None).refresh_seconds)  # type: ignore[union-attr]
        self.service = None
        self.tuning = None
        self.spend = None
        self.hub = None
        self.regions = [connection.backend.region]
        self.jobs.clear()
        self.query_one(DataTable).clear()
        self.set_message(f"Loading training jobs of {connection.backend.project}…")
        self.refresh_jobs()

    async def get_service(self) -> JobsService:
        if self.service is None:
            assert self.connection is not None

            def build() -> JobsService:
                from tui.services.jobs import JobsService

                assert self.connection is not None
                return JobsService(self.connection.backend)

            self.service = await asyncio.to_thread(build)
        return self.service

    def get_tuning(self) -> TuningService:
        if self.tuning is None:
            from tui.services.tuning import TuningService

            assert self.connection is not None
            self.tuning = TuningService(self.connection.backend)
        return self.tuning

    def count_spend(self, jobs: list[Job], studies: list[TuningJob]) -> None:
        """Off the UI thread: what training costs now and today, remembered in the spend
        ledger (shared with `status` and `watch`); the header hears it as a message."""
        assert self.connection is not None
        now = utcnow()
        if self.spend is None:
            self.spend = SpendStore.in_state_dir(self.connection.backend.project)
            self.ledger = self.spend.load()
        burn = jobs_burn(jobs, now, tuning_jobs=studies, ledger=self.ledger)
        self.spend.save(self.ledger, now, parts=("training",))
        self.post_message(JobCosts(burn))

    def get_hub(self) -> LogHub:
        """The app's one log poller (shared with every log view and plot)."""
        from tui.panes.job_logs import log_hub

        assert self.connection is not None
        self.hub = log_hub(self.app, self.connection.backend)
        return self.hub

    @work(exclusive=True, group="jobs-poll", exit_on_error=False, description="list training jobs")
    async def refresh_jobs(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if self.connection is None:
            return
        delay = self.poll_delay
        try:
            service = await self.get_service()
            found: list[Job] = []
            studies: list[TuningJob] = []
            for region in self.regions:
                found += await service.list_jobs(region)
                # Running tuning trials are billed training too (the header's burn rate).
                studies += await self.get_tuning().list_jobs(region)
        except Exception as exc:
            error = translate(exc, "list training jobs")
            self.failures += 1
            delay = min(self.poll_delay * 2**self.failures, MAX_BACKOFF)
            self.set_message(f"{error.message} {error.hint} Retrying in {delay:.0f} s.", error=True)
            if self.failures == 1:
                self.show_error(error)
        else:
            self.failures = 0
            self.apply(found)
            await asyncio.to_thread(self.count_spend, found, studies)
        # Re-armed only after this poll finished: a slow cloud never piles up calls.
        self._poll_timer = self.set_timer(delay, self.refresh_jobs)

    def apply(self, jobs: list[Job]) -> None:
        before = self.jobs
        self.jobs = {j.id: j for j in jobs}
        self.loaded = True
        for job in jobs:
            old = before.get(job.id)
            if old is not None and old.is_active and not job.is_active:
                self.announce_end(job)
        self.render_table()

    def announce_end(self, job: Job) -> None:
        """A job finished while you looked elsewhere: say so."""
        if job.status == "SUCCEEDED":
            self.app.notify(f"{job.display_name} succeeded.", title="Job finished", markup=False)
        elif job.status == "CANCELLED":
            self.app.notify(
                f"{job.display_name} was cancelled.", title="Job cancelled", markup=False
            )
        else:
            self.app.notify(
                f"{job.display_name} {job.status.lower()}: {job.reason or 'no reason given'}"[:600],
                title="Job ended",
                severity="error",
                timeout=15,
                markup=False,
            )

    def tick(self) -> None:
        """1 Hz: move the running time and cost of running jobs (visible rows only)."""
        if not self.loaded:
            return
        table = self.query_one(DataTable)
        now = utcnow()
        first = int(table.scroll_y)
        for row in table.ordered_rows[first : first + table.size.height]:
            job = self.jobs.get(row.key.value or "")
            if job is None or not job.is_active or job.started is None:
                continue
            cells = dict(zip([c[0] for c in COLUMNS], job_row(job, now), strict=True))
            for column in TICKING:
                if str(table.get_cell(row.key, column)) != str(cells[column]):
                    table.update_cell(row.key, column, cells[column])

    def render_table(self) -> None:
        """Bring the table in line with the data by diff: update changed cells, remove gone rows.

        A new job goes on top (newest first); since DataTable sorts only by cell values, a new
        row rebuilds the table in creation order (rare: once per submitted job).
        """
        table = self.query_one(DataTable)
        now = utcnow()
        wanted = {k: j for k, j in self.jobs.items() if matches(j, self.filter_text)}
        current = {row.value for row in table.rows}
        if wanted.keys() - current:
            self.rebuild_table(wanted, now)
        else:
            for key in current - wanted.keys():
                if key is not None:
                    table.remove_row(key)
            for key, job in wanted.items():
                old = table.get_row(key)
                for (column, _, _), value, before in zip(
                    COLUMNS, job_row(job, now), old, strict=False
                ):
                    if str(value) != str(before) or (
                        isinstance(value, Text)
                        and isinstance(before, Text)
                        and value.style != before.style
                    ):
                        table.update_cell(key, column, value)
        self.update_message(len(wanted))

    def rebuild_table(self, wanted: dict[str, Job], now: datetime) -> None:
        table = self.query_one(DataTable)
        chosen = self.selected()
        table.clear()
        epoch = datetime.min.replace(tzinfo=now.tzinfo)
        for key, job in sorted(wanted.items(), key=lambda kv: kv[1].created or epoch, reverse=True):
            table.add_row(*job_row(job, now), key=key)
        if chosen is not None:
            self.select_job(chosen.id)

    def update_message(self, shown: int) -> None:
        total = len(self.jobs)
        active = sum(1 for j in self.jobs.values() if j.is_active)
        regions = ", ".join(self.regions)
        text = f"{total} training jobs in {regions}, {active} active"
        if self.filter_text:
            text += f" · {shown} match “{self.filter_text}”"
        if total == 0:
            text = f"No training jobs in {regions} yet. Press n to submit the bundled trainer."
        self.set_message(text)

    # ------------------------------------------------------------- helpers
    def selected(self) -> Job | None:
        return self.jobs.get(self.selected_key() or "")

    def need_selection(self) -> Job | None:
        job = self.selected()
        if job is None:
            self.app.notify("Select a job first.", severity="warning", markup=False)
        return job

    def select_job(self, job_id: str) -> None:
        table = self.query_one(DataTable)
        with contextlib.suppress(KeyError, RowDoesNotExist):
            table.move_cursor(row=table.get_row_index(job_id))

    # ------------------------------------------------------------- filter
    # ------------------------------------------------------------- actions
    def action_refresh(self) -> None:
        self.refresh_jobs()

    @on(DataTable.RowSelected, "#jobs-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    @work(group="jobs-details", exit_on_error=False, description="read job details")
    async def action_details(self) -> None:
        job = self.need_selection()
        if job is None:
            return
        try:
            service = await self.get_service()
            resource = await service.job_resource(job.name)
        except CloudpaneError as error:
            self.show_error(error)
            return
        link = (
            console_url(
                self.connection.backend, f"vertex-ai/locations/{job.region}/training/{job.id}/cpu"
            )
            if self.connection
            else None
        )
        self.app.push_screen(DetailsScreen(f"{job.display_name} ({job.id})", resource, link))

    # submit, load, re-run ------------------------------------------------
    def form(self, **options: object) -> None:
        from tui.panes.job_forms import JobFormScreen

        assert self.connection is not None
        backend = self.connection.backend
        self.app.push_screen(
            JobFormScreen(
                sandbox=backend.is_sandbox,
                project=backend.project,
                region=backend.region,
                staging_bucket=self.staging_bucket,
                locate=self.bucket_locations,
                **options,  # type: ignore[arg-type]
            ),
            self._form_done,
        )

    async def bucket_locations(self, names: list[str]) -> dict[str, str]:
        """Where the form's buckets live (the ones this account can read)."""
        from tui.services.data_location import bucket_locations

        assert self.connection is not None
        try:
            return await bucket_locations(self.connection.backend, names)
        except CloudpaneError:
            return {}  # no answer is no warning; submitting still works

    def action_submit(self) -> None:
        if self.connection is None or not self.writable("submit a training job"):
            return
        self.form()

    def action_rerun(self) -> None:
        job = self.need_selection()
        if job is None or self.connection is None or not self.writable("re-run a job"):
            return
        self.form(base=job.spec, title=f"Re-run {job.display_name}", new_output=True)

    def action_open_yaml(self) -> None:
        if self.connection is None or not self.writable("submit a training job"):
            return
        self.ask_yaml_path(str(Path.cwd()) + "/", "")

    def ask_yaml_path(self, default: str, error: str) -> None:
        from tui.panes.job_forms import PathScreen

        self.app.push_screen(
            PathScreen(
                "Load a job spec (YAML)",
                default,
                purpose="open",
                hint="A `gcloud ai custom-jobs create --config` file, or a whole CustomJob.",
                error=error,
            ),
            self._yaml_chosen,
        )

    def _yaml_chosen(self, path: Path | None) -> None:
        if path is not None:
            self.load_yaml(path)

    @work(group="jobs-yaml", exit_on_error=False, description="load the job spec")
    async def load_yaml(self, path: Path) -> None:
        from tui.services.jobspec_yaml import JobSpecFileError, load_job_spec

        assert self.connection is not None
        region = self.connection.backend.region
        try:
            loaded = await asyncio.to_thread(load_job_spec, path, region=region)
        except JobSpecFileError as error:
            # Show every problem (file:line: field: why) where the path was typed: fix, retry.
            self.ask_yaml_path(str(path), f"{error.message}\n{error.hint}")
            return
        self.form(
            base=loaded.spec,
            title=f"Submit {path.name}",
            notes=loaded.notes,
            save_dir=path.parent,
        )

    def _form_done(self, submission: JobSubmission | None) -> None:
        if submission is not None:
            self.submit(submission)

    @work(group="jobs-ops", exit_on_error=False, description="submit the training job")
    async def submit(self, submission: JobSubmission) -> None:
        bar = self.query_one(OperationsBar)
        key = bar.start(f"submit {submission.display_name}")
        loop = asyncio.get_running_loop()

        def progress(text: str) -> None:
            # Called from the service's worker thread as well as from this loop.
            loop.call_soon_threadsafe(bar.update_op, key, text, 0)

        try:
            service = await self.get_service()
            if submission.code is not None and submission.request is not None:
                self.staging_bucket = submission.request.staging_bucket
                job = await self.submit_code(submission, progress)
            elif submission.request is not None:
                self.staging_bucket = submission.request.staging_bucket
                job = await service.submit_trainer(submission.request, progress=progress)
            else:
                assert submission.spec is not None
                progress("Creating the training job…")
                job = await service.submit(submission.spec)
        except CloudpaneError as error:
            self.show_error(error)
            return
        except Exception as exc:  # a bug must not take the app down
            self.show_error(translate(exc, "submit the training job"))
            return
        finally:
            bar.finish(key)
        if job.region not in self.regions:
            self.regions.append(job.region)
        self.jobs[job.id] = job
        self.render_table()
        self.select_job(job.id)
        where = (
            "in the sandbox"
            if self.connection and self.connection.backend.is_sandbox
            else (f"on Vertex AI in {job.region}")
        )
        self.app.notify(
            f"{job.display_name} submitted {where} (job {job.id}). Press l for its logs.",
            title="Job submitted",
            markup=False,
        )
        self.refresh_jobs()

    async def submit_code(self, submission: JobSubmission, progress: Callable[[str], None]) -> Job:
        """Package the person's code; with "Try in the sandbox first", run it there, then here."""
        import tempfile

        from tui.services.connect import connect_sandbox
        from tui.services.local_first import package_code, run_in_sandbox

        code, request = submission.code, submission.request
        assert code is not None and request is not None and self.connection is not None
        service = await self.get_service()
        with tempfile.TemporaryDirectory(prefix="cloudpane-package-") as tmp:
            built = await asyncio.to_thread(package_code, code, Path(tmp))
            progress(f"Packaged {built.summary()}")
            if code.local_first and not self.connection.backend.is_sandbox:
                config = self.app.config  # type: ignore[attr-defined]
                local = await asyncio.to_thread(connect_sandbox, config)
                await run_in_sandbox(local.backend, request, built, progress)
            return await service.submit_code(request, built.archives, built.module, progress)

    # cancel, delete ----------------------------------------------------------
    def action_cancel(self) -> None:
        job = self.need_selection()
        if job is None or not self.writable("cancel a job"):
            return
        if not job.is_active:
            self.app.notify(f"{job.display_name} already ended ({job.status}).", markup=False)
            return
        body = (
            f"Cancel {job.display_name} ({job.hardware} in {job.region})?\n"
            "Its replicas are stopped; progress since the last checkpoint is lost. "
            "Billing stops when it is CANCELLED."
        )
        self.app.push_screen(
            ConfirmScreen("Cancel training job", body, confirm_label="Cancel job"),
            lambda ok: self._confirmed(ok, self.cancel_job, job),
        )

    def _confirmed(self, ok: bool | None, then: Callable[[Job], object], job: Job) -> None:
        if ok:
            then(job)

    @work(group="jobs-ops", exit_on_error=False, description="cancel the training job")
    async def cancel_job(self, job: Job) -> None:
        try:
            service = await self.get_service()
            await service.cancel(job.name)
        except CloudpaneError as error:
            self.show_error(error)
            return
        self.app.notify(f"Cancelling {job.display_name}…", markup=False)
        self.refresh_jobs()

    def action_delete(self) -> None:
        job = self.need_selection()
        if job is None or not self.writable("delete a job"):
            return
        if job.is_active:
            self.app.notify(
                f"{job.display_name} is {job.status}; cancel it first (c).",
                severity="warning",
                markup=False,
            )
            return
        body = (
            f"Delete the record of {job.display_name}? Its logs and the files it wrote to "
            "Cloud Storage are kept."
        )
        self.app.push_screen(
            ConfirmScreen("Delete job", body, confirm_label="Delete"),
            lambda ok: self._confirmed(ok, self.delete_job, job),
        )

    @work(group="jobs-ops", exit_on_error=False, description="delete the training job")
    async def delete_job(self, job: Job) -> None:
        try:
            service = await self.get_service()
            await service.delete(job.name)
        except CloudpaneError as error:
            self.show_error(error)
            return
        self.app.notify(f"{job.display_name} deleted.", markup=False)
        self.refresh_jobs()

    # logs, curves, tuning ------------------------------------------------------
    def action_logs(self, from_start: bool = True) -> None:
        job = self.need_selection()
        if job is None or self.connection is None:
            return
        from tui.panes.job_logs import LogScreen

        self.app.push_screen(LogScreen(self.get_hub(), job, from_start=from_start))

    def action_logs_new(self) -> None:
        self.action_logs(from_start=False)

    def action_curves(self) -> None:
        job = self.need_selection()
        if job is None or self.connection is None:
            return
        from tui.panes.job_logs import CurvesScreen

        self.app.push_screen(CurvesScreen(self.get_hub(), job))

    def action_tuning(self) -> None:
        if self.connection is None:
            self.app.notify("Not connected yet.", severity="warning", markup=False)
            return
        try:
            from tui.panes.tuning import TuningScreen  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            self.app.notify(
                "Hyperparameter tuning is not available yet.", severity="warning", markup=False
            )
            return
        self.app.push_screen(TuningScreen(self.connection))
