"""JobsService against the sandbox: submit, watch, cancel, re-run, failures, validation, and the
bundled trainer end to end (built, uploaded, trained, model in the bucket)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from jobs_helpers import TRAINER_IMAGE, storage_client, upload_standin

from tui.services.clients import Backend
from tui.services.errors import InvalidArgument, NotFound, Unavailable
from tui.services.job_models import (
    Job,
    JobSpec,
    TrainerJobRequest,
    WorkerPool,
    accelerator_problem,
    accelerators_for,
)
from tui.services.jobs import (
    JobsService,
    edit_spec,
    job_from_resource,
    spec_to_resource,
    trainer_job_spec,
    validate_job_spec,
)
from tui.services.logs import LogsService, parse_epoch_line


async def wait_job(service: JobsService, name: str, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await service.get_job(name)
        if not job.is_active:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} still {job.state} after {timeout} s")


def standin_spec(package: str, args: tuple[str, ...], name: str = "standin") -> JobSpec:
    return JobSpec(
        display_name=name,
        worker_pools=(
            WorkerPool(package_uris=(package,), args=args, executor_image_uri=TRAINER_IMAGE),
        ),
        base_output_directory="gs://stage/runs/one",
        labels={"team": "depth"},
    )


@pytest.fixture
def service(clean_sandbox: Backend) -> JobsService:
    return JobsService(clean_sandbox)


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_standin(clean_sandbox)


async def test_submit_watch_and_details(service: JobsService, package: str) -> None:
    spec = standin_spec(package, ("--epochs", "2", "--model"))
    job = await service.submit(spec)
    assert job.status == "QUEUED" and job.is_active and job.created is not None
    assert job.spec == spec  # what was created reads back as the same spec
    done = await wait_job(service, job.name)
    assert done.status == "SUCCEEDED", done.error
    assert done.started and done.ended and done.created <= done.started <= done.ended
    assert done.running_time() is not None and done.running_time().total_seconds() > 0
    assert done.hardware == "1× n1-standard-4"
    assert done.labels == {"team": "depth"}
    listed = await service.list_jobs("us-central1")
    assert [j.name for j in listed] == [job.name]
    resource = await service.job_resource(job.name)
    assert resource["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"] == "gs://stage/runs/one"
    assert resource["state"] == "JOB_STATE_SUCCEEDED"
    assert job_from_resource(resource) == done
    blobs = [b.name for b in storage_client(service.backend).list_blobs("stage", prefix="runs/")]
    assert blobs == ["runs/one/model/saved_model.txt"]


async def test_cancel(service: JobsService, package: str) -> None:
    job = await service.submit(standin_spec(package, ("--forever",)))
    await service.cancel(job.name)
    done = await wait_job(service, job.name)
    assert done.status == "CANCELLED"
    with pytest.raises(InvalidArgument, match=r"Could not cancel training job .*already"):
        await service.cancel(job.name)


async def test_failure_carries_the_last_log_lines(service: JobsService, package: str) -> None:
    job = await service.submit(standin_spec(package, ("--epochs", "1", "--exit", "2")))
    done = await wait_job(service, job.name)
    assert done.status == "FAILED"
    assert done.error is not None and "non-zero status of 2" in done.error
    assert "RuntimeError: the stand-in failed on purpose" in done.error
    assert done.error_code == 3


async def test_rerun_with_edits(service: JobsService, package: str) -> None:
    first = await wait_job(
        service, (await service.submit(standin_spec(package, ("--epochs", "1")))).name
    )
    again = await service.rerun(first, {"args": ["--epochs", "3"], "display_name": "standin-2"})
    assert again.name != first.name
    assert again.display_name == "standin-2"
    assert again.spec.worker_pools[0].args == ("--epochs", "3")
    assert again.spec.worker_pools[0].package_uris == first.spec.worker_pools[0].package_uris
    done = await wait_job(service, again.name)
    assert done.status == "SUCCEEDED"
    lines = await LogsService(service.backend).tail(done.id, 50)
    epochs = [m for m in (parse_epoch_line(e.text) for e in lines) if m]
    assert [m["epoch"] for m in epochs] == [1, 2, 3]


async def test_errors_have_an_action_and_reads_retry(
    service: JobsService, package: str, faults: Any
) -> None:
    with pytest.raises(NotFound, match="Could not read training job 42"):
        await service.get_job("projects/cloudpane-sandbox/locations/us-central1/customJobs/42")
    with pytest.raises(InvalidArgument, match="not a job name"):
        await service.get_job("customJobs/42")
    faults(fail_next=2, codes=[503], path_prefix="/v1/projects")
    assert await service.list_jobs() == []  # two 503s retried away
    job = await service.submit(standin_spec(package, ("--epochs", "0")))
    faults(fail_next=1, codes=[503], path_prefix="/v1/projects")
    with pytest.raises(Unavailable, match="Could not cancel training job"):
        await service.cancel(job.name)  # a write is not retried blindly
    await wait_job(service, job.name)


async def test_invalid_specs_are_refused_before_any_call(service: JobsService) -> None:
    bad = JobSpec(
        display_name="",
        worker_pools=(
            WorkerPool(
                machine_type="e2-standard-4",
                accelerator_type="NVIDIA_TESLA_T4",
                accelerator_count=1,
                package_uris=("/tmp/x.tar.gz",),
                python_module="trainer/task.py",
                executor_image_uri=TRAINER_IMAGE,
            ),
        ),
        base_output_directory="s3://nope",
    )
    fields = {p.field for p in validate_job_spec(bad)}
    assert fields == {
        "displayName",
        "workerPoolSpecs[0].machineSpec.acceleratorType",
        "workerPoolSpecs[0].pythonPackageSpec.packageUris[0]",
        "workerPoolSpecs[0].pythonPackageSpec.pythonModule",
        "baseOutputDirectory.outputUriPrefix",
    }
    with pytest.raises(InvalidArgument, match="displayName: a display name is required"):
        await service.submit(bad)
    assert await service.list_jobs() == []


def test_hardware_rules() -> None:
    assert accelerator_problem("n1-standard-8", "NVIDIA_TESLA_T4", 2) is None
    assert accelerator_problem("n1-standard-8", None, 0) is None
    assert accelerator_problem("a2-highgpu-1g", "NVIDIA_TESLA_A100", 1) is None
    assert "comes with 1× NVIDIA_TESLA_A100" in (
        accelerator_problem("a2-highgpu-1g", None, 0) or ""
    )
    assert "not 3" in (accelerator_problem("n1-standard-8", "NVIDIA_TESLA_T4", 3) or "")
    assert "does not take NVIDIA_L4" in (accelerator_problem("n1-standard-8", "NVIDIA_L4", 1) or "")
    assert "not offered" in (accelerator_problem("n9-mega-3", None, 0) or "")
    assert accelerators_for("n1-standard-96")["NVIDIA_TESLA_V100"] == (8,)
    assert accelerators_for("g2-standard-24") == {"NVIDIA_L4": (2,)}


def test_trainer_spec_and_edits() -> None:
    req = TrainerJobRequest(
        display_name="depth",
        staging_bucket="gs://stage",
        machine_type="n1-standard-8",
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=1,
        replica_count=3,
        spot=True,
        trainer_args=("--epochs", "5"),
        executor_image_uri=TRAINER_IMAGE,
    )
    spec = trainer_job_spec(req, "gs://stage/p/pkg.tar.gz", "gs://stage/out")
    primary, workers = spec.worker_pools
    assert (primary.replica_count, workers.replica_count) == (1, 2)
    assert primary.executor_image_uri == TRAINER_IMAGE
    assert primary.python_module == "trainer.task" and primary.args == ("--epochs", "5")
    assert spec.spot and spec.replica_count == 3 and not validate_job_spec(spec)
    body = spec_to_resource(spec)
    assert body["jobSpec"]["scheduling"] == {"strategy": "SPOT"}
    assert body["jobSpec"]["workerPoolSpecs"][1]["replicaCount"] == "2"
    cpu = edit_spec(spec, {"replica_count": 1, "accelerator_type": None, "accelerator_count": 0})
    assert len(cpu.worker_pools) == 1 and cpu.worker_pools[0].accelerator_type is None
    # No default past its end of availability: TF 2.17, the newest prebuilt, ended 2026-07-11.
    with pytest.raises(InvalidArgument, match="No prebuilt TensorFlow training container"):
        trainer_job_spec(TrainerJobRequest("cpu", "stage"), "gs://stage/p.tar.gz", "gs://stage/o")
    with pytest.raises(InvalidArgument, match="Cannot edit colour"):
        edit_spec(spec, {"colour": "red"})


async def test_submit_trainer_validates_the_form(service: JobsService) -> None:
    with pytest.raises(InvalidArgument) as info:
        await service.submit_trainer(
            TrainerJobRequest(display_name="x", staging_bucket="Bad_Bucket!", replica_count=0)
        )
    assert "staging_bucket" in info.value.message and "replica_count" in info.value.message


async def test_bundled_trainer_end_to_end(service: JobsService) -> None:
    """The real trainer: sdist built, uploaded, run by the sandbox, model in the bucket."""
    gcs = storage_client(service.backend)
    gcs.create_bucket("depth-stage")
    steps: list[str] = []
    job = await service.submit_trainer(
        TrainerJobRequest(
            display_name="depth tiny",
            staging_bucket="gs://depth-stage",
            executor_image_uri=TRAINER_IMAGE,
            output_prefix="runs/tiny",
            trainer_args=(
                "--epochs=2",
                "--image-size=32",
                "--train-examples=16",
                "--val-examples=8",
                "--batch-size=8",
                "--base-filters=4",
                "--levels=2",
            ),
        ),
        progress=steps.append,
    )
    assert steps[0] == "Building the trainer package…" and steps[-1] == "Creating the training job…"
    package = job.spec.worker_pools[0].package_uris[0]
    assert package.startswith("gs://depth-stage/runs/tiny/package/cloudpane-trainer-")
    done = await wait_job(service, job.name, timeout=240)
    logs = LogsService(service.backend)
    lines = [e.text for e in await logs.tail(done.id, 1000)]
    assert done.status == "SUCCEEDED", f"{done.error}\n" + "\n".join(lines[-30:])
    epochs = [m for m in map(parse_epoch_line, lines) if m]
    assert [(m["epoch"], m["epochs"]) for m in epochs] == [(1, 2), (2, 2)]
    assert {"loss", "val_loss", "images_per_sec"} <= set(epochs[-1])
    names = [b.name for b in gcs.list_blobs("depth-stage", prefix="runs/tiny/")]
    assert any(n.startswith("runs/tiny/model/") for n in names), names
    assert any(n.startswith("runs/tiny/logs/") for n in names), names  # TensorBoard
