"""Price catalog (bundled, dated) and cost arithmetic. Pure: no I/O besides reading the catalog.

A machine costs vCPUs × a per-vCPU rate + GiB × a per-GiB rate (per family and region), plus
its GPUs; a disk costs a price per GB-month. Prices come from `tui/data/prices.json` (built by
`scripts/build_price_catalog.py`) or from the user cache that `cloudpane prices refresh` writes,
whichever is newer. Every figure says when it is unknown (None, shown as "price unknown"),
never $0. Time is always passed in (`now`), so the arithmetic is testable with a fake clock.
"""

from __future__ import annotations

import calendar
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.services.errors import InvalidArgument
from tui.services.models import Accelerator, Disk, Instance, InstanceSpec

if TYPE_CHECKING:
    from tui.services.job_models import Job, JobSpec
    from tui.services.tuning import TuningJob

HOURS_PER_MONTH = 730.0  # Google's billing convention for per-month prices
BUNDLED_PATH = Path(__file__).resolve().parent.parent / "data" / "prices.json"
CACHE_FILE = "prices.json"
UNKNOWN = "price unknown"

# e2-custom-4-8192, n2-custom-8-16384-ext, custom-4-5120 (N1 has no prefix)
_CUSTOM = re.compile(r"^(?:(?P<family>[a-z0-9]+)-)?custom-(?P<cpus>\d+)-(?P<mb>\d+)(?P<ext>-ext)?$")

AcceleratorLike = Accelerator | tuple[str, int]


class CatalogError(ValueError):
    """The catalog file is missing, unreadable or not a cloudpane price catalog."""


