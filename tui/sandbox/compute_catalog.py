"""What the sandbox's Compute Engine offers: regions, zones, machine types, GPUs and images.

Approximately Google's catalog, but consistent with itself: a zone offers a2 only where it has
A100s, a3 only where it has H100s, g2 only where it has L4s, and n1 GPUs (T4, P4, P100, V100)
only where they are listed. Pure data and pure functions; the routes live in compute.py.
"""

from __future__ import annotations

from dataclasses import dataclass

# region -> (zones, first octet pair of its default subnet: 10.X.0.0/20)
REGIONS: dict[str, tuple[tuple[str, ...], int]] = {
    "us-central1": (("us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"), 128),
    "us-east1": (("us-east1-b", "us-east1-c", "us-east1-d"), 142),
    "us-east4": (("us-east4-a", "us-east4-c"), 150),
    "us-west1": (("us-west1-a", "us-west1-b"), 138),
    "europe-west1": (("europe-west1-b", "europe-west1-c", "europe-west1-d"), 132),
    "europe-west4": (("europe-west4-a", "europe-west4-b"), 164),
    "asia-east1": (("asia-east1-a", "asia-east1-b", "asia-east1-c"), 140),
    "asia-southeast1": (("asia-southeast1-a", "asia-southeast1-b"), 148),
}

REGION_DESCRIPTIONS = {
    "us-central1": "Council Bluffs, Iowa, North America",
    "us-east1": "Moncks Corner, South Carolina, North America",
    "us-east4": "Ashburn, Virginia, North America",
    "us-west1": "The Dalles, Oregon, North America",
    "europe-west1": "St. Ghislain, Belgium, Europe",
    "europe-west4": "Eemshaven, Netherlands, Europe",
    "asia-east1": "Changhua County, Taiwan, APAC",
    "asia-southeast1": "Jurong West, Singapore, APAC",
}

ZONES: dict[str, str] = {zone: region for region, (zones, _) in REGIONS.items() for zone in zones}


def region_of(zone: str) -> str:
    return ZONES.get(zone) or zone.rsplit("-", 1)[0]


def subnet_octet(region: str) -> int:
    return REGIONS[region][1] if region in REGIONS else 128


@dataclass(frozen=True)
class GpuType:
    name: str
    description: str
    max_per_instance: int
    quota_metric: str  # Google's regional quota name
    quota_limit: int  # the sandbox project's regional quota (in-use = not TERMINATED)


GPU_TYPES: dict[str, GpuType] = {
    g.name: g
    for g in (
        GpuType("nvidia-tesla-t4", "NVIDIA T4", 4, "NVIDIA_T4_GPUS", 32),
        GpuType("nvidia-tesla-p4", "NVIDIA Tesla P4", 4, "NVIDIA_P4_GPUS", 16),
        GpuType("nvidia-tesla-p100", "NVIDIA Tesla P100", 4, "NVIDIA_P100_GPUS", 16),
        GpuType("nvidia-tesla-v100", "NVIDIA V100", 8, "NVIDIA_V100_GPUS", 16),
        GpuType("nvidia-l4", "NVIDIA L4", 8, "NVIDIA_L4_GPUS", 32),
        GpuType("nvidia-tesla-a100", "NVIDIA A100 40GB", 16, "NVIDIA_A100_GPUS", 16),
        GpuType("nvidia-a100-80gb", "NVIDIA A100 80GB", 8, "NVIDIA_A100_80GB_GPUS", 8),
        GpuType("nvidia-h100-80gb", "NVIDIA H100 80GB", 8, "NVIDIA_H100_GPUS", 8),
    )
}

# The sandbox project's GPUS_ALL_REGIONS. Google gives new projects 0 (docs/gcp-facts.md); the
# sandbox is a generous playground, and a test sets 0 with POST /_sandbox/seed {"quotas": …}.
GPUS_ALL_REGIONS_LIMIT = 4096

