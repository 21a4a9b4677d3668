"""The sandbox's Vertex AI v1 `hyperparameterTuningJobs`: create, get, list, cancel and delete.

REST paths as `google.cloud.aiplatform_v1.JobServiceClient(transport="rest")` sends them:

    POST   /v1/projects/{p}/locations/{loc}/hyperparameterTuningJobs
    GET    /v1/projects/{p}/locations/{loc}/hyperparameterTuningJobs[?pageSize&pageToken&filter]
    GET    /v1/projects/{p}/locations/{loc}/hyperparameterTuningJobs/{id}
    POST   /v1/projects/{p}/locations/{loc}/hyperparameterTuningJobs/{id}:cancel
    DELETE /v1/projects/{p}/locations/{loc}/hyperparameterTuningJobs/{id}   (a done Operation)

The job goes JOB_STATE_QUEUED → PENDING (fetch and unpack the trial package once) → RUNNING
(trials) → SUCCEEDED / FAILED, or CANCELLING → CANCELLED. Each trial is the trialJobSpec run as
local processes (see vertex_runner), as Vertex runs each trial as a CustomJob:

- its parameters are appended to every replica's args as `--<parameterId>=<value>`;
- its environment adds CLOUD_ML_TRIAL_ID, CLOUD_ML_HP_METRIC_FILE (its own cloudml-hypertune
  file) and AIP_MODEL_DIR & co. under baseOutputDirectory/<trial id>/ (Vertex's layout);
- at most parallelTrialCount trials run at once, capped by this machine's cores;
- a trial whose primary replica exits 0 and reported the study's metric is SUCCEEDED with a
  finalMeasurement (the last reported one, or the best with BEST_MEASUREMENT); one that exits
  non-zero, times out or reports nothing is INFEASIBLE with its reason. Once
  `maxFailedTrialCount` trials failed (0: only when every trial failed) the job is FAILED;
- every line a trial prints is a Cloud Logging entry with `resource.labels.job_id` = the tuning
  job's id and the entry label `trial_id`.

Parameters come from the study's algorithm: GRID_SEARCH walks hpconfig.grid_points in order and
ends when the grid is exhausted; RANDOM_SEARCH samples each parameter on its scale; the default
(ALGORITHM_UNSPECIFIED, Bayesian optimisation in Vertex) uses optuna's TPE sampler, see
`_BayesianProposer`. Early-stopping specs are accepted and not applied (trials run to the end).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import vertex
from tui.sandbox import vertex_runner as runner
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError
from tui.sandbox.logging_api import _json_body, log_store
from tui.services.hpconfig import HpTuningSpec, ParameterSpec, format_flags, grid_points

log = logging.getLogger("cloudpane.sandbox.vertex_tuning")

KIND = "hyperparameterTuningJob"
RUNTIME_KIND = "hyperparameterTuningJobRuntime"  # pids of running trial replicas
COLLECTION = "hyperparameterTuningJobs"
MAX_TRIALS = 1000
METRIC_POLL = 1.0  # seconds between reads of running trials' metric files
CODE_CANCELLED, CODE_INVALID, CODE_DEADLINE, CODE_INTERNAL = 1, 3, 4, 13

# The REST transport sends enums as numbers (use_integers_for_enums); Google answers names.
ALGORITHMS = {0: "ALGORITHM_UNSPECIFIED", 2: "GRID_SEARCH", 3: "RANDOM_SEARCH"}
GOALS = {0: "GOAL_TYPE_UNSPECIFIED", 1: "MAXIMIZE", 2: "MINIMIZE"}
SCALES = {
    0: "SCALE_TYPE_UNSPECIFIED",
    1: "UNIT_LINEAR_SCALE",
    2: "UNIT_LOG_SCALE",
    3: "UNIT_REVERSE_LOG_SCALE",
}
SELECTIONS = {
    0: "MEASUREMENT_SELECTION_TYPE_UNSPECIFIED",
    1: "LAST_MEASUREMENT",
    2: "BEST_MEASUREMENT",
}
NOISES = {0: "OBSERVATION_NOISE_UNSPECIFIED", 1: "LOW", 2: "HIGH"}
VALUE_SPECS = {
    "doubleValueSpec": "DOUBLE",
    "integerValueSpec": "INTEGER",
    "discreteValueSpec": "DISCRETE",
    "categoricalValueSpec": "CATEGORICAL",
}


def max_parallel_trials() -> int:
    """Trials that may run at once on this machine: one per core."""
    return max(1, os.cpu_count() or 1)


# --- validation and normalisation -----------------------------------------------------------


def _enum(value: Any, names: dict[int, str], what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in names:
            raise ApiError(400, f"Invalid {what} value {value}.")
        return names[value]
    text = str(value)
    if text not in names.values():
        raise ApiError(400, f"Invalid {what} {text!r}; use one of {', '.join(names.values())}.")
    return text


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid value for {what}: {value!r} is not a number.") from None
    if not math.isfinite(number):
        raise ApiError(400, f"Invalid value for {what}: {value!r}.")
    return number


def _whole(value: Any, what: str) -> int:
    number = _number(value, what)
    if not number.is_integer():
        raise ApiError(400, f"Invalid value for {what}: {value!r} is not an integer.")
    return int(number)


def _normalise_parameter(param: dict[str, Any], where: str) -> dict[str, Any]:
    pid = param.get("parameterId")
    if not pid or not isinstance(pid, str):
        raise ApiError(400, f"{where}.parameterId is required.")
    if param.get("conditionalParameterSpecs"):
        raise ApiError(
            400, f"{where}.conditionalParameterSpecs: the sandbox does not support them."
        )
    specs = [k for k in VALUE_SPECS if k in param]
    if len(specs) != 1:
        raise ApiError(
            400,
            f"{where} ({pid}) needs exactly one of doubleValueSpec, integerValueSpec, "
            "discreteValueSpec, categoricalValueSpec.",
        )
    kind = specs[0]
    spec = param[kind] or {}
    scale = _enum(param.get("scaleType", 0), SCALES, f"{where}.scaleType")
    out: dict[str, Any] = {"parameterId": pid}
    if kind in ("doubleValueSpec", "integerValueSpec"):
        # proto3 JSON leaves out zeros: a missing bound is 0, as Google reads it.
        spec = {"minValue": 0, "maxValue": 0, **spec}
        if kind == "doubleValueSpec":
            low: float = _number(spec["minValue"], f"{where}.{kind}.minValue")
            high: float = _number(spec["maxValue"], f"{where}.{kind}.maxValue")
            body: dict[str, Any] = {"minValue": low, "maxValue": high}
        else:
            low = _whole(spec["minValue"], f"{where}.{kind}.minValue")
            high = _whole(spec["maxValue"], f"{where}.{kind}.maxValue")
            body = {"minValue": str(int(low)), "maxValue": str(int(high))}  # int64: a string
        if low > high:
            raise ApiError(400, f"{where}.{kind}: minValue {low} is greater than maxValue {high}.")
        if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and low <= 0:
            raise ApiError(400, f"{where}.{kind}.minValue must be > 0 for {scale}.")
    else:
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise ApiError(400, f"{where}.{kind}.values must list at least one value.")
        if kind == "discreteValueSpec":
            numbers = [_number(v, f"{where}.{kind}.values") for v in values]
            if any(b <= a for a, b in itertools.pairwise(numbers)):
                raise ApiError(400, f"{where}.{kind}.values must be increasing.")
            if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and numbers[0] <= 0:
                raise ApiError(400, f"{where}.{kind}.values must be > 0 for {scale}.")
            body = {"values": numbers}
        else:
            texts = [str(v) for v in values]
            if len(set(texts)) != len(texts):
                raise ApiError(400, f"{where}.{kind}.values has repeated categories.")
            body = {"values": texts}
    if "defaultValue" in spec:
        body["defaultValue"] = spec["defaultValue"]
    out[kind] = body
    if scale != "SCALE_TYPE_UNSPECIFIED":
        out["scaleType"] = scale
    return out


def normalise_tuning_job(body: dict[str, Any]) -> dict[str, Any]:
    """Check a HyperparameterTuningJob as Vertex does; its REST JSON form as Google answers."""
    display_name = body.get("displayName")
    if not display_name or not isinstance(display_name, str):
        raise ApiError(400, "HyperparameterTuningJob.displayName is required.")
    if len(display_name) > 128:
        raise ApiError(400, "HyperparameterTuningJob.displayName must be at most 128 characters.")
    study = body.get("studySpec")
    if not isinstance(study, dict):
        raise ApiError(400, "HyperparameterTuningJob.studySpec is required.")
    metrics = study.get("metrics")
    if not isinstance(metrics, list) or len(metrics) != 1:
        raise ApiError(400, "studySpec.metrics must contain exactly one metric.")
    metric_id = metrics[0].get("metricId")
    if not metric_id:
        raise ApiError(400, "studySpec.metrics[0].metricId is required.")
    goal = _enum(metrics[0].get("goal", 0), GOALS, "studySpec.metrics[0].goal")
    if goal == "GOAL_TYPE_UNSPECIFIED":
        raise ApiError(400, "studySpec.metrics[0].goal must be MAXIMIZE or MINIMIZE.")
    params = study.get("parameters")
    if not isinstance(params, list) or not params:
        raise ApiError(400, "studySpec.parameters must contain at least one parameter.")
    parameters = [
        _normalise_parameter(p or {}, f"studySpec.parameters[{i}]") for i, p in enumerate(params)
    ]
    ids = [p["parameterId"] for p in parameters]
    if len(set(ids)) != len(ids):
        raise ApiError(400, "studySpec.parameters: parameterIds must be unique.")
    algorithm = _enum(study.get("algorithm", 0), ALGORITHMS, "studySpec.algorithm")
    if algorithm == "GRID_SEARCH":
        doubles = [p["parameterId"] for p in parameters if "doubleValueSpec" in p]
        if doubles:
            raise ApiError(
                400,
                f"GRID_SEARCH needs INTEGER, DISCRETE or CATEGORICAL parameters; "
                f"{', '.join(doubles)} is a DOUBLE range.",
            )
    out_study: dict[str, Any] = {
        "metrics": [{"metricId": str(metric_id), "goal": goal}],
        "parameters": parameters,
        "algorithm": algorithm,
    }
    if "measurementSelectionType" in study:
        out_study["measurementSelectionType"] = _enum(
            study["measurementSelectionType"], SELECTIONS, "measurementSelectionType"
        )
    if "observationNoise" in study:
        out_study["observationNoise"] = _enum(study["observationNoise"], NOISES, "observationNoise")
    for key in (
        "decayCurveStoppingSpec",
        "medianAutomatedStoppingSpec",
        "convexAutomatedStoppingSpec",
    ):
        if key in study:
            out_study[key] = study[key] or {}
    max_trials = _whole(body.get("maxTrialCount", 0), "maxTrialCount")
    if not 1 <= max_trials <= MAX_TRIALS:
        raise ApiError(400, f"maxTrialCount must be between 1 and {MAX_TRIALS} (got {max_trials}).")
    parallel = _whole(body.get("parallelTrialCount", 0), "parallelTrialCount")
    if parallel < 1:
        raise ApiError(400, "parallelTrialCount must be at least 1.")
    if parallel > max_trials:
        raise ApiError(400, "parallelTrialCount must not be greater than maxTrialCount.")
    failed = _whole(body.get("maxFailedTrialCount", 0), "maxFailedTrialCount")
    if failed < 0:
        raise ApiError(400, "maxFailedTrialCount must not be negative.")
    trial_spec = body.get("trialJobSpec")
    if not isinstance(trial_spec, dict):
        raise ApiError(400, "HyperparameterTuningJob.trialJobSpec is required.")
    try:  # the same checks as a CustomJob's spec
        checked = vertex.normalise_job({"displayName": display_name, "jobSpec": trial_spec})
    except ApiError as exc:
        raise ApiError(
            exc.code, exc.message.replace("jobSpec.", "trialJobSpec."), exc.reason
        ) from None
    out: dict[str, Any] = {
        "displayName": display_name,
        "studySpec": out_study,
        "maxTrialCount": max_trials,
        "parallelTrialCount": parallel,
        "trialJobSpec": checked["jobSpec"],
    }
    if failed:
        out["maxFailedTrialCount"] = failed
    if body.get("labels"):
        out["labels"] = body["labels"]
    if body.get("encryptionSpec"):
        out["encryptionSpec"] = body["encryptionSpec"]
    return out


def study_as_spec(doc: dict[str, Any]) -> HpTuningSpec:
    """The stored job as hpconfig's typed spec (for its grid and flag helpers)."""
    study = doc["studySpec"]
    params = []
    for p in study["parameters"]:
        kind = next(k for k in VALUE_SPECS if k in p)
        spec = p[kind]
        if kind == "doubleValueSpec":
            param = ParameterSpec(
                p["parameterId"], "DOUBLE", float(spec["minValue"]), float(spec["maxValue"])
            )
        elif kind == "integerValueSpec":
            param = ParameterSpec(
                p["parameterId"], "INTEGER", int(spec["minValue"]), int(spec["maxValue"])
            )
        elif kind == "discreteValueSpec":
            param = ParameterSpec(
                p["parameterId"], "DISCRETE", values=tuple(float(v) for v in spec["values"])
            )
        else:
            param = ParameterSpec(
                p["parameterId"], "CATEGORICAL", values=tuple(str(v) for v in spec["values"])
            )
        params.append(dataclasses.replace(param, scale=p.get("scaleType")))
    metric = study["metrics"][0]
    return HpTuningSpec(
        display_name=doc.get("displayName"),
        metric_id=metric["metricId"],
        goal=metric["goal"],
        parameters=tuple(params),
        algorithm=study["algorithm"],
        max_trial_count=int(doc["maxTrialCount"]),
        parallel_trial_count=int(doc["parallelTrialCount"]),
        max_failed_trial_count=int(doc.get("maxFailedTrialCount", 0)),
        trial_job_spec=doc.get("trialJobSpec"),
        source_format="vertex",
    )


