"""The project's state, gathered once: what `cloudpane status` prints and `watch` compares.

One read of the instances and one of the jobs, then the same arithmetic the VMs pane does
(`pricing.ticker`, `policy.evaluate`). Nothing here prints; `to_json` is the stable,
documented machine form (schema "cloudpane.status/1", see docs/oncall.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tui.services.errors import CloudpaneError, translate

if TYPE_CHECKING:
    from tui.config import Config
    from tui.services.clients import Backend
    from tui.services.job_models import Job
    from tui.services.models import Instance
    from tui.services.policy import CpuSamples, TurnOffWarning, WarningTracker
    from tui.services.pricing import RunLedger
    from tui.services.tuning import TuningJob

SCHEMA = "cloudpane.status/1"
FAILED_STATE = "JOB_STATE_FAILED"
DEFAULT_FAILED_WITHIN = timedelta(hours=24)

# Exit codes, for cron, CI and monitoring systems.
OK = 0  # nothing needs attention
ATTENTION = 1  # a turn-off warning stands, or a job failed recently
UNREADABLE = 2  # (part of) the project could not be read: the report is incomplete


@dataclass(frozen=True)
class ReadError:
    """A part of the project that could not be read, with a sentence a person can act on."""

    what: str  # "instances", "jobs", or "project" (nothing could be read)
    message: str
    hint: str = ""

    @property
    def text(self) -> str:
        return f"{self.message} {self.hint}".strip()


@dataclass(frozen=True)
class InstanceRow:
    id: str
    name: str
    zone: str
    status: str
    machine_type: str
    gpus: int
    hourly: float | None  # machine + GPUs while running; None: price unknown
    run_cost: float | None  # since the last start
    run_seconds: float
    stops_at: datetime | None
    warnings: tuple[TurnOffWarning, ...] = ()

    @property
    def is_running(self) -> bool:
        return self.status == "RUNNING"


@dataclass(frozen=True)
class JobRow:
    id: str
    name: str  # projects/P/locations/R/customJobs/ID
    display_name: str
    state: str  # JOB_STATE_RUNNING, …
    region: str
    hardware: str
    hourly: float | None  # estimated Vertex AI $/h while it runs
    created: datetime | None
    started: datetime | None
    ended: datetime | None
    error: str | None

    @property
    def status(self) -> str:
        return self.state.removeprefix("JOB_STATE_")

    @property
    def reason(self) -> str | None:
        """Why it failed, in one line (the exception's last line)."""
        from tui.services.job_models import failure_line

        return failure_line(self.error) if self.error else None


@dataclass(frozen=True)
class ProjectReport:
    project: str
    backend: str  # "sandbox" or "Google Cloud"
    region: str  # where jobs were listed
    generated_at: datetime
    instances: tuple[InstanceRow, ...] = ()
    warnings: tuple[TurnOffWarning, ...] = ()
    new_warnings: tuple[TurnOffWarning, ...] = ()  # announced now by the tracker, if one was given
    jobs: tuple[JobRow, ...] = ()
    jobs_available: bool = False
    burn_compute: float = 0.0
    burn_disks: float = 0.0
    burn_training: float = 0.0  # running Vertex AI jobs, at training prices
    unknown_prices: tuple[str, ...] = ()
    today: float = 0.0
    month_projection: float = 0.0
    monthly_budget: float | None = None
    catalog_label: str = ""
    failed_within: timedelta = DEFAULT_FAILED_WITHIN
    errors: tuple[ReadError, ...] = ()

    @property
    def burn_total(self) -> float:
        return self.burn_compute + self.burn_disks + self.burn_training

    @property
    def instances_available(self) -> bool:
        # "project": nothing could be read at all (watch's last resort).
        return not any(e.what in ("instances", "project") for e in self.errors)

    @property
    def running_instances(self) -> list[InstanceRow]:
        return [row for row in self.instances if row.is_running]

    @property
    def active_jobs(self) -> list[JobRow]:
        from tui.services.job_models import ACTIVE_STATES

        return [job for job in self.jobs if job.state in ACTIVE_STATES]

    @property
    def failed_jobs(self) -> list[JobRow]:
        """Jobs that FAILED within `failed_within` of the report (ended, else last updated)."""
        since = self.generated_at - self.failed_within
        return [
            job
            for job in self.jobs
            if job.state == FAILED_STATE and (job.ended or job.created or since) >= since
        ]

    @property
    def attention(self) -> list[str]:
        """One line per reason this report needs a person (empty: all is well)."""
        reasons = [f"{w.instance_name} {w.rule}: {w.evidence}" for w in self.warnings]
        reasons += [
            f"job {j.display_name} ({j.id}) failed: {j.error or 'no reason given'}"
            for j in self.failed_jobs
        ]
        return reasons

    @property
    def exit_code(self) -> int:
        if self.errors:
            return UNREADABLE
        return ATTENTION if self.attention else OK


def _job_hourly(job: Job) -> float | None:
    from tui.services import pricing

    return pricing.job_hourly(job.spec)


def job_row(job: Job) -> JobRow:
    return JobRow(
        id=job.id,
        name=job.name,
        display_name=job.display_name,
        state=job.state,
        region=job.region,
        hardware=job.hardware,
        hourly=_job_hourly(job) if job.is_active else None,
        created=job.created,
        started=job.started,
        ended=job.ended,
        error=job.error,
    )


async def _read_instances(backend: Backend) -> list[Instance]:
    """Every instance with its disk types, read as REST JSON (rest_reads): no
    google-cloud-compute import, which alone took longer than `gcloud compute instances list`."""
    from tui.services.rest_reads import RestReader

    return await RestReader(backend).list_instances()


async def _read_jobs(backend: Backend, region: str) -> tuple[list[Job], list[TuningJob]]:
    """The region's custom jobs and tuning jobs (whose running trials are billed too), read
    as REST JSON: google-cloud-aiplatform takes seconds to import only to read two lists."""
    import asyncio

    from tui.services.rest_reads import RestReader

    reader = RestReader(backend)
    jobs, studies = await asyncio.gather(reader.list_jobs(region), reader.list_tuning_jobs(region))
    return jobs, studies


def errors_for(errors: list[ReadError], what: str) -> list[ReadError]:
    return [e for e in errors if e.what == what]


def _read_error(what: str, exc: BaseException) -> ReadError:
    error = exc if isinstance(exc, CloudpaneError) else translate(exc, f"list {what}")
    return ReadError(what, error.message, error.hint)


async def gather(
    backend: Backend,
    config: Config,
    now: datetime | None = None,
    tracker: WarningTracker | None = None,
    ledger: RunLedger | None = None,
    *,
    cpu_samples: CpuSamples | None = None,
    failed_within: timedelta = DEFAULT_FAILED_WITHIN,
    region: str | None = None,
) -> ProjectReport:
    """Read the project once (instances and jobs concurrently) and work out what it means.

    Never raises for an unreadable project: failures land in `errors` (and the jobs are then
    "not available"); a Vertex AI API that is not enabled means no jobs, not an error.
    With a `tracker`, `new_warnings` holds the warnings it announces now (for `watch`).
    """
    import asyncio

    from tui.services import policy, pricing
    from tui.services.errors import ApiNotEnabled

    region = region or backend.region
    rules = config.turn_off_rules()
    catalog = pricing.get_catalog()
    laptop = config.cost_settings().laptop_price
    results = await asyncio.gather(
        _read_instances(backend), _read_jobs(backend, region), return_exceptions=True
    )
    now = now or datetime.now(timezone.utc)
    found_instances, found_jobs = results
    errors: list[ReadError] = []
    instances: list[Instance] = []
    if isinstance(found_instances, BaseException):
        if not isinstance(found_instances, Exception):
            raise found_instances  # KeyboardInterrupt, CancelledError: not ours to swallow
        errors.append(_read_error("instances", found_instances))
    else:
        instances = found_instances
    jobs: list[JobRow] = []
    read_jobs: list[Job] = []
    read_studies: list[TuningJob] = []
    jobs_available = False
    if isinstance(found_jobs, BaseException):
        if not isinstance(found_jobs, Exception):
            raise found_jobs
        if not isinstance(found_jobs, ApiNotEnabled):
            errors.append(_read_error("jobs", found_jobs))
    else:
        read_jobs, read_studies = found_jobs
        jobs = [job_row(j) for j in read_jobs]
        jobs_available = True

    if ledger is None:  # one-shot `status`: the ledger the TUI and watch keep, read and fed
        from tui.services.spend_ledger import SpendStore

        store = SpendStore.in_state_dir(backend.project)
        ledger = store.load()
    else:
        store = None
    from tui.services.fleet import assess

    instances_read = not errors_for(errors, "instances")
    assessment = assess(
        instances,
        now,
        rules,
        ledger=ledger,
        cpu_samples=cpu_samples,
        laptop_price=laptop,
        complete=instances_read,
        catalog=catalog,
    )
    training = pricing.jobs_burn(
        read_jobs, now, catalog, tuning_jobs=read_studies, ledger=ledger, complete=jobs_available
    )
    if store is not None:
        store.save(ledger, now, force=True)
    figures = assessment.figures
    # Unread instances are not "no warnings".
    warnings: list[TurnOffWarning] = assessment.warnings if instances_read else []
    fresh: list[TurnOffWarning] = []
    if tracker is not None and not errors_for(errors, "instances"):
        # Unread instances are not "no warnings": keep the episodes open until we know.
        fresh = tracker.update(warnings, now)
    by_instance: dict[str, list[TurnOffWarning]] = {}
    for warning in warnings:
        by_instance.setdefault(warning.instance_id, []).append(warning)
    rows: list[InstanceRow] = []
    for inst in sorted(instances, key=lambda i: (not i.is_running, i.name)):
        cost = figures.per_instance.get(inst.id)
        rows.append(
            InstanceRow(
                id=inst.id,
                name=inst.name,
                zone=inst.zone,
                status=inst.status,
                machine_type=inst.machine_type,
                gpus=catalog.gpu_count(inst),
                hourly=cost.hourly if cost else None,
                run_cost=cost.run_cost if cost else None,
                run_seconds=cost.run_seconds if cost else 0.0,
                stops_at=inst.stops_at() if inst.is_running else None,
                warnings=tuple(by_instance.get(inst.id, ())),
            )
        )
    return ProjectReport(
        project=backend.project,
        backend=backend.label,
        region=region,
        generated_at=now,
        instances=tuple(rows),
        warnings=tuple(warnings),
        new_warnings=tuple(fresh),
        jobs=tuple(jobs),
        jobs_available=jobs_available,
        burn_compute=figures.burn.compute,
        burn_disks=figures.burn.disks,
        burn_training=training.rate,
        unknown_prices=figures.burn.unknown + training.unknown,
        today=figures.today.value + training.today,
        month_projection=pricing.month_projection(figures.burn.total + training.rate, now),
        monthly_budget=rules.monthly_budget if rules.enabled(policy.OVER_BUDGET) else None,
        catalog_label=figures.catalog_label,
        failed_within=failed_within,
        errors=tuple(errors),
    )


# -- the machine form ---------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, to the second: stable and easy for other tools."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def warning_json(warning: TurnOffWarning) -> dict[str, Any]:
    return {
        "instance": warning.instance_name,
        "instance_id": warning.instance_id,
        "rule": warning.rule,
        "title": warning.title,
        "evidence": warning.evidence,
        "hourly_usd": _money(warning.hourly),
        "since": iso(warning.since),
    }


def job_json(job: JobRow) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "display_name": job.display_name,
        "state": job.state,
        "region": job.region,
        "hardware": job.hardware,
        "hourly_usd": _money(job.hourly),
        "created": iso(job.created),
        "started": iso(job.started),
        "ended": iso(job.ended),
        "error": job.error,
    }


