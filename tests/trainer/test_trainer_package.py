"""The trainer's sdist: deterministic, complete, installable offline, runnable after install."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

from trainer_testing import REPO

import trainer
from tui.services.trainer_package import build_trainer_sdist, sdist_filename


def test_sdist_is_deterministic_and_holds_the_package(tmp_path: Path) -> None:
    first = build_trainer_sdist(tmp_path / "a")
    second = build_trainer_sdist(tmp_path / "b")
    assert first.name == sdist_filename() == f"cloudpane-trainer-{trainer.__version__}.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    top = f"cloudpane-trainer-{trainer.__version__}"
    with tarfile.open(first) as tar:
        names = set(tar.getnames())
        setup_py = tar.extractfile(f"{top}/setup.py").read().decode()  # type: ignore[union-attr]
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()  # type: ignore[union-attr]
    for name in (
        "setup.py",
        "PKG-INFO",
        "pyproject.toml",
        "trainer/__init__.py",
        "trainer/task.py",
        "trainer/model.py",
        "trainer/hptuning.yaml",
    ):
        assert f"{top}/{name}" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    for requirement in trainer.REQUIREMENTS:
        assert repr(requirement) in setup_py
        assert f"Requires-Dist: {requirement}" in pkg_info
    assert "tensorflow" not in setup_py  # the container provides it


def test_sdist_installs_offline_and_runs_the_trainer(tmp_path: Path) -> None:
    sdist = build_trainer_sdist(tmp_path / "dist")
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(sdist),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    assert (target / "trainer" / "hptuning.yaml").is_file()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys, trainer.task; print(trainer.task.__file__, flush=True); "
            "sys.argv = ['trainer.task', '--help']; runpy.run_module('trainer.task', run_name='__main__')",
        ],
        cwd=target,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[0].startswith(str(target))  # the installed copy, not the repo
    assert "--learning-rate" in run.stdout and "--hypertune-metric" in run.stdout
    assert str(REPO) not in run.stdout


def test_packaging_does_not_import_tensorflow() -> None:
    code = (
        "import sys, tui.services.trainer_package as p; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print(p.sdist_filename())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(".tar.gz")
