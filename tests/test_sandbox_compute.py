"""The sandbox's Compute Engine surface, driven by Google's own google-cloud-compute clients (REST).

Nothing of Google is mocked: these are the real clients, their real JSON parsing and their
real error mapping (google.api_core.exceptions), against a real sandbox daemon.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from tests.conftest import as_owner, owner_credentials
from tui.sandbox import daemon
from tui.services.clients import Backend

ZONE = "us-central1-a"
DEBIAN = "projects/debian-cloud/global/images/family/debian-12"


@dataclass
class Clients:
    project: str
    instances: compute_v1.InstancesClient
    operations: compute_v1.ZoneOperationsClient
    zones: compute_v1.ZonesClient
    regions: compute_v1.RegionsClient
    machine_types: compute_v1.MachineTypesClient
    accelerator_types: compute_v1.AcceleratorTypesClient
    images: compute_v1.ImagesClient

    def insert(self, instance: compute_v1.Instance, zone: str = ZONE) -> compute_v1.Operation:
        return self.instances.insert_unary(
            project=self.project, zone=zone, instance_resource=instance
        )

    def wait(self, op: compute_v1.Operation, zone: str = ZONE) -> compute_v1.Operation:
        done = self.operations.wait(project=self.project, zone=zone, operation=op.name)
        assert done.status == compute_v1.Operation.Status.DONE
        return done

    def get(self, name: str, zone: str = ZONE) -> compute_v1.Instance:
        return self.instances.get(project=self.project, zone=zone, instance=name)

    def action(self, verb: str, name: str, zone: str = ZONE, **kw: Any) -> compute_v1.Operation:
        method = getattr(self.instances, f"{verb}_unary")
        return method(project=self.project, zone=zone, instance=name, **kw)

    def serial(self, name: str, start: int = 0, zone: str = ZONE) -> compute_v1.SerialPortOutput:
        request = compute_v1.GetSerialPortOutputInstanceRequest(
            project=self.project, zone=zone, instance=name, start=start, port=1
        )
        return self.instances.get_serial_port_output(request=request)


@pytest.fixture
def gce(clean_sandbox: Backend) -> Clients:
    options = {"api_endpoint": clean_sandbox.endpoint}

    def make(cls: Any) -> Any:
        return cls(credentials=clean_sandbox.credentials, transport="rest", client_options=options)

    return Clients(
        clean_sandbox.project,
        make(compute_v1.InstancesClient),
        make(compute_v1.ZoneOperationsClient),
        make(compute_v1.ZonesClient),
        make(compute_v1.RegionsClient),
        make(compute_v1.MachineTypesClient),
        make(compute_v1.AcceleratorTypesClient),
        make(compute_v1.ImagesClient),
    )


def vm(
    name: str,
    machine: str = "e2-medium",
    zone: str = ZONE,
    script: str | None = None,
    gpu: tuple[str, int] | None = None,
    scheduling: compute_v1.Scheduling | None = None,
    image: str = DEBIAN,
) -> compute_v1.Instance:
    inst = compute_v1.Instance(
        name=name,
        machine_type=f"zones/{zone}/machineTypes/{machine}",
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image=image,
                    disk_size_gb=20,
                    disk_type=f"zones/{zone}/diskTypes/pd-balanced",
                ),
            )
        ],
        network_interfaces=[
            compute_v1.NetworkInterface(
                network="global/networks/default",
                access_configs=[
                    compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")
                ],
            )
        ],
        labels={"team": "vision"},
    )
    if script is not None:
        inst.metadata = compute_v1.Metadata(
            items=[compute_v1.Items(key="startup-script", value=script)]
        )
    if gpu:
        inst.guest_accelerators = [
            compute_v1.AcceleratorConfig(
                accelerator_type=f"zones/{zone}/acceleratorTypes/{gpu[0]}", accelerator_count=gpu[1]
            )
        ]
    if scheduling is not None:
        inst.scheduling = scheduling
    return inst


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def work_dir(info: daemon.SandboxInfo, name: str, zone: str = ZONE) -> Path:
    return info.data_dir / "work" / "instances" / info.project / zone / name


# ---------------------------------------------------------------- catalog


def test_zones_and_regions(gce: Clients) -> None:
    zones = list(gce.zones.list(project=gce.project))
    names = {z.name for z in zones}
    assert len(zones) == 21
    assert {"us-central1-a", "us-central1-f", "europe-west4-b", "asia-southeast1-b"} <= names
    one = gce.zones.get(project=gce.project, zone="europe-west1-d")
    assert one.status == "UP" and one.region.endswith("/regions/europe-west1")
    with pytest.raises(gexc.NotFound, match="us-central1-z"):
        gce.zones.get(project=gce.project, zone="us-central1-z")
    regions = {r.name: r for r in gce.regions.list(project=gce.project)}
    assert len(regions) == 8
    metrics = {q.metric for q in regions["us-central1"].quotas}
    assert {"CPUS", "NVIDIA_T4_GPUS", "NVIDIA_H100_GPUS"} <= metrics


def test_machine_types_are_real_shapes(gce: Clients) -> None:
    types = {m.name: m for m in gce.machine_types.list(project=gce.project, zone=ZONE)}
    assert types["n1-standard-4"].guest_cpus == 4
    assert types["n1-standard-4"].memory_mb == 15360
    assert types["e2-standard-8"].memory_mb == 32768
    assert types["n2-highmem-16"].memory_mb == 16 * 8192
    assert types["e2-micro"].is_shared_cpu
    a2 = types["a2-highgpu-1g"]
    assert (a2.guest_cpus, a2.memory_mb) == (12, 87040)
    assert a2.accelerators[0].guest_accelerator_type == "nvidia-tesla-a100"
    assert types["a3-highgpu-8g"].accelerators[0].guest_accelerator_count == 8
    assert types["g2-standard-24"].accelerators[0].guest_accelerator_count == 2
    got = gce.machine_types.get(project=gce.project, zone=ZONE, machine_type="c2-standard-30")
    assert got.guest_cpus == 30
    with pytest.raises(gexc.NotFound):
        gce.machine_types.get(project=gce.project, zone=ZONE, machine_type="n1-mega-7")


def test_catalog_is_consistent_in_every_zone(gce: Clients) -> None:
    """a2 only with A100s, a3 only with H100s, g2 only with L4s, per zone."""
    for zone in (z.name for z in gce.zones.list(project=gce.project)):
        gpus = {a.name for a in gce.accelerator_types.list(project=gce.project, zone=zone)}
        for mt in gce.machine_types.list(project=gce.project, zone=zone):
            for acc in mt.accelerators:
                assert acc.guest_accelerator_type in gpus, (zone, mt.name)
    # europe-west1-c has L4s but no A100s: g2 yes, a2 no.
    names = {m.name for m in gce.machine_types.list(project=gce.project, zone="europe-west1-c")}
    assert "g2-standard-8" in names and not any(n.startswith(("a2-", "a3-")) for n in names)


def test_accelerator_types(gce: Clients) -> None:
    found = {a.name: a for a in gce.accelerator_types.list(project=gce.project, zone=ZONE)}
    assert found["nvidia-tesla-t4"].maximum_cards_per_instance == 4
    assert found["nvidia-h100-80gb"].description == "NVIDIA H100 80GB"
    assert "nvidia-tesla-p100" not in found
    with pytest.raises(gexc.BadRequest, match="Unknown zone"):
        list(gce.accelerator_types.list(project=gce.project, zone="mars-north1-a"))


def test_aggregated_catalog_pages(gce: Clients) -> None:
    request = compute_v1.AggregatedListMachineTypesRequest(project=gce.project, max_results=300)
    total = sum(
        len(scoped.machine_types)
        for _, scoped in gce.machine_types.aggregated_list(request=request)
    )
    per_zone = sum(
        len(list(gce.machine_types.list(project=gce.project, zone=z)))
        for z in ("us-central1-a", "asia-east1-b")
    )
    assert total > per_zone > 100
    gpus = dict(gce.accelerator_types.aggregated_list(project=gce.project))
    assert [a.name for a in gpus["zones/asia-east1-b"].accelerator_types] == ["nvidia-tesla-t4"]


def test_images(gce: Clients) -> None:
    for project, family in [
        ("debian-cloud", "debian-12"),
        ("ubuntu-os-cloud", "ubuntu-2204-lts"),
        ("deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570"),
        ("deeplearning-platform-release", "pytorch-2-7-cu128-ubuntu-2204-nvidia-570"),
    ]:
        image = gce.images.get_from_family(project=project, family=family)
        assert image.family == family and image.status == "READY"
        assert not image.deprecated.state
    listed = list(gce.images.list(project="deeplearning-platform-release"))
    deprecated = [
        i for i in listed if i.deprecated.state == "DEPRECATED" and i.deprecated.replacement
    ]
    assert deprecated and all(i.deprecated.replacement for i in deprecated)
    old = gce.images.get(project="deeplearning-platform-release", image=deprecated[0].name)
    assert old.name == deprecated[0].name
    with pytest.raises(gexc.NotFound, match="debian-99"):
        gce.images.get_from_family(project="debian-cloud", family="debian-99")


@pytest.mark.parametrize(
    "family", ["common-cu123-debian-11", "tf-latest-gpu", "pytorch-latest-gpu", "common-cpu"]
)
def test_retired_image_families_are_404_as_on_google(gce: Clients, family: str) -> None:
    """Google retired CUDA <= 12.4 / TF <= 2.17 families (DLVM release notes, 2025-07-14)."""
    with pytest.raises(gexc.NotFound, match=family):
        gce.images.get_from_family(project="deeplearning-platform-release", family=family)
    listed = gce.images.list(project="deeplearning-platform-release")
    assert family not in {i.family for i in listed}


def test_deprecated_family_carries_googles_deprecation(gce: Clients) -> None:
    """Every image of an end-of-support family is deprecated; getFromFamily answers 404."""
    listed = list(gce.images.list(project="deeplearning-platform-release"))
    cu124 = [i for i in listed if i.family == "common-cu124-debian-11-py310"]
    assert cu124 and all(i.deprecated.state == "DEPRECATED" for i in cu124)
    assert all(i.deprecated.deprecated.startswith("2025-07-14") for i in cu124)
    obsolete = [i for i in listed if i.deprecated.state == "OBSOLETE"]
    assert obsolete
    with pytest.raises(gexc.NotFound):
        gce.images.get_from_family(
            project="deeplearning-platform-release", family="common-cu124-debian-11-py310"
        )
    with pytest.raises(gexc.BadRequest, match="obsolete"):
        gce.insert(
            vm(
                "from-obsolete",
                image=f"projects/deeplearning-platform-release/global/images/{obsolete[0].name}",
            )
        )


def test_image_family_views_as_gcloud_sends_them(gce: Clients, clean_sandbox: Backend) -> None:
    """gcloud's --image-family sends projects/P/zones/-/imageFamilyViews/F."""
    views = compute_v1.ImageFamilyViewsClient(
        credentials=clean_sandbox.credentials,
        client_options={"api_endpoint": clean_sandbox.endpoint},
        transport="rest",
    )
    view = views.get(project="debian-cloud", zone="us-central1-a", family="debian-12")
    assert view.image.family == "debian-12"
    gce.wait(
        gce.insert(
            vm("from-view", image="projects/debian-cloud/zones/-/imageFamilyViews/debian-12")
        )
    )
    assert gce.get("from-view").name == "from-view"


