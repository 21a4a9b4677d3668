"""Vertex AI hyperparameter tuning jobs: submit a parsed study, watch its trials, cancel, export
the best trial's parameters, and re-run it as a plain CustomJob.

The same aiplatform_v1 GAPIC `JobServiceClient` over REST as JobsService, to Google or to the
sandbox. The job's REST JSON is the pivot (as in jobs.py): `TuningJob` and `Trial` are read
from it, so the details view and the tables always agree.

A study whose YAML has no `trialJobSpec` runs the bundled trainer with the Jobs form's settings
(a `TrainerJobRequest`): the trainer sdist is built and uploaded to the staging bucket, and every
trial gets `--hypertune-metric=<the study's metric>` so the trainer reports what the study asks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from tui.services.clients import Backend, call, client, read_retry
from tui.services.errors import InvalidArgument
from tui.services.hpconfig import HpTuningSpec, format_flags, to_vertex_dict
from tui.services.job_models import (
    ACTIVE_STATES,
    Job,
    JobSpec,
    LogEntry,
    TrainerJobRequest,
    label_map,
)
from tui.services.jobs import (
    JobsService,
    _time,
    spec_from_job_spec,
    spec_to_job_spec,
    to_resource,
    trainer_job_spec,
)
from tui.services.logs import LogsService, job_filter

_TUNING_NAME = re.compile(r"^projects/[^/]+/locations/([^/]+)/hyperparameterTuningJobs/[^/]+$")
TRIAL_ACTIVE = frozenset({"REQUESTED", "ACTIVE", "STOPPING"})
HYPERTUNE_FLAG = "--hypertune-metric"

# --- dataclasses ----------------------------------------------------------------------------

ParamValue = float | int | str


@dataclass(frozen=True)
class Trial:
    """One trial of a study, as the trials table shows it."""

    id: str
    state: str  # REQUESTED, ACTIVE, STOPPING, SUCCEEDED, INFEASIBLE
    parameters: dict[str, ParamValue]
    metric: float | None = None  # finalMeasurement's value of the study's metric
    step: int | None = None  # finalMeasurement.stepCount
    measurements: tuple[tuple[int, float], ...] = ()  # (step, value) reported so far
    started: datetime | None = None
    ended: datetime | None = None
    infeasible_reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.state in TRIAL_ACTIVE

    @property
    def latest(self) -> float | None:
        """The final metric, or the last value reported while it runs."""
        if self.metric is not None:
            return self.metric
        return self.measurements[-1][1] if self.measurements else None

    def running_time(self, now: datetime | None = None) -> timedelta | None:
        if self.started is None:
            return None
        end = self.ended or now or datetime.now(timezone.utc)
        return max(end - self.started, timedelta(0))


@dataclass(frozen=True)
class TuningJob:
    """A Vertex AI HyperparameterTuningJob."""

    name: str  # projects/P/locations/R/hyperparameterTuningJobs/ID
    display_name: str
    state: str
    metric_id: str
    goal: str  # MAXIMIZE | MINIMIZE
    algorithm: str
    parameter_ids: tuple[str, ...]
    max_trial_count: int
    parallel_trial_count: int
    max_failed_trial_count: int
    trials: tuple[Trial, ...]
    trial_job: JobSpec
    created: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    updated: datetime | None = None
    error: str | None = None
    error_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def region(self) -> str:
        parts = self.name.split("/")
        return parts[3] if len(parts) > 3 else self.trial_job.region

    @property
    def status(self) -> str:
        return self.state.removeprefix("JOB_STATE_")

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def succeeded(self) -> int:
        return sum(t.state == "SUCCEEDED" for t in self.trials)

    @property
    def failed(self) -> int:
        return sum(t.state == "INFEASIBLE" for t in self.trials)

    @property
    def running(self) -> int:
        return sum(t.is_active for t in self.trials)

    @property
    def best_trial(self) -> Trial | None:
        return best_trial(self)

    def running_time(self, now: datetime | None = None) -> timedelta | None:
        if self.started is None:
            return None
        end = self.ended or now or datetime.now(timezone.utc)
        return max(end - self.started, timedelta(0))


# --- resource JSON → dataclasses --------------------------------------------------------------


def _param_value(value: Any) -> ParamValue:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        number = float(value)
        return int(number) if number.is_integer() else number
    return str(value)


def _measurement_value(measurement: Mapping[str, Any], metric_id: str) -> float | None:
    for metric in measurement.get("metrics") or ():
        if metric.get("metricId") == metric_id and metric.get("value") is not None:
            return float(metric["value"])
    return None


def trial_from_resource(data: Mapping[str, Any], metric_id: str) -> Trial:
    final = data.get("finalMeasurement") or {}
    measurements = []
    for m in data.get("measurements") or ():
        value = _measurement_value(m, metric_id)
        if value is not None:
            measurements.append((int(m.get("stepCount") or 0), value))
    return Trial(
        id=str(data.get("id", "")),
        state=str(data.get("state", "STATE_UNSPECIFIED")),
        parameters={
            str(p.get("parameterId")): _param_value(p.get("value"))
            for p in data.get("parameters") or ()
        },
        metric=_measurement_value(final, metric_id) if final else None,
        step=int(final["stepCount"]) if final.get("stepCount") is not None else None,
        measurements=tuple(measurements),
        started=_time(data.get("startTime")),
        ended=_time(data.get("endTime")),
        infeasible_reason=data.get("infeasibleReason") or None,
    )


def tuning_job_from_resource(data: Mapping[str, Any]) -> TuningJob:
    name = str(data.get("name", ""))
    parts = name.split("/")
    region = parts[3] if len(parts) > 3 else ""
    study = data.get("studySpec") or {}
    metric = (study.get("metrics") or [{}])[0]
    metric_id = str(metric.get("metricId", ""))
    display_name = str(data.get("displayName", ""))
    labels = label_map(data.get("labels"))
    error = data.get("error") or {}
    return TuningJob(
        name=name,
        display_name=display_name,
        state=str(data.get("state", "JOB_STATE_UNSPECIFIED")),
        metric_id=metric_id,
        goal=str(metric.get("goal", "GOAL_TYPE_UNSPECIFIED")),
        algorithm=str(study.get("algorithm", "ALGORITHM_UNSPECIFIED")),
        parameter_ids=tuple(str(p.get("parameterId")) for p in study.get("parameters") or ()),
        max_trial_count=int(data.get("maxTrialCount") or 0),
        parallel_trial_count=int(data.get("parallelTrialCount") or 0),
        max_failed_trial_count=int(data.get("maxFailedTrialCount") or 0),
        trials=tuple(trial_from_resource(t, metric_id) for t in data.get("trials") or ()),
        trial_job=spec_from_job_spec(data.get("trialJobSpec") or {}, display_name, region, labels),
        created=_time(data.get("createTime")),
        started=_time(data.get("startTime")),
        ended=_time(data.get("endTime")),
        updated=_time(data.get("updateTime")),
        error=str(error.get("message")) if error.get("message") else None,
        error_code=int(error["code"]) if error.get("code") is not None else None,
        labels=labels,
    )


def region_of(name: str) -> str:
    match = _TUNING_NAME.match(name)
    if match is None:
        raise InvalidArgument(
            f"{name!r} is not a tuning job name.",
            "Use projects/P/locations/REGION/hyperparameterTuningJobs/ID.",
        )
    return match.group(1)


# --- the best trial and its parameters --------------------------------------------------------


def best_trial(job: TuningJob) -> Trial | None:
    """The SUCCEEDED trial with the best final metric for the study's goal (lowest id on ties)."""
    done = [t for t in job.trials if t.state == "SUCCEEDED" and t.metric is not None]
    if not done:
        return None
    sign = -1.0 if job.goal == "MAXIMIZE" else 1.0

    def rank(t: Trial) -> tuple[float, int]:
        assert t.metric is not None
        return (sign * t.metric, int(t.id) if t.id.isdigit() else 0)

    return min(done, key=rank)