class SettingsError(InvalidArgument, ValueError):
    """A cost or rule setting in the config file has a wrong name or value (names the key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "Fix it in the config file (see `cloudpane --help`).")


def user_cache_path() -> Path:
    """Where `cloudpane prices refresh` writes ($CLOUDPANE_CACHE_DIR or the XDG cache dir)."""
    override = os.environ.get("CLOUDPANE_CACHE_DIR")
    if override:
        return Path(override) / CACHE_FILE
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cloudpane")) / CACHE_FILE


@dataclass(frozen=True)
class Shape:
    """What a machine type is made of, for pricing."""

    family: str
    vcpus: float
    memory_gib: float
    gpus: tuple[tuple[str, int], ...] = ()
    custom: bool = False

    @property
    def gpu_count(self) -> int:
        return sum(n for _, n in self.gpus)


def _short(name: str) -> str:
    """`zones/us-central1-a/machineTypes/n1-standard-4` → `n1-standard-4`."""
    return name.rsplit("/", 1)[-1]


def _accelerators(items: Iterable[AcceleratorLike]) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for item in items:
        kind, count = (item.type, item.count) if isinstance(item, Accelerator) else item
        if count:
            counts[_short(kind)] = counts.get(_short(kind), 0) + int(count)
    return tuple(sorted(counts.items()))


class PriceCatalog:
    """A loaded catalog: look-ups with a per-key cache (the ticker asks 5,000 times a second)."""

    def __init__(self, data: Mapping[str, Any], path: Path | None = None) -> None:
        try:
            self.source: str = str(data["source"])
            self.as_of: date = date.fromisoformat(str(data["as_of"]))
            self._families: dict[str, Any] = dict(data["families"])
            self._gpus: dict[str, Any] = dict(data["gpus"])
            self._shapes: dict[str, Any] = dict(data["machine_types"])
            self._disks: dict[str, Any] = dict(data["disks"])
            # Shapes priced as a whole (bundled GPUs, local SSD): {type: {region: {on_demand, spot}}}
            self._machine_prices: dict[str, Any] = dict(data.get("machine_prices", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(
                f"not a cloudpane price catalog ({exc!r} missing or invalid)"
            ) from exc
        self.path = path
        self.notes: tuple[str, ...] = tuple(data.get("notes", ()))
        self.regions: tuple[str, ...] = tuple(data.get("regions", ()))
        self.currency: str = str(data.get("currency", "USD"))
        self.vertex_multiplier: float = float(
            data.get("vertex_training", {}).get("multiplier", 1.15)
        )
        self.data = data
        self._hourly_cache: dict[tuple[Any, ...], float | None] = {}
        self._disk_cache: dict[tuple[Any, ...], float | None] = {}

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: Path) -> PriceCatalog:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CatalogError(f"cannot read price catalog {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogError(f"{path} is not a cloudpane price catalog")
        return cls(data, path)

    @property
    def label(self) -> str:
        """What the app shows: where the prices come from and how old they are."""
        return f"prices as of {self.as_of.isoformat()} ({self.source})"

    @property
    def is_refreshed(self) -> bool:
        """True for a catalog written by `cloudpane prices refresh`, False for the bundled one."""
        return self.data.get("origin") == "refresh"

    @property
    def short_label(self) -> str:
        origin = "Cloud Billing API" if self.is_refreshed else "bundled"
        return f"prices {self.as_of.isoformat()} ({origin})"

    # -- shapes ----------------------------------------------------------------------------
    def shape(self, machine_type: str) -> Shape | None:
        name = _short(machine_type)
        row = self._shapes.get(name)
        if row is not None:
            gpus = tuple(sorted((g, int(n)) for g, n in row.get("gpus", {}).items()))
            return Shape(name.split("-", 1)[0], float(row["vcpus"]), float(row["memory_gib"]), gpus)
        match = _CUSTOM.match(name)
        if match:
            family = match["family"] or "n1"
            return Shape(family, float(match["cpus"]), int(match["mb"]) / 1024, custom=True)
        return None

    def machine_types(self) -> list[str]:
        return sorted(self._shapes)

    # -- prices ----------------------------------------------------------------------------
    def gpu_hourly(self, gpu: str, region: str, *, spot: bool = False) -> float | None:
        row = self._gpus.get(_short(gpu), {}).get("regions", {}).get(region)
        if row is None:
            return None
        value = row.get("spot" if spot else "on_demand")
        return None if value is None else float(value)

    def gpu_label(self, gpu: str) -> str:
        return str(self._gpus.get(_short(gpu), {}).get("label", gpu))

    def _host_hourly(self, shape: Shape, region: str, spot: bool) -> float | None:
        family = self._families.get(shape.family)
        rates = family.get("regions", {}).get(region) if family else None
        if rates is None:
            return None
        vcpu = rates.get("spot_vcpu" if spot else "vcpu")
        gib = rates.get("spot_gib" if spot else "gib")
        if vcpu is None or gib is None:
            return None
        price = shape.vcpus * vcpu + shape.memory_gib * gib
        if shape.custom:
            multiplier = family.get("custom_multiplier") if family else None
            if multiplier is None:  # the family has no custom shapes
                return None
            price *= float(multiplier)
        return float(price)

    def instance_hourly(
        self,
        machine_type: str,
        region: str,
        *,
        spot: bool = False,
        accelerators: Iterable[AcceleratorLike] = (),
    ) -> float | None:
        """$/h of a running machine with its GPUs (bundled or attached); None if unknown."""
        gpus = _accelerators(accelerators)
        key = (machine_type, region, spot, gpus)
        try:
            return self._hourly_cache[key]
        except KeyError:
            pass
        value = self._instance_hourly(machine_type, region, spot, gpus)
        self._hourly_cache[key] = value
        return value

    def _instance_hourly(
        self, machine_type: str, region: str, spot: bool, gpus: tuple[tuple[str, int], ...]
    ) -> float | None:
        shape = self.shape(machine_type)
        if shape is None:
            return None
        whole = self._machine_prices.get(_short(machine_type), {}).get(region)
        if whole is not None:  # the shape's own price, its bundled GPUs included
            value = whole.get("spot" if spot else "on_demand")
            total = None if value is None else float(value)
            bundled = dict(shape.gpus)
        else:
            total = self._host_hourly(shape, region, spot)
            bundled = {}
        if total is None:
            return None
        # a2/a3/g2 list their bundled GPUs in guestAccelerators too: count each GPU once.
        wanted = dict(shape.gpus)
        for kind, count in gpus:
            wanted[kind] = max(wanted.get(kind, 0), count)
        for kind, count in wanted.items():
            count -= bundled.get(kind, 0)
            if count <= 0:
                continue
            each = self.gpu_hourly(kind, region, spot=spot)
            if each is None:
                return None
            total += each * count
        return total

    def disk_monthly(self, disk_type: str, size_gb: float, region: str) -> float | None:
        """$ per month for a persistent disk of this type and size; None if unknown."""
        row = self._disks.get(_short(disk_type))
        price = row.get(region) if row else None
        return None if price is None else float(price) * size_gb

    def disks_monthly(self, disks: Sequence[Disk], region: str) -> float | None:
        key = (tuple((d.type, d.size_gb) for d in disks), region)
        try:
            return self._disk_cache[key]
        except KeyError:
            pass
        total: float | None = 0.0
        for disk in disks:
            each = self.disk_monthly(disk.type, disk.size_gb, region)
            if each is None:
                total = None
                break
            total = (total or 0.0) + each
        self._disk_cache[key] = total
        return total

    # -- instances and specs -----------------------------------------------------------------
    def hourly(self, instance: Instance) -> float | None:
        """$/h the instance costs while it runs (machine + GPUs, not disks)."""
        return self.instance_hourly(
            instance.machine_type,
            instance.region,
            spot=instance.spot,
            accelerators=instance.accelerators,
        )

    def disk_hourly(self, instance: Instance) -> float | None:
        """$/h its disks cost, running or not."""
        monthly = self.disks_monthly(instance.disks, instance.region)
        return None if monthly is None else monthly / HOURS_PER_MONTH

    def gpu_count(self, instance: Instance) -> int:
        """GPUs the instance has: attached ones, or those its machine type bundles."""
        shape = self.shape(instance.machine_type)
        bundled = shape.gpu_count if shape else 0
        return max(instance.gpu_count, bundled)

    def spec_breakdown(self, spec: InstanceSpec) -> SpecCost:
        region = spec.zone.rsplit("-", 1)[0]
        accelerators = (
            ((spec.accelerator_type, spec.accelerator_count),)
            if spec.accelerator_type and spec.accelerator_count
            else ()
        )
        compute = self.instance_hourly(
            spec.machine_type, region, spot=spec.spot, accelerators=accelerators
        )
        disk = self.disk_monthly(spec.disk_type, spec.disk_size_gb, region)
        return SpecCost(compute, disk)

    def spec_hourly(self, spec: InstanceSpec) -> float | None:
        """What the create form shows: $/h while running, disk included."""
        return self.spec_breakdown(spec).total_hourly

    def vertex_hourly(
        self,
        machine_type: str,
        region: str,
        accelerator_type: str | None = None,
        accelerator_count: int = 0,
        replicas: int = 1,
    ) -> float | None:
        """Estimated Vertex AI custom-training $/h: Compute Engine price × the Vertex multiplier.

        Accepts Vertex's accelerator enum names too (NVIDIA_TESLA_T4 → nvidia-tesla-t4).
        """
        if accelerator_type:
            accelerator_type = accelerator_type.lower().replace("_", "-")
        accelerators = (
            ((accelerator_type, accelerator_count),)
            if accelerator_type and accelerator_count
            else ()
        )
        base = self.instance_hourly(machine_type, region, accelerators=accelerators)
        return None if base is None else base * self.vertex_multiplier * replicas


def job_hourly(spec: JobSpec, catalog: PriceCatalog | None = None) -> float | None:
    """Estimated Vertex AI $/h of every worker pool of a job; None when any price is unknown."""
    catalog = catalog or get_catalog()
    total = 0.0
    for pool in spec.worker_pools:
        if not pool.replica_count:
            continue
        hourly = catalog.vertex_hourly(
            pool.machine_type,
            spec.region,
            pool.accelerator_type,
            pool.accelerator_count if pool.accelerator_type else 0,
            pool.replica_count,
        )
        if hourly is None:
            return None
        total += hourly
    return total


@dataclass(frozen=True)
class TrainingRun:
    """One billed stretch of Vertex AI training: a custom job, or one trial of a tuning job."""

    id: str  # the job's resource name, or "<tuning job name>/trials/<id>"
    name: str  # what a person calls it
    start: datetime
    stop: datetime | None  # None: still running
    hourly: float | None  # Vertex training $/h of all its replicas; None: price unknown


def training_runs(
    jobs: Iterable[Job],
    tuning_jobs: Iterable[TuningJob] = (),
    catalog: PriceCatalog | None = None,
) -> list[TrainingRun]:
    """The runs a listing shows: jobs and trials that started (running or ended)."""
    catalog = catalog or get_catalog()
    runs = []
    for job in jobs:
        if job.started is None:
            continue
        running = job.state == "JOB_STATE_RUNNING"
        stop = None if running else (job.ended or job.updated or job.started)
        runs.append(
            TrainingRun(
                job.name, job.display_name, job.started, stop, job_hourly(job.spec, catalog)
            )
        )
    for study in tuning_jobs:
        hourly = job_hourly(study.trial_job, catalog)
        for trial in study.trials:
            if trial.started is None:
                continue
            stop = None if trial.is_active else (trial.ended or trial.started)
            name = f"{study.display_name} trial {trial.id}"
            runs.append(
                TrainingRun(f"{study.name}/trials/{trial.id}", name, trial.started, stop, hourly)
            )
    return runs


def jobs_burn(
    jobs: Iterable[Job],
    now: datetime,
    catalog: PriceCatalog | None = None,
    *,
    tuning_jobs: Iterable[TuningJob] = (),
    ledger: RunLedger | None = None,
    complete: bool = True,
) -> JobsBurn:
    """What running training (jobs and tuning trials) costs now ($/h), and what training cost
    since midnight. With a `ledger`, runs seen before are remembered (a deleted job's cost stays
    in today's figure); `complete`: the listing is the whole region."""
    catalog = catalog or get_catalog()
    runs = training_runs(jobs, tuning_jobs, catalog)
    if ledger is None:
        ledger = RunLedger()
    ledger.observe_training(runs, now, complete=complete)
    rate, unknown = 0.0, []
    for run in runs:
        if run.stop is not None:
            continue
        if run.hourly is None:
            unknown.append(run.name)
        else:
            rate += run.hourly
    spent = ledger.training_between(start_of_day(now), now)
    return JobsBurn(rate, spent.value, tuple(dict.fromkeys(unknown + list(spent.unknown))))


@dataclass(frozen=True)
class JobsBurn:
    rate: float  # $/h of running jobs
    today: float  # $ since midnight, running and finished jobs
    unknown: tuple[str, ...] = ()  # jobs whose price is unknown (not counted)


@dataclass(frozen=True)
class SpecCost:
    compute_hourly: float | None
    disk_monthly: float | None

    @property
    def total_hourly(self) -> float | None:
        if self.compute_hourly is None or self.disk_monthly is None:
            return None
        return self.compute_hourly + self.disk_monthly / HOURS_PER_MONTH


# -- loading the catalog in use -------------------------------------------------------------

_lock = threading.Lock()
_current: PriceCatalog | None = None
load_warning: str | None = None  # why the user cache was not used, if it was not


def load_catalog(cache_path: Path | None = None, bundled_path: Path = BUNDLED_PATH) -> PriceCatalog:
    """The newer of the user cache and the bundled catalog (the cache wins a tie)."""
    global load_warning
    bundled = PriceCatalog.from_file(bundled_path)
    path = cache_path if cache_path is not None else user_cache_path()
    load_warning = None
    if not path.exists():
        return bundled
    try:
        cached = PriceCatalog.from_file(path)
    except CatalogError as exc:
        load_warning = f"Ignored the price cache: {exc}. Run `cloudpane prices refresh`."
        return bundled
    return cached if cached.as_of >= bundled.as_of else bundled


def get_catalog() -> PriceCatalog:
    """The catalog in use, loaded once on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = load_catalog()
        return _current


def set_catalog(catalog: PriceCatalog | None) -> None:
    """Replace the catalog in use (after a refresh); None reloads on next use."""
    global _current
    with _lock:
        _current = catalog


# -- cost arithmetic --------------------------------------------------------------------------


def run_seconds(instance: Instance, now: datetime) -> float:
    """How long the current run has lasted (0 unless RUNNING)."""
    if not instance.is_running or instance.last_start is None:
        return 0.0
    return max(0.0, (now - instance.last_start).total_seconds())


def run_cost(
    instance: Instance, now: datetime, catalog: PriceCatalog | None = None
) -> float | None:
    """Cost of the current run, since its last start (machine + GPUs). 0 if not running."""
    catalog = catalog or get_catalog()
    seconds = run_seconds(instance, now)
    if seconds == 0.0:
        return 0.0
    hourly = catalog.hourly(instance)
    return None if hourly is None else hourly * seconds / 3600


def stopped_disks_monthly(instance: Instance, catalog: PriceCatalog | None = None) -> float | None:
    """What a stopped instance still costs per month: its disks."""
    catalog = catalog or get_catalog()
    return catalog.disks_monthly(instance.disks, instance.region)


@dataclass(frozen=True)
class Rate:
    """A burn rate with honesty about what it leaves out."""

    compute: float  # $/h of running machines and GPUs
    disks: float  # $/h of all disks, running or stopped
    unknown: tuple[str, ...] = ()  # names whose price is unknown (not counted)

    @property
    def total(self) -> float:
        return self.compute + self.disks

    @property
    def is_complete(self) -> bool:
        return not self.unknown


def burn_rate(instances: Iterable[Instance], catalog: PriceCatalog | None = None) -> Rate:
    """The project's $/h now: running machines + every disk."""
    catalog = catalog or get_catalog()
    compute = disks = 0.0
    unknown: list[str] = []
    for inst in instances:
        known = True
        disk = catalog.disk_hourly(inst)
        if disk is None:
            known = False
        else:
            disks += disk
        if inst.is_running:
            hourly = catalog.hourly(inst)
            if hourly is None:
                known = False
            else:
                compute += hourly
        if not known:
            unknown.append(inst.name)
    return Rate(compute, disks, tuple(unknown))


def _overlap_hours(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    seconds = (min(end, hi) - max(start, lo)).total_seconds()
    return max(0.0, seconds) / 3600


def start_of_day(now: datetime) -> datetime:
    """Midnight of `now`'s day, in `now`'s own time zone."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def start_of_month(now: datetime) -> datetime:
    return start_of_day(now).replace(day=1)


def hours_in_month(now: datetime) -> float:
    return calendar.monthrange(now.year, now.month)[1] * 24.0


@dataclass(frozen=True)
class Run:
    """One start→stop cycle of an instance (stop None: still running)."""

    start: datetime
    stop: datetime | None
    hourly: float | None


@dataclass
class RunLedger:
    """Every run of every instance seen, so spend adds up and never forgets.

    Compute Engine only reports an instance's latest start and stop, and a deleted instance
    disappears from the listing with its costs. A ledger fed every poll keeps the earlier runs
    (a VM started and stopped three times today is billed for all three) and the instances that
    were deleted since (their runs end when they were last seen; their disks were billed until
    then). `spend_ledger.py` keeps it in the state folder, so a restart forgets nothing either.
    """

    runs: dict[str, list[Run]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    # Disks: $/h and since when (creation), for instances that are gone: until when.
    disk_hourly: dict[str, float | None] = field(default_factory=dict)
    born: dict[str, datetime] = field(default_factory=dict)
    last_seen: dict[str, datetime] = field(default_factory=dict)
    gone: dict[str, datetime] = field(default_factory=dict)
    # Vertex AI training (jobs and tuning trials), by run id, with when each was last listed.
    training: dict[str, TrainingRun] = field(default_factory=dict)
    training_seen: dict[str, datetime] = field(default_factory=dict)

    def observe_training(
        self, runs: Iterable[TrainingRun], now: datetime, *, complete: bool = True
    ) -> None:
        """Feed listed training runs. `complete`: a run the ledger holds as running and the
        listing lacks was deleted — it ended when it was last seen."""
        listed = set()
        for run in runs:
            listed.add(run.id)
            self.training[run.id] = run
            self.training_seen[run.id] = now
        if not complete:
            return
        for run_id, run in list(self.training.items()):
            if run_id not in listed and run.stop is None:
                seen = self.training_seen.get(run_id, run.start)
                self.training[run_id] = replace(run, stop=max(run.start, seen))

    def training_between(self, lo: datetime, hi: datetime) -> Estimate:
        total, unknown = 0.0, []
        for run in self.training.values():
            hours = _overlap_hours(run.start, run.stop or hi, lo, hi)
            if hours == 0:
                continue
            if run.hourly is None:
                unknown.append(run.name)
            else:
                total += run.hourly * hours
        return Estimate(total, tuple(unknown))

    def observe(
        self,
        instance: Instance,
        catalog: PriceCatalog | None = None,
        now: datetime | None = None,
    ) -> None:
        catalog = catalog or get_catalog()
        self.names[instance.id] = instance.name
        self.gone.pop(instance.id, None)  # listed again (a listing that missed it)
        if now is not None:
            self.last_seen[instance.id] = now
            monthly = catalog.disks_monthly(instance.disks, instance.region)
            self.disk_hourly[instance.id] = None if monthly is None else monthly / HOURS_PER_MONTH
            if instance.created is not None:
                self.born[instance.id] = instance.created
        start = instance.last_start
        if start is None:
            return
        runs = self.runs.setdefault(instance.id, [])
        stop = None
        if (
            not instance.is_running
            and instance.last_stop is not None
            and instance.last_stop > start
        ):
            stop = instance.last_stop
        if not instance.is_running and stop is None:
            return  # not running and no completed run to record
        run = Run(start, stop, catalog.hourly(instance))
        if runs and runs[-1].start == start:
            runs[-1] = run  # the same run, maybe now finished
        else:
            if runs and runs[-1].stop is None:
                # A new start while the old run looked open: it ended at the last stop if that
                # falls between the two starts, else at this start at the latest.
                end = instance.last_stop
                if end is None or not runs[-1].start < end <= start:
                    end = start
                runs[-1] = Run(runs[-1].start, end, runs[-1].hourly)
            runs.append(run)

    def observe_all(
        self,
        instances: Iterable[Instance],
        catalog: PriceCatalog | None = None,
        now: datetime | None = None,
        *,
        complete: bool = False,
    ) -> None:
        """Feed a listing. `complete`: it is the whole project, so an instance the ledger knows
        and the listing lacks was deleted — its open run ends when it was last seen."""
        listed = set()
        for inst in instances:
            listed.add(inst.id)
            self.observe(inst, catalog, now)
        if not complete:
            return
        for instance_id in set(self.names) - listed - set(self.gone):
            seen = self.last_seen.get(instance_id)
            if seen is None:
                continue
            self.gone[instance_id] = seen
            runs = self.runs.get(instance_id)
            if runs and runs[-1].stop is None:
                runs[-1] = Run(runs[-1].start, max(runs[-1].start, seen), runs[-1].hourly)

    def cost_between(self, instance_id: str, lo: datetime, hi: datetime) -> tuple[float, bool]:
        """(cost of runs overlapping [lo, hi], whether every run had a known price)."""
        total, known = 0.0, True
        for run in self.runs.get(instance_id, ()):
            hours = _overlap_hours(run.start, run.stop or hi, lo, hi)
            if hours == 0:
                continue
            if run.hourly is None:
                known = False
            else:
                total += run.hourly * hours
        return total, known

    def gone_between(self, lo: datetime, hi: datetime) -> Estimate:
        """What deleted instances cost in [lo, hi]: their runs and their disks until deletion."""
        total, unknown = 0.0, []
        for instance_id, until in self.gone.items():
            spent, known = self.cost_between(instance_id, lo, hi)
            disk = self.disk_hourly.get(instance_id)
            born = self.born.get(instance_id)
            if disk is None:
                known = False
            elif born is not None:
                spent += disk * _overlap_hours(born, until, lo, hi)
            total += spent
            if not known:
                unknown.append(self.names.get(instance_id, instance_id))
        return Estimate(total, tuple(unknown))

    def forget_before(self, when: datetime) -> None:
        """Drop deleted instances and runs that ended before `when` (the state file's bound)."""
        for instance_id, until in list(self.gone.items()):
            if until < when:
                for table in (self.runs, self.names, self.disk_hourly, self.born, self.last_seen):
                    table.pop(instance_id, None)  # type: ignore[attr-defined]
                del self.gone[instance_id]
        for instance_id, runs in self.runs.items():
            self.runs[instance_id] = [r for r in runs if r.stop is None or r.stop >= when]
        for run_id, run in list(self.training.items()):
            if run.stop is not None and run.stop < when:
                del self.training[run_id]
                self.training_seen.pop(run_id, None)


def runs_of(instance: Instance, catalog: PriceCatalog, ledger: RunLedger | None) -> list[Run]:
    if ledger is not None and instance.id in ledger.runs:
        return ledger.runs[instance.id]
    if instance.last_start is None:
        return []
    if instance.is_running:
        return [Run(instance.last_start, None, catalog.hourly(instance))]
    if instance.last_stop is not None and instance.last_stop > instance.last_start:
        return [Run(instance.last_start, instance.last_stop, catalog.hourly(instance))]
    return []


@dataclass(frozen=True)
class Estimate:
    value: float
    unknown: tuple[str, ...] = ()

    @property
    def is_complete(self) -> bool:
        return not self.unknown


def spend_between(
    instances: Iterable[Instance],
    lo: datetime,
    hi: datetime,
    catalog: PriceCatalog | None = None,
    ledger: RunLedger | None = None,
) -> Estimate:
    """Estimated spend in [lo, hi]: runs that overlap it + disks for the time they existed."""
    catalog = catalog or get_catalog()
    total = 0.0
    unknown: list[str] = []
    for inst in instances:
        ok = True
        for run in runs_of(inst, catalog, ledger):
            hours = _overlap_hours(run.start, run.stop or hi, lo, hi)
            if hours == 0:
                continue
            if run.hourly is None:
                ok = False
            else:
                total += run.hourly * hours
        disk = catalog.disk_hourly(inst)
        if disk is None:
            ok = False
        else:
            born = inst.created if inst.created is not None else lo
            total += disk * _overlap_hours(born, hi, lo, hi)
        if not ok:
            unknown.append(inst.name)
    return Estimate(total, tuple(unknown))


def today_estimate(
    instances: Iterable[Instance],
    now: datetime,
    catalog: PriceCatalog | None = None,
    ledger: RunLedger | None = None,
) -> Estimate:
    """Estimated spend since midnight (in `now`'s time zone)."""
    return spend_between(instances, start_of_day(now), now, catalog, ledger)


def month_projection(
    rate_per_hour: float, now: datetime, spent_so_far: float | None = None
) -> float:
    """The month's cost at this rate.

    Without `spent_so_far`: the rate × every hour of this calendar month ("if it ran like this
    all month"). With it: what was spent + the rate × the hours left in the month.
    """
    if spent_so_far is None:
        return rate_per_hour * hours_in_month(now)
    month_end = start_of_month(now) + timedelta(hours=hours_in_month(now))
    left = max(0.0, (month_end - now).total_seconds() / 3600)
    return spent_so_far + rate_per_hour * left


def days_to_laptop(hourly: float | None, laptop_price: float) -> float | None:
    """Buy or rent: days of running at this rate that would pay for a laptop."""
    if hourly is None or hourly <= 0 or laptop_price <= 0:
        return None
    return laptop_price / (hourly * 24)


# -- the per-second ticker ------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceCost:
    hourly: float | None  # machine + GPUs while running (None: price unknown)
    run_cost: float | None  # since the last start (0 when not running)
    run_seconds: float
    disks_monthly: float | None  # what the disks cost per month, running or not
    days_to_laptop: float | None


@dataclass(frozen=True)
class TickerFigures:
    per_instance: dict[str, InstanceCost]
    burn: Rate
    today: Estimate
    month_projection: float
    catalog_label: str


def ticker(
    instances: Sequence[Instance],
    now: datetime,
    catalog: PriceCatalog | None = None,
    *,
    ledger: RunLedger | None = None,
    laptop_price: float = 1500.0,
) -> TickerFigures:
    """Everything the VMs pane and the header show, computed in one pass (cheap: cached prices)."""
    catalog = catalog or get_catalog()
    day_start = start_of_day(now)
    per: dict[str, InstanceCost] = {}
    compute = disks = today = 0.0
    unknown: list[str] = []
    today_unknown: list[str] = []
    for inst in instances:
        hourly = catalog.hourly(inst)
        monthly = catalog.disks_monthly(inst.disks, inst.region)
        last_start, last_stop = inst.last_start, inst.last_stop
        seconds = 0.0
        if inst.is_running and last_start is not None:
            seconds = max(0.0, (now - last_start).total_seconds())
        cost = (None if hourly is None else hourly * seconds / 3600) if seconds else 0.0
        per[inst.id] = InstanceCost(
            hourly,
            cost,
            seconds,
            monthly,
            days_to_laptop(hourly, laptop_price) if inst.is_running else None,
        )
        known = True
        if monthly is None:
            known = False
        else:
            disk_h = monthly / HOURS_PER_MONTH
            disks += disk_h
            born = day_start
            if inst.created is not None and inst.created > day_start:
                born = inst.created
            today += disk_h * max(0.0, (now - born).total_seconds()) / 3600
        if inst.is_running:
            if hourly is None:
                known = False
            else:
                compute += hourly
        # Today's machine time: the ledger's runs if it has them, else the latest run.
        if ledger is not None and inst.id in ledger.runs:
            spent, ok = ledger.cost_between(inst.id, day_start, now)
            today += spent
            known = known and ok
        elif last_start is not None:
            end = now if inst.is_running else last_stop
            if end is not None and end > day_start and end > last_start:
                if hourly is None:
                    known = False
                else:
                    today += hourly * _overlap_hours(last_start, end, day_start, now)
        if not known:
            unknown.append(inst.name)
            today_unknown.append(inst.name)
    if ledger is not None:  # deleted since midnight: what they cost stays in today's figure
        gone = ledger.gone_between(day_start, now)
        today += gone.value
        today_unknown.extend(gone.unknown)
    burn = Rate(compute, disks, tuple(unknown))
    return TickerFigures(
        per,
        burn,
        Estimate(today, tuple(today_unknown)),
        month_projection(burn.total, now),
        catalog.short_label,
    )


# -- formatting ---------------------------------------------------------------------------


def format_money(value: float | None, *, cents: bool = True) -> str:
    """$1,234.56; "price unknown" for None (never $0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    if cents or abs(value) < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def format_rate(value: float | None) -> str:
    """$/h with enough digits for cheap machines ($0.0335/h), cents for the rest."""
    if value is None:
        return UNKNOWN
    if 0 < abs(value) < 0.1:
        return f"${value:.4f}/h"
    return f"${value:,.2f}/h"


def format_estimate(estimate: Estimate | Rate, *, rate: bool = False) -> str:
    """A figure that admits what it leaves out: "$3.20/h (+2 unknown)"."""
    value = estimate.total if isinstance(estimate, Rate) else estimate.value
    text = format_rate(value) if rate else format_money(value)
    if estimate.unknown:
        text += f" (+{len(estimate.unknown)} unknown)"
    return text


def format_duration(seconds: float) -> str:
    """47 min · 3 h 05 min · 2 d 4 h"""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def format_days(days: float | None) -> str:
    if days is None:
        return UNKNOWN
    if days < 1:
        return f"{days * 24:.0f} hours"
    return f"{days:.0f} days" if days >= 10 else f"{days:.1f} days"


def laptop_sentence(hourly: float | None, laptop_price: float) -> str:
    """The lecture's buy-or-rent line for one running instance."""
    days = days_to_laptop(hourly, laptop_price)
    if days is None:
        return f"at this rate: {UNKNOWN}"
    return f"at this rate, this machine costs a {format_money(laptop_price, cents=False)} laptop in {format_days(days)}"


@dataclass(frozen=True)
class CostSettings:
    """The `[costs]` section of the config file."""

    laptop_price: float = 1500.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> CostSettings:
        data = dict(data or {})
        known = {"laptop_price"}
        for key in data:
            if key not in known:
                raise SettingsError(
                    f"costs.{key} is not a setting (known: {', '.join(sorted(known))})"
                )
        price = data.get("laptop_price", cls.laptop_price)
        if isinstance(price, bool) or not isinstance(price, int | float) or price <= 0:
            raise SettingsError(f"costs.laptop_price must be a positive number, got {price!r}")
        return cls(float(price))