# GPUs that attach to n1 machines; the others come bundled with a2/a3/g2 shapes.
N1_GPUS = ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100")

_T4, _P4, _P100, _V100 = N1_GPUS
_L4, _A100, _A100_80, _H100 = (
    "nvidia-l4",
    "nvidia-tesla-a100",
    "nvidia-a100-80gb",
    "nvidia-h100-80gb",
)

# Which GPUs each zone offers (approximately Google's availability).
ZONE_GPUS: dict[str, tuple[str, ...]] = {
    "us-central1-a": (_T4, _P4, _V100, _L4, _A100, _A100_80, _H100),
    "us-central1-b": (_T4, _V100, _L4, _A100, _H100),
    "us-central1-c": (_T4, _P4, _P100, _V100, _L4, _A100, _A100_80, _H100),
    "us-central1-f": (_T4, _P100, _V100, _A100),
    "us-east1-b": (_P100, _L4),
    "us-east1-c": (_T4, _P100, _V100),
    "us-east1-d": (_T4, _L4),
    "us-east4-a": (_T4, _P4, _L4, _H100),
    "us-east4-c": (_T4, _P4, _L4, _A100_80, _H100),
    "us-west1-a": (_T4, _P100, _V100, _L4, _H100),
    "us-west1-b": (_T4, _P100, _V100, _L4, _A100),
    "europe-west1-b": (_T4, _P100, _L4),
    "europe-west1-c": (_T4, _L4),
    "europe-west1-d": (_T4, _P100),
    "europe-west4-a": (_T4, _V100, _L4, _A100, _A100_80, _H100),
    "europe-west4-b": (_T4, _P4, _V100, _L4, _A100, _H100),
    "asia-east1-a": (_T4, _P100, _L4),
    "asia-east1-b": (_T4,),
    "asia-east1-c": (_T4, _P100, _V100, _L4),
    "asia-southeast1-a": (_T4,),
    "asia-southeast1-b": (_T4, _P4, _L4, _A100, _H100),
}

# Zones without these CPU families (everything else offers e2, n1, n2, n2d, c2, c3, t2d).
_ZONES_WITHOUT: dict[str, tuple[str, ...]] = {
    "us-east1-d": ("c3",),
    "us-west1-a": ("t2d",),
    "europe-west1-c": ("c2", "t2d"),
    "asia-east1-b": ("c3", "t2d"),
    "asia-southeast1-a": ("c2",),
}

CPU_FAMILIES = ("e2", "n1", "n2", "n2d", "c2", "c3", "t2d")
# Families whose shapes carry their own GPUs, and which GPU type they need in the zone.
BUNDLED_FAMILIES = {"a2": (_A100, _A100_80), "a3": (_H100,), "g2": (_L4,)}
GPU_FAMILIES = ("n1", "a2", "a3", "g2")


@dataclass(frozen=True)
class Shape:
    name: str
    vcpus: int
    memory_mb: int
    shared_cpu: bool = False
    gpu: str | None = None  # bundled accelerator type
    gpu_count: int = 0

    @property
    def family(self) -> str:
        return self.name.split("-", 1)[0]

    def description(self) -> str:
        mem = self.memory_mb / 1024
        mem_text = f"{mem:g} GB" if mem < 10 else f"{round(mem):d} GB"
        cpu = (
            "shared core"
            if self.shared_cpu
            else f"{self.vcpus} vCPU{'s' if self.vcpus > 1 else ''}"
        )
        if self.shared_cpu and self.vcpus > 1:
            cpu = f"{self.vcpus} vCPUs ({self.name.split('-')[1]})"
        text = f"{cpu}, {mem_text} RAM"
        if self.gpu:
            text += f", {self.gpu_count} x {GPU_TYPES[self.gpu].description}"
        return text


def _series(family: str, kind: str, sizes: tuple[int, ...], mb_per_vcpu: float) -> list[Shape]:
    return [Shape(f"{family}-{kind}-{n}", n, int(n * mb_per_vcpu)) for n in sizes]


