"""TuningService against the sandbox: submit a parsed study, watch it, best trial, export, re-run,
cancel, per-trial logs, failures — and one study of the real bundled trainer at a tiny size."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from jobs_helpers import TRAINER_IMAGE, storage_client
from tuning_helpers import trial_job_spec, upload_tuning_standin

from tui.services.clients import Backend
from tui.services.errors import InvalidArgument
from tui.services.hpconfig import HpConfigInvalid, parse_hp_config
from tui.services.job_models import TrainerJobRequest
from tui.services.jobs import JobsService
from tui.services.tuning import (
    TuningJob,
    TuningService,
    best_params_flags,
    best_params_yaml,
    best_trial,
    best_trial_job_spec,
    bundled_trial_job_spec,
    load_study,
    trial_hardware,
    tuning_job_from_resource,
    with_hypertune_metric,
)


def study_yaml(
    package: str | None,
    args: list[str],
    *,
    algorithm: str = "GRID_SEARCH",
    max_trials: int = 4,
    parallel: int = 2,
    max_failed: int = 0,
    goal: str = "MINIMIZE",
    metric: str = "score",
    parameters: list[dict[str, Any]] | None = None,
) -> str:
    doc: dict[str, Any] = {
        "displayName": "tiny study",
        "studySpec": {
            "metrics": [{"metricId": metric, "goal": goal}],
            "parameters": parameters
            or [
                {"parameterId": "a", "integerValueSpec": {"minValue": 1, "maxValue": 2}},
                {"parameterId": "b", "discreteValueSpec": {"values": [10, 20]}},
            ],
            "algorithm": algorithm,
        },
        "maxTrialCount": max_trials,
        "parallelTrialCount": parallel,
        "maxFailedTrialCount": max_failed,
    }
    if package:
        doc["trialJobSpec"] = trial_job_spec(package, args)
    return yaml.safe_dump(doc, sort_keys=False)


async def wait_done(service: TuningService, name: str, timeout: float = 60) -> TuningJob:
    async def run() -> TuningJob:
        last = None
        async for job in service.follow(name, interval=0.2):
            last = job
        assert last is not None
        return last

    return await asyncio.wait_for(run(), timeout)


@pytest.fixture
def service(clean_sandbox: Backend) -> TuningService:
    return TuningService(clean_sandbox)


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_tuning_standin(clean_sandbox)


async def test_submit_follow_best_trial_and_export(service: TuningService, package: str) -> None:
    spec = parse_hp_config(study_yaml(package, ["--steps", "2"]), "study.yaml")
    job = await service.submit(spec)
    assert job.status == "QUEUED" and job.display_name == "tiny study"
    assert job.parameter_ids == ("a", "b") and job.metric_id == "score"
    done = await wait_done(service, job.name)
    assert done.status == "SUCCEEDED", done.error
    assert done.succeeded == 4 and done.failed == 0 and done.running == 0
    metrics = [t.metric for t in done.trials]
    assert sorted(metrics) == [11, 12, 21, 22]  # a + b over the whole grid
    best = done.best_trial
    assert best is not None and best.metric == min(metrics) == 11
    assert best.parameters == {"a": 1, "b": 10}
    assert all(t.running_time() is not None for t in done.trials)
    assert [m for m, _ in best.measurements] == [1, 2]
    assert best_params_flags(done) == ["--a=1", "--b=10"]
    exported = best_params_yaml(done)
    assert yaml.safe_load(exported) == {"a": 1, "b": 10}
    assert "score = 11" in exported
    # Reads agree with each other.
    assert [j.name for j in await service.list_jobs()] == [job.name]
    assert (await service.best_trial(job.name)) == best
    assert len(await service.trials(job.name)) == 4
    resource = await service.job_resource(job.name)
    assert resource["studySpec"]["algorithm"] == "GRID_SEARCH"

    # Per-trial logs: only that trial's lines.
    lines = [e.text for e in await service.trial_logs(done, best.id)]
    assert any(t.startswith(f"standin trial={best.id} ") for t in lines)
    assert not any(t.startswith("standin trial=") and f"trial={best.id} " not in t for t in lines)
    study_lines = [e.text for e in await service.job_logs(done)]
    assert any(t.startswith("Trial 4 succeeded") for t in study_lines)

    # Re-run the best trial as a plain CustomJob with its parameters as flags.
    rerun = await service.rerun_best(done)
    assert rerun.display_name == "tiny study best trial 1"
    assert rerun.spec.worker_pools[0].args == ("--steps", "2", "--a=1", "--b=10")
    assert rerun.spec.base_output_directory == "gs://stage/tuning/best-trial-1"
    jobs = JobsService(service.backend)
    for _ in range(300):
        finished = await jobs.get_job(rerun.name)
        if not finished.is_active:
            break
        await asyncio.sleep(0.1)
    assert finished.status == "SUCCEEDED", finished.error


async def test_failed_trials_and_failed_job(service: TuningService, package: str) -> None:
    spec = parse_hp_config(
        study_yaml(package, ["--fail-when", "b=10"], parallel=1, max_failed=2), "study.yaml"
    )
    done = await wait_done(service, (await service.submit(spec)).name)
    assert done.status == "FAILED"
    assert done.failed == 2 and done.succeeded == 1
    assert done.error and "maxFailedTrialCount is 2" in done.error
    infeasible = [t for t in done.trials if t.state == "INFEASIBLE"]
    assert all("failing on purpose" in (t.infeasible_reason or "") for t in infeasible)
    assert done.best_trial is not None and done.best_trial.metric == 21


async def test_cancel_whole_study(service: TuningService, package: str) -> None:
    spec = parse_hp_config(study_yaml(package, ["--forever"], parallel=2), "study.yaml")
    job = await service.submit(spec)
    for _ in range(200):
        current = await service.get_job(job.name)
        if current.running == 2 and all(t.state == "ACTIVE" for t in current.trials):
            break
        await asyncio.sleep(0.1)
    await service.cancel(job.name)
    done = await wait_done(service, job.name, timeout=30)
    assert done.status == "CANCELLED"
    assert done.best_trial is None
    with pytest.raises(InvalidArgument, match="no succeeded trial"):
        best_params_flags(done)


async def test_submit_without_trial_spec_needs_trainer_settings(
    service: TuningService, tmp_path: Path
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(
        study_yaml(
            None,
            [],
            metric="val_abs_rel",
            parameters=[{"parameterId": "batch_size", "discreteValueSpec": {"values": [8, 16]}}],
        )
    )
    spec = load_study(path)
    with pytest.raises(InvalidArgument, match="no trialJobSpec"):
        await service.submit(spec)
    with pytest.raises(InvalidArgument, match="staging_bucket"):
        await service.submit(spec, TrainerJobRequest(display_name="x", staging_bucket="Bad!"))
    assert await service.list_jobs() == []
    # The bundled trainer's metrics and flags are checked for such files.
    path.write_text(
        study_yaml(
            None,
            [],
            metric="accuracy",
            parameters=[{"parameterId": "dropout", "discreteValueSpec": {"values": [1, 2]}}],
        )
    )
    with pytest.raises(HpConfigInvalid) as info:
        load_study(path)
    text = "\n".join(str(e) for e in info.value.errors)
    assert "study.yaml:" in text and "accuracy" in text and "dropout" in text


def test_bundled_trial_spec_and_helpers() -> None:
    req = TrainerJobRequest(
        display_name="t",
        staging_bucket="gs://b",
        machine_type="n1-standard-8",
        executor_image_uri=TRAINER_IMAGE,
        trainer_args=("--epochs=2", "--hypertune-metric", "val_loss", "--levels=2"),
    )
    spec = bundled_trial_job_spec(req, "val_abs_rel", "gs://b/p/pkg.tar.gz", "gs://b/out")
    pool = spec["workerPoolSpecs"][0]
    assert pool["pythonPackageSpec"]["args"] == [
        "--epochs=2",
        "--levels=2",
        "--hypertune-metric=val_abs_rel",
    ]
    assert pool["pythonPackageSpec"]["packageUris"] == ["gs://b/p/pkg.tar.gz"]
    assert pool["machineSpec"]["machineType"] == "n1-standard-8"
    assert spec["baseOutputDirectory"]["outputUriPrefix"] == "gs://b/out"
    assert with_hypertune_metric(("--hypertune_metric=x",), "y") == ("--hypertune-metric=y",)

    study = parse_hp_config(study_yaml("gs://b/p.tar.gz", []), "s.yaml")
    hardware = trial_hardware(study, None, "us-central1")
    assert hardware is not None and hardware.machine_type == "n1-standard-4"
    assert hardware.hourly_price() is not None and hardware.hourly_price() > 0

    resource = {
        "name": "projects/p/locations/us-central1/hyperparameterTuningJobs/9",
        "displayName": "max",
        "state": "JOB_STATE_RUNNING",
        "studySpec": {
            "metrics": [{"metricId": "acc", "goal": "MAXIMIZE"}],
            "parameters": [{"parameterId": "x"}],
        },
        "trialJobSpec": trial_job_spec("gs://b/p.tar.gz", ["--x=0"]),
        "trials": [
            {
                "id": "1",
                "state": "SUCCEEDED",
                "parameters": [{"parameterId": "x", "value": 1.0}],
                "finalMeasurement": {
                    "stepCount": "3",
                    "metrics": [{"metricId": "acc", "value": 0.7}],
                },
            },
            {
                "id": "2",
                "state": "SUCCEEDED",
                "parameters": [{"parameterId": "x", "value": 0.5}],
                "finalMeasurement": {
                    "stepCount": "3",
                    "metrics": [{"metricId": "acc", "value": 0.9}],
                },
            },
            {
                "id": "3",
                "state": "ACTIVE",
                "parameters": [{"parameterId": "x", "value": 2.0}],
                "measurements": [
                    {"stepCount": "1", "metrics": [{"metricId": "acc", "value": 0.95}]}
                ],
            },
            {
                "id": "4",
                "state": "INFEASIBLE",
                "parameters": [{"parameterId": "x", "value": 3.0}],
                "infeasibleReason": "boom",
            },
        ],
    }
    job = tuning_job_from_resource(resource)
    best = best_trial(job)
    assert best is not None and best.id == "2"  # MAXIMIZE; the running trial does not count
    assert job.trials[2].latest == 0.95 and job.trials[2].metric is None
    assert job.trials[0].parameters == {"x": 1}
    rerun = best_trial_job_spec(job)
    assert rerun.worker_pools[0].args == ("--x=0.5",)  # the old --x=0 is replaced
    assert rerun.region == "us-central1"


async def test_bundled_trainer_study_end_to_end(service: TuningService, tmp_path: Path) -> None:
    """The real trainer, built and uploaded, two tiny trials reporting val_abs_rel."""
    storage_client(service.backend).create_bucket("depth-stage")
    path = tmp_path / "depth.yaml"
    path.write_text(
        study_yaml(
            None,
            [],
            metric="val_abs_rel",
            max_trials=2,
            parallel=2,
            parameters=[
                {"parameterId": "learning_rate", "discreteValueSpec": {"values": [0.001, 0.01]}}
            ],
        )
    )
    steps: list[str] = []
    job = await service.submit(
        load_study(path),
        TrainerJobRequest(
            display_name="depth tiny",
            staging_bucket="gs://depth-stage",
            executor_image_uri=TRAINER_IMAGE,
            trainer_args=(
                "--epochs=1",
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
    assert steps[0] == "Building the trainer package…" and steps[-1] == "Creating the tuning job…"
    assert "--hypertune-metric=val_abs_rel" in job.trial_job.worker_pools[0].args
    done = await wait_done(service, job.name, timeout=240)
    if done.status != "SUCCEEDED":
        tail = [e.text for e in await service.job_logs(done, 60)]
        raise AssertionError(f"{done.error}\n" + "\n".join(tail))
    values = [t.metric for t in done.trials]
    assert len(values) == 2 and all(v is not None and v > 0 for v in values)
    assert done.best_trial is not None and done.best_trial.metric == min(values)  # type: ignore[type-var]
    names = [b.name for b in storage_client(service.backend).list_blobs("depth-stage")]
    assert any("/1/model/" in n for n in names) and any("/2/model/" in n for n in names), names