def best_params_yaml(job: TuningJob) -> str:
    """The best trial's parameters as YAML, with the metric in a comment."""
    best = _need_best(job)
    head = (
        f"# best trial {best.id} of tuning job {job.display_name} ({job.id})\n"
        f"# {job.metric_id} = {best.metric} ({job.goal})\n"
    )
    return head + yaml.safe_dump(dict(best.parameters), sort_keys=False, allow_unicode=True)


def best_params_flags(job: TuningJob) -> list[str]:
    """The best trial's parameters as the trainer's flags: `--name=value`, as Vertex passes them."""
    return format_flags(_need_best(job).parameters)


def _need_best(job: TuningJob) -> Trial:
    best = best_trial(job)
    if best is None:
        raise InvalidArgument(
            f"Tuning job {job.display_name} has no succeeded trial yet.",
            "Wait for a trial to finish, or look at the failed trials' logs.",
        )
    return best


def _flag_key(arg: str) -> str:
    """`--learning-rate=0.1` and `--learning_rate` name the same flag (the trainer takes both)."""
    return arg.split("=", 1)[0].lstrip("-").replace("-", "_")


def _replace_flags(args: tuple[str, ...], flags: list[str]) -> tuple[str, ...]:
    """Args with `flags` appended, after dropping any earlier value of the same flags."""
    keys = {_flag_key(f) for f in flags}
    kept: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and _flag_key(arg) in keys:
            has_value = "=" not in arg and i + 1 < len(args) and not args[i + 1].startswith("--")
            i += 2 if has_value else 1
            continue
        kept.append(arg)
        i += 1
    return (*kept, *flags)


