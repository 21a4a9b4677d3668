"""Compute Engine for the VMs pane: async wrappers over google-cloud-compute (REST).

Returns the plain dataclasses of models.py, never protobuf. Idempotent reads retry with
`read_retry()`; writes (insert, start, stop, …) are sent once — a blind retry could create or
stop twice — and their errors, like every error here, go through `translate` with a phrase
saying what was being done. The same code talks to Google and to the sandbox.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from tui.services.clients import Backend, call, compute_client, read_retry
from tui.services.errors import (
    BAD_ANSWER_HINT,
    BadAnswer,
    CloudpaneError,
    InvalidArgument,
    OperationFailed,
    Unavailable,
)
from tui.services.idle_stop import LABEL as IDLE_STOP_LABEL
from tui.services.idle_stop import IdleStop, with_watcher
from tui.services.models import (
    Accelerator,
    AcceleratorType,
    Disk,
    Image,
    ImageChoices,
    Instance,
    InstanceSpec,
    MachineType,
    MissingImageFamily,
    Operation,
    Zone,
)

# ---------------------------------------------------------------- pure helpers (no I/O)

_NAME_CHARS = re.compile(r"[^a-z0-9-]")

# GPUs a machine family accepts: n1 takes attached GPUs of these types; a2/a3/g2 bring their
# own (bundled with the machine type, chosen by picking the shape, not added separately).
N1_ACCELERATORS = ("nvidia-tesla-t4", "nvidia-tesla-p4", "nvidia-tesla-p100", "nvidia-tesla-v100")
BUNDLED_ACCELERATORS = {
    "a2": ("nvidia-tesla-a100", "nvidia-a100-80gb"),
    "a3": ("nvidia-h100-80gb",),
    "g2": ("nvidia-l4",),
}


def validate_instance_name(name: str) -> str | None:
    """None if `name` is a valid instance name (RFC 1035), else the reason in plain words."""
    if not name:
        return "A name is required."
    if len(name) > 63:
        return f"A name has at most 63 characters; this one has {len(name)}."
    if any(c.isupper() for c in name):
        return "Use lowercase letters only (no capitals)."
    bad = sorted(set(_NAME_CHARS.findall(name)))
    if bad:
        shown = ", ".join("a space" if c == " " else repr(c) for c in bad)
        return f"Only lowercase letters, digits and hyphens are allowed (not {shown})."
    if not ("a" <= name[0] <= "z"):
        return "A name must start with a lowercase letter."
    if name.endswith("-"):
        return "A name cannot end with a hyphen."
    return None


def accelerators_for_family(family: str) -> tuple[str, ...]:
    """GPU types a machine family can have: n1 → T4/P4/P100/V100; a2 → A100; a3 → H100; g2 → L4.

    For a2/a3/g2 the GPUs come with the machine type (pick the shape); only n1 lets the
    create form add GPUs separately (see `attachable_accelerators`).
    """
    if family == "n1":
        return N1_ACCELERATORS
    return BUNDLED_ACCELERATORS.get(family, ())


def attachable_accelerators(family: str) -> tuple[str, ...]:
    """GPU types that may be added (guestAccelerators) to a machine of this family."""
    return N1_ACCELERATORS if family == "n1" else ()


def short_name(link: str) -> str:
    """The last path segment of a resource URL ("…/zones/us-central1-a" → "us-central1-a")."""
    return link.rstrip("/").rsplit("/", 1)[-1] if link else ""


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 (Google's "2024-09-10T03:04:05.123-07:00") → aware datetime; None if empty."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", value)
    if match and match.group(2):  # Python 3.10 wants 3 or 6 fractional digits
        frac = (match.group(2)[1:] + "000000")[:6]
        value = f"{match.group(1)}.{frac}{match.group(3)}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _has(message: Any, field: str) -> bool:
    try:
        return field in message
    except (TypeError, ValueError):
        return False


def _raw(message: Any) -> Any:
    """The protobuf under a proto-plus message: attribute reads are ~10x faster on it."""
    pb = getattr(type(message), "pb", None)
    return pb(message) if pb is not None else message


def disk_path(link: str) -> str:
    """A disk's link without the host: "https://…/compute/v1/projects/p/zones/z/disks/d" →
    "projects/p/zones/z/disks/d" (Google and the sandbox differ only in the host)."""
    at = link.find("projects/")
    return link[at:] if at >= 0 else link


def segment(path: str, name: str) -> str:
    """The path segment after `name` ("projects/p/zones/z/disks/d", "zones" → "z")."""
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part == name:
            return parts[i + 1]
    return ""


def _disk_type(disk: Mapping[str, Any], disk_types: Mapping[str, str] | None) -> str:
    """The short disk type ("pd-balanced"), or "" when unknown.

    An Instance does not say it: it comes from the Disk resources (disks.aggregatedList).
    """
    if disk.get("type") == "SCRATCH":
        return "local-ssd"
    if disk_types is None:
        return ""
    return disk_types.get(disk_path(str(disk.get("source", ""))), "")


def instance_to_json(inst: Any) -> dict[str, Any]:
    """A compute_v1.Instance (proto-plus or raw protobuf) → the REST JSON Google sends
    (camelCase json names such as `networkIP`, int64 as strings, unset fields absent), so
    the GAPIC path and the REST path (rest_reads) feed the one parser, `instance_from_json`."""
    from google.protobuf.json_format import MessageToDict

    result: dict[str, Any] = MessageToDict(_raw(inst), preserving_proto_field_name=False)
    return result


def _int(value: Any) -> int:
    """JSON int64 are strings ("10"); int32 are numbers."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def instance_from_json(
    data: Mapping[str, Any], disk_types: Mapping[str, str] | None = None
) -> Instance:
    """An instance's REST JSON (Google's camelCase) → models.Instance (short names, parsed
    timestamps). The one parser: the GAPIC path converts its protobuf first (instance_to_json).

    `disk_types` maps `disk_path(disk link)` → short disk type; without it disk types are ""
    (unknown), which pricing shows as "price unknown".
    """
    internal_ip = external_ip = None
    nics = data.get("networkInterfaces") or ()
    if nics:
        nic = nics[0]
        internal_ip = nic.get("networkIP") or None
        for access in nic.get("accessConfigs") or ():
            if access.get("natIP"):
                external_ip = access["natIP"]
                break
    sched = data.get("scheduling") or {}
    max_run = None
    if sched.get("maxRunDuration") is not None:
        max_run = _int((sched["maxRunDuration"] or {}).get("seconds")) or None
    metadata = data.get("metadata") or {}
    return Instance(
        id=str(data.get("id", "0")),
        name=str(data.get("name", "")),
        zone=short_name(str(data.get("zone", ""))),
        status=str(data.get("status", "")),
        machine_type=short_name(str(data.get("machineType", ""))),
        accelerators=tuple(
            Accelerator(
                short_name(str(a.get("acceleratorType", ""))), _int(a.get("acceleratorCount"))
            )
            for a in data.get("guestAccelerators") or ()
        ),
        internal_ip=internal_ip,
        external_ip=external_ip,
        created=parse_timestamp(str(data.get("creationTimestamp", ""))),
        last_start=parse_timestamp(str(data.get("lastStartTimestamp", ""))),
        last_stop=parse_timestamp(str(data.get("lastStopTimestamp", ""))),
        spot=sched.get("provisioningModel") == "SPOT" or bool(sched.get("preemptible")),
        disks=tuple(
            Disk(
                name=short_name(str(d.get("source", ""))) or str(d.get("deviceName", "")),
                size_gb=_int(d.get("diskSizeGb")),
                type=_disk_type(d, disk_types),
                boot=bool(d.get("boot")),
            )
            for d in data.get("disks") or ()
        ),
        max_run_seconds=max_run,
        termination_time=parse_timestamp(str(sched.get("terminationTime", ""))),
        termination_action=sched.get("instanceTerminationAction") or None,
        labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
        has_startup_script=any(
            item.get("key") == "startup-script" for item in metadata.get("items") or ()
        ),
        self_link=str(data.get("selfLink", "")),
    )


