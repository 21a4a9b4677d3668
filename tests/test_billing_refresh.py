"""`cloudpane prices refresh` through google-cloud-billing's real REST client and the sandbox."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from tui.sandbox import daemon
from tui.services import billing, pricing
from tui.services.billing import SkuRow, apply_skus, refresh_prices, write_atomically
from tui.services.clients import Backend
from tui.services.errors import CloudpaneError, PermissionDenied
from tui.services.pricing import BUNDLED_PATH, PriceCatalog

SAMPLES = [
    ("e2-standard-4", ()),
    ("n1-standard-8", (("nvidia-tesla-t4", 1),)),
    ("n2-highmem-16", ()),
    ("n2d-standard-32", ()),
    ("c2-standard-8", ()),
    ("c3-highcpu-22", ()),
    ("t2d-standard-4", ()),
    ("a2-highgpu-1g", ()),
    ("a3-highgpu-2g", ()),
    ("g2-standard-24", ()),
    ("custom-2-4096", ()),
]


@pytest.fixture
def billing_sandbox(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> Iterator[tuple[Backend, daemon.SandboxInfo]]:
    yield clean_sandbox, sandbox_info
    daemon.admin(sandbox_info, "billing", {"price_factor": 1.0})
    pricing.set_catalog(None)


@pytest.fixture(scope="module")
def bundled() -> PriceCatalog:
    return PriceCatalog.from_file(BUNDLED_PATH)


async def test_refresh_reproduces_the_catalog_through_the_real_client(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo], bundled: PriceCatalog, tmp_path: Path
) -> None:
    backend, _ = billing_sandbox
    cache = tmp_path / "cache" / "prices.json"
    result = await refresh_prices(backend, cache_path=cache, today=date(2027, 1, 2))

    assert result.path == cache and cache.exists()
    assert result.skus_used < result.skus_seen  # commitments, egress, licences were skipped
    # The reader knows the SKU descriptions of ten families; the others (N4, C4, C3D, …) and the
    # shapes priced whole (A2/A3/G2/G4 with their GPUs) keep their bundled prices, and say so.
    known = set(billing.FAMILY_STEMS.values())
    assert set(result.kept_bundled) == {f for f in bundled.data["families"] if f not in known}
    assert set(result.families) == {"c2", "c3", "e2", "n1", "n2", "n2d", "t2d"}
    assert len(result.gpus) == 8 and set(result.disks) == {"pd-standard", "pd-balanced", "pd-ssd"}
    assert "2027-01-02" in result.summary()

    refreshed = pricing.load_catalog(cache)
    assert refreshed.is_refreshed and refreshed.as_of == date(2027, 1, 2)
    assert refreshed.short_label == "prices 2027-01-02 (Cloud Billing API)"
    assert "Cloud Billing Catalog API" in refreshed.label
    # Every price survives the trip through Google's SKU shape and back.
    for region in bundled.regions:
        for machine_type, gpus in SAMPLES:
            for spot in (False, True):
                want = bundled.instance_hourly(machine_type, region, spot=spot, accelerators=gpus)
                got = refreshed.instance_hourly(machine_type, region, spot=spot, accelerators=gpus)
                assert got == pytest.approx(want, abs=1e-6), (machine_type, region, spot)
        assert refreshed.disk_monthly("pd-ssd", 10, region) == pytest.approx(
            bundled.disk_monthly("pd-ssd", 10, region)
        )
    # The refreshed catalog is now the one in use.
    assert pricing.get_catalog().as_of == date(2027, 1, 2)


async def test_refresh_picks_up_changed_prices_across_pages(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo], bundled: PriceCatalog, tmp_path: Path
) -> None:
    backend, info = billing_sandbox
    daemon.admin(info, "billing", {"price_factor": 1.1})
    cache = tmp_path / "prices.json"
    small_pages = await refresh_prices(backend, cache_path=cache, page_size=7)
    one_page = await refresh_prices(backend, cache_path=tmp_path / "other.json", page_size=5000)
    assert small_pages.skus_seen == one_page.skus_seen > 100  # the pager followed every token
    refreshed = pricing.load_catalog(cache)
    for machine_type in ("n1-standard-4", "e2-standard-2"):
        want = 1.1 * (bundled.instance_hourly(machine_type, "europe-west4") or 0)
        assert refreshed.instance_hourly(machine_type, "europe-west4") == pytest.approx(want)
    assert refreshed.gpu_hourly("nvidia-l4", "us-central1") == pytest.approx(1.1 * 0.56004)


async def test_refresh_retries_a_brief_outage(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo], faults, tmp_path: Path
) -> None:
    backend, _ = billing_sandbox
    faults(fail_next=2, codes=[503], path_prefix="/v1/services/")
    result = await refresh_prices(backend, cache_path=tmp_path / "prices.json")
    assert result.skus_used > 0


async def test_refresh_permission_denied_keeps_the_old_cache(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo], faults, tmp_path: Path
) -> None:
    backend, _ = billing_sandbox
    cache = tmp_path / "prices.json"
    cache.write_text('{"old": true}')
    faults(fail_next=1, codes=[403], path_prefix="/v1/services/")
    with pytest.raises(PermissionDenied) as info:
        await refresh_prices(backend, cache_path=cache)
    assert "Cloud Billing Catalog API" in info.value.message
    assert cache.read_text() == '{"old": true}'


async def test_refresh_into_an_unwritable_place_says_so(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo], tmp_path: Path
) -> None:
    backend, _ = billing_sandbox
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(CloudpaneError, match="Could not write the price cache") as info:
        await refresh_prices(backend, cache_path=blocker / "prices.json")
    assert "CLOUDPANE_CACHE_DIR" in info.value.hint


async def test_default_cache_path_is_the_user_cache(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo],
) -> None:
    backend, _ = billing_sandbox
    result = await refresh_prices(backend)  # conftest points CLOUDPANE_CACHE_DIR at tmp_path
    assert result.path == Path(os.environ["CLOUDPANE_CACHE_DIR"]) / "prices.json"
    assert pricing.load_catalog().path == result.path


def test_sandbox_rejects_other_services(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo],
) -> None:
    from google.api_core import exceptions
    from google.cloud import billing_v1

    backend, _ = billing_sandbox
    client = billing_v1.CloudCatalogClient(
        credentials=backend.credentials,
        transport="rest",
        client_options=backend.client_options(),
    )
    with pytest.raises(exceptions.NotFound):
        list(client.list_skus(parent="services/0000-0000-0000"))


# -- the pure parts ---------------------------------------------------------------------------


def _row(
    description: str, price: float, regions: tuple[str, ...] = ("us-central1",), **kw
) -> SkuRow:
    defaults = {"resource_family": "Compute", "usage_type": "OnDemand", "unit": "h"}
    defaults.update(kw)
    return SkuRow(
        description,
        defaults["resource_family"],
        defaults["usage_type"],
        regions,
        defaults["unit"],
        price,
    )


def test_apply_skus_reads_google_descriptions() -> None:
    base = json.loads(BUNDLED_PATH.read_text())
    rows = [
        _row("N1 Predefined Instance Core running in Americas", 0.04, ("us-central1", "us-west1")),
        _row(
            "N1 Predefined Instance Ram running in Americas", 0.005, ("us-central1",), unit="GiBy.h"
        ),
        _row(
            "Spot Preemptible N1 Predefined Instance Core running in Americas",
            0.01,
            usage_type="Preemptible",
        ),
        _row("Nvidia Tesla T4 GPU running in Americas", 0.4),
        _row(
            "Storage PD Capacity in Netherlands",
            0.05,
            ("europe-west4",),
            resource_family="Storage",
            unit="GiBy.mo",
        ),
        # Ignored: commitment, wrong unit, a spot SKU mislabelled on-demand, egress.
        _row("Commitment v1: N1 Core in Americas for 1 Year", 0.001, usage_type="Commit1Yr"),
        _row("N2 Instance Core running in Americas", 9.0, unit="GiBy.h"),
        _row("Spot Preemptible E2 Instance Core running in Americas", 9.0),
        _row(
            "Network Internet Egress from Americas to EMEA",
            0.12,
            resource_family="Network",
            unit="GiBy",
        ),
    ]
    data, result = apply_skus(rows, base, date(2027, 5, 1))
    assert result.skus_seen == 9 and result.skus_used == 5
    n1 = data["families"]["n1"]["regions"]
    assert n1["us-central1"]["vcpu"] == 0.04 and n1["us-central1"]["gib"] == 0.005
    assert n1["us-central1"]["spot_vcpu"] == 0.01
    assert n1["us-west1"]["vcpu"] == 0.04
    assert data["gpus"]["nvidia-tesla-t4"]["regions"]["us-central1"]["on_demand"] == 0.4
    assert data["disks"]["pd-standard"]["europe-west4"] == 0.05
    assert data["families"]["n2"] == base["families"]["n2"]  # untouched: kept bundled
    assert data["families"]["e2"] == base["families"]["e2"]
    assert "n2" in result.kept_bundled and "pd-ssd" in result.kept_bundled
    assert data["as_of"] == "2027-05-01" and data["origin"] == "refresh"
    catalog = PriceCatalog(data)
    assert catalog.instance_hourly("n1-standard-1", "us-central1") == pytest.approx(
        0.04 + 3.75 * 0.005
    )


def test_apply_skus_refuses_a_price_list_it_cannot_read() -> None:
    base = json.loads(BUNDLED_PATH.read_text())
    rows = [_row("Something Else running in Americas", 1.0), _row("Free thing", 0.0)]
    with pytest.raises(CloudpaneError, match="no Compute Engine prices"):
        apply_skus(rows, base, date(2027, 1, 1))


def test_write_atomically_leaves_no_half_file(tmp_path: Path) -> None:
    target = tmp_path / "prices.json"
    write_atomically(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        write_atomically(target, {"a": object()})  # cannot be serialised mid-way
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prices.json"]


def test_billing_module_imports_google_billing_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tui.services.billing, tui.services.policy; "
        "print('google.cloud.billing_v1' in sys.modules, 'textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_refresh_command_prints_a_summary_and_an_error(
    billing_sandbox: tuple[Backend, daemon.SandboxInfo],
    faults,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend, _ = billing_sandbox
    assert billing.refresh_command(backend, cache_path=tmp_path / "p.json") == 0
    assert "Prices refreshed from the Cloud Billing Catalog API" in capsys.readouterr().out
    faults(fail_next=1, codes=[403], path_prefix="/v1/services/")
    assert billing.refresh_command(backend, cache_path=tmp_path / "q.json") == 1
    err = capsys.readouterr().err
    assert "permission denied" in err and "still using prices as of" in err