def _build_shapes() -> dict[str, Shape]:
    shapes: list[Shape] = [
        Shape("e2-micro", 2, 1024, shared_cpu=True),
        Shape("e2-small", 2, 2048, shared_cpu=True),
        Shape("e2-medium", 2, 4096, shared_cpu=True),
    ]
    shapes += _series("e2", "standard", (2, 4, 8, 16, 32), 4096)
    shapes += _series("e2", "highmem", (2, 4, 8, 16), 8192)
    shapes += _series("e2", "highcpu", (2, 4, 8, 16, 32), 1024)
    n1 = (1, 2, 4, 8, 16, 32, 64, 96)
    shapes += _series("n1", "standard", n1, 3840)
    shapes += _series("n1", "highmem", n1[1:], 6656)
    shapes += _series("n1", "highcpu", n1[1:], 921.6)
    n2 = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)
    shapes += _series("n2", "standard", n2, 4096)
    shapes += _series("n2", "highmem", n2, 8192)
    shapes += _series("n2", "highcpu", n2[:-1], 1024)
    n2d = (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224)
    shapes += _series("n2d", "standard", n2d, 4096)
    shapes += _series("n2d", "highmem", n2d[:9], 8192)
    shapes += _series("n2d", "highcpu", n2d, 1024)
    shapes += _series("c2", "standard", (4, 8, 16, 30, 60), 4096)
    c3 = (4, 8, 22, 44, 88, 176)
    shapes += _series("c3", "standard", c3, 4096)
    shapes += _series("c3", "highmem", c3, 8192)
    shapes += _series("c3", "highcpu", c3, 2048)
    shapes += _series("t2d", "standard", (1, 2, 4, 8, 16, 32, 48, 60), 4096)
    for gpus in (1, 2, 4, 8):
        shapes.append(
            Shape(f"a2-highgpu-{gpus}g", 12 * gpus, 87040 * gpus, gpu=_A100, gpu_count=gpus)
        )
    shapes.append(Shape("a2-megagpu-16g", 96, 1392640, gpu=_A100, gpu_count=16))
    for gpus in (1, 2, 4, 8):
        shapes.append(
            Shape(f"a2-ultragpu-{gpus}g", 12 * gpus, 174080 * gpus, gpu=_A100_80, gpu_count=gpus)
        )
    for gpus in (1, 2, 4):
        shapes.append(
            Shape(f"a3-highgpu-{gpus}g", 26 * gpus, 239616 * gpus, gpu=_H100, gpu_count=gpus)
        )
    shapes.append(Shape("a3-highgpu-8g", 208, 1916928, gpu=_H100, gpu_count=8))
    for vcpus, gpus in ((4, 1), (8, 1), (12, 1), (16, 1), (24, 2), (32, 1), (48, 4), (96, 8)):
        shapes.append(Shape(f"g2-standard-{vcpus}", vcpus, vcpus * 4096, gpu=_L4, gpu_count=gpus))
    return {s.name: s for s in shapes}


SHAPES: dict[str, Shape] = _build_shapes()


def zone_gpus(zone: str) -> tuple[str, ...]:
    return ZONE_GPUS.get(zone, ())


def zone_shapes(zone: str) -> list[Shape]:
    """The machine types a zone offers, in Google's listing order (by name)."""
    if zone not in ZONES:
        return []
    gpus = set(zone_gpus(zone))
    missing = set(_ZONES_WITHOUT.get(zone, ()))
    found = []
    for shape in SHAPES.values():
        fam = shape.family
        if fam in missing:
            continue
        if shape.gpu and shape.gpu not in gpus:
            continue
        found.append(shape)
    return sorted(found, key=lambda s: s.name)


def shape_in_zone(zone: str, name: str) -> Shape | None:
    shape = SHAPES.get(name)
    if shape is None or zone not in ZONES:
        return None
    if shape.family in _ZONES_WITHOUT.get(zone, ()):
        return None
    if shape.gpu and shape.gpu not in zone_gpus(zone):
        return None
    return shape


