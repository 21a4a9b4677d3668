"""GPU quotas and stock-outs as Google answers them, said before the click and after a failure.

The sandbox serves Compute Engine's projects.get / regions.get quotas and fails operations with
QUOTA_EXCEEDED or ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS when a test sets a quota to 0 or a
zone out of stock (POST /_sandbox/seed); everything is driven through the real clients.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input, Select

from tests.test_vms_pane import SIZE, make_app, wait_for
from tui.panes.vm_forms import CreateInstanceScreen
from tui.panes.vms import VmsPane
from tui.sandbox import daemon
from tui.sandbox.daemon import SandboxInfo
from tui.services import errors
from tui.services.clients import Backend, compute_client
from tui.services.compute import ComputeService
from tui.services.models import Image, InstanceSpec

ZONE = "us-central1-a"
CONSOLE = "https://console.cloud.google.com/iam-admin/quotas"


def t4_spec(name: str) -> InstanceSpec:
    return InstanceSpec(
        name=name,
        zone=ZONE,
        machine_type="n1-standard-4",
        image=Image("debian-cloud", "debian-12"),
        disk_size_gb=20,
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )


def test_project_and_region_quotas_are_served(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"quotas": {"GPUS_ALL_REGIONS": 0}})
    project = compute_client(clean_sandbox, "ProjectsClient").get(project=clean_sandbox.project)
    quotas = {q.metric: q.limit for q in project.quotas}
    assert quotas["GPUS_ALL_REGIONS"] == 0.0
    daemon.admin(sandbox_info, "seed", {"quotas": {"us-central1/NVIDIA_T4_GPUS": 0}})
    region = compute_client(clean_sandbox, "RegionsClient").get(
        project=clean_sandbox.project, region="us-central1"
    )
    assert {q.metric: q.limit for q in region.quotas}["NVIDIA_T4_GPUS"] == 0.0
    other = compute_client(clean_sandbox, "RegionsClient").get(
        project=clean_sandbox.project, region="us-east1"
    )
    assert {q.metric: q.limit for q in other.quotas}["NVIDIA_T4_GPUS"] > 0


async def test_global_gpu_quota_zero_is_said_before_creating(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """A new project's GPUS_ALL_REGIONS = 0: the hint says request quota, not another region."""
    svc = ComputeService(clean_sandbox)
    assert await svc.gpu_quota_problem(ZONE, "n1-standard-4", "nvidia-tesla-t4", 1) == ""
    daemon.admin(sandbox_info, "seed", {"quotas": {"GPUS_ALL_REGIONS": 0}})
    problem = await svc.gpu_quota_problem(ZONE, "n1-standard-4", "nvidia-tesla-t4", 1)
    assert "GPUS_ALL_REGIONS = 0" in problem and CONSOLE in problem
    assert "another region will not help" in problem
    assert await svc.gpu_quota_problem(ZONE, "g2-standard-8") != ""  # bundled L4 counts too
    assert await svc.gpu_quota_problem(ZONE, "e2-medium") == ""
    # Sent anyway, Google fails the operation; the hint still points at the quota page.
    with pytest.raises(errors.OperationFailed) as failed:
        await svc.wait_operation(await svc.create_instance(t4_spec("no-quota")), timeout=30)
    assert failed.value.code == "QUOTA_EXCEEDED"
    assert "GPUS_ALL_REGIONS" in failed.value.message
    assert CONSOLE in failed.value.hint and "will not help" in failed.value.hint


async def test_regional_gpu_quota_zero_names_the_region(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"quotas": {"us-central1/NVIDIA_T4_GPUS": 0}})
    svc = ComputeService(clean_sandbox)
    problem = await svc.gpu_quota_problem(ZONE, "n1-standard-4", "nvidia-tesla-t4", 1)
    assert "us-central1 allows 0 nvidia-tesla-t4 (NVIDIA_T4_GPUS)" in problem
    assert CONSOLE in problem
    assert await svc.gpu_quota_problem("us-east1-c", "n1-standard-4", "nvidia-tesla-t4", 1) == ""


async def test_stockout_names_the_other_zones_with_the_same_gpu(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"stockouts": [f"{ZONE}/nvidia-tesla-t4"]})
    svc = ComputeService(clean_sandbox)
    with pytest.raises(errors.OperationFailed) as failed:
        await svc.wait_operation(await svc.create_instance(t4_spec("stocked-out")), timeout=30)
    error = failed.value
    assert error.code == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
    assert "does not have enough resources" in error.message
    zones = error.hint.split("Zones that offer nvidia-tesla-t4: ", 1)[1]
    assert zones.startswith("us-central1-b, us-central1-c, us-central1-f, ")  # same region first
    assert ZONE not in zones and "asia-east1-b" in error.hint
    assert "quota" in error.hint and "not a quota" in error.hint
    # A CPU VM in the same zone is not affected.
    await svc.wait_operation(
        await svc.create_instance(
            InstanceSpec("cpu-ok", ZONE, "e2-medium", Image("debian-cloud", "debian-12"), 20)
        ),
        timeout=30,
    )


async def test_create_form_says_quota_zero_before_the_click(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"quotas": {"GPUS_ALL_REGIONS": 0}})
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.query_one(VmsPane).loaded)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateInstanceScreen))
        form = app.screen
        assert isinstance(form, CreateInstanceScreen)
        form.query_one("#name", Input).value = "gpu-box"
        await wait_for(pilot, lambda: form.query_one("#machine", Select).value == "n1-standard-4")
        await pilot.pause()  # the machine's Changed message resets the GPU list; let it run
        note = lambda: str(form.query_one("#quota-note").render())  # noqa: E731
        assert note() == ""
        form.query_one("#gpu", Select).value = "nvidia-tesla-t4"
        await wait_for(pilot, lambda: "GPUS_ALL_REGIONS = 0" in note())
        assert CONSOLE in note()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Not created" in str(form.query_one("#form-error").render()))
        assert app.screen is form
    assert not await ComputeService(clean_sandbox).list_instances()


async def test_starting_a_gpu_vm_with_quota_zero_is_refused_before_sending(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    from tests.test_vms_pane import notifications, select_row, status_of

    svc = ComputeService(clean_sandbox)
    await svc.wait_operation(await svc.create_instance(t4_spec("gpu-idle")), timeout=30)
    await svc.wait_operation(await svc.stop_instance(ZONE, "gpu-idle"), timeout=30)
    daemon.admin(sandbox_info, "seed", {"quotas": {"GPUS_ALL_REGIONS": 0}})
    daemon.admin(sandbox_info, "requests", {})  # count from here
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.query_one(VmsPane).loaded)
        await select_row(pilot, app, "gpu-idle")
        await pilot.press("u")
        await wait_for(pilot, lambda: "Not starting gpu-idle" in notifications(app))
        assert "GPUS_ALL_REGIONS = 0" in notifications(app) and CONSOLE in notifications(app)
        assert status_of(app, "gpu-idle") == "TERMINATED"
    sent = daemon.admin(sandbox_info, "requests")
    assert not [path for path in sent if path.endswith("/gpu-idle/start")]
