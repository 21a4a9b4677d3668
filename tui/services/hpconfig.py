"""Hyperparameter-tuning YAML → one typed, validated spec. Pure: no cloud calls, no Textual.

Two formats are in the wild:

- **Vertex AI**'s, the `HyperparameterTuningJob` resource as `gcloud ai hp-tuning-jobs create
  --config` reads it (`studySpec`, `maxTrialCount`, `trialJobSpec`, …);
- **legacy AI Platform**'s `hptuning_config.yaml` (`trainingInput: hyperparameters: …`), which is
  converted field by field to Vertex's, with a note for everything that changed or was dropped.

Both become an `HpTuningSpec`. Every problem in the file is collected (not just the first) as an
`YamlProblem` naming file, line, field path and what would be valid; `HpConfigInvalid` carries
them all, so nothing is submitted until the file is clean. Field names and enums follow the
Vertex AI v1 REST reference (google.cloud.aiplatform.v1 StudySpec / CustomJobSpec) and the
AI Platform Training v1 reference (TrainingInput / HyperparameterSpec / ParameterSpec).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tui.services import yaml_lines as yl
from tui.services.pricing import format_money, format_rate
from tui.services.yaml_lines import (
    BOOL,
    DURATION,
    FLOAT,
    INT,
    OPAQUE,
    STR,
    Enum,
    ListOf,
    Message,
    MessageSchema,
    StringMap,
    YamlProblem,
)


def bundled_trainer_metrics() -> frozenset[str]:
    """The tags the bundled trainer can report to the tuner (its --hypertune-metric choices).

    trainer.flags imports no TensorFlow, so this is instant.
    """
    from tui.services.trainer_package import bundled_module

    return frozenset(bundled_module("flags").HYPERTUNE_METRICS)


def bundled_trainer_flags() -> frozenset[str]:
    """The bundled trainer's flag names with underscores (it accepts `-` and `_` alike)."""
    from tui.services.trainer_package import bundled_module

    return frozenset(
        option[2:].replace("-", "_")
        for action in bundled_module("flags").build_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    )