def accepts_attached_gpu(family: str, gpu: str) -> bool:
    """Whether `guestAccelerators` of this type may be attached to this machine family."""
    return family == "n1" and gpu in N1_GPUS


# ---------------------------------------------------------------- images
#
# Mirrors Google's public image projects as of 2026-12-02 (docs/gcp-facts.md, "Deep Learning VM
# images"). Sources: the DLVM release notes (CUDA <= 12.4, TF <= 2.17 and PyTorch <= 2.3 families
# reached end of support on 2025-07-14; retired families answer 404 at getFromFamily) and the
# shared reference's family naming (`common-cu128-ubuntu-2204-nvidia-570`). The exact set of
# current framework families is from memory (marked so in docs/gcp-facts.md).
#
# A family's `state` is what its images carry as `deprecated.state` ("" = current). Retired
# families have no images left: getFromFamily answers 404 and images.list does not show them.

IMAGE_DATE = "20261118"
OLD_IMAGE_DATE = "20260916"
DEPRECATED_ON = "2025-07-14T00:00:00.000-07:00"  # the DLVM end-of-support date


@dataclass(frozen=True)
class ImageFamily:
    project: str
    family: str
    prefix: str  # image name = f"{prefix}-v{date}{suffix}"
    suffix: str
    description: str
    disk_size_gb: int
    state: str = ""  # "", DEPRECATED, OBSOLETE (Google's deprecated.state for its images)


_DL = "deeplearning-platform-release"

IMAGE_FAMILIES: tuple[ImageFamily, ...] = (
    ImageFamily(
        "debian-cloud",
        "debian-12",
        "debian-12-bookworm",
        "",
        "Debian, Debian GNU/Linux, 12 (bookworm), amd64 built on {date}",
        10,
    ),
    ImageFamily(
        "debian-cloud",
        "debian-11",
        "debian-11-bullseye",
        "",
        "Debian, Debian GNU/Linux, 11 (bullseye), amd64 built on {date}",
        10,
        state="DEPRECATED",
    ),
    ImageFamily(
        "ubuntu-os-cloud",
        "ubuntu-2204-lts",
        "ubuntu-2204-jammy",
        "",
        "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image built on {date}",
        10,
    ),
    ImageFamily(
        "ubuntu-os-cloud",
        "ubuntu-2404-lts-amd64",
        "ubuntu-2404-noble-amd64",
        "",
        "Canonical, Ubuntu, 24.04 LTS, amd64 noble image built on {date}",
        10,
    ),
    ImageFamily(
        _DL,
        "common-cu128-ubuntu-2204-nvidia-570",
        "common-cu128",
        "-ubuntu-2204-nvidia-570",
        "Google, Deep Learning VM with CUDA 12.8, M132, Ubuntu 22.04, Python 3.10, "
        "with NVIDIA driver 570 preinstalled.",
        50,
    ),
    ImageFamily(
        _DL,
        "pytorch-2-7-cu128-ubuntu-2204-nvidia-570",
        "pytorch-2-7-cu128",
        "-ubuntu-2204-nvidia-570",
        "Google, Deep Learning VM for PyTorch 2.7 with CUDA 12.8, M132, Ubuntu 22.04, "
        "Python 3.10, with NVIDIA driver 570 preinstalled.",
        50,
    ),
    ImageFamily(
        _DL,
        "tf-2-18-cu125-ubuntu-2204-py310",
        "tf-2-18-cu125",
        "-ubuntu-2204-py310",
        "Google, Deep Learning VM for TensorFlow 2.18 with CUDA 12.5, M132, Ubuntu 22.04, "
        "Python 3.10. With TensorFlow 2.18 and CUDA 12.5 preinstalled.",
        50,
    ),
    ImageFamily(
        _DL,
        "common-cpu-debian-11-py310",
        "common-cpu",
        "-debian-11-py310",
        "Google, Deep Learning VM for CPU, M132, Debian 11, Python 3.10. With the common "
        "machine-learning frameworks preinstalled.",
        50,
    ),
    ImageFamily(
        _DL,
        "common-cu124-debian-11-py310",
        "common-cu124",
        "-debian-11-py310",
        "Google, Deep Learning VM with CUDA 12.4, M125, Debian 11, Python 3.10. "
        "With CUDA 12.4 preinstalled.",
        50,
        state="DEPRECATED",
    ),
    ImageFamily(
        _DL,
        "pytorch-2-3-cu121-debian-11-py310",
        "pytorch-2-3-cu121",
        "-debian-11-py310",
        "Google, Deep Learning VM for PyTorch 2.3 with CUDA 12.1, M125, Debian 11, Python 3.10.",
        50,
        state="OBSOLETE",
    ),
)

