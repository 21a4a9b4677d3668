"""`cloudpane prices refresh`: current prices from the Cloud Billing Catalog API → user cache.

Lists the SKUs of Compute Engine (service 6F81-5844-456A) with google-cloud-billing's REST
client, reads the ones cloudpane prices with — per-vCPU and per-GiB rates of each machine family,
per-GPU rates, persistent-disk capacity — and writes a full catalog (the bundled one, with every
rate found replaced) to the user cache, atomically. Shapes (vCPUs, memory, bundled GPUs) are not
in the billing catalog; they stay those of the bundled file.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from tui.services import pricing
from tui.services.clients import Backend, call, read_retry
from tui.services.errors import CloudpaneError
from tui.services.pricing import BUNDLED_PATH, PriceCatalog

COMPUTE_SERVICE = "services/6F81-5844-456A"
SOURCE = "Cloud Billing Catalog API (live), Compute Engine service 6F81-5844-456A"

# Description stems (after an optional "Spot Preemptible " / "Preemptible ") → family.
FAMILY_STEMS = {
    "E2 Instance": "e2",
    "N1 Predefined Instance": "n1",
    "N2 Instance": "n2",
    "N2D AMD Instance": "n2d",
    "Compute optimized": "c2",
    "C3 Instance": "c3",
    "T2D AMD Instance": "t2d",
    "A2 Instance": "a2",
    "A3 Instance": "a3",
    "G2 Instance": "g2",
}
GPU_STEMS = {
    "Nvidia Tesla T4 GPU": "nvidia-tesla-t4",
    "Nvidia Tesla P4 GPU": "nvidia-tesla-p4",
    "Nvidia Tesla P100 GPU": "nvidia-tesla-p100",
    "Nvidia Tesla V100 GPU": "nvidia-tesla-v100",
    "Nvidia L4 GPU": "nvidia-l4",
    "Nvidia Tesla A100 GPU": "nvidia-tesla-a100",
    "Nvidia Tesla A100 80GB GPU": "nvidia-a100-80gb",
    "Nvidia H100 80GB GPU": "nvidia-h100-80gb",
}
DISK_STEMS = {
    "Storage PD Capacity": "pd-standard",
    "Balanced PD Capacity": "pd-balanced",
    "SSD backed PD Capacity": "pd-ssd",
}

_SPOT = r"(?P<spot>(?:Spot )?Preemptible )?"
_WHERE = r"(?: running)? in (?P<where>.+)$"
_MACHINE = re.compile(
    rf"^{_SPOT}(?P<stem>{'|'.join(map(re.escape, FAMILY_STEMS))}) (?P<part>Core|Ram){_WHERE}"
)
_GPU = re.compile(rf"^{_SPOT}(?P<stem>{'|'.join(map(re.escape, GPU_STEMS))}){_WHERE}")
_DISK = re.compile(rf"^(?P<stem>{'|'.join(map(re.escape, DISK_STEMS))})(?: in (?P<where>.+))?$")

UNITS = {"core": "h", "ram": "GiBy.h", "gpu": "h", "disk": "GiBy.mo"}


@dataclass(frozen=True)
class SkuRow:
    """The parts of a SKU that matter here (plain values, not protobuf)."""

    description: str
    resource_family: str
    usage_type: str
    regions: tuple[str, ...]
    unit: str
    price: float  # per unit, USD
    effective: datetime | None = None


@dataclass
class RefreshResult:
    path: Path
    as_of: date
    skus_seen: int
    skus_used: int
    families: dict[str, list[str]] = field(default_factory=dict)  # family → regions updated
    gpus: dict[str, list[str]] = field(default_factory=dict)
    disks: dict[str, list[str]] = field(default_factory=dict)
    kept_bundled: list[str] = field(default_factory=list)  # not found in the price list

    def summary(self) -> str:
        lines = [
            f"Prices refreshed from the Cloud Billing Catalog API ({self.as_of.isoformat()}): "
            f"{self.skus_used} of {self.skus_seen} Compute Engine SKUs used.",
            f"  machine families: {len(self.families)}, GPUs: {len(self.gpus)}, "
            f"disk types: {len(self.disks)}; regions: {len(self.regions())}",
            f"  written to {self.path}",
        ]
        if self.kept_bundled:
            lines.append(
                f"  not in the price list (bundled prices kept): {', '.join(self.kept_bundled)}"
            )
        return "\n".join(lines)

    def regions(self) -> set[str]:
        return {
            r
            for group in (self.families, self.gpus, self.disks)
            for rs in group.values()
            for r in rs
        }


def _price(pricing_info: Iterable[Any]) -> tuple[str, float, datetime | None] | None:
    """(usage unit, price per unit, effective time) of the latest pricing; None if free/absent."""
    infos = list(pricing_info)
    if not infos:
        return None
    info = infos[-1]
    expression = info.pricing_expression
    for tier in expression.tiered_rates:
        money = tier.unit_price
        value = int(money.units) + money.nanos / 1e9
        if value > 0:
            effective = info.effective_time
            stamp = effective if isinstance(effective, datetime) else None
            return expression.usage_unit, value, stamp
    return None


def sku_row(sku: Any) -> SkuRow | None:
    """google.cloud.billing_v1.Sku → SkuRow (None when it has no price)."""
    found = _price(sku.pricing_info)
    if found is None:
        return None
    unit, value, effective = found
    return SkuRow(
        description=sku.description,
        resource_family=sku.category.resource_family,
        usage_type=sku.category.usage_type,
        regions=tuple(sku.service_regions),
        unit=unit,
        price=value,
        effective=effective,
    )


def _list_skus(backend: Backend, page_size: int) -> list[SkuRow]:
    from google.cloud import billing_v1  # heavy import: only when refreshing

    client = billing_v1.CloudCatalogClient(
        credentials=backend.credentials,
        transport="rest",
        client_options=backend.client_options() or None,
    )
    request = billing_v1.ListSkusRequest(parent=COMPUTE_SERVICE, page_size=page_size)
    rows = []
    for sku in client.list_skus(request=request, retry=read_retry()):
        row = sku_row(sku)
        if row is not None:
            rows.append(row)
        else:
            rows.append(SkuRow(sku.description, "", "", (), "", 0.0))
    return rows


def apply_skus(
    rows: Iterable[SkuRow], base: dict[str, Any], fetched: date
) -> tuple[dict[str, Any], RefreshResult]:
    """A new catalog: `base` with every rate found in `rows` replaced (pure; for tests too)."""
    data = copy.deepcopy(base)
    result = RefreshResult(Path(), fetched, 0, 0)
    families: dict[str, set[str]] = {}
    gpus: dict[str, set[str]] = {}
    disks: dict[str, set[str]] = {}
    for row in rows:
        result.skus_seen += 1
        if row.usage_type not in ("OnDemand", "Preemptible") or row.price <= 0:
            continue
        spot = row.usage_type == "Preemptible"
        used = False
        if row.resource_family == "Compute":
            machine = _MACHINE.match(row.description)
            gpu = _GPU.match(row.description)
            if machine and bool(machine["spot"]) == spot:
                family = FAMILY_STEMS[machine["stem"]]
                part = "vcpu" if machine["part"] == "Core" else "gib"
                if row.unit == UNITS["core" if part == "vcpu" else "ram"]:
                    key = f"spot_{part}" if spot else part
                    regions = data["families"].setdefault(family, {"regions": {}})["regions"]
                    for region in row.regions:
                        regions.setdefault(region, {})[key] = row.price
                        families.setdefault(family, set()).add(region)
                    used = True
            elif gpu and bool(gpu["spot"]) == spot and row.unit == UNITS["gpu"]:
                name = GPU_STEMS[gpu["stem"]]
                regions = data["gpus"].setdefault(name, {"label": name, "regions": {}})["regions"]
                for region in row.regions:
                    regions.setdefault(region, {})["spot" if spot else "on_demand"] = row.price
                    gpus.setdefault(name, set()).add(region)
                used = True
        elif row.resource_family == "Storage" and not spot:
            disk = _DISK.match(row.description)
            if disk and row.unit == UNITS["disk"]:
                name = DISK_STEMS[disk["stem"]]
                for region in row.regions:
                    data["disks"].setdefault(name, {})[region] = row.price
                    disks.setdefault(name, set()).add(region)
                used = True
        result.skus_used += used
    if not (families or gpus or disks):
        raise CloudpaneError(
            "The Cloud Billing Catalog API returned no Compute Engine prices cloudpane can read "
            f"({result.skus_seen} SKUs seen).",
            "Kept the prices in use. Check `cloudpane prices refresh` again later.",
        )
    result.families = {k: sorted(v) for k, v in sorted(families.items())}
    result.gpus = {k: sorted(v) for k, v in sorted(gpus.items())}
    result.disks = {k: sorted(v) for k, v in sorted(disks.items())}
    result.kept_bundled = sorted(
        {f for f in base["families"] if f not in families}
        | {g for g in base["gpus"] if g not in gpus}
        | {d for d in base["disks"] if d not in disks}
    )
    # Only complete rate sets price a machine; a region with half of them keeps nothing wrong.
    for family in data["families"].values():
        for region, rates in list(family["regions"].items()):
            if "vcpu" not in rates or "gib" not in rates:
                del family["regions"][region]
    for gpu in data["gpus"].values():
        for region, rates in list(gpu["regions"].items()):
            if "on_demand" not in rates:
                del gpu["regions"][region]
    data["source"] = SOURCE
    data["source_url"] = (
        "https://cloud.google.com/billing/docs/reference/rest/v1/services.skus/list"
    )
    data["as_of"] = fetched.isoformat()
    data["origin"] = "refresh"
    data["regions"] = sorted(result.regions() | set(base.get("regions", ())))
    data["notes"] = [
        f"Fetched {fetched.isoformat()} from the Cloud Billing Catalog API (list prices).",
        *[n for n in base.get("notes", ()) if not n.startswith(("NVIDIA", "A2 is", "A3 is"))],
    ]
    if result.kept_bundled:
        data["notes"].append(
            f"Not in the price list, bundled prices kept: {', '.join(result.kept_bundled)}."
        )
    if base.get("machine_prices"):
        # Their SKUs (GPU, local SSD, host) are not all read here: their whole price stays.
        whole = sorted({name.split("-", 1)[0] for name in base["machine_prices"]})
        data["notes"].append(
            "Machine types priced whole (bundled GPUs or local SSD; families "
            f"{', '.join(whole)}) keep their bundled prices."
        )
    return data, result


def write_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    from tui.config import private_dir

    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".prices-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def refresh_prices(
    backend: Backend,
    *,
    cache_path: Path | None = None,
    bundled_path: Path = BUNDLED_PATH,
    page_size: int = 5000,
    today: date | None = None,
) -> RefreshResult:
    """Fetch current prices and make them the catalog in use. Raises CloudpaneError."""
    rows = await call(
        _list_skus, backend, page_size, action="fetch prices from the Cloud Billing Catalog API"
    )
    base = json.loads(bundled_path.read_text(encoding="utf-8"))
    fetched = today or datetime.now(timezone.utc).date()
    data, result = apply_skus(rows, base, fetched)
    path = cache_path if cache_path is not None else pricing.user_cache_path()
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise CloudpaneError(
            f"Could not write the price cache {path}: {exc.strerror or exc}.",
            "Check that the cache directory is writable (or set CLOUDPANE_CACHE_DIR).",
        ) from exc
    result.path = path
    pricing.set_catalog(PriceCatalog(data, path))
    return result


def refresh_command(backend: Backend, *, cache_path: Path | None = None) -> int:
    """What `cloudpane prices refresh` runs: prints a summary (or the error), returns the exit code."""
    import asyncio
    import sys

    from tui.inert import visible, visible_lines  # the API's error texts: cloud text

    try:
        result = asyncio.run(refresh_prices(backend, cache_path=cache_path))
    except CloudpaneError as exc:
        print(f"cloudpane: {visible(exc.message)}", file=sys.stderr)
        if exc.hint:
            print(f"  {visible(exc.hint)}", file=sys.stderr)
        catalog = pricing.get_catalog()
        print(f"  still using {visible(catalog.label)}", file=sys.stderr)
        return 1
    print(visible_lines(result.summary()))
    return 0
