"""A tiny end-to-end run as Vertex AI starts it: every output, the log lines, hypertune, reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from trainer_testing import TINY, parse_line, run_trainer

from trainer.metrics import METRIC_NAMES

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def vertex_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One trial of a tuning job: AIP_* folders, a trial id and a hypertune metric file."""
    root = tmp_path_factory.mktemp("vertex")
    env = {
        "AIP_MODEL_DIR": str(root / "out" / "model"),
        "AIP_CHECKPOINT_DIR": str(root / "out" / "checkpoints"),
        "AIP_TENSORBOARD_LOG_DIR": str(root / "out" / "logs"),
        "CLOUD_ML_TRIAL_ID": "3",
        "CLOUD_ML_HP_METRIC_FILE": str(root / "hypertune" / "output.metrics"),
    }
    proc = run_trainer(
        [*TINY, "--epochs=2", "--steps-per-execution=2", "--hypertune_metric=val_delta1"], root, env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, proc.stdout


def test_log_lines_are_parseable(vertex_run: tuple[Path, str]) -> None:
    _, stdout = vertex_run
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("trainer start ")
    assert not any(line.startswith("trainer resume") for line in lines)
    start = parse_line(lines[0])
    assert start["train_examples"] == "48" and start["strategy"] == "single"
    assert start["mixed_precision"] == "False" and start["xla"] == "False"  # CPU defaults
    epochs = [parse_line(line) for line in lines if line.startswith("epoch=")]
    assert [e["epoch"] for e in epochs] == ["1/2", "2/2"]
    for fields in epochs:
        for key in ("loss", "val_loss", "val_abs_rel", "val_delta1", "images_per_sec"):
            assert float(fields[key]) >= 0, key
    end = parse_line(lines[-1])
    assert lines[-1].startswith("trainer end ") and end["status"] == "ok"
    assert float(end["images_per_sec"]) > 0


def test_outputs_land_in_trial_subfolders(vertex_run: tuple[Path, str]) -> None:
    root, _ = vertex_run
    model_dir = root / "out" / "model" / "3"
    assert (model_dir / "saved_model.pb").is_file()
    assert (model_dir / "variables").is_dir()
    assert (model_dir / "model.keras").is_file()
    assert (root / "out" / "checkpoints" / "3" / "best.weights.h5").is_file()
    assert not (root / "out" / "checkpoints" / "3" / "backup").exists()  # finished: removed
    events = {p.parent.name for p in (root / "out" / "logs" / "3").rglob("events.out.tfevents*")}
    assert events == {"train", "validation"}


def test_metrics_json_has_the_final_validation_metrics(vertex_run: tuple[Path, str]) -> None:
    root, stdout = vertex_run
    result = json.loads((root / "out" / "model" / "3" / "metrics.json").read_text())
    assert set(result["validation"]) == {"loss", *METRIC_NAMES}
    assert result["validation_examples"] == 20
    assert result["config"]["hypertune_metric"] == "val_delta1"
    end = parse_line(stdout.strip().splitlines()[-1])
    assert float(end["val_abs_rel"]) == pytest.approx(result["validation"]["abs_rel"], rel=1e-4)


def test_hypertune_metric_file_has_the_chosen_tag_each_epoch(vertex_run: tuple[Path, str]) -> None:
    root, stdout = vertex_run
    lines = (root / "hypertune" / "output.metrics").read_text().strip().splitlines()
    reports = [json.loads(line) for line in lines]
    assert [r["global_step"] for r in reports] == ["1", "2"]
    assert all(r["trial"] == "3" and "val_delta1" in r for r in reports)
    epoch_values = [
        float(parse_line(line)["val_delta1"])
        for line in stdout.splitlines()
        if line.startswith("epoch=")
    ]
    assert [float(r["val_delta1"]) for r in reports] == pytest.approx(epoch_values, rel=1e-4)


def test_tensorboard_events_hold_epoch_scalars(vertex_run: tuple[Path, str]) -> None:
    root, _ = vertex_run
    tags: set[str] = set()
    for path in (root / "out" / "logs" / "3" / "validation").glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(v.tag for v in event.summary.value)
    assert {"epoch_loss", "epoch_abs_rel", "epoch_delta1"} <= tags


def test_saved_model_and_keras_file_reload_and_agree(vertex_run: tuple[Path, str]) -> None:
    import keras

    from trainer.synthetic import make_dataset

    root, _ = vertex_run
    model_dir = root / "out" / "model" / "3"
    images, _ = make_dataset(seed=5, split="test", count=2, size=32)
    x = images.astype(np.float32)
    reloaded = keras.models.load_model(model_dir / "model.keras", compile=False)
    from_keras = reloaded.predict(x, verbose=0)
    served = tf.saved_model.load(str(model_dir))
    from_saved = served.serve(tf.constant(x)).numpy()
    assert from_saved.shape == (2, 32, 32, 1)
    assert np.all((from_saved >= 0.1 - 1e-4) & (from_saved <= 20.0 + 1e-3))  # metres
    np.testing.assert_allclose(from_saved, from_keras, rtol=1e-4, atol=1e-4)
