"""Job spec YAML in `gcloud ai custom-jobs create --config` format: round trips and errors that
name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.services.job_models import JobSpec, WorkerPool
from tui.services.jobspec_yaml import (
    JobSpecFileError,
    dump_job_spec,
    load_job_spec,
    parse_job_spec,
    save_job_spec,
)

SPEC = JobSpec(
    display_name="depth run",
    worker_pools=(
        WorkerPool(
            machine_type="n1-standard-8",
            accelerator_type="NVIDIA_TESLA_T4",
            accelerator_count=2,
            executor_image_uri="us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer-gpu:latest",
            package_uris=("gs://stage/pkg/cloudpane-trainer-0.1.0.tar.gz",),
            args=("--epochs", "10", "--learning-rate=0.001"),
            env=(("TF_CPP_MIN_LOG_LEVEL", "2"),),
        ),
        WorkerPool(
            machine_type="n1-standard-8",
            replica_count=2,
            accelerator_type="NVIDIA_TESLA_T4",
            accelerator_count=2,
            executor_image_uri="us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer-gpu:latest",
            package_uris=("gs://stage/pkg/cloudpane-trainer-0.1.0.tar.gz",),
        ),
    ),
    region="europe-west4",
    base_output_directory="gs://stage/runs/depth",
    spot=True,
    timeout_seconds=7200,
    labels={"team": "vision"},
)

# As in Google's documentation for `gcloud ai custom-jobs create --config`.
GCLOUD_SAMPLE = """\
workerPoolSpecs:
  machineSpec:
    machineType: n1-highmem-4
    acceleratorType: NVIDIA_TESLA_P100
    acceleratorCount: 1
  replicaCount: 1
  pythonPackageSpec:
    executorImageUri: us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer-gpu:latest
    packageUris: gs://my-bucket/trainer-0.1.tar.gz
    pythonModule: trainer.task
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(JobSpecFileError) as info:
        parse_job_spec(text, "train.yaml", display_name="x")
    return [str(e) for e in info.value.errors]


def test_round_trip_gcloud_format(tmp_path: Path) -> None:
    path = save_job_spec(SPEC, tmp_path / "depth run.yaml")
    text = path.read_text()
    assert text.startswith(
        "# Vertex AI CustomJobSpec. Submit with:\n#   gcloud ai custom-jobs create"
    )
    assert (
        "--region=europe-west4 --display-name='depth run'" in text
        and "--labels=team=vision" in text
    )
    assert "displayName" not in text.split("\n", 2)[2]  # the file itself is a CustomJobSpec
    loaded = load_job_spec(path, region="europe-west4")
    assert loaded.spec == JobSpec(**{**SPEC.__dict__, "labels": {}})  # labels: a gcloud flag
    assert loaded.notes == ()
    assert load_job_spec(path, display_name="other").spec.display_name == "other"


def test_round_trip_whole_job() -> None:
    text = dump_job_spec(SPEC, whole_job=True)
    assert parse_job_spec(text, region="europe-west4").spec == SPEC


def test_describe_output_loads_ignoring_output_only_fields() -> None:
    text = """\
name: projects/p/locations/us-central1/customJobs/123
displayName: old run
state: JOB_STATE_FAILED
createTime: '2024-05-01T12:00:00Z'
error:
  code: 3
  message: boom
jobSpec:
  workerPoolSpecs:
  - machineSpec: {machineType: n1-standard-4}
    replicaCount: '1'
    pythonPackageSpec:
      executorImageUri: us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest
      packageUris: [gs://stage/p.tar.gz]
      pythonModule: trainer.task
"""
    loaded = parse_job_spec(text)
    assert loaded.spec.display_name == "old run"
    assert loaded.spec.worker_pools[0].machine_type == "n1-standard-4"
    assert loaded.notes == ("output-only fields ignored: name, state, createTime, error",)


def test_gcloud_sample_with_single_mapping_pool_is_reported() -> None:
    # gcloud's docs nest one pool without a list dash; the API wants a list.
    errors = errors_of(GCLOUD_SAMPLE)
    assert errors[0] == "train.yaml:1: workerPoolSpecs: must be a list (got a mapping)"


def test_gcloud_sample_as_list_loads() -> None:
    text = GCLOUD_SAMPLE.replace("  machineSpec:", "- machineSpec:").replace(
        "packageUris: gs://my-bucket/trainer-0.1.tar.gz",
        "packageUris: [gs://my-bucket/trainer-0.1.tar.gz]",
    )
    text = "\n".join(
        line if line.startswith(("workerPoolSpecs", "- ")) else "  " + line[2:] if line else line
        for line in text.splitlines()
    )
    pool = parse_job_spec(text, display_name="sample").spec.worker_pools[0]
    assert (pool.machine_type, pool.accelerator_type, pool.accelerator_count) == (
        "n1-highmem-4",
        "NVIDIA_TESLA_P100",
        1,
    )