# ---------------------------------------------------------------- lifecycle


def test_insert_walks_the_lifecycle(gce: Clients) -> None:
    op = gce.insert(vm("web-1"))
    assert op.operation_type == "insert"
    assert op.name.startswith("operation-") and op.target_link.endswith("/instances/web-1")
    assert op.status in (compute_v1.Operation.Status.RUNNING, compute_v1.Operation.Status.PENDING)
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = gce.get("web-1").status
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "RUNNING":
            break
        time.sleep(0.02)
    assert seen == ["PROVISIONING", "STAGING", "RUNNING"]
    done = gce.wait(op)
    assert done.progress == 100 and done.end_time
    inst = gce.get("web-1")
    assert inst.zone.endswith(f"/zones/{ZONE}") and inst.machine_type.endswith(
        "/machineTypes/e2-medium"
    )
    assert inst.creation_timestamp and inst.last_start_timestamp and inst.id
    nic = inst.network_interfaces[0]
    assert nic.network_i_p.startswith("10.128.")
    assert nic.access_configs[0].nat_i_p.startswith(("203.0.113.", "198.51.100.", "192.0.2."))
    assert inst.disks[0].boot and inst.disks[0].disk_size_gb == 20
    assert inst.scheduling.provisioning_model == "STANDARD"
    assert inst.scheduling.on_host_maintenance == "MIGRATE"
    assert dict(inst.labels) == {"team": "vision"}
    assert inst.self_link.endswith("/zones/us-central1-a/instances/web-1")