# --- proposing parameters -------------------------------------------------------------------


def _json_value(p: ParameterSpec, value: Any) -> float | int | str:
    """A parameter value as Vertex writes it in Trial.parameters[].value."""
    if p.type == "INTEGER":
        return int(value)
    if p.type == "CATEGORICAL":
        return str(value)
    number = float(value)
    return int(number) if p.type == "DISCRETE" and number.is_integer() else number


class _Proposer:
    """Suggests the next trial's parameters; told each trial's outcome."""

    exhausted = False

    def ask(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def tell(self, trial_id: str, value: float | None) -> None:
        """value None: the trial failed (or was stopped)."""


class _GridProposer(_Proposer):
    def __init__(self, spec: HpTuningSpec) -> None:
        self.points = grid_points(spec)
        self.next = 0

    def ask(self) -> dict[str, Any] | None:
        if self.next >= len(self.points):
            self.exhausted = True
            return None
        point = self.points[self.next]
        self.next += 1
        return point


def _sample(p: ParameterSpec, rng: random.Random) -> Any:
    if p.type in ("DISCRETE", "CATEGORICAL"):
        return rng.choice(p.values)
    assert p.min_value is not None and p.max_value is not None
    low, high = float(p.min_value), float(p.max_value)
    if p.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and low > 0:
        t = math.exp(rng.uniform(math.log(low), math.log(high)))
        # Reverse log: dense near the maximum, i.e. the log scale mirrored.
        x = low + high - t if p.scale == "UNIT_REVERSE_LOG_SCALE" else t
    else:
        x = rng.uniform(low, high)
    if p.type == "INTEGER":
        return min(max(round(x), int(low)), int(high))
    return min(max(x, low), high)


class _RandomProposer(_Proposer):
    def __init__(self, spec: HpTuningSpec, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(seed)

    def ask(self) -> dict[str, Any] | None:
        return {p.parameter_id: _sample(p, self.rng) for p in self.spec.parameters}


class _BayesianProposer(_Proposer):
    """Vertex's default algorithm is Bayesian optimisation (Google Vizier), which is not
    available outside Google. optuna's TPE sampler is the closest local stand-in: a
    sequential model-based optimiser with an ask/tell API (so the daemon stays in charge of
    running trials), all four parameter types, log scales, and `constant_liar` so that trials
    running in parallel are not all proposed at the same point. Its first trials are random
    (n_startup_trials), as Vizier's are.
    """

    def __init__(self, spec: HpTuningSpec, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.spec = spec
        startup = max(2, min(10, spec.max_trial_count // 3))
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=startup, constant_liar=True
        )
        self.study = optuna.create_study(
            direction="maximize" if spec.goal == "MAXIMIZE" else "minimize", sampler=sampler
        )
        self.distributions = {p.parameter_id: self._distribution(p) for p in spec.parameters}
        self.pending: dict[str, Any] = {}
        self._asked: Any = None

    def _distribution(self, p: ParameterSpec) -> Any:
        d = self.optuna.distributions
        if p.type in ("DISCRETE", "CATEGORICAL"):
            return d.CategoricalDistribution(list(p.values))
        assert p.min_value is not None and p.max_value is not None
        log_scale = p.scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
        if p.type == "INTEGER":
            return d.IntDistribution(int(p.min_value), int(p.max_value), log=log_scale)
        return d.FloatDistribution(float(p.min_value), float(p.max_value), log=log_scale)

    def ask(self) -> dict[str, Any] | None:
        trial = self.study.ask(self.distributions)
        self._asked = trial
        params = {}
        for p in self.spec.parameters:
            value = trial.params[p.parameter_id]
            if p.scale == "UNIT_REVERSE_LOG_SCALE" and p.type in ("DOUBLE", "INTEGER"):
                assert p.min_value is not None and p.max_value is not None
                value = p.min_value + p.max_value - value  # optuna samples t; x mirrors it
            params[p.parameter_id] = value
        return params

    def bind(self, trial_id: str) -> None:
        self.pending[trial_id] = self._asked

    def tell(self, trial_id: str, value: float | None) -> None:
        trial = self.pending.pop(trial_id, None)
        if trial is None:
            return
        if value is None or not math.isfinite(value):
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)


def make_proposer(spec: HpTuningSpec, seed: int) -> _Proposer:
    if spec.algorithm == "GRID_SEARCH":
        return _GridProposer(spec)
    if spec.algorithm == "RANDOM_SEARCH":
        return _RandomProposer(spec, seed)
    return _BayesianProposer(spec, seed)


# --- metrics --------------------------------------------------------------------------------


def read_measurements(path: Path, metric_id: str, started: float) -> list[dict[str, Any]]:
    """cloudml-hypertune's file (one JSON object per line) → Vertex Measurements, in order."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            value = float(entry[metric_id])
        except (ValueError, KeyError, TypeError):
            continue
        if not math.isfinite(value):
            continue
        step = int(float(entry.get("global_step") or 0))
        elapsed = max(float(entry.get("timestamp") or started) - started, 0.0)
        out.append(
            {
                "elapsedDuration": f"{elapsed:.3f}s",
                "stepCount": str(step),
                "metrics": [{"metricId": metric_id, "value": value}],
            }
        )
    return out


def _value(measurement: dict[str, Any]) -> float:
    return float(measurement["metrics"][0]["value"])


def final_measurement(
    measurements: list[dict[str, Any]], goal: str, selection: str | None
) -> dict[str, Any] | None:
    """The trial's result: the last measurement, or the best with BEST_MEASUREMENT."""
    if not measurements:
        return None
    if selection == "BEST_MEASUREMENT":
        pick = max if goal == "MAXIMIZE" else min
        return pick(measurements, key=_value)
    return measurements[-1]


# --- state ----------------------------------------------------------------------------------


@dataclass
class TrialRun:
    trial_id: str
    replicas: list[runner.Replica]
    metric_file: Path
    started: float
    deadline: float | None
    wait: asyncio.Task[int]
    tail: deque[str]  # its last log lines, for the reason it failed
    metric_stamp: float = 0.0  # the metric file's mtime when last read


@dataclass
class TuningRun:
    key: str
    task: asyncio.Task[None] | None = None
    trials: dict[str, TrialRun] = field(default_factory=dict)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)

    def replicas(self) -> list[runner.Replica]:
        return [r for t in self.trials.values() for r in t.replicas]


_RUNS: dict[str, dict[str, TuningRun]] = {}


def _runs(ctx: SandboxContext) -> dict[str, TuningRun]:
    return _RUNS.setdefault(str(ctx.data_dir), {})


def _key(project: str, location: str, job_id: str) -> str:
    return f"{project}/{location}/{job_id}"


def _load(ctx: SandboxContext, key: str) -> dict[str, Any]:
    doc = ctx.store.get(KIND, key)
    if doc is None:
        project, location, job_id = key.split("/")
        name = f"projects/{project}/locations/{location}/{COLLECTION}/{job_id}"
        raise ApiError(404, f"HyperparameterTuningJob {name} not found.")
    return doc


def _update(ctx: SandboxContext, key: str, **changes: Any) -> dict[str, Any]:
    doc = ctx.store.get(KIND, key)
    if doc is None:
        return {}
    doc.update(changes)
    doc["updateTime"] = vertex.now_text()
    ctx.store.put(KIND, key, doc)
    return doc


def _update_trial(ctx: SandboxContext, key: str, trial_id: str, **changes: Any) -> None:
    doc = ctx.store.get(KIND, key)
    if doc is None:
        return
    for trial in doc.get("trials", []):
        if trial["id"] == trial_id:
            trial.update({k: v for k, v in changes.items() if v is not None})
            for k, v in changes.items():
                if v is None:
                    trial.pop(k, None)
    doc["updateTime"] = vertex.now_text()
    ctx.store.put(KIND, key, doc)


def _log(
    ctx: SandboxContext,
    key: str,
    task_name: str,
    severity: str,
    text: str,
    trial_id: str | None = None,
) -> None:
    project, _, job_id = key.split("/")
    log_store(ctx).append(
        project=project,
        log_id=task_name if trial_id is None else f"trial-{trial_id}.{task_name}",
        resource_type="ml_job",
        resource_labels={"job_id": job_id, "project_id": project, "task_name": task_name},
        severity=severity,
        text=text,
        labels={"trial_id": trial_id} if trial_id is not None else None,
    )


def _finish(ctx: SandboxContext, key: str, state: str, error: dict[str, Any] | None = None) -> None:
    changes: dict[str, Any] = {"state": state, "endTime": vertex.now_text()}
    if error:
        changes["error"] = error
    _update(ctx, key, **changes)
    ctx.store.delete(RUNTIME_KIND, key)
    words = {
        "JOB_STATE_SUCCEEDED": ("Job completed successfully.", "INFO"),
        "JOB_STATE_FAILED": ("Job failed.", "ERROR"),
        "JOB_STATE_CANCELLED": ("Job was cancelled.", "INFO"),
    }
    text, severity = words[state]
    _log(ctx, key, "service", severity, text)


def _save_pids(ctx: SandboxContext, key: str, run: TuningRun) -> None:
    pids = [[r.pid, r.create_time] for r in run.replicas()]
    ctx.store.put(RUNTIME_KIND, key, {"pids": pids})


# --- the lifecycle --------------------------------------------------------------------------


async def _run_job(ctx: SandboxContext, key: str, run: TuningRun) -> None:
    try:
        await _lifecycle(ctx, key, run)
    except asyncio.CancelledError:
        await runner.stop_replicas(run.replicas(), grace=0.5)
        raise
    except Exception as exc:  # the sandbox's own bug: fail the job, keep the daemon
        log.exception("tuning job %s crashed", key)
        await runner.stop_replicas(run.replicas(), grace=0.5)
        _finish(
            ctx,
            key,
            "JOB_STATE_FAILED",
            {"code": CODE_INTERNAL, "message": f"Internal error: {exc}"},
        )
    finally:
        _runs(ctx).pop(key, None)


def _cancelled(ctx: SandboxContext, key: str) -> None:
    _finish(ctx, key, "JOB_STATE_CANCELLED", {"code": CODE_CANCELLED, "message": "CANCELED"})


async def _lifecycle(ctx: SandboxContext, key: str, run: TuningRun) -> None:
    _, _, job_id = key.split("/")
    doc = _load(ctx, key)
    spec = study_as_spec(doc)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(run.cancel.wait(), ctx.timing.operation)
    if run.cancel.is_set():
        _cancelled(ctx, key)
        return
    _update(ctx, key, state="JOB_STATE_PENDING")
    _log(ctx, key, "service", "INFO", "Waiting for job to be provisioned.")
    job_dir = ctx.work_dir / "tuning" / job_id
    pools: list[dict[str, Any]] = doc["trialJobSpec"]["workerPoolSpecs"]
    try:
        import_dirs = await asyncio.to_thread(vertex._prepare_packages, ctx, pools, job_dir)
        proposer = await asyncio.to_thread(make_proposer, spec, int(job_id) % 2**32)
    except (runner.PackageError, ValueError) as exc:
        _log(ctx, key, "service", "ERROR", str(exc))
        _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INVALID, "message": str(exc)})
        return
    if run.cancel.is_set():
        _cancelled(ctx, key)
        return
    _update(ctx, key, state="JOB_STATE_RUNNING", startTime=vertex.now_text(), trials=[])
    parallel = min(spec.parallel_trial_count, max_parallel_trials())
    _log(
        ctx,
        key,
        "service",
        "INFO",
        f"Job is running: up to {spec.max_trial_count} trials, {parallel} at a time.",
    )
    await _study(ctx, key, run, spec, doc, pools, import_dirs, job_dir, proposer, parallel)


