"""Cloud Billing Catalog API v1 (`GET /v1/services/{service}/skus`), generated from the catalog.

The SKUs are made from cloudpane's bundled price catalog in Google's own shape and wording
("N1 Predefined Instance Core running in Americas", `category.resourceGroup`, `usageType`
"OnDemand"/"Preemptible", `serviceRegions`, `pricingInfo[].pricingExpression.tieredRates[]
.unitPrice{units, nanos}`), regions with one price share a SKU as Google's do, and a few SKUs
cloudpane must ignore (commitments, custom cores, egress, licences) are mixed in. So
`cloudpane prices refresh` runs through google-cloud-billing's real REST client in tests.

`POST /_sandbox/billing {"price_factor": 1.1, "effective_time": "2027-01-01T00:00:00Z"}` makes
the sandbox's prices differ from the bundled ones (to see a refresh change something).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError

COMPUTE_SERVICE_ID = "6F81-5844-456A"
SERVICE_NAME = "Compute Engine"
MAX_PAGE_SIZE = 5000

# Where Google's SKU descriptions say a region's price applies.
REGION_GEO = {
    "us-central1": "Americas",
    "us-east1": "Americas",
    "us-west1": "Americas",
    "us-east4": "Virginia",
    "europe-west1": "Belgium",
    "europe-west4": "Netherlands",
    "asia-east1": "Taiwan",
    "asia-southeast1": "Singapore",
}

# family → (description stem, resourceGroup of core, resourceGroup of RAM)
FAMILY_SKUS = {
    "e2": ("E2 Instance", "CPU", "RAM"),
    "n1": ("N1 Predefined Instance", "N1Standard", "N1Standard"),
    "n2": ("N2 Instance", "CPU", "RAM"),
    "n2d": ("N2D AMD Instance", "CPU", "RAM"),
    "c2": ("Compute optimized", "CPU", "RAM"),
    "c3": ("C3 Instance", "CPU", "RAM"),
    "t2d": ("T2D AMD Instance", "CPU", "RAM"),
    "a2": ("A2 Instance", "CPU", "RAM"),
    "a3": ("A3 Instance", "CPU", "RAM"),
    "g2": ("G2 Instance", "CPU", "RAM"),
}

GPU_SKUS = {
    "nvidia-tesla-t4": "Nvidia Tesla T4 GPU",
    "nvidia-tesla-p4": "Nvidia Tesla P4 GPU",
    "nvidia-tesla-p100": "Nvidia Tesla P100 GPU",
    "nvidia-tesla-v100": "Nvidia Tesla V100 GPU",
    "nvidia-l4": "Nvidia L4 GPU",
    "nvidia-tesla-a100": "Nvidia Tesla A100 GPU",
    "nvidia-a100-80gb": "Nvidia Tesla A100 80GB GPU",
    "nvidia-h100-80gb": "Nvidia H100 80GB GPU",
}

# disk type → (description, resourceGroup)
DISK_SKUS = {
    "pd-standard": ("Storage PD Capacity", "PDStandard"),
    "pd-balanced": ("Balanced PD Capacity", "SSD"),
    "pd-ssd": ("SSD backed PD Capacity", "SSD"),
}

SETTINGS_KIND = "billing"


def _money(value: float) -> dict[str, Any]:
    units = int(value)
    nanos = round((value - units) * 1e9)
    if nanos >= 1_000_000_000:
        units, nanos = units + 1, nanos - 1_000_000_000
    return {"currencyCode": "USD", "units": str(units), "nanos": nanos}


def _sku_id(description: str) -> str:
    digest = hashlib.sha1(description.encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}-{digest[8:12]}"


def _sku(
    description: str,
    family: str,
    group: str,
    usage_type: str,
    regions: list[str],
    unit: str,
    unit_description: str,
    price: float,
    effective_time: str,
) -> dict[str, Any]:
    sku_id = _sku_id(description)
    return {
        "name": f"services/{COMPUTE_SERVICE_ID}/skus/{sku_id}",
        "skuId": sku_id,
        "description": description,
        "category": {
            "serviceDisplayName": SERVICE_NAME,
            "resourceFamily": family,
            "resourceGroup": group,
            "usageType": usage_type,
        },
        "serviceRegions": regions,
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": unit,
                    "usageUnitDescription": unit_description,
                    "displayQuantity": 1,
                    "tieredRates": [{"startUsageAmount": 0, "unitPrice": _money(price)}],
                },
                "currencyConversionRate": 1,
                "effectiveTime": effective_time,
            }
        ],
        "serviceProviderName": "Google",
    }


def _grouped(prices: dict[str, float]) -> list[tuple[str, list[str], float]]:
    """Regions with the same price and place share one SKU, as Google's do."""
    groups: dict[tuple[str, float], list[str]] = defaultdict(list)
    for region, price in sorted(prices.items()):
        groups[(REGION_GEO.get(region, region), round(price, 9))].append(region)
    return [(geo, regions, price) for (geo, price), regions in groups.items()]


