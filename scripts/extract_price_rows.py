"""Cut the rows cloudpane's price catalog needs out of Cyclenerd's pricing.yml.

Run: `python scripts/extract_price_rows.py PATH/TO/pricing.yml` (writes
scripts/price_source/compute_rows.csv, which `build_price_catalog.py` reads).

pricing.yml (github.com/Cyclenerd/google-cloud-pricing-cost-calculator, Apache-2.0) is built from
the Cloud Billing Catalog API: every Compute Engine machine type with its on-demand and spot $/h
in every region Google sells it in, and persistent-disk $/GB-month per region. It is 4 MB; the
catalog needs far less, because Compute Engine prices a machine as vCPUs × a per-vCPU rate +
GiB × a per-GiB rate (per family and region). So, per family and region, this keeps:

* two "basis" rows (the two shapes without GPUs or local SSD whose GiB per vCPU differ most),
  from which the build solves the family's two rates exactly (one row where every shape of the
  family has the same GiB per vCPU: then the split does not change any price), and
* every "exact" row the basis rates do not reproduce within 0.5 % (shapes with GPUs or local
  SSD, families with one memory ratio, odd shapes): the catalog keeps their own price.

Every other row of the source is checked to be reproduced within 0.5 % before the file is
written, so dropping it loses nothing. Shapes (vCPUs, GiB, GPUs) are kept for every type.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent / "price_source" / "compute_rows.csv"
TOLERANCE = 0.005
# pricing.yml's GPU keys → Compute Engine accelerator type names
GPU_KEYS = {
    "a100": "nvidia-tesla-a100",
    "a100-80gb": "nvidia-a100-80gb",
    "h100-80gb": "nvidia-h100-80gb",
    "h100-80gb-mega": "nvidia-h100-mega-80gb",
    "l4": "nvidia-l4",
    "rtx6000": "nvidia-rtx-pro-6000",
}
DISK_KEYS = {"hdd": "pd-standard", "balanced": "pd-balanced", "ssd": "pd-ssd"}
SKIP_FAMILIES = {"custom"}  # custom shapes: priced from the family rates + 5 %


def _solve(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float]:
    """Per-vCPU and per-GiB rates from two (vCPUs, GiB, price) rows."""
    (c1, g1, p1), (c2, g2, p2) = a, b
    det = c1 * g2 - c2 * g1
    return (p1 * g2 - p2 * g1) / det, (c1 * p2 - c2 * p1) / det


def _close(value: float, want: float) -> bool:
    return abs(value - want) <= TOLERANCE * max(abs(want), 1e-9)


def _basis(rows: list[Row]) -> list[Row]:
    """The two plain shapes whose GiB per vCPU differ most (one if the family has one ratio)."""
    plain = sorted((r for r in rows if r.plain), key=lambda r: (r.gib / r.cpus, -r.cpus))
    if not plain:
        return []
    low, high = plain[0], plain[-1]
    return [low] if low.gib / low.cpus == high.gib / high.cpus else [low, high]


def _needed(rows: list[Row], basis: list[Row]) -> list[Row]:
    """Rows the basis rates do not reproduce (every row when there are no two-row rates)."""
    if len(basis) < 2:
        return [r for r in rows if r not in basis and not _same_ratio(r, basis)]
    rates = _solve(*((b.cpus, b.gib, b.hour) for b in basis))  # type: ignore[arg-type]
    spot_rates = None
    if all(b.spot for b in basis):
        spot_rates = _solve(*((b.cpus, b.gib, b.spot) for b in basis))  # type: ignore[arg-type]
    needed = []
    for r in rows:
        if r in basis:
            continue
        fits = _close(r.cpus * rates[0] + r.gib * rates[1], r.hour)
        if r.spot:
            fits = fits and spot_rates is not None
            fits = fits and _close(r.cpus * spot_rates[0] + r.gib * spot_rates[1], r.spot)  # type: ignore[index]
        if not fits:
            needed.append(r)
    return needed


def _same_ratio(row: Row, basis: list[Row]) -> bool:
    """A plain shape priced per vCPU exactly like the one basis row (one-ratio families)."""
    if not basis or not row.plain:
        return False
    b = basis[0]
    same_ratio = row.gib / row.cpus == b.gib / b.cpus
    spot_ok = (not row.spot and not b.spot) or (
        bool(row.spot) and bool(b.spot) and _close(row.spot / row.cpus, b.spot / b.cpus)
    )
    return same_ratio and _close(row.hour / row.cpus, b.hour / b.cpus) and spot_ok


@dataclass(frozen=True)
class Row:
    name: str
    cpus: float
    gib: float
    hour: float
    spot: float
    plain: bool  # no GPUs, no local SSD: priced by vCPUs and GiB alone


def extract(data: dict) -> list[list[str]]:  # type: ignore[type-arg]
    instances = data["compute"]["instance"]
    out: list[list[str]] = []
    by_family: dict[tuple[str, str], list[Row]] = {}
    for name, row in sorted(instances.items()):
        family = name.split("-", 1)[0]
        if family in SKIP_FAMILIES or "cost" not in row:
            continue
        gpus = {GPU_KEYS[k]: int(v) for k, v in row.items() if k in GPU_KEYS}
        plain = not gpus and not row.get("local-ssd")
        gpu_text = " ".join(f"{k}:{v}" for k, v in sorted(gpus.items()))
        out.append(["shape", name, str(row["cpu"]), str(row["ram"]), gpu_text, "", "", "", ""])
        for region, cost in row["cost"].items():
            if "hour" not in cost:
                continue
            spot = float(cost.get("hour_spot") or 0)
            by_family.setdefault((family, region), []).append(
                Row(name, float(row["cpu"]), float(row["ram"]), float(cost["hour"]), spot, plain)
            )
    for (_family, region), rows in sorted(by_family.items()):
        basis = _basis(rows)
        keep = [(r, "basis") for r in basis] + [(r, "exact") for r in _needed(rows, basis)]
        for r, use in keep:
            spot = repr(r.spot) if r.spot else ""
            out.append(
                ["machine", r.name, repr(r.cpus), repr(r.gib), "", region, repr(r.hour), spot, use]
            )
    for key, kind in DISK_KEYS.items():
        for region, cost in sorted(data["compute"]["storage"][key]["cost"].items()):
            out.append(["disk", kind, "", "", "", region, repr(float(cost["month"])), "", ""])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pricing_yml", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    import yaml

    data = yaml.load(
        args.pricing_yml.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    rows = extract(data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        fh.write(f"# generated by {data['about']['url']} on {data['about']['generated']}\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["kind", "name", "vcpus", "gib", "gpus", "region", "on_demand", "spot", "use"]
        )
        writer.writerows(rows)
    print(f"wrote {args.out}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