async def _study(
    ctx: SandboxContext,
    key: str,
    run: TuningRun,
    spec: HpTuningSpec,
    doc: dict[str, Any],
    pools: list[dict[str, Any]],
    import_dirs: list[str],
    job_dir: Path,
    proposer: _Proposer,
    parallel: int,
) -> None:
    selection = doc["studySpec"].get("measurementSelectionType")
    scheduling = doc["trialJobSpec"].get("scheduling") or {}
    timeout = (
        vertex._duration_seconds(scheduling["timeout"], "timeout")
        if "timeout" in scheduling
        else None
    )
    started_count = succeeded = failed = 0
    first_failure = ""
    cancel_wait = asyncio.create_task(run.cancel.wait())
    try:
        while True:
            # Fill the free slots with new trials.
            while (
                not run.cancel.is_set()
                and len(run.trials) < parallel
                and started_count < spec.max_trial_count
                and not proposer.exhausted
            ):
                params = proposer.ask()
                if params is None:
                    break
                started_count += 1
                trial_id = str(started_count)
                if isinstance(proposer, _BayesianProposer):
                    proposer.bind(trial_id)
                await _start_trial(
                    ctx, key, run, spec, trial_id, params, pools, import_dirs, job_dir, timeout
                )
            if not run.trials:
                break
            waits = {t.wait: t for t in run.trials.values()}
            earliest = min((t.deadline for t in run.trials.values() if t.deadline), default=None)
            wait_for = METRIC_POLL
            if earliest is not None:
                wait_for = max(0.0, min(wait_for, earliest - time.monotonic()))
            done, _ = await asyncio.wait(
                [*waits, cancel_wait], timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
            )
            if cancel_wait in done:
                await _stop_all(ctx, key, run, spec, "The tuning job was cancelled.")
                _cancelled(ctx, key)
                return
            now = time.monotonic()
            finished = [waits[t] for t in done if t in waits]
            timed_out = [
                t
                for t in run.trials.values()
                if t.deadline and now >= t.deadline and t not in finished
            ]
            for trial in timed_out:
                await runner.stop_replicas(trial.replicas)
            for trial in finished + timed_out:
                ok, value, reason = _settle_trial(
                    ctx, key, spec, trial, selection, timed_out=trial in timed_out, timeout=timeout
                )
                del run.trials[trial.trial_id]
                proposer.tell(trial.trial_id, value if ok else None)
                if ok:
                    succeeded += 1
                else:
                    failed += 1
                    first_failure = first_failure or f"Trial {trial.trial_id}: {reason}"
            if finished or timed_out:
                _save_pids(ctx, key, run)
            for trial in run.trials.values():  # intermediate values, for plots while it runs
                _refresh_measurements(ctx, key, spec, trial)
            limit = spec.max_failed_trial_count
            if limit and failed >= limit:
                message = (
                    f"{failed} trials failed, and maxFailedTrialCount is {limit}: the job "
                    f"stopped. {first_failure}"
                )
                _log(ctx, key, "service", "ERROR", message)
                await _stop_all(ctx, key, run, spec, "The tuning job failed.")
                _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INVALID, "message": message})
                return
        if run.cancel.is_set():
            _cancelled(ctx, key)
            return
        if succeeded == 0:
            message = f"All {failed} trials failed. {first_failure}".strip()
            _log(ctx, key, "service", "ERROR", message)
            _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INVALID, "message": message})
            return
        _finish(ctx, key, "JOB_STATE_SUCCEEDED")
    finally:
        cancel_wait.cancel()


