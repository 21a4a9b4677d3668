"""Vertex AI training jobs and their logs, as plain frozen dataclasses (no client types).

Also Vertex AI's training hardware rules (which accelerators a machine type takes, and how
many), pure data shared by the services' validation and the sandbox's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

# --- hardware ------------------------------------------------------------------------------


# Vertex AI's AcceleratorType enum (names and the numbers its REST JSON may carry).
ACCELERATOR_ENUM: dict[int, str] = {
    0: "ACCELERATOR_TYPE_UNSPECIFIED",
    1: "NVIDIA_TESLA_K80",
    2: "NVIDIA_TESLA_P100",
    3: "NVIDIA_TESLA_V100",
    4: "NVIDIA_TESLA_P4",
    5: "NVIDIA_TESLA_T4",
    6: "TPU_V2",
    7: "TPU_V3",
    8: "NVIDIA_TESLA_A100",
    9: "NVIDIA_A100_80GB",
    10: "TPU_V4_POD",
    11: "NVIDIA_L4",
    12: "TPU_V5_LITEPOD",
    13: "NVIDIA_H100_80GB",
    14: "NVIDIA_H100_MEGA_80GB",
    15: "NVIDIA_H200_141GB",
    16: "NVIDIA_B200",
}

# N1 machines take these GPUs; the count allowed depends on the machine's vCPUs:
# GPU -> ((gpu_count, max_vcpus), ...) as Compute Engine documents for N1.
N1_GPUS: dict[str, tuple[tuple[int, int], ...]] = {
    "NVIDIA_TESLA_T4": ((1, 48), (2, 48), (4, 96)),
    "NVIDIA_TESLA_P4": ((1, 24), (2, 48), (4, 96)),
    "NVIDIA_TESLA_P100": ((1, 16), (2, 32), (4, 96)),
    "NVIDIA_TESLA_V100": ((1, 12), (2, 24), (4, 48), (8, 96)),
}

N1_SIZES = (4, 8, 16, 32, 64, 96)
CPU_FAMILIES = {  # family -> (kinds, sizes); CPU-only shapes Vertex trains on
    "n1": (("standard", "highmem", "highcpu"), N1_SIZES),
    "n2": (("standard", "highmem", "highcpu"), (4, 8, 16, 32, 48, 64, 80)),
    "e2": (("standard", "highmem", "highcpu"), (4, 8, 16, 32)),
    "c2": (("standard",), (4, 8, 16, 30, 60)),
}

# Machine types with their GPUs built in: name -> (accelerator, count).
BUNDLED_GPUS: dict[str, tuple[str, int]] = {
    **{f"a2-highgpu-{n}g": ("NVIDIA_TESLA_A100", n) for n in (1, 2, 4, 8)},
    "a2-megagpu-16g": ("NVIDIA_TESLA_A100", 16),
    **{f"a2-ultragpu-{n}g": ("NVIDIA_A100_80GB", n) for n in (1, 2, 4, 8)},
    **{f"g2-standard-{v}": ("NVIDIA_L4", 1) for v in (4, 8, 12, 16, 32)},
    "g2-standard-24": ("NVIDIA_L4", 2),
    "g2-standard-48": ("NVIDIA_L4", 4),
    "g2-standard-96": ("NVIDIA_L4", 8),
    "a3-highgpu-8g": ("NVIDIA_H100_80GB", 8),
    "a3-megagpu-8g": ("NVIDIA_H100_MEGA_80GB", 8),
}


def machine_vcpus(machine_type: str) -> int | None:
    match = re.fullmatch(r"[a-z0-9]+-[a-z]+-(\d+)", machine_type)
    return int(match.group(1)) if match else None


def training_machine_types() -> list[str]:
    """Every machine type Vertex AI training accepts here, CPU shapes first."""
    names = [
        f"{family}-{kind}-{size}"
        for family, (kinds, sizes) in CPU_FAMILIES.items()
        for kind in kinds
        for size in sizes
    ]
    return names + list(BUNDLED_GPUS)


def accelerators_for(machine_type: str) -> dict[str, tuple[int, ...]]:
    """Accelerator type -> the counts allowed on this machine type ({} for CPU-only)."""
    if machine_type in BUNDLED_GPUS:
        gpu, count = BUNDLED_GPUS[machine_type]
        return {gpu: (count,)}
    if machine_type.startswith("n1-"):
        vcpus = machine_vcpus(machine_type) or 0
        return {
            gpu: tuple(count for count, max_vcpus in rules if vcpus <= max_vcpus)
            for gpu, rules in N1_GPUS.items()
        }
    return {}


def hardware_problem(
    machine_type: str, accelerator_type: str | None, accelerator_count: int
) -> tuple[str, str] | None:
    """(field, why) when this combination is not valid for Vertex AI training, else None.

    `field` is the MachineSpec field to blame: machineType, acceleratorType or acceleratorCount.
    """
    if machine_type not in set(training_machine_types()):
        return (
            "machineType",
            f"Machine type {machine_type!r} is not offered for Vertex AI training.",
        )
    gpu = accelerator_type if accelerator_type not in (None, "", ACCELERATOR_ENUM[0]) else None
    if gpu is None:
        if accelerator_count:
            return "acceleratorCount", "acceleratorCount is set but no acceleratorType."
        if machine_type in BUNDLED_GPUS:
            need, count = BUNDLED_GPUS[machine_type]
            return (
                "acceleratorType",
                f"{machine_type} comes with {count}× {need}: set acceleratorType {need} "
                f"and acceleratorCount {count}.",
            )
        return None
    if gpu not in ACCELERATOR_ENUM.values():
        return "acceleratorType", f"Unknown accelerator type {gpu!r}."
    allowed = accelerators_for(machine_type)
    if not allowed:
        return (
            "acceleratorType",
            f"{machine_type} does not take accelerators; pick an n1, a2, a3 or g2 machine for {gpu}.",
        )
    if gpu not in allowed:
        return (
            "acceleratorType",
            f"{machine_type} does not take {gpu}; it takes {', '.join(sorted(allowed))}.",
        )
    if accelerator_count not in allowed[gpu]:
        counts = ", ".join(str(c) for c in allowed[gpu]) or "none (too many vCPUs)"
        return "acceleratorCount", f"{machine_type} takes {counts}× {gpu}, not {accelerator_count}."
    return None


def accelerator_problem(
    machine_type: str, accelerator_type: str | None, accelerator_count: int
) -> str | None:
    """Why this hardware combination is not valid for Vertex AI training, or None."""
    found = hardware_problem(machine_type, accelerator_type, accelerator_count)
    return found[1] if found else None


# --- job specs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerPool:
    """One `workerPoolSpecs[]` entry: a machine shape, how many of it, and what it runs."""

    machine_type: str = "n1-standard-4"
    replica_count: int = 1
    accelerator_type: str | None = None  # Vertex enum name, e.g. "NVIDIA_TESLA_T4"
    accelerator_count: int = 0
    # python_package_spec
    executor_image_uri: str = ""  # a prebuilt image (services/training_images.py) or any URI
    package_uris: tuple[str, ...] = ()
    python_module: str = "trainer.task"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    # container_spec (instead of a python package) — kept for YAML fidelity
    container_image_uri: str | None = None
    container_command: tuple[str, ...] = ()
    boot_disk_type: str = "pd-ssd"
    boot_disk_size_gb: int = 100

    @property
    def hardware(self) -> str:
        text = self.machine_type
        if self.accelerator_type and self.accelerator_count:
            text += f" + {self.accelerator_count}× {self.accelerator_type}"
        return text


@dataclass(frozen=True)
class JobSpec:
    """A CustomJob to create: what `gcloud ai custom-jobs create --config` takes, plus a name."""

    display_name: str
    worker_pools: tuple[WorkerPool, ...]
    region: str = "us-central1"
    base_output_directory: str = ""  # gs://bucket/prefix — model/, checkpoints/, logs/ go below
    spot: bool = False
    timeout_seconds: int | None = None
    restart_job_on_worker_restart: bool = False
    service_account: str = ""
    enable_web_access: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def replica_count(self) -> int:
        return sum(p.replica_count for p in self.worker_pools)

    @property
    def hardware(self) -> str:
        return ", ".join(
            f"{p.replica_count}× {p.hardware}" for p in self.worker_pools if p.replica_count
        )


@dataclass(frozen=True)
class SpecProblem:
    """One reason a job spec is invalid; `field` is its path in the YAML/REST naming."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True)
