"""Quality benchmark of the bundled trainer's default configuration on CPU.

Trains with the trainer's defaults (``python -m trainer.task``, synthetic data), then scores
the saved model on a held-out synthetic *test* split that training never saw (scenes of
split "test", 256 of them), with the metrics computed here in NumPy, independently of the
trainer's own metric code. Goal (issue 3): AbsRel <= 0.12 and delta<1.25 >= 0.85 within
15 minutes of wall time on the 2-core CPU machine.

    .venv/bin/python benchmarks/trainer_quality.py [--json out.json] [-- extra trainer flags]

Exit status 0 when every goal is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GOALS = {"abs_rel_max": 0.12, "delta1_min": 0.85, "wall_seconds_max": 15 * 60}
TEST_SEED, TEST_COUNT = 2024, 256


def numpy_depth_metrics(gt: np.ndarray, pred: np.ndarray, lo: float, hi: float) -> dict[str, float]:
    valid = (gt >= lo) & (gt <= hi)
    g = gt[valid].astype(np.float64)
    p = np.clip(pred[valid].astype(np.float64), lo, hi)
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "sq_rel": float(np.mean((p - g) ** 2 / g)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "rmse_log": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


def train(out: Path, extra: list[str]) -> tuple[float, list[str]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    for key in ("AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR", "AIP_TENSORBOARD_LOG_DIR", "TF_CONFIG"):
        env.pop(key, None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.task", f"--output-dir={out}", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        lines.append(line.strip())
    if proc.wait() != 0:
        sys.exit(f"trainer failed with status {proc.returncode}")
    return time.perf_counter() - started, lines


def evaluate(model_dir: Path) -> dict[str, float]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(REPO))
    import keras

    from trainer.synthetic import make_dataset

    run = json.loads((model_dir / "metrics.json").read_text())
    cfg = run["config"]
    images, depths = make_dataset(TEST_SEED, "test", TEST_COUNT, cfg["image_size"])
    model = keras.models.load_model(model_dir / "model.keras", compile=False)
    pred = model.predict(images.astype(np.float32), batch_size=32, verbose=0)
    return numpy_depth_metrics(depths, pred, cfg["min_depth"], cfg["max_depth"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", type=Path, help="train into this folder and keep it")
    parser.add_argument("trainer_flags", nargs="*", help="extra flags for the trainer (after --)")
    args = parser.parse_args()
    out = args.keep or Path(tempfile.mkdtemp(prefix="trainer-quality-"))
    wall, _ = train(out, args.trainer_flags)
    run = json.loads((out / "model" / "metrics.json").read_text())
    test = evaluate(out / "model")
    figures = {
        "wall_seconds": round(wall, 1),
        "train_seconds": run["train_seconds"],
        "images_per_sec": run["images_per_sec"],
        "validation": run["validation"],
        "test": test,
        "test_examples": TEST_COUNT,
        "config": {
            k: run["config"][k]
            for k in (
                "image_size",
                "train_examples",
                "epochs",
                "batch_size",
                "base_filters",
                "levels",
            )
        },
        "goals": GOALS,
    }
    passed = (
        test["abs_rel"] <= GOALS["abs_rel_max"]
        and test["delta1"] >= GOALS["delta1_min"]
        and wall <= GOALS["wall_seconds_max"]
    )
    figures["passed"] = passed
    print("\n== trainer quality benchmark (held-out synthetic test split) ==")
    print(f"wall time      {wall:8.1f} s   (goal <= {GOALS['wall_seconds_max']} s)")
    print(f"train time     {run['train_seconds']:8.1f} s")
    print(f"images/second  {run['images_per_sec']:8.1f}     (training, after epoch 1)")
    for name, value in test.items():
        print(f"test {name:<9} {value:8.4f}")
    print(f"result         {'PASS' if passed else 'FAIL'}  (AbsRel <= 0.12, delta1 >= 0.85)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
