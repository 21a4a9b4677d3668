"""The sandbox's Compute Engine disks: `disks.aggregatedList`, `disks.list`, `disks.get`.

Google's Instance resource says which disks are attached but not their type (pd-balanced,
pd-ssd, …); the Disk resource does, and pricing needs it. The sandbox creates a boot disk with
every instance (named like it, deleted with it, as `autoDelete` does), so the disks are derived
from the instance documents compute.py stores: nothing more to keep in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import compute
from tui.sandbox import compute_catalog as cat
from tui.sandbox.context import SandboxContext

BASE = cat.BASE
PREFIX = compute.PREFIX


def disk_link(project: str, zone: str, name: str) -> str:
    return f"{BASE}/projects/{project}/zones/{zone}/disks/{name}"


def disks_of(key: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Google's Disk documents for an instance's attached persistent disks."""
    project, zone, _ = key.split("/")
    sandbox = doc.get("_sandbox") or {}
    disk_type = str(sandbox.get("diskType") or "pd-standard")
    status = doc.get("status", "")
    found = []
    for attached in doc.get("disks") or []:
        if attached.get("type", "PERSISTENT") != "PERSISTENT":
            continue  # local SSDs are not Disk resources
        name = compute.last_segment(str(attached.get("source", ""))) or doc["name"]
        image = str(sandbox.get("image", ""))
        disk: dict[str, Any] = {
            "kind": "compute#disk",
            "id": cat.stable_id(project, zone, "disk", name, str(doc.get("id", ""))),
            "creationTimestamp": doc.get("creationTimestamp", ""),
            "name": name,
            "sizeGb": str(attached.get("diskSizeGb", "10")),
            "zone": f"{BASE}/projects/{project}/zones/{zone}",
            "status": "CREATING" if status == "PROVISIONING" else "READY",
            "selfLink": disk_link(project, zone, name),
            "type": f"{BASE}/projects/{project}/zones/{zone}/diskTypes/{disk_type}",
            "licenses": list(attached.get("licenses") or []),
            "guestOsFeatures": list(attached.get("guestOsFeatures") or []),
            "lastAttachTimestamp": doc.get("creationTimestamp", ""),
            "users": [doc.get("selfLink") or compute.instance_link(project, zone, doc["name"])],
            "labelFingerprint": "42WmSpB8rSM=",
            "physicalBlockSizeBytes": "4096",
            "architecture": attached.get("architecture", "X86_64"),
        }
        licenses = attached.get("licenses") or []
        image_project = compute.segment_after(str(licenses[0]), "projects") if licenses else None
        if image and image_project and attached.get("boot"):
            disk["sourceImage"] = f"{BASE}/projects/{image_project}/global/images/{image}"
        found.append(disk)
    return found


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    def scan(
        prefix: str, after: str, size: int, match: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """Up to `size` matching disks after the disk key `after`, and the next cursor.

        A sandbox disk is named like its instance, so disk keys follow instance keys and the
        store's key order pages them without rescanning.
        """
        found: list[tuple[str, dict[str, Any]]] = []
        cursor = after
        batch_size = max(size, 100)
        while True:
            batch = ctx.store.list(
                compute.INSTANCE, prefix=prefix, start_after=cursor, limit=batch_size
            )
            for key, doc in batch:
                cursor = key
                project, zone, _ = key.split("/")
                for disk in disks_of(key, doc):
                    disk_key = f"{project}/{zone}/{disk['name']}"
                    if disk_key <= after or not match(disk):
                        continue
                    if len(found) == size:
                        return found, found[-1][0]
                    found.append((disk_key, disk))
            if len(batch) < batch_size:
                return found, None

    def page_args(
        request: Request, scope: str
    ) -> tuple[int, str, Callable[[dict[str, Any]], bool]]:
        size = compute.int_param(request, "maxResults", compute.MAX_PAGE, 0, compute.MAX_PAGE)
        after = compute.key_token(request, scope)
        match = compute.compile_filter(request.query_params.get("filter", ""))
        return size or compute.MAX_PAGE, after, match

    async def disks_aggregated(request: Request) -> Response:
        project = request.path_params["project"]
        size, after, match = page_args(request, f"{project}/")
        found, last = scan(f"{project}/", after, size, match)
        items: dict[str, Any] = {}
        for key, disk in found:
            zone = key.split("/")[1]
            items.setdefault(f"zones/{zone}", {"disks": []})["disks"].append(disk)
        for zone in cat.ZONES:
            scope = f"zones/{zone}"
            if scope not in items:
                items[scope] = {
                    "warning": {
                        "code": "NO_RESULTS_ON_PAGE",
                        "message": f"There are no results for scope '{scope}' on this page.",
                        "data": [{"key": "scope", "value": scope}],
                    }
                }
        body: dict[str, Any] = {
            "kind": "compute#diskAggregatedList",
            "id": f"projects/{project}/aggregated/disks",
            "items": items,
            "selfLink": f"{BASE}/projects/{project}/aggregated/disks",
        }
        if last:
            body["nextPageToken"] = compute.encode_token(last)
        return compute.respond(ctx, body)

    async def disks_list(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        compute.check_zone(zone)
        size, after, match = page_args(request, f"{project}/{zone}/")
        found, last = scan(f"{project}/{zone}/", after, size, match)
        body: dict[str, Any] = {
            "kind": "compute#diskList",
            "id": f"projects/{project}/zones/{zone}/disks",
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/disks",
        }
        if found:
            body["items"] = [disk for _, disk in found]
        if last:
            body["nextPageToken"] = compute.encode_token(last)
        return compute.respond(ctx, body)

    async def disk_get(request: Request) -> Response:
        p = request.path_params
        project, zone, name = p["project"], p["zone"], p["disk"]
        compute.check_zone(zone)
        same_name = compute.load(ctx, f"{project}/{zone}/{name}")  # the usual boot disk
        owners = (
            [(f"{project}/{zone}/{name}", same_name)]
            if same_name is not None
            else ctx.store.list(compute.INSTANCE, prefix=f"{project}/{zone}/")
        )
        for key, doc in owners:
            for disk in disks_of(key, doc):
                if disk["name"] == name:
                    return compute.respond(ctx, disk)
        raise compute.not_found(f"projects/{project}/zones/{zone}/disks/{name}")

    z = PREFIX + "/zones/{zone}"
    return [
        Route(PREFIX + "/aggregated/disks", disks_aggregated, methods=["GET"]),
        Route(z + "/disks", disks_list, methods=["GET"]),
        Route(z + "/disks/{disk}", disk_get, methods=["GET"]),
    ]
