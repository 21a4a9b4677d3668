"""Compute Engine answers rate limits with 403 `rateLimitExceeded` (docs/gcp-facts.md): the real
client meets it from the sandbox's fault injection, cloudpane retries it like a 429, and when it
lasts says "rate-limiting", never "permission denied / ask a project owner"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tui.sandbox import daemon
from tui.services import errors
from tui.services.clients import Backend, call, compute_client, read_retry
from tui.services.compute import ComputeService
from tui.services.models import Image, InstanceSpec

ZONE = "us-central1-a"
RATE_LIMIT = {"codes": [403], "error_reason": "rateLimitExceeded", "path_prefix": "/compute"}


def compute_requests(info: daemon.SandboxInfo) -> int:
    counts = daemon.admin(info, "requests")  # read and clear
    return sum(n for path, n in counts.items() if path.startswith("/compute/"))


async def test_403_rate_limit_is_retried_like_429(
    clean_sandbox: Backend, faults: Callable[..., dict], sandbox_info: daemon.SandboxInfo
) -> None:
    svc = ComputeService(clean_sandbox)
    spec = InstanceSpec(
        name="steady",
        zone=ZONE,
        machine_type="e2-medium",
        disk_size_gb=20,
        image=Image("debian-cloud", "debian-12"),
    )
    await svc.wait_operation(await svc.create_instance(spec), timeout=30)
    faults(fail_next=2, **RATE_LIMIT)
    assert [i.name for i in await svc.list_instances()] == ["steady"]
    daemon.admin(sandbox_info, "requests")
    zones = await svc.list_zones()
    plain = compute_requests(sandbox_info)
    faults(fail_next=2, **RATE_LIMIT)
    assert await svc.list_zones() == zones
    assert compute_requests(sandbox_info) == plain + 2  # two 403s, then the same requests
    faults(fail_next=1, **RATE_LIMIT)  # a write with a requestId is retried too
    await svc.wait_operation(await svc.stop_instance(ZONE, "steady"), timeout=30)
    assert (await svc.get_instance(ZONE, "steady")).status == "TERMINATED"


async def test_lasting_403_rate_limit_is_reported_as_a_rate_limit(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    zones = compute_client(clean_sandbox, "ZonesClient")
    faults(error_rate=1.0, **RATE_LIMIT)

    def list_zones() -> list[Any]:
        return list(zones.list(project=clean_sandbox.project, retry=read_retry(timeout=1.0)))

    with pytest.raises(errors.RateLimited) as caught:
        await call(list_zones, action="list zones")
    error = caught.value
    assert isinstance(error, errors.QuotaExceeded)  # pollers treat it as throttling
    assert "Google is rate-limiting requests" in error.message
    assert "gave up after retrying" in error.message
    assert "retries" in error.hint
    assert "permission" not in str(error).lower() and "owner" not in str(error).lower()
    # A 403 without that reason is still a permission problem.
    faults(fail_next=1, codes=[403], path_prefix="/compute")
    with pytest.raises(errors.PermissionDenied, match="Ask a project owner"):
        await call(list_zones, action="list zones")