# Families Google has retired altogether (no images left; getFromFamily answers 404): the ones
# cloudpane used to offer. Kept only so tests can name them.
RETIRED_FAMILIES: tuple[tuple[str, str], ...] = (
    (_DL, "common-cu123-debian-11"),
    (_DL, "tf-latest-gpu"),
    (_DL, "pytorch-latest-gpu"),
    (_DL, "common-cpu"),
)

IMAGE_PROJECTS = tuple(dict.fromkeys(f.project for f in IMAGE_FAMILIES))


def image_name(family: ImageFamily, date: str = IMAGE_DATE) -> str:
    return f"{family.prefix}-v{date}{family.suffix}"


def find_family(project: str, family: str) -> ImageFamily | None:
    """The family getFromFamily resolves: 404 (None) when it has no non-deprecated image."""
    for fam in IMAGE_FAMILIES:
        if fam.project == project and fam.family == family and not fam.state:
            return fam
    return None


def deprecated_family(project: str, family: str) -> ImageFamily | None:
    for fam in IMAGE_FAMILIES:
        if fam.project == project and fam.family == family and fam.state:
            return fam
    return None


def find_image(project: str, name: str) -> tuple[ImageFamily, str] | None:
    """(family, date) for an image name in a public project."""
    for fam in IMAGE_FAMILIES:
        if fam.project != project:
            continue
        for date in (IMAGE_DATE, OLD_IMAGE_DATE):
            if image_name(fam, date) == name:
                return fam, date
    return None


# ---------------------------------------------------------------- Google's JSON shapes

# Links are stored and built with this prefix; compute.py replaces it with the sandbox's
# own address when it answers (the port changes between daemon runs).
BASE = "https://sandbox.invalid/compute/v1"
EPOCH_TIMESTAMP = "1969-12-31T16:00:00.000-08:00"  # what Google shows for catalog resources


def stable_id(*parts: str) -> str:
    import hashlib

    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return str(int(digest[:15], 16))


def zone_json(project: str, zone: str) -> dict:
    region = region_of(zone)
    return {
        "kind": "compute#zone",
        "id": stable_id("zone", zone),
        "creationTimestamp": EPOCH_TIMESTAMP,
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": f"{BASE}/projects/{project}/regions/{region}",
        "selfLink": f"{BASE}/projects/{project}/zones/{zone}",
        "availableCpuPlatforms": sorted({CPU_PLATFORMS[s.family] for s in zone_shapes(zone)}),
        "supportsPzs": False,
    }


def region_json(project: str, region: str, gpu_usage: dict[str, int] | None = None) -> dict:
    zones, _ = REGIONS[region]
    usage = gpu_usage or {}
    quotas = [{"metric": "CPUS", "limit": 2400.0, "usage": 0.0}]
    quotas += [
        {
            "metric": g.quota_metric,
            "limit": float(g.quota_limit),
            "usage": float(usage.get(g.name, 0)),
        }
        for g in GPU_TYPES.values()
    ]
    return {
        "kind": "compute#region",
        "id": stable_id("region", region),
        "creationTimestamp": EPOCH_TIMESTAMP,
        "name": region,
        "description": region,
        "status": "UP",
        "zones": [f"{BASE}/projects/{project}/zones/{z}" for z in zones],
        "quotas": quotas,
        "selfLink": f"{BASE}/projects/{project}/regions/{region}",
        "supportsPzs": False,
    }


