"""Which VPC network a new VM joins, chosen from the project's networks and subnetworks.

A new project has an auto-mode network `default` with a subnetwork in every region; projects
in organisations often have none (the organisation policy compute.skipDefaultNetworkCreation)
and only custom-mode networks whose subnetworks exist where someone made them. Compute Engine
uses `global/networks/default` when an interface names nothing, refuses when the project lacks
it, and requires a subnetwork for a custom-mode network (NetworkInterface reference; see
docs/gcp-facts.md). So: `default` when it exists (with its subnetwork in the region if it is a
custom-mode network), else the only network with a subnetwork in the VM's region, else a
sentence that says how to make one — never a guess.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tui.services.clients import Backend, call, compute_client, read_retry
from tui.services.errors import InvalidArgument, NotFound, PermissionDenied


class NoNetwork(InvalidArgument):
    title = "No network"


@dataclass(frozen=True)
class Network:
    name: str
    auto: bool  # auto mode: a subnetwork in every region, named like the network


@dataclass(frozen=True)
class Subnetwork:
    name: str
    network: str  # the network's name
    region: str


@dataclass(frozen=True)
class NetworkChoice:
    network: str  # "global/networks/NAME"
    subnetwork: str | None  # "regions/R/subnetworks/NAME", or None to let Google pick (auto mode)


def _short(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def choose(networks: list[Network], subnets: list[Subnetwork], region: str) -> NetworkChoice:
    """The rule above, pure. `subnets` are the region's subnetworks."""
    here = [s for s in subnets if s.region == region]
    by_name = {n.name: n for n in networks}
    default = by_name.get("default")
    if default is not None:
        if default.auto:
            return NetworkChoice("global/networks/default", None)
        own = [s for s in here if s.network == "default"]
        if len(own) == 1:
            return NetworkChoice("global/networks/default", _subnet(own[0]))
    candidates = [s for s in here if s.network in by_name or not by_name]
    if len(candidates) == 1:
        return NetworkChoice(f"global/networks/{candidates[0].network}", _subnet(candidates[0]))
    if not candidates:
        raise NoNetwork(
            f"This project has no network in {region}; create one: "
            "gcloud compute networks create cloudpane-net --subnet-mode=auto",
            f"Or add a subnetwork in {region} to an existing network: gcloud compute networks "
            f"subnets create NAME --network=NETWORK --region={region} --range=10.10.0.0/20",
        )
    listed = ", ".join(f"{s.network}/{s.name}" for s in candidates)
    raise NoNetwork(
        f"This project has no `default` network and several subnetworks in {region} ({listed}); "
        "cloudpane does not guess which one a VM should join.",
        "Create the VM with gcloud compute instances create … --subnet=NAME, or pick a region "
        "where only one network has a subnetwork.",
    )


def _subnet(s: Subnetwork) -> str:
    return f"regions/{s.region}/subnetworks/{s.name}"


async def read_networks(backend: Backend, region: str) -> tuple[list[Network], list[Subnetwork]]:
    """networks.list and subnetworks.list for the region, read at the same time."""

    def networks() -> list[Network]:
        client = compute_client(backend, "NetworksClient")
        return [
            Network(n.name, bool(n.auto_create_subnetworks))
            for n in client.list(project=backend.project, retry=read_retry())
        ]

    def subnetworks() -> list[Subnetwork]:
        client = compute_client(backend, "SubnetworksClient")
        return [
            Subnetwork(s.name, _short(s.network), region)
            for s in client.list(project=backend.project, region=region, retry=read_retry())
        ]

    found, subs = await asyncio.gather(
        call(networks, action="list networks"),
        call(subnetworks, action=f"list subnetworks in {region}"),
    )
    return found, subs


async def choose_network(backend: Backend, region: str) -> NetworkChoice:
    """The network for a VM in `region`. Without the right to list networks (a role with
    compute.instances.create only), Google's own default applies: `default`; so it does for a
    region Compute does not know, whose refusal the instance insert then gives in its words."""
    try:
        found, subs = await read_networks(backend, region)
    except (PermissionDenied, NotFound):
        return NetworkChoice("global/networks/default", None)
    return choose(found, subs, region)