def best_trial_job_spec(job: TuningJob, display_name: str | None = None) -> JobSpec:
    """The best trial as a plain CustomJob: the trial spec with the best parameters as flags,
    its outputs in baseOutputDirectory/best-trial-<id>/."""
    best = _need_best(job)
    flags = format_flags(best.parameters)
    pools = tuple(
        dataclasses.replace(p, args=_replace_flags(p.args, flags))
        for p in job.trial_job.worker_pools
    )
    base = job.trial_job.base_output_directory.rstrip("/")
    name = display_name or f"{job.display_name} best trial {best.id}"
    return dataclasses.replace(
        job.trial_job,
        display_name=name[:128],
        worker_pools=pools,
        base_output_directory=f"{base}/best-trial-{best.id}" if base else "",
        region=job.region,
    )


# --- the trial job spec for the bundled trainer ----------------------------------------------


def with_hypertune_metric(args: tuple[str, ...], metric_id: str) -> tuple[str, ...]:
    """The trainer args with exactly one `--hypertune-metric=<metric_id>`."""
    return _replace_flags(args, [f"{HYPERTUNE_FLAG}={metric_id}"])


def bundled_trial_job_spec(
    req: TrainerJobRequest, metric_id: str, package_uri: str, output_uri: str
) -> dict[str, Any]:
    """The trialJobSpec (REST JSON) running the bundled trainer with the Jobs form's settings."""
    req = dataclasses.replace(req, trainer_args=with_hypertune_metric(req.trainer_args, metric_id))
    return spec_to_job_spec(trainer_job_spec(req, package_uri, output_uri))


# --- loading a study and pricing its trials --------------------------------------------------


def uses_bundled_trainer(spec: HpTuningSpec) -> bool:
    """Whether the trials run cloudpane's trainer: no trialJobSpec (the Jobs form fills it)."""
    return spec.trial_job_spec is None


def load_study(path: Path) -> HpTuningSpec:
    """Read and validate a tuning YAML file (either format); HpConfigInvalid lists every error.

    When the trials run the bundled trainer (no trialJobSpec), its metrics and flags are checked
    too: a metric it cannot report or a parameter it has no flag for would fail every trial.
    """
    from tui.services.hpconfig import bundled_trainer_flags, bundled_trainer_metrics, load_hp_config

    spec = load_hp_config(path)
    if uses_bundled_trainer(spec):
        spec = load_hp_config(path, bundled_trainer_metrics(), bundled_trainer_flags())
    return spec


@dataclass(frozen=True)
class TrialHardware:
    machine_type: str
    region: str
    accelerator_type: str | None = None
    accelerator_count: int = 0
    replicas: int = 1

    def hourly_price(self) -> float | None:
        """Vertex AI's estimated $/h for one trial (None when the catalog has no price)."""
        from tui.services.pricing import get_catalog

        return get_catalog().vertex_hourly(  # takes Vertex's enum names (NVIDIA_TESLA_T4)
            self.machine_type,
            self.region,
            self.accelerator_type,
            self.accelerator_count,
            self.replicas,
        )

    @property
    def words(self) -> str:
        text = f"{self.replicas}× {self.machine_type}"
        if self.accelerator_type and self.accelerator_count:
            text += f" + {self.accelerator_count}× {self.accelerator_type}"
        return f"{text} in {self.region}"