def build_skus(catalog: dict[str, Any], factor: float, effective_time: str) -> list[dict[str, Any]]:
    """All SKUs for the catalog's prices × `factor`, sorted by description like Google's."""
    skus: list[dict[str, Any]] = []

    def add(stem: str, resource: str, group: str, unit: str, unit_desc: str, prices: dict) -> None:
        for spot in (False, True):
            chosen = {r: p[1] if spot else p[0] for r, p in prices.items() if p[spot] is not None}
            for geo, regions, price in _grouped(chosen):
                prefix = "Spot Preemptible " if spot else ""
                skus.append(
                    _sku(
                        f"{prefix}{stem} running in {geo}",
                        resource,
                        group,
                        "Preemptible" if spot else "OnDemand",
                        regions,
                        unit,
                        unit_desc,
                        price * factor,
                        effective_time,
                    )
                )

    for family, (stem, core_group, ram_group) in FAMILY_SKUS.items():
        regions = catalog["families"].get(family, {}).get("regions", {})
        cores = {r: (v["vcpu"], v.get("spot_vcpu")) for r, v in regions.items()}
        rams = {r: (v["gib"], v.get("spot_gib")) for r, v in regions.items()}
        add(f"{stem} Core", "Compute", core_group, "h", "hour", cores)
        add(f"{stem} Ram", "Compute", ram_group, "GiBy.h", "gibibyte hour", rams)
    for gpu, stem in GPU_SKUS.items():
        regions = catalog["gpus"].get(gpu, {}).get("regions", {})
        add(
            stem,
            "Compute",
            "GPU",
            "h",
            "hour",
            {r: (v["on_demand"], v.get("spot")) for r, v in regions.items()},
        )
    for disk, (description, group) in DISK_SKUS.items():
        for geo, regions, price in _grouped(catalog["disks"].get(disk, {})):
            where = "" if geo == "Americas" else f" in {geo}"
            skus.append(
                _sku(
                    f"{description}{where}",
                    "Storage",
                    group,
                    "OnDemand",
                    regions,
                    "GiBy.mo",
                    "gibibyte month",
                    price * factor,
                    effective_time,
                )
            )
    # What a real price list also holds and a reader must skip.
    skus += [
        _sku(
            "Commitment v1: N1 Core in Americas for 1 Year",
            "Compute",
            "N1Standard",
            "Commit1Yr",
            ["us-central1", "us-east1", "us-west1"],
            "h",
            "hour",
            0.019915,
            effective_time,
        ),
        _sku(
            "Custom Instance Core running in Americas",
            "Compute",
            "CPU",
            "OnDemand",
            ["us-central1", "us-east1", "us-west1"],
            "h",
            "hour",
            0.033174,
            effective_time,
        ),
        _sku(
            "Network Internet Egress from Americas to EMEA",
            "Network",
            "PremiumInternetEgress",
            "OnDemand",
            ["us-central1"],
            "GiBy",
            "gibibyte",
            0.12,
            effective_time,
        ),
        _sku(
            "Licensing Fee for Windows Server 2022 Datacenter Edition (CPU cost)",
            "License",
            "Windows",
            "OnDemand",
            ["global"],
            "h",
            "hour",
            0.046,
            effective_time,
        ),
    ]
    skus.sort(key=lambda s: s["description"])
    return skus


@lru_cache(maxsize=4)
def _bundled_catalog_text() -> str:
    from tui.services.pricing import BUNDLED_PATH

    return BUNDLED_PATH.read_text(encoding="utf-8")


def _settings(ctx: SandboxContext) -> dict[str, Any]:
    stored = ctx.store.get(SETTINGS_KIND, "settings") or {}
    catalog = json.loads(_bundled_catalog_text())
    return {
        "price_factor": float(stored.get("price_factor", 1.0)),
        "effective_time": str(stored.get("effective_time", f"{catalog['as_of']}T00:00:00Z")),
    }


@lru_cache(maxsize=8)
def _skus_for(factor: float, effective_time: str) -> tuple[dict[str, Any], ...]:
    """Built once per setting; pages are slices of it (never mutated)."""
    return tuple(build_skus(json.loads(_bundled_catalog_text()), factor, effective_time))


def _all_skus(ctx: SandboxContext) -> tuple[dict[str, Any], ...]:
    settings = _settings(ctx)
    return _skus_for(settings["price_factor"], settings["effective_time"])


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    async def list_skus(request: Request) -> Response:
        service = request.path_params["service"]
        if service != COMPUTE_SERVICE_ID:
            raise ApiError(
                404,
                f"Service services/{service} not found (the sandbox prices only Compute Engine).",
            )
        try:
            size = int(request.query_params.get("pageSize", MAX_PAGE_SIZE) or MAX_PAGE_SIZE)
            start = int(request.query_params.get("pageToken", "0") or "0")
        except ValueError as exc:
            raise ApiError(400, f"Invalid pageSize or pageToken: {exc}") from exc
        if size <= 0 or start < 0:
            raise ApiError(400, "pageSize must be positive and pageToken a token from a response")
        currency = request.query_params.get("currencyCode", "USD")
        if currency != "USD":
            raise ApiError(400, f"The sandbox prices only in USD, not {currency}.")
        skus = _all_skus(ctx)
        page = skus[start : start + min(size, MAX_PAGE_SIZE)]
        body: dict[str, Any] = {"skus": list(page)}
        end = start + len(page)
        body["nextPageToken"] = str(end) if end < len(skus) else ""
        return JSONResponse(body)

    async def settings(request: Request) -> Response:
        if request.method == "POST":
            try:
                data = await request.json()
                factor = float(data.get("price_factor", 1.0))
                effective = data.get("effective_time")
            except (ValueError, TypeError, AttributeError) as exc:
                raise ApiError(400, f"Expected {{price_factor, effective_time}}: {exc}") from exc
            if factor <= 0:
                raise ApiError(400, "price_factor must be positive")
            stored: dict[str, Any] = {"price_factor": factor}
            if effective:
                stored["effective_time"] = str(effective)
            ctx.store.put(SETTINGS_KIND, "settings", stored)
        return JSONResponse(_settings(ctx))

    return [
        Route("/v1/services/{service}/skus", list_skus, methods=["GET"]),
        Route("/_sandbox/billing", settings, methods=["GET", "POST"]),
    ]


def reset(ctx: SandboxContext) -> None:
    """Back to the bundled prices."""
    ctx.store.delete(SETTINGS_KIND, "settings")