def test_stop_and_start(gce: Clients) -> None:
    gce.wait(gce.insert(vm("box")))
    first_start = gce.get("box").last_start_timestamp
    op = gce.action("stop", "box")
    assert gce.get("box").status == "STOPPING"
    gce.wait(op)
    inst = gce.get("box")
    assert inst.status == "TERMINATED" and inst.last_stop_timestamp
    assert not inst.network_interfaces[0].access_configs[0].nat_i_p  # ephemeral IP released
    # Stopping a stopped instance is a no-op that succeeds.
    assert gce.wait(gce.action("stop", "box")).operation_type == "stop"
    gce.wait(gce.action("start", "box"))
    inst = gce.get("box")
    assert inst.status == "RUNNING" and inst.last_start_timestamp > first_start
    assert inst.network_interfaces[0].access_configs[0].nat_i_p


def test_delete_goes_through_stopping(gce: Clients) -> None:
    gce.wait(gce.insert(vm("gone")))
    op = gce.action("delete", "gone")
    assert gce.get("gone").status == "STOPPING"
    gce.wait(op)
    with pytest.raises(gexc.NotFound, match="instances/gone"):
        gce.get("gone")


def test_operations_get_list_and_errors(gce: Clients) -> None:
    op = gce.insert(vm("opvm"))
    got = gce.operations.get(project=gce.project, zone=ZONE, operation=op.name)
    assert got.name == op.name and got.target_link == op.target_link
    gce.wait(op)
    assert op.name in {o.name for o in gce.operations.list(project=gce.project, zone=ZONE)}
    with pytest.raises(gexc.NotFound):
        gce.operations.get(project=gce.project, zone=ZONE, operation="operation-0-nope")


