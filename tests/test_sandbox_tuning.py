"""The sandbox's Vertex AI hyperparameterTuningJobs, driven by Google's own aiplatform_v1 client
(REST): trials run as local processes of a stand-in trainer that reports its metric with
cloudml-hypertune."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1
from google.cloud import logging as cloud_logging
from jobs_helpers import wait_until
from tuning_helpers import events, max_concurrent, trial_job_spec, upload_tuning_standin

from tui.sandbox.vertex_tuning import (
    final_measurement,
    make_proposer,
    read_measurements,
    study_as_spec,
)
from tui.services.clients import Backend

REGION = "us-central1"
FINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


def job_client(backend: Backend) -> aiplatform_v1.JobServiceClient:
    return aiplatform_v1.JobServiceClient(
        credentials=backend.credentials,
        transport="rest",
        client_options={"api_endpoint": backend.endpoint},
    )


def parent(backend: Backend) -> str:
    return f"projects/{backend.project}/locations/{REGION}"


def tuning_body(
    package: str,
    args: list[str],
    parameters: list[dict[str, Any]],
    *,
    algorithm: str = "GRID_SEARCH",
    goal: str = "MINIMIZE",
    max_trials: int = 4,
    parallel: int = 2,
    max_failed: int = 0,
    **extra: Any,
) -> aiplatform_v1.HyperparameterTuningJob:
    body = {
        "displayName": extra.pop("displayName", "tiny study"),
        "studySpec": {
            "metrics": [{"metricId": "score", "goal": goal}],
            "parameters": parameters,
            "algorithm": algorithm,
            **extra.pop("study", {}),
        },
        "maxTrialCount": max_trials,
        "parallelTrialCount": parallel,
        "maxFailedTrialCount": max_failed,
        "trialJobSpec": trial_job_spec(package, args),
        **extra,
    }
    return aiplatform_v1.HyperparameterTuningJob.from_json(json.dumps(body))


GRID = [
    {"parameterId": "a", "integerValueSpec": {"minValue": 1, "maxValue": 2}},
    {"parameterId": "b", "discreteValueSpec": {"values": [10, 20]}},
]


@pytest.fixture
def jobs(clean_sandbox: Backend) -> aiplatform_v1.JobServiceClient:
    return job_client(clean_sandbox)


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_tuning_standin(clean_sandbox)


def wait_final(
    client: aiplatform_v1.JobServiceClient, name: str, timeout: float = 60
) -> aiplatform_v1.HyperparameterTuningJob:
    wait_until(
        lambda: client.get_hyperparameter_tuning_job(name=name).state.name in FINAL,
        timeout,
        0.2,
        f"{name} to end",
    )
    return client.get_hyperparameter_tuning_job(name=name)


def params_of(trial: aiplatform_v1.Trial) -> dict[str, Any]:
    return {p.parameter_id: p.value for p in trial.parameters}


def metric_of(trial: aiplatform_v1.Trial) -> float:
    return float(trial.final_measurement.metrics[0].value)


def test_grid_study_runs_to_completion_with_parallelism_respected(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str, tmp_path: Path
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--record", str(tmp_path), "--sleep", "0.4"], GRID, max_trials=6
        ),
    )
    assert created.state.name == "JOB_STATE_QUEUED"
    assert created.name.startswith(f"{parent(clean_sandbox)}/hyperparameterTuningJobs/")
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED", job.error
    # The grid (2 × 2 points) is covered exactly once, then the study ends (maxTrialCount 6).
    trials = list(job.trials)
    assert [t.id for t in trials] == ["1", "2", "3", "4"]
    assert sorted((p["a"], p["b"]) for p in map(params_of, trials)) == [
        (1, 10),
        (1, 20),
        (2, 10),
        (2, 20),
    ]
    assert all(t.state.name == "SUCCEEDED" for t in trials)
    for trial in trials:
        p = params_of(trial)
        assert metric_of(trial) == p["a"] + p["b"]  # the stand-in's metric: the sum
        assert trial.final_measurement.step_count == 2
        assert [m.step_count for m in trial.measurements] == [1, 2]
        assert trial.start_time <= trial.end_time
    best = min(metric_of(t) for t in trials)
    assert best == 11
    # Parallelism: at most 2 trials ran at once, and they did overlap.
    assert max_concurrent(tmp_path) == 2
    assert len(events(tmp_path)) == 8
    assert job.create_time <= job.start_time <= job.end_time


def test_trial_environment_output_dirs_and_logs(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package,
            ["--steps", "1"],
            [
                {
                    "parameterId": "lr",
                    "doubleValueSpec": {"minValue": 0.001, "maxValue": 0.1},
                    "scaleType": "UNIT_LOG_SCALE",
                }
            ],
            algorithm="RANDOM_SEARCH",
            max_trials=2,
            parallel=1,
        ),
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED", job.error
    job_id = created.name.rsplit("/", 1)[1]
    values = [params_of(t)["lr"] for t in job.trials]
    assert all(0.001 <= v <= 0.1 for v in values) and values[0] != values[1]
    logs = cloud_logging.Client(
        project=clean_sandbox.project,
        credentials=clean_sandbox.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": clean_sandbox.endpoint},
    )
    entries = list(
        logs.list_entries(
            filter_=f'resource.type="ml_job" AND resource.labels.job_id="{job_id}" '
            'AND labels.trial_id="2"',
            page_size=1000,
        )
    )
    texts = [e.payload for e in entries]
    env = json.loads(next(t for t in texts if t.startswith("ENV "))[4:])
    assert env["CLOUD_ML_TRIAL_ID"] == "2"
    assert env["CLOUD_ML_JOB_ID"] == job_id
    assert env["AIP_MODEL_DIR"] == "gs://stage/tuning/2/model/"
    assert env["CLOUD_ML_HP_METRIC_FILE"].endswith("trial-2/hypertune/output.metrics")
    assert any(t.startswith("standin trial=2 ") for t in texts)
    assert all(e.labels == {"trial_id": "2"} for e in entries)


def test_failing_trials_counted_and_job_failed_at_max_failed(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    # b=10 fails: two failures reach maxFailedTrialCount 2 → FAILED, the grid is not finished.
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--fail-when", "b=10"], GRID, max_trials=4, parallel=1, max_failed=2
        ),
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_FAILED"
    states = [(t.id, t.state.name) for t in job.trials]
    assert states == [("1", "INFEASIBLE"), ("2", "SUCCEEDED"), ("3", "INFEASIBLE")]
    assert "exit status 3" in job.trials[0].infeasible_reason
    assert "failing on purpose" in job.trials[0].infeasible_reason
    assert (
        "2 trials failed" in job.error.message and "maxFailedTrialCount is 2" in job.error.message
    )


def test_failures_below_the_limit_still_succeed(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--fail-when", "a=1"], GRID, max_trials=4, parallel=2, max_failed=3
        ),
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED", job.error
    failed = [t for t in job.trials if t.state.name == "INFEASIBLE"]
    assert len(failed) == 2 and all(params_of(t)["a"] == 1 for t in failed)
    assert min(metric_of(t) for t in job.trials if t.state.name == "SUCCEEDED") == 12


def test_no_metric_is_infeasible_and_all_failed_fails_the_job(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--no-metric", "--steps", "1"], GRID[:1], max_trials=2, parallel=2
        ),
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_FAILED"
    assert all(t.state.name == "INFEASIBLE" for t in job.trials)
    assert "reported no value for the metric 'score'" in job.trials[0].infeasible_reason
    assert job.error.message.startswith("All 2 trials failed")


def test_cancel_stops_running_trials(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str, tmp_path: Path
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--forever", "--record", str(tmp_path)], GRID, max_trials=4, parallel=2
        ),
    )
    wait_until(lambda: len([e for e in events(tmp_path) if e[1] == "start"]) == 2, 30, 0.1)
    jobs.cancel_hyperparameter_tuning_job(name=created.name)
    job = wait_final(jobs, created.name, timeout=30)
    assert job.state.name == "JOB_STATE_CANCELLED"
    assert job.error.code == 1
    assert [t.state.name for t in job.trials] == ["INFEASIBLE", "INFEASIBLE"]
    assert job.trials[0].infeasible_reason == "The tuning job was cancelled."
    with pytest.raises(gexc.BadRequest, match="already JOB_STATE_CANCELLED"):
        jobs.cancel_hyperparameter_tuning_job(name=created.name)


def test_get_list_delete_and_validation(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--steps", "1"], GRID[:1], max_trials=1, parallel=1
        ),
    )
    listed = list(jobs.list_hyperparameter_tuning_jobs(parent=parent(clean_sandbox)))
    assert [j.name for j in listed] == [created.name]
    assert listed[0].study_spec.parameters[0].integer_value_spec.max_value == 2
    assert listed[0].study_spec.algorithm.name == "GRID_SEARCH"
    with pytest.raises(gexc.BadRequest, match="cancel it before deleting"):
        jobs.delete_hyperparameter_tuning_job(name=created.name).result()
    wait_final(jobs, created.name)
    jobs.delete_hyperparameter_tuning_job(name=created.name).result()
    with pytest.raises(gexc.NotFound):
        jobs.get_hyperparameter_tuning_job(name=created.name)

    bad = [
        (
            dict(algorithm="GRID_SEARCH"),
            [{"parameterId": "x", "doubleValueSpec": {"minValue": 0, "maxValue": 1}}],
            "DOUBLE range",
        ),
        (
            {},
            [{"parameterId": "x", "integerValueSpec": {"minValue": 5, "maxValue": 1}}],
            "greater than maxValue",
        ),
        (
            {},
            [
                {
                    "parameterId": "x",
                    "doubleValueSpec": {"minValue": 0, "maxValue": 1},
                    "scaleType": "UNIT_LOG_SCALE",
                }
            ],
            "must be > 0",
        ),
        (dict(parallel=5, max_trials=2), GRID, "parallelTrialCount must not be greater"),
    ]
    for options, params, message in bad:
        with pytest.raises(gexc.BadRequest, match=message):
            jobs.create_hyperparameter_tuning_job(
                parent=parent(clean_sandbox),
                hyperparameter_tuning_job=tuning_body(package, [], params, **options),
            )
    assert len(list(jobs.list_hyperparameter_tuning_jobs(parent=parent(clean_sandbox)))) == 0


def test_bayesian_proposer_and_measurement_selection(tmp_path: Path) -> None:
    doc = {
        "displayName": "x",
        "studySpec": {
            "metrics": [{"metricId": "m", "goal": "MINIMIZE"}],
            "parameters": [
                {"parameterId": "x", "doubleValueSpec": {"minValue": 0.0, "maxValue": 4.0}},
                {
                    "parameterId": "n",
                    "integerValueSpec": {"minValue": "1", "maxValue": "100"},
                    "scaleType": "UNIT_REVERSE_LOG_SCALE",
                },
                {"parameterId": "c", "categoricalValueSpec": {"values": ["a", "b"]}},
            ],
            "algorithm": "ALGORITHM_UNSPECIFIED",
        },
        "maxTrialCount": 30,
        "parallelTrialCount": 1,
    }
    spec = study_as_spec(doc)
    proposer = make_proposer(spec, seed=7)
    seen = []
    for i in range(30):
        params = proposer.ask()
        assert params is not None
        assert 0 <= params["x"] <= 4 and 1 <= params["n"] <= 100 and params["c"] in ("a", "b")
        proposer.bind(str(i))  # type: ignore[attr-defined]
        proposer.tell(str(i), (params["x"] - 3) ** 2)
        seen.append(params["x"])
    # TPE concentrates near the optimum once its random start-up trials are over.
    late = sorted(abs(x - 3) for x in seen[-10:])
    assert late[len(late) // 2] < 0.75

    lines = [
        {"timestamp": 100.0 + s, "trial": "1", "m": str(v), "global_step": str(s)}
        for s, v in ((1, 0.5), (2, 0.2), (3, 0.3))
    ]
    path = tmp_path / "output.metrics"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    measurements = read_measurements(path, "m", 100.0)
    assert [m["stepCount"] for m in measurements] == ["1", "2", "3"]
    assert final_measurement(measurements, "MINIMIZE", None)["metrics"][0]["value"] == 0.3
    best = final_measurement(measurements, "MINIMIZE", "BEST_MEASUREMENT")
    assert best["metrics"][0]["value"] == 0.2
    assert read_measurements(tmp_path / "missing", "m", 0) == []


def test_running_trial_shows_intermediate_measurements(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_hyperparameter_tuning_job(
        parent=parent(clean_sandbox),
        hyperparameter_tuning_job=tuning_body(
            package, ["--steps", "2", "--sleep", "4"], GRID[:1], max_trials=1, parallel=1
        ),
    )

    def active_with_one() -> bool:
        trials = jobs.get_hyperparameter_tuning_job(name=created.name).trials
        return (
            bool(trials) and trials[0].state.name == "ACTIVE" and len(trials[0].measurements) == 1
        )

    wait_until(active_with_one, 10, 0.2, "an intermediate measurement")
    running = jobs.get_hyperparameter_tuning_job(name=created.name).trials[0]
    assert not running.final_measurement.metrics  # no final value while it runs
    assert running.measurements[0].metrics[0].value == 2.0  # a=1, one step still to go
    jobs.cancel_hyperparameter_tuning_job(name=created.name)
    assert wait_final(jobs, created.name).state.name == "JOB_STATE_CANCELLED"
