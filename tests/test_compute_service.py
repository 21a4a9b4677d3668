"""ComputeService against the sandbox: the same code path the VMs pane uses with Google."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from tui.sandbox import daemon
from tui.services import errors
from tui.services.clients import Backend
from tui.services.compute import (
    ComputeService,
    accelerators_for_family,
    attachable_accelerators,
    parse_timestamp,
)
from tui.services.models import Image, Instance, InstanceSpec

ZONE = "us-central1-a"
DEBIAN = Image("debian-cloud", "debian-12")


@pytest.fixture
def svc(clean_sandbox: Backend) -> ComputeService:
    return ComputeService(clean_sandbox)


def spec(name: str, **kw: object) -> InstanceSpec:
    values: dict[str, object] = {
        "name": name,
        "zone": ZONE,
        "machine_type": "e2-medium",
        "image": DEBIAN,
        "disk_size_gb": 20,
    }
    values.update(kw)
    return InstanceSpec(**values)  # type: ignore[arg-type]


async def create(svc: ComputeService, s: InstanceSpec) -> Instance:
    await svc.wait_operation(await svc.create_instance(s), timeout=30)
    return await svc.get_instance(s.zone, s.name)


# ---------------------------------------------------------------- catalog reads


async def test_catalog(svc: ComputeService) -> None:
    zones = await svc.list_zones()
    assert len(zones) == 21 and {z.region for z in zones} >= {"us-central1", "asia-east1"}
    types = {m.name: m for m in await svc.list_machine_types(ZONE)}
    assert (types["n1-standard-8"].vcpus, types["n1-standard-8"].memory_mb) == (8, 30720)
    assert types["g2-standard-8"].family == "g2"
    assert types["g2-standard-8"].bundled_accelerators[0].type == "nvidia-l4"
    assert not types["e2-medium"].bundled_accelerators
    gpus = {a.name: a for a in await svc.list_accelerator_types(ZONE)}
    assert (
        gpus["nvidia-tesla-v100"].max_per_instance == 8 and gpus["nvidia-tesla-v100"].zone == ZONE
    )
    choices = await svc.list_images()
    families = {i.family for i in choices.images}
    assert {
        "debian-12",
        "ubuntu-2204-lts",
        "common-cu128-ubuntu-2204-nvidia-570",
        "pytorch-2-7-cu128-ubuntu-2204-nvidia-570",
    } <= families
    assert [i.family for i in choices.images[:2]] == ["debian-12", "ubuntu-2204-lts"]
    dl = next(i for i in choices.images if i.family == "common-cu128-ubuntu-2204-nvidia-570")
    assert dl.project == "deeplearning-platform-release" and dl.name.startswith("common-cu128-v")
    assert dl.disk_size_gb == 50 and not dl.deprecation
    assert (
        dl.source == "projects/deeplearning-platform-release/global/images/family/"
        "common-cu128-ubuntu-2204-nvidia-570"
    )
    assert not choices.missing


async def test_retired_family_is_reported_and_deprecated_ones_held_back(
    svc: ComputeService,
) -> None:
    """A featured family Google retired (404) is reported, never dropped silently."""
    choices = await svc.list_images(
        [
            ("debian-cloud", "debian-12"),
            ("deeplearning-platform-release", "tf-latest-gpu"),
            ("deeplearning-platform-release", "common-cu123-debian-11"),
        ]
    )
    assert [(m.family, "was not found" in m.message) for m in choices.missing] == [
        ("tf-latest-gpu", True),
        ("common-cu123-debian-11", True),
    ]
    offered = {i.family for i in choices.images}
    held = {i.family: i for i in choices.deprecated}
    assert "debian-11" in held and "debian-11" not in offered
    assert held["common-cu124-debian-11-py310"].deprecation == "DEPRECATED"
    assert held["common-cu124-debian-11-py310"].deprecated_on.startswith("2025-07-14")
    assert held["pytorch-2-3-cu121-debian-11-py310"].deprecation == "OBSOLETE"


def test_image_labels_say_framework_cuda_driver_and_state() -> None:
    from tui.services.images import label

    torch = Image("deeplearning-platform-release", "pytorch-2-7-cu128-ubuntu-2204-nvidia-570")
    assert "PyTorch 2.7" in label(torch) and "CUDA 12.8" in label(torch)
    assert "driver 570" in label(torch)
    old = Image(
        "deeplearning-platform-release",
        "common-cu124-debian-11-py310",
        deprecation="DEPRECATED",
        deprecated_on="2025-07-14T00:00:00.000-07:00",
    )
    assert "DEPRECATED since 2025-07-14" in label(old) and "first boot" in label(old)
    assert label(Image("debian-cloud", "debian-12")) == "debian-12 (debian-cloud)"


async def test_dl_gpu_vm_gets_what_googles_dl_docs_require(svc: ComputeService) -> None:
    """install-nvidia-driver=True, TERMINATE on host maintenance; a plain VM gets neither."""
    dl = Image(
        "deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570", disk_size_gb=50
    )
    await create(
        svc,
        spec(
            "dl-gpu",
            machine_type="n1-standard-8",
            accelerator_type="nvidia-tesla-t4",
            accelerator_count=1,
            image=dl,
            disk_size_gb=50,
            startup_script="echo hi",
        ),
    )
    resource = await svc.instance_resource(ZONE, "dl-gpu")
    items = {i["key"]: i["value"] for i in resource["metadata"]["items"]}
    assert items == {"install-nvidia-driver": "True", "startup-script": "echo hi"}
    assert resource["scheduling"]["onHostMaintenance"] == "TERMINATE"
    await create(svc, spec("plain", image=dl, disk_size_gb=50))
    plain = await svc.instance_resource(ZONE, "plain")
    assert "install-nvidia-driver" not in str(plain.get("metadata", {}))


async def test_boot_disk_smaller_than_the_image_is_refused_before_sending(
    svc: ComputeService,
) -> None:
    dl = Image(
        "deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570", disk_size_gb=50
    )
    with pytest.raises(errors.InvalidArgument, match="smaller than the image"):
        await svc.create_instance(spec("small", image=dl, disk_size_gb=20))
    assert not [i for i in await svc.list_instances() if i.name == "small"]


async def test_catalog_errors_are_translated(svc: ComputeService) -> None:
    with pytest.raises(
        errors.InvalidArgument, match=r"list machine types in mars-1a: .*Unknown zone"
    ):
        await svc.list_machine_types("mars-1a")


def test_accelerators_for_family() -> None:
    assert accelerators_for_family("n1") == (
        "nvidia-tesla-t4",
        "nvidia-tesla-p4",
        "nvidia-tesla-p100",
        "nvidia-tesla-v100",
    )
    assert accelerators_for_family("a2") == ("nvidia-tesla-a100", "nvidia-a100-80gb")
    assert accelerators_for_family("a3") == ("nvidia-h100-80gb",)
    assert accelerators_for_family("g2") == ("nvidia-l4",)
    assert accelerators_for_family("e2") == () and accelerators_for_family("n2") == ()
    assert attachable_accelerators("n1") and not attachable_accelerators("g2")


def test_parse_timestamp() -> None:
    moment = parse_timestamp("2024-09-10T03:04:05.1-07:00")
    assert moment == datetime(2024, 9, 10, 10, 4, 5, 100000, tzinfo=timezone.utc)
    assert parse_timestamp("2024-09-10T10:04:05Z") == datetime(
        2024, 9, 10, 10, 4, 5, tzinfo=timezone.utc
    )
    assert parse_timestamp("") is None and parse_timestamp("yesterday") is None


# ---------------------------------------------------------------- the lifecycle through the service


async def test_create_get_list_and_details(svc: ComputeService) -> None:
    op = await svc.create_instance(spec("svc-vm", labels={"team": "nlp"}, startup_script="echo hi"))
    assert op.operation_type == "insert" and op.target == "svc-vm" and op.zone == ZONE
    assert not op.done
    done = await svc.wait_operation(op, timeout=30)
    assert done.done and done.progress == 100 and done.error is None
    inst = await svc.get_instance(ZONE, "svc-vm")
    assert (inst.zone, inst.machine_type, inst.status) == (ZONE, "e2-medium", "RUNNING")
    assert inst.region == "us-central1"
    assert inst.internal_ip and inst.internal_ip.startswith("10.")
    assert inst.external_ip and inst.external_ip.startswith(
        ("203.0.113.", "198.51.100.", "192.0.2.")
    )
    assert inst.created and inst.last_start and inst.last_start.tzinfo is not None
    assert inst.labels == {"team": "nlp"} and inst.has_startup_script and not inst.spot
    assert inst.disks[0].boot and inst.disks[0].size_gb == 20 and inst.disks[0].name == "svc-vm"
    listed = await svc.list_instances()
    assert [i.name for i in listed] == ["svc-vm"]
    resource = await svc.instance_resource(ZONE, "svc-vm")
    assert resource["name"] == "svc-vm" and resource["machineType"].endswith("/e2-medium")
    assert resource["networkInterfaces"][0]["accessConfigs"][0]["type"] == "ONE_TO_ONE_NAT"
    assert resource["metadata"]["items"][0] == {"key": "startup-script", "value": "echo hi"}


async def test_gpu_spot_and_auto_stop_request(svc: ComputeService) -> None:
    inst = await create(
        svc,
        spec(
            "trainer",
            machine_type="n1-standard-8",
            accelerator_type="nvidia-tesla-t4",
            accelerator_count=2,
            spot=True,
            max_run_seconds=3600,
            image=Image("deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570"),
            disk_size_gb=100,
            disk_type="pd-ssd",
        ),
    )
    assert inst.gpu_count == 2 and inst.accelerators[0].type == "nvidia-tesla-t4"
    assert inst.spot and inst.max_run_seconds == 3600 and inst.termination_action == "STOP"
    assert inst.stops_at() == inst.last_start + timedelta(seconds=3600)  # type: ignore[operator]
    resource = await svc.instance_resource(ZONE, "trainer")
    assert resource["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert resource["scheduling"]["provisioningModel"] == "SPOT"
    a2 = await create(svc, spec("bundled", machine_type="a2-highgpu-1g"))
    assert a2.accelerators[0].type == "nvidia-tesla-a100" and a2.accelerators[0].count == 1


async def test_stop_start_reset_resize_delete(svc: ComputeService) -> None:
    first = await create(svc, spec("life", startup_script="echo booted; sleep 300"))
    stop = await svc.stop_instance(ZONE, "life")
    assert stop.operation_type == "stop"
    assert (await svc.get_instance(ZONE, "life")).status == "STOPPING"
    await svc.wait_operation(stop)
    stopped = await svc.get_instance(ZONE, "life")
    assert stopped.status == "TERMINATED" and stopped.last_stop and stopped.external_ip is None
    await svc.wait_operation(await svc.set_machine_type(ZONE, "life", "n2-standard-4"))
    assert (await svc.get_instance(ZONE, "life")).machine_type == "n2-standard-4"
    await svc.wait_operation(await svc.start_instance(ZONE, "life"))
    started = await svc.get_instance(ZONE, "life")
    assert started.status == "RUNNING" and started.last_start > first.last_start  # type: ignore[operator]
    reset = await svc.wait_operation(await svc.reset_instance(ZONE, "life"))
    assert reset.operation_type == "reset"
    assert (await svc.get_instance(ZONE, "life")).status == "RUNNING"
    await svc.wait_operation(await svc.delete_instance(ZONE, "life"))
    with pytest.raises(errors.NotFound, match="get instance life"):
        await svc.get_instance(ZONE, "life")
    assert await svc.list_instances() == []


async def test_get_operation_follows_progress(svc: ComputeService) -> None:
    op = await svc.create_instance(spec("polled"))
    deadline = time.monotonic() + 10
    while not op.done and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        op = await svc.get_operation(op)
    assert op.done and op.progress == 100


async def test_serial_output_from_an_offset(svc: ComputeService) -> None:
    await create(
        svc, spec("talker", startup_script="echo line-one; sleep 0.5; echo line-two; sleep 300")
    )
    contents, offset = "", 0
    deadline = time.monotonic() + 10
    while "line-one" not in contents and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        contents, offset = await svc.serial_output(ZONE, "talker")
    assert "startup-script: line-one" in contents and "line-two" not in contents
    later = ""
    while "line-two" not in later and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        chunk, offset = await svc.serial_output(ZONE, "talker", start=offset)
        later += chunk
    assert "startup-script: line-two" in later and "line-one" not in later


async def test_auto_stop_set_and_clear(svc: ComputeService) -> None:
    await create(svc, spec("limited"))
    with pytest.raises(errors.InvalidArgument, match=r"auto-stop of limited.*stopped"):
        await svc.set_auto_stop(ZONE, "limited", max_run_seconds=7200)
    await svc.wait_operation(await svc.stop_instance(ZONE, "limited"))
    await svc.wait_operation(await svc.set_auto_stop(ZONE, "limited", max_run_seconds=7200))
    inst = await svc.get_instance(ZONE, "limited")
    assert inst.max_run_seconds == 7200 and inst.termination_action == "STOP"
    when = datetime.now(timezone.utc) + timedelta(hours=5)
    await svc.wait_operation(await svc.set_auto_stop(ZONE, "limited", termination_time=when))
    inst = await svc.get_instance(ZONE, "limited")
    assert inst.max_run_seconds is None
    assert inst.termination_time and abs((inst.termination_time - when).total_seconds()) < 1
    await svc.wait_operation(await svc.set_auto_stop(ZONE, "limited"))
    inst = await svc.get_instance(ZONE, "limited")
    assert (inst.max_run_seconds, inst.termination_time, inst.termination_action) == (
        None,
        None,
        None,
    )


async def test_server_side_auto_stop_happens(svc: ComputeService) -> None:
    inst = await create(svc, spec("brief", max_run_seconds=2))
    assert inst.stops_at() is not None
    deadline = time.monotonic() + 8
    while (await svc.get_instance(ZONE, "brief")).status != "TERMINATED":
        assert time.monotonic() < deadline, "the instance was not stopped at its time limit"
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------- failures, as the user reads them


async def test_failed_operation_raises_operation_failed(svc: ComputeService) -> None:
    await create(svc, spec("h100-1", machine_type="a3-highgpu-8g"))
    op = await svc.create_instance(spec("h100-2", machine_type="a3-highgpu-8g"))
    with pytest.raises(errors.OperationFailed) as info:
        await svc.wait_operation(op)
    assert "Could not create instance h100-2" in info.value.message
    assert "Quota 'NVIDIA_H100_GPUS' exceeded" in info.value.message
    assert "quota" in info.value.hint.lower()


async def test_write_errors_become_the_right_cloudpane_error(svc: ComputeService) -> None:
    await create(svc, spec("taken"))
    with pytest.raises(errors.Conflict, match=r"create instance taken: .*already exists"):
        await svc.create_instance(spec("taken"))
    with pytest.raises(errors.InvalidArgument, match="does not exist in zone"):
        await svc.create_instance(spec("odd", machine_type="n9-huge-1"))
    with pytest.raises(errors.InvalidArgument, match="features are not compatible"):
        await svc.create_instance(
            spec("odd", accelerator_type="nvidia-tesla-t4", accelerator_count=1)
        )
    with pytest.raises(errors.NotFound, match="start instance ghost"):
        await svc.start_instance(ZONE, "ghost")
    with pytest.raises(errors.InvalidArgument, match=r"machine type of taken.*must be stopped"):
        await svc.set_machine_type(ZONE, "taken", "n2-standard-4")
    with pytest.raises(errors.NotFound, match="debian-99"):
        await svc.create_instance(spec("odd", image=Image("debian-cloud", "debian-99")))


async def test_invalid_name_is_refused_before_any_call(
    svc: ComputeService, faults: Callable[..., dict]
) -> None:
    faults(fail_next=1, codes=[500])  # would surface if a request were sent
    with pytest.raises(errors.InvalidArgument, match="lowercase"):
        await svc.create_instance(spec("Bad_Name"))
    await svc.list_zones()  # the injected fault is still waiting: consumed by the retry here


async def test_reads_retry_through_throttling_and_outages(
    svc: ComputeService, faults: Callable[..., dict]
) -> None:
    await create(svc, spec("steady"))
    faults(fail_next=2, codes=[503])
    assert [i.name for i in await svc.list_instances()] == ["steady"]
    faults(fail_next=2, codes=[429])
    assert (await svc.get_instance(ZONE, "steady")).status == "RUNNING"
    faults(fail_next=2, codes=[503])
    assert len(await svc.list_machine_types(ZONE)) > 100


async def test_writes_retry_safely_and_give_up_with_the_reason(
    svc: ComputeService, faults: Callable[..., dict]
) -> None:
    """Writes carry a requestId (see test_idempotent_writes): brief faults are retried;
    a refusal is not; a lasting outage ends in a clear error, with nothing changed."""
    await create(svc, spec("fragile"))
    faults(fail_next=1, codes=[403])
    with pytest.raises(errors.PermissionDenied, match="stop instance fragile"):
        await svc.stop_instance(ZONE, "fragile")
    faults(error_rate=1.0, codes=[503], path_prefix="/compute")
    with pytest.raises(errors.Unavailable, match=r"stop instance fragile.*gave up after retrying"):
        await svc.stop_instance(ZONE, "fragile")
    faults()
    assert (await svc.get_instance(ZONE, "fragile")).status == "RUNNING"
    faults(fail_next=1, codes=[429])
    await svc.wait_operation(await svc.create_instance(spec("other")), timeout=30)
    faults()
    assert (await svc.get_instance(ZONE, "other")).status == "RUNNING"


async def test_list_instances_at_scale(
    svc: ComputeService, sandbox_info: daemon.SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"instances": 2000, "zones": 8})
    started = time.perf_counter()
    found = await svc.list_instances()
    elapsed = time.perf_counter() - started
    print(f"list_instances of 2000 through google-cloud-compute: {elapsed:.2f} s")
    assert len(found) == 2000 and len({(i.zone, i.name) for i in found}) == 2000
    assert any(i.accelerators for i in found) and any(i.is_running for i in found)
    running = await svc.list_instances(filter="status = RUNNING")
    assert running and all(i.is_running for i in running)