# ---------------------------------------------------------------- validation, as Google does


@pytest.mark.parametrize(
    ("instance", "exc", "match"),
    [
        (vm("Bad_Name"), gexc.BadRequest, r"resource.name.*Must be a match of regex"),
        (
            vm("x", machine="n1-mega-7"),
            gexc.BadRequest,
            "Machine type with name 'n1-mega-7' does not exist",
        ),
        (
            vm("x", image="projects/debian-cloud/global/images/family/debian-99"),
            gexc.NotFound,
            "debian-99",
        ),
        (
            vm("x", gpu=("nvidia-tesla-t4", 1)),
            gexc.BadRequest,
            r"\[e2-medium, nvidia-tesla-t4\] features are not compatible",
        ),
        (
            vm("x", machine="n1-standard-4", gpu=("nvidia-tesla-t4", 1)),
            gexc.BadRequest,
            "do not support live migration",
        ),
        (
            vm(
                "x",
                machine="n1-standard-4",
                gpu=("nvidia-tesla-t4", 3),
                scheduling=compute_v1.Scheduling(on_host_maintenance="TERMINATE"),
            ),
            gexc.BadRequest,
            "acceleratorCount",
        ),
        (
            vm(
                "x",
                machine="n1-standard-4",
                zone=ZONE,
                gpu=("nvidia-tesla-p100", 1),
                scheduling=compute_v1.Scheduling(on_host_maintenance="TERMINATE"),
            ),
            gexc.BadRequest,
            "'nvidia-tesla-p100' does not exist in zone",
        ),
        (
            vm(
                "x",
                scheduling=compute_v1.Scheduling(max_run_duration=compute_v1.Duration(seconds=60)),
            ),
            gexc.BadRequest,
            "instanceTerminationAction",
        ),
    ],
)
def test_insert_is_validated(
    gce: Clients, instance: compute_v1.Instance, exc: type, match: str
) -> None:
    with pytest.raises(exc, match=match):
        gce.insert(instance)


def test_insert_unknown_zone_and_duplicate(gce: Clients) -> None:
    with pytest.raises(gexc.BadRequest, match="Unknown zone"):
        gce.insert(vm("x", zone="us-central1-z"), zone="us-central1-z")
    gce.insert(vm("twin"))
    with pytest.raises(gexc.Conflict, match="already exists") as info:
        gce.insert(vm("twin"))
    assert info.value.code == 409
    assert info.value.errors and info.value.errors[0]["reason"] == "alreadyExists"