def operation_from_proto(op: Any) -> Operation:
    status = op.status.name if hasattr(op.status, "name") else str(op.status)
    error = None
    if op.error and op.error.errors:
        error = "; ".join(e.message or e.code for e in op.error.errors)
    return Operation(
        name=op.name,
        zone=short_name(op.zone),
        operation_type=op.operation_type,
        target=short_name(op.target_link),
        status=status if status in ("PENDING", "RUNNING", "DONE") else "PENDING",
        progress=int(op.progress),
        error=error,
        error_code=_error_code(op),
    )


def _error_code(op: Any) -> str:
    if op.error and op.error.errors:
        return str(op.error.errors[0].code)
    return ""


_ACTIONS = {
    "insert": "create instance {target}",
    "start": "start instance {target}",
    "stop": "stop instance {target}",
    "reset": "reset instance {target}",
    "delete": "delete instance {target}",
    "setMachineType": "change the machine type of {target}",
    "setScheduling": "change the auto-stop of {target}",
    "setLabels": "change the labels of {target}",
}


log = logging.getLogger(__name__)

# A mutation waits less than a read for a throttled or failing API: the user is watching it.
WRITE_RETRY_SECONDS = 12.0

# Only what instance_from_json and the disk bookkeeping read (a partial response): half the
# bytes of whole instances, and ~40 % less JSON→protobuf parsing, which otherwise competes
# with the UI thread for the interpreter in a project of thousands of instances.
INSTANCE_LIST_FIELDS = (
    "nextPageToken,items/*/instances("
    "id,name,zone,status,machineType,selfLink,labels,"
    "creationTimestamp,lastStartTimestamp,lastStopTimestamp,"
    "guestAccelerators(acceleratorType,acceleratorCount),"
    "networkInterfaces(networkIP,accessConfigs(natIP)),"
    "scheduling(provisioningModel,preemptible,maxRunDuration,terminationTime,"
    "instanceTerminationAction),"
    "disks(source,deviceName,diskSizeGb,boot,type),"
    "metadata(items(key)))"
)