ALGORITHMS = ("ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH")
GOALS = ("MAXIMIZE", "MINIMIZE")
SCALES = ("UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
LOG_SCALES = frozenset({"UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"})
ParamType = Literal["DOUBLE", "INTEGER", "DISCRETE", "CATEGORICAL"]
VALUE_SPECS: dict[str, ParamType] = {
    "doubleValueSpec": "DOUBLE",
    "integerValueSpec": "INTEGER",
    "discreteValueSpec": "DISCRETE",
    "categoricalValueSpec": "CATEGORICAL",
}
SPEC_OF_TYPE = {kind: spec for spec, kind in VALUE_SPECS.items()}
STOPPING_SPECS = (
    "decayCurveStoppingSpec",
    "medianAutomatedStoppingSpec",
    "convexAutomatedStoppingSpec",
)
ACCELERATOR_TYPES = (
    "NVIDIA_TESLA_K80",
    "NVIDIA_TESLA_P100",
    "NVIDIA_TESLA_V100",
    "NVIDIA_TESLA_P4",
    "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100",
    "NVIDIA_A100_80GB",
    "NVIDIA_L4",
    "NVIDIA_H100_80GB",
    "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB",
    "NVIDIA_B200",
    "NVIDIA_GB200",
    "NVIDIA_RTX_PRO_6000",
    "TPU_V2",
    "TPU_V3",
    "TPU_V4_POD",
    "TPU_V5_LITEPOD",
)
MAX_DISCRETE_VALUES = 1000  # both APIs document this limit
GRID_LIMIT = 100_000

# -- errors ------------------------------------------------------------------------------------


class HpConfigInvalid(yl.YamlInvalid):
    """The tuning file has errors (all of them in `errors`); nothing may be submitted."""

    title = "Invalid tuning config"
    what = "tuning config"


# -- the typed spec ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSpec:
    parameter_id: str
    type: ParamType
    min_value: float | int | None = None  # DOUBLE (float) and INTEGER (int)
    max_value: float | int | None = None
    values: tuple[float | str, ...] = ()  # DISCRETE (floats) and CATEGORICAL (strings)
    scale: str | None = None  # one of SCALES; None = no scaling
    default_value: float | int | str | None = None  # Vertex's optional starting point

    def describe(self) -> str:
        """`learning_rate  DOUBLE  0.0001 … 0.1  log scale`"""
        if self.type in ("DOUBLE", "INTEGER"):
            span = f"{_number(self.min_value)} … {_number(self.max_value)}"
        else:
            span = "{" + ", ".join(_number(v) for v in self.values) + "}"
        text = f"{self.parameter_id}  {self.type}  {span}"
        if self.type != "CATEGORICAL":
            text += f"  {SCALE_WORDS.get(self.scale or '', 'no scaling')}"
        return text


SCALE_WORDS = {
    "UNIT_LINEAR_SCALE": "linear scale",
    "UNIT_LOG_SCALE": "log scale",
    "UNIT_REVERSE_LOG_SCALE": "reverse log scale",
}

SourceFormat = Literal["vertex", "legacy"]


@dataclass(frozen=True)
class HpTuningSpec:
    display_name: str | None
    metric_id: str
    goal: str  # MAXIMIZE | MINIMIZE
    parameters: tuple[ParameterSpec, ...]
    algorithm: str  # one of ALGORITHMS; ALGORITHM_UNSPECIFIED = Bayesian optimization
    max_trial_count: int
    parallel_trial_count: int
    max_failed_trial_count: int  # 0 = Vertex AI decides
    trial_job_spec: dict[str, Any] | None  # None: the caller fills it from the Jobs form
    source_format: SourceFormat
    conversion_notes: tuple[str, ...] = ()
    stopping_spec: dict[str, Any] | None = None  # {"medianAutomatedStoppingSpec": {...}}
    measurement_selection_type: str | None = None
    observation_noise: str | None = None
    study_stopping_config: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    encryption_spec: dict[str, Any] | None = None
    # legacy only: trainingInput minus hyperparameters, so a form can offer the same machine/args
    legacy_training_input: dict[str, Any] | None = None

    def parameter(self, parameter_id: str) -> ParameterSpec:
        for p in self.parameters:
            if p.parameter_id == parameter_id:
                return p
        raise KeyError(parameter_id)


# -- schemas (field names as in the REST references) ---------------------------------------------

_VERTEX_TO_LEGACY_HINTS = {
    "maxTrials": "Vertex AI calls it maxTrialCount (maxTrials is AI Platform's name)",
    "maxParallelTrials": "Vertex AI calls it parallelTrialCount",
    "maxFailedTrials": "Vertex AI calls it maxFailedTrialCount",
    "hyperparameters": "this is AI Platform's block: nest it under trainingInput:, or use studySpec:",
    "trainingInput": "a file is either Vertex AI's (studySpec) or AI Platform's (trainingInput), not both",
}

VERTEX_SCHEMAS: dict[str, MessageSchema] = {
    "HyperparameterTuningJob": MessageSchema(
        {
            "displayName": STR,
            "studySpec": Message("StudySpec"),
            "maxTrialCount": INT,
            "parallelTrialCount": INT,
            "maxFailedTrialCount": INT,
            "trialJobSpec": Message("CustomJobSpec"),
            "labels": StringMap(),
            "encryptionSpec": Message("EncryptionSpec"),
        },
        output_only=frozenset(
            {
                "name",
                "trials",
                "state",
                "createTime",
                "startTime",
                "endTime",
                "updateTime",
                "error",
                "satisfiesPzs",
                "satisfiesPzi",
            }
        ),
        hints=_VERTEX_TO_LEGACY_HINTS,
    ),
    "StudySpec": MessageSchema(
        {
            "metrics": ListOf(Message("MetricSpec")),
            "parameters": ListOf(Message("ParameterSpec")),
            "algorithm": Enum(ALGORITHMS),
            "observationNoise": Enum(("OBSERVATION_NOISE_UNSPECIFIED", "LOW", "HIGH")),
            "measurementSelectionType": Enum(
                ("MEASUREMENT_SELECTION_TYPE_UNSPECIFIED", "LAST_MEASUREMENT", "BEST_MEASUREMENT")
            ),
            "decayCurveStoppingSpec": Message("DecayCurveAutomatedStoppingSpec"),
            "medianAutomatedStoppingSpec": Message("MedianAutomatedStoppingSpec"),
            "convexAutomatedStoppingSpec": Message("ConvexAutomatedStoppingSpec"),
            "studyStoppingConfig": OPAQUE,
        },
        hints={
            "params": "Vertex AI calls it parameters",
            "goal": "the goal belongs to a metric: metrics: [{metricId: ..., goal: ...}]",
            "hyperparameterMetricTag": "Vertex AI names the metric in metrics: [{metricId: ...}]",
            "metricId": "put it in the metrics list: metrics: [{metricId: ..., goal: ...}]",
            "maxTrialCount": "maxTrialCount belongs at the top level, next to studySpec",
            "parallelTrialCount": "parallelTrialCount belongs at the top level, next to studySpec",
            "maxFailedTrialCount": "maxFailedTrialCount belongs at the top level, next to studySpec",
            "enableTrialEarlyStopping": "Vertex AI uses medianAutomatedStoppingSpec: {} or "
            "decayCurveStoppingSpec: {} instead",
        },
    ),
    "MetricSpec": MessageSchema(
        {"metricId": STR, "goal": Enum(GOALS), "safetyConfig": OPAQUE},
        hints={"hyperparameterMetricTag": "Vertex AI calls it metricId"},
    ),
    "ParameterSpec": MessageSchema(
        {
            "parameterId": STR,
            "doubleValueSpec": Message("DoubleValueSpec"),
            "integerValueSpec": Message("IntegerValueSpec"),
            "discreteValueSpec": Message("DiscreteValueSpec"),
            "categoricalValueSpec": Message("CategoricalValueSpec"),
            "scaleType": Enum(("SCALE_TYPE_UNSPECIFIED", *SCALES)),
            "conditionalParameterSpecs": OPAQUE,
        },
        hints={
            "parameterName": "Vertex AI calls it parameterId",
            "type": "Vertex AI gives the type by the value spec: doubleValueSpec, "
            "integerValueSpec, discreteValueSpec or categoricalValueSpec",
            "minValue": "put minValue inside doubleValueSpec: or integerValueSpec:",
            "maxValue": "put maxValue inside doubleValueSpec: or integerValueSpec:",
            "discreteValues": "Vertex AI writes discreteValueSpec: {values: [...]}",
            "categoricalValues": "Vertex AI writes categoricalValueSpec: {values: [...]}",
        },
    ),
    "DoubleValueSpec": MessageSchema({"minValue": FLOAT, "maxValue": FLOAT, "defaultValue": FLOAT}),
    "IntegerValueSpec": MessageSchema({"minValue": INT, "maxValue": INT, "defaultValue": INT}),
    "DiscreteValueSpec": MessageSchema({"values": ListOf(FLOAT), "defaultValue": FLOAT}),
    "CategoricalValueSpec": MessageSchema({"values": ListOf(STR), "defaultValue": STR}),
    "DecayCurveAutomatedStoppingSpec": MessageSchema({"useElapsedDuration": BOOL}),
    "MedianAutomatedStoppingSpec": MessageSchema({"useElapsedDuration": BOOL}),
    "ConvexAutomatedStoppingSpec": MessageSchema(
        {
            "maxStepCount": INT,
            "minStepCount": INT,
            "minMeasurementCount": INT,
            "learningRateParameterName": STR,
            "useElapsedDuration": BOOL,
            "updateAllStoppedTrials": BOOL,
        }
    ),
    "CustomJobSpec": MessageSchema(
        {
            "persistentResourceId": STR,
            "workerPoolSpecs": ListOf(Message("WorkerPoolSpec")),
            "scheduling": Message("Scheduling"),
            "serviceAccount": STR,
            "network": STR,
            "reservedIpRanges": ListOf(STR),
            "pscInterfaceConfig": OPAQUE,
            "baseOutputDirectory": Message("GcsDestination"),
            "protectedArtifactLocationId": STR,
            "tensorboard": STR,
            "enableWebAccess": BOOL,
            "enableDashboardAccess": BOOL,
            "experiment": STR,
            "experimentRun": STR,
            "models": ListOf(STR),
        }
    ),
    "WorkerPoolSpec": MessageSchema(
        {
            "containerSpec": Message("ContainerSpec"),
            "pythonPackageSpec": Message("PythonPackageSpec"),
            "machineSpec": Message("MachineSpec"),
            "replicaCount": INT,
            "nfsMounts": OPAQUE,
            "lustreMounts": OPAQUE,
            "diskSpec": Message("DiskSpec"),
        }
    ),
    "PythonPackageSpec": MessageSchema(
        {
            "executorImageUri": STR,
            "packageUris": ListOf(STR),
            "pythonModule": STR,
            "args": ListOf(STR),
            "env": ListOf(Message("EnvVar")),
        }
    ),
    "ContainerSpec": MessageSchema(
        {
            "imageUri": STR,
            "command": ListOf(STR),
            "args": ListOf(STR),
            "env": ListOf(Message("EnvVar")),
        }
    ),
    "MachineSpec": MessageSchema(
        {
            "machineType": STR,
            "acceleratorType": Enum(("ACCELERATOR_TYPE_UNSPECIFIED", *ACCELERATOR_TYPES)),
            "acceleratorCount": INT,
            "gpuPartitionSize": STR,
            "tpuTopology": STR,
            "reservationAffinity": OPAQUE,
        }
    ),
    "DiskSpec": MessageSchema({"bootDiskType": STR, "bootDiskSizeGb": INT}),
    "Scheduling": MessageSchema(
        {
            "timeout": DURATION,
            "restartJobOnWorkerRestart": BOOL,
            "strategy": Enum(
                ("STRATEGY_UNSPECIFIED", "ON_DEMAND", "LOW_COST", "STANDARD", "SPOT", "FLEX_START")
            ),
            "disableRetries": BOOL,
            "maxWaitDuration": DURATION,
        }
    ),
    "GcsDestination": MessageSchema({"outputUriPrefix": STR}),
    "EnvVar": MessageSchema({"name": STR, "value": STR}),
    "EncryptionSpec": MessageSchema({"kmsKeyName": STR}),
}

LEGACY_SCHEMAS: dict[str, MessageSchema] = {
    "Job": MessageSchema(
        {"jobId": STR, "trainingInput": Message("TrainingInput"), "labels": StringMap()},
        output_only=frozenset(
            {
                "createTime",
                "startTime",
                "endTime",
                "state",
                "errorMessage",
                "trainingOutput",
                "etag",
            }
        ),
        hints={
            "studySpec": "a file is either Vertex AI's (studySpec) or AI Platform's (trainingInput), not both",
            "hyperparameters": "AI Platform nests it under trainingInput:",
        },
    ),
    "TrainingInput": MessageSchema(
        {
            "args": ListOf(STR),
            "enableWebAccess": BOOL,
            "encryptionConfig": Message("EncryptionConfig"),
            "evaluatorConfig": Message("ReplicaConfig"),
            "evaluatorCount": INT,
            "evaluatorType": STR,
            "hyperparameters": Message("HyperparameterSpec"),
            "jobDir": STR,
            "masterConfig": Message("ReplicaConfig"),
            "masterType": STR,
            "network": STR,
            "packageUris": ListOf(STR),
            "parameterServerConfig": Message("ReplicaConfig"),
            "parameterServerCount": INT,
            "parameterServerType": STR,
            "pythonModule": STR,
            "pythonVersion": STR,
            "region": STR,
            "runtimeVersion": STR,
            "scaleTier": Enum(
                ("BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU", "CUSTOM")
            ),
            "scheduling": Message("LegacyScheduling"),
            "serviceAccount": STR,
            "useChiefInTfConfig": BOOL,
            "workerConfig": Message("ReplicaConfig"),
            "workerCount": INT,
            "workerType": STR,
        }
    ),
    "ReplicaConfig": MessageSchema(
        {
            "acceleratorConfig": Message("AcceleratorConfig"),
            "imageUri": STR,
            "tpuTfVersion": STR,
            "containerCommand": ListOf(STR),
            "containerArgs": ListOf(STR),
            "diskConfig": Message("DiskConfig"),
        }
    ),
    "AcceleratorConfig": MessageSchema({"count": INT, "type": STR}),
    "DiskConfig": MessageSchema({"bootDiskType": STR, "bootDiskSizeGb": INT}),
    "LegacyScheduling": MessageSchema(
        {"maxRunningTime": DURATION, "maxWaitTime": DURATION, "priority": INT}
    ),
    "EncryptionConfig": MessageSchema({"kmsKeyName": STR}),
    "HyperparameterSpec": MessageSchema(
        {
            "goal": Enum(GOALS),
            "params": ListOf(Message("LegacyParameterSpec")),
            "maxTrials": INT,
            "maxParallelTrials": INT,
            "maxFailedTrials": INT,
            "hyperparameterMetricTag": STR,
            "enableTrialEarlyStopping": BOOL,
            "algorithm": Enum(ALGORITHMS),
            "resumePreviousJobId": STR,
        },
        hints={
            "maxTrialCount": "AI Platform calls it maxTrials",
            "parallelTrialCount": "AI Platform calls it maxParallelTrials",
            "maxFailedTrialCount": "AI Platform calls it maxFailedTrials",
            "metricId": "AI Platform calls it hyperparameterMetricTag",
            "parameters": "AI Platform calls it params",
            "metrics": "AI Platform names one metric: hyperparameterMetricTag: ... and goal: ...",
        },
    ),
    "LegacyParameterSpec": MessageSchema(
        {
            "parameterName": STR,
            "type": Enum(("DOUBLE", "INTEGER", "CATEGORICAL", "DISCRETE")),
            "minValue": FLOAT,
            "maxValue": FLOAT,
            "discreteValues": ListOf(FLOAT),
            "categoricalValues": ListOf(STR),
            "scaleType": Enum(("NONE", *SCALES)),
        },
        hints={
            "parameterId": "AI Platform calls it parameterName",
            "doubleValueSpec": "AI Platform writes type: DOUBLE with minValue and maxValue",
            "integerValueSpec": "AI Platform writes type: INTEGER with minValue and maxValue",
            "discreteValueSpec": "AI Platform writes type: DISCRETE with discreteValues: [...]",
            "categoricalValueSpec": "AI Platform writes type: CATEGORICAL with categoricalValues: [...]",
            "values": "AI Platform writes discreteValues: or categoricalValues:",
        },
    ),
}

# -- entry points ------------------------------------------------------------------------------


def load_hp_config(
    path: Path,
    known_metrics: Iterable[str] | None = None,
    known_flags: Iterable[str] | None = None,
) -> HpTuningSpec:
    """Read and validate a tuning YAML file of either format; HpConfigInvalid lists every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise HpConfigInvalid(
            [
                YamlProblem(
                    path.name, None, "", f"cannot be read: {reason} ({path}). Check the path."
                )
            ]
        ) from exc
    return parse_hp_config(text, path.name, known_metrics, known_flags)


def parse_hp_config(
    text: str,
    filename: str = "hptuning.yaml",
    known_metrics: Iterable[str] | None = None,
    known_flags: Iterable[str] | None = None,
) -> HpTuningSpec:
    """Validate YAML text of either format into an HpTuningSpec (HpConfigInvalid on any error).

    `known_metrics`: the metric tags the trainer can report (`bundled_trainer_metrics()`);
    `known_flags`: the trainer's flag names (`bundled_trainer_flags()`), since every parameter
    reaches it as `--<parameterId>=value`. None skips a check (a trainer cloudpane does not know).
    """
    try:
        root = yl.compose(text)
    except yl.YamlSyntaxError as exc:
        raise HpConfigInvalid(
            [YamlProblem(filename, exc.line, "", f"invalid YAML: {exc.message}", exc.column)]
        ) from None
    if root is None:
        raise HpConfigInvalid(
            [YamlProblem(filename, 1, "", "the file is empty; " + _WHAT_IS_VALID)]
        )
    if not isinstance(root, yaml.MappingNode):
        raise HpConfigInvalid(
            [
                YamlProblem(
                    filename, root.start_mark.line + 1, "", "must be a mapping; " + _WHAT_IS_VALID
                )
            ]
        )
    keys = {
        str(k.value): k.start_mark.line + 1 for k, _ in root.value if isinstance(k, yaml.ScalarNode)
    }
    is_legacy = "trainingInput" in keys or "training_input" in keys
    is_vertex = "studySpec" in keys or "study_spec" in keys
    if not (is_legacy or is_vertex):
        line = keys.get("hyperparameters")
        if line is not None:
            message = "AI Platform's hyperparameters block must be nested under trainingInput:"
            raise HpConfigInvalid([YamlProblem(filename, line, "hyperparameters", message)])
        raise HpConfigInvalid([YamlProblem(filename, root.start_mark.line + 1, "", _WHAT_IS_VALID)])
    parse = _Parse(filename, known_metrics, known_flags)
    if is_legacy and not is_vertex:
        return parse.legacy(root)
    return parse.vertex(root)


_WHAT_IS_VALID = (
    "expected a hyperparameter tuning config: Vertex AI's (top-level studySpec:, as for "
    "`gcloud ai hp-tuning-jobs create --config`) or AI Platform's (trainingInput: hyperparameters:)"
)

# -- parsing -----------------------------------------------------------------------------------


@dataclass
class _ParamPaths:
    """Where a parameter's parts live in the file (they differ between the two formats)."""

    base: str
    id: str
    kind: str  # the value spec (Vertex) or `type` (legacy)
    min: str
    max: str
    values: str
    scale: str
    default: str = ""


@dataclass
class _CountNames:
    max: str
    parallel: str
    failed: str


class _Parse:
    def __init__(
        self, filename: str, known_metrics: Iterable[str] | None, known_flags: Iterable[str] | None
    ) -> None:
        self.filename = filename
        self.known_metrics = frozenset(known_metrics) if known_metrics is not None else None
        self.known_flags = (
            frozenset(f.lstrip("-").replace("-", "_") for f in known_flags)
            if known_flags is not None
            else None
        )
        self.notes: list[str] = []
        self.reader = yl.Reader({})

    # -- helpers

    def error(self, path: str, message: str, line: int | None = None) -> None:
        self.reader.problem(path, message, line)

    def fail_if_errors(self) -> None:
        problems = sorted(self.reader.problems, key=lambda p: p.line)
        if problems:
            raise HpConfigInvalid(
                YamlProblem(self.filename, p.line, p.path, p.message) for p in problems
            )

    def line(self, path: str) -> int:
        return self.reader.line_of(path)

    def written(self, parent: str, keys: Iterable[str]) -> list[str]:
        """Which of `keys` (members of a oneof) the file gives under `parent`, in file order."""
        found = [k for k in keys if self.reader.present(f"{parent}.{k}")]
        return sorted(found, key=lambda k: self.line(f"{parent}.{k}"))

    def required(self, data: Mapping[str, Any], key: str, parent: str, what: str = "") -> bool:
        """True when `key` is in data; else an error unless it was written but was invalid."""
        if key in data:
            return True
        path = yl.join(parent, key)
        if not self.reader.present(path):
            self.error(parent or key, f"needs {key}{what}", self.line(parent) if parent else 1)
        return False

    def common_notes(self) -> None:
        if self.reader.snake_case_paths:
            shown = ", ".join(self.reader.snake_case_paths[:5])
            more = "…" if len(self.reader.snake_case_paths) > 5 else ""
            self.notes.append(
                "snake_case keys read as their camelCase names (the REST API accepts both; "
                f"gcloud's --config expects camelCase): {shown}{more}"
            )
        if self.reader.ignored_paths:
            self.notes.append(
                "ignored output-only fields (set by the server, not by you): "
                + ", ".join(self.reader.ignored_paths)
            )

    # -- Vertex AI

    def vertex(self, root: yaml.Node) -> HpTuningSpec:
        self.reader = yl.Reader(VERTEX_SCHEMAS)
        job = self.reader.read(root, Message("HyperparameterTuningJob"), "") or {}
        study = job.get("studySpec") or {}
        if self.reader.present("studySpec") and "studySpec" in job:
            self.required(study, "metrics", "studySpec", " (one metricId and its goal)")
            self.required(study, "parameters", "studySpec", " (the hyperparameters to tune)")

        metric_id, goal = self._vertex_metric(study)
        params: list[ParameterSpec] = []
        paths: list[_ParamPaths] = []
        for index, raw in enumerate(study.get("parameters") or []):
            parsed = self._vertex_parameter(raw, f"studySpec.parameters[{index}]")
            if parsed is not None:
                params.append(parsed[0])
                paths.append(parsed[1])
        if "parameters" in study and not study["parameters"]:
            self.error("studySpec.parameters", "must list at least one parameter to tune")
        algorithm = study.get("algorithm", "ALGORITHM_UNSPECIFIED")
        self._check_parameters(params, paths, algorithm, "studySpec.algorithm")

        counts = self._counts(
            job.get("maxTrialCount"),
            job.get("parallelTrialCount"),
            job.get("maxFailedTrialCount"),
            _CountNames("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"),
            default_note="gcloud's default of 1",
        )
        stopping = self._vertex_stopping(study, params)
        display_name = job.get("displayName")
        if display_name is not None and len(display_name) > 128:
            self.error("displayName", f"must be at most 128 characters (got {len(display_name)})")
        trial_job_spec = job.get("trialJobSpec")
        if trial_job_spec is not None:
            self._check_trial_job_spec(trial_job_spec)
        elif not self.reader.present("trialJobSpec"):
            self.notes.append(
                "no trialJobSpec: cloudpane fills it from the Jobs form (the bundled trainer, "
                "machine and region you pick there)"
            )
        self.common_notes()
        self._grid_note(params, algorithm, counts[0])
        self.fail_if_errors()
        return HpTuningSpec(
            display_name=display_name,
            metric_id=metric_id,
            goal=goal,
            parameters=tuple(params),
            algorithm=algorithm,
            max_trial_count=counts[0],
            parallel_trial_count=counts[1],
            max_failed_trial_count=counts[2],
            trial_job_spec=trial_job_spec,
            source_format="vertex",
            conversion_notes=tuple(self.notes),
            stopping_spec=stopping,
            measurement_selection_type=study.get("measurementSelectionType"),
            observation_noise=study.get("observationNoise"),
            study_stopping_config=study.get("studyStoppingConfig"),
            labels=job.get("labels") or {},
            encryption_spec=job.get("encryptionSpec"),
        )

    def _vertex_metric(self, study: Mapping[str, Any]) -> tuple[str, str]:
        metrics = study.get("metrics")
        if metrics is None:
            return "", ""
        if len(metrics) != 1:
            count = "none" if not metrics else f"{len(metrics)}"
            self.error(
                "studySpec.metrics",
                f"must list exactly one metric (got {count}): cloudpane tunes a single metric",
            )
            if not metrics:
                return "", ""
        metric = metrics[0]
        path = "studySpec.metrics[0]"
        metric_id = metric.get("metricId", "")
        goal = metric.get("goal", "")
        self.required(metric, "goal", path, " (MAXIMIZE or MINIMIZE)")
        if self.required(metric, "metricId", path, " (the tag your trainer reports)"):
            self._check_metric(metric_id, f"{path}.metricId")
        return metric_id, goal

    def _vertex_parameter(
        self, raw: Mapping[str, Any], base: str
    ) -> tuple[ParameterSpec, _ParamPaths] | None:
        if self.reader.present(f"{base}.conditionalParameterSpecs"):
            self.error(
                f"{base}.conditionalParameterSpecs",
                "conditional parameters are not supported by cloudpane; flatten them into "
                "top-level parameters",
            )
        written = self.written(base, VALUE_SPECS)
        if not written:
            self.error(base, "needs one value spec: " + ", ".join(VALUE_SPECS))
            return None
        if len(written) > 1:
            self.error(
                f"{base}.{written[1]}",
                f"a parameter takes exactly one value spec; {written[0]} is already given "
                f"on line {self.line(f'{base}.{written[0]}')}",
            )
            return None
        spec_key = written[0]
        spec_path = f"{base}.{spec_key}"
        paths = _ParamPaths(
            base=base,
            id=f"{base}.parameterId",
            kind=spec_path,
            min=f"{spec_path}.minValue",
            max=f"{spec_path}.maxValue",
            values=f"{spec_path}.values",
            scale=f"{base}.scaleType",
            default=f"{spec_path}.defaultValue",
        )
        has_id = self.required(raw, "parameterId", base, " (the flag name the trainer reads)")
        spec = raw.get(spec_key)
        if spec is None or not has_id:
            return None
        kind = VALUE_SPECS[spec_key]
        scale = self._scale(kind, raw.get("scaleType"), paths.scale)
        if kind in ("DOUBLE", "INTEGER"):
            ok = self.required(spec, "minValue", spec_path) & self.required(
                spec, "maxValue", spec_path
            )
            if not ok:
                return None
            param = ParameterSpec(
                raw["parameterId"],
                kind,
                spec["minValue"],
                spec["maxValue"],
                (),
                scale,
                spec.get("defaultValue"),
            )
        else:
            if not self.required(spec, "values", spec_path, " (a list)"):
                return None
            param = ParameterSpec(
                raw["parameterId"],
                kind,
                None,
                None,
                tuple(spec["values"]),
                scale,
                spec.get("defaultValue"),
            )
        return param, paths

    def _vertex_stopping(
        self, study: Mapping[str, Any], params: list[ParameterSpec]
    ) -> dict[str, Any] | None:
        written = self.written("studySpec", STOPPING_SPECS)
        if len(written) > 1:
            self.error(
                f"studySpec.{written[1]}",
                f"only one automated stopping spec may be set; {written[0]} is already given",
            )
            return None
        if not written or written[0] not in study:
            return None
        key = written[0]
        value = study[key]
        lr_name = value.get("learningRateParameterName")
        if lr_name and lr_name not in {p.parameter_id for p in params}:
            self.error(
                f"studySpec.{key}.learningRateParameterName",
                f"names no parameter (got {lr_name}; parameters: "
                + ", ".join(p.parameter_id for p in params)
                + ")",
            )
        return {key: value}

    def _check_trial_job_spec(self, spec: Mapping[str, Any]) -> None:
        base = "trialJobSpec"
        if not self.required(
            spec, "workerPoolSpecs", base, " (at least one pool: the primary replica)"
        ):
            return
        pools = spec["workerPoolSpecs"]
        if not pools:
            self.error(
                f"{base}.workerPoolSpecs",
                "must list at least one worker pool (the primary replica)",
            )
            return
        for index, pool in enumerate(pools):
            path = f"{base}.workerPoolSpecs[{index}]"
            if not pool and index > 0:
                continue  # an empty pool is Vertex's placeholder to skip a position
            replicas = pool.get("replicaCount")
            if index == 0 and replicas is not None and replicas != 1:
                self.error(
                    f"{path}.replicaCount",
                    f"must be 1: the first pool is the single primary replica (got {replicas})",
                )
            elif replicas is not None and replicas < 0:
                self.error(f"{path}.replicaCount", f"must be ≥ 0 (got {replicas})")
            if self.required(pool, "machineSpec", path, " (machineType, accelerators)"):
                self._check_machine(pool["machineSpec"], f"{path}.machineSpec")
            tasks = self.written(path, ("pythonPackageSpec", "containerSpec"))
            if not tasks:
                self.error(path, "needs pythonPackageSpec or containerSpec (what the trial runs)")
            elif len(tasks) > 1:
                self.error(
                    f"{path}.{tasks[1]}",
                    f"give pythonPackageSpec or containerSpec, not both ({tasks[0]} is on line "
                    f"{self.line(f'{path}.{tasks[0]}')})",
                )
            elif tasks[0] == "pythonPackageSpec" and "pythonPackageSpec" in pool:
                package = pool["pythonPackageSpec"]
                package_path = f"{path}.pythonPackageSpec"
                self.required(
                    package, "executorImageUri", package_path, " (a prebuilt training image)"
                )
                self.required(package, "pythonModule", package_path, " (e.g. trainer.task)")
                has_uris = self.required(
                    package, "packageUris", package_path, " (gs:// URIs of the sdist)"
                )
                if has_uris and not package["packageUris"]:
                    self.error(
                        f"{package_path}.packageUris",
                        "must list at least one gs:// package URI",
                    )
            elif tasks[0] == "containerSpec" and "containerSpec" in pool:
                self.required(pool["containerSpec"], "imageUri", f"{path}.containerSpec")

    def _check_machine(self, machine: Mapping[str, Any], path: str) -> None:
        self.required(machine, "machineType", path, " (e.g. n1-standard-4)")
        accel = machine.get("acceleratorType")
        count = machine.get("acceleratorCount")
        if accel and accel != "ACCELERATOR_TYPE_UNSPECIFIED":
            if count is None and not self.reader.present(f"{path}.acceleratorCount"):
                self.error(path, f"needs acceleratorCount (how many {accel})")
            elif count is not None and count < 1:
                self.error(
                    f"{path}.acceleratorCount", f"must be ≥ 1 with an acceleratorType (got {count})"
                )
        elif count:
            self.error(
                f"{path}.acceleratorCount",
                f"needs an acceleratorType (got a count of {count} and no type)",
            )

    # -- legacy AI Platform

    def legacy(self, root: yaml.Node) -> HpTuningSpec:
        self.reader = yl.Reader(LEGACY_SCHEMAS)
        job = self.reader.read(root, Message("Job"), "") or {}
        training = job.get("trainingInput")
        hp: dict[str, Any] = {}
        if training is not None:
            if "hyperparameters" in training:
                hp = training["hyperparameters"]
            elif not self.reader.present("trainingInput.hyperparameters"):
                self.error(
                    "trainingInput",
                    "has no hyperparameters: block, so this is a training config, not a tuning "
                    "config (add hyperparameters: with goal, hyperparameterMetricTag, params, maxTrials)",
                )
        base = "trainingInput.hyperparameters"
        hp_present = self.reader.present(base)

        metric_id = hp.get("hyperparameterMetricTag")
        if (
            metric_id is None
            and hp_present
            and not self.reader.present(f"{base}.hyperparameterMetricTag")
        ):
            metric_id = "training/hptuning/metric"
            self.notes.append(
                "hyperparameterMetricTag not set: AI Platform's default 'training/hptuning/metric' "
                "kept as studySpec.metrics[0].metricId"
            )
        if metric_id is not None:
            self._check_metric(metric_id, f"{base}.hyperparameterMetricTag")
        goal = hp.get("goal")
        if goal is None and hp_present and not self.reader.present(f"{base}.goal"):
            goal = "MAXIMIZE"
            self.notes.append(
                "goal not set: AI Platform's default MAXIMIZE kept; losses and errors "
                "(val_loss, val_rmse, val_abs_rel) want MINIMIZE"
            )

        params: list[ParameterSpec] = []
        paths: list[_ParamPaths] = []
        if hp_present and self.required(hp, "params", base, " (the hyperparameters to tune)"):
            if not hp["params"]:
                self.error(f"{base}.params", "must list at least one parameter to tune")
            for index, raw in enumerate(hp["params"]):
                parsed = self._legacy_parameter(raw, f"{base}.params[{index}]")
                if parsed is not None:
                    params.append(parsed[0])
                    paths.append(parsed[1])
        algorithm = hp.get("algorithm", "ALGORITHM_UNSPECIFIED")
        self._check_parameters(params, paths, algorithm, f"{base}.algorithm")
        counts = self._counts(
            hp.get("maxTrials"),
            hp.get("maxParallelTrials"),
            hp.get("maxFailedTrials"),
            _CountNames(
                f"{base}.maxTrials", f"{base}.maxParallelTrials", f"{base}.maxFailedTrials"
            ),
            default_note="AI Platform's default of 1",
            check_absent=hp_present,
        )

        stopping = None
        if hp.get("enableTrialEarlyStopping"):
            stopping = {"medianAutomatedStoppingSpec": {"useElapsedDuration": False}}
            self.notes.append(
                "enableTrialEarlyStopping: true → studySpec.medianAutomatedStoppingSpec (stop a "
                "trial whose best value is worse than the median of completed trials); AI Platform "
                "chose its rule itself, Vertex AI needs one named: switch to decayCurveStoppingSpec "
                "to stop on a flattening curve instead"
            )
        if hp.get("resumePreviousJobId"):
            self.notes.append(
                f"resumePreviousJobId {hp['resumePreviousJobId']} dropped: Vertex AI cannot resume "
                "an AI Platform study; this study starts fresh"
            )
        self._legacy_rename_note(hp)
        legacy_input = {k: v for k, v in (training or {}).items() if k != "hyperparameters"}
        self._legacy_training_notes(legacy_input)
        encryption = None
        kms = (legacy_input.get("encryptionConfig") or {}).get("kmsKeyName")
        if kms:
            encryption = {"kmsKeyName": kms}
        display_name = job.get("jobId")
        if display_name:
            self.notes.append(f"jobId {display_name} → displayName")
        self.notes.append(
            "no trialJobSpec in AI Platform's format: cloudpane fills it from the Jobs form "
            "(the bundled trainer, machine and region you pick there)"
        )
        self.common_notes()
        self._grid_note(params, algorithm, counts[0])
        self.fail_if_errors()
        return HpTuningSpec(
            display_name=display_name,
            metric_id=metric_id or "",
            goal=goal or "",
            parameters=tuple(params),
            algorithm=algorithm,
            max_trial_count=counts[0],
            parallel_trial_count=counts[1],
            max_failed_trial_count=counts[2],
            trial_job_spec=None,
            source_format="legacy",
            conversion_notes=tuple(self.notes),
            stopping_spec=stopping,
            labels=job.get("labels") or {},
            encryption_spec=encryption,
            legacy_training_input=legacy_input or None,
        )

    def _legacy_parameter(
        self, raw: Mapping[str, Any], base: str
    ) -> tuple[ParameterSpec, _ParamPaths] | None:
        has_name = self.required(raw, "parameterName", base, " (the flag name the trainer reads)")
        if not self.required(raw, "type", base, " (DOUBLE, INTEGER, DISCRETE or CATEGORICAL)"):
            return None
        kind: ParamType = raw["type"]
        values_key = "categoricalValues" if kind == "CATEGORICAL" else "discreteValues"
        paths = _ParamPaths(
            base=base,
            id=f"{base}.parameterName",
            kind=f"{base}.type",
            min=f"{base}.minValue",
            max=f"{base}.maxValue",
            values=f"{base}.{values_key}",
            scale=f"{base}.scaleType",
        )
        scale = self._scale(kind, raw.get("scaleType"), paths.scale)
        misplaced = {
            "DOUBLE": ("discreteValues", "categoricalValues"),
            "INTEGER": ("discreteValues", "categoricalValues"),
            "DISCRETE": ("minValue", "maxValue", "categoricalValues"),
            "CATEGORICAL": ("minValue", "maxValue", "discreteValues"),
        }[kind]
        for key in misplaced:  # an error, but the rest of the parameter is still checked
            if self.reader.present(f"{base}.{key}"):
                self.error(f"{base}.{key}", f"does not apply to type {kind}; remove it")
        bad = False
        if kind in ("DOUBLE", "INTEGER"):
            ok = self.required(raw, "minValue", base) & self.required(raw, "maxValue", base)
            if not ok or bad or not has_name:
                return None
            low, high = raw["minValue"], raw["maxValue"]
            if kind == "INTEGER":
                for key, number in (("minValue", low), ("maxValue", high)):
                    if not float(number).is_integer():
                        self.error(
                            f"{base}.{key}",
                            f"must be a whole number for type INTEGER (got {_number(number)})",
                        )
                        bad = True
                if bad:
                    return None
                low, high = int(low), int(high)
            return ParameterSpec(raw["parameterName"], kind, low, high, (), scale), paths
        if not self.required(raw, values_key, base, " (a list)") or bad or not has_name:
            return None
        return ParameterSpec(
            raw["parameterName"], kind, None, None, tuple(raw[values_key]), scale
        ), paths

    def _scale(self, kind: str, scale: str | None, path: str) -> str | None:
        """The scale to keep: unset for NONE/UNSPECIFIED and for categorical parameters."""
        if scale in ("NONE", "SCALE_TYPE_UNSPECIFIED"):
            self.notes.append(f"{path} {scale} → scaleType left unset (no scaling)")
            return None
        if scale and kind == "CATEGORICAL":
            self.notes.append(f"{path} dropped: categorical parameters take no scale")
            return None
        return scale

    def _legacy_rename_note(self, hp: Mapping[str, Any]) -> None:
        renames = {
            "hyperparameterMetricTag": "studySpec.metrics[0].metricId",
            "goal": "studySpec.metrics[0].goal",
            "params": "studySpec.parameters (parameterName → parameterId, type + min/max/values → "
            "doubleValueSpec/integerValueSpec/discreteValueSpec/categoricalValueSpec)",
            "algorithm": "studySpec.algorithm",
            "maxTrials": "maxTrialCount",
            "maxParallelTrials": "parallelTrialCount",
            "maxFailedTrials": "maxFailedTrialCount",
        }
        done = [f"{old} → {new}" for old, new in renames.items() if old in hp]
        if done:
            self.notes.append("renamed for Vertex AI: " + "; ".join(done))

    def _legacy_training_notes(self, ti: Mapping[str, Any]) -> None:
        """Say what becomes of each trainingInput field (none of them is a study setting)."""
        form = "set it in the Jobs form"
        if any(k in ti for k in _TRIAL_JOB_FIELDS):
            self.notes.append(
                "trainingInput's machine and package settings are not converted: cloudpane builds "
                "trialJobSpec from the Jobs form; each is listed here so you can pick the same there"
            )
        if "scaleTier" in ti:
            self.notes.append(
                f"scaleTier {ti['scaleTier']} has no Vertex AI equivalent (Vertex names machines "
                "in trialJobSpec.workerPoolSpecs[].machineSpec): the machine comes from the Jobs form"
            )
        pools = (
            ("master", "workerPoolSpecs[0]", None),
            ("worker", "workerPoolSpecs[1]", "workerCount"),
            ("parameterServer", "workerPoolSpecs[2]", "parameterServerCount"),
            ("evaluator", "workerPoolSpecs[3]", "evaluatorCount"),
        )
        for role, target, count_key in pools:
            machine = ti.get(f"{role}Type")
            config = ti.get(f"{role}Config") or {}
            count = ti.get(count_key) if count_key else None
            if not machine and not config and not count:
                continue
            accel = config.get("acceleratorConfig") or {}
            text = f"{role}Type {machine or '(unset)'}"
            if accel:
                text += f" with {accel.get('count', 1)} × {accel.get('type', '?')}"
            if count is not None:
                text += f", {count_key} {count}"
            if config.get("imageUri"):
                text += f", image {config['imageUri']}"
            self.notes.append(f"{text} → trialJobSpec.{target}.machineSpec/replicaCount: {form}")
        moved = {
            "packageUris": "trialJobSpec.workerPoolSpecs[0].pythonPackageSpec.packageUris (cloudpane "
            "packages its bundled trainer)",
            "pythonModule": "pythonPackageSpec.pythonModule (cloudpane runs trainer.task)",
            "args": "pythonPackageSpec.args (enter them as the job's arguments in the Jobs form)",
            "runtimeVersion": "a prebuilt training image, pythonPackageSpec.executorImageUri (the "
            "Jobs form picks one)",
            "pythonVersion": "the Python of the prebuilt training image (executorImageUri)",
            "jobDir": "trialJobSpec.baseOutputDirectory.outputUriPrefix; Vertex AI passes no "
            "--job-dir flag, trainers read AIP_MODEL_DIR",
            "region": "the job's location (cloudpane's region setting)",
            "serviceAccount": "trialJobSpec.serviceAccount",
            "network": "trialJobSpec.network",
            "enableWebAccess": "trialJobSpec.enableWebAccess",
        }
        for key, target in moved.items():
            if key in ti:
                value = ti[key]
                shown = " ".join(value) if isinstance(value, list) else value
                self.notes.append(f"{key} {shown} → {target}: {form}")
        scheduling = ti.get("scheduling") or {}
        if "maxRunningTime" in scheduling:
            self.notes.append(
                f"scheduling.maxRunningTime {scheduling['maxRunningTime']} → "
                f"trialJobSpec.scheduling.timeout (per trial): {form}"
            )
        if "maxWaitTime" in scheduling:
            self.notes.append(
                f"scheduling.maxWaitTime {scheduling['maxWaitTime']} → "
                f"trialJobSpec.scheduling.maxWaitDuration: {form}"
            )
        if "priority" in scheduling:
            self.notes.append("scheduling.priority dropped: Vertex AI has no job priority")
        if "useChiefInTfConfig" in ti:
            self.notes.append(
                "useChiefInTfConfig dropped: Vertex AI always calls the first pool 'chief' in TF_CONFIG"
            )
        if (ti.get("encryptionConfig") or {}).get("kmsKeyName"):
            self.notes.append("encryptionConfig.kmsKeyName → encryptionSpec.kmsKeyName")

    # -- checks shared by both formats

    def _check_metric(self, metric_id: str, path: str) -> None:
        if not metric_id.strip():
            self.error(path, "must not be empty")
            return
        if self.known_metrics is None or metric_id in self.known_metrics:
            return
        known = sorted(self.known_metrics)
        guess = yl.nearest(metric_id, known)
        maybe = f"did you mean {guess}? " if guess else ""
        self.error(
            path,
            f"the trainer does not report {metric_id!r}; {maybe}it reports: {', '.join(known)}",
        )

    def _check_parameters(
        self,
        params: list[ParameterSpec],
        paths: list[_ParamPaths],
        algorithm: str,
        algorithm_path: str,
    ) -> None:
        first_line: dict[str, int] = {}
        for param, where in zip(params, paths, strict=True):
            if param.parameter_id in first_line:
                self.error(
                    where.id,
                    f"duplicate parameter id {param.parameter_id!r} (first on line "
                    f"{first_line[param.parameter_id]}); each parameter must have its own id",
                )
            else:
                first_line[param.parameter_id] = self.line(where.id)
            self._check_parameter(param, where)
            self._check_flag(param.parameter_id, where.id)
            if algorithm == "GRID_SEARCH" and param.type == "DOUBLE":
                legacy = where.kind.endswith(".type")
                fix = (
                    "use type INTEGER, or DISCRETE with the discreteValues to try"
                    if legacy
                    else "use integerValueSpec, or discreteValueSpec with the values to try"
                )
                self.error(
                    where.kind,
                    f"GRID_SEARCH ({algorithm_path}, line {self.line(algorithm_path)}) cannot grid a "
                    f"DOUBLE range; {fix}, or choose RANDOM_SEARCH / ALGORITHM_UNSPECIFIED (Bayesian)",
                )

    def _check_flag(self, parameter_id: str, path: str) -> None:
        if self.known_flags is None or parameter_id.replace("-", "_") in self.known_flags:
            return
        known = sorted(self.known_flags)
        guess = yl.nearest(parameter_id.replace("-", "_"), known)
        maybe = f"did you mean {guess}? " if guess else ""
        self.error(
            path,
            f"the trainer has no flag --{parameter_id}, so every trial would fail; {maybe}"
            f"its flags: {', '.join(known)}",
        )

    def _check_parameter(self, p: ParameterSpec, where: _ParamPaths) -> None:
        pid = p.parameter_id
        if not pid.strip() or any(ch.isspace() for ch in pid):
            self.error(
                where.id,
                f"must be a name without spaces (got {pid!r}); it becomes the flag --{pid}",
            )
        if p.type in ("DOUBLE", "INTEGER"):
            assert p.min_value is not None and p.max_value is not None
            if p.min_value > p.max_value:
                self.error(
                    where.min,
                    f"must be ≤ maxValue {_number(p.max_value)} (got {_number(p.min_value)})",
                )
            elif p.min_value == p.max_value:
                self.notes.append(
                    f"{pid} has a single value {_number(p.min_value)}: every trial uses it"
                )
            if p.scale in LOG_SCALES and p.min_value <= 0:
                self.error(where.min, f"must be > 0 for {p.scale} (got {_number(p.min_value)})")
            if p.default_value is not None and not (p.min_value <= p.default_value <= p.max_value):  # type: ignore[operator]
                self.error(
                    where.default,
                    f"must lie in {_number(p.min_value)} … {_number(p.max_value)} (got {_number(p.default_value)})",
                )
            return
        if not p.values:
            what = "category" if p.type == "CATEGORICAL" else "value"
            self.error(where.values, f"must list at least one {what}")
            return
        if len(p.values) > MAX_DISCRETE_VALUES:
            self.error(
                where.values, f"may list at most {MAX_DISCRETE_VALUES} values (got {len(p.values)})"
            )
        if p.type == "CATEGORICAL":
            seen: set[str] = set()
            for index, value in enumerate(p.values):
                if value in seen:
                    self.error(f"{where.values}[{index}]", f"repeats {value!r}; each category once")
                seen.add(str(value))
                if not str(value).strip():
                    self.error(f"{where.values}[{index}]", "must not be empty")
        else:
            numbers = [float(v) for v in p.values]
            for index in range(1, len(numbers)):
                if numbers[index] <= numbers[index - 1]:
                    self.error(
                        f"{where.values}[{index}]",
                        "must be in increasing order without repeats "
                        f"(got {_number(numbers[index])} after {_number(numbers[index - 1])})",
                    )
                    break
            if p.scale in LOG_SCALES and numbers[0] <= 0:
                self.error(
                    f"{where.values}[0]", f"must be > 0 for {p.scale} (got {_number(numbers[0])})"
                )
        if p.default_value is not None and p.default_value not in p.values:
            self.error(where.default, f"must be one of the values (got {_number(p.default_value)})")

    def _counts(
        self,
        max_trials: int | None,
        parallel: int | None,
        failed: int | None,
        names: _CountNames,
        default_note: str,
        check_absent: bool = True,
    ) -> tuple[int, int, int]:
        for value, path in ((max_trials, names.max), (parallel, names.parallel)):
            if value is None and check_absent and not self.reader.present(path):
                self.notes.append(f"{path} not set: {default_note}")
        max_n = 1 if max_trials is None else max_trials
        par_n = 1 if parallel is None else parallel
        fail_n = 0 if failed is None else failed
        # a count written but unreadable is already an error: compare nothing against it
        max_ok = max_trials is not None or not self.reader.present(names.max)
        if max_n < 1:
            self.error(names.max, f"must be ≥ 1 (got {max_n})")
        if par_n < 1:
            self.error(names.parallel, f"must be ≥ 1 (got {par_n})")
        elif max_ok and par_n > max_n >= 1:
            self.error(
                names.parallel,
                f"must be ≤ {_leaf(names.max)} {max_n}: more parallel trials than trials in total (got {par_n})",
            )
        if fail_n < 0:
            self.error(names.failed, f"must be ≥ 0, where 0 lets Vertex AI decide (got {fail_n})")
        elif max_ok and fail_n > max_n >= 1:
            self.error(
                names.failed,
                f"must be ≤ {_leaf(names.max)} {max_n} (got {fail_n}); 0 lets Vertex AI decide",
            )
        return max_n, par_n, fail_n

    def _grid_note(self, params: list[ParameterSpec], algorithm: str, max_trials: int) -> None:
        if algorithm != "GRID_SEARCH" or not params or any(p.type == "DOUBLE" for p in params):
            return
        size = _grid_size(params)
        if size > max_trials:
            self.notes.append(
                f"the grid has {size} points but maxTrialCount is {max_trials}: only part of it is tried"
            )
        elif size < max_trials:
            self.notes.append(
                f"the grid has only {size} points: at most {size} trials run, not {max_trials}"
            )


_TRIAL_JOB_FIELDS = frozenset(LEGACY_SCHEMAS["TrainingInput"].fields) - {
    "hyperparameters",
    "encryptionConfig",
}


def _leaf(path: str) -> str:
    return path.rsplit(".", 1)[-1]


# -- output ------------------------------------------------------------------------------------


def _json_number(value: float | int) -> float | int:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _parameter_dict(p: ParameterSpec) -> dict[str, Any]:
    spec: dict[str, Any]
    if p.type in ("DOUBLE", "INTEGER"):
        assert p.min_value is not None and p.max_value is not None
        cast = float if p.type == "DOUBLE" else int
        spec = {"minValue": cast(p.min_value), "maxValue": cast(p.max_value)}
    elif p.type == "DISCRETE":
        spec = {"values": [_json_number(float(v)) for v in p.values]}
    else:
        spec = {"values": [str(v) for v in p.values]}
    if p.default_value is not None:
        spec["defaultValue"] = p.default_value
    out: dict[str, Any] = {"parameterId": p.parameter_id, SPEC_OF_TYPE[p.type]: spec}
    if p.scale:
        out["scaleType"] = p.scale
    return out


def to_vertex_dict(spec: HpTuningSpec) -> dict[str, Any]:
    """The REST JSON of a HyperparameterTuningJob (no trialJobSpec when the spec has none)."""
    study: dict[str, Any] = {
        "metrics": [{"metricId": spec.metric_id, "goal": spec.goal}],
        "parameters": [_parameter_dict(p) for p in spec.parameters],
        "algorithm": spec.algorithm,
    }
    if spec.measurement_selection_type:
        study["measurementSelectionType"] = spec.measurement_selection_type
    if spec.observation_noise:
        study["observationNoise"] = spec.observation_noise
    if spec.stopping_spec:
        study.update(spec.stopping_spec)
    if spec.study_stopping_config:
        study["studyStoppingConfig"] = spec.study_stopping_config
    job: dict[str, Any] = {}
    if spec.display_name:
        job["displayName"] = spec.display_name
    job["studySpec"] = study
    job["maxTrialCount"] = spec.max_trial_count
    job["parallelTrialCount"] = spec.parallel_trial_count
    job["maxFailedTrialCount"] = spec.max_failed_trial_count
    if spec.trial_job_spec is not None:
        job["trialJobSpec"] = spec.trial_job_spec
    if spec.labels:
        job["labels"] = dict(spec.labels)
    if spec.encryption_spec:
        job["encryptionSpec"] = spec.encryption_spec
    return job


def to_vertex_yaml(spec: HpTuningSpec) -> str:
    """Vertex-format YAML text of the spec (what `gcloud ai hp-tuning-jobs create --config` reads)."""
    return yaml.safe_dump(
        to_vertex_dict(spec), sort_keys=False, default_flow_style=False, allow_unicode=True
    )


# -- grid and flags ----------------------------------------------------------------------------


def _axis(p: ParameterSpec) -> list[Any]:
    if p.type == "DOUBLE":
        raise ValueError(
            f"{p.parameter_id} is a DOUBLE range: a grid needs INTEGER, DISCRETE or CATEGORICAL"
        )
    if p.type == "INTEGER":
        assert p.min_value is not None and p.max_value is not None
        return list(range(int(p.min_value), int(p.max_value) + 1))
    return list(p.values)


def _grid_size(params: Iterable[ParameterSpec]) -> int:
    size = 1
    for p in params:
        if p.type == "INTEGER":
            assert p.min_value is not None and p.max_value is not None
            size *= max(0, int(p.max_value) - int(p.min_value) + 1)
        else:
            size *= len(p.values)
    return size


def grid_size(spec: HpTuningSpec) -> int | None:
    """How many points the grid has; None when a DOUBLE range makes it infinite."""
    if any(p.type == "DOUBLE" for p in spec.parameters):
        return None
    return _grid_size(spec.parameters)


def grid_points(spec: HpTuningSpec, limit: int = GRID_LIMIT) -> list[dict[str, Any]]:
    """Every combination (parameter order, last parameter fastest), as GRID_SEARCH walks it.

    ValueError for a DOUBLE parameter or a grid larger than `limit`.
    """
    size = grid_size(spec)
    if size is None:
        double = next(p for p in spec.parameters if p.type == "DOUBLE")
        _axis(double)  # raises with the parameter's name
    if size is not None and size > limit:
        raise ValueError(f"the grid has {size} points, more than {limit}")
    axes = [_axis(p) for p in spec.parameters]
    ids = [p.parameter_id for p in spec.parameters]
    return [dict(zip(ids, combo, strict=True)) for combo in itertools.product(*axes)]


def _number(value: float | int | str | None) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    return str(value)


def format_flags(params: Mapping[str, Any]) -> list[str]:
    """`{"learning_rate": 0.01, "batch_size": 32.0}` → `["--learning_rate=0.01", "--batch_size=32"]`.

    As Vertex AI passes trial parameters to the trainer: one `--id=value` per parameter.
    Whole-number floats (DISCRETE values) are written without `.0` so `type=int` flags parse.
    """
    return [f"--{name}={_number(value)}" for name, value in params.items()]


# -- cost and summary --------------------------------------------------------------------------


def worst_case_cost(spec: HpTuningSpec, hours_per_trial: float, hourly_price: float) -> float:
    """Every trial runs to its full time: maxTrialCount × hours × price (parallelism saves time,
    not money)."""
    for name, value in (("hours_per_trial", hours_per_trial), ("hourly_price", hourly_price)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number ≥ 0 (got {value})")
    return spec.max_trial_count * hours_per_trial * hourly_price


def worst_case_hours(spec: HpTuningSpec, hours_per_trial: float) -> float:
    """Wall-clock time if every trial runs its full time: rounds of parallel trials × hours."""
    return math.ceil(spec.max_trial_count / spec.parallel_trial_count) * hours_per_trial


ALGORITHM_WORDS = {
    "ALGORITHM_UNSPECIFIED": "Bayesian optimization (ALGORITHM_UNSPECIFIED)",
    "GRID_SEARCH": "grid search",
    "RANDOM_SEARCH": "random search",
}


def summary_rows(
    spec: HpTuningSpec, hours_per_trial: float | None = None, hourly_price: float | None = None
) -> list[tuple[str, str]]:
    """(label, value) rows for the study preview: metric, trials, parameters, worst-case cost."""
    source = (
        "Vertex AI" if spec.source_format == "vertex" else "AI Platform (converted to Vertex AI)"
    )
    rows = [("Format", source)]
    if spec.display_name:
        rows.append(("Name", spec.display_name))
    rows.append(("Metric", f"{spec.metric_id} ({spec.goal})"))
    rows.append(("Algorithm", ALGORITHM_WORDS.get(spec.algorithm, spec.algorithm)))
    failed = (
        "Vertex AI decides when failures end the job"
        if spec.max_failed_trial_count == 0
        else f"the job fails after {spec.max_failed_trial_count} failed trials"
    )
    rows.append(
        (
            "Trials",
            f"{spec.max_trial_count} at most, {spec.parallel_trial_count} in parallel; {failed}",
        )
    )
    if spec.stopping_spec:
        rows.append(("Early stopping", next(iter(spec.stopping_spec))))
    for p in spec.parameters:
        rows.append(("Parameter", p.describe()))
    size = grid_size(spec)
    if spec.algorithm == "GRID_SEARCH" and size is not None:
        rows.append(("Grid", f"{size} points"))
    rows.append(("Trial job", _trial_job_words(spec.trial_job_spec)))
    if hours_per_trial is not None:
        rounds = math.ceil(spec.max_trial_count / spec.parallel_trial_count)
        rows.append(
            (
                "Worst-case time",
                f"{_number(worst_case_hours(spec, hours_per_trial))} h "
                f"({rounds} rounds × {_number(hours_per_trial)} h)",
            )
        )
        if hourly_price is not None:
            cost = worst_case_cost(spec, hours_per_trial, hourly_price)
            rows.append(
                (
                    "Worst-case cost",
                    f"{format_money(cost)} ({spec.max_trial_count} trials × "
                    f"{_number(hours_per_trial)} h × {format_rate(hourly_price)})",
                )
            )
        else:
            rows.append(("Worst-case cost", "price unknown"))
    return rows


def _trial_job_words(job: Mapping[str, Any] | None) -> str:
    if job is None:
        return "from the Jobs form (bundled trainer)"
    pools = job.get("workerPoolSpecs") or []
    parts = []
    for pool in pools:
        if not pool:
            continue
        machine = pool.get("machineSpec") or {}
        text = f"{pool.get('replicaCount', 1)} × {machine.get('machineType', '?')}"
        if machine.get("acceleratorType"):
            text += f" + {machine.get('acceleratorCount', 1)} × {machine['acceleratorType']}"
        parts.append(text)
    return ", ".join(parts) or "as given"


def summary_text(
    spec: HpTuningSpec, hours_per_trial: float | None = None, hourly_price: float | None = None
) -> str:
    """The rows as aligned plain text, then the conversion notes."""
    rows = summary_rows(spec, hours_per_trial, hourly_price)
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    if spec.conversion_notes:
        lines.append("")
        lines.append("Notes:")
        lines.extend(f"- {note}" for note in spec.conversion_notes)
    return "\n".join(lines)
