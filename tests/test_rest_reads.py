"""The REST reads `status` and `watch` use agree with the GAPIC services, field by field.

`cloudpane status` reads the instance and job lists as REST JSON through google-auth
(tui/services/rest_reads.py) instead of importing google-cloud-compute and
google-cloud-aiplatform. Both paths read the same sandbox here and must produce equal
Instance, Job and TuningJob dataclasses (every field the UI and `status` show); errors and
retries must be the services' own; and `status` must not import the heavy clients.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from jobs_helpers import TRAINER_IMAGE, upload_standin, wait_until
from tuning_helpers import trial_job_spec, upload_tuning_standin

from tui.sandbox import daemon
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.errors import PermissionDenied, Unavailable
from tui.services.hpconfig import parse_hp_config
from tui.services.job_models import JobSpec, WorkerPool
from tui.services.jobs import JobsService
from tui.services.models import Image, InstanceSpec
from tui.services.rest_reads import RestReader
from tui.services.tuning import TuningService

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-central1"


def by_id(items: list) -> list:  # type: ignore[type-arg]
    return sorted(items, key=lambda item: item.id)


def test_instances_agree_field_by_field(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"instances": 24, "zones": 6})
    gapic = asyncio.run(ComputeService(clean_sandbox).list_instances())
    rest = asyncio.run(RestReader(clean_sandbox).list_instances())
    # The seeded fleet is varied enough for the comparison to mean something.
    assert len(gapic) == 24
    assert {i.status for i in gapic} >= {"RUNNING", "TERMINATED"}
    assert any(i.accelerators for i in gapic) and any(i.labels for i in gapic)
    assert any(d.type for i in gapic for d in i.disks), "disk types were read"
    assert any(i.internal_ip for i in gapic) and any(i.created for i in gapic)
    assert by_id(rest) == by_id(gapic)
    # One instance, read alone by the service (get + disk), is the listing's too.
    one = gapic[0]
    alone = asyncio.run(ComputeService(clean_sandbox).get_instance(one.zone, one.name))
    assert alone == next(i for i in rest if i.id == one.id)


def test_an_instance_with_every_shown_field_agrees(clean_sandbox: Backend) -> None:
    """GPU, spot, auto-stop, startup script, labels: the fields warnings and prices rest on."""
    from tui.services.idle_stop import IdleStop

    svc = ComputeService(clean_sandbox)
    spec = InstanceSpec(
        name="gpu-spot",
        zone="us-central1-a",
        machine_type="n1-standard-4",
        image=Image("debian-cloud", "debian-12"),
        disk_size_gb=20,
        disk_type="pd-ssd",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
        spot=True,
        max_run_seconds=3600,
        startup_script="echo hi",
        labels={"team": "ml"},
        idle_stop=IdleStop(),
    )

    async def create() -> None:
        await svc.wait_operation(await svc.create_instance(spec), timeout=30)

    asyncio.run(create())
    (gapic,) = asyncio.run(svc.list_instances())
    (rest,) = asyncio.run(RestReader(clean_sandbox).list_instances())
    assert gapic.accelerators and gapic.spot and gapic.max_run_seconds == 3600
    assert gapic.has_startup_script and gapic.labels.get("team") == "ml"
    assert gapic.disks[0].type == "pd-ssd" and gapic.disks[0].size_gb == 20
    assert rest == gapic


def study_yaml(package: str) -> str:
    doc = {
        "displayName": "agree study",
        "studySpec": {
            "metrics": [{"metricId": "score", "goal": "MINIMIZE"}],
            "parameters": [
                {"parameterId": "a", "integerValueSpec": {"minValue": 1, "maxValue": 2}},
                {"parameterId": "b", "discreteValueSpec": {"values": [10, 20]}},
            ],
            "algorithm": "GRID_SEARCH",
        },
        "maxTrialCount": 3,
        "parallelTrialCount": 1,
        "maxFailedTrialCount": 1,
        "trialJobSpec": trial_job_spec(package, ["--fail-when", "b=20"]),
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_jobs_and_tuning_jobs_agree_field_by_field(clean_sandbox: Backend) -> None:
    jobs = JobsService(clean_sandbox)
    tuning = TuningService(clean_sandbox)
    reader = RestReader(clean_sandbox)
    package = upload_standin(clean_sandbox)
    pool = WorkerPool(
        machine_type="n1-standard-4",
        package_uris=(package,),
        args=("--exit", "3"),
        executor_image_uri=TRAINER_IMAGE,
    )
    failing = asyncio.run(
        jobs.submit(JobSpec("fails", (pool,), base_output_directory="gs://stage/out"))
    )
    study = asyncio.run(
        tuning.submit(parse_hp_config(study_yaml(upload_tuning_standin(clean_sandbox)), "s.yaml"))
    )

    def finished() -> bool:
        listed = asyncio.run(jobs.list_jobs(REGION)) + asyncio.run(tuning.list_jobs(REGION))
        return len(listed) >= 2 and not any(j.is_active for j in listed)

    wait_until(finished, timeout=90, what="the job and the study to finish")
    gapic_jobs = asyncio.run(jobs.list_jobs(REGION))
    gapic_studies = asyncio.run(tuning.list_jobs(REGION))
    # Failed trials, a failed job with its error, a study with trials and measurements.
    assert any(
        j.name == failing.name and j.state == "JOB_STATE_FAILED" and j.error for j in gapic_jobs
    )
    (done,) = [s for s in gapic_studies if s.name == study.name]
    assert done.trials and any(t.state == "INFEASIBLE" for t in done.trials)
    assert asyncio.run(reader.list_jobs(REGION)) == gapic_jobs
    assert asyncio.run(reader.list_tuning_jobs(REGION)) == gapic_studies


def test_errors_are_the_services_own(clean_sandbox: Backend, faults: Callable[..., dict]) -> None:
    """A refusal is the same CloudpaneError with the same words; throttling is retried."""
    reader = RestReader(clean_sandbox)
    faults(error_rate=1.0, codes=[403], path_prefix="/compute/v1/")
    with pytest.raises(PermissionDenied) as rest_error:
        asyncio.run(reader.list_instances())
    with pytest.raises(PermissionDenied) as gapic_error:
        asyncio.run(ComputeService(clean_sandbox).list_instances())
    assert rest_error.value.message == gapic_error.value.message
    assert rest_error.value.hint == gapic_error.value.hint

    faults(fail_next=2, codes=[429, 503], path_prefix="/v1/projects")
    assert asyncio.run(reader.list_jobs(REGION)) == []  # retried past two refusals
    faults(fail_next=2, codes=[403], error_reason="rateLimitExceeded", path_prefix="/compute/")
    assert asyncio.run(reader.list_instances()) == []


def test_nothing_listening_is_unavailable(clean_sandbox: Backend) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = Backend(
        clean_sandbox.project, clean_sandbox.credentials, f"http://127.0.0.1:{port}", True
    )
    with pytest.raises(Unavailable) as found:
        asyncio.run(RestReader(gone).list_tuning_jobs(REGION))
    assert "cannot reach 127.0.0.1" in found.value.message


@pytest.mark.parametrize(
    ("module", "args"), [("status", "'--sandbox', '--json'"), ("watch", "'--sandbox', '--once'")]
)
def test_status_and_watch_do_not_import_the_heavy_clients(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo, module: str, args: str
) -> None:
    """`cloudpane status` and `watch` read instances and jobs without google-cloud-compute or
    google-cloud-aiplatform (seconds of import each), and still see them."""
    daemon.admin(sandbox_info, "seed", {"instances": 3, "zones": 2})
    code = (
        f"import sys, tui.cli.{module} as cli\n"
        f"try:\n    code = cli.main([{args}])\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('EXIT', code)\n"
        "heavy = ('google.cloud.compute_v1', 'google.cloud.aiplatform')\n"
        "print('HEAVY', sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    env = {**os.environ, "CLOUDPANE_SANDBOX_DIR": str(sandbox_info.data_dir), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    said = done.stdout[-2000:] + done.stderr[-2000:]
    assert "HEAVY []" in done.stdout, said
    # It did read the fleet: the seeded instances are there (status) or warned about (watch).
    assert "EXIT 2" not in done.stdout and "ERROR" not in done.stdout, said
    assert ("-0000" in done.stdout) if module == "status" else ("STOP" in done.stdout), said
