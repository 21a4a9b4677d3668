"""A new VM joins a network the project has: `default` when it exists, else the only network
with a subnetwork in the VM's region, else a sentence saying how to make one. The sandbox serves
networks.list / subnetworks.list and can be a project without a default network (seed option)."""

from __future__ import annotations

import asyncio

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from tui.sandbox import daemon
from tui.services.clients import Backend, compute_client
from tui.services.compute import ComputeService
from tui.services.models import Image, InstanceSpec
from tui.services.networks import NoNetwork

DEBIAN = Image("debian-cloud", "debian-12")


@pytest.fixture
def svc(clean_sandbox: Backend) -> ComputeService:
    return ComputeService(clean_sandbox)


def spec(name: str, zone: str) -> InstanceSpec:
    return InstanceSpec(
        name=name, zone=zone, machine_type="e2-medium", image=DEBIAN, disk_size_gb=20
    )


def nic_of(backend: Backend, zone: str, name: str) -> compute_v1.NetworkInterface:
    client = compute_client(backend, "InstancesClient")
    return client.get(project=backend.project, zone=zone, instance=name).network_interfaces[0]


async def test_a_new_project_has_the_auto_mode_default_network(svc: ComputeService) -> None:
    backend = svc.backend
    nets = compute_client(backend, "NetworksClient").list(project=backend.project)
    assert [(n.name, n.auto_create_subnetworks) for n in nets] == [("default", True)]
    subs = compute_client(backend, "SubnetworksClient").list(
        project=backend.project, region="us-central1"
    )
    assert [(s.name, s.ip_cidr_range) for s in subs] == [("default", "10.128.0.0/20")]
    await svc.wait_operation(await svc.create_instance(spec("vm-default", "us-central1-a")), 30)
    nic = await asyncio.to_thread(nic_of, backend, "us-central1-a", "vm-default")
    assert nic.network.endswith("/global/networks/default")
    assert nic.subnetwork.endswith("/regions/us-central1/subnetworks/default")


async def test_without_default_network_the_regional_one_is_used_or_said(
    svc: ComputeService, sandbox_info: daemon.SandboxInfo
) -> None:
    daemon.admin(
        sandbox_info,
        "seed",
        {
            "default_network": False,
            "networks": [{"name": "vpc-main", "subnets": {"europe-west4": "10.1.0.0/24"}}],
        },
    )
    backend = svc.backend
    # Google refuses an interface that names nothing when `default` is gone…
    client = compute_client(backend, "InstancesClient")
    raw = compute_v1.Instance(
        name="raw",
        machine_type="zones/europe-west4-a/machineTypes/e2-medium",
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/debian-cloud/global/images/family/debian-12"
                ),
            )
        ],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/vpc-main")],
    )
    with pytest.raises(gexc.BadRequest, match="Subnetwork should be specified for custom"):
        await asyncio.to_thread(
            client.insert, project=backend.project, zone="europe-west4-a", instance_resource=raw
        )
    # …cloudpane picks the network that has a subnetwork in the VM's region,
    await svc.wait_operation(await svc.create_instance(spec("vm-eu", "europe-west4-a")), 30)
    nic = await asyncio.to_thread(nic_of, backend, "europe-west4-a", "vm-eu")
    assert nic.network.endswith("/global/networks/vpc-main")
    assert nic.subnetwork.endswith("/regions/europe-west4/subnetworks/vpc-main")
    # and says what to do where the project has none.
    with pytest.raises(NoNetwork) as caught:
        await svc.create_instance(spec("vm-us", "us-central1-a"))
    assert str(caught.value.message).startswith(
        "This project has no network in us-central1; create one: gcloud compute networks create"
    )
