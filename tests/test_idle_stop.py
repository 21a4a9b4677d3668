"""Idle auto-stop that works with the laptop closed: the watcher runs on the VM itself.

In the sandbox a VM is a process group on this machine, so the watcher measures its own
session's CPU and powers the guest off through the VM's `shutdown` (never the host's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from tui.sandbox import daemon
from tui.sandbox.context import instance_workdir
from tui.services import idle_stop
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.idle_stop import IdleStop
from tui.services.models import Image, InstanceSpec

ZONE = "us-central1-a"
QUICK = IdleStop(minutes=0.05, cpu_pct=20, gpu_pct=5, interval_seconds=1)  # 3 s idle → off


def wait(check: Callable[[], Any], timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def status(service: ComputeService, name: str) -> str:
    return asyncio.run(service.get_instance(ZONE, name)).status


def create(
    service: ComputeService, name: str, script: str = "", idle: IdleStop | None = None
) -> None:
    spec = InstanceSpec(
        name=name,
        zone=ZONE,
        machine_type="e2-small",
        image=Image("debian-cloud", "debian-12"),
        startup_script=script,
        idle_stop=idle,
    )
    op = asyncio.run(service.create_instance(spec))
    asyncio.run(service.wait_operation(op, timeout=30))


def watcher_log(info: daemon.SandboxInfo, backend: Backend, name: str) -> str:
    path = instance_workdir(info.data_dir, backend.project, ZONE, name) / "cloudpane-idle.log"
    return path.read_text() if path.exists() else ""


def test_shutdown_inside_a_sandbox_vm_powers_the_guest_off(clean_sandbox: Backend) -> None:
    """A training script that ends with `shutdown -h now` stops its VM, as on Compute Engine."""
    service = ComputeService(clean_sandbox)
    create(service, "train-then-off", script="echo training done; shutdown -h now")
    wait(lambda: status(service, "train-then-off") == "TERMINATED", what="the guest power-off")
    serial, _ = asyncio.run(service.serial_output(ZONE, "train-then-off"))
    assert "startup-script: training done" in serial and "Powering off" in serial


def test_an_idle_vm_stops_itself_and_a_busy_one_does_not(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    service = ComputeService(clean_sandbox)
    busy_script = "#!/bin/bash\nwhile :; do :; done"  # a training loop
    create(service, "busy-vm", script=busy_script, idle=QUICK)
    create(service, "idle-vm", script="echo nothing to do", idle=QUICK)
    instance = asyncio.run(service.get_instance(ZONE, "idle-vm"))
    assert instance.idle_stop_minutes == pytest.approx(0.05)
    wait(lambda: status(service, "idle-vm") == "TERMINATED", what="the idle VM to stop itself")
    assert "powering off" in watcher_log(sandbox_info, clean_sandbox, "idle-vm")
    # The busy one was checked more often than the idle window and is still running.
    wait(
        lambda: watcher_log(sandbox_info, clean_sandbox, "busy-vm").count(": busy") >= 6,
        what="six busy checks",
    )
    assert status(service, "busy-vm") == "RUNNING"
    assert ": idle" not in watcher_log(sandbox_info, clean_sandbox, "busy-vm")
    asyncio.run(service.wait_operation(asyncio.run(service.delete_instance(ZONE, "busy-vm"))))


def test_the_watcher_block_keeps_the_users_script(clean_sandbox: Backend) -> None:
    script = "#!/bin/bash\necho mine\n"
    with_block = idle_stop.with_watcher(script, QUICK)
    assert with_block.startswith("#!/bin/bash\n" + idle_stop.BEGIN)
    assert with_block.endswith("echo mine\n")
    assert idle_stop.without_watcher(with_block) == script
    assert idle_stop.with_watcher(with_block, None) == script
    assert idle_stop.with_watcher(with_block, QUICK).count(idle_stop.BEGIN) == 1
    with pytest.raises(ValueError, match="shell startup script"):
        idle_stop.with_watcher("#!/usr/bin/env python3\nprint(1)\n", QUICK)


def test_add_and_remove_on_an_existing_vm(clean_sandbox: Backend) -> None:
    service = ComputeService(clean_sandbox)
    create(service, "later", script="echo mine")
    asyncio.run(service.wait_operation(asyncio.run(service.set_idle_stop(ZONE, "later", QUICK))))
    instance = asyncio.run(service.get_instance(ZONE, "later"))
    assert instance.idle_stop_minutes == pytest.approx(0.05)
    resource = asyncio.run(service.instance_resource(ZONE, "later"))
    script = next(i["value"] for i in resource["metadata"]["items"] if i["key"] == "startup-script")
    assert idle_stop.BEGIN in script and script.endswith("echo mine")
    asyncio.run(service.wait_operation(asyncio.run(service.set_idle_stop(ZONE, "later", None))))
    resource = asyncio.run(service.instance_resource(ZONE, "later"))
    script = next(i["value"] for i in resource["metadata"]["items"] if i["key"] == "startup-script")
    assert script == "echo mine"
    assert "cloudpane-idle-stop" not in resource.get("labels", {})


def test_fingerprints_are_padded_base64(clean_sandbox: Backend) -> None:
    """Compute Engine sends "42WmSpB8rSM="; gcloud decodes it."""
    import base64

    service = ComputeService(clean_sandbox)
    create(service, "fp")
    resource = asyncio.run(service.instance_resource(ZONE, "fp"))
    for value in (
        resource["fingerprint"],
        resource["labelFingerprint"],
        resource["metadata"]["fingerprint"],
    ):
        assert len(base64.b64decode(value, validate=True)) == 8
