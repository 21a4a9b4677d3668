"""Two local workers under MultiWorkerMirroredStrategy, wired by TF_CONFIG as Vertex AI does."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_testing import TINY, parse_line, trainer_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_workers_train_together_and_only_the_chief_publishes(tmp_path: Path) -> None:
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {
            "TF_CONFIG": json.dumps(tf_config),
            "CLOUD_ML_HP_METRIC_FILE": str(tmp_path / f"hp{index}" / "output.metrics"),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "trainer.task", *TINY, "--epochs=1", "--output-dir=out"],
                cwd=tmp_path,
                env=trainer_env(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    starts = [parse_line(out.splitlines()[0]) for out, _ in outputs]
    for start in starts:
        assert start["strategy"] == "multiworker"
        assert start["replicas"] == "2"
        assert start["global_batch_size"] == "16"  # --batch-size 8 per replica
        assert start["steps_per_epoch"] == "3"  # 48 examples / 16
    assert [s["chief"] for s in starts] == ["True", "False"]
    assert (tmp_path / "out" / "model" / "saved_model.pb").is_file()
    assert (tmp_path / "hp0" / "output.metrics").is_file()
    assert not (tmp_path / "hp1").exists()  # only the chief reports to the tuner
    # Each validation example was scored by exactly one worker and the pixel sums were
    # combined: the published metrics equal a single-process evaluation of the saved model.
    import keras
    import numpy as np

    from trainer.synthetic import make_dataset

    result = json.loads((tmp_path / "out" / "model" / "metrics.json").read_text())
    images, depths = make_dataset(42, "val", 20, 32)
    model = keras.models.load_model(tmp_path / "out" / "model" / "model.keras", compile=False)
    pred = np.clip(model.predict(images.astype(np.float32), verbose=0), 0.1, 20.0)
    abs_rel = float(np.mean(np.abs(pred - depths) / depths))
    assert result["validation"]["abs_rel"] == pytest.approx(abs_rel, rel=1e-3)