def to_json(report: ProjectReport) -> dict[str, Any]:
    """The report as plain JSON types; the schema is documented in docs/oncall.md."""
    jobs_error = next((e.text for e in report.errors if e.what == "jobs"), None)
    return {
        "schema": SCHEMA,
        "generated_at": iso(report.generated_at),
        "project": report.project,
        "backend": report.backend,
        "exit_code": report.exit_code,
        "attention": report.attention,
        "instances": [
            {
                "id": row.id,
                "name": row.name,
                "zone": row.zone,
                "status": row.status,
                "machine_type": row.machine_type,
                "gpus": row.gpus,
                "hourly_usd": _money(row.hourly) if row.is_running else 0.0,
                "run_cost_usd": _money(row.run_cost),
                "running_seconds": round(row.run_seconds),
                "stops_at": iso(row.stops_at),
                "warnings": [w.rule for w in row.warnings],
            }
            for row in report.instances
        ],
        "warnings": [warning_json(w) for w in report.warnings],
        "jobs": {
            "available": report.jobs_available,
            "error": jobs_error,
            "region": report.region,
            "failed_within_hours": report.failed_within.total_seconds() / 3600,
            "active": [job_json(j) for j in report.active_jobs],
            "failed_recently": [job_json(j) for j in report.failed_jobs],
        },
        "costs": _costs_json(report),
        "errors": [{"what": e.what, "message": e.message, "hint": e.hint} for e in report.errors],
    }


def _costs_json(report: ProjectReport) -> dict[str, Any] | None:
    """None when the instances could not be read: a $0 burn rate would be a lie."""
    if not report.instances_available:
        return None
    return {
        "burn_usd_per_hour": _money(report.burn_total),
        "compute_usd_per_hour": _money(report.burn_compute),
        "disks_usd_per_hour": _money(report.burn_disks),
        "training_usd_per_hour": _money(report.burn_training),
        "today_usd": _money(report.today),
        "month_projection_usd": _money(report.month_projection),
        "monthly_budget_usd": report.monthly_budget,
        "unknown_prices": list(report.unknown_prices),
        "catalog": report.catalog_label,
    }