def test_gpu_instances(gce: Clients) -> None:
    terminate = compute_v1.Scheduling(on_host_maintenance="TERMINATE")
    gce.wait(
        gce.insert(
            vm("t4", machine="n1-standard-8", gpu=("nvidia-tesla-t4", 2), scheduling=terminate)
        )
    )
    t4 = gce.get("t4")
    assert t4.guest_accelerators[0].accelerator_type.endswith("/acceleratorTypes/nvidia-tesla-t4")
    assert t4.guest_accelerators[0].accelerator_count == 2
    # a2 brings its A100 and needs no maintenance policy spelled out.
    gce.wait(gce.insert(vm("a100", machine="a2-highgpu-1g")))
    a2 = gce.get("a100")
    assert a2.guest_accelerators[0].accelerator_type.endswith("/nvidia-tesla-a100")
    assert a2.scheduling.on_host_maintenance == "TERMINATE"


def test_gpu_quota_fails_the_operation(gce: Clients) -> None:
    gce.wait(gce.insert(vm("h100-a", machine="a3-highgpu-8g")))
    op = gce.insert(
        vm("h100-b", machine="a3-highgpu-8g", zone="us-central1-b"), zone="us-central1-b"
    )
    done = gce.wait(op, zone="us-central1-b")
    assert done.error.errors[0].code == "QUOTA_EXCEEDED"
    assert "NVIDIA_H100_GPUS" in done.error.errors[0].message
    assert done.http_error_status_code == 403
    with pytest.raises(gexc.NotFound):
        gce.get("h100-b", zone="us-central1-b")
    # Stopped GPUs do not count: stop the first, and the second fits.
    gce.wait(gce.action("stop", "h100-a"))
    gce.wait(
        gce.insert(
            vm("h100-b", machine="a3-highgpu-8g", zone="us-central1-b"), zone="us-central1-b"
        ),
        zone="us-central1-b",
    )
    usage = {
        q.metric: q.usage for q in gce.regions.get(project=gce.project, region="us-central1").quotas
    }
    assert usage["NVIDIA_H100_GPUS"] == 8


def test_spot_scheduling(gce: Clients) -> None:
    spot = compute_v1.Scheduling(provisioning_model="SPOT", instance_termination_action="STOP")
    gce.wait(gce.insert(vm("cheap", scheduling=spot)))
    sched = gce.get("cheap").scheduling
    assert (sched.provisioning_model, sched.preemptible, sched.automatic_restart) == (
        "SPOT",
        True,
        False,
    )
    assert sched.on_host_maintenance == "TERMINATE"


# ---------------------------------------------------------------- machine type and scheduling


def test_set_machine_type_only_when_stopped(gce: Clients) -> None:
    gce.wait(gce.insert(vm("grow")))
    body = compute_v1.InstancesSetMachineTypeRequest(
        machine_type=f"zones/{ZONE}/machineTypes/n2-standard-8"
    )
    with pytest.raises(gexc.BadRequest, match="must be stopped"):
        gce.action("set_machine_type", "grow", instances_set_machine_type_request_resource=body)
    gce.wait(gce.action("stop", "grow"))
    gce.wait(
        gce.action("set_machine_type", "grow", instances_set_machine_type_request_resource=body)
    )
    assert gce.get("grow").machine_type.endswith("/n2-standard-8")
    bad = compute_v1.InstancesSetMachineTypeRequest(
        machine_type=f"zones/{ZONE}/machineTypes/nope-1"
    )
    with pytest.raises(gexc.BadRequest, match="does not exist"):
        gce.action("set_machine_type", "grow", instances_set_machine_type_request_resource=bad)


def test_max_run_duration_stops_the_instance(gce: Clients) -> None:
    limit = compute_v1.Scheduling(
        max_run_duration=compute_v1.Duration(seconds=2), instance_termination_action="STOP"
    )
    gce.wait(gce.insert(vm("short", script="sleep 60", scheduling=limit)))
    inst = gce.get("short")
    assert inst.status == "RUNNING"
    assert inst.resource_status.scheduling.termination_timestamp
    assert inst.scheduling.max_run_duration.seconds == 2
    wait_for(lambda: gce.get("short").status == "TERMINATED", timeout=6)
    assert gce.get("short").last_stop_timestamp
    assert "time limit" in gce.serial("short").contents