CPU_PLATFORMS = {
    "e2": "Intel Broadwell",
    "n1": "Intel Skylake",
    "n2": "Intel Cascade Lake",
    "n2d": "AMD Rome",
    "c2": "Intel Cascade Lake",
    "c3": "Intel Sapphire Rapids",
    "t2d": "AMD Milan",
    "a2": "Intel Cascade Lake",
    "a3": "Intel Sapphire Rapids",
    "g2": "Intel Cascade Lake",
}


def machine_type_json(project: str, zone: str, shape: Shape) -> dict:
    doc: dict = {
        "kind": "compute#machineType",
        "id": stable_id("machineType", shape.name),
        "creationTimestamp": EPOCH_TIMESTAMP,
        "name": shape.name,
        "description": shape.description(),
        "guestCpus": shape.vcpus,
        "memoryMb": shape.memory_mb,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 16 if shape.shared_cpu else 128,
        "maximumPersistentDisksSizeGb": "3072" if shape.shared_cpu else "263168",
        "zone": zone,
        "selfLink": f"{BASE}/projects/{project}/zones/{zone}/machineTypes/{shape.name}",
        "isSharedCpu": shape.shared_cpu,
        "architecture": "X86_64",
    }
    if shape.gpu:
        doc["accelerators"] = [
            {"guestAcceleratorType": shape.gpu, "guestAcceleratorCount": shape.gpu_count}
        ]
    return doc


def accelerator_type_json(project: str, zone: str, gpu: GpuType) -> dict:
    return {
        "kind": "compute#acceleratorType",
        "id": stable_id("acceleratorType", gpu.name),
        "creationTimestamp": EPOCH_TIMESTAMP,
        "name": gpu.name,
        "description": gpu.description,
        "zone": f"{BASE}/projects/{project}/zones/{zone}",
        "selfLink": f"{BASE}/projects/{project}/zones/{zone}/acceleratorTypes/{gpu.name}",
        "maximumCardsPerInstance": gpu.max_per_instance,
    }


def image_json(family: ImageFamily, date: str = IMAGE_DATE) -> dict:
    name = image_name(family, date)
    created = f"{date[:4]}-{date[4:6]}-{date[6:]}T04:12:31.245-07:00"
    doc: dict = {
        "kind": "compute#image",
        "id": stable_id("image", family.project, name),
        "creationTimestamp": created,
        "name": name,
        "description": family.description.format(date=date),
        "sourceType": "RAW",
        "status": "READY",
        "archiveSizeBytes": str(family.disk_size_gb * 40_000_000),
        "diskSizeGb": str(family.disk_size_gb),
        "family": family.family,
        "selfLink": f"{BASE}/projects/{family.project}/global/images/{name}",
        "labels": {"public-image": "true"},
        "guestOsFeatures": [
            {"type": "VIRTIO_SCSI_MULTIQUEUE"},
            {"type": "UEFI_COMPATIBLE"},
            {"type": "GVNIC"},
        ],
        "licenses": [f"{BASE}/projects/{family.project}/global/licenses/{family.family}"],
        "storageLocations": ["eu", "asia", "us"],
        "architecture": "X86_64",
    }
    if family.state:
        # Google's shape: the state, when it was deprecated, and (for OBSOLETE) since when.
        doc["deprecated"] = {"state": family.state, "deprecated": DEPRECATED_ON}
        if family.state == "OBSOLETE":
            doc["deprecated"]["obsolete"] = DEPRECATED_ON
    elif date != IMAGE_DATE:
        doc["deprecated"] = {
            "state": "DEPRECATED",
            "replacement": f"{BASE}/projects/{family.project}/global/images/{image_name(family)}",
        }
    return doc