async def _start_trial(
    ctx: SandboxContext,
    key: str,
    run: TuningRun,
    spec: HpTuningSpec,
    trial_id: str,
    params: dict[str, Any],
    pools: list[dict[str, Any]],
    import_dirs: list[str],
    job_dir: Path,
    timeout: float | None,
) -> None:
    project, _, job_id = key.split("/")
    values = {p.parameter_id: _json_value(p, params[p.parameter_id]) for p in spec.parameters}
    doc = _load(ctx, key)
    doc.setdefault("trials", []).append(
        {
            "id": trial_id,
            "state": "REQUESTED",
            "parameters": [{"parameterId": k, "value": v} for k, v in values.items()],
        }
    )
    doc["updateTime"] = vertex.now_text()
    ctx.store.put(KIND, key, doc)
    trial_dir = job_dir / f"trial-{trial_id}"
    metric_file = trial_dir / "hypertune" / "output.metrics"
    base = (doc["trialJobSpec"].get("baseOutputDirectory") or {}).get("outputUriPrefix", "")
    output = f"{base.rstrip('/')}/{trial_id}" if base else ""
    flags = format_flags(values)
    counts = [int(p.get("replicaCount") or 0) if p else 0 for p in pools]
    ports = {(p, i): runner.free_port() for p, c in enumerate(counts) for i in range(c)}

    tail: deque[str] = deque(maxlen=6)

    def on_line(task_name: str, severity: str, text: str) -> None:
        tail.append(text)
        _log(ctx, key, task_name, severity, text, trial_id)

    replicas: list[runner.Replica] = []
    try:
        for p, pool in enumerate(pools):
            package = (pool or {}).get("pythonPackageSpec") or {}
            for i in range(counts[p]):
                env = vertex._replica_env(ctx, project, job_id, pool, import_dirs[p], output)
                env["CLOUD_ML_TRIAL_ID"] = trial_id
                env["CLOUD_ML_HP_METRIC_FILE"] = str(metric_file)
                if sum(counts) > 1:
                    env.update(runner.cluster_env(counts, job_id, p, i, ports))
                args = [str(a) for a in package.get("args", [])] + flags
                replicas.append(
                    await runner.start_replica(
                        f"workerpool{p}-{i}",
                        package["pythonModule"],
                        args,
                        cwd=trial_dir / f"workerpool{p}-{i}",
                        env=env,
                        on_line=on_line,
                    )
                )
    except OSError as exc:
        await runner.stop_replicas(replicas, grace=0.5)
        _update_trial(
            ctx,
            key,
            trial_id,
            state="INFEASIBLE",
            infeasibleReason=f"The trial could not start: {exc}",
            startTime=vertex.now_text(),
            endTime=vertex.now_text(),
        )
        raise
    start = time.monotonic()
    _update_trial(ctx, key, trial_id, state="ACTIVE", startTime=vertex.now_text())
    _log(ctx, key, "service", "INFO", f"Trial {trial_id} started: {' '.join(flags)}")
    run.trials[trial_id] = TrialRun(
        trial_id,
        replicas,
        metric_file,
        time.time(),
        start + timeout if timeout else None,
        asyncio.create_task(_wait_trial(replicas)),
        tail,
    )
    _save_pids(ctx, key, run)