def test_set_scheduling_termination_time(gce: Clients) -> None:
    gce.wait(gce.insert(vm("timed")))
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    sched = compute_v1.Scheduling(termination_time=soon, instance_termination_action="STOP")
    with pytest.raises(gexc.BadRequest, match="stopped"):
        gce.action("set_scheduling", "timed", scheduling_resource=sched)
    gce.wait(gce.action("stop", "timed"))
    gce.wait(gce.action("set_scheduling", "timed", scheduling_resource=sched))
    gce.wait(gce.action("start", "timed"))
    wait_for(lambda: gce.get("timed").status == "TERMINATED", timeout=6)
    # Clearing the limit (also only while stopped) and starting again: it keeps running.
    gce.wait(gce.action("set_scheduling", "timed", scheduling_resource=compute_v1.Scheduling()))
    gce.wait(gce.action("start", "timed"))
    assert not gce.get("timed").scheduling.termination_time


# ---------------------------------------------------------------- startup-script processes


def test_startup_script_runs_and_stop_kills_it(
    gce: Clients, sandbox_info: daemon.SandboxInfo
) -> None:
    script = "echo hello-from-vm; echo $$ > pid; sleep 300 & echo $! > child; echo started; wait"
    gce.wait(gce.insert(vm("worker", script=script)))
    folder = work_dir(sandbox_info, "worker")
    pid = int(wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text().strip()))
    child = int(
        wait_for(lambda: (folder / "child").exists() and (folder / "child").read_text().strip())
    )
    assert pid_alive(pid) and pid_alive(child)
    out = wait_for(lambda: (s := gce.serial("worker")) and "started" in s.contents and s)
    assert "SeaBIOS" in out.contents  # boot lines come first
    assert "google_metadata_script_runner" in out.contents
    assert "startup-script: hello-from-vm" in out.contents
    assert out.next_ == len(out.contents.encode())
    assert gce.serial("worker", start=out.next_).contents == ""
    gce.wait(gce.action("stop", "worker"))
    wait_for(lambda: not pid_alive(pid) and not pid_alive(child), timeout=5)


def test_script_exit_leaves_vm_running(gce: Clients) -> None:
    gce.wait(gce.insert(vm("oneshot", script="echo done-now; exit 3")))
    out = wait_for(lambda: (s := gce.serial("oneshot").contents) and "exit status 3" in s and s)
    assert "startup-script: done-now" in out
    assert gce.get("oneshot").status == "RUNNING"  # a VM runs on after its script: turn it off


def test_script_output_reaches_cloud_logging(
    gce: Clients, sandbox_info: daemon.SandboxInfo
) -> None:
    gce.wait(gce.insert(vm("chatty", script="echo logged-line")))
    instance_id = str(gce.get("chatty").id)
    query = {
        "resourceNames": [f"projects/{gce.project}"],
        "filter": f'resource.type="gce_instance" AND resource.labels.instance_id="{instance_id}"',
    }

    def entries() -> list[dict[str, Any]]:
        request = urllib.request.Request(
            f"{sandbox_info.url}/v2/entries:list",
            data=json.dumps(query).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(as_owner(sandbox_info, request), timeout=10) as resp:
            return list(json.loads(resp.read()).get("entries", []))

    found = wait_for(entries)
    assert found[0]["textPayload"] == "startup-script: logged-line"
    assert found[0]["logName"] == f"projects/{gce.project}/logs/google_metadata_script_runner"
    assert found[0]["resource"]["labels"]["zone"] == ZONE


def test_reset_restarts_the_script(gce: Clients, sandbox_info: daemon.SandboxInfo) -> None:
    gce.wait(gce.insert(vm("rebooter", script="echo $$ > pid; sleep 300")))
    folder = work_dir(sandbox_info, "rebooter")
    first = int(
        wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text().strip())
    )
    (folder / "pid").unlink()
    gce.wait(gce.action("reset", "rebooter"))
    second = int(
        wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text().strip())
    )
    assert second != first and pid_alive(second)
    wait_for(lambda: not pid_alive(first), timeout=3)
    assert gce.get("rebooter").status == "RUNNING"
    assert "reboot.target" in gce.serial("rebooter").contents
    gce.wait(gce.action("stop", "rebooter"))
    with pytest.raises(gexc.BadRequest, match="not ready"):
        gce.action("reset", "rebooter")


def test_delete_kills_the_script(gce: Clients, sandbox_info: daemon.SandboxInfo) -> None:
    gce.wait(gce.insert(vm("doomed", script="echo $$ > pid; sleep 300")))
    folder = work_dir(sandbox_info, "doomed")
    pid = int(wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text().strip()))
    gce.wait(gce.action("delete", "doomed"))
    wait_for(lambda: not pid_alive(pid), timeout=3)
    with pytest.raises(gexc.NotFound):
        gce.serial("doomed")


