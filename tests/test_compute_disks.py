"""Disks and their types: the sandbox's disks.aggregatedList/list/get through Google's
DisksClient, and ComputeService filling `Disk.type` so that pricing can price the disks."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from tests.conftest import as_owner
from tui.sandbox import daemon
from tui.services import pricing
from tui.services.clients import Backend
from tui.services.compute import ComputeService, disk_path
from tui.services.models import Image, Instance, InstanceSpec

ZONE = "us-central1-a"
OTHER_ZONE = "europe-west4-a"


@pytest.fixture
def svc(clean_sandbox: Backend) -> ComputeService:
    return ComputeService(clean_sandbox)


@pytest.fixture
def disks(clean_sandbox: Backend) -> Any:
    return compute_v1.DisksClient(
        credentials=clean_sandbox.credentials,
        transport="rest",
        client_options={"api_endpoint": clean_sandbox.endpoint},
    )


async def create(
    svc: ComputeService, name: str, disk_type: str, zone: str = ZONE, size: int = 20
) -> Instance:
    spec = InstanceSpec(
        name=name,
        zone=zone,
        machine_type="e2-medium",
        image=Image("debian-cloud", "debian-12"),
        disk_size_gb=size,
        disk_type=disk_type,
    )
    await svc.wait_operation(await svc.create_instance(spec), timeout=30)
    return await svc.get_instance(zone, name)


async def test_disks_through_googles_client(svc: ComputeService, disks: Any) -> None:
    inst = await create(svc, "fast", "pd-ssd", size=50)
    await create(svc, "cheap", "pd-standard", zone=OTHER_ZONE)
    await create(svc, "middle", "pd-balanced")
    project = svc.project
    disk = disks.get(project=project, zone=ZONE, disk="fast")
    assert disk.name == "fast" and disk.size_gb == 50 and disk.status == "READY"
    assert disk.type_.endswith(f"/projects/{project}/zones/{ZONE}/diskTypes/pd-ssd")
    assert [disk_path(u) for u in disk.users] == [disk_path(inst.self_link)]
    assert disk.source_image.endswith(
        "/projects/debian-cloud/global/images/" + disk.source_image.rsplit("/", 1)[1]
    )
    listed = {d.name: d.type_.rsplit("/", 1)[1] for d in disks.list(project=project, zone=ZONE)}
    assert listed == {"fast": "pd-ssd", "middle": "pd-balanced"}
    request = compute_v1.AggregatedListDisksRequest(project=project, max_results=1)
    pager = disks.aggregated_list(request=request)
    everywhere = {d.name: (scope, d.type_.rsplit("/", 1)[1]) for scope, s in pager for d in s.disks}
    assert everywhere == {
        "fast": (f"zones/{ZONE}", "pd-ssd"),
        "middle": (f"zones/{ZONE}", "pd-balanced"),
        "cheap": (f"zones/{OTHER_ZONE}", "pd-standard"),
    }
    filtered = compute_v1.AggregatedListDisksRequest(project=project, filter="name = cheap")
    assert [d.name for _, s in disks.aggregated_list(request=filtered) for d in s.disks] == [
        "cheap"
    ]
    with pytest.raises(gexc.NotFound):
        disks.get(project=project, zone=ZONE, disk="missing")
    with pytest.raises(gexc.BadRequest):
        disks.list(project=project, zone="mars-north1-a")


async def test_deleted_instance_takes_its_disk(svc: ComputeService, disks: Any) -> None:
    await create(svc, "brief", "pd-balanced")
    await svc.wait_operation(await svc.delete_instance(ZONE, "brief"), timeout=30)
    with pytest.raises(gexc.NotFound):
        disks.get(project=svc.project, zone=ZONE, disk="brief")


async def test_listing_fills_disk_types_and_pricing_prices_them(svc: ComputeService) -> None:
    await create(svc, "ssd-vm", "pd-ssd", size=100)
    await create(svc, "std-vm", "pd-standard", zone=OTHER_ZONE, size=30)
    listed = {i.name: i for i in await svc.list_instances()}
    assert [(d.type, d.size_gb, d.boot) for d in listed["ssd-vm"].disks] == [("pd-ssd", 100, True)]
    assert [d.type for d in listed["std-vm"].disks] == ["pd-standard"]
    catalog = pricing.get_catalog()
    for inst in listed.values():
        monthly = catalog.disks_monthly(inst.disks, inst.region)
        disk = inst.disks[0]
        assert monthly is not None and monthly == pytest.approx(
            catalog.disk_monthly(disk.type, disk.size_gb, inst.region)
        )
    assert catalog.disks_monthly(listed["ssd-vm"].disks, "us-central1") > catalog.disks_monthly(  # type: ignore[operator]
        (type(listed["ssd-vm"].disks[0])("x", 100, "pd-standard"),), "us-central1"
    )
    single = await svc.get_instance(ZONE, "ssd-vm")
    assert single.disks[0].type == "pd-ssd"
    await svc.wait_operation(await svc.stop_instance(ZONE, "ssd-vm"), timeout=30)
    stopped = next(i for i in await svc.list_instances() if i.name == "ssd-vm")
    assert pricing.stopped_disks_monthly(stopped) is not None


async def test_disk_failure_leaves_types_unknown_not_the_listing(
    svc: ComputeService, faults: Any
) -> None:
    await create(svc, "resilient", "pd-ssd")
    faults(
        fail_next=1, codes=[403], path_prefix=f"/compute/v1/projects/{svc.project}/aggregated/disks"
    )
    (inst,) = await svc.list_instances()
    assert inst.name == "resilient" and inst.disks[0].type == ""
    assert pricing.get_catalog().disks_monthly(inst.disks, inst.region) is None
    faults(
        fail_next=1,
        codes=[403],
        path_prefix=f"/compute/v1/projects/{svc.project}/zones/{ZONE}/disks",
    )
    assert (await svc.get_instance(ZONE, "resilient")).disks[0].type == ""
    (again,) = await svc.list_instances()  # the fault was once: types are back
    assert again.disks[0].type == "pd-ssd"


async def test_polls_read_disks_only_when_one_is_new(
    svc: ComputeService, faults: Any, sandbox_info: daemon.SandboxInfo
) -> None:
    await create(svc, "again", "pd-ssd")
    assert [d.type for i in await svc.list_instances() for d in i.disks] == ["pd-ssd"]
    disks_path = f"/compute/v1/projects/{svc.project}/aggregated/disks"
    faults(fail_next=1, codes=[403], path_prefix=disks_path)
    assert [d.type for i in await svc.list_instances() for d in i.disks] == ["pd-ssd"]
    # The armed fault is still there: the second poll did not ask for disks.
    with urllib.request.urlopen(
        as_owner(sandbox_info, f"{sandbox_info.url}/_sandbox/faults")
    ) as resp:
        assert json.loads(resp.read())["fail_next"] == 1
    faults()  # disarm
    # The same name made again with another disk type: that disk is read again.
    await svc.wait_operation(await svc.delete_instance(ZONE, "again"), timeout=30)
    await create(svc, "again", "pd-standard")
    assert [d.type for i in await svc.list_instances() for d in i.disks] == ["pd-standard"]