async def _wait_trial(replicas: list[runner.Replica]) -> int:
    """The trial's exit status: the primary's, or the first failing replica's."""
    waits = {asyncio.create_task(r.wait()): r for r in replicas}
    primary = replicas[0]
    try:
        while waits:
            done, _ = await asyncio.wait(list(waits), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                replica = waits.pop(task)
                code = task.result()
                if code != 0:
                    await runner.stop_replicas(replicas)
                    return code
                if replica is primary:
                    if waits:
                        await asyncio.wait(list(waits), timeout=vertex.WORKER_GRACE)
                    await runner.stop_replicas(replicas)
                    return 0
        return 0
    finally:
        for task in waits:
            task.cancel()


def _refresh_measurements(
    ctx: SandboxContext, key: str, spec: HpTuningSpec, trial: TrialRun
) -> None:
    try:
        stamp = trial.metric_file.stat().st_mtime
    except OSError:
        return
    if stamp == trial.metric_stamp:
        return  # nothing new reported: no store write
    trial.metric_stamp = stamp
    measurements = read_measurements(trial.metric_file, spec.metric_id, trial.started)
    if measurements:
        _update_trial(ctx, key, trial.trial_id, measurements=measurements)


def _settle_trial(
    ctx: SandboxContext,
    key: str,
    spec: HpTuningSpec,
    trial: TrialRun,
    selection: str | None,
    *,
    timed_out: bool,
    timeout: float | None,
) -> tuple[bool, float | None, str]:
    """Record a finished trial: (succeeded, its metric, why it failed)."""
    measurements = read_measurements(trial.metric_file, spec.metric_id, trial.started)
    final = final_measurement(measurements, spec.goal, selection)
    code = None if timed_out else trial.wait.result()
    reason = ""
    if timed_out:
        reason = f"The trial ran longer than scheduling.timeout ({timeout:.0f} s)."
    elif code != 0:
        status = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        reason = f"The trial's replica exited with {status}."
        if trial.tail:
            reason += " Last log lines:\n" + "\n".join(trial.tail)
    elif final is None:
        reason = (
            f"The trial reported no value for the metric {spec.metric_id!r} "
            "(report it with cloudml-hypertune)."
        )
    ok = not reason
    changes: dict[str, Any] = {"endTime": vertex.now_text()}
    if measurements:
        changes["measurements"] = measurements
    if ok:
        assert final is not None
        changes.update(state="SUCCEEDED", finalMeasurement=final)
        value: float | None = _value(final)
        _log(
            ctx,
            key,
            "service",
            "INFO",
            f"Trial {trial.trial_id} succeeded: {spec.metric_id}={value}",
        )
    else:
        changes.update(state="INFEASIBLE", infeasibleReason=reason)
        value = None
        _log(
            ctx, key, "service", "ERROR", f"Trial {trial.trial_id} failed: {reason.splitlines()[0]}"
        )
    _update_trial(ctx, key, trial.trial_id, **changes)
    return ok, value, reason


async def _stop_all(
    ctx: SandboxContext, key: str, run: TuningRun, spec: HpTuningSpec, reason: str
) -> None:
    """Stop every running trial: STOPPING, then INFEASIBLE with the reason."""
    for trial in run.trials.values():
        _update_trial(ctx, key, trial.trial_id, state="STOPPING")
    await runner.stop_replicas(run.replicas())
    for trial in list(run.trials.values()):
        measurements = read_measurements(trial.metric_file, spec.metric_id, trial.started)
        _update_trial(
            ctx,
            key,
            trial.trial_id,
            state="INFEASIBLE",
            infeasibleReason=reason,
            endTime=vertex.now_text(),
            measurements=measurements or None,
        )
        trial.wait.cancel()
    run.trials.clear()


# --- routes ---------------------------------------------------------------------------------


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    base = "/v1/projects/{project}/locations/{location}/" + COLLECTION

    async def collection(request: Request) -> Response:
        project, location = request.path_params["project"], request.path_params["location"]
        vertex._check_project(ctx, project)
        if request.method == "POST":
            return JSONResponse(await _create(ctx, project, location, await _json_body(request)))
        clauses = vertex._list_filter(request.query_params.get("filter", ""))
        docs = [d for _, d in ctx.store.list(KIND, prefix=f"{project}/{location}/")]
        docs = [d for d in docs if vertex._matches(d, clauses)]
        docs.sort(key=lambda d: d.get("createTime", ""), reverse=True)
        size = int(request.query_params.get("pageSize") or 100) or 100
        token = request.query_params.get("pageToken")
        try:
            start = int(base64.urlsafe_b64decode(token.encode())) if token else 0
        except ValueError:
            raise ApiError(400, "Invalid pageToken.") from None
        if start < 0 or size < 0:  # not a token we issued; pageSize is non-negative
            raise ApiError(400, "Invalid pageToken or pageSize.")
        page = docs[start : start + size]
        body: dict[str, Any] = (
            {"hyperparameterTuningJobs": [_public(d) for d in page]} if page else {}
        )
        if start + size < len(docs):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return JSONResponse(body)

    async def item(request: Request) -> Response:
        project, location = request.path_params["project"], request.path_params["location"]
        vertex._check_project(ctx, project)
        key = _key(project, location, request.path_params["job_id"])
        doc = _load(ctx, key)
        if request.method == "DELETE":
            if doc.get("state") in vertex.ACTIVE_STATES:
                raise ApiError(
                    400,
                    f"HyperparameterTuningJob {doc['name']} is {doc['state']}; cancel it before deleting.",
                )
            ctx.store.delete(KIND, key)
            op = f"projects/{project}/locations/{location}/operations/{secrets.randbelow(10**18)}"
            return JSONResponse(
                {
                    "name": op,
                    "done": True,
                    "metadata": {
                        "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
                        "genericMetadata": {
                            "createTime": vertex.now_text(),
                            "updateTime": vertex.now_text(),
                        },
                    },
                    "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
                }
            )
        return JSONResponse(_public(doc))

    async def cancel(request: Request) -> Response:
        project, location = request.path_params["project"], request.path_params["location"]
        vertex._check_project(ctx, project)
        key = _key(project, location, request.path_params["job_id"])
        doc = _load(ctx, key)
        state = doc.get("state")
        if state in vertex.FINAL_STATES:
            raise ApiError(
                400, f"Cannot cancel HyperparameterTuningJob {doc['name']}: it is already {state}."
            )
        if state != "JOB_STATE_CANCELLING":
            _update(ctx, key, state="JOB_STATE_CANCELLING")
            _log(ctx, key, "service", "INFO", "Cancelling the job.")
        run = _runs(ctx).get(key)
        if run is not None:
            run.cancel.set()
        else:
            _cancelled(ctx, key)
        return JSONResponse({})

    return [
        Route(base + "/{job_id}:cancel", cancel, methods=["POST"]),
        Route(base, collection, methods=["GET", "POST"]),
        Route(base + "/{job_id}", item, methods=["GET", "DELETE"]),
    ]


async def _create(
    ctx: SandboxContext, project: str, location: str, body: dict[str, Any]
) -> dict[str, Any]:
    job = normalise_tuning_job(body)
    job_id = str(10**18 + secrets.randbelow(9 * 10**18))
    stamp = vertex.now_text()
    doc = {
        "name": f"projects/{project}/locations/{location}/{COLLECTION}/{job_id}",
        **job,
        "state": "JOB_STATE_QUEUED",
        "createTime": stamp,
        "updateTime": stamp,
    }
    key = _key(project, location, job_id)
    ctx.store.put(KIND, key, doc)
    run = TuningRun(key)
    _runs(ctx)[key] = run
    run.task = asyncio.create_task(
        _run_job(ctx, key, run), name=f"hyperparameterTuningJob {job_id}"
    )
    return doc


# --- module hooks ---------------------------------------------------------------------------


async def startup(ctx: SandboxContext) -> None:
    """Studies an earlier daemon was running cannot be resumed: stop leftovers, mark FAILED."""
    for key, doc in ctx.store.list(KIND):
        if doc.get("state") not in vertex.ACTIVE_STATES:
            continue
        runtime = ctx.store.get(RUNTIME_KIND, key) or {}
        for pid, created in runtime.get("pids", []):
            runner.kill_stale_group(int(pid), float(created))
        for trial in doc.get("trials", []):
            if trial.get("state") in ("REQUESTED", "ACTIVE", "STOPPING"):
                trial["state"] = "INFEASIBLE"
                trial["infeasibleReason"] = "sandbox restarted"
                trial["endTime"] = vertex.now_text()
        ctx.store.put(KIND, key, doc)
        message = (
            "sandbox restarted: the sandbox daemon stopped while this job ran, "
            "and its trials ended with it."
        )
        _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INTERNAL, "message": message})


async def shutdown(ctx: SandboxContext) -> None:
    runs = list(_runs(ctx).values())
    for run in runs:
        if run.task is not None:
            run.task.cancel()
    for run in runs:
        if run.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(run.task, 5.0)


def reset(ctx: SandboxContext) -> None:
    for run in list(_runs(ctx).values()):
        for replica in run.replicas():
            replica.signal_group(signal.SIGKILL)
        if run.task is not None:
            run.task.cancel()
    _runs(ctx).clear()
    shutil.rmtree(ctx.work_dir / "tuning", ignore_errors=True)
    for kind in (KIND, RUNTIME_KIND):
        for key, _ in ctx.store.list(kind):
            ctx.store.delete(kind, key)
