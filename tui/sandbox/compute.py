"""The sandbox's Compute Engine v1 REST surface: instances with Google's lifecycle.

Google's paths, JSON shapes, status codes and error bodies, as google-cloud-compute's REST
transport sends and parses them. State lives in the store as Google's own Instance and
Operation documents (plus a private `_sandbox` part that is never answered). One background
task drives the lifecycle (PROVISIONING → STAGING → RUNNING, STOPPING → TERMINATED, deletes,
resets, time limits) from a heap of due events; handlers and that task all run on the event
loop, so a document is never modified by two of them at once.

A RUNNING instance with a `startup-script` metadata item runs it as a real local process
(processes.py); its output is the serial console. When the daemon stops, those processes are
powered off with it; when it starts again, instances still RUNNING boot again, and their
startup scripts run again, as on a VM whose host restarted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import heapq
import json
import logging
import random
import re
import secrets
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import compute_catalog as cat
from tui.sandbox.context import SandboxContext, instance_workdir
from tui.sandbox.errors import ApiError
from tui.sandbox.guest_env import guest_env
from tui.sandbox.processes import ProcessTable, kill_stale_group

log = logging.getLogger("cloudpane.sandbox.compute")

INSTANCE = "compute.instance"  # key: project/zone/name
OPERATION = "compute.operation"  # key: project/zone/operation
BASE = cat.BASE
PREFIX = "/compute/v1/projects/{project}"
NAME_RE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
NAME_REGEX_TEXT = "(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)"
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
DISK_TYPES = ("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme", "hyperdisk-balanced")
MAX_PAGE = 500
WAIT_MAX_SECONDS = 120.0  # zoneOperations.wait returns after ~2 minutes, as Google's does
SERIAL_RETAINED = 1024 * 1024  # Google keeps the last 1 MiB of serial output
USER = "sandbox-user@example.com"
EXTERNAL_POOLS = ("203.0.113", "198.51.100", "192.0.2")  # documentation ranges only


# ---------------------------------------------------------------- small helpers


def now_ts(t: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if t is None else t, timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def parse_ts(text: str) -> float:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat wants 3 or 6 fractional digits.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2):
        frac = (match.group(2)[1:] + "000000")[:6]
        text = f"{match.group(1)}.{frac}{match.group(3)}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def segment_after(path: str, name: str) -> str | None:
    parts = path.strip("/").split("/")
    for i, part in enumerate(parts[:-1]):
        if part == name:
            return parts[i + 1]
    return None


def last_segment(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_sandbox"}


def api_base(ctx: SandboxContext) -> str:
    return (
        f"{ctx.base_url}/compute/v1"
        if ctx.base_url
        else "https://compute.googleapis.com/compute/v1"
    )


def respond(ctx: SandboxContext, body: dict[str, Any], status: int = 200) -> Response:
    text = json.dumps(body, separators=(",", ":")).replace(BASE, api_base(ctx))
    return Response(text, status_code=status, media_type="application/json")


async def read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}", "parseError") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.", "parseError")
    return body


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(
            400, f"Invalid value for field '{name}': '{raw}'. Must be an integer."
        ) from exc
    if not low <= value <= high:
        raise ApiError(
            400, f"Invalid value for field '{name}': '{raw}'. Must be in the range [{low}, {high}]."
        )
    return value


def encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Invalid value for field 'pageToken': '{token}'.") from exc


def key_token(request: Request, scope: str) -> str:
    """The store key a key-paged list resumes after; a token this list never handed out (not
    a key inside `scope`, the list's project and zone) is Google's 400, not a place to start."""
    token = request.query_params.get("pageToken") or ""
    if not token:
        return ""
    after = decode_token(token)
    if not after.startswith(scope) or "\x00" in after:
        raise ApiError(400, f"Invalid value for field 'pageToken': '{token}'.")
    return after


def paginate(request: Request, items: list[Any]) -> tuple[list[Any], str | None]:
    """Offset paging for the catalog lists (they are small and fixed)."""
    size = int_param(request, "maxResults", MAX_PAGE, 0, MAX_PAGE) or MAX_PAGE
    token = request.query_params.get("pageToken") or ""
    start = 0
    if token:
        text = decode_token(token)
        if not text.isdigit():  # not a token this list handed out
            raise ApiError(400, f"Invalid value for field 'pageToken': '{token}'.")
        start = int(text)
    page = items[start : start + size]
    more = start + size < len(items)
    return page, encode_token(str(start + size)) if more else None


def instance_link(project: str, zone: str, name: str) -> str:
    return f"{BASE}/projects/{project}/zones/{zone}/instances/{name}"


def check_zone(zone: str, field: str = "zone") -> None:
    if zone not in cat.ZONES:
        raise ApiError(400, f"Invalid value for field '{field}': '{zone}'. Unknown zone.")


def not_found(path: str) -> ApiError:
    return ApiError(404, f"The resource '{path}' was not found")


# ---------------------------------------------------------------- filters


_TERM = re.compile(r"^\s*([A-Za-z][\w.]*)\s*(!=|=|:|\beq\b|\bne\b|<|>)\s*(.+?)\s*$")


def compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """The subset of Compute Engine's list filter syntax that a console needs.

    `status = RUNNING`, `name != vm-1`, `name = train-*`, `labels.team = ml`,
    `zone : us-central1`, `name eq 'train-.*'`; terms joined by AND or written as
    `(a) (b)`. Anything else is refused with 400, as Google refuses what it cannot parse.
    """
    text = text.strip()
    if not text:
        return lambda doc: True
    if re.search(r"\bOR\b", text):
        raise ApiError(
            400, f"Invalid value for field 'filter': '{text}'. OR is not supported by the sandbox."
        )
    parts = re.split(r"\)\s*\(|\bAND\b", text)
    terms = []
    for part in parts:
        part = part.strip().strip("()").strip()
        match = _TERM.match(part)
        if not match:
            raise ApiError(
                400, f"Invalid value for field 'filter': '{text}'. Invalid list filter expression."
            )
        fld, op, value = match.groups()
        value = value.strip().strip("'\"")
        terms.append((fld.split("."), op, value))

    def lookup(doc: dict[str, Any], path: list[str]) -> Any:
        cur: Any = doc
        for key in path:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(key)
        return cur

    def matches(doc: dict[str, Any]) -> bool:
        for path, op, value in terms:
            found = lookup(doc, path)
            text_value = (
                ""
                if found is None
                else str(found).lower()
                if isinstance(found, bool)
                else str(found)
            )
            short = last_segment(text_value) if "/" in text_value else text_value
            if op in ("=", "!="):
                if "*" in value:
                    pattern = re.escape(value).replace(r"\*", ".*")
                    hit = re.fullmatch(pattern, short) is not None
                else:
                    hit = value in (text_value, short)
                if hit != (op == "="):
                    return False
            elif op in ("eq", "ne"):
                hit = re.fullmatch(value, short) is not None
                if hit != (op == "eq"):
                    return False
            elif op == ":":
                if value != "*" and value not in text_value:
                    return False
                if value == "*" and found is None:
                    return False
            else:
                try:
                    left, right = float(text_value), float(value)
                except ValueError:
                    left, right = text_value, value  # type: ignore[assignment]
                if not (left < right if op == "<" else left > right):
                    return False
        return True

    return matches


# ---------------------------------------------------------------- runtime (lifecycle driver)


class Runtime:
    """Per-context lifecycle state: the due-event heap, processes, operation waiters."""

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.procs = ProcessTable()
        self.heap: list[tuple[float, int, str, str]] = []
        self.seq = 0
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.op_events: dict[str, asyncio.Event] = {}
        # (project, requestId) → (when, operation key): a repeated mutation is answered with
        # the first one's operation instead of acting twice.
        self.request_ids: dict[tuple[str, str], tuple[float, str]] = {}
        self.closing = False

    def schedule(self, at: float, kind: str, key: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, key))
        self.wake.set()

    def op_event(self, key: str) -> asyncio.Event:
        event = self.op_events.get(key)
        if event is None:
            event = self.op_events[key] = asyncio.Event()
        return event

    async def run(self) -> None:
        while not self.closing:
            self.wake.clear()
            now = time.time()
            while self.heap and self.heap[0][0] <= now:
                _, _, kind, key = heapq.heappop(self.heap)
                try:
                    await fire(self.ctx, kind, key)
                except Exception:
                    log.exception("lifecycle step %s %s failed", kind, key)
                now = time.time()
            delay = min(self.heap[0][0] - now, 30.0) if self.heap else 30.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(delay, 0.0))


_RUNTIMES: dict[int, Runtime] = {}


def runtime(ctx: SandboxContext) -> Runtime:
    found = _RUNTIMES.get(id(ctx))
    if found is None or found.ctx is not ctx:
        found = _RUNTIMES[id(ctx)] = Runtime(ctx)
    return found


def serial_path(ctx: SandboxContext, key: str) -> Path:
    project, zone, name = key.split("/")
    return ctx.work_dir / "serial" / project / zone / f"{name}.log"


def instance_dir(ctx: SandboxContext, key: str) -> Path:
    project, zone, name = key.split("/")
    return instance_workdir(ctx.data_dir, project, zone, name)


def load(ctx: SandboxContext, key: str) -> dict[str, Any] | None:
    return ctx.store.get(INSTANCE, key)


def save(ctx: SandboxContext, key: str, doc: dict[str, Any]) -> None:
    ctx.store.put(INSTANCE, key, doc)


GUEST_WATCH_SECONDS = 0.5  # how often the sandbox looks for a guest power-off


def new_fingerprint() -> str:
    """Compute Engine's fingerprints are 8 random bytes in padded base64 ("42WmSpB8rSM="):
    clients decode them (gcloud does), so the padding matters."""
    return base64.b64encode(secrets.token_bytes(8)).decode()


def metadata_value(doc: dict[str, Any], key: str) -> str | None:
    for item in (doc.get("metadata") or {}).get("items") or []:
        if item.get("key") == key:
            return str(item.get("value", ""))
    return None


def deadline_of(doc: dict[str, Any]) -> float | None:
    """When the server stops this RUNNING instance (maxRunDuration / terminationTime)."""
    sched = doc.get("scheduling") or {}
    times = []
    if sched.get("terminationTime"):
        times.append(parse_ts(sched["terminationTime"]))
    run = sched.get("maxRunDuration")
    if run and doc.get("lastStartTimestamp"):
        seconds = float(run.get("seconds", 0)) + float(run.get("nanos", 0)) / 1e9
        times.append(parse_ts(doc["lastStartTimestamp"]) + seconds)
    return min(times) if times else None


# ---- operations


def new_operation(
    ctx: SandboxContext,
    project: str,
    zone: str,
    op_type: str,
    target: str,
    target_id: str = "",
    done: bool = False,
) -> tuple[str, dict[str, Any]]:
    ms = int(time.time() * 1000)
    name = (
        f"operation-{ms}-{secrets.token_hex(7)[:13]}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    )
    stamp = now_ts()
    op: dict[str, Any] = {
        "kind": "compute#operation",
        "id": str(10**18 + secrets.randbits(62)),
        "name": name,
        "zone": f"{BASE}/projects/{project}/zones/{zone}",
        "operationType": op_type,
        "targetLink": target,
        "status": "DONE" if done else "RUNNING",
        "user": USER,
        "progress": 100 if done else 0,
        "insertTime": stamp,
        "startTime": stamp,
        "selfLink": f"{BASE}/projects/{project}/zones/{zone}/operations/{name}",
    }
    if target_id:
        op["targetId"] = target_id
    if done:
        op["endTime"] = stamp
    key = f"{project}/{zone}/{name}"
    ctx.store.put(OPERATION, key, op)
    return key, op


def complete_operation(
    ctx: SandboxContext,
    key: str | None,
    error: tuple[str, str] | None = None,
    http_status: tuple[int, str] | None = None,
) -> None:
    if not key:
        return
    op = ctx.store.get(OPERATION, key)
    if op is None or op.get("status") == "DONE":
        return
    op["status"] = "DONE"
    op["progress"] = 100
    op["endTime"] = now_ts()
    if error:
        op["error"] = {"errors": [{"code": error[0], "message": error[1]}]}
        code, text = http_status or (400, "BAD REQUEST")
        op["httpErrorStatusCode"] = code
        op["httpErrorMessage"] = text
    ctx.store.put(OPERATION, key, op)
    event = runtime(ctx).op_events.pop(key, None)
    if event is not None:
        event.set()


def schedule_op_done(ctx: SandboxContext, op_key: str) -> None:
    runtime(ctx).schedule(time.time() + ctx.timing.operation, "op", op_key)


def fail_operation_later(
    ctx: SandboxContext, op_key: str, message: str, code: str = "QUOTA_EXCEEDED"
) -> None:
    """The operation ends with `code` (HTTP 403 for quota, 503 for a stock-out), as Google's."""
    op = ctx.store.get(OPERATION, op_key)
    if op is not None:
        http = [403, "FORBIDDEN"] if code == "QUOTA_EXCEEDED" else [503, "SERVICE UNAVAILABLE"]
        op["_fail"] = {"code": code, "message": message, "http": http}
        ctx.store.put(OPERATION, op_key, op)
    schedule_op_done(ctx, op_key)


# ---- transitions


def set_next(
    ctx: SandboxContext, key: str, doc: dict[str, Any], to: str, delay: float, op: str | None
) -> None:
    sb = doc.setdefault("_sandbox", {})
    previous = sb.get("next") or {}
    ops = [o for o in (previous.get("ops") or []) if o] + ([op] if op else [])
    at = time.time() + max(delay, 0.0)
    sb["next"] = {"to": to, "at": at, "ops": ops}
    runtime(ctx).schedule(at, "step", key)


def take_next_ops(doc: dict[str, Any]) -> list[str]:
    sb = doc.setdefault("_sandbox", {})
    nxt = sb.pop("next", None) or {}
    return list(nxt.get("ops") or [])


def begin_stop(
    ctx: SandboxContext, key: str, doc: dict[str, Any], op: str | None, then: str
) -> None:
    """RUNNING/PROVISIONING/STAGING → STOPPING; `then` is TERMINATED or DELETED."""
    doc["status"] = "STOPPING"
    set_next(ctx, key, doc, then, ctx.timing.stopping, op)
    save(ctx, key, doc)
    runtime(ctx).procs.stop(key, grace=max(ctx.timing.stopping * 0.8, 0.05))
    append_serial(ctx, key, shutdown_lines(doc))


def begin_start(ctx: SandboxContext, key: str, doc: dict[str, Any], op: str | None) -> None:
    doc["status"] = "PROVISIONING"
    set_next(ctx, key, doc, "STAGING", ctx.timing.provisioning, op)
    save(ctx, key, doc)


async def fire(ctx: SandboxContext, kind: str, key: str) -> None:
    if kind == "op":
        op_doc = ctx.store.get(OPERATION, key) or {}
        fail = op_doc.get("_fail")
        if fail:
            complete_operation(ctx, key, (fail["code"], fail["message"]), tuple(fail["http"]))  # type: ignore[arg-type]
        else:
            complete_operation(ctx, key)
        return
    doc = load(ctx, key)
    if doc is None:
        return
    now = time.time()
    if kind == "deadline":
        if doc.get("status") == "RUNNING" and "next" not in doc.get("_sandbox", {}):
            deadline = deadline_of(doc)
            if deadline is not None and deadline <= now + 0.001:
                action = (doc.get("scheduling") or {}).get("instanceTerminationAction", "STOP")
                append_serial(
                    ctx,
                    key,
                    [f"{syslog_prefix(doc)} The instance reached its time limit; action {action}."],
                )
                begin_stop(ctx, key, doc, None, "DELETED" if action == "DELETE" else "TERMINATED")
            elif deadline is not None:
                runtime(ctx).schedule(deadline, "deadline", key)
        return
    if kind == "guest-watch":  # did the guest power itself off (`shutdown -h now`)?
        if doc.get("status") != "RUNNING" or "next" in doc.get("_sandbox", {}):
            return
        marker = instance_dir(ctx, key) / GUEST_POWEROFF
        if marker.exists():
            marker.unlink(missing_ok=True)
            append_serial(ctx, key, [f"{syslog_prefix(doc)} systemd-shutdown[1]: Powering off."])
            begin_stop(ctx, key, doc, None, "TERMINATED")
        elif runtime(ctx).procs.group_alive(key):  # something in the guest may still power off
            runtime(ctx).schedule(now + GUEST_WATCH_SECONDS, "guest-watch", key)
        return
    if kind == "boot":  # the daemon restarted while this instance was RUNNING
        if doc.get("status") == "RUNNING" and "next" not in doc.get("_sandbox", {}):
            await boot(ctx, key, doc, reboot=True)
        return
    nxt = doc.get("_sandbox", {}).get("next")
    if not nxt or nxt["at"] > now + 0.001:
        return  # superseded by a later step
    to = nxt["to"]
    if to == "STAGING":
        doc["status"] = "STAGING"
        doc["_sandbox"]["next"] = {**nxt, "to": "RUNNING", "at": now + ctx.timing.staging}
        runtime(ctx).schedule(now + ctx.timing.staging, "step", key)
        save(ctx, key, doc)
    elif to == "RUNNING":
        ops = take_next_ops(doc)
        doc["status"] = "RUNNING"
        doc["lastStartTimestamp"] = now_ts(now)
        doc["cpuPlatform"] = cat.CPU_PLATFORMS.get(
            last_segment(doc["machineType"]).split("-")[0], "Intel Broadwell"
        )
        assign_external_ip(ctx, doc)
        update_termination_status(doc)
        save(ctx, key, doc)
        for op_key in ops:
            complete_operation(ctx, op_key)
        deadline = deadline_of(doc)
        if deadline is not None:
            runtime(ctx).schedule(deadline, "deadline", key)
        await boot(ctx, key, doc, reboot=False)
    elif to == "RESET":
        ops = take_next_ops(doc)
        save(ctx, key, doc)
        for op_key in ops:
            complete_operation(ctx, op_key)
        await boot(ctx, key, doc, reboot=True)
    elif to == "TERMINATED":
        ops = take_next_ops(doc)
        await runtime(ctx).procs.kill(key)
        doc = load(ctx, key) or doc
        doc.get("_sandbox", {}).pop("next", None)
        doc.get("_sandbox", {}).pop("proc", None)
        doc["status"] = "TERMINATED"
        doc["lastStopTimestamp"] = now_ts()
        release_external_ip(doc)
        (doc.get("resourceStatus") or {}).pop("scheduling", None)
        save(ctx, key, doc)
        append_serial(ctx, key, ["reboot: Power down"])
        for op_key in ops:
            complete_operation(ctx, op_key)
    elif to == "DELETED":
        ops = take_next_ops(doc)
        await runtime(ctx).procs.kill(key)
        ctx.store.delete(INSTANCE, key)
        for op_key in ops:
            complete_operation(ctx, op_key)
        await asyncio.to_thread(remove_instance_files, ctx, key)


def remove_instance_files(ctx: SandboxContext, key: str) -> None:
    serial_path(ctx, key).unlink(missing_ok=True)
    shutil.rmtree(instance_dir(ctx, key), ignore_errors=True)


def update_termination_status(doc: dict[str, Any]) -> None:
    deadline = deadline_of(doc)
    status = doc.setdefault("resourceStatus", {})
    if deadline is None:
        status.pop("scheduling", None)
    else:
        status["scheduling"] = {"terminationTimestamp": now_ts(deadline)}
    if not status:
        doc.pop("resourceStatus", None)


def assign_external_ip(ctx: SandboxContext, doc: dict[str, Any]) -> None:
    for nic in doc.get("networkInterfaces") or []:
        for access in nic.get("accessConfigs") or []:
            if access.get("type") == "ONE_TO_ONE_NAT" and not access.get("natIP"):
                n = ctx.store.next_id("compute.externalIp")
                pool = EXTERNAL_POOLS[(n // 254) % len(EXTERNAL_POOLS)]
                access["natIP"] = f"{pool}.{n % 254 + 1}"


def release_external_ip(doc: dict[str, Any]) -> None:
    """Ephemeral external addresses go back to the pool when an instance stops."""
    for nic in doc.get("networkInterfaces") or []:
        for access in nic.get("accessConfigs") or []:
            access.pop("natIP", None)


# ---- serial console and startup-script process


def syslog_prefix(doc: dict[str, Any], t: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if t is None else t, timezone.utc)
    return f"{moment:%b %d %H:%M:%S} {doc['name']}"


def os_name(doc: dict[str, Any]) -> str:
    return str(doc.get("_sandbox", {}).get("os") or "Debian GNU/Linux 12")


def boot_lines(doc: dict[str, Any], has_script: bool) -> list[str]:
    name = doc["name"]
    pre = syslog_prefix(doc)
    lines = [
        "SeaBIOS (version 1.8.2)",
        "Booting from Hard Disk 0...",
        "[    0.000000] Linux version 6.1.0-25-cloud-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.106-3 (2024-08-26)",
        f"[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-25-cloud-amd64 root=/dev/sda1 ro console=ttyS0,115200 hostname={name}",
        f"[    1.532841] systemd[1]: Hostname set to <{name}>.",
        f"{pre} systemd[1]: Started google-guest-agent.service - Google Compute Engine Guest Agent.",
        "",
        f"{os_name(doc)} {name} ttyS0",
        "",
        f"{name} login: ",
        f"{pre} google_metadata_script_runner[612]: Starting startup scripts (version 20240830.00).",
    ]
    if has_script:
        lines.append(f"{pre} google_metadata_script_runner[612]: Found startup-script in metadata.")
    else:
        lines.append(f"{pre} google_metadata_script_runner[612]: No startup scripts to run.")
    return lines


def shutdown_lines(doc: dict[str, Any]) -> list[str]:
    pre = syslog_prefix(doc)
    return [
        f"{pre} systemd[1]: Stopping google-guest-agent.service - Google Compute Engine Guest Agent...",
        f"{pre} systemd-shutdown[1]: Sending SIGTERM to remaining processes...",
    ]


def append_serial(ctx: SandboxContext, key: str, lines: list[str]) -> None:
    path = serial_path(ctx, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


GUEST_POWEROFF = ".guest-poweroff"
GUEST_POWER_SWITCH = """#!/bin/sh
# The sandbox VM's power switch: `shutdown -h now` / `poweroff` inside a sandbox VM power the
# guest off, as on Compute Engine (the instance becomes TERMINATED); never the host.
: > "$CLOUDPANE_GUEST_POWEROFF"
"""


def install_power_switch(cwd: Path) -> Path:
    """A folder, first on the VM's PATH, whose shutdown/poweroff/halt end the VM, not the host."""
    folder = cwd / ".guest-bin"
    folder.mkdir(parents=True, exist_ok=True)
    for command in ("shutdown", "poweroff", "halt"):
        path = folder / command
        path.write_text(GUEST_POWER_SWITCH)
        path.chmod(0o700)
    return folder


def process_env(ctx: SandboxContext, key: str, doc: dict[str, Any], cwd: Path) -> dict[str, str]:
    """A VM's startup script sees a small, clean environment — never the daemon's (guest_env),
    with the owner's access to the sandbox, as a VM has its service account's."""
    env = guest_env(ctx, cwd, key.split("/", 1)[0])  # HOME: the instance's own folder
    env.update(
        {
            "PATH": f"{install_power_switch(cwd)}:{env['PATH']}",
            "CLOUDPANE_GUEST_POWEROFF": str(cwd / GUEST_POWEROFF),
            # A sandbox VM is a process group on this machine: its CPU is its session's.
            "CLOUDPANE_VM_CPU_SCOPE": "session",
            # …and its files stay in its folder: the idle watcher logs here, not to /var/log.
            "CLOUDPANE_IDLE_LOG": str(cwd / "cloudpane-idle.log"),
            "HOSTNAME": doc["name"],
            "SHELL": "/bin/bash",
            "USER": "root",
        }
    )
    return env


async def boot(ctx: SandboxContext, key: str, doc: dict[str, Any], reboot: bool) -> None:
    """Write the boot lines and, with a startup-script, start it as a local process."""
    script = metadata_value(doc, "startup-script")
    rt = runtime(ctx)
    await rt.procs.kill(key)
    if reboot:
        append_serial(
            ctx,
            key,
            [f"{syslog_prefix(doc)} systemd[1]: Reached target reboot.target - System Reboot."],
        )
    append_serial(ctx, key, boot_lines(doc, bool(script)))
    if not script:
        return
    name = doc["name"]
    cwd = instance_dir(ctx, key)
    pid_holder: dict[str, int] = {}

    def format_line(text: str) -> str:
        return f"{syslog_prefix(doc)} google_metadata_script_runner[{pid_holder.get('pid', 0)}]: startup-script: {text}"

    def exit_line(code: int) -> str:
        pre = f"{syslog_prefix(doc)} google_metadata_script_runner[{pid_holder.get('pid', 0)}]:"
        return f"{pre} startup-script exit status {code}\n{pre} Finished running startup scripts."

    (cwd / GUEST_POWEROFF).unlink(missing_ok=True)  # a power-off from an earlier boot
    managed = await rt.procs.start(
        key,
        script,
        cwd=cwd,
        log_path=serial_path(ctx, key),
        env=process_env(ctx, key, doc, cwd),
        format_line=format_line,
        on_line=cloud_logging_writer(ctx, key, doc),
        exit_line=exit_line,
    )
    pid_holder["pid"] = managed.pid
    rt.schedule(time.time() + GUEST_WATCH_SECONDS, "guest-watch", key)
    current = load(ctx, key)
    if (
        current is None
        or current.get("status") != "RUNNING"
        or "next" in current.get("_sandbox", {})
    ):
        await rt.procs.kill(key)  # stopped or deleted while the process started
        return
    current.setdefault("_sandbox", {})["proc"] = {"pid": managed.pid, "ct": managed.started}
    save(ctx, key, current)
    log.info("instance %s runs its startup-script as pid %d", name, managed.pid)


def cloud_logging_writer(
    ctx: SandboxContext, key: str, doc: dict[str, Any]
) -> Callable[[str], None] | None:
    """Script lines also go to Cloud Logging, as Google's guest agent sends them there:
    log `google_metadata_script_runner`, resource `gce_instance`."""
    try:
        from tui.sandbox.logging_api import log_store
    except ImportError:
        return None
    store = log_store(ctx)
    project, zone, _ = key.split("/")
    labels = {"project_id": project, "instance_id": str(doc.get("id", "")), "zone": zone}

    def write(line: str) -> None:
        store.append(
            project=project,
            log_id="google_metadata_script_runner",
            resource_type="gce_instance",
            resource_labels=labels,
            severity="INFO",
            text=f"startup-script: {line}",
            labels={"compute.googleapis.com/resource_name": doc["name"]},
        )

    return write


def instance_cpu_seconds(ctx: SandboxContext, project: str, zone: str, name: str) -> float | None:
    """CPU seconds used by an instance's startup-script process tree (None: no process)."""
    return runtime(ctx).procs.cpu_seconds(f"{project}/{zone}/{name}")


# ---------------------------------------------------------------- module hooks


async def startup(ctx: SandboxContext) -> None:
    rt = runtime(ctx)
    rt.closing = False
    pending_ops: set[str] = set()
    for key, doc in ctx.store.list(INSTANCE):
        sb = doc.get("_sandbox") or {}
        proc = sb.pop("proc", None)
        if proc:
            kill_stale_group(int(proc["pid"]), float(proc["ct"]))
            save(ctx, key, doc)
        nxt = sb.get("next")
        if nxt:
            pending_ops.update(nxt.get("ops") or [])
            rt.schedule(float(nxt["at"]), "step", key)
        elif doc.get("status") == "RUNNING":
            deadline = deadline_of(doc)
            if deadline is not None:
                rt.schedule(deadline, "deadline", key)
            if metadata_value(doc, "startup-script"):
                rt.schedule(time.time(), "boot", key)
    for key, op in ctx.store.list(OPERATION):
        if op.get("status") != "DONE" and key not in pending_ops:
            complete_operation(ctx, key)
    rt.task = asyncio.create_task(rt.run(), name="compute lifecycle")


async def shutdown(ctx: SandboxContext) -> None:
    rt = runtime(ctx)
    rt.closing = True
    rt.wake.set()
    for event in rt.op_events.values():
        event.set()
    if rt.task is not None:
        rt.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await rt.task
    await rt.procs.kill_all_and_wait()


def reset(ctx: SandboxContext) -> None:
    rt = runtime(ctx)
    rt.procs.kill_all()
    rt.heap.clear()
    for event in rt.op_events.values():
        event.set()
    rt.op_events.clear()
    for sub in ("instances", "serial"):
        shutil.rmtree(ctx.work_dir / sub, ignore_errors=True)


# ---------------------------------------------------------------- seed


SEED_STEMS = ("train", "notebook", "eval", "data-prep", "tensorboard", "batch", "dev", "infer")
SEED_TEAMS = ("vision", "nlp", "platform", "research")


def seed(ctx: SandboxContext, instances: int = 0, zones: int = 4, **options: Any) -> dict[str, Any]:
    """Create `instances` instances across the first `zones` zones, fast (no processes).

    Options: running (share RUNNING, default 0.4), gpu (share with GPUs, default 0.15),
    seed (random seed, default 7), name_prefix (default: realistic stems).
    """
    result: dict[str, Any] = {}
    if "quotas" in options or "stockouts" in options:
        settings = dict(capacity_settings(ctx, ctx.project))
        quotas, stockouts = options.get("quotas", {}), options.get("stockouts", [])
        if not isinstance(quotas, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in quotas.values()
        ):
            raise ApiError(400, 'quotas must map "METRIC" or "region/METRIC" to a number.')
        if not isinstance(stockouts, list) or not all(isinstance(z, str) for z in stockouts):
            raise ApiError(400, 'stockouts must be a list of "zone/gpu-type".')
        if "quotas" in options:
            settings["quotas"] = {str(k): float(v) for k, v in quotas.items()}
        if "stockouts" in options:
            settings["stockouts"] = list(stockouts)
        ctx.store.put(SETTINGS, ctx.project, settings)
        result["capacity"] = settings
    count = int(instances or 0)
    if count <= 0:
        return result
    rng = random.Random(int(options.get("seed", 7)))
    running_share = float(options.get("running", 0.4))
    gpu_share = float(options.get("gpu", 0.15))
    prefix = options.get("name_prefix")
    zone_names = list(cat.ZONES)[: max(1, min(int(zones or 1), len(cat.ZONES)))]
    project = ctx.project
    now = time.time()
    plain = (
        "e2-standard-4",
        "e2-medium",
        "n1-standard-8",
        "n2-standard-8",
        "n2d-standard-16",
        "c3-standard-8",
    )
    images = [f for f in cat.IMAGE_FAMILIES if not f.state]
    os_images = [f for f in images if f.project != "deeplearning-platform-release"]
    docs: list[tuple[str, dict[str, Any]]] = []
    deadlines: list[tuple[float, str]] = []
    for i in range(count):
        zone = zone_names[i % len(zone_names)]
        name = f"{prefix}-{i:05d}" if prefix else f"{SEED_STEMS[i % len(SEED_STEMS)]}-{i:05d}"
        gpus = cat.zone_gpus(zone)
        accelerators: list[tuple[str, int]] = []
        machine = rng.choice([m for m in plain if cat.shape_in_zone(zone, m)] or ["e2-medium"])
        if gpus and rng.random() < gpu_share:
            if "nvidia-l4" in gpus and rng.random() < 0.4:
                machine = rng.choice(["g2-standard-8", "g2-standard-24"])
            elif "nvidia-tesla-t4" in gpus:
                machine = rng.choice(["n1-standard-8", "n1-highmem-8"])
                accelerators = [("nvidia-tesla-t4", rng.choice([1, 1, 2, 4]))]
            elif "nvidia-tesla-v100" in gpus:
                machine = "n1-standard-8"
                accelerators = [("nvidia-tesla-v100", 1)]
        shape = cat.SHAPES[machine]
        # Draw from 8 (GPU) or 4 (plain) as before, so a seed gives the same fleet as it did.
        pool = images if (shape.gpu or accelerators) else os_images
        family = pool[rng.randrange(8 if pool is images else 4) % len(pool)]
        running = rng.random() < running_share
        created = now - rng.uniform(3600, 60 * 86400)
        body: dict[str, Any] = {
            "name": name,
            "machineType": f"zones/{zone}/machineTypes/{machine}",
            "labels": {"team": rng.choice(SEED_TEAMS), "purpose": SEED_STEMS[i % len(SEED_STEMS)]},
            "guestAccelerators": [
                {"acceleratorType": f"zones/{zone}/acceleratorTypes/{t}", "acceleratorCount": n}
                for t, n in accelerators
            ],
            "scheduling": {"onHostMaintenance": "TERMINATE"} if (accelerators or shape.gpu) else {},
        }
        if rng.random() < 0.1:
            body["scheduling"].update(
                {
                    "provisioningModel": "SPOT",
                    "instanceTerminationAction": "STOP",
                    "automaticRestart": False,
                }
            )
        limited = running and rng.random() < 0.1
        if limited:
            body["scheduling"]["maxRunDuration"] = {"seconds": str(rng.choice([4, 8, 24]) * 3600)}
            body["scheduling"]["instanceTerminationAction"] = "STOP"
        doc = build_instance(
            ctx, project, zone, body, shape, family, cat.image_name(family), created
        )
        key = f"{project}/{zone}/{name}"
        if running:
            started = now - rng.uniform(60, 3 * 86400)
            if limited:
                run = float(body["scheduling"]["maxRunDuration"]["seconds"])
                started = max(started, now - run + rng.uniform(600, 3600))
            doc["status"] = "RUNNING"
            doc["lastStartTimestamp"] = now_ts(started)
            doc["cpuPlatform"] = cat.CPU_PLATFORMS[shape.family]
            assign_external_ip(ctx, doc)
            update_termination_status(doc)
            deadline = deadline_of(doc)
            if deadline is not None:
                deadlines.append((deadline, key))
        else:
            doc["status"] = "TERMINATED"
            doc["lastStartTimestamp"] = now_ts(created + 60)
            doc["lastStopTimestamp"] = now_ts(rng.uniform(created + 120, now))
        docs.append((key, doc))
    ctx.store.put_many(INSTANCE, docs)
    rt = runtime(ctx)
    for deadline, key in deadlines:
        rt.schedule(deadline, "deadline", key)
    return {**result, "instances": len(docs), "instance_zones": zone_names}


# ---------------------------------------------------------------- building an instance


def _accelerator_name(ref: str) -> str:
    return last_segment(ref)


def parse_source_image(ref: str) -> tuple[cat.ImageFamily, str, str]:
    """(family, image name, date) for a sourceImage reference; 404 as Google when unknown.

    Accepts `…/global/images/family/F` (the family's newest non-deprecated image),
    `…/zones/Z/imageFamilyViews/F` (what gcloud sends for --image-family) and `…/global/images/N`.
    An OBSOLETE image is refused as Google does ("Operations which create a new resource using an
    OBSOLETE resource will be rejected"); a DEPRECATED one is still accepted.
    """
    path = ref
    if "/projects/" in path:
        path = "projects/" + path.split("/projects/", 1)[1]
    project = segment_after(path, "projects") or ""
    family_name = segment_after(path, "family") or segment_after(path, "imageFamilyViews")
    if family_name:
        family = cat.find_family(project, family_name)
        if family is None:
            raise not_found(f"projects/{project}/global/images/family/{family_name}")
        return family, cat.image_name(family), cat.IMAGE_DATE
    image = segment_after(path, "images") or last_segment(path)
    found = cat.find_image(project, image)
    if found is None:
        raise not_found(f"projects/{project}/global/images/{image}")
    if found[0].state in ("OBSOLETE", "DELETED"):
        raise ApiError(
            400,
            f"Invalid value for field 'resource.disks[0].initializeParams.sourceImage': "
            f"'{ref}'. The referenced image resource is {found[0].state.lower()}.",
            reason="invalid",
        )
    return found[0], image, found[1]


def normalize_scheduling(
    given: dict[str, Any], gpu: bool, field: str = "resource.scheduling", bundled: bool = False
) -> dict[str, Any]:
    """Google's defaults and checks for `scheduling`.

    a2/a3/g2 shapes (bundled GPUs) default to TERMINATE; n1 with attached GPUs must say so.
    """
    sched = dict(given)
    model = sched.get("provisioningModel") or ("SPOT" if sched.get("preemptible") else "STANDARD")
    if model not in ("STANDARD", "SPOT"):
        raise ApiError(400, f"Invalid value for field '{field}.provisioningModel': '{model}'.")
    sched["provisioningModel"] = model
    spot = model == "SPOT"
    if spot:
        sched["preemptible"] = True
        sched.setdefault("instanceTerminationAction", "STOP")
        if sched.get("automaticRestart"):
            raise ApiError(
                400,
                f"Invalid value for field '{field}.automaticRestart': 'true'. Spot VMs cannot be restarted automatically.",
            )
        sched["automaticRestart"] = False
    else:
        sched["preemptible"] = False
        sched.setdefault("automaticRestart", True)
    host = sched.get("onHostMaintenance") or ("TERMINATE" if (bundled or spot) else "MIGRATE")
    if host not in ("MIGRATE", "TERMINATE"):
        raise ApiError(400, f"Invalid value for field '{field}.onHostMaintenance': '{host}'.")
    if gpu and host == "MIGRATE":
        raise ApiError(400, "Instances with guest accelerators do not support live migration.")
    sched["onHostMaintenance"] = host
    action = sched.get("instanceTerminationAction")
    if action not in (None, "", "STOP", "DELETE"):
        raise ApiError(
            400, f"Invalid value for field '{field}.instanceTerminationAction': '{action}'."
        )
    run = sched.get("maxRunDuration")
    if run:
        try:
            seconds = int(run.get("seconds", 0))
            nanos = int(run.get("nanos", 0))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ApiError(
                400, f"Invalid value for field '{field}.maxRunDuration': '{run}'."
            ) from exc
        if seconds <= 0 or seconds > 120 * 86400:
            raise ApiError(
                400,
                f"Invalid value for field '{field}.maxRunDuration.seconds': '{seconds}'. "
                "Must be between 30 seconds and 120 days.",
            )
        sched["maxRunDuration"] = {"seconds": str(seconds), **({"nanos": nanos} if nanos else {})}
    else:
        sched.pop("maxRunDuration", None)
    if sched.get("terminationTime"):
        try:
            parse_ts(str(sched["terminationTime"]))
        except ValueError as exc:
            raise ApiError(
                400,
                f"Invalid value for field '{field}.terminationTime': '{sched['terminationTime']}'. Not an RFC 3339 timestamp.",
            ) from exc
    else:
        sched.pop("terminationTime", None)
    if (sched.get("maxRunDuration") or sched.get("terminationTime")) and not action:
        raise ApiError(
            400,
            f"Invalid value for field '{field}.instanceTerminationAction': ''. "
            "An instance termination action (STOP or DELETE) is required with maxRunDuration or terminationTime.",
        )
    if not action:
        sched.pop("instanceTerminationAction", None)
    return sched


def validate_accelerators(
    project: str, zone: str, shape: cat.Shape, given: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The instance's guestAccelerators: attached ones (n1) or the shape's bundled ones."""
    attached = []
    for i, acc in enumerate(given):
        ref = str(acc.get("acceleratorType") or "")
        gpu = _accelerator_name(ref)
        count = int(acc.get("acceleratorCount") or 0)
        if count <= 0:
            continue
        acc_zone = segment_after(ref, "zones") or zone
        if gpu not in cat.GPU_TYPES or gpu not in cat.zone_gpus(acc_zone) or acc_zone != zone:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.guestAccelerators[{i}].acceleratorType': '{ref}'. "
                f"Accelerator type '{gpu}' does not exist in zone '{zone}'.",
            )
        if shape.gpu:
            if gpu == shape.gpu and count == shape.gpu_count:
                continue  # the bundled GPUs, spelled out: accepted
            raise ApiError(
                400, f"[{shape.name}, {gpu}] features are not compatible for creating instance."
            )
        if not cat.accepts_attached_gpu(shape.family, gpu):
            raise ApiError(
                400, f"[{shape.name}, {gpu}] features are not compatible for creating instance."
            )
        limit = cat.GPU_TYPES[gpu].max_per_instance
        if count not in (1, 2, 4, 8, 16) or count > limit:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.guestAccelerators[{i}].acceleratorCount': '{count}'. "
                f"Accelerator type '{gpu}' allows 1, 2, 4{', 8' if limit >= 8 else ''} per instance (at most {limit}).",
            )
        attached.append((gpu, count))
    if shape.gpu:
        attached = [(shape.gpu, shape.gpu_count)]
    return [
        {
            "acceleratorType": f"{BASE}/projects/{project}/zones/{zone}/acceleratorTypes/{gpu}",
            "acceleratorCount": n,
        }
        for gpu, n in attached
    ]


def build_instance(
    ctx: SandboxContext,
    project: str,
    zone: str,
    body: dict[str, Any],
    shape: cat.Shape,
    family: cat.ImageFamily,
    image: str,
    created: float | None = None,
) -> dict[str, Any]:
    """Google's Instance document for a validated insert body (status PROVISIONING)."""
    name = body["name"]
    region = cat.region_of(zone)
    accelerators = validate_accelerators(project, zone, shape, body.get("guestAccelerators") or [])
    sched = normalize_scheduling(
        body.get("scheduling") or {}, bool(accelerators), bundled=bool(shape.gpu)
    )
    boot_params = (
        ((body.get("disks") or [{}])[0].get("initializeParams") or {}) if body.get("disks") else {}
    )
    size = int(boot_params.get("diskSizeGb") or family.disk_size_gb)
    links = body.pop("_links", None) or {}
    n = ctx.store.next_id(f"compute.internalIp.{region}")
    internal = f"10.{cat.subnet_octet(region)}.{(n // 250) % 16}.{n % 250 + 2}"
    wants_external = True
    nics = body.get("networkInterfaces")
    if nics is not None:
        wants_external = any(
            a.get("type", "ONE_TO_ONE_NAT") == "ONE_TO_ONE_NAT"
            for a in (nics[0].get("accessConfigs") or [])
        )
    nic: dict[str, Any] = {
        "kind": "compute#networkInterface",
        "network": links.get("network", f"{BASE}/projects/{project}/global/networks/default"),
        "subnetwork": links.get(
            "subnetwork", f"{BASE}/projects/{project}/regions/{region}/subnetworks/default"
        ),
        "networkIP": internal,
        "name": "nic0",
        "fingerprint": new_fingerprint(),
        "stackType": "IPV4_ONLY",
    }
    if wants_external:
        nic["accessConfigs"] = [
            {
                "kind": "compute#accessConfig",
                "type": "ONE_TO_ONE_NAT",
                "name": "External NAT",
                "networkTier": "PREMIUM",
            }
        ]
    items = [
        {"key": str(i.get("key")), "value": str(i.get("value", ""))}
        for i in ((body.get("metadata") or {}).get("items") or [])
    ]
    doc: dict[str, Any] = {
        "kind": "compute#instance",
        "id": str(10**18 + secrets.randbits(62)),
        "creationTimestamp": now_ts(created),
        "name": name,
        "description": str(body.get("description", "")),
        "tags": {"fingerprint": new_fingerprint()},
        "machineType": f"{BASE}/projects/{project}/zones/{zone}/machineTypes/{shape.name}",
        "status": "PROVISIONING",
        "zone": f"{BASE}/projects/{project}/zones/{zone}",
        "canIpForward": False,
        "networkInterfaces": [nic],
        "disks": [
            {
                "kind": "compute#attachedDisk",
                "type": "PERSISTENT",
                "mode": "READ_WRITE",
                "source": f"{BASE}/projects/{project}/zones/{zone}/disks/{name}",
                "deviceName": "persistent-disk-0",
                "index": 0,
                "boot": True,
                "autoDelete": True,
                "licenses": [f"{BASE}/projects/{family.project}/global/licenses/{family.family}"],
                "interface": "SCSI",
                "guestOsFeatures": [{"type": "VIRTIO_SCSI_MULTIQUEUE"}, {"type": "GVNIC"}],
                "diskSizeGb": str(size),
                "architecture": "X86_64",
            }
        ],
        "metadata": {
            "kind": "compute#metadata",
            "fingerprint": new_fingerprint(),
            "items": items,
        },
        "serviceAccounts": [],
        "selfLink": instance_link(project, zone, name),
        "scheduling": sched,
        "cpuPlatform": "Unknown CPU Platform",
        "labels": dict(body.get("labels") or {}),
        "labelFingerprint": new_fingerprint(),
        "startRestricted": False,
        "deletionProtection": False,
        "shieldedInstanceConfig": {
            "enableSecureBoot": False,
            "enableVtpm": True,
            "enableIntegrityMonitoring": True,
        },
        "fingerprint": new_fingerprint(),
        "satisfiesPzi": True,
    }
    if accelerators:
        doc["guestAccelerators"] = accelerators
    if not items:
        doc["metadata"].pop("items")
    if not doc["labels"]:
        doc.pop("labels")
    disk_type = str(boot_params.get("diskType") or "pd-standard")
    os_label = (
        "Ubuntu 22.04.4 LTS"
        if "ubuntu" in family.project
        else "Debian GNU/Linux "
        + (
            "11"
            if "11" in family.family or family.project == "deeplearning-platform-release"
            else "12"
        )
    )
    doc["_sandbox"] = {"diskType": last_segment(disk_type), "image": image, "os": os_label}
    return doc


def validate_labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, dict):
        raise ApiError(400, "Invalid value for field 'resource.labels'.")
    for key, value in labels.items():
        if not LABEL_KEY_RE.fullmatch(str(key)) or not LABEL_VALUE_RE.fullmatch(str(value)):
            raise ApiError(
                400,
                f"Invalid value for field 'resource.labels': '{key}={value}'. Label keys start with a "
                "lowercase letter; keys and values use lowercase letters, digits, '_' and '-', at most 63 characters.",
            )
    return {str(k): str(v) for k, v in labels.items()}


def gpu_usage(ctx: SandboxContext, project: str, region: str) -> dict[str, int]:
    """GPUs held by non-TERMINATED instances in a region (what GPU quota counts)."""
    used: dict[str, int] = {}
    zones, _ = cat.REGIONS.get(region, ((), 0))
    for zone in zones:
        for _, doc in ctx.store.list(INSTANCE, prefix=f"{project}/{zone}/"):
            if doc.get("status") == "TERMINATED":
                continue
            for gpu, count in instance_gpus(doc).items():
                used[gpu] = used.get(gpu, 0) + count
    return used


# ---- quotas and capacity (settable by tests: POST /_sandbox/seed {"quotas": …, "stockouts": …})

SETTINGS = "compute.settings"  # key: project → {"quotas": {metric: limit}, "stockouts": [...]}


def capacity_settings(ctx: SandboxContext, project: str) -> dict[str, Any]:
    return ctx.store.get(SETTINGS, project) or {}


def quota_limit(ctx: SandboxContext, project: str, metric: str, region: str = "") -> float:
    """A quota's limit: the seeded override ("region/METRIC" or "METRIC"), else the catalog's."""
    quotas = capacity_settings(ctx, project).get("quotas") or {}
    for key in (f"{region}/{metric}" if region else "", metric):
        if key and key in quotas:
            return float(quotas[key])
    if metric == "GPUS_ALL_REGIONS":
        return float(cat.GPUS_ALL_REGIONS_LIMIT)
    for g in cat.GPU_TYPES.values():
        if metric in (g.quota_metric, f"PREEMPTIBLE_{g.quota_metric}"):
            return float(g.quota_limit)
    return 0.0


def instance_gpus(doc: dict[str, Any]) -> dict[str, int]:
    """GPUs an instance holds: attached (guestAccelerators) or bundled with its machine type."""
    wanted: dict[str, int] = {}
    for acc in doc.get("guestAccelerators") or []:
        gpu = last_segment(acc["acceleratorType"])
        wanted[gpu] = wanted.get(gpu, 0) + int(acc.get("acceleratorCount", 0))
    shape = cat.SHAPES.get(last_segment(str(doc.get("machineType", ""))))
    if shape is not None and shape.gpu and not wanted:
        wanted[shape.gpu] = shape.gpu_count
    return wanted


def project_gpu_usage(ctx: SandboxContext, project: str) -> int:
    return sum(sum(gpu_usage(ctx, project, region).values()) for region in cat.REGIONS)


def quota_error(ctx: SandboxContext, project: str, zone: str, doc: dict[str, Any]) -> str | None:
    """Google's QUOTA_EXCEEDED message when the instance's GPUs do not fit, else None.

    The project-wide GPUS_ALL_REGIONS is checked first (new projects have 0: "Quota
    'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally."), then the region's per-type quota.
    """
    wanted = instance_gpus(doc)
    if not wanted:
        return None
    global_limit = quota_limit(ctx, project, "GPUS_ALL_REGIONS")
    if project_gpu_usage(ctx, project) + sum(wanted.values()) > global_limit:
        return f"Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: {global_limit} globally."
    region = cat.region_of(zone)
    used = gpu_usage(ctx, project, region)
    for gpu, count in wanted.items():
        info = cat.GPU_TYPES[gpu]
        limit = quota_limit(ctx, project, info.quota_metric, region)
        if used.get(gpu, 0) + count > limit:
            return f"Quota '{info.quota_metric}' exceeded.  Limit: {limit} in region {region}."
    return None


def stockout_error(ctx: SandboxContext, project: str, zone: str, doc: dict[str, Any]) -> str | None:
    """Google's stock-out message when a seeded stock-out covers one of the instance's GPUs."""
    stockouts = set(capacity_settings(ctx, project).get("stockouts") or [])
    for gpu in instance_gpus(doc):
        if f"{zone}/{gpu}" in stockouts:
            return (
                f"The zone 'projects/{project}/zones/{zone}' does not have enough resources "
                "available to fulfill the request.  '(resource type:compute)'."
            )
    return None


def capacity_failure(
    ctx: SandboxContext, project: str, zone: str, doc: dict[str, Any]
) -> tuple[str, str] | None:
    """(error code, message) an insert or start fails with, as the operation's error."""
    quota = quota_error(ctx, project, zone, doc)
    if quota:
        return "QUOTA_EXCEEDED", quota
    stockout = stockout_error(ctx, project, zone, doc)
    if stockout:
        return "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", stockout
    return None


def region_doc(ctx: SandboxContext, project: str, region: str) -> dict[str, Any]:
    """regions.get: the catalog's region with its quotas (seeded overrides) and GPU usage."""
    doc = cat.region_json(project, region, gpu_usage(ctx, project, region))
    for quota in doc["quotas"]:
        quota["limit"] = quota_limit(ctx, project, quota["metric"], region)
    return doc


def project_doc(ctx: SandboxContext, project: str) -> dict[str, Any]:
    """projects.get: the project's Compute Engine resource with its project-wide quotas."""
    instances = sum(1 for _ in ctx.store.list(INSTANCE, prefix=f"{project}/"))
    return {
        "kind": "compute#project",
        "id": cat.stable_id("project", project),
        "creationTimestamp": cat.EPOCH_TIMESTAMP,
        "name": project,
        "commonInstanceMetadata": {"kind": "compute#metadata", "fingerprint": "42WmSpB8rSM="},
        "quotas": [
            {
                "metric": "GPUS_ALL_REGIONS",
                "limit": quota_limit(ctx, project, "GPUS_ALL_REGIONS"),
                "usage": float(project_gpu_usage(ctx, project)),
            },
            {"metric": "INSTANCES_ALL_REGIONS", "limit": 10000.0, "usage": float(instances)},
            {"metric": "CPUS_ALL_REGIONS", "limit": 2400.0, "usage": 0.0},
        ],
        "selfLink": f"{BASE}/projects/{project}",
        "defaultServiceAccount": f"{project}-compute@developer.gserviceaccount.com",
        "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
        "defaultNetworkTier": "PREMIUM",
    }


# ---------------------------------------------------------------- routes


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    # ---- catalog

    async def zones_list(request: Request) -> Response:
        project = request.path_params["project"]
        match = compile_filter(request.query_params.get("filter", ""))
        items = [z for z in (cat.zone_json(project, zone) for zone in cat.ZONES) if match(z)]
        page, token = paginate(request, items)
        body: dict[str, Any] = {
            "kind": "compute#zoneList",
            "id": f"projects/{project}/zones",
            "items": page,
            "selfLink": f"{BASE}/projects/{project}/zones",
        }
        if token:
            body["nextPageToken"] = token
        return respond(ctx, body)

    async def zone_get(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        if zone not in cat.ZONES:
            raise not_found(f"projects/{project}/zones/{zone}")
        return respond(ctx, cat.zone_json(project, zone))

    async def regions_list(request: Request) -> Response:
        project = request.path_params["project"]
        items = [region_doc(ctx, project, r) for r in cat.REGIONS]
        page, token = paginate(request, items)
        body: dict[str, Any] = {
            "kind": "compute#regionList",
            "id": f"projects/{project}/regions",
            "items": page,
            "selfLink": f"{BASE}/projects/{project}/regions",
        }
        if token:
            body["nextPageToken"] = token
        return respond(ctx, body)

    async def region_get(request: Request) -> Response:
        project, region = request.path_params["project"], request.path_params["region"]
        if region not in cat.REGIONS:
            raise not_found(f"projects/{project}/regions/{region}")
        return respond(ctx, region_doc(ctx, project, region))

    async def project_get(request: Request) -> Response:
        return respond(ctx, project_doc(ctx, request.path_params["project"]))

    def zonal_list(request: Request, kind: str, noun: str, items: list[dict[str, Any]]) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        check_zone(zone)
        match = compile_filter(request.query_params.get("filter", ""))
        page, token = paginate(request, [i for i in items if match(i)])
        body: dict[str, Any] = {
            "kind": kind,
            "id": f"projects/{project}/zones/{zone}/{noun}",
            "items": page,
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/{noun}",
        }
        if token:
            body["nextPageToken"] = token
        return respond(ctx, body)

    async def machine_types_list(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        items = [cat.machine_type_json(project, zone, s) for s in cat.zone_shapes(zone)]
        return zonal_list(request, "compute#machineTypeList", "machineTypes", items)

    async def machine_type_get(request: Request) -> Response:
        p = request.path_params
        shape = cat.shape_in_zone(p["zone"], p["name"])
        if shape is None:
            raise not_found(f"projects/{p['project']}/zones/{p['zone']}/machineTypes/{p['name']}")
        return respond(ctx, cat.machine_type_json(p["project"], p["zone"], shape))

    async def accelerator_types_list(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        items = [
            cat.accelerator_type_json(project, zone, cat.GPU_TYPES[g])
            for g in sorted(cat.zone_gpus(zone))
        ]
        return zonal_list(request, "compute#acceleratorTypeList", "acceleratorTypes", items)

    async def accelerator_type_get(request: Request) -> Response:
        p = request.path_params
        if p["name"] not in cat.zone_gpus(p["zone"]):
            raise not_found(
                f"projects/{p['project']}/zones/{p['zone']}/acceleratorTypes/{p['name']}"
            )
        return respond(
            ctx, cat.accelerator_type_json(p["project"], p["zone"], cat.GPU_TYPES[p["name"]])
        )

    def aggregated_catalog(
        request: Request, kind: str, noun: str, per_zone: Callable[[str, str], list[dict[str, Any]]]
    ) -> Response:
        project = request.path_params["project"]
        match = compile_filter(request.query_params.get("filter", ""))
        flat = [
            (zone, item) for zone in cat.ZONES for item in per_zone(project, zone) if match(item)
        ]
        page, token = paginate(request, flat)
        items: dict[str, Any] = {}
        for zone, item in page:
            items.setdefault(f"zones/{zone}", {noun: []})[noun].append(item)
        body: dict[str, Any] = {
            "kind": kind,
            "id": f"projects/{project}/aggregated/{noun}",
            "items": items,
            "selfLink": f"{BASE}/projects/{project}/aggregated/{noun}",
        }
        if token:
            body["nextPageToken"] = token
        return respond(ctx, body)

    async def machine_types_aggregated(request: Request) -> Response:
        return aggregated_catalog(
            request,
            "compute#machineTypeAggregatedList",
            "machineTypes",
            lambda p, z: [cat.machine_type_json(p, z, s) for s in cat.zone_shapes(z)],
        )

    async def accelerator_types_aggregated(request: Request) -> Response:
        return aggregated_catalog(
            request,
            "compute#acceleratorTypeAggregatedList",
            "acceleratorTypes",
            lambda p, z: [
                cat.accelerator_type_json(p, z, cat.GPU_TYPES[g]) for g in sorted(cat.zone_gpus(z))
            ],
        )

    async def images_list(request: Request) -> Response:
        project = request.path_params["project"]
        match = compile_filter(request.query_params.get("filter", ""))
        items = [
            cat.image_json(f, date)
            for f in cat.IMAGE_FAMILIES
            if f.project == project
            for date in (cat.OLD_IMAGE_DATE, cat.IMAGE_DATE)
        ]
        page, token = paginate(request, [i for i in items if match(i)])
        body: dict[str, Any] = {
            "kind": "compute#imageList",
            "id": f"projects/{project}/global/images",
            "items": page,
            "selfLink": f"{BASE}/projects/{project}/global/images",
        }
        if token:
            body["nextPageToken"] = token
        return respond(ctx, body)

    async def image_from_family(request: Request) -> Response:
        project, family = request.path_params["project"], request.path_params["family"]
        found = cat.find_family(project, family)
        if found is None:
            raise not_found(f"projects/{project}/global/images/family/{family}")
        return respond(ctx, cat.image_json(found))

    async def image_family_view(request: Request) -> Response:
        # imageFamilyViews.get: the family's newest image as seen from a zone (gcloud's
        # `compute images describe-from-family --zone` and `instances create --image-family`).
        p = request.path_params
        project, zone, family = p["project"], p["zone"], p["family"]
        if zone != "-" and zone not in cat.ZONES:
            raise not_found(f"projects/{project}/zones/{zone}")
        found = cat.find_family(project, family)
        if found is None:
            raise not_found(f"projects/{project}/global/images/family/{family}")
        return respond(ctx, {"image": cat.image_json(found)})

    async def image_get(request: Request) -> Response:
        project, image = request.path_params["project"], request.path_params["image"]
        found = cat.find_image(project, image)
        if found is None:
            raise not_found(f"projects/{project}/global/images/{image}")
        return respond(ctx, cat.image_json(*found))

    # ---- instances

    def instance_or_404(project: str, zone: str, name: str) -> dict[str, Any]:
        check_zone(zone)
        doc = load(ctx, f"{project}/{zone}/{name}")
        if doc is None:
            raise not_found(f"projects/{project}/zones/{zone}/instances/{name}")
        return doc

    def scan_instances(
        prefix: str, after: str, size: int, match: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
        """Up to `size` matching instances after key `after`, and the next page's cursor."""
        found: list[tuple[str, dict[str, Any]]] = []
        cursor = after
        batch_size = max(size, 100)
        while True:
            batch = ctx.store.list(INSTANCE, prefix=prefix, start_after=cursor, limit=batch_size)
            for key, doc in batch:
                if len(found) == size:
                    return found, found[-1][0]  # more keys follow
                cursor = key
                if match(doc):
                    found.append((key, doc))
            if len(batch) < batch_size:
                return found, None

    async def instances_aggregated(request: Request) -> Response:
        project = request.path_params["project"]
        size = int_param(request, "maxResults", MAX_PAGE, 0, MAX_PAGE) or MAX_PAGE
        after = key_token(request, f"{project}/")
        match = compile_filter(request.query_params.get("filter", ""))
        found, last = scan_instances(f"{project}/", after, size, match)
        items: dict[str, Any] = {}
        for key, doc in found:
            zone = key.split("/")[1]
            items.setdefault(f"zones/{zone}", {"instances": []})["instances"].append(public(doc))
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
            "kind": "compute#instanceAggregatedList",
            "id": f"projects/{project}/aggregated/instances",
            "items": items,
            "selfLink": f"{BASE}/projects/{project}/aggregated/instances",
        }
        if last:
            body["nextPageToken"] = encode_token(last)
        return respond(ctx, body)

    async def instances_list(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        check_zone(zone)
        size = int_param(request, "maxResults", MAX_PAGE, 0, MAX_PAGE) or MAX_PAGE
        after = key_token(request, f"{project}/{zone}/")
        match = compile_filter(request.query_params.get("filter", ""))
        found, last = scan_instances(f"{project}/{zone}/", after, size, match)
        body: dict[str, Any] = {
            "kind": "compute#instanceList",
            "id": f"projects/{project}/zones/{zone}/instances",
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/instances",
        }
        if found:
            body["items"] = [public(doc) for _, doc in found]
        if last:
            body["nextPageToken"] = encode_token(last)
        return respond(ctx, body)

    async def instance_get(request: Request) -> Response:
        p = request.path_params
        return respond(ctx, public(instance_or_404(p["project"], p["zone"], p["instance"])))

    async def instance_insert(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        check_zone(zone)
        body = await read_json(request)
        name = str(body.get("name") or "")
        if not NAME_RE.fullmatch(name):
            raise ApiError(
                400,
                f"Invalid value for field 'resource.name': '{name}'. Must be a match of regex '{NAME_REGEX_TEXT}'",
            )
        key = f"{project}/{zone}/{name}"
        if load(ctx, key) is not None:
            raise ApiError(
                409,
                f"The resource 'projects/{project}/zones/{zone}/instances/{name}' already exists",
                "alreadyExists",
            )
        mt_ref = str(body.get("machineType") or "")
        if not mt_ref:
            raise ApiError(
                400,
                "Invalid value for field 'resource.machineType': ''. Machine type must be specified.",
            )
        mt_zone = segment_after(mt_ref, "zones") or zone
        mt_name = last_segment(mt_ref)
        shape = cat.shape_in_zone(zone, mt_name)
        if mt_zone != zone or shape is None:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.machineType': '{mt_ref}'. "
                f"Machine type with name '{mt_name}' does not exist in zone '{zone}'.",
            )
        disks = body.get("disks") or []
        boot_disks = [d for d in disks if d.get("boot")] or disks[:1]
        if not boot_disks or not (boot_disks[0].get("initializeParams") or {}).get("sourceImage"):
            raise ApiError(
                400,
                "Invalid value for field 'resource.disks': ''. A boot disk created from a source image "
                "(initializeParams.sourceImage) is required.",
            )
        params = boot_disks[0]["initializeParams"]
        family, image, _ = parse_source_image(str(params["sourceImage"]))
        size = int(params.get("diskSizeGb") or family.disk_size_gb)
        if size < family.disk_size_gb:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.disks[0].initializeParams.diskSizeGb': '{size}'. "
                f"Requested disk size cannot be smaller than the image size ({family.disk_size_gb} GB)",
            )
        if size > MAX_DISK_GB:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.disks[0].initializeParams.diskSizeGb': '{size}'. "
                f"Disk size cannot be larger than {MAX_DISK_GB} GB.",
            )
        disk_type = last_segment(str(params.get("diskType") or "pd-standard"))
        if disk_type not in DISK_TYPES:
            raise not_found(f"projects/{project}/zones/{zone}/diskTypes/{disk_type}")
        nics = body.get("networkInterfaces")
        if nics is not None and not nics:
            raise ApiError(
                400,
                "Invalid value for field 'resource.networkInterfaces': ''. At least one network interface is required.",
            )
        from tui.sandbox.compute_networks import interface_links

        network, subnetwork = interface_links(
            ctx, project, cat.region_of(zone), nics[0] if nics else None
        )
        body["_links"] = {"network": network, "subnetwork": subnetwork}
        body["labels"] = validate_labels(body.get("labels") or {})
        body["disks"] = [
            {"initializeParams": {**params, "diskSizeGb": str(size), "diskType": disk_type}}
        ]
        doc = build_instance(ctx, project, zone, body, shape, family, image)
        op_key, op = new_operation(ctx, project, zone, "insert", doc["selfLink"], doc["id"])
        failure = capacity_failure(ctx, project, zone, doc)
        if failure:
            # Google accepts the request and fails the operation; no instance appears.
            fail_operation_later(ctx, op_key, failure[1], failure[0])
            return respond(ctx, op)
        begin_start(ctx, key, doc, op_key)
        return respond(ctx, op)

    async def instance_delete(request: Request) -> Response:
        p = request.path_params
        project, zone, name = p["project"], p["zone"], p["instance"]
        doc = instance_or_404(project, zone, name)
        key = f"{project}/{zone}/{name}"
        op_key, op = new_operation(ctx, project, zone, "delete", doc["selfLink"], doc["id"])
        if doc["status"] == "TERMINATED":
            take_next_ops(doc)
            set_next(ctx, key, doc, "DELETED", ctx.timing.operation, op_key)
            save(ctx, key, doc)
        else:
            previous = take_next_ops(doc)
            doc.setdefault("_sandbox", {})["next"] = {"ops": previous}
            begin_stop(ctx, key, doc, op_key, "DELETED")
        return respond(ctx, op)

    async def instance_action(request: Request) -> Response:
        p = request.path_params
        project, zone, name, verb = p["project"], p["zone"], p["instance"], p["verb"]
        if verb not in ACTIONS:
            raise ApiError(404, f"The sandbox does not serve POST {request.url.path}")
        doc = instance_or_404(project, zone, name)
        body = await read_json(request)
        return await ACTIONS[verb](project, zone, name, doc, body)

    def not_ready(project: str, zone: str, name: str) -> ApiError:
        return ApiError(
            400,
            f"The resource 'projects/{project}/zones/{zone}/instances/{name}' is not ready",
            "resourceNotReady",
        )

    async def do_start(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        key = f"{project}/{zone}/{name}"
        status = doc["status"]
        if status in ("RUNNING", "PROVISIONING", "STAGING"):
            _, op = new_operation(
                ctx, project, zone, "start", doc["selfLink"], doc["id"], done=True
            )
            return respond(ctx, op)
        if status != "TERMINATED":
            raise not_ready(project, zone, name)
        op_key, op = new_operation(ctx, project, zone, "start", doc["selfLink"], doc["id"])
        failure = capacity_failure(ctx, project, zone, doc)
        if failure:
            fail_operation_later(ctx, op_key, failure[1], failure[0])
            return respond(ctx, op)
        begin_start(ctx, key, doc, op_key)
        return respond(ctx, op)

    async def do_stop(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        key = f"{project}/{zone}/{name}"
        if doc["status"] == "TERMINATED":
            _, op = new_operation(ctx, project, zone, "stop", doc["selfLink"], doc["id"], done=True)
            return respond(ctx, op)
        op_key, op = new_operation(ctx, project, zone, "stop", doc["selfLink"], doc["id"])
        nxt = doc.get("_sandbox", {}).get("next") or {}
        if doc["status"] == "STOPPING":
            # Already on its way down: this operation finishes with the one in progress.
            nxt.setdefault("ops", []).append(op_key)
            save(ctx, key, doc)
            return respond(ctx, op)
        previous = take_next_ops(doc)
        doc.setdefault("_sandbox", {})["next"] = {"ops": previous}
        begin_stop(ctx, key, doc, op_key, "TERMINATED")
        return respond(ctx, op)

    async def do_reset(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        key = f"{project}/{zone}/{name}"
        if doc["status"] != "RUNNING" or doc.get("_sandbox", {}).get("next"):
            raise not_ready(project, zone, name)
        op_key, op = new_operation(ctx, project, zone, "reset", doc["selfLink"], doc["id"])
        await runtime(ctx).procs.kill(key)  # a hard reset: no shutdown
        doc = load(ctx, key) or doc
        doc.get("_sandbox", {}).pop("proc", None)
        set_next(ctx, key, doc, "RESET", ctx.timing.operation, op_key)
        save(ctx, key, doc)
        return respond(ctx, op)

    async def do_set_machine_type(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        key = f"{project}/{zone}/{name}"
        ref = str(body.get("machineType") or "")
        mt_name = last_segment(ref)
        shape = cat.shape_in_zone(zone, mt_name)
        if shape is None or (segment_after(ref, "zones") or zone) != zone:
            raise ApiError(
                400,
                f"Invalid value for field 'resource.machineType': '{ref}'. "
                f"Machine type with name '{mt_name}' does not exist in zone '{zone}'.",
            )
        if doc["status"] != "TERMINATED":
            raise ApiError(
                400,
                f"Invalid resource usage: 'Instance '{name}' is {doc['status']}; it must be stopped "
                "(TERMINATED) before its machine type can be changed.'",
                "invalidResourceUsage",
            )
        old_shape = cat.SHAPES.get(last_segment(doc["machineType"]))
        attached = [] if (old_shape and old_shape.gpu) else doc.get("guestAccelerators") or []
        for acc in attached:
            gpu = last_segment(acc["acceleratorType"])
            if shape.gpu or not cat.accepts_attached_gpu(shape.family, gpu):
                raise ApiError(
                    400, f"[{shape.name}, {gpu}] features are not compatible for creating instance."
                )
        doc["machineType"] = f"{BASE}/projects/{project}/zones/{zone}/machineTypes/{shape.name}"
        if shape.gpu:
            doc["guestAccelerators"] = [
                {
                    "acceleratorType": f"{BASE}/projects/{project}/zones/{zone}/acceleratorTypes/{shape.gpu}",
                    "acceleratorCount": shape.gpu_count,
                }
            ]
            doc.setdefault("scheduling", {})["onHostMaintenance"] = "TERMINATE"
        elif old_shape and old_shape.gpu:
            doc.pop("guestAccelerators", None)
        save(ctx, key, doc)
        op_key, op = new_operation(ctx, project, zone, "setMachineType", doc["selfLink"], doc["id"])
        schedule_op_done(ctx, op_key)
        return respond(ctx, op)

    async def do_set_scheduling(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        key = f"{project}/{zone}/{name}"
        shape = cat.SHAPES.get(last_segment(doc["machineType"]))
        sched = normalize_scheduling(
            body,
            bool(doc.get("guestAccelerators")),
            "scheduling",
            bundled=bool(shape and shape.gpu),
        )
        current = doc.get("scheduling") or {}
        limits = (
            "maxRunDuration",
            "terminationTime",
            "instanceTerminationAction",
            "provisioningModel",
        )
        changed = [f for f in limits if sched.get(f) != current.get(f)]
        if changed and doc["status"] != "TERMINATED":
            raise ApiError(
                400,
                f"Invalid resource usage: 'Instance '{name}' is {doc['status']}; {', '.join(changed)} "
                "can only be changed while the instance is stopped (TERMINATED).'",
                "invalidResourceUsage",
            )
        if sched.get("terminationTime") and parse_ts(sched["terminationTime"]) <= time.time():
            raise ApiError(
                400,
                f"Invalid value for field 'scheduling.terminationTime': '{sched['terminationTime']}'. "
                "The termination time must be in the future.",
            )
        doc["scheduling"] = sched
        save(ctx, key, doc)
        op_key, op = new_operation(ctx, project, zone, "setScheduling", doc["selfLink"], doc["id"])
        schedule_op_done(ctx, op_key)
        return respond(ctx, op)

    async def do_set_labels(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        key = f"{project}/{zone}/{name}"
        fingerprint = body.get("labelFingerprint")
        if fingerprint and fingerprint != doc.get("labelFingerprint"):
            raise ApiError(
                412,
                "Supplied fingerprint does not match current metadata fingerprint.",
                "conditionNotMet",
            )
        labels = validate_labels(body.get("labels") or {})
        if labels:
            doc["labels"] = labels
        else:
            doc.pop("labels", None)
        doc["labelFingerprint"] = new_fingerprint()
        save(ctx, key, doc)
        op_key, op = new_operation(ctx, project, zone, "setLabels", doc["selfLink"], doc["id"])
        schedule_op_done(ctx, op_key)
        return respond(ctx, op)

    async def do_set_metadata(
        project: str, zone: str, name: str, doc: dict[str, Any], body: dict[str, Any]
    ) -> Response:
        """Replace every metadata item; the caller must send the current fingerprint
        ("An up-to-date fingerprint must always be provided", instances.setMetadata)."""
        key = f"{project}/{zone}/{name}"
        current = doc.setdefault("metadata", {"kind": "compute#metadata"})
        if body.get("fingerprint") != current.get("fingerprint"):
            raise ApiError(
                412,
                "Supplied fingerprint does not match current metadata fingerprint.",
                "conditionNotMet",
            )
        items = []
        for item in body.get("items") or []:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise ApiError(
                    400, "Invalid value for field 'resource.items': metadata items need a key."
                )
            if not re.fullmatch(r"[a-zA-Z0-9_-]{1,128}", item["key"]):
                raise ApiError(
                    400, f"Invalid value for field 'resource.items.key': '{item['key']}'."
                )
            value = item.get("value", "")
            if not isinstance(value, str) or len(value.encode()) > 256 * 1024:
                raise ApiError(
                    400,
                    f"Invalid value for field 'resource.items.value' of '{item['key']}': "
                    "a string of at most 256 KB.",
                )
            items.append({"key": item["key"], "value": value})
        current["items"] = items
        if not items:
            current.pop("items")
        current["fingerprint"] = new_fingerprint()
        save(ctx, key, doc)
        op_key, op = new_operation(ctx, project, zone, "setMetadata", doc["selfLink"], doc["id"])
        schedule_op_done(ctx, op_key)
        return respond(ctx, op)

    ACTIONS = {
        "setMetadata": do_set_metadata,
        "start": do_start,
        "stop": do_stop,
        "reset": do_reset,
        "setMachineType": do_set_machine_type,
        "setScheduling": do_set_scheduling,
        "setLabels": do_set_labels,
    }

    async def serial_port(request: Request) -> Response:
        p = request.path_params
        project, zone, name = p["project"], p["zone"], p["instance"]
        doc = instance_or_404(project, zone, name)
        port = int_param(request, "port", 1, 1, 4)
        start = int_param(request, "start", 0, -(2**62), 2**62)
        path = serial_path(ctx, f"{project}/{zone}/{name}")
        data = b""
        size = 0
        if port == 1:
            with contextlib.suppress(FileNotFoundError):
                size = path.stat().st_size
            if start < 0:  # a negative start counts back from the end, as Google's does
                start = max(size + start, 0)
            start = max(start, size - SERIAL_RETAINED, 0)
            if start < size:
                data = await asyncio.to_thread(_read_range, path, start, SERIAL_RETAINED)
        else:
            start = 0
        body = {
            "kind": "compute#serialPortOutput",
            "contents": data.decode("utf-8", errors="replace"),
            "start": str(start),
            "next": str(start + len(data)),
            "selfLink": f"{doc['selfLink']}/serialPort",
        }
        return respond(ctx, body)

    # ---- operations

    def op_or_404(project: str, zone: str, name: str) -> tuple[str, dict[str, Any]]:
        check_zone(zone)
        key = f"{project}/{zone}/{name}"
        op = ctx.store.get(OPERATION, key)
        if op is None:
            raise not_found(f"projects/{project}/zones/{zone}/operations/{name}")
        return key, op

    async def operation_get(request: Request) -> Response:
        p = request.path_params
        _, op = op_or_404(p["project"], p["zone"], p["operation"])
        return respond(ctx, public_op(op))

    async def operation_wait(request: Request) -> Response:
        p = request.path_params
        key, op = op_or_404(p["project"], p["zone"], p["operation"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_MAX_SECONDS
        rt = runtime(ctx)
        while op.get("status") != "DONE" and not rt.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            event = rt.op_event(key)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, 0.5))
            if await request.is_disconnected():
                break
            op = ctx.store.get(OPERATION, key) or op
        return respond(ctx, public_op(op))

    async def operation_delete(request: Request) -> Response:
        p = request.path_params
        key, _ = op_or_404(p["project"], p["zone"], p["operation"])
        ctx.store.delete(OPERATION, key)
        return Response(status_code=204)

    async def operations_list(request: Request) -> Response:
        project, zone = request.path_params["project"], request.path_params["zone"]
        check_zone(zone)
        match = compile_filter(request.query_params.get("filter", ""))
        items = [
            public_op(op)
            for _, op in ctx.store.list(OPERATION, prefix=f"{project}/{zone}/")
            if match(op)
        ]
        items.sort(key=lambda op: op["insertTime"])
        page, token = paginate(request, items)
        body: dict[str, Any] = {
            "kind": "compute#operationList",
            "id": f"projects/{project}/zones/{zone}/operations",
            "items": page,
            "selfLink": f"{BASE}/projects/{project}/zones/{zone}/operations",
        }
        if token:
            body["nextPageToken"] = token
        return respond(ctx, body)

    z = PREFIX + "/zones/{zone}"
    return [
        Route(PREFIX + "/zones", zones_list, methods=["GET"]),
        Route(z, zone_get, methods=["GET"]),
        Route(PREFIX + "/regions", regions_list, methods=["GET"]),
        Route(PREFIX + "/regions/{region}", region_get, methods=["GET"]),
        Route(PREFIX, project_get, methods=["GET"]),
        Route(z + "/machineTypes", machine_types_list, methods=["GET"]),
        Route(z + "/machineTypes/{name}", machine_type_get, methods=["GET"]),
        Route(PREFIX + "/aggregated/machineTypes", machine_types_aggregated, methods=["GET"]),
        Route(z + "/acceleratorTypes", accelerator_types_list, methods=["GET"]),
        Route(z + "/acceleratorTypes/{name}", accelerator_type_get, methods=["GET"]),
        Route(
            PREFIX + "/aggregated/acceleratorTypes", accelerator_types_aggregated, methods=["GET"]
        ),
        Route(PREFIX + "/global/images", images_list, methods=["GET"]),
        Route(PREFIX + "/global/images/family/{family}", image_from_family, methods=["GET"]),
        Route(PREFIX + "/global/images/{image}", image_get, methods=["GET"]),
        Route(
            PREFIX + "/zones/{zone}/imageFamilyViews/{family}", image_family_view, methods=["GET"]
        ),
        Route(PREFIX + "/aggregated/instances", instances_aggregated, methods=["GET"]),
        Route(z + "/instances", instances_list, methods=["GET"]),
        Route(z + "/instances", idempotent(ctx, instance_insert), methods=["POST"]),
        Route(z + "/instances/{instance}", instance_get, methods=["GET"]),
        Route(z + "/instances/{instance}", idempotent(ctx, instance_delete), methods=["DELETE"]),
        Route(z + "/instances/{instance}/serialPort", serial_port, methods=["GET"]),
        Route(
            z + "/instances/{instance}/{verb}", idempotent(ctx, instance_action), methods=["POST"]
        ),
        Route(z + "/operations", operations_list, methods=["GET"]),
        Route(z + "/operations/{operation}", operation_get, methods=["GET"]),
        Route(z + "/operations/{operation}", operation_delete, methods=["DELETE"]),
        Route(z + "/operations/{operation}/wait", operation_wait, methods=["POST"]),
    ]


MAX_DISK_GB = 65536  # a persistent disk holds at most 64 TB

REQUEST_ID_WINDOW = 3600.0  # Google remembers a requestId for at least 60 minutes


def idempotent(ctx: SandboxContext, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """`requestId` on a mutation, as Compute Engine documents it: a valid, non-zero UUID; a
    request repeated with the same ID (a client retrying after a timeout or a dropped
    connection) gets the original operation back and changes nothing again."""

    async def wrapped(request: Request) -> Response:
        request_id = request.query_params.get("requestId", "")
        if not request_id:
            return await handler(request)  # type: ignore[no-any-return]
        try:
            valid = uuid.UUID(request_id).int != 0
        except ValueError:
            valid = False
        if not valid:
            raise ApiError(
                400,
                f"Invalid value for field 'requestId': '{request_id}'. "
                "The request ID must be a valid UUID, and not the zero UUID.",
            )
        project = request.path_params["project"]
        seen = runtime(ctx).request_ids
        now = time.time()
        for stale in [k for k, (t, _) in seen.items() if now - t > REQUEST_ID_WINDOW]:
            del seen[stale]
        earlier = seen.get((project, request_id))
        if earlier is not None:
            op = ctx.store.get(OPERATION, earlier[1])
            if op is not None:
                return respond(ctx, public_op(op))
        response: Response = await handler(request)
        if response.status_code == 200:
            op = json.loads(bytes(response.body))
            key = f"{project}/{last_segment(op.get('zone', ''))}/{op.get('name', '')}"
            seen[(project, request_id)] = (now, key)
        return response

    return wrapped


def public_op(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if not k.startswith("_")}


def _read_range(path: Path, start: int, limit: int) -> bytes:
    with open(path, "rb") as src:
        src.seek(start)
        return src.read(limit)
