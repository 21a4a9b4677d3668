"""Flags: Vertex AI's environment defaults, both spellings, trial folders, clear errors."""

from __future__ import annotations

import pytest
from trainer_testing import run_trainer

from trainer.flags import HYPERTUNE_METRICS, normalize_argv, parse_args, trial_path


def test_defaults_come_from_vertex_environment() -> None:
    env = {
        "AIP_MODEL_DIR": "gs://b/out/model",
        "AIP_CHECKPOINT_DIR": "gs://b/out/checkpoints",
        "AIP_TENSORBOARD_LOG_DIR": "gs://b/out/logs",
    }
    cfg = parse_args([], env=env)
    assert cfg.model_dir == "gs://b/out/model"
    assert cfg.checkpoint_dir == "gs://b/out/checkpoints"
    assert cfg.tensorboard_dir == "gs://b/out/logs"
    assert cfg.data == "synthetic"
    assert cfg.hypertune_metric == "val_abs_rel"


def test_without_environment_folders_go_under_output_dir() -> None:
    cfg = parse_args(["--output-dir", "/tmp/x"], env={})
    assert (cfg.model_dir, cfg.checkpoint_dir, cfg.tensorboard_dir) == (
        "/tmp/x/model",
        "/tmp/x/checkpoints",
        "/tmp/x/tensorboard",
    )
    # AI Platform's legacy name for the same flag
    assert parse_args(["--job-dir=gs://b/j"], env={}).model_dir == "gs://b/j/model"


def test_trial_id_adds_a_trial_subfolder_once() -> None:
    env = {"CLOUD_ML_TRIAL_ID": "7", "AIP_MODEL_DIR": "gs://b/out/model"}
    cfg = parse_args(["--checkpoint-dir", "gs://b/out/7/checkpoints"], env=env)
    assert cfg.model_dir == "gs://b/out/model/7"
    assert cfg.checkpoint_dir == "gs://b/out/7/checkpoints"  # already names the trial
    assert cfg.trial_id == "7"
    assert trial_path("/a/b", None) == "/a/b"


def test_underscore_and_dash_spellings_are_the_same_flag() -> None:
    a = parse_args(["--learning_rate=0.005", "--batch_size", "4", "--ssim_weight=0.5"], env={})
    b = parse_args(["--learning-rate=0.005", "--batch-size", "4", "--ssim-weight=0.5"], env={})
    assert a == b
    assert a.learning_rate == 0.005 and a.batch_size == 4


def test_vertex_discrete_values_like_16_0_are_whole_numbers() -> None:
    assert parse_args(["--batch_size=16.0"], env={}).batch_size == 16


def test_normalize_leaves_unknown_and_values_alone() -> None:
    from trainer.flags import build_parser

    argv = ["--data", "gs://b/my_data", "--no_such_flag=1", "--model_dir=gs://x/a_b"]
    assert normalize_argv(argv, build_parser()) == [
        "--data",
        "gs://b/my_data",
        "--no_such_flag=1",
        "--model-dir=gs://x/a_b",
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--bogus=1"], "unknown flag(s): --bogus=1"),
        (["--epochs=0"], "--epochs: must be a whole number >= 1"),
        (["--batch-size=two"], "--batch-size: must be a whole number, got 'two'"),
        (["--learning-rate=-1"], "--learning-rate: must be > 0"),
        (["--val-fraction=1.5"], "--val-fraction: must be between 0 and 1"),
        (["--image-size=40"], "--image-size 40 must be a multiple of 2**levels = 16"),
        (["--min-depth=30"], "--min-depth (30.0) must be below --max-depth (20.0)"),
        (["--ssim-weight=0", "--l1-weight=0", "--gradient-weight=0"], "at least one of"),
        (["--distribute=tpu"], "argument --distribute: invalid choice: 'tpu'"),
        (["--hypertune-metric=accuracy"], "invalid choice: 'accuracy'"),
        (["--data=/x", "--export-data=/y"], "--export-data writes the synthetic set"),
    ],
)
def test_bad_flags_exit_2_with_a_clear_message(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv, env={})
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("trainer: error:")
    assert expected in err


def test_hypertune_choices_cover_validation_metrics() -> None:
    assert {"val_abs_rel", "val_delta1", "val_rmse", "val_loss"} <= set(HYPERTUNE_METRICS)


def test_command_line_rejects_unknown_flag_before_loading_tensorflow(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = run_trainer(["--epochs=1", "--learnig-rate=0.1"], cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "unknown flag(s): --learnig-rate=0.1" in proc.stderr
    help_proc = run_trainer(["--help"], cwd=tmp_path, timeout=60)
    assert help_proc.returncode == 0
    for flag in ("--learning-rate", "--hypertune-metric", "--distribute", "--model-dir"):
        assert flag in help_proc.stdout


def test_task_module_does_not_load_tensorflow_until_training() -> None:
    import subprocess
    import sys

    from trainer_testing import trainer_env

    code = "import sys, trainer.task; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    proc = subprocess.run(
        [sys.executable, "-c", code], env=trainer_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
