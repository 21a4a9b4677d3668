"""Plain, frozen dataclasses that the UI, the CLI and the tests consume.

The services translate Google's protobuf/JSON resources into these so nothing above the
service layer depends on a client library's types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tui.services.idle_stop import IdleStop, minutes_from_label


@dataclass(frozen=True)
class Accelerator:
    """GPUs attached to an instance (`guestAccelerators`)."""

    type: str  # short name, e.g. "nvidia-tesla-t4"
    count: int


@dataclass(frozen=True)
class Disk:
    name: str
    size_gb: int
    type: str  # short name, e.g. "pd-balanced"
    boot: bool = False


@dataclass(frozen=True)
class Instance:
    """A Compute Engine VM instance."""

    id: str
    name: str
    zone: str  # short name, e.g. "us-central1-a"
    status: str  # PROVISIONING, STAGING, RUNNING, STOPPING, SUSPENDED, TERMINATED, ...
    machine_type: str  # short name, e.g. "n1-standard-4"
    accelerators: tuple[Accelerator, ...] = ()
    internal_ip: str | None = None
    external_ip: str | None = None
    created: datetime | None = None
    last_start: datetime | None = None  # lastStartTimestamp: start of the current run
    last_stop: datetime | None = None
    spot: bool = False
    disks: tuple[Disk, ...] = ()
    # Server-side auto-stop (scheduling.maxRunDuration / terminationTime, action STOP).
    max_run_seconds: int | None = None
    termination_time: datetime | None = None
    termination_action: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    has_startup_script: bool = False
    self_link: str = ""

    @property
    def region(self) -> str:
        return self.zone.rsplit("-", 1)[0]

    @property
    def idle_stop_minutes(self) -> float | None:
        """Minutes of idleness after which the on-VM watcher stops it (None: no watcher)."""
        return minutes_from_label(self.labels)

    @property
    def gpu_count(self) -> int:
        return sum(a.count for a in self.accelerators)

    @property
    def is_running(self) -> bool:
        return self.status == "RUNNING"

    def stops_at(self) -> datetime | None:
        """When the server will stop this instance, if an auto-stop is set and it runs."""
        if self.termination_time is not None:
            return self.termination_time
        if self.max_run_seconds and self.last_start is not None:
            from datetime import timedelta

            return self.last_start + timedelta(seconds=self.max_run_seconds)
        return None


@dataclass(frozen=True)
class Zone:
    name: str
    region: str
    status: str = "UP"


@dataclass(frozen=True)
class MachineType:
    name: str
    zone: str
    vcpus: int
    memory_mb: int
    description: str = ""
    # Accelerators bundled with the shape (a2/a3/g2): ((type, count), ...)
    bundled_accelerators: tuple[Accelerator, ...] = ()

    @property
    def family(self) -> str:
        return self.name.split("-", 1)[0]


@dataclass(frozen=True)
class AcceleratorType:
    name: str  # e.g. "nvidia-tesla-t4"
    zone: str
    description: str
    max_per_instance: int


@dataclass(frozen=True)
class Image:
    """A boot image family offered in the create form: its newest image as Google lists it."""

    project: str
    family: str
    name: str = ""
    description: str = ""
    disk_size_gb: int = 0  # the image's diskSizeGb: the smallest boot disk (0: not read)
    deprecation: str = ""  # Google's deprecated.state of the newest image ("" = current)
    deprecated_on: str = ""  # deprecated.deprecated (RFC 3339), when Google sends it
    created: str = ""  # the newest image's creationTimestamp

    @property
    def source(self) -> str:
        """The `sourceImage` for an instance insert: the family's latest image."""
        return f"projects/{self.project}/global/images/family/{self.family}"

    @property
    def deep_learning(self) -> bool:
        """A Deep Learning VM image (Google's deeplearning-platform-release project)."""
        return self.project == "deeplearning-platform-release"


@dataclass(frozen=True)
class MissingImageFamily:
    """An image family cloudpane looked for and Google does not serve (404: retired)."""

    project: str
    family: str
    message: str


@dataclass(frozen=True)
class ImageChoices:
    """What list_images found: families to offer, deprecated ones held back, missing ones."""

    images: tuple[Image, ...]
    deprecated: tuple[Image, ...] = ()
    missing: tuple[MissingImageFamily, ...] = ()


@dataclass(frozen=True)
class Operation:
    """A Compute Engine zone operation (or any long-running operation)."""

    name: str
    zone: str
    operation_type: str
    target: str
    status: str  # PENDING, RUNNING, DONE
    progress: int = 0
    error: str | None = None
    error_code: str = ""  # Google's errors[0].code: QUOTA_EXCEEDED, ZONE_RESOURCE_POOL_EXHAUSTED…

    @property
    def done(self) -> bool:
        return self.status == "DONE"


@dataclass(frozen=True)
class InstanceSpec:
    """What the create form produces; compute.create_instance turns it into a request."""

    name: str
    zone: str
    machine_type: str
    image: Image
    disk_size_gb: int = 50
    disk_type: str = "pd-balanced"
    accelerator_type: str | None = None
    accelerator_count: int = 0
    spot: bool = False
    startup_script: str = ""
    max_run_seconds: int | None = None  # server-side auto-stop
    labels: dict[str, str] = field(default_factory=dict)
    # The on-VM idle watcher (services/idle_stop.py), with the user's consent; None: none.
    idle_stop: IdleStop | None = None