def test_idle_vm_has_boot_lines_only(gce: Clients) -> None:
    gce.wait(gce.insert(vm("idle")))
    contents = gce.serial("idle").contents
    assert "No startup scripts to run" in contents and "startup-script:" not in contents


# ---------------------------------------------------------------- aggregated list, paging, scale


def _raw_get(info: daemon.SandboxInfo, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(as_owner(info, f"{info.url}{path}"), timeout=30) as resp:
        return json.loads(resp.read())


def test_aggregated_list_pages_and_filters(gce: Clients, sandbox_info: daemon.SandboxInfo) -> None:
    seeded = daemon.admin(sandbox_info, "seed", {"instances": 1200, "zones": 5})
    assert seeded["instances"] == 1200
    request = compute_v1.AggregatedListInstancesRequest(project=gce.project, max_results=500)
    pager = gce.instances.aggregated_list(request=request)
    pages = list(pager.pages)
    assert len(pages) == 3
    names = [i.name for page in pages for scoped in page.items.values() for i in scoped.instances]
    assert len(names) == len(set(names)) == 1200
    statuses = {"RUNNING": 0, "TERMINATED": 0}
    for page in pages:
        for scoped in page.items.values():
            for inst in scoped.instances:
                statuses[inst.status] += 1
    assert statuses["RUNNING"] > 100 and statuses["TERMINATED"] > 100
    running = compute_v1.AggregatedListInstancesRequest(
        project=gce.project, filter="status = RUNNING"
    )
    found = [i for _, s in gce.instances.aggregated_list(request=running) for i in s.instances]
    assert len(found) == statuses["RUNNING"] and all(i.status == "RUNNING" for i in found)
    by_name = compute_v1.ListInstancesRequest(
        project=gce.project, zone="us-central1-b", filter="name = train-*"
    )
    zonal = list(gce.instances.list(request=by_name))
    assert zonal and all(i.name.startswith("train-") for i in zonal)
    nonsense = compute_v1.ListInstancesRequest(
        project=gce.project, zone=ZONE, filter="this is not a filter"
    )
    with pytest.raises(gexc.BadRequest, match="filter"):
        list(gce.instances.list(request=nonsense))


def test_aggregated_list_of_5000_is_fast(gce: Clients, sandbox_info: daemon.SandboxInfo) -> None:
    start = time.perf_counter()
    daemon.admin(sandbox_info, "seed", {"instances": 5000, "zones": 21})
    seed_s = time.perf_counter() - start
    path = f"/compute/v1/projects/{gce.project}/aggregated/instances?maxResults=500"
    token, pages, total = "", 0, 0
    times: list[float] = []
    while True:
        t0 = time.perf_counter()
        page = _raw_get(sandbox_info, path + (f"&pageToken={token}" if token else ""))
        times.append(time.perf_counter() - t0)
        total += sum(len(s.get("instances", [])) for s in page["items"].values())
        pages += 1
        token = page.get("nextPageToken", "")
        if not token:
            break
    median = sorted(times)[len(times) // 2]
    print(
        f"seed 5000: {seed_s:.2f} s; {pages} pages of 500: median {median * 1000:.0f} ms, slowest {max(times) * 1000:.0f} ms"
    )
    assert total == 5000 and pages == 10
    # ~0.1 s a page on an idle machine; the bound leaves room for a busy shared CI box.
    assert median < 1.0
    assert seed_s < 15


def test_seeded_instances_have_gpus_and_deadlines(
    gce: Clients, sandbox_info: daemon.SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"instances": 300, "zones": 4})
    found = [i for _, s in gce.instances.aggregated_list(project=gce.project) for i in s.instances]
    assert any(i.guest_accelerators for i in found)
    assert any(i.scheduling.provisioning_model == "SPOT" for i in found)
    assert any(i.scheduling.max_run_duration.seconds for i in found if i.status == "RUNNING")
    assert len({i.network_interfaces[0].network_i_p for i in found}) == len(found)


# ---------------------------------------------------------------- faults reach the real client


def test_injected_errors_map_to_api_core_exceptions(
    gce: Clients, faults: Callable[..., dict]
) -> None:
    faults(fail_next=1, codes=[503])
    with pytest.raises(gexc.ServiceUnavailable, match="Injected fault"):
        gce.instances.get(project=gce.project, zone=ZONE, instance="anything", retry=None)
    # The client's own default retry for get() rides over a 503.
    faults(fail_next=1, codes=[503])
    with pytest.raises(gexc.NotFound):
        gce.get("anything")
    faults(fail_next=1, codes=[429])
    with pytest.raises(gexc.TooManyRequests):
        list(gce.zones.list(project=gce.project))
    with pytest.raises(gexc.NotFound, match="instances/anything"):
        gce.get("anything")


# ---------------------------------------------------------------- the daemon restarts


def test_restart_reboots_running_instances(private_sandbox: Path) -> None:
    env = {"CLOUDPANE_SANDBOX_TIMING": '{"provisioning": 0.2, "staging": 0.2, "stopping": 0.2}'}
    info = daemon.start(private_sandbox, env=env)
    options = {"api_endpoint": info.url}
    ic = compute_v1.InstancesClient(
        credentials=owner_credentials(info), transport="rest", client_options=options
    )
    oc = compute_v1.ZoneOperationsClient(
        credentials=owner_credentials(info), transport="rest", client_options=options
    )
    op = ic.insert_unary(
        project=info.project,
        zone=ZONE,
        instance_resource=vm("survivor", script="echo $$ > pid; sleep 300"),
    )
    oc.wait(project=info.project, zone=ZONE, operation=op.name)
    folder = work_dir(info, "survivor")
    first = int(
        wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text().strip())
    )
    (folder / "pid").unlink()
    daemon.stop(private_sandbox)
    assert not pid_alive(first)  # the sandbox's "host" went down with it
    info = daemon.start(private_sandbox, env=env)
    ic = compute_v1.InstancesClient(
        credentials=owner_credentials(info),
        transport="rest",
        client_options={"api_endpoint": info.url},
    )
    assert ic.get(project=info.project, zone=ZONE, instance="survivor").status == "RUNNING"
    second = int(
        wait_for(lambda: (folder / "pid").exists() and (folder / "pid").read_text().strip())
    )
    assert second != first and pid_alive(second)


