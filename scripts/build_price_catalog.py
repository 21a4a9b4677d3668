"""Build tui/data/prices.json, cloudpane's bundled price catalog, from cited source rows.

Run: `python scripts/build_price_catalog.py` (writes tui/data/prices.json; `--check` only
verifies that the file on disk is what this script produces).

Where the numbers come from
---------------------------
Machines and disks: `scripts/price_source/compute_rows.csv`, rows cut verbatim (by
`scripts/extract_price_rows.py`) out of `pricing.yml` of Cyclenerd/google-cloud-pricing-cost-calculator
at commit fd66b26ff84fee5cdd94f341ea89206e76c06b99 (generated 2026-07-30 from the Cloud Billing
Catalog API, Compute Engine service 6F81-5844-456A): every machine family Google sold then, in
every region (43), on-demand and spot $/h; persistent disks $/GB-month per region.

Compute Engine prices a machine as vCPUs × a per-vCPU rate + GiB × a per-GiB rate, both per
family and region. Per family and region the CSV keeps two "basis" rows, from which this script
solves the two rates exactly, and the "exact" rows those rates do not reproduce (shapes with
bundled GPUs or local SSD), which the catalog keeps as their own price (`machine_prices`). The
extractor checked every dropped row against the basis rates (within 0.5 %).

GPUs attached to N1 (T4, P4, P100, V100): per-GPU rows copied from skypilot-org/skypilot-catalog
`catalogs/v8/gcp/vms.csv` @ 006059e0f18acb1341e22a27751e9f80df6ba92f (an n-GPU row divided by n).
A few rows there are inconsistent with the rest (see GPU_BASE and the catalog's notes); those are
replaced by the GPU's us-central1 price × the host family's regional factor. Regions without a
row are DERIVED the same way (us-central1 price × N1's regional factor) and counted in `notes`.
GPUs bundled in A2/A3/G2/G4 shapes are priced with their shape (`machine_prices`).

Vertex AI custom training: Compute Engine price × 1.15 (Vertex's published training prices for
the same machine types and GPUs in us-central1 are 15 % above Compute Engine's; see VERTEX).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tui" / "data" / "prices.json"

SOURCE = (
    "Cyclenerd/google-cloud-pricing-cost-calculator pricing.yml @ fd66b26 (built from the Cloud "
    "Billing Catalog API on 2026-07-30); N1 GPUs: skypilot-org/skypilot-catalog vms.csv @ 006059e0f18a"
)
SOURCE_URL = (
    "https://github.com/Cyclenerd/google-cloud-pricing-cost-calculator/blob/"
    "fd66b26ff84fee5cdd94f341ea89206e76c06b99/pricing.yml"
)
# The day the source's prices were read from the Cloud Billing Catalog API.
AS_OF = "2026-07-30"

ROWS_CSV = Path(__file__).resolve().parent / "price_source" / "compute_rows.csv"

# Google's published us-central1 split per vCPU / per GiB ($/h), used only for families whose
# shapes all have one GiB-per-vCPU ratio (the source then fixes the price per vCPU, not the
# split; any split reproduces every predefined shape, and custom shapes do not exist there).
BASE_SPLIT: dict[str, tuple[float, float]] = {
    "c2": (0.03398, 0.00455),
    "t2d": (0.027502, 0.003686),
}
DEFAULT_SPLIT = (0.031611, 0.004237)  # N1's core:RAM price ratio, for other one-ratio families

# Custom shapes (e2/n1/n2/n2d-custom-…) cost 5 % more than predefined ones (Google's custom
# machine type pricing); other families have no custom shapes.
CUSTOM_MULTIPLIER = {"e2": 1.05, "n1": 1.05, "n2": 1.05, "n2d": 1.05}

# (GPU, GPUs in the row, region, on-demand $/h for the row, spot $/h for the row) — verbatim.
GPU_ROWS: list[tuple[str, int, str, float, float]] = [
    ("nvidia-tesla-t4", 1, "us-central1", 0.35, 0.175),
    ("nvidia-tesla-t4", 1, "us-east1", 0.35, 0.175),
    ("nvidia-tesla-t4", 1, "us-east4", 0.37, 0.1644),
    ("nvidia-tesla-t4", 1, "us-west1", 0.35, 0.175),
    ("nvidia-tesla-t4", 1, "europe-west1", 0.35, 0.14),
    ("nvidia-tesla-t4", 1, "europe-west4", 0.3675, 0.175),
    ("nvidia-tesla-t4", 1, "asia-east1", 0.35, 0.1383),
    ("nvidia-tesla-t4", 1, "asia-southeast1", 0.37, 0.1645),
    ("nvidia-tesla-p4", 1, "us-central1", 0.6, 0.2236),
    ("nvidia-tesla-p4", 1, "us-east4", 0.6, 0.1734),
    ("nvidia-tesla-p4", 1, "europe-west4", 0.63, 0.132),
    ("nvidia-tesla-p4", 1, "asia-southeast1", 0.65, 0.0585),
    ("nvidia-tesla-p100", 1, "us-central1", 1.46, 0.7034),
    ("nvidia-tesla-p100", 1, "us-east1", 1.46, 0.7034),
    ("nvidia-tesla-p100", 1, "us-west1", 1.46, 0.7034),
    ("nvidia-tesla-p100", 1, "europe-west1", 1.6, 0.2816),
    ("nvidia-tesla-p100", 1, "europe-west4", 1.533, 0.2341),
    ("nvidia-tesla-p100", 1, "asia-east1", 1.6, 0.144),
    ("nvidia-tesla-v100", 1, "us-central1", 2.48, 1.0885),
    ("nvidia-tesla-v100", 1, "us-east1", 2.48, 1.0885),
    ("nvidia-tesla-v100", 1, "us-west1", 2.48, 1.0885),
    ("nvidia-tesla-v100", 2, "europe-west4", 5.208, 2.0886),
    ("nvidia-tesla-v100", 2, "asia-east1", 4.96, 1.2712),
    ("nvidia-l4", 2, "us-central1", 1.12008, 0.4462),
    ("nvidia-l4", 2, "us-east1", 1.12008, 0.4462),
    ("nvidia-l4", 2, "us-east4", 1.11641, 0.4466),
    ("nvidia-l4", 2, "us-west1", 1.12008, 0.4462),
    ("nvidia-l4", 2, "europe-west4", 1.17608, 0.4876),
    ("nvidia-l4", 4, "europe-west1", 2.46664, 0.9624),
    ("nvidia-l4", 4, "asia-east1", 2.59388, 0.9244),
    ("nvidia-l4", 4, "asia-southeast1", 2.76369, 0.9912),
    ("nvidia-tesla-a100", 1, "us-central1", 2.93391, 1.4341),
    ("nvidia-tesla-a100", 1, "us-east1", 2.93391, 1.4341),
    ("nvidia-tesla-a100", 1, "us-west1", 2.93391, 1.4341),
    ("nvidia-tesla-a100", 1, "europe-west4", 1.61365, 1.1691),
    ("nvidia-tesla-a100", 1, "asia-southeast1", 1.70586, 1.4261),
    ("nvidia-a100-80gb", 1, "us-central1", 1.8462, 1.964),
    ("nvidia-a100-80gb", 1, "us-east4", 2.07937, 1.7697),
    ("nvidia-a100-80gb", 1, "europe-west4", 2.03285, 2.1626),
    ("nvidia-a100-80gb", 1, "asia-southeast1", 4.84607, 1.823),
    ("nvidia-h100-80gb", 1, "us-central1", 4.20076, 2.9926),
    ("nvidia-h100-80gb", 1, "us-east4", 9.79655, 2.2356),
    ("nvidia-h100-80gb", 1, "us-west1", 4.20076, 2.9926),
    ("nvidia-h100-80gb", 1, "europe-west1", 10.78698, 2.467),
    ("nvidia-h100-80gb", 1, "europe-west4", 12.73552, 2.9112),
    ("nvidia-h100-80gb", 1, "asia-east1", 11.34343, 2.8412),
    ("nvidia-h100-80gb", 1, "asia-southeast1", 4.20076, 3.0441),
]

GPU_LABELS = {
    "nvidia-tesla-t4": "NVIDIA T4",
    "nvidia-tesla-p4": "NVIDIA P4",
    "nvidia-tesla-p100": "NVIDIA P100",
    "nvidia-tesla-v100": "NVIDIA V100",
    "nvidia-l4": "NVIDIA L4",
    "nvidia-tesla-a100": "NVIDIA A100 40GB",
    "nvidia-a100-80gb": "NVIDIA A100 80GB",
    "nvidia-h100-80gb": "NVIDIA H100 80GB",
}

# The family whose regional multiplier a GPU's price follows (the machines it attaches to).
GPU_HOST = {
    "nvidia-tesla-t4": "n1",
    "nvidia-tesla-p4": "n1",
    "nvidia-tesla-p100": "n1",
    "nvidia-tesla-v100": "n1",
    "nvidia-l4": "g2",
    "nvidia-tesla-a100": "a2",
    "nvidia-a100-80gb": "a2",
    "nvidia-h100-80gb": "a3",
}

# us-central1 on-demand per GPU. A source row more than 15 % away from this × its region's
# host multiplier is treated as a mistake in the source and replaced (and listed in `notes`).
GPU_BASE: dict[str, tuple[float, str]] = {
    "nvidia-tesla-t4": (0.35, "source us-central1 row"),
    "nvidia-tesla-p4": (0.6, "source us-central1 row"),
    "nvidia-tesla-p100": (1.46, "source us-central1 row"),
    "nvidia-tesla-v100": (2.48, "source us-central1 row"),
    "nvidia-l4": (0.56004, "source us-central1 row (2 GPUs: 1.12008)"),
    "nvidia-tesla-a100": (2.93391, "source us-central1 row"),
    "nvidia-a100-80gb": (
        3.92853,
        "source asia-southeast1 row 4.84607 / A2 multiplier 1.23357 there; the source's "
        "us-central1 row (1.8462) is below its own spot price (1.964) and below the 40 GB card",
    ),
    "nvidia-h100-80gb": (
        9.79655,
        "source us-east4 row, where A3 hosts cost what they cost in us-central1; the europe-west1 "
        "and asia-east1 rows agree after their A3 multipliers; the source's 4.20076 rows disagree",
    ),
}
GPU_TOLERANCE = 0.15

# Vertex AI custom training: Compute Engine price × this. Vertex's us-central1 training prices
# for the same resources (what the multiplier reproduces):
VERTEX_MULTIPLIER = 1.15
VERTEX_CHECK = {
    "n1-standard-4": 0.21849,
    "e2-standard-4": 0.154114,
    "nvidia-tesla-t4": 0.4025,
    "nvidia-tesla-v100": 2.852,
    "nvidia-tesla-a100": 3.3741,
}

# Shared-core E2: billed as a fraction of a vCPU (Google's e2 shared-core pricing).
SHARED_CORE = {
    "e2-micro": (0.25, 1.0),
    "e2-small": (0.5, 2.0),
    "e2-medium": (1.0, 4.0),
}


def _r(value: float) -> float:
    return round(value, 9)


@dataclass(frozen=True)
class SourceRow:
    kind: str  # shape | machine | disk
    name: str
    vcpus: float
    gib: float
    gpus: dict[str, int]
    region: str
    on_demand: float
    spot: float | None
    use: str  # basis | exact (machine rows)


def read_rows(path: Path = ROWS_CSV) -> list[SourceRow]:
    """The rows scripts/extract_price_rows.py cut out of the source, verbatim."""
    rows = []
    with path.open(newline="") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        for rec in csv.DictReader(lines):
            gpus = dict(g.split(":") for g in rec["gpus"].split())
            rows.append(
                SourceRow(
                    rec["kind"],
                    rec["name"],
                    float(rec["vcpus"] or 0),
                    float(rec["gib"] or 0),
                    {k: int(v) for k, v in gpus.items()},
                    rec["region"],
                    float(rec["on_demand"] or 0),
                    float(rec["spot"]) if rec["spot"] else None,
                    rec["use"],
                )
            )
    return rows


def _solve(a: SourceRow, b: SourceRow, spot: bool) -> tuple[float, float] | None:
    """Per-vCPU and per-GiB rates that reproduce both rows exactly."""
    p1, p2 = (a.spot, b.spot) if spot else (a.on_demand, b.on_demand)
    if p1 is None or p2 is None:
        return None
    det = a.vcpus * b.gib - b.vcpus * a.gib
    return (p1 * b.gib - p2 * a.gib) / det, (a.vcpus * p2 - b.vcpus * p1) / det


def _split(row: SourceRow, family: str, spot: bool) -> tuple[float, float] | None:
    """One-ratio families: the published (or N1's) split, scaled to reproduce the row."""
    price = row.spot if spot else row.on_demand
    if price is None:
        return None
    vcpu, gib = BASE_SPLIT.get(family, DEFAULT_SPLIT)
    scale = price / (row.vcpus * vcpu + row.gib * gib)
    return vcpu * scale, gib * scale


def regions_of(rows: list[SourceRow]) -> list[str]:
    return sorted({r.region for r in rows if r.kind == "machine"})


def family_rates(rows: list[SourceRow]) -> dict[str, dict[str, object]]:
    """Per family and region: $/h per vCPU and per GiB, solved from the basis rows."""
    basis: dict[str, dict[str, list[SourceRow]]] = {}
    for row in rows:
        if row.kind == "machine" and row.use == "basis":
            family = row.name.split("-", 1)[0]
            basis.setdefault(family, {}).setdefault(row.region, []).append(row)
    families: dict[str, dict[str, object]] = {}
    for family, regions in sorted(basis.items()):
        rates: dict[str, dict[str, float]] = {}
        for region, pair in sorted(regions.items()):
            on_demand = (
                _solve(*pair, spot=False) if len(pair) == 2 else _split(pair[0], family, False)
            )
            spot = _solve(*pair, spot=True) if len(pair) == 2 else _split(pair[0], family, True)
            if on_demand is None:
                continue
            entry = {"vcpu": _r(on_demand[0]), "gib": _r(on_demand[1])}
            if spot is not None:
                entry.update(spot_vcpu=_r(spot[0]), spot_gib=_r(spot[1]))
            rates[region] = entry
        families[family] = {"custom_multiplier": CUSTOM_MULTIPLIER.get(family), "regions": rates}
    return families


def machine_prices(rows: list[SourceRow]) -> dict[str, dict[str, dict[str, float]]]:
    """Shapes the family rates do not reproduce (bundled GPUs, local SSD): their own $/h."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in rows:
        if row.kind == "machine" and row.use == "exact":
            entry = {"on_demand": _r(row.on_demand)}
            if row.spot is not None:
                entry["spot"] = _r(row.spot)
            out.setdefault(row.name, {})[row.region] = entry
    return dict(sorted(out.items()))


def gpu_prices(
    families: dict[str, dict[str, object]], regions: list[str], notes: list[str]
) -> dict[str, object]:
    """Per-GPU prices: source rows where there are some, else us-central1 × the host's factor."""

    def multiplier(family: str, region: str) -> float | None:
        rates = families.get(family, {}).get("regions", {})
        central, here = rates.get("us-central1"), rates.get(region)  # type: ignore[union-attr]
        if not central or not here:
            return None
        return float(here["vcpu"]) / float(central["vcpu"])

    gpus: dict[str, object] = {}
    derived: list[str] = []
    for gpu, label in GPU_LABELS.items():
        base, why = GPU_BASE[gpu]
        prices: dict[str, dict[str, float]] = {}
        replaced: list[str] = []
        for name, count, region, od, spot in GPU_ROWS:
            if name != gpu:
                continue
            per_gpu, spot_per_gpu = od / count, spot / count
            m = multiplier(GPU_HOST[gpu], region) or 1.0
            expected = base * m
            if abs(per_gpu - expected) / expected > GPU_TOLERANCE:
                replaced.append(f"{region} {per_gpu:.5f} → {expected:.5f}")
                per_gpu = expected
            prices[region] = {"on_demand": _r(per_gpu), "spot": _r(spot_per_gpu)}
        if GPU_HOST[gpu] == "n1":  # attachable to N1 machines in any region: derive the rest
            central = prices.get("us-central1")
            for region in regions:
                m = multiplier("n1", region)
                if region in prices or m is None or central is None:
                    continue
                prices[region] = {"on_demand": _r(base * m), "spot": _r(central["spot"] * m)}
                derived.append(f"{label} {region}")
        if replaced:
            notes.append(
                f"{label}: source rows inconsistent with the rest were replaced by "
                f"{base} $/h (us-central1: {why}) × the {GPU_HOST[gpu].upper()} regional "
                f"multiplier: {'; '.join(replaced)}."
            )
        gpus[gpu] = {"label": label, "regions": dict(sorted(prices.items()))}
    if derived:
        notes.append(
            "Attached GPUs (T4, P4, P100, V100) in regions without a source GPU row are DERIVED, "
            "not quoted: the us-central1 GPU price × that region's N1 vCPU price ÷ N1's "
            "us-central1 vCPU price (Google prices a region's resources with one regional "
            f"factor). {len(derived)} region prices are derived this way."
        )
    return gpus


def machine_types(rows: list[SourceRow]) -> dict[str, dict[str, object]]:
    shapes: dict[str, dict[str, object]] = {}
    for row in rows:
        if row.kind != "shape":
            continue
        entry: dict[str, object] = {"vcpus": row.vcpus, "memory_gib": row.gib}
        if row.gpus:
            entry["gpus"] = row.gpus
        shapes[row.name] = entry
    for name, (vcpus, gib) in SHARED_CORE.items():
        shapes[name] = {"vcpus": vcpus, "memory_gib": gib, "shared_core": True}
    return dict(sorted(shapes.items()))


def disks(rows: list[SourceRow]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.kind == "disk":
            out.setdefault(row.name, {})[row.region] = _r(row.on_demand)
    return out


def build() -> dict[str, object]:
    rows = read_rows()
    regions = regions_of(rows)
    notes: list[str] = [
        "On-demand and spot list prices in USD. Not included: sustained-use and committed-use "
        "discounts, network egress, OS/image licences, static IPs, snapshots, taxes.",
        "Machine prices = vCPUs × per-vCPU rate + GiB × per-GiB rate per family and region, solved "
        "from two source rows of the family in that region and checked against every other row "
        "(within 0.5 %); shapes the rates do not reproduce (bundled GPUs, local SSD) keep their "
        "own source price (`machine_prices`).",
        "Families whose shapes all have one GiB-per-vCPU ratio (C2, T2D, T2A, H3, M-series …) are "
        "split by Google's published us-central1 ratio (or N1's); every predefined shape's price "
        "is the source's.",
        "Spot prices change often (Google may change them up to once a day); treat them as a guide.",
        "Custom shapes (e2/n1/n2/n2d-custom-…) are priced at the predefined rates + 5 %.",
        "Disks (pd-standard, pd-balanced, pd-ssd): the source's $/GB-month per region.",
        f"Vertex AI custom training is estimated as Compute Engine price × {VERTEX_MULTIPLIER}.",
        "A4 (B200) and A3 Ultra/High shapes other than those listed are not in the source: "
        "they show 'price unknown'.",
    ]
    families = family_rates(rows)
    gpus = gpu_prices(families, regions, notes)
    return {
        "schema": 1,
        "source": SOURCE,
        "source_url": SOURCE_URL,
        "as_of": AS_OF,
        "currency": "USD",
        "hours_per_month": 730,
        "regions": regions,
        "notes": notes,
        "families": families,
        "machine_prices": machine_prices(rows),
        "gpus": gpus,
        "machine_types": machine_types(rows),
        "disks": disks(rows),
        "vertex_training": {
            "multiplier": VERTEX_MULTIPLIER,
            "basis": "Vertex AI custom-training prices in us-central1 vs Compute Engine",
            "check_us_central1": VERTEX_CHECK,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify, do not write")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = json.dumps(build(), indent=1, sort_keys=False) + "\n"
    if args.check:
        same = args.out.exists() and args.out.read_text() == text
        print("up to date" if same else f"{args.out} is stale: run this script")
        return 0 if same else 1
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text)} bytes, {dt.date.today()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
