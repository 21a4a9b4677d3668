"""A preempted run (killed between epochs) resumes from its BackupAndRestore checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from trainer_testing import TINY, parse_line, run_trainer, trainer_env

EPOCHS = 6


def _start_and_kill_after_epoch(args: list[str], cwd: Path, epoch: int) -> list[str]:
    """Run the trainer until it prints `epoch=<epoch>/..`, then SIGKILL it (a spot preemption)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.task", *args],
        cwd=cwd,
        env=trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen: list[str] = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if line.startswith(f"epoch={epoch}/"):
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "trainer too slow"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert any(line.startswith(f"epoch={epoch}/") for line in seen), seen
    return seen


def test_killed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [*TINY, f"--epochs={EPOCHS}", f"--output-dir={out}"]
    _start_and_kill_after_epoch(args, tmp_path, epoch=2)
    backup = out / "checkpoints" / "backup"
    assert (backup / "latest.weights.h5").is_file()
    assert not (out / "model" / "metrics.json").exists()

    proc = run_trainer(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    resume = [parse_line(line) for line in lines if line.startswith("trainer resume")]
    assert len(resume) == 1
    start = int(resume[0]["from_epoch"])
    assert 2 <= start < EPOCHS  # the kill may land a moment after epoch 3's backup
    epochs = [parse_line(line)["epoch"] for line in lines if line.startswith("epoch=")]
    assert epochs == [f"{e}/{EPOCHS}" for e in range(start + 1, EPOCHS + 1)]
    metrics = json.loads((out / "model" / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == start
    assert not backup.exists()  # a finished run leaves no backup behind