def trial_hardware(
    spec: HpTuningSpec, defaults: TrainerJobRequest | None, region: str
) -> TrialHardware | None:
    """What one trial runs on: the file's first worker pool, else the Jobs form's machine."""
    if spec.trial_job_spec is None:
        if defaults is None:
            return None
        return TrialHardware(
            defaults.machine_type,
            defaults.region,
            defaults.accelerator_type,
            defaults.accelerator_count,
            max(1, defaults.replica_count),
        )
    pools = [p for p in spec.trial_job_spec.get("workerPoolSpecs") or [] if p]
    if not pools:
        return None
    machine = pools[0].get("machineSpec") or {}
    replicas = sum(int(p.get("replicaCount") or (1 if i == 0 else 0)) for i, p in enumerate(pools))
    return TrialHardware(
        str(machine.get("machineType", "")),
        region,
        machine.get("acceleratorType"),
        int(machine.get("acceleratorCount") or 0),
        max(1, replicas),
    )


# --- the service ----------------------------------------------------------------------------

Progress = Callable[[str], None]


class TuningService:
    """Async operations on Vertex AI hyperparameter tuning jobs."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.jobs = JobsService(backend)
        self.logs = LogsService(backend)

    def _client(self, region: str) -> Any:
        def build() -> Any:
            from google.cloud import aiplatform_v1

            return aiplatform_v1.JobServiceClient(
                credentials=self.backend.credentials,
                transport="rest",
                client_options=self.backend.regional_options(region),
            )

        return client(self.backend, f"vertex.jobs.{region}", build)

    def _parent(self, region: str) -> str:
        return f"projects/{self.backend.project}/locations/{region}"

    async def submit(
        self,
        spec: HpTuningSpec,
        trial_job_spec_defaults: TrainerJobRequest | None = None,
        *,
        display_name: str | None = None,
        region: str | None = None,
        progress: Progress | None = None,
    ) -> TuningJob:
        """Create the tuning job. Without a trialJobSpec in the file, the bundled trainer runs
        with `trial_job_spec_defaults` (the Jobs form: bucket, region, machine, args)."""
        say = progress or (lambda text: None)
        body = to_vertex_dict(spec)
        defaults = trial_job_spec_defaults
        name = display_name or spec.display_name or (defaults.display_name if defaults else "")
        if not name:
            name = f"tuning-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
        if spec.trial_job_spec is None:
            if defaults is None:
                raise InvalidArgument(
                    "The tuning file has no trialJobSpec, and no trainer settings were given.",
                    "Pick the staging bucket and machine for the bundled trainer (Jobs form, or "
                    "--staging-bucket on the command line), or add a trialJobSpec to the file.",
                )
            region = defaults.region
            body["trialJobSpec"] = await self._bundled_trial_spec(
                dataclasses.replace(defaults, display_name=name), spec.metric_id, say
            )
        region = region or self.backend.region
        body["displayName"] = name[:128]

        def create() -> TuningJob:
            from google.cloud import aiplatform_v1

            message = aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(body))
            created = self._client(region).create_hyperparameter_tuning_job(
                parent=self._parent(region), hyperparameter_tuning_job=message, timeout=60
            )
            return tuning_job_from_resource(to_resource(created))

        say("Creating the tuning job…")
        return await call(create, action=f"create tuning job {name!r}")

    async def _bundled_trial_spec(
        self, req: TrainerJobRequest, metric_id: str, say: Progress
    ) -> dict[str, Any]:
        package_uri, output_uri = await self.jobs.upload_trainer(req, "cloudpane-tuning", say)
        return bundled_trial_job_spec(req, metric_id, package_uri, output_uri)

    async def list_jobs(self, region: str | None = None) -> list[TuningJob]:
        """The region's tuning jobs, newest first."""
        region = region or self.backend.region

        def fetch() -> list[TuningJob]:
            pager = self._client(region).list_hyperparameter_tuning_jobs(
                request={"parent": self._parent(region), "page_size": 100},
                retry=read_retry(),
                timeout=30,
            )
            jobs = [tuning_job_from_resource(to_resource(j)) for j in pager]
            epoch = datetime.min.replace(tzinfo=timezone.utc)
            return sorted(jobs, key=lambda j: j.created or epoch, reverse=True)

        return await call(fetch, action=f"list tuning jobs in {region}")

    async def job_resource(self, name: str) -> dict[str, Any]:
        """The full HyperparameterTuningJob resource (REST JSON) for the details view."""
        region = region_of(name)

        def fetch() -> dict[str, Any]:
            found = self._client(region).get_hyperparameter_tuning_job(
                name=name, retry=read_retry(), timeout=30
            )
            return to_resource(found)

        return await call(fetch, action=f"read tuning job {name.rsplit('/', 1)[-1]}")

    async def get_job(self, name: str) -> TuningJob:
        return tuning_job_from_resource(await self.job_resource(name))

    async def trials(self, name: str) -> tuple[Trial, ...]:
        return (await self.get_job(name)).trials

    async def best_trial(self, name: str) -> Trial | None:
        return best_trial(await self.get_job(name))

    async def cancel(self, name: str) -> None:
        """Ask Vertex to cancel the whole study: running trials stop, the job ends CANCELLED."""
        region = region_of(name)

        def cancel() -> None:
            self._client(region).cancel_hyperparameter_tuning_job(name=name, timeout=30)

        await call(cancel, action=f"cancel tuning job {name.rsplit('/', 1)[-1]}")

    async def delete(self, name: str) -> None:
        region = region_of(name)

        def delete() -> None:
            self._client(region).delete_hyperparameter_tuning_job(name=name, timeout=30).result(
                timeout=60
            )

        await call(delete, action=f"delete tuning job {name.rsplit('/', 1)[-1]}")

    async def trial_logs(
        self, job: TuningJob | str, trial_id: str, lines: int = 500
    ) -> list[LogEntry]:
        """The last `lines` log entries of one trial, oldest first (entries labelled trial_id)."""
        job_id = job.id if isinstance(job, TuningJob) else job.rsplit("/", 1)[-1]
        lines = max(1, min(lines, 1000))
        filter_ = f'{job_filter(job_id)} AND labels.trial_id="{trial_id}"'
        fetcher = self.logs._fetcher

        def fetch() -> list[LogEntry]:
            return read_retry()(fetcher.page)(filter_, lines, True)  # type: ignore[no-any-return]

        newest = await call(fetch, action=f"read the logs of trial {trial_id}")
        return list(reversed(newest))

    async def job_logs(self, job: TuningJob | str, lines: int = 500) -> list[LogEntry]:
        """The last lines of the whole study (service lines and every trial)."""
        job_id = job.id if isinstance(job, TuningJob) else job.rsplit("/", 1)[-1]
        return await self.logs.tail(job_id, lines)

    async def rerun_best(self, job: TuningJob, display_name: str | None = None) -> Job:
        """Submit the best trial again as a plain CustomJob (JobsService)."""
        return await self.jobs.submit(best_trial_job_spec(job, display_name))

    async def follow(
        self, name: str, interval: float = 2.0, max_interval: float = 30.0
    ) -> AsyncIterator[TuningJob]:
        """Yield the job whenever it changed, until it ended (the last one yielded is final).

        Reads back off after errors (up to `max_interval`) and give up after 5 in a row.
        """
        import asyncio

        from tui.services.errors import CloudpaneError

        last_update: datetime | None = None
        delay = interval
        failures = 0
        while True:
            try:
                job = await self.get_job(name)
            except CloudpaneError:
                failures += 1
                if failures >= 5:
                    raise
                delay = min(delay * 2, max_interval)
                await asyncio.sleep(delay)
                continue
            failures, delay = 0, interval
            if job.updated != last_update or not job.is_active:
                last_update = job.updated
                yield job
            if not job.is_active:
                return
            await asyncio.sleep(delay)


# --- small formatting helpers shared by the CLI and the screen ------------------------------


def format_value(value: ParamValue | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e12:
            return str(int(value))
        return f"{value:.4g}"
    return str(value)


def format_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def parse_trainer_args(text: str) -> tuple[str, ...]:
    """The trainer args as a person types them in one field (shell quoting)."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise InvalidArgument(f"The trainer arguments cannot be read: {exc}.") from None
