"""GPU quotas and stock-outs, read before the click is spent and explained after a failure.

Pure (no I/O): ComputeService reads Compute Engine's `projects.get` and `regions.get` quotas and
the accelerator types of every zone; this module turns them into a sentence a person can act on.
Facts (docs/gcp-facts.md): new projects have `GPUS_ALL_REGIONS` = 0 — another region does not
help, only a quota request does; regional quotas are named per GPU (`NVIDIA_T4_GPUS`, and
`PREEMPTIBLE_NVIDIA_T4_GPUS` for spot); a stock-out (`ZONE_RESOURCE_POOL_EXHAUSTED…`) is per
zone, so another zone that offers the same GPU may have capacity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

QUOTAS_CONSOLE = "https://console.cloud.google.com/iam-admin/quotas"
STOCKOUT_CODES = ("ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS")

# Compute Engine's regional quota metric per GPU type (T4 is sourced; the others follow the
# same naming and are from memory, see docs/gcp-facts.md).
GPU_QUOTA_METRICS: dict[str, str] = {
    "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
    "nvidia-tesla-p4": "NVIDIA_P4_GPUS",
    "nvidia-tesla-p100": "NVIDIA_P100_GPUS",
    "nvidia-tesla-v100": "NVIDIA_V100_GPUS",
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
}


@dataclass(frozen=True)
class Quota:
    metric: str
    limit: float
    usage: float

    @property
    def free(self) -> float:
        return self.limit - self.usage


def instance_gpu(machine_type: str, accelerator_type: str | None, count: int) -> tuple[str, int]:
    """(GPU type, count) a VM holds: attached to n1, or bundled with a2/a3/g2 shapes; ('', 0)."""
    if accelerator_type and count:
        return accelerator_type, count
    family, _, rest = machine_type.partition("-")
    digits = "".join(c for c in rest.rsplit("-", 1)[-1] if c.isdigit())
    if family == "a2":
        gpu = "nvidia-a100-80gb" if "ultragpu" in rest else "nvidia-tesla-a100"
        return gpu, int(digits or 1)
    if family == "a3":
        return "nvidia-h100-80gb", int(digits or 8)
    if family == "g2":
        vcpus = int(digits or 4)
        return "nvidia-l4", {24: 2, 48: 4, 96: 8}.get(vcpus, 1)
    return "", 0


def quota_problem(
    project_quotas: Sequence[Quota],
    region_quotas: Sequence[Quota],
    region: str,
    gpu: str,
    count: int,
    spot: bool = False,
) -> str:
    """'' when `count` GPUs of `gpu` fit the quotas, else what will fail and how to get more."""
    if not gpu or count <= 0:
        return ""
    total = next((q for q in project_quotas if q.metric == "GPUS_ALL_REGIONS"), None)
    if total is not None and total.free < count:
        start = (
            "This project may use no GPUs at all"
            if total.limit == 0
            else (
                f"This project may use {total.limit:g} GPUs across all regions and uses "
                f"{total.usage:g}"
            )
        )
        return (
            f"GPU quota: {start} (GPUS_ALL_REGIONS = {total.limit:g}); {count} more would fail. "
            "New projects start at 0, so another region will not help: request more quota "
            f"(GPUS_ALL_REGIONS) at {QUOTAS_CONSOLE}."
        )
    metric = GPU_QUOTA_METRICS.get(gpu, "")
    names = (f"PREEMPTIBLE_{metric}", metric) if spot else (metric,)
    regional = next((q for n in names for q in region_quotas if q.metric == n), None)
    if regional is not None and regional.free < count:
        return (
            f"GPU quota: {region} allows {regional.limit:g} {gpu} ({regional.metric}), "
            f"{regional.usage:g} in use; {count} more would fail. Request more at "
            f"{QUOTAS_CONSOLE}, or choose a region with quota."
        )
    return ""


def quota_hint(message: str) -> str:
    """What to do about a QUOTA_EXCEEDED operation error, by which quota it names."""
    if "GPUS_ALL_REGIONS" in message:
        return (
            "The project-wide GPU quota is used up (new projects start at 0); another region "
            f"will not help: request more quota (GPUS_ALL_REGIONS) at {QUOTAS_CONSOLE}."
        )
    return (
        "Pick fewer GPUs, stop other GPU instances in this region, choose a region with quota, "
        f"or request more at {QUOTAS_CONSOLE}."
    )


def stockout_hint(gpu: str, zone: str, offering: Mapping[str, Sequence[str]]) -> str:
    """Name the other zones that offer the same GPU (a stock-out is per zone)."""
    if not gpu:
        return "The zone has no capacity for this shape now; try another zone or try later."
    others = [z for z in offering.get(gpu, ()) if z != zone]
    region = zone.rsplit("-", 1)[0]
    others.sort(key=lambda z: (z.rsplit("-", 1)[0] != region, z))
    if not others:
        return f"{zone} has no {gpu} capacity now and no other zone offers it; try later."
    shown = ", ".join(others[:8]) + (f" and {len(others) - 8} more" if len(others) > 8 else "")
    return (
        f"{zone} has no {gpu} capacity now (a stock-out, not a quota). Zones that offer "
        f"{gpu}: {shown}. Try one of them, or try later."
    )