def _created(img: Any) -> datetime:
    """An image's creationTimestamp as a moment (offsets differ with daylight saving)."""
    return parse_timestamp(img.creation_timestamp) or datetime.min.replace(tzinfo=timezone.utc)


def image_from_proto(project: str, img: Any) -> Image:
    """An Image from a compute_v1.Image (its family's newest image)."""
    deprecated = img.deprecated if "deprecated" in img else None
    state = str(deprecated.state) if deprecated is not None else ""
    return Image(
        project=project,
        family=img.family,
        name=img.name,
        description=img.description,
        disk_size_gb=int(img.disk_size_gb or 0),
        # ACTIVE is a current image that merely announces its end of life.
        deprecation=state if state in ("DEPRECATED", "OBSOLETE", "DELETED") else "",
        deprecated_on=str(deprecated.deprecated) if deprecated is not None else "",
        created=img.creation_timestamp,
    )


# ---------------------------------------------------------------- the service


class ComputeService:
    """Compute Engine operations the VMs pane needs; every method is async."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        # Disk types already read: disk path → (id of the instance it was attached to, type).
        # A disk's type never changes; a disk path seen on another instance (deleted and made
        # again under the same name) is read again.
        self._known_disks: dict[str, tuple[str, str]] = {}
        self._list_mask = INSTANCE_LIST_FIELDS
        # The GPU of each create operation, to name other zones if it fails with a stock-out.
        self._op_gpus: dict[str, str] = {}

    @property
    def project(self) -> str:
        return self.backend.project

    def _client(self, kind: str) -> Any:
        return compute_client(self.backend, kind)

    # ---- reads (retried)

    async def list_instances(self, filter: str = "") -> list[Instance]:
        """Every instance in every zone (aggregatedList, all pages), with disk types.

        The disk types come from one disks.aggregatedList, read at the same time; if that
        fails (no permission, an outage), the listing still succeeds with types unknown.
        """

        def fetch() -> list[Any]:
            # The listing reads the REST JSON directly (the same reader `status` uses):
            # converting thousands of protobuf messages to dicts cost the UI's interpreter
            # about 4× the CPU of parsing the JSON once.
            from tui.services.rest_reads import RestReader

            return RestReader(self.backend).instance_dicts(self._list_mask, filter=filter)

        if not self._known_disks:  # first listing: read both at once
            items, fresh = await asyncio.gather(
                call(fetch, action="list instances"), self._disk_types_or_none()
            )
        else:  # later polls: disks only when one is new
            items = await call(fetch, action="list instances")
            fresh = await self._disk_types_or_none() if self._unknown_disks(items) else None
        types = self._learn_disks(items, fresh)
        # Thousands of conversions: in a thread, or the UI waits for them.
        return await asyncio.to_thread(lambda: [instance_from_json(i, types) for i in items])

    def _unknown_disks(self, items: list[dict[str, Any]]) -> bool:
        for inst in items:
            owner = str(inst.get("id", "0"))
            for d in inst.get("disks") or ():
                if d.get("type") != "SCRATCH" and d.get("source"):
                    known = self._known_disks.get(disk_path(d["source"]))
                    if known is None or known[0] != owner:
                        return True
        return False

    def _learn_disks(
        self, items: list[dict[str, Any]], fresh: Mapping[str, str] | None
    ) -> dict[str, str]:
        """Remember newly read types (with the instance each disk is on); the types that are
        known for the disks as attached now."""
        owners = {
            disk_path(d["source"]): str(inst.get("id", "0"))
            for inst in items
            for d in inst.get("disks") or ()
            if d.get("source")
        }
        for path, kind in (fresh or {}).items():
            self._known_disks[path] = (owners.get(path, ""), kind)
        return {
            path: kind
            for path, (owner, kind) in self._known_disks.items()
            if owners.get(path) == owner
        }

    async def disk_types(self) -> dict[str, str]:
        """{disk_path(disk link): short type} for every disk of the project (all pages)."""

        def fetch() -> dict[str, str]:
            from google.cloud import compute_v1

            client = self._client("DisksClient")
            request = compute_v1.AggregatedListDisksRequest(project=self.project, max_results=500)
            found: dict[str, str] = {}
            for _, scoped in client.aggregated_list(request=request, retry=read_retry()):
                for disk in scoped.disks:
                    raw = _raw(disk)
                    found[disk_path(raw.self_link)] = short_name(raw.type_)
            return found

        return await call(fetch, action="list disks")

    async def _disk_types_or_none(self) -> dict[str, str] | None:
        try:
            return await self.disk_types()
        except CloudpaneError:
            return None  # types unknown; the instances are still worth showing

    async def _disk_type_of(self, path: str) -> dict[str, str]:
        """{path: short type} for one disk ("projects/p/zones/z/disks/d"); {} if unreadable."""
        zone, name = segment(path, "zones"), segment(path, "disks")
        if not zone or not name:
            return {}

        def fetch() -> dict[str, str]:
            client = self._client("DisksClient")
            disk = client.get(project=self.project, zone=zone, disk=name, retry=read_retry())
            return {disk_path(disk.self_link): short_name(disk.type_)}

        try:
            return await call(fetch, action=f"get disk {name}")
        except CloudpaneError:
            return {}

    async def get_instance(self, zone: str, name: str) -> Instance:
        """One instance, with its disk types (a boot disk is usually named like its instance,
        so that disk is read at the same time; any other disk right after)."""

        def fetch() -> dict[str, Any]:
            client = self._client("InstancesClient")
            found = client.get(project=self.project, zone=zone, instance=name, retry=read_retry())
            return instance_to_json(found)

        guess = f"projects/{self.project}/zones/{zone}/disks/{name}"
        inst, types = await asyncio.gather(
            call(fetch, action=f"get instance {name}"), self._disk_type_of(guess)
        )
        if not inst.get("name"):  # parsed, but not an instance (a proxy's page, a stub)
            raise BadAnswer(
                f"Could not get instance {name}: the API's answer holds no instance.",
                BAD_ANSWER_HINT,
            )
        missing = [
            disk_path(d["source"])
            for d in inst.get("disks") or ()
            if d.get("type") != "SCRATCH"
            and d.get("source")
            and disk_path(d["source"]) not in types
            and disk_path(d["source"]) != guess  # already asked for; it failed
        ]
        for found in await asyncio.gather(*(self._disk_type_of(p) for p in missing)):
            types.update(found)
        return instance_from_json(inst, types)

    async def instance_resource(self, zone: str, name: str) -> dict[str, Any]:
        """The instance's full resource as Google's JSON (camelCase), for the details view."""

        def fetch() -> dict[str, Any]:
            from google.cloud import compute_v1

            client = self._client("InstancesClient")
            inst = client.get(project=self.project, zone=zone, instance=name, retry=read_retry())
            return dict(
                compute_v1.Instance.to_dict(
                    inst, preserving_proto_field_name=False, use_integers_for_enums=False
                )
            )

        return await call(fetch, action=f"get instance {name}")

    async def list_zones(self) -> list[Zone]:
        def fetch() -> list[Zone]:
            client = self._client("ZonesClient")
            return [
                Zone(z.name, short_name(z.region), z.status or "UP")
                for z in client.list(project=self.project, retry=read_retry())
            ]

        return await call(fetch, action="list zones")

    async def list_machine_types(self, zone: str) -> list[MachineType]:
        def fetch() -> list[MachineType]:
            client = self._client("MachineTypesClient")
            return [
                MachineType(
                    name=m.name,
                    zone=short_name(m.zone) or zone,
                    vcpus=int(m.guest_cpus),
                    memory_mb=int(m.memory_mb),
                    description=m.description,
                    bundled_accelerators=tuple(
                        Accelerator(a.guest_accelerator_type, int(a.guest_accelerator_count))
                        for a in m.accelerators
                    ),
                )
                for m in client.list(project=self.project, zone=zone, retry=read_retry())
            ]

        return await call(fetch, action=f"list machine types in {zone}")

    async def list_accelerator_types(self, zone: str) -> list[AcceleratorType]:
        def fetch() -> list[AcceleratorType]:
            client = self._client("AcceleratorTypesClient")
            return [
                AcceleratorType(
                    name=a.name,
                    zone=short_name(a.zone) or zone,
                    description=a.description,
                    max_per_instance=int(a.maximum_cards_per_instance),
                )
                for a in client.list(project=self.project, zone=zone, retry=read_retry())
            ]

        return await call(fetch, action=f"list GPU types in {zone}")

    async def list_images(self, featured: Sequence[tuple[str, str]] | None = None) -> ImageChoices:
        """Every family of the public image projects, newest image each, as Google lists them.

        Families whose newest image is deprecated (DEPRECATED, OBSOLETE, DELETED) are held back
        in `deprecated`; a featured family Google does not serve (getFromFamily answers 404: it
        was retired) is reported in `missing` with Google's message, never dropped silently.
        """
        from tui.services.images import FEATURED_FAMILIES, IMAGE_PROJECTS

        wanted = tuple(featured if featured is not None else FEATURED_FAMILIES)
        projects = tuple(dict.fromkeys([*IMAGE_PROJECTS, *(p for p, _ in wanted)]))

        def list_project(project: str) -> list[Image]:
            client = self._client("ImagesClient")
            newest: dict[str, Any] = {}
            for img in client.list(project=project, retry=read_retry()):
                if not img.family:
                    continue
                seen = newest.get(img.family)
                if seen is None or _created(img) > _created(seen):
                    newest[img.family] = img
            return [image_from_proto(project, img) for img in newest.values()]

        def from_family(project: str, family: str) -> Image:
            client = self._client("ImagesClient")
            img = client.get_from_family(project=project, family=family, retry=read_retry())
            return image_from_proto(project, img)

        listed = await asyncio.gather(
            *(call(list_project, p, action=f"list the images of {p}") for p in projects),
            return_exceptions=True,
        )
        found: dict[tuple[str, str], Image] = {}
        missing: list[MissingImageFamily] = []
        for project, result in zip(projects, listed, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, CloudpaneError):
                    raise result
                missing.append(MissingImageFamily(project, "*", result.message))
                continue
            for image in result:
                found[(image.project, image.family)] = image
        if len(missing) == len(projects) and projects:
            raise Unavailable(
                "Could not list any boot images: " + "; ".join(m.message for m in missing),
                "Check the connection and the project's Compute Engine API, then try again.",
            )
        absent = [k for k in wanted if k not in found or found[k].deprecation]
        looked = await asyncio.gather(
            *(call(from_family, p, f, action=f"look up image family {f}") for p, f in absent),
            return_exceptions=True,
        )
        for (project, family), answer in zip(absent, looked, strict=True):
            if isinstance(answer, Image):
                found[(project, family)] = answer
            elif isinstance(answer, CloudpaneError):
                if (project, family) not in found:  # deprecated ones are said as deprecated
                    missing.append(MissingImageFamily(project, family, answer.message))
            elif isinstance(answer, BaseException):
                raise answer
        order = {k: i for i, k in enumerate(wanted)}
        ranked = sorted(
            found.values(),
            key=lambda i: (
                order.get((i.project, i.family), len(order)),
                i.deep_learning,
                i.project,
                i.family,
            ),
        )
        return ImageChoices(
            images=tuple(i for i in ranked if not i.deprecation),
            deprecated=tuple(i for i in ranked if i.deprecation),
            missing=tuple(missing),
        )

    async def get_operation(self, op: Operation) -> Operation:
        def fetch() -> Operation:
            client = self._client("ZoneOperationsClient")
            found = client.get(
                project=self.project, zone=op.zone, operation=op.name, retry=read_retry()
            )
            return operation_from_proto(found)

        return await call(fetch, action=f"check operation {op.name}")

    async def wait_operation(self, op: Operation, timeout: float = 600) -> Operation:
        """Wait until the operation is DONE (zoneOperations.wait, looped); raise if it failed."""
        deadline = time.monotonic() + timeout
        raw: Any = None
        current = op
        while not current.done:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Unavailable(
                    f"Operation {op.name} ({op.operation_type} {op.target}) did not finish "
                    f"within {timeout:.0f} s.",
                    "It may still finish; refresh the list to see its state.",
                )

            def wait_once(limit: float = remaining) -> Any:
                client = self._client("ZoneOperationsClient")
                return client.wait(
                    project=self.project,
                    zone=op.zone,
                    operation=op.name,
                    retry=read_retry(),
                    timeout=min(limit, 125.0) + 5.0,
                )

            raw = await call(wait_once, action=f"wait for operation {op.name}")
            current = operation_from_proto(raw)
            if not current.done and deadline - time.monotonic() > 0:
                await asyncio.sleep(0.05)  # a server that answers early must not be hammered
        if current.error:
            action = _ACTIONS.get(current.operation_type, "{target}").format(target=current.target)
            raise await self.operation_error(current, f"Could not {action}")
        return current

    async def operation_error(
        self, op: Operation, what: str, gpu: str | None = None
    ) -> OperationFailed:
        """The failed operation as an error whose hint points the right way.

        Quota: the project-wide GPUS_ALL_REGIONS (request quota; another region will not help)
        or the region's. Stock-out: the other zones offering the same GPU, read from the
        accelerator types list (the GPU is the caller's, or remembered from create_instance).
        """
        from tui.services.quotas import STOCKOUT_CODES, quota_hint, stockout_hint

        message = f"{what}: {op.error}"
        if op.error_code == "QUOTA_EXCEEDED":
            return OperationFailed(message, quota_hint(op.error or ""), code=op.error_code)
        if op.error_code in STOCKOUT_CODES:
            gpu = gpu or self._op_gpus.get(op.name, "")
            offering: dict[str, list[str]] = {}
            if gpu:
                try:
                    offering = await self.zones_offering_gpus()
                except CloudpaneError:
                    offering = {}
            return OperationFailed(
                message, stockout_hint(gpu, op.zone, offering), code=op.error_code
            )
        return OperationFailed(
            message, "See the operation's error; fix it and try again.", code=op.error_code
        )

    async def zones_offering_gpus(self) -> dict[str, list[str]]:
        """GPU type → the zones that offer it (acceleratorTypes.aggregatedList)."""

        def fetch() -> dict[str, list[str]]:
            client = self._client("AcceleratorTypesClient")
            found: dict[str, list[str]] = {}
            for scope, listed in client.aggregated_list(project=self.project, retry=read_retry()):
                zone = short_name(scope)
                for acc in listed.accelerator_types:
                    found.setdefault(acc.name, []).append(zone)
            return {gpu: sorted(zones) for gpu, zones in found.items()}

        return await call(fetch, action="list the zones offering GPUs")

    async def gpu_quota_problem(
        self,
        zone: str,
        machine_type: str,
        accelerator_type: str | None = None,
        accelerator_count: int = 0,
        spot: bool = False,
    ) -> str:
        """'' when the VM's GPUs fit the project's and the region's quotas, else why not.

        Reads Compute Engine's projects.get (GPUS_ALL_REGIONS) and regions.get (NVIDIA_T4_GPUS…)
        before a GPU VM is created or started, so "quota 0" is said before the click is spent.
        """
        from tui.services.quotas import Quota, instance_gpu, quota_problem

        gpu, count = instance_gpu(machine_type, accelerator_type, accelerator_count)
        if not gpu:
            return ""
        region = zone.rsplit("-", 1)[0]

        def fetch() -> tuple[list[Quota], list[Quota]]:
            projects = self._client("ProjectsClient")
            regions = self._client("RegionsClient")
            proj = projects.get(project=self.project, retry=read_retry())
            reg = regions.get(project=self.project, region=region, retry=read_retry())

            def quotas(items: Any) -> list[Quota]:
                return [Quota(q.metric, float(q.limit), float(q.usage)) for q in items]

            return quotas(proj.quotas), quotas(reg.quotas)

        project_quotas, region_quotas = await call(fetch, action=f"read the GPU quotas of {region}")
        return quota_problem(project_quotas, region_quotas, region, gpu, count, spot)

    async def serial_output(self, zone: str, name: str, start: int = 0) -> tuple[str, int]:
        """Serial console output from byte offset `start`: (contents, next offset)."""

        def fetch() -> tuple[str, int]:
            from google.cloud import compute_v1

            client = self._client("InstancesClient")
            request = compute_v1.GetSerialPortOutputInstanceRequest(
                project=self.project, zone=zone, instance=name, start=start, port=1
            )
            out = client.get_serial_port_output(request=request, retry=read_retry())
            return out.contents, int(out.next_)

        return await call(fetch, action=f"read the serial console of {name}")

    # ---- writes (sent once)

    async def _write(self, method: str, action: str, **kwargs: Any) -> Operation:
        # One requestId for every attempt: Compute Engine ignores a repeat of a request it
        # already took, so a mutation answered 429/503 or cut off mid-way is safe to retry.
        request_id = str(uuid.uuid4())

        def send() -> Operation:
            client = self._client("InstancesClient")
            request = {"project": self.project, "request_id": request_id, **kwargs}
            op = getattr(client, method)(request=request, retry=read_retry(WRITE_RETRY_SECONDS))
            return operation_from_proto(op)

        return await call(send, action=action)

    async def create_instance(self, spec: InstanceSpec) -> Operation:
        problem = validate_instance_name(spec.name)
        if problem:
            raise InvalidArgument(
                f"Could not create instance {spec.name!r}: {problem}",
                "Use 1-63 lowercase letters, digits and hyphens, starting with a letter "
                "(e.g. train-1).",
            )
        if spec.disk_size_gb < spec.image.disk_size_gb:
            raise InvalidArgument(
                f"Could not create instance {spec.name}: the boot disk "
                f"({spec.disk_size_gb} GB) is smaller than the image {spec.image.family} "
                f"({spec.image.disk_size_gb} GB).",
                f"Give the boot disk at least {spec.image.disk_size_gb} GB.",
            )
        from tui.services.networks import choose_network

        network = await choose_network(self.backend, spec.zone.rsplit("-", 1)[0])
        request = self._instance_request(spec)
        nic = request.network_interfaces[0]
        nic.network = network.network
        if network.subnetwork:
            nic.subnetwork = network.subnetwork
        op = await self._write(
            "insert_unary",
            f"create instance {spec.name}",
            zone=spec.zone,
            instance_resource=request,
        )
        from tui.services.quotas import instance_gpu

        gpu, _ = instance_gpu(spec.machine_type, spec.accelerator_type, spec.accelerator_count)
        if gpu:
            self._op_gpus[op.name] = gpu
        return op

    def _instance_request(self, spec: InstanceSpec) -> Any:
        from google.cloud import compute_v1

        from tui.services.images import needs_driver_metadata

        zone = spec.zone
        family = spec.machine_type.split("-", 1)[0]
        gpus = (
            bool(spec.accelerator_type and spec.accelerator_count) or family in BUNDLED_ACCELERATORS
        )
        labels = dict(spec.labels)
        script = spec.startup_script
        if spec.idle_stop is not None:
            script = with_watcher(script, spec.idle_stop)
            labels[IDLE_STOP_LABEL] = spec.idle_stop.label_value
        scheduling = compute_v1.Scheduling()
        if gpus or spec.spot:
            scheduling.on_host_maintenance = "TERMINATE"
        if spec.spot:
            scheduling.provisioning_model = "SPOT"
            scheduling.instance_termination_action = "STOP"
            scheduling.automatic_restart = False
        if spec.max_run_seconds:
            scheduling.max_run_duration = compute_v1.Duration(seconds=int(spec.max_run_seconds))
            scheduling.instance_termination_action = "STOP"
        instance = compute_v1.Instance(
            name=spec.name,
            machine_type=f"zones/{zone}/machineTypes/{spec.machine_type}",
            disks=[
                compute_v1.AttachedDisk(
                    boot=True,
                    auto_delete=True,
                    type_="PERSISTENT",
                    initialize_params=compute_v1.AttachedDiskInitializeParams(
                        source_image=spec.image.source,
                        disk_size_gb=int(spec.disk_size_gb),
                        disk_type=f"zones/{zone}/diskTypes/{spec.disk_type}",
                    ),
                )
            ],
            network_interfaces=[
                compute_v1.NetworkInterface(
                    network="global/networks/default",
                    access_configs=[
                        compute_v1.AccessConfig(
                            name="External NAT", type_="ONE_TO_ONE_NAT", network_tier="PREMIUM"
                        )
                    ],
                )
            ],
            scheduling=scheduling,
            labels=labels,
        )
        if spec.accelerator_type and spec.accelerator_count:
            instance.guest_accelerators = [
                compute_v1.AcceleratorConfig(
                    accelerator_type=f"zones/{zone}/acceleratorTypes/{spec.accelerator_type}",
                    accelerator_count=int(spec.accelerator_count),
                )
            ]
        items = []
        if needs_driver_metadata(spec.image, gpus):
            # Google's DLVM guide: GPU VMs from Deep Learning images install the NVIDIA driver
            # at first boot with this key (docs/gcp-facts.md); without it they boot driverless.
            items.append(compute_v1.Items(key="install-nvidia-driver", value="True"))
        if script:
            items.append(compute_v1.Items(key="startup-script", value=script))
        if items:
            instance.metadata = compute_v1.Metadata(items=items)
        return instance

    async def start_instance(self, zone: str, name: str) -> Operation:
        return await self._write("start_unary", f"start instance {name}", zone=zone, instance=name)

    async def stop_instance(self, zone: str, name: str) -> Operation:
        return await self._write("stop_unary", f"stop instance {name}", zone=zone, instance=name)

    async def reset_instance(self, zone: str, name: str) -> Operation:
        return await self._write("reset_unary", f"reset instance {name}", zone=zone, instance=name)

    async def delete_instance(self, zone: str, name: str) -> Operation:
        return await self._write(
            "delete_unary", f"delete instance {name}", zone=zone, instance=name
        )

    async def set_machine_type(self, zone: str, name: str, machine_type: str) -> Operation:
        from google.cloud import compute_v1

        body = compute_v1.InstancesSetMachineTypeRequest(
            machine_type=f"zones/{zone}/machineTypes/{machine_type}"
        )
        return await self._write(
            "set_machine_type_unary",
            f"change the machine type of {name} to {machine_type}",
            zone=zone,
            instance=name,
            instances_set_machine_type_request_resource=body,
        )

    async def set_idle_stop(self, zone: str, name: str, settings: IdleStop | None) -> Operation:
        """Add (or with None remove) the on-VM idle watcher: the startup script's cloudpane
        block and the `cloudpane-idle-stop` label. It runs from the next boot on.

        setMetadata replaces every item, so the current ones are read first (with the
        fingerprint Compute Engine checks) and only the startup script changes.
        """
        from google.cloud import compute_v1

        what = "add the idle auto-stop to" if settings else "remove the idle auto-stop from"
        ids = (str(uuid.uuid4()), str(uuid.uuid4()))  # see _write

        def send() -> Operation:
            client = self._client("InstancesClient")
            inst = client.get(project=self.project, zone=zone, instance=name, retry=read_retry())
            items = {item.key: item.value for item in inst.metadata.items}
            script = with_watcher(items.get("startup-script", ""), settings)
            if script:
                items["startup-script"] = script
            else:
                items.pop("startup-script", None)
            client.set_metadata_unary(
                request=compute_v1.SetMetadataInstanceRequest(
                    project=self.project,
                    zone=zone,
                    instance=name,
                    metadata_resource=compute_v1.Metadata(
                        fingerprint=inst.metadata.fingerprint,
                        items=[compute_v1.Items(key=k, value=v) for k, v in items.items()],
                    ),
                    request_id=ids[0],
                ),
                retry=read_retry(WRITE_RETRY_SECONDS),
            )
            labels = dict(inst.labels)
            if settings:
                labels[IDLE_STOP_LABEL] = settings.label_value
            else:
                labels.pop(IDLE_STOP_LABEL, None)
            op = client.set_labels_unary(
                request=compute_v1.SetLabelsInstanceRequest(
                    project=self.project,
                    zone=zone,
                    instance=name,
                    instances_set_labels_request_resource=compute_v1.InstancesSetLabelsRequest(
                        label_fingerprint=inst.label_fingerprint, labels=labels
                    ),
                    request_id=ids[1],
                ),
                retry=read_retry(WRITE_RETRY_SECONDS),
            )
            return operation_from_proto(op)

        return await call(send, action=f"{what} {name}")

    async def set_auto_stop(
        self,
        zone: str,
        name: str,
        *,
        max_run_seconds: int | None = None,
        termination_time: datetime | None = None,
    ) -> Operation:
        """Server-side auto-stop (STOP at a run duration or a time); both None clears it.

        setScheduling replaces the whole scheduling block, so the current one is read first
        and only the time limit changes. Compute Engine changes a time limit only while the
        instance is stopped; for a running one it answers 400 (InvalidArgument here).
        """
        from google.cloud import compute_v1

        what = (
            "clear the auto-stop of"
            if not (max_run_seconds or termination_time)
            else "set the auto-stop of"
        )

        request_id = str(uuid.uuid4())  # see _write

        def send() -> Operation:
            client = self._client("InstancesClient")
            inst = client.get(project=self.project, zone=zone, instance=name, retry=read_retry())
            sched = compute_v1.Scheduling(inst.scheduling)
            for field in ("max_run_duration", "termination_time"):
                if _has(sched, field):
                    delattr(sched, field)
            if max_run_seconds or termination_time:
                if max_run_seconds:
                    sched.max_run_duration = compute_v1.Duration(seconds=int(max_run_seconds))
                if termination_time:
                    sched.termination_time = _rfc3339(termination_time)
                sched.instance_termination_action = "STOP"
            elif sched.provisioning_model != "SPOT" and _has(sched, "instance_termination_action"):
                delattr(sched, "instance_termination_action")
            op = client.set_scheduling_unary(
                request=compute_v1.SetSchedulingInstanceRequest(
                    project=self.project,
                    zone=zone,
                    instance=name,
                    scheduling_resource=sched,
                    request_id=request_id,
                ),
                retry=read_retry(WRITE_RETRY_SECONDS),
            )
            return operation_from_proto(op)

        return await call(send, action=f"{what} {name}")
