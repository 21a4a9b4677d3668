"""Mutations are retried safely: every one carries a requestId, and the sandbox (like Compute
Engine) answers a repeated request with the first one's operation instead of acting twice."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

from tests.conftest import as_owner
from tui.sandbox import daemon
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.models import Image, InstanceSpec

ZONE = "us-central1-a"


def post(info: daemon.SandboxInfo, url: str) -> tuple[int, dict]:
    request = as_owner(info, urllib.request.Request(url, data=b"", method="POST"))
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _instance(svc: ComputeService, name: str) -> None:
    spec = InstanceSpec(name, ZONE, "e2-medium", Image("debian-cloud", "debian-12"), 20)
    await svc.wait_operation(await svc.create_instance(spec), timeout=30)


async def test_a_repeated_request_id_acts_once(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    svc = ComputeService(clean_sandbox)
    await _instance(svc, "twice")
    base = f"{sandbox_info.url}/compute/v1/projects/{sandbox_info.project}/zones/{ZONE}"
    rid = str(uuid.uuid4())
    first = post(sandbox_info, f"{base}/instances/twice/stop?requestId={rid}")
    again = post(sandbox_info, f"{base}/instances/twice/stop?requestId={rid}")
    assert first[0] == again[0] == 200
    assert first[1]["name"] == again[1]["name"]  # the same operation, not a second stop
    other = post(sandbox_info, f"{base}/instances/twice/stop?requestId={uuid.uuid4()}")
    assert other[1]["name"] != first[1]["name"]


def test_a_request_id_must_be_a_uuid(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    base = f"{sandbox_info.url}/compute/v1/projects/{sandbox_info.project}/zones/{ZONE}"
    for bad in ("not-a-uuid", str(uuid.UUID(int=0))):
        status, body = post(sandbox_info, f"{base}/instances/any/stop?requestId={bad}")
        assert status == 400 and "must be a valid UUID" in body["error"]["message"]


async def test_throttled_mutations_are_retried_once_in_effect(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    svc = ComputeService(clean_sandbox)
    await _instance(svc, "throttled")
    faults(fail_next=2, codes=[429], path_prefix="/compute")
    op = await svc.stop_instance(ZONE, "throttled")  # answered 429, 429, then taken
    faults()
    await svc.wait_operation(op, timeout=30)
    assert (await svc.get_instance(ZONE, "throttled")).status == "TERMINATED"
    faults(fail_next=1, codes=[503], path_prefix="/compute")
    op = await svc.start_instance(ZONE, "throttled")
    faults()
    await svc.wait_operation(op, timeout=30)
    assert (await svc.get_instance(ZONE, "throttled")).status == "RUNNING"
