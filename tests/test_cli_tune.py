"""`cloudpane jobs tune FILE [--wait]`: validation, the study shown, submit, follow, exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from test_tuning_service import study_yaml
from tuning_helpers import upload_tuning_standin

from tui.cli import tune as cli
from tui.services.clients import Backend
from tui.services.tuning import TuningService

BAD = """\
studySpec:
  metrics:
    - metricId: score
      goal: minimize
  parameters:
    - parameterId: a
      integerValueSpec: {minValue: 5, maxValue: 1}
maxTrialCount: 2
parallelTrialCount: 3
"""

LEGACY = """\
trainingInput:
  hyperparameters:
    goal: MINIMIZE
    hyperparameterMetricTag: val_abs_rel
    maxTrials: 4
    maxParallelTrials: 2
    params:
      - parameterName: batch_size
        type: DISCRETE
        discreteValues: [8, 16]
"""


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_tuning_standin(clean_sandbox)


async def run(path: Path, backend: Backend, **options: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await cli.tune(path, backend, out=out, err=err, poll_seconds=0.2, **options)  # type: ignore[arg-type]
    return code, out.getvalue(), err.getvalue()


async def test_invalid_file_lists_every_error_and_submits_nothing(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    code, out, err = await run(path, clean_sandbox)
    assert code == cli.EXIT_INVALID
    assert "bad.yaml:4: studySpec.metrics[0].goal:" in err
    assert "bad.yaml:7:" in err and "minValue" in err
    assert "parallelTrialCount" in err
    assert "nothing was submitted" in err and out == ""
    assert await TuningService(clean_sandbox).list_jobs() == []
    # The same through the command line's own entry point (it never connects for a bad file).
    assert cli.main([str(path), "--sandbox"]) == cli.EXIT_INVALID


async def test_wait_succeeds_and_prints_trials_and_best(
    clean_sandbox: Backend, package: str, tmp_path: Path
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(study_yaml(package, ["--steps", "1"]))
    code, out, err = await run(path, clean_sandbox, wait=True, hours_per_trial=2.0)
    assert code == cli.EXIT_OK, out + err
    assert "Metric" in out and "score (MINIMIZE)" in out
    assert "Parameter" in out and "a  INTEGER  1 … 2" in out
    assert "Worst-case cost" in out and "4 trials × 2 h" in out
    assert "Submitted tuning job tiny study: projects/" in out
    assert out.count(" SUCCEEDED ") == 4
    assert "Job SUCCEEDED: 4 trials succeeded, 0 failed." in out
    assert "Best trial 1: score=11 (MINIMIZE)" in out and "--a=1 --b=10" in out


async def test_wait_exits_non_zero_when_the_job_fails(
    clean_sandbox: Backend, package: str, tmp_path: Path
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(study_yaml(package, ["--fail-when", "a=1"], parallel=1, max_failed=1))
    code, out, _ = await run(path, clean_sandbox, wait=True)
    assert code == cli.EXIT_JOB_FAILED
    assert "INFEASIBLE" in out and "Job FAILED" in out
    # Without --wait the same submit exits 0 at once.
    code, out, _ = await run(path, clean_sandbox)
    assert code == cli.EXIT_OK and "Submitted tuning job" in out
    assert "SUCCEEDED" not in out


async def test_no_trial_spec_without_bucket_and_legacy_conversion_shown(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    path = tmp_path / "hptuning_config.yaml"
    path.write_text(LEGACY)
    code, out, err = await run(path, clean_sandbox)
    assert code == cli.EXIT_INVALID
    assert "AI Platform (converted to Vertex AI)" in out
    assert "Converted to Vertex AI:" in out and "parameterId: batch_size" in out
    assert "no trialJobSpec" in err and "--staging-bucket" in err
    assert await TuningService(clean_sandbox).list_jobs() == []


def test_arguments_and_read_only(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(study_yaml("gs://b/p.tar.gz", []))
    assert cli.main([str(path), "--read-only"]) == cli.EXIT_INVALID
    assert cli.main([str(path), "--staging-bucket", "b", "--accelerator", "T4:x"]) == 2
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [str(path), "--staging-bucket", "gs://b/x", "--trainer-args", "--epochs=2 --levels=2"]
    )
    defaults = cli.trainer_defaults(args, "europe-west4")
    assert defaults is not None and defaults.trainer_args == ("--epochs=2", "--levels=2")
    assert defaults.region == "europe-west4" and defaults.display_name == "study"
    with pytest.raises(SystemExit):
        parser.parse_args([str(path), "--hours-per-trial", "0"])
