"""The sandbox's VPC networks: `networks.list/get`, `subnetworks.list/get`, and the network an
instance's interface joins.

A new Google project has one auto-mode network, `default`, with a subnetwork named `default` in
every region (10.128.0.0/9, a /20 per region). Organisation projects often have none: an
organisation policy (compute.skipDefaultNetworkCreation) skips it, and their networks are
custom-mode ones with subnetworks only where someone made them. The seed option
`{"default_network": false, "networks": [{"name": "vpc-main", "subnets": {"europe-west4":
"10.1.0.0/24"}}]}` makes such a project, so a test can drive what cloudpane does there.

Interfaces (the NetworkInterface reference, google-cloud-compute's `compute.py`): "if neither
the network nor the subnetwork is specified, the default network global/networks/default is
used. If the selected project doesn't have the default network, you must specify a network or
subnet"; "If the network is in custom subnet mode, specifying the subnetwork is required."
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import compute
from tui.sandbox import compute_catalog as cat
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError

BASE = cat.BASE
PREFIX = compute.PREFIX
NETWORK = "compute.network"  # key: project/name → {"name", "auto": bool, "subnets": {region: cidr}}
NO_DEFAULT = "compute.network.nodefault"  # key: project → {} when the project has no default
CREATED = "2024-01-01T00:00:00.000-07:00"


def _default(project: str) -> dict[str, Any]:
    subnets = {region: f"10.{octet}.0.0/20" for region, (_, octet) in cat.REGIONS.items()}
    return {"name": "default", "auto": True, "subnets": subnets}


def networks(ctx: SandboxContext, project: str) -> dict[str, dict[str, Any]]:
    """The project's networks by name (the implicit auto-mode `default` unless removed)."""
    found = {doc["name"]: doc for _, doc in ctx.store.list(NETWORK, prefix=f"{project}/")}
    if "default" not in found and ctx.store.get(NO_DEFAULT, project) is None:
        found["default"] = _default(project)
    return dict(sorted(found.items()))


def network_link(project: str, name: str) -> str:
    return f"{BASE}/projects/{project}/global/networks/{name}"


def subnetwork_link(project: str, region: str, name: str) -> str:
    return f"{BASE}/projects/{project}/regions/{region}/subnetworks/{name}"


def network_json(project: str, net: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "compute#network",
        "id": str(abs(hash((project, net["name"]))) % 10**18),
        "creationTimestamp": CREATED,
        "name": net["name"],
        "selfLink": network_link(project, net["name"]),
        "selfLinkWithId": network_link(project, net["name"]),
        "autoCreateSubnetworks": bool(net["auto"]),
        "subnetworks": [
            subnetwork_link(project, region, net["name"]) for region in sorted(net["subnets"])
        ],
        "routingConfig": {"routingMode": "REGIONAL"},
        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
    }
    if net["auto"]:
        body["description"] = "Default network for the project"
    return body


def subnetwork_json(project: str, region: str, net: dict[str, Any]) -> dict[str, Any]:
    cidr = net["subnets"][region]
    first, _, _ = cidr.partition("/")
    gateway = ".".join([*first.split(".")[:3], "1"])
    return {
        "kind": "compute#subnetwork",
        "id": str(abs(hash((project, region, net["name"]))) % 10**18),
        "creationTimestamp": CREATED,
        "name": net["name"],
        "network": network_link(project, net["name"]),
        "ipCidrRange": cidr,
        "gatewayAddress": gateway,
        "region": f"{BASE}/projects/{project}/regions/{region}",
        "selfLink": subnetwork_link(project, region, net["name"]),
        "privateIpGoogleAccess": False,
        "purpose": "PRIVATE",
        "stackType": "IPV4_ONLY",
        "fingerprint": "5lY1t0qGc5I=",
    }


