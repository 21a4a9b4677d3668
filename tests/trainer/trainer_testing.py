"""Helpers for the trainer tests: run `python -m trainer.task` as Vertex AI would.

Imported by the test modules as `trainer_testing` (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# A configuration small enough for a CPU test: a few steps of 32×32 images.
TINY = [
    "--image-size=32",
    "--levels=2",
    "--train-examples=48",
    "--val-examples=20",
    "--batch-size=8",
    "--base-filters=4",
    "--steps-per-execution=1",
]


def trainer_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("AIP_", "CLOUD_ML_", "TF_CONFIG", "STORAGE_EMULATOR", "API_ENDPOINT_OVERRIDE")
        )
    }
    env["PYTHONPATH"] = str(REPO)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra or {})
    return env


def run_trainer(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=cwd,
        env=trainer_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def parse_line(line: str) -> dict[str, str]:
    """key=value fields of one trainer log line (the documented format)."""
    return dict(part.split("=", 1) for part in line.split() if "=" in part)
