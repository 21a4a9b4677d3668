"""Idle detection end to end: a sandbox VM burns real CPU, then sleeps; Cloud Monitoring (read
with Google's client through MonitoringService) shows it, and the turn-off policy's idle rule
fires only once the VM has been idle for the rule's window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import monitoring_v3

from tui.sandbox import daemon
from tui.services import policy
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.models import Image, Instance, InstanceSpec
from tui.services.monitoring import CPU_METRIC, MonitoringService, monitoring_client

ZONE = "us-central1-a"
SAMPLE_SECONDS = 0.5
BURN_SECONDS = 4
# Real CPU on a shared machine: a busy loop gets at least a slice of a core; sleep gets none.
RULES = policy.Rules(
    idle_cpu_percent=2.0,
    idle_minutes=0.05,  # 3 seconds
    disabled=frozenset(policy.ALL_RULES) - {policy.IDLE},
)
THRESHOLD = RULES.idle_cpu_percent / 100


@pytest.fixture
def fast_sampling(sandbox_info: daemon.SandboxInfo) -> Iterator[float]:
    previous = daemon.admin(sandbox_info, "monitoring", {})["sampleSeconds"]
    daemon.admin(sandbox_info, "monitoring", {"sample_seconds": SAMPLE_SECONDS})
    yield SAMPLE_SECONDS
    daemon.admin(sandbox_info, "monitoring", {"sample_seconds": previous})


async def create(backend: Backend, name: str, script: str = "") -> Instance:
    svc = ComputeService(backend)
    spec = InstanceSpec(
        name=name,
        zone=ZONE,
        machine_type="n1-standard-1",  # 1 vCPU: one busy core is 100 %
        image=Image("debian-cloud", "debian-12"),
        disk_size_gb=10,
        startup_script=script,
    )
    await svc.wait_operation(await svc.create_instance(spec), timeout=30)
    return await svc.get_instance(ZONE, name)


def idle_warnings(
    instances: list[Instance], samples: policy.CpuSamples, now: datetime
) -> dict[str, policy.TurnOffWarning]:
    found = policy.evaluate(instances, samples, now, RULES)
    return {w.instance_name: w for w in found if w.rule == policy.IDLE}


async def test_burn_then_sleep_fires_the_idle_rule_only_after_the_window(
    clean_sandbox: Backend, fast_sampling: float, sandbox_info: daemon.SandboxInfo
) -> None:
    burner = await create(
        clean_sandbox,
        "burner",
        f"echo burning; timeout {BURN_SECONDS} sh -c 'while :; do :; done'; echo resting; sleep 600",
    )
    quiet = await create(clean_sandbox, "quiet")  # no startup-script: an idle VM
    vms = [burner, quiet]
    service = MonitoringService(clean_sandbox)

    async def read() -> tuple[datetime, policy.CpuSamples]:
        now = datetime.now(timezone.utc)
        return now, await service.cpu_samples(vms, minutes=2, alignment_seconds=None, now=now)

    # While it burns: its newest sample is high, so it is not idle (the quiet VM may be).
    deadline = time.monotonic() + 15
    while True:
        now, samples = await read()
        mine = samples.get(burner.id, [])
        if mine and mine[-1][1] >= THRESHOLD:
            break
        assert time.monotonic() < deadline, f"no busy sample while burning: {mine}"
        await asyncio.sleep(0.2)
    assert "burner" not in idle_warnings(vms, samples, now)

    # After the burn: idle once samples below the threshold span the 3-second window.
    deadline = time.monotonic() + 20
    while True:
        now, samples = await read()
        fired = idle_warnings(vms, samples, now)
        if "burner" in fired:
            break
        assert time.monotonic() < deadline, f"idle rule did not fire: {samples.get(burner.id)}"
        await asyncio.sleep(0.3)
    values = [v for _, v in samples[burner.id]]
    peak = values.index(max(values))
    assert max(values) >= THRESHOLD and values[-1] < THRESHOLD, "high, then low"
    assert all(v < THRESHOLD for v in values[-3:]) and peak < len(values) - 3
    warning = fired["burner"]
    assert warning.since is not None and (now - warning.since).total_seconds() >= 3
    busy_at = samples[burner.id][peak][0]
    assert warning.since > busy_at, "the idle episode starts after the last busy sample"
    assert warning.evidence.startswith("CPU 0.") or warning.evidence.startswith("CPU 1.")
    assert "quiet" in fired and fired["quiet"].evidence.startswith("CPU 0.0 %")

    # The default rules want 30 idle minutes: nothing fires after a few seconds.
    assert not [
        w
        for w in policy.evaluate(vms, samples, now, policy.Rules(disabled=RULES.disabled))
        if w.rule == policy.IDLE
    ]

    # ALIGN_MEAN over 60 s is the mean of the raw samples in each bucket.
    end = datetime.now(timezone.utc)
    client = monitoring_client(clean_sandbox)
    base = {
        "name": f"projects/{clean_sandbox.project}",
        "filter": f'metric.type = "{CPU_METRIC}" AND metric.labels.instance_name = "burner"',
        "interval": monitoring_v3.TimeInterval(
            start_time=end - timedelta(seconds=60), end_time=end
        ),
    }
    (raw,) = list(client.list_time_series(request=base))
    aggregation = monitoring_v3.Aggregation(
        alignment_period={"seconds": 60},
        per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_MEAN,
    )
    (aligned,) = list(client.list_time_series(request={**base, "aggregation": aggregation}))
    inside = end - timedelta(seconds=60)
    raw_values = [p.value.double_value for p in raw.points if p.interval.end_time > inside]
    (point,) = aligned.points
    assert abs((point.interval.end_time - end).total_seconds()) < 1e-3
    assert point.value.double_value == pytest.approx(sum(raw_values) / len(raw_values))

    # Stopping the VM ends its process: no new samples; a sandbox reset forgets them all.
    await ComputeService(clean_sandbox).wait_operation(
        await ComputeService(clean_sandbox).stop_instance(ZONE, "burner"), timeout=30
    )
    recorded = daemon.admin(sandbox_info, "monitoring", {})["points"]
    await asyncio.sleep(SAMPLE_SECONDS * 3)
    assert daemon.admin(sandbox_info, "monitoring", {})["points"] == recorded
    daemon.admin(sandbox_info, "reset")
    assert daemon.admin(sandbox_info, "monitoring", {})["points"] == 0