def interface_links(
    ctx: SandboxContext, project: str, region: str, nic: dict[str, Any] | None
) -> tuple[str, str]:
    """(network, subnetwork) links an instance's first interface joins, or Google's refusal."""
    nic = nic or {}
    known = networks(ctx, project)
    subnet = str(nic.get("subnetwork") or "")
    network = str(nic.get("network") or "")
    if subnet:
        parts = subnet.rstrip("/").split("/")
        sub_region = parts[parts.index("regions") + 1] if "regions" in parts else region
        name = parts[-1]
        owner = next(
            (n for n in known.values() if n["name"] == name and sub_region in n["subnets"]), None
        )
        if owner is None:
            raise compute.not_found(f"projects/{project}/regions/{sub_region}/subnetworks/{name}")
        if sub_region != region:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.networkInterfaces[0].subnetwork': '{subnet}'. "
                "Subnetwork must be in the same region as the instance.",
            )
        if network and compute.last_segment(network) != owner["name"]:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.networkInterfaces[0].subnetwork': '{subnet}'. "
                "Subnetwork does not belong to the network of the interface.",
            )
        return network_link(project, owner["name"]), subnetwork_link(project, region, name)
    name = compute.last_segment(network) if network else "default"
    net = known.get(name)
    if net is None:
        raise compute.not_found(f"projects/{project}/global/networks/{name}")
    if not net["auto"]:
        raise ApiError(
            400,
            "Invalid value for field 'resource.networkInterfaces[0].subnetwork': ''. "
            "Subnetwork should be specified for custom subnetmode network",
        )
    if region not in net["subnets"]:
        raise compute.not_found(f"projects/{project}/regions/{region}/subnetworks/{name}")
    return network_link(project, name), subnetwork_link(project, region, name)


def seed(ctx: SandboxContext, **options: Any) -> dict[str, Any]:
    """`default_network: false` removes `default`; `networks` adds custom-mode networks."""
    project = ctx.project
    made = []
    if options.get("default_network") is False:
        ctx.store.put(NO_DEFAULT, project, {})
    for net in options.get("networks") or []:
        name = str(net["name"])
        subnets = {str(r): str(c) for r, c in (net.get("subnets") or {}).items()}
        ctx.store.put(
            NETWORK, f"{project}/{name}", {"name": name, "auto": False, "subnets": subnets}
        )
        made.append(name)
    return {"networks": made} if made or options.get("default_network") is False else {}


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    def listing(request: Request, kind: str, noun: str, items: list[dict[str, Any]]) -> Response:
        match = compute.compile_filter(request.query_params.get("filter", ""))
        page, token = compute.paginate(request, [i for i in items if match(i)])
        project = request.path_params["project"]
        where = (
            f"regions/{request.path_params['region']}/"
            if "region" in request.path_params
            else "global/"
        )
        body: dict[str, Any] = {
            "kind": kind,
            "id": f"projects/{project}/{where}{noun}",
            "items": page,
            "selfLink": f"{BASE}/projects/{project}/{where}{noun}",
        }
        if token:
            body["nextPageToken"] = token
        return compute.respond(ctx, body)

    async def networks_list(request: Request) -> Response:
        project = request.path_params["project"]
        items = [network_json(project, n) for n in networks(ctx, project).values()]
        return listing(request, "compute#networkList", "networks", items)

    async def network_get(request: Request) -> Response:
        project, name = request.path_params["project"], request.path_params["network"]
        net = networks(ctx, project).get(name)
        if net is None:
            raise compute.not_found(f"projects/{project}/global/networks/{name}")
        return compute.respond(ctx, network_json(project, net))

    def check_region(project: str, region: str) -> None:
        if region not in cat.REGIONS:
            raise compute.not_found(f"projects/{project}/regions/{region}")

    async def subnetworks_list(request: Request) -> Response:
        project, region = request.path_params["project"], request.path_params["region"]
        check_region(project, region)
        items = [
            subnetwork_json(project, region, n)
            for n in networks(ctx, project).values()
            if region in n["subnets"]
        ]
        return listing(request, "compute#subnetworkList", "subnetworks", items)

    async def subnetwork_get(request: Request) -> Response:
        p = request.path_params
        check_region(p["project"], p["region"])
        net = networks(ctx, p["project"]).get(p["subnetwork"])
        if net is None or p["region"] not in net["subnets"]:
            raise compute.not_found(
                f"projects/{p['project']}/regions/{p['region']}/subnetworks/{p['subnetwork']}"
            )
        return compute.respond(ctx, subnetwork_json(p["project"], p["region"], net))

    r = PREFIX + "/regions/{region}"
    return [
        Route(PREFIX + "/global/networks", networks_list, methods=["GET"]),
        Route(PREFIX + "/global/networks/{network}", network_get, methods=["GET"]),
        Route(r + "/subnetworks", subnetworks_list, methods=["GET"]),
        Route(r + "/subnetworks/{subnetwork}", subnetwork_get, methods=["GET"]),
    ]
