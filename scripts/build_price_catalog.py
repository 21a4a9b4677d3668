"""Build tui/data/prices.json, cloudpane's bundled price catalog, from cited source rows.

Run: `python scripts/build_price_catalog.py` (writes tui/data/prices.json; `--check` only
verifies that the file on disk is what this script produces).

Where the numbers come from
---------------------------
Machine and GPU prices: rows copied from skypilot-org/skypilot-catalog, file
`catalogs/v8/gcp/vms.csv` at commit 006059e0f18acb1341e22a27751e9f80df6ba92f (that catalog is
itself built from the Cloud Billing Catalog API, Compute Engine service 6F81-5844-456A). Each row
below is (machine type, vCPUs, GiB, region, on-demand $/h, spot $/h) exactly as in that file.

Compute Engine prices a machine as vCPUs × a per-vCPU rate + GiB × a per-GiB rate, both per
family and region. The script therefore turns the rows into per-family rates:

* us-central1 rates: Google's published per-vCPU / per-GiB split for the family (BASE_SPLIT),
  scaled so that the family's us-central1 rows are reproduced exactly (the scale is checked to
  be within 0.1 % of 1, i.e. the split agrees with the source).
* other regions: the us-central1 rates × the region's multiplier for that family, which is the
  source row's price ÷ the us-central1 price of the same shape. Google scales vCPU and RAM by
  the same regional factor, so this reproduces every source row exactly.
* spot: the source row's spot/on-demand ratio for that family and region.

GPUs: per-GPU prices from the source's accelerator rows (an n-GPU row divided by n). A few rows in
the source are inconsistent with the rest of the file (see GPU_BASE and the catalog's notes);
those rows are replaced by the GPU's us-central1 price × the regional multiplier of the family
that hosts it, and listed in the catalog's `notes`.

Disks: Google's persistent-disk list prices per GB-month (cloud.google.com/compute/disks-image-pricing).
Vertex AI custom training: Compute Engine price × 1.15 (Vertex's published training prices for
the same machine types and GPUs in us-central1 are 15 % above Compute Engine's; see VERTEX).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tui" / "data" / "prices.json"

SOURCE = (
    "skypilot-org/skypilot-catalog catalogs/v8/gcp/vms.csv @ 006059e0f18a "
    "(built from the Cloud Billing Catalog API); disks: cloud.google.com/compute/disks-image-pricing"
)
SOURCE_URL = (
    "https://github.com/skypilot-org/skypilot-catalog/blob/"
    "006059e0f18acb1341e22a27751e9f80df6ba92f/catalogs/v8/gcp/vms.csv"
)
# The day this catalog was assembled from the source rows below.
AS_OF = "2026-11-26"

REGIONS = [
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "europe-west1",
    "europe-west4",
    "asia-east1",
    "asia-southeast1",
]

# (family, machine type, vCPUs, GiB, region, on-demand $/h, spot $/h) — copied verbatim.
ROWS: list[tuple[str, str, float, float, str, float, float]] = [
    # A2 hosts (without their A100s: the source's accelerator-optimised rows exclude the GPU)
    ("a2", "a2-highgpu-1g", 12, 85, "us-central1", 0.73948, 0.36975),
    ("a2", "a2-highgpu-1g", 12, 85, "us-east1", 0.73948, 0.36975),
    ("a2", "a2-highgpu-1g", 12, 85, "us-west1", 0.73948, 0.36975),
    ("a2", "a2-highgpu-1g", 12, 85, "europe-west4", 0.81406, 0.31824),
    ("a2", "a2-highgpu-1g", 12, 85, "asia-southeast1", 0.9122, 0.41954),
    ("a2", "a2-ultragpu-1g", 12, 170, "us-central1", 1.09962, 0.54978),
    ("a2", "a2-ultragpu-1g", 12, 170, "us-east4", 1.23833, 0.49613),
    ("a2", "a2-ultragpu-1g", 12, 170, "europe-west4", 1.2105, 0.47328),
    ("a2", "a2-ultragpu-1g", 12, 170, "asia-southeast1", 1.35641, 0.62379),
    # A3 hosts (without their H100s)
    ("a3", "a3-highgpu-1g", 26, 234, "us-central1", 1.18251, 0.36117),
    ("a3", "a3-highgpu-1g", 26, 234, "us-east4", 1.18251, 0.26996),
    ("a3", "a3-highgpu-1g", 26, 234, "us-west1", 1.18251, 0.36117),
    ("a3", "a3-highgpu-1g", 26, 234, "europe-west1", 1.30206, 0.29773),
    ("a3", "a3-highgpu-1g", 26, 234, "europe-west4", 1.24163, 0.28434),
    ("a3", "a3-highgpu-1g", 26, 234, "asia-east1", 1.36923, 0.34284),
    ("a3", "a3-highgpu-1g", 26, 234, "asia-southeast1", 1.45886, 0.34879),
    # C2
    ("c2", "c2-standard-8", 8, 32, "us-central1", 0.41762, 0.13594),
    ("c2", "c2-standard-8", 8, 32, "us-east1", 0.41762, 0.13594),
    ("c2", "c2-standard-8", 8, 32, "us-east4", 0.47029, 0.1412),
    ("c2", "c2-standard-8", 8, 32, "us-west1", 0.41762, 0.13594),
    ("c2", "c2-standard-8", 8, 32, "europe-west1", 0.4594, 0.17059),
    ("c2", "c2-standard-8", 8, 32, "europe-west4", 0.45974, 0.13613),
    ("c2", "c2-standard-8", 8, 32, "asia-east1", 0.48354, 0.12701),
    ("c2", "c2-standard-8", 8, 32, "asia-southeast1", 0.51517, 0.25757),
    ("c2", "c2-standard-60", 60, 240, "us-central1", 3.13212, 1.01952),
    # C3
    ("c3", "c3-highmem-4", 4, 32, "us-central1", 0.26462, 0.0425),
    ("c3", "c3-highmem-4", 4, 32, "us-east1", 0.26462, 0.0425),
    ("c3", "c3-highmem-4", 4, 32, "us-east4", 0.26462, 0.0924),
    ("c3", "c3-highmem-4", 4, 32, "us-west1", 0.26462, 0.0425),
    ("c3", "c3-highmem-4", 4, 32, "europe-west1", 0.29137, 0.08724),
    ("c3", "c3-highmem-4", 4, 32, "europe-west4", 0.27785, 0.0929),
    ("c3", "c3-highmem-4", 4, 32, "asia-southeast1", 0.32646, 0.15506),
    ("c3", "c3-highmem-22", 22, 176, "us-central1", 1.45539, 0.23377),
    ("c3", "c3-highmem-192-metal", 192, 1536, "asia-east1", 14.70714, 2.45683),
    # E2
    ("e2", "e2-highmem-16", 16, 128, "us-central1", 0.7232, 0.31722),
    ("e2", "e2-highmem-16", 16, 128, "us-east1", 0.7232, 0.31722),
    ("e2", "e2-highmem-16", 16, 128, "us-east4", 0.81445, 0.39203),
    ("e2", "e2-highmem-16", 16, 128, "us-west1", 0.7232, 0.31722),
    ("e2", "e2-highmem-16", 16, 128, "europe-west1", 0.79555, 0.31808),
    ("e2", "e2-highmem-16", 16, 128, "europe-west4", 0.79614, 0.33139),
    ("e2", "e2-highmem-16", 16, 128, "asia-east1", 0.83738, 0.38493),
    ("e2", "e2-highmem-16", 16, 128, "asia-southeast1", 0.89211, 0.39146),
    ("e2", "e2-highcpu-8", 8, 8, "us-central1", 0.19788, 0.08682),
    ("e2", "e2-highcpu-8", 8, 8, "us-east4", 0.22288, 0.10731),
    ("e2", "e2-highcpu-8", 8, 8, "europe-west1", 0.21768, 0.08708),
    ("e2", "e2-highcpu-8", 8, 8, "europe-west4", 0.21785, 0.09071),
    # G2 hosts (without their L4s)
    ("g2", "g2-standard-32", 32, 128, "us-central1", 1.17434, 0.46989),
    ("g2", "g2-standard-32", 32, 128, "us-east1", 1.17434, 0.46989),
    ("g2", "g2-standard-32", 32, 128, "us-east4", 1.17049, 0.4681),
    ("g2", "g2-standard-32", 32, 128, "us-west1", 1.17434, 0.46989),
    ("g2", "g2-standard-32", 32, 128, "europe-west1", 1.29306, 0.42368),
    ("g2", "g2-standard-32", 32, 128, "europe-west4", 1.23429, 0.57197),
    ("g2", "g2-standard-32", 32, 128, "asia-east1", 1.35976, 0.35917),
    ("g2", "g2-standard-32", 32, 128, "asia-southeast1", 1.44878, 0.60282),
    # N1 (the n1-340-48-tpu host shape is an ordinary N1 shape: 48 vCPUs, 340 GiB)
    ("n1", "n1-340-48-tpu", 48, 340, "us-central1", 2.95791, 0.80756),
    ("n1", "n1-340-48-tpu", 48, 340, "us-east1", 2.95791, 0.80756),
    ("n1", "n1-340-48-tpu", 48, 340, "us-east4", 3.33118, 0.68906),
    ("n1", "n1-340-48-tpu", 48, 340, "us-west1", 2.95791, 0.80756),
    ("n1", "n1-340-48-tpu", 48, 340, "europe-west1", 3.25384, 0.97316),
    ("n1", "n1-340-48-tpu", 48, 340, "europe-west4", 3.25626, 1.3026),
    ("n1", "n1-340-48-tpu", 48, 340, "asia-east1", 3.42494, 0.5546),
    ("n1", "n1-340-48-tpu", 48, 340, "asia-southeast1", 3.64879, 0.60288),
    ("n1", "n1-highcpu-16", 16, 14.4, "asia-east1", 0.65628, 0.10631),
    # N2
    ("n2", "n2-highmem-80", 80, 640, "us-central1", 5.24056, 1.71296),
    ("n2", "n2-highmem-80", 80, 640, "us-east1", 5.24056, 1.71296),
    ("n2", "n2-highmem-80", 80, 640, "us-east4", 5.90184, 1.30256),
    ("n2", "n2-highmem-80", 80, 640, "us-west1", 5.24056, 1.71296),
    ("n2", "n2-highmem-80", 80, 640, "europe-west1", 5.76488, 0.82528),
    ("n2", "n2-highmem-80", 80, 640, "europe-west4", 5.76912, 2.0096),
    ("n2", "n2-highmem-80", 80, 640, "asia-east1", 6.068, 1.7448),
    ("n2", "n2-highmem-80", 80, 640, "asia-southeast1", 6.46456, 2.30848),
    ("n2", "n2-highmem-8", 8, 64, "us-central1", 0.52406, 0.1713),
    # N2D
    ("n2d", "n2d-standard-224", 224, 896, "us-central1", 9.4631, 1.96358),
    ("n2d", "n2d-standard-224", 224, 896, "us-east1", 9.4631, 1.96358),
    ("n2d", "n2d-standard-224", 224, 896, "us-east4", 10.65792, 3.1033),
    ("n2d", "n2d-standard-224", 224, 896, "us-west1", 9.4631, 1.96358),
    ("n2d", "n2d-standard-224", 224, 896, "europe-west1", 10.40995, 4.17222),
    ("n2d", "n2d-standard-224", 224, 896, "europe-west4", 10.41824, 1.82605),
    ("n2d", "n2d-standard-224", 224, 896, "asia-southeast1", 11.67421, 2.17997),
    ("n2d", "n2d-standard-32", 32, 128, "us-central1", 1.35187, 0.28051),
    ("n2d", "n2d-standard-32", 32, 128, "us-east4", 1.52256, 0.44333),
    ("n2d", "n2d-standard-32", 32, 128, "europe-west1", 1.48714, 0.59603),
    ("n2d", "n2d-standard-32", 32, 128, "europe-west4", 1.48832, 0.26086),
    ("n2d", "n2d-standard-32", 32, 128, "asia-east1", 1.56531, 0.71846),
    ("n2d", "n2d-standard-32", 32, 128, "asia-southeast1", 1.66774, 0.31142),
    # T2D
    ("t2d", "t2d-standard-8", 8, 32, "us-central1", 0.33797, 0.06419),
    ("t2d", "t2d-standard-8", 8, 32, "us-east1", 0.33797, 0.06419),
    ("t2d", "t2d-standard-8", 8, 32, "us-east4", 0.38064, 0.0861),
    ("t2d", "t2d-standard-8", 8, 32, "us-west1", 0.33797, 0.06419),
    ("t2d", "t2d-standard-8", 8, 32, "europe-west1", 0.37178, 0.06544),
    ("t2d", "t2d-standard-8", 8, 32, "europe-west4", 0.37208, 0.09216),
    ("t2d", "t2d-standard-8", 8, 32, "asia-east1", 0.39133, 0.05648),
    ("t2d", "t2d-standard-8", 8, 32, "asia-southeast1", 0.41694, 0.07723),
]

# Google's published us-central1 split per vCPU / per GiB ($/h) for each family. The script
# scales each pair to reproduce the family's us-central1 rows (the scale stays within 0.1 %).
BASE_SPLIT: dict[str, tuple[float, float]] = {
    "e2": (0.021811, 0.002923),
    "n1": (0.031611, 0.004237),
    "n2": (0.031611, 0.004237),
    "n2d": (0.027502, 0.003686),
    "c2": (0.03398, 0.00455),
    "c3": (0.03465, 0.003938),
    "t2d": (0.027502, 0.003686),
    "a2": (0.031611, 0.004237),
    # A3 and G2 shapes all have one GiB-per-vCPU ratio (9 and 4), so the split never changes a
    # price; N1's core:RAM ratio is used for them.
    "a3": (0.031611, 0.004237),
    "g2": (0.031611, 0.004237),
}
# Families whose split above is only a core:RAM ratio (scaled freely to fit the source rows).
RATIO_ONLY = {"a3", "g2"}

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

# Persistent disk, $ per GB-month (Google's list prices). Regions not listed cost what
# us-central1 costs; us-east4, europe-west4 and asia-southeast1 are 10 % higher.
DISK_US_CENTRAL1 = {"pd-standard": 0.04, "pd-balanced": 0.10, "pd-ssd": 0.17}
DISK_REGION_FACTOR = {"us-east4": 1.1, "europe-west4": 1.1, "asia-southeast1": 1.1}

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

# Predefined shapes: family → {class: (GiB per vCPU, [vCPU counts])}
SHAPES: dict[str, dict[str, tuple[float, list[int]]]] = {
    "e2": {
        "standard": (4, [2, 4, 8, 16, 32]),
        "highmem": (8, [2, 4, 8, 16]),
        "highcpu": (1, [2, 4, 8, 16, 32]),
    },
    "n1": {
        "standard": (3.75, [1, 2, 4, 8, 16, 32, 64, 96]),
        "highmem": (6.5, [2, 4, 8, 16, 32, 64, 96]),
        "highcpu": (0.9, [2, 4, 8, 16, 32, 64, 96]),
    },
    "n2": {
        "standard": (4, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128]),
        "highmem": (8, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128]),
        "highcpu": (1, [2, 4, 8, 16, 32, 48, 64, 80, 96]),
    },
    "n2d": {
        "standard": (4, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224]),
        "highmem": (8, [2, 4, 8, 16, 32, 48, 64, 80, 96]),
        "highcpu": (1, [2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224]),
    },
    "c2": {"standard": (4, [4, 8, 16, 30, 60])},
    "c3": {
        "standard": (4, [4, 8, 22, 44, 88, 176]),
        "highmem": (8, [4, 8, 22, 44, 88, 176]),
        "highcpu": (2, [4, 8, 22, 44, 88, 176]),
    },
    "t2d": {"standard": (4, [1, 2, 4, 8, 16, 32, 48, 60])},
}

# Shared-core E2: billed as a fraction of a vCPU (Google's e2 shared-core pricing).
SHARED_CORE = {
    "e2-micro": (0.25, 1.0),
    "e2-small": (0.5, 2.0),
    "e2-medium": (1.0, 4.0),
}

# Accelerator-optimised shapes: (vCPUs, GiB, [(GPU, count)]). Prices include their GPUs.
ACCELERATOR_SHAPES: dict[str, tuple[int, float, list[tuple[str, int]]]] = {
    "a2-highgpu-1g": (12, 85, [("nvidia-tesla-a100", 1)]),
    "a2-highgpu-2g": (24, 170, [("nvidia-tesla-a100", 2)]),
    "a2-highgpu-4g": (48, 340, [("nvidia-tesla-a100", 4)]),
    "a2-highgpu-8g": (96, 680, [("nvidia-tesla-a100", 8)]),
    "a2-megagpu-16g": (96, 1360, [("nvidia-tesla-a100", 16)]),
    "a2-ultragpu-1g": (12, 170, [("nvidia-a100-80gb", 1)]),
    "a2-ultragpu-2g": (24, 340, [("nvidia-a100-80gb", 2)]),
    "a2-ultragpu-4g": (48, 680, [("nvidia-a100-80gb", 4)]),
    "a2-ultragpu-8g": (96, 1360, [("nvidia-a100-80gb", 8)]),
    "a3-highgpu-1g": (26, 234, [("nvidia-h100-80gb", 1)]),
    "a3-highgpu-2g": (52, 468, [("nvidia-h100-80gb", 2)]),
    "a3-highgpu-4g": (104, 936, [("nvidia-h100-80gb", 4)]),
    "a3-highgpu-8g": (208, 1872, [("nvidia-h100-80gb", 8)]),
    # The H100 "Mega" GPU has its own price, not in this catalog: the shape says "price unknown".
    "a3-megagpu-8g": (208, 1872, [("nvidia-h100-mega-80gb", 8)]),
    "g2-standard-4": (4, 16, [("nvidia-l4", 1)]),
    "g2-standard-8": (8, 32, [("nvidia-l4", 1)]),
    "g2-standard-12": (12, 48, [("nvidia-l4", 1)]),
    "g2-standard-16": (16, 64, [("nvidia-l4", 1)]),
    "g2-standard-24": (24, 96, [("nvidia-l4", 2)]),
    "g2-standard-32": (32, 128, [("nvidia-l4", 1)]),
    "g2-standard-48": (48, 192, [("nvidia-l4", 4)]),
    "g2-standard-96": (96, 384, [("nvidia-l4", 8)]),
}


def _r(value: float) -> float:
    return round(value, 9)


def family_rates(notes: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    families: dict[str, dict[str, dict[str, float]]] = {}
    for family, (vcpu, gib) in BASE_SPLIT.items():
        rows = [r for r in ROWS if r[0] == family]
        central = [r for r in rows if r[4] == "us-central1"]
        if not central:
            raise SystemExit(f"{family}: no us-central1 row")
        split_total = sum(r[2] * vcpu + r[3] * gib for r in central)
        scale = sum(r[5] for r in central) / split_total
        if family not in RATIO_ONLY and abs(scale - 1) > 0.001:
            raise SystemExit(f"{family}: published split disagrees with the source ({scale:.5f})")
        vcpu, gib = vcpu * scale, gib * scale
        for r in central:  # every us-central1 row is reproduced to the tenth of a cent
            if abs(r[2] * vcpu + r[3] * gib - r[5]) > 0.001:
                raise SystemExit(f"{r[1]}: rates do not reproduce {r[5]}")
        regions: dict[str, dict[str, float]] = {}
        for region in REGIONS:
            here = [r for r in rows if r[4] == region]
            if not here:
                continue
            base = sum(r[2] * vcpu + r[3] * gib for r in here)
            multiplier = sum(r[5] for r in here) / base
            spot_ratio = sum(r[6] for r in here) / sum(r[5] for r in here)
            regions[region] = {
                "vcpu": _r(vcpu * multiplier),
                "gib": _r(gib * multiplier),
                "spot_vcpu": _r(vcpu * multiplier * spot_ratio),
                "spot_gib": _r(gib * multiplier * spot_ratio),
            }
        missing = [r for r in REGIONS if r not in regions]
        if missing:
            notes.append(f"{family.upper()} is not priced in {', '.join(missing)} (not offered).")
        families[family] = {"custom_multiplier": CUSTOM_MULTIPLIER.get(family), "regions": regions}  # type: ignore[dict-item]
    return families


def gpu_prices(
    families: dict[str, dict[str, dict[str, float]]], notes: list[str]
) -> dict[str, object]:
    def multiplier(family: str, region: str) -> float | None:
        regions = families[family]["regions"]
        central, here = regions.get("us-central1"), regions.get(region)
        if not central or not here:
            return None
        return here["vcpu"] / central["vcpu"]  # type: ignore[index]

    gpus: dict[str, object] = {}
    for gpu, label in GPU_LABELS.items():
        base, why = GPU_BASE[gpu]
        regions: dict[str, dict[str, float]] = {}
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
            regions[region] = {"on_demand": _r(per_gpu), "spot": _r(spot_per_gpu)}
        if replaced:
            notes.append(
                f"{label}: source rows inconsistent with the rest were replaced by "
                f"{base} $/h (us-central1: {why}) × the {GPU_HOST[gpu].upper()} regional "
                f"multiplier: {'; '.join(replaced)}."
            )
        gpus[gpu] = {"label": label, "regions": regions}
    return gpus


def machine_types() -> dict[str, dict[str, object]]:
    shapes: dict[str, dict[str, object]] = {}
    for family, classes in SHAPES.items():
        for cls, (ratio, counts) in classes.items():
            for n in counts:
                shapes[f"{family}-{cls}-{n}"] = {"vcpus": n, "memory_gib": round(n * ratio, 3)}
    for name, (vcpus, gib) in SHARED_CORE.items():
        shapes[name] = {"vcpus": vcpus, "memory_gib": gib, "shared_core": True}
    for name, (vcpus, gib, gpus) in ACCELERATOR_SHAPES.items():
        shapes[name] = {"vcpus": vcpus, "memory_gib": gib, "gpus": dict(gpus)}
    return dict(sorted(shapes.items()))


def disks() -> dict[str, dict[str, float]]:
    return {
        kind: {r: _r(price * DISK_REGION_FACTOR.get(r, 1.0)) for r in REGIONS}
        for kind, price in DISK_US_CENTRAL1.items()
    }


def build() -> dict[str, object]:
    notes: list[str] = [
        "On-demand and spot list prices in USD. Not included: sustained-use and committed-use "
        "discounts, network egress, OS/image licences, static IPs, snapshots, taxes.",
        "Machine prices = vCPUs × per-vCPU rate + GiB × per-GiB rate per family and region, fitted "
        "to the source rows; other regions follow the source's regional multiplier per family.",
        "Spot prices change often (Google may change them up to once a day); treat them as a guide.",
        "Custom shapes (e2/n1/n2/n2d-custom-…) are priced at the predefined rates + 5 %.",
        "Disks: us-central1 list prices per GB-month; us-east4, europe-west4 and asia-southeast1 "
        "are 10 % higher.",
        f"Vertex AI custom training is estimated as Compute Engine price × {VERTEX_MULTIPLIER}.",
    ]
    families = family_rates(notes)
    gpus = gpu_prices(families, notes)
    return {
        "schema": 1,
        "source": SOURCE,
        "source_url": SOURCE_URL,
        "as_of": AS_OF,
        "currency": "USD",
        "hours_per_month": 730,
        "regions": REGIONS,
        "notes": notes,
        "families": families,
        "gpus": gpus,
        "machine_types": machine_types(),
        "disks": disks(),
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
