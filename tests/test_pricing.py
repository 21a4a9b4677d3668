"""Price catalog and cost arithmetic, with a fake clock (every `now` is passed in)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tui.services import pricing
from tui.services.models import Accelerator, Disk, Image, Instance, InstanceSpec
from tui.services.pricing import (
    BUNDLED_PATH,
    HOURS_PER_MONTH,
    CostSettings,
    PriceCatalog,
    RunLedger,
    SettingsError,
)

UTC = timezone.utc
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.from_file(BUNDLED_PATH)


def vm(
    name: str = "vm-1",
    machine_type: str = "n1-standard-4",
    status: str = "RUNNING",
    *,
    zone: str = "us-central1-a",
    last_start: datetime | None = None,
    last_stop: datetime | None = None,
    created: datetime | None = None,
    spot: bool = False,
    accelerators: tuple[Accelerator, ...] = (),
    disks: tuple[Disk, ...] = (Disk("boot", 100, "pd-balanced", True),),
) -> Instance:
    return Instance(
        id=f"id-{name}",
        name=name,
        zone=zone,
        status=status,
        machine_type=machine_type,
        accelerators=accelerators,
        created=created,
        last_start=last_start,
        last_stop=last_stop,
        spot=spot,
        disks=disks,
    )


# -- prices against reference figures ---------------------------------------------------------
# Reference: /work/shared/reference/gcp-prices.md — on-demand, us-central1, USD per hour, from
# skypilot-catalog `catalogs/v8/gcp/vms.csv` (built from the Cloud Billing Catalog API). The
# bundled catalog now comes from another reading of that API (Cyclenerd's pricing.yml, 2026-07-30)
# and must still agree. Machine rows there exclude GPUs; cloudpane's a2/g2 prices include their
# bundled GPU, so those are host + GPU.
REFERENCE_MACHINES = [
    ("e2-standard-4", (), 0.13402),
    ("n1-standard-2", (), 0.095),
    ("n1-standard-16", (), 0.76),
    ("n1-standard-8", (), 0.38),  # "N1 is linear in vCPUs: n1-standard-8 ≈ 0.38"
    ("n1-standard-8", (("nvidia-tesla-t4", 1),), 0.73),  # "0.38 + 0.35 = 0.73 $/h"
    ("a2-highgpu-1g", (), 0.73948 + 2.93391),  # host + A100 40 GB ("about 3.67 $/h")
    ("g2-standard-4", (), 0.14679 + 0.56004),  # host + L4 ("about 0.71 $/h")
]
REFERENCE_GPUS = [
    ("nvidia-tesla-t4", 0.35),
    ("nvidia-tesla-v100", 2.48),
    ("nvidia-tesla-a100", 2.93391),
    ("nvidia-l4", 0.56004),
]


@pytest.mark.parametrize(("machine_type", "gpus", "expected"), REFERENCE_MACHINES)
def test_machine_prices_match_reference_to_the_cent(
    catalog: PriceCatalog, machine_type: str, gpus: tuple, expected: float
) -> None:
    price = catalog.instance_hourly(machine_type, "us-central1", accelerators=gpus)
    assert price is not None
    assert abs(price - expected) < 0.005  # agrees to the cent …
    assert price == pytest.approx(expected, abs=0.0005)  # … and to a twentieth of a cent


@pytest.mark.parametrize(("gpu", "expected"), REFERENCE_GPUS)
def test_gpu_prices_match_reference(catalog: PriceCatalog, gpu: str, expected: float) -> None:
    assert catalog.gpu_hourly(gpu, "us-central1") == pytest.approx(expected, abs=1e-6)


def test_reference_v100_eight_gpu_row(catalog: PriceCatalog) -> None:
    # Reference: "NVIDIA V100 (per GPU) 2.48 — 8× row 19.84"
    assert 8 * (catalog.gpu_hourly("nvidia-tesla-v100", "us-central1") or 0) == pytest.approx(19.84)


def test_known_oddities_of_the_source_are_corrected_not_copied(catalog: PriceCatalog) -> None:
    # The reference warns: the source's A100 80 GB row for us-central1 (1.8462) is below the
    # 40 GB card, and its H100 varies between 4.20 and 9.80. The catalog must not inherit that.
    a100_40 = catalog.gpu_hourly("nvidia-tesla-a100", "us-central1") or 0
    a100_80 = catalog.gpu_hourly("nvidia-a100-80gb", "us-central1") or 0
    assert a100_80 > a100_40
    assert catalog.gpu_hourly("nvidia-h100-80gb", "us-central1") == pytest.approx(9.79655)
    assert any("A100 80GB" in note for note in catalog.notes)
    assert any("H100" in note for note in catalog.notes)


def test_catalog_is_dated_and_sourced(catalog: PriceCatalog) -> None:
    assert catalog.as_of.isoformat() == "2026-07-30"
    assert "Cyclenerd/google-cloud-pricing-cost-calculator" in catalog.source
    assert "Cloud Billing Catalog API" in catalog.source
    assert "2026-07-30" in catalog.label and "bundled" in catalog.short_label
    assert any("egress" in note for note in catalog.notes)


def test_bundled_catalog_is_what_the_generator_builds() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_price_catalog
    finally:
        sys.path.pop(0)
    assert build_price_catalog.main(["--check"]) == 0


REQUIRED_REGIONS = [
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "europe-west1",
    "europe-west4",
    "asia-east1",
    "asia-southeast1",
]


@pytest.mark.parametrize("region", REQUIRED_REGIONS)
@pytest.mark.parametrize(
    "machine_type",
    [
        "e2-standard-4",
        "n1-standard-4",
        "n2-standard-4",
        "n2d-standard-4",
        "c2-standard-4",
        "c3-standard-4",
        "t2d-standard-4",
        "g2-standard-4",
    ],
)
def test_general_families_priced_in_every_region_spot_cheaper(
    catalog: PriceCatalog, machine_type: str, region: str
) -> None:
    on_demand = catalog.instance_hourly(machine_type, region)
    spot = catalog.instance_hourly(machine_type, region, spot=True)
    assert on_demand is not None and spot is not None
    assert 0 < spot < on_demand


def test_regional_prices_follow_the_source_rows(catalog: PriceCatalog) -> None:
    # Source rows (Cyclenerd pricing.yml @ fd66b26): n2-highmem-80 europe-west4 5.76912 / spot
    # 2.09744; e2-highmem-16 asia-east1 0.837384; c3-highmem-4 us-east4 0.264616.
    assert catalog.instance_hourly("n2-highmem-80", "europe-west4") == pytest.approx(
        5.76912, abs=1e-4
    )
    assert catalog.instance_hourly("n2-highmem-80", "europe-west4", spot=True) == pytest.approx(
        2.09744, abs=1e-4
    )
    assert catalog.instance_hourly("e2-highmem-16", "asia-east1") == pytest.approx(
        0.837384, abs=1e-4
    )
    assert catalog.instance_hourly("c3-highmem-4", "us-east4") == pytest.approx(0.264616, abs=1e-4)


# (machine type, region, on-demand $/h) — rows of the source (Cyclenerd pricing.yml @ fd66b26,
# from the Cloud Billing Catalog API): current families and regions the old catalog lacked.
CURRENT_FAMILIES = [
    ("n4-standard-8", "europe-west2", 0.413592),
    ("c4-highmem-16", "us-central1", 1.042712),
    ("c3d-standard-16", "europe-west4", 0.7627032),
    ("a3-highgpu-8g", "us-central1", 88.4899999),  # 8 H100s and local SSD included
    ("g4-standard-48", "europe-west4", 4.949923),  # G4: one RTX PRO 6000 included
    ("h3-standard-88", "europe-west4", 5.16978),
    ("m3-ultramem-32", "us-central1", 6.0912),
    ("n1-standard-4", "europe-west2", 0.24479),
    ("n1-standard-4", "me-west1", 0.2089989),
    ("n2-standard-4", "me-west1", 0.2136596),
]


@pytest.mark.parametrize(("machine_type", "region", "hourly"), CURRENT_FAMILIES)
def test_current_families_and_regions_have_their_source_price(
    catalog: PriceCatalog, machine_type: str, region: str, hourly: float
) -> None:
    assert catalog.instance_hourly(machine_type, region) == pytest.approx(hourly, rel=1e-4)


def test_every_compute_region_prices_the_general_purpose_families(catalog: PriceCatalog) -> None:
    assert len(catalog.regions) >= 40 and {"europe-west2", "me-west1"} <= set(catalog.regions)
    general = ("e2-standard-4", "n1-standard-4", "n2-standard-4", "n4-standard-4", "c4-standard-4")
    unpriced = [
        region
        for region in catalog.regions
        if all(catalog.instance_hourly(m, region) is None for m in general)
    ]
    assert unpriced == []  # (newer regions sell only some families: not every one everywhere)
    # A T4 on an N1 in europe-west2: derived from the us-central1 T4 price (the notes say so).
    assert catalog.instance_hourly(
        "n1-standard-4", "europe-west2", accelerators=[("nvidia-tesla-t4", 1)]
    ) == pytest.approx(0.24479 + 0.35 * 0.24479 / 0.189999, rel=1e-3)
    assert any("DERIVED" in note for note in catalog.notes)


def test_n1_and_custom_shapes_are_priced_from_rates(catalog: PriceCatalog) -> None:
    vcpu, gib = 0.031611, 0.004237  # N1 us-central1 per vCPU-hour and GiB-hour
    assert catalog.instance_hourly("n1-highmem-4", "us-central1") == pytest.approx(
        4 * vcpu + 26 * gib, abs=1e-5
    )
    # custom-4-5120: 4 vCPUs, 5 GiB, custom machine types cost 5 % more
    assert catalog.instance_hourly("custom-4-5120", "us-central1") == pytest.approx(
        (4 * vcpu + 5 * gib) * 1.05, abs=1e-5
    )
    assert catalog.instance_hourly("n2-custom-2-8192-ext", "us-central1") == pytest.approx(
        (2 * vcpu + 8 * gib) * 1.05, abs=1e-5
    )
    shape = catalog.shape("zones/us-central1-a/machineTypes/e2-custom-6-12288")
    assert shape is not None and shape.custom and shape.vcpus == 6 and shape.memory_gib == 12


@pytest.mark.parametrize(
    ("machine_type", "region", "gpus"),
    [
        ("n9-standard-4", "us-central1", ()),  # no such family
        ("n1-standard-4", "mars-north1", ()),  # no such region
        ("c2-custom-4-8192", "us-central1", ()),  # C2 has no custom shapes
        ("a3-megagpu-8g", "us-central1", ()),  # H100 Mega GPU not in the catalog
        ("a2-highgpu-1g", "mars-north1", ()),  # no such region
        ("a4-highgpu-8g", "us-central1", ()),  # A4 (B200) is not in the source
        ("n1-standard-4", "us-central1", (("nvidia-future-x", 1),)),
    ],
)
def test_unknown_is_none_never_zero(
    catalog: PriceCatalog, machine_type: str, region: str, gpus: tuple
) -> None:
    assert catalog.instance_hourly(machine_type, region, accelerators=gpus) is None
    assert pricing.format_money(None) == "price unknown"
    assert pricing.format_rate(None) == "price unknown"


def test_bundled_gpus_are_counted_once(catalog: PriceCatalog) -> None:
    # Compute Engine lists an a2's A100 in guestAccelerators too.
    alone = catalog.instance_hourly("a2-highgpu-2g", "us-central1")
    listed = catalog.instance_hourly(
        "a2-highgpu-2g", "us-central1", accelerators=[Accelerator("nvidia-tesla-a100", 2)]
    )
    assert alone == listed
    assert alone == pytest.approx(24 * 0.031611 + 170 * 0.004237 + 2 * 2.93391, abs=1e-4)
    assert catalog.gpu_count(vm(machine_type="g2-standard-48")) == 4


def test_attached_gpus_add_their_price(catalog: PriceCatalog) -> None:
    base = catalog.instance_hourly("n1-standard-4", "us-central1") or 0
    two_v100 = catalog.instance_hourly(
        "n1-standard-4", "us-central1", accelerators=[("nvidia-tesla-v100", 2)]
    )
    assert two_v100 == pytest.approx(base + 2 * 2.48)


def test_disk_prices_per_gb_month(catalog: PriceCatalog) -> None:
    assert catalog.disk_monthly("pd-standard", 100, "us-central1") == pytest.approx(4.00)
    assert catalog.disk_monthly("pd-balanced", 100, "us-central1") == pytest.approx(10.00)
    assert catalog.disk_monthly("pd-ssd", 100, "us-central1") == pytest.approx(17.00)
    assert catalog.disk_monthly("pd-ssd", 100, "europe-west4") == pytest.approx(18.70)
    assert catalog.disk_monthly("hyperdisk-extreme", 100, "us-central1") is None
    inst = vm(disks=(Disk("boot", 50, "pd-balanced", True), Disk("data", 200, "pd-standard")))
    assert pricing.stopped_disks_monthly(inst, catalog) == pytest.approx(5 + 8)


def test_spec_hourly_includes_gpu_and_disk(catalog: PriceCatalog) -> None:
    spec = InstanceSpec(
        name="train",
        zone="us-central1-b",
        machine_type="n1-standard-8",
        image=Image("deeplearning-platform-release", "common-cu121"),
        disk_size_gb=100,
        disk_type="pd-balanced",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )
    breakdown = catalog.spec_breakdown(spec)
    assert breakdown.compute_hourly == pytest.approx(0.73, abs=0.001)
    assert breakdown.disk_monthly == pytest.approx(10.0)
    assert catalog.spec_hourly(spec) == pytest.approx(0.73 + 10 / HOURS_PER_MONTH, abs=0.001)
    unknown = InstanceSpec("x", "us-central1-b", "zz-standard-2", spec.image)
    assert catalog.spec_hourly(unknown) is None


def test_vertex_training_estimate(catalog: PriceCatalog) -> None:
    # Vertex AI custom training, us-central1: n1-standard-4 $0.21849/h, T4 $0.4025/h (× 1.15).
    assert catalog.vertex_hourly("n1-standard-4", "us-central1") == pytest.approx(
        0.21849, abs=0.001
    )
    t4 = catalog.vertex_hourly("n1-standard-4", "us-central1", "nvidia-tesla-t4", 1)
    assert t4 == pytest.approx(0.21849 + 0.4025, abs=0.001)
    assert catalog.vertex_hourly("n1-standard-4", "us-central1", replicas=3) == pytest.approx(
        3 * 0.21849, abs=0.003
    )
    assert catalog.vertex_hourly("zz-1", "us-central1") is None


# -- cost arithmetic with a fake clock --------------------------------------------------------

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday in a 31-day month


def test_run_cost_since_last_start(catalog: PriceCatalog) -> None:
    hourly = catalog.instance_hourly("n1-standard-4", "us-central1") or 0
    inst = vm(last_start=T0)
    assert pricing.run_cost(inst, T0 + timedelta(minutes=90), catalog) == pytest.approx(
        1.5 * hourly
    )
    stopped = vm(status="TERMINATED", last_start=T0, last_stop=T0 + timedelta(hours=1))
    assert pricing.run_cost(stopped, T0 + timedelta(hours=5), catalog) == 0.0
    assert (
        pricing.run_cost(vm(machine_type="zz-1", last_start=T0), T0 + timedelta(hours=1), catalog)
        is None
    )


def test_cost_across_start_stop_cycles(catalog: PriceCatalog) -> None:
    """Started 09:00, stopped 10:30, started 14:00; now 15:00: today = 2.5 h of machine time."""
    hourly = catalog.instance_hourly("n1-standard-4", "us-central1") or 0
    ledger = RunLedger()
    running1 = vm(last_start=T0)
    ledger.observe(running1, catalog)
    stopped = vm(status="TERMINATED", last_start=T0, last_stop=T0 + timedelta(hours=1.5))
    ledger.observe(stopped, catalog)
    running2 = vm(last_start=T0 + timedelta(hours=5), last_stop=T0 + timedelta(hours=1.5))
    ledger.observe(running2, catalog)
    now = T0 + timedelta(hours=6)
    ledger.observe(running2, catalog)  # the same run seen twice is counted once

    # The current run resets at each start.
    assert pricing.run_cost(running2, now, catalog) == pytest.approx(1.0 * hourly)
    spent, known = ledger.cost_between(running2.id, pricing.start_of_day(now), now)
    assert known and spent == pytest.approx(2.5 * hourly)

    disks_today = 10.0 / HOURS_PER_MONTH * 15  # 100 GB pd-balanced since midnight
    today = pricing.today_estimate([running2], now, catalog, ledger)
    assert today.is_complete
    assert today.value == pytest.approx(2.5 * hourly + disks_today)
    # Without the ledger only the latest run is known: the estimate is lower, never higher.
    assert pricing.today_estimate([running2], now, catalog).value == pytest.approx(
        1.0 * hourly + disks_today
    )
    figures = pricing.ticker([running2], now, catalog, ledger=ledger)
    assert figures.today.value == pytest.approx(today.value)


def test_ledger_closes_a_run_missed_between_polls(catalog: PriceCatalog) -> None:
    hourly = catalog.instance_hourly("n1-standard-4", "us-central1") or 0
    ledger = RunLedger()
    ledger.observe(vm(last_start=T0), catalog)
    # Never saw it stop: next poll it is running again since 12:00 (stopped at 11:00).
    ledger.observe(
        vm(last_start=T0 + timedelta(hours=3), last_stop=T0 + timedelta(hours=2)), catalog
    )
    spent, _ = ledger.cost_between("id-vm-1", T0, T0 + timedelta(hours=4))
    # The first run is closed at the reported stop (2 h), plus 1 h of the second run.
    assert spent == pytest.approx(3 * hourly)
    # Without a usable stop time, the run is closed at the next start at the latest.
    other = RunLedger()
    other.observe(vm(last_start=T0), catalog)
    other.observe(vm(last_start=T0 + timedelta(hours=3)), catalog)
    spent, _ = other.cost_between("id-vm-1", T0, T0 + timedelta(hours=4))
    assert spent == pytest.approx(4 * hourly)


def test_today_counts_only_the_part_after_midnight(catalog: PriceCatalog) -> None:
    hourly = catalog.instance_hourly("e2-standard-4", "us-central1") or 0
    midnight = datetime(2026, 3, 11, tzinfo=UTC)
    inst = vm(machine_type="e2-standard-4", last_start=midnight - timedelta(hours=5), disks=())
    now = midnight + timedelta(hours=2)
    assert pricing.today_estimate([inst], now, catalog).value == pytest.approx(2 * hourly)
    assert pricing.run_cost(inst, now, catalog) == pytest.approx(7 * hourly)


def test_burn_rate_and_month_projection(catalog: PriceCatalog) -> None:
    running = vm("a", last_start=T0)
    stopped = vm("b", status="TERMINATED", disks=(Disk("boot", 730, "pd-standard", True),))
    mystery = vm("c", machine_type="zz-9", last_start=T0)
    rate = pricing.burn_rate([running, stopped, mystery], catalog)
    n1 = catalog.instance_hourly("n1-standard-4", "us-central1") or 0
    # disks: a 100 GB pd-balanced ($10/month) ×2 and 730 GB pd-standard ($29.20/month)
    assert rate.compute == pytest.approx(n1)
    assert rate.disks == pytest.approx((10 + 10 + 29.2) / HOURS_PER_MONTH)
    assert rate.unknown == ("c",) and not rate.is_complete
    assert pricing.format_estimate(rate, rate=True).endswith("(+1 unknown)")
    # March has 31 days: 744 hours at this rate.
    assert pricing.month_projection(rate.total, T0) == pytest.approx(rate.total * 744)
    # Spent so far + the rest of the month: 10 Mar 09:00 → 1 Apr is 21 d 15 h = 519 h.
    assert pricing.month_projection(2.0, T0, spent_so_far=100.0) == pytest.approx(100 + 2 * 519)


def test_days_to_laptop() -> None:
    assert pricing.days_to_laptop(2.93, 1500) == pytest.approx(1500 / (2.93 * 24))
    assert pricing.days_to_laptop(None, 1500) is None
    assert pricing.days_to_laptop(0.0, 1500) is None
    assert "21 days" in pricing.laptop_sentence(2.93, 1500)
    assert "price unknown" in pricing.laptop_sentence(None, 1500)


def test_ticker_agrees_with_the_separate_functions(catalog: PriceCatalog) -> None:
    now = T0 + timedelta(hours=2)
    instances = [
        vm("a", last_start=T0, machine_type="g2-standard-8"),
        vm("b", status="TERMINATED", last_start=T0, last_stop=T0 + timedelta(hours=1)),
        vm("c", last_start=T0 - timedelta(days=1), spot=True, machine_type="n2d-standard-2"),
    ]
    figures = pricing.ticker(instances, now, catalog, laptop_price=1000)
    burn = pricing.burn_rate(instances, catalog)
    assert figures.burn.total == pytest.approx(burn.total)
    assert figures.today.value == pytest.approx(
        pricing.today_estimate(instances, now, catalog).value
    )
    assert figures.month_projection == pytest.approx(pricing.month_projection(burn.total, now))
    a = figures.per_instance["id-a"]
    assert a.run_seconds == 7200 and a.run_cost == pytest.approx(2 * (a.hourly or 0))
    assert a.days_to_laptop == pytest.approx(1000 / ((a.hourly or 0) * 24))
    b = figures.per_instance["id-b"]
    assert b.run_cost == 0.0 and b.days_to_laptop is None and b.disks_monthly == pytest.approx(10)


def test_formatting() -> None:
    assert pricing.format_money(1234.5) == "$1,234.50"
    assert pricing.format_money(0.0) == "$0.00"
    assert pricing.format_rate(0.0335) == "$0.0335/h"
    assert pricing.format_rate(2.934) == "$2.93/h"
    assert pricing.format_duration(47 * 60 + 5) == "47 min"
    assert pricing.format_duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert pricing.format_duration(2 * 86400 + 4 * 3600) == "2 d 4 h"


# -- which catalog is in use ------------------------------------------------------------------


def _write_catalog(path: Path, as_of: str, n1_vcpu: float) -> None:
    data = json.loads(BUNDLED_PATH.read_text())
    data["as_of"] = as_of
    data["origin"] = "refresh"
    data["families"]["n1"]["regions"]["us-central1"]["vcpu"] = n1_vcpu
    path.write_text(json.dumps(data))


def test_newer_user_cache_wins(tmp_path: Path) -> None:
    cache = tmp_path / "prices.json"
    _write_catalog(cache, "2099-01-01", 1.0)
    chosen = pricing.load_catalog(cache)
    assert chosen.as_of.year == 2099 and chosen.is_refreshed
    assert "Cloud Billing API" in chosen.short_label
    assert chosen.instance_hourly("n1-standard-1", "us-central1") == pytest.approx(
        1.0 + 3.75 * 0.004237, abs=1e-5
    )


def test_older_user_cache_loses(tmp_path: Path) -> None:
    cache = tmp_path / "prices.json"
    _write_catalog(cache, "2000-01-01", 1.0)
    assert pricing.load_catalog(cache).path == BUNDLED_PATH


def test_corrupt_user_cache_is_ignored_with_a_reason(tmp_path: Path) -> None:
    cache = tmp_path / "prices.json"
    cache.write_text("{not json")
    assert pricing.load_catalog(cache).path == BUNDLED_PATH
    assert pricing.load_warning is not None and "prices refresh" in pricing.load_warning
    cache.write_text(json.dumps({"as_of": "2099-01-01"}))
    assert pricing.load_catalog(cache).path == BUNDLED_PATH


def test_cache_path_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDPANE_CACHE_DIR", str(tmp_path))
    assert pricing.user_cache_path() == tmp_path / "prices.json"
    pricing.set_catalog(None)
    assert pricing.get_catalog().path == BUNDLED_PATH
    pricing.set_catalog(None)


def test_cost_settings_from_config() -> None:
    assert CostSettings.from_mapping({"laptop_price": 999}).laptop_price == 999.0
    assert CostSettings.from_mapping(None).laptop_price == 1500.0
    with pytest.raises(SettingsError, match=r"costs\.laptop_price"):
        CostSettings.from_mapping({"laptop_price": "cheap"})
    with pytest.raises(SettingsError, match=r"costs\.laptop"):
        CostSettings.from_mapping({"laptop": 999})


def test_vertex_hourly_takes_vertex_accelerator_names() -> None:
    """Vertex names GPUs as an enum (NVIDIA_TESLA_T4); both spellings give one price."""
    from tui.services.pricing import get_catalog

    catalog = get_catalog()
    by_enum = catalog.vertex_hourly("n1-standard-8", "us-central1", "NVIDIA_TESLA_T4", 1)
    by_name = catalog.vertex_hourly("n1-standard-8", "us-central1", "nvidia-tesla-t4", 1)
    assert by_enum is not None and by_enum == by_name
    assert by_enum > catalog.vertex_hourly("n1-standard-8", "us-central1")  # type: ignore[operator]