class TrainerJobRequest:
    """What the Jobs pane's submit form produces for the bundled trainer."""

    display_name: str
    staging_bucket: str  # a bucket name or gs://bucket[/prefix]
    region: str = "us-central1"
    machine_type: str = "n1-standard-4"
    accelerator_type: str | None = None
    accelerator_count: int = 0
    replica_count: int = 1  # >1: one primary + (n-1) workers, MultiWorkerMirroredStrategy
    spot: bool = False
    # "" → the newest prebuilt TensorFlow image still available (none: the request is refused)
    executor_image_uri: str = ""
    trainer_args: tuple[str, ...] = ()
    output_prefix: str = ""  # "" → cloudpane-jobs/<display name>-<UTC time>
    timeout_seconds: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


# --- jobs -----------------------------------------------------------------------------------

ACTIVE_STATES = frozenset(
    {
        "JOB_STATE_QUEUED",
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_UPDATING",
        "JOB_STATE_PAUSED",
    }
)


# `ModuleNotFoundError: No module named 'x'`, `tensorflow.errors.NotFoundError: …`, `KeyError: 1`
_EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning|Failure)\b(?::.*)?$"
)


def failure_line(message: str) -> str:
    """The one line that says why a job failed.

    Vertex's `error.message` (and the sandbox's) is a sentence, then often the replica's last
    log lines — a traceback whose *last* exception line is the cause. That line, when there is
    one; otherwise the message without its log tail, joined into one line.
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    # No exception: the sentence before the log tail, on one line.
    summary = message.split("Last log lines:", 1)[0]
    return " ".join(summary.split())


@dataclass(frozen=True)
class Job:
    """A Vertex AI CustomJob as the UI shows it."""

    name: str  # projects/P/locations/R/customJobs/ID
    display_name: str
    state: str  # JOB_STATE_RUNNING, ...
    spec: JobSpec
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
        return parts[3] if len(parts) > 3 else self.spec.region

    @property
    def status(self) -> str:
        """The state without its prefix: RUNNING, SUCCEEDED, ..."""
        return self.state.removeprefix("JOB_STATE_")

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def hardware(self) -> str:
        return self.spec.hardware

    @property
    def reason(self) -> str | None:
        """Why it failed, in one line (the exception's last line, not the traceback's top)."""
        return failure_line(self.error) if self.error else None

    def running_time(self, now: datetime | None = None) -> timedelta | None:
        """How long it ran (or runs so far); None before it started."""
        if self.started is None:
            return None
        end = self.ended or now or datetime.now(timezone.utc)
        return max(end - self.started, timedelta(0))


# --- logs -----------------------------------------------------------------------------------

SEVERITY_ORDER = (
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
)


@dataclass(frozen=True)
class LogEntry:
    """One Cloud Logging entry of a job (a line one of its replicas printed)."""

    timestamp: datetime
    insert_id: str
    severity: str  # INFO, ERROR, ...
    text: str
    job_id: str = ""
    task_name: str = ""  # workerpool0-0, service, ...
    log_name: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")


@dataclass(frozen=True)
class LogPage:
    """A page of entries and the cursor to read the next one (None at the end)."""

    entries: tuple[LogEntry, ...]
    cursor: str | None = None


def label_map(raw: Any) -> dict[str, str]:
    """A resource's labels as strings, whatever came: Google only ever sends strings, but one
    odd value (a proxy, another emulator) must not take the whole job list down with it."""
    items = raw.items() if isinstance(raw, Mapping) else ()
    return {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in items}