# ---------------------------------------------------------------- processes.py on its own


async def test_process_table_cpu_time_and_group_kill(tmp_path: Path) -> None:
    import asyncio

    from tui.sandbox.processes import ProcessTable

    table = ProcessTable()
    script = (
        "sleep 300 & echo $! > child; "
        "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo burnt; wait"
    )
    lines: list[str] = []
    managed = await table.start(
        "p/z/burner",
        script,
        cwd=tmp_path / "cwd",
        log_path=tmp_path / "out.log",
        format_line=lambda text: f"> {text}",
        on_line=lines.append,
    )
    try:
        deadline = time.monotonic() + 30
        while "burnt" not in lines and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        cpu = table.cpu_seconds("p/z/burner")
        assert cpu is not None and cpu > 0.1  # 100,000 rounds of a bash loop: ~0.3 s of CPU
        assert "> burnt" in (tmp_path / "out.log").read_text()
        child = int((tmp_path / "cwd" / "child").read_text())
        assert pid_alive(child) and table.group_alive("p/z/burner")
    finally:
        await table.kill("p/z/burner")
    deadline = time.monotonic() + 3
    while (pid_alive(child) or pid_alive(managed.pid)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not pid_alive(child) and not pid_alive(managed.pid)
    assert table.cpu_seconds("p/z/burner") is None and "p/z/burner" not in table


def test_a_restarted_sandbox_keeps_its_address(private_sandbox: Path) -> None:
    """A TUI still pointing at the old address reconnects by itself; when the port was taken
    meanwhile, the sandbox starts anyway on another one."""
    first = daemon.start(private_sandbox)
    grpc_before = _monitoring_grpc(first)
    daemon.stop(private_sandbox)
    again = daemon.start(private_sandbox)
    assert again.url == first.url
    assert _monitoring_grpc(again) == grpc_before  # the Monitoring gRPC port too
    daemon.stop(private_sandbox)
    port = int(first.url.rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        moved = daemon.start(private_sandbox)
        assert moved.url != first.url


def _monitoring_grpc(info: daemon.SandboxInfo) -> str:
    with urllib.request.urlopen(
        as_owner(info, f"{info.url}/_sandbox/monitoring"), timeout=10
    ) as resp:
        return str(json.loads(resp.read())["grpcEndpoint"])