VALID = dump_job_spec(SPEC)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_unknown_key_with_a_suggestion() -> None:
    text = VALID.replace("machineType: n1-standard-8", "machineTyp: n1-standard-8", 1)
    errors = errors_of(text)
    line = line_of(text, "machineTyp:")
    assert (
        f"train.yaml:{line}: workerPoolSpecs[0].machineSpec.machineTyp: unknown key; did you mean machineType?"
        in "\n".join(errors)
    )


def test_wrong_types_and_enums() -> None:
    text = VALID.replace("acceleratorCount: 2", "acceleratorCount: two", 1).replace(
        "strategy: SPOT", "strategy: spot"
    )
    errors = errors_of(text)
    assert (
        f"train.yaml:{line_of(text, 'acceleratorCount: two')}: workerPoolSpecs[0].machineSpec.acceleratorCount: must be a whole number"
        in errors[0]
    )
    assert any("scheduling.strategy: must be written in capitals: SPOT" in e for e in errors)


def test_invalid_hardware_combination_points_at_the_field() -> None:
    text = VALID.replace("acceleratorCount: 2", "acceleratorCount: 3", 1)
    errors = errors_of(text)
    assert errors == [
        f"train.yaml:{line_of(text, 'acceleratorCount: 3')}: workerPoolSpecs[0].machineSpec.acceleratorCount: "
        "n1-standard-8 takes 1, 2, 4× NVIDIA_TESLA_T4, not 3."
    ]


def test_primary_pool_must_have_one_replica() -> None:
    text = VALID.replace("replicaCount: 1", "replicaCount: 3", 1)
    (error,) = errors_of(text)
    assert error.startswith(
        f"train.yaml:{line_of(text, 'replicaCount: 3')}: workerPoolSpecs[0].replicaCount: the first pool"
    )


def test_snake_case_keys_are_read_with_a_note() -> None:
    text = VALID.replace("replicaCount: 2", "replica_count: 2").replace(
        "machineType:", "machine_type:"
    )
    loaded = parse_job_spec(text, display_name="depth run", region="europe-west4")
    assert loaded.spec == JobSpec(**{**SPEC.__dict__, "labels": {}})
    (note,) = loaded.notes
    assert note.startswith("snake_case keys read as their camelCase names")
    assert "workerPoolSpecs[1].replicaCount" in note


def test_missing_parts() -> None:
    errors = errors_of("scheduling:\n  timeout: 60s\n")
    assert errors == [
        "train.yaml:1: workerPoolSpecs: is required: at least one worker pool (the primary replica)"
    ]
    errors = errors_of("workerPoolSpecs:\n- replicaCount: 1\n")
    assert errors == [
        "train.yaml:2: workerPoolSpecs[0]: needs a pythonPackageSpec (or a containerSpec)",
        "train.yaml:2: workerPoolSpecs[0].machineSpec.machineType: is required (e.g. n1-standard-4)",
    ]


def test_bad_values_all_reported_at_once() -> None:
    text = VALID.replace("gs://stage/runs/depth", "/local/runs").replace(
        "timeout: 7200s", "timeout: 2h"
    )
    errors = errors_of(text)
    assert len(errors) == 2
    assert (
        f"train.yaml:{line_of(text, 'timeout: 2h')}: scheduling.timeout: must be a duration"
        in errors[0]
    )
    assert (
        f"train.yaml:{line_of(text, '/local/runs')}: baseOutputDirectory.outputUriPrefix: the output folder must be a gs://"
        in errors[1]
    )


def test_syntax_empty_and_unreadable(tmp_path: Path) -> None:
    assert errors_of("workerPoolSpecs: [\n  - a: b\n")[0].startswith("train.yaml:2: invalid YAML")
    assert errors_of("") == [
        "train.yaml:1: the file is empty; expected a CustomJobSpec (workerPoolSpecs: ...)"
    ]
    assert (
        errors_of("- just\n- a list\n")[0]
        == "train.yaml:1: must be a mapping with workerPoolSpecs: ..."
    )
    with pytest.raises(JobSpecFileError, match=r"missing\.yaml: cannot be read: No such file"):
        load_job_spec(tmp_path / "missing.yaml")
    dup = VALID.replace("scheduling:\n", "scheduling:\n  timeout: 60s\n")
    assert any("duplicate key" in e for e in errors_of(dup))
