"""A user's own `trainer` package and cloudpane, installed side by side, both work.

Google's template names a training package `trainer`; cloudpane's bundled trainer must neither
shadow it nor be shadowed by it. The test builds cloudpane's wheel from this checkout (the
build backend comes from the package registry, as `pip install` gets it), installs it and a
user's `trainer` project into one folder, and runs each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        list(cmd), capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.timeout(900)
def test_a_users_trainer_package_and_cloudpane_installed_together_both_work(
    tmp_path: Path,
) -> None:
    source = tmp_path / "cloudpane-src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "tui", source / "tui", ignore=ignore)
    shutil.copytree(REPO / "trainer", source / "trainer", ignore=ignore)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(source))
    wheel = next((tmp_path / "dist").glob("cloudpane-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.split("/", 1)[0] == "trainer"]  # no top-level trainer
    assert "tui/_trainer/task.py" in names

    user = tmp_path / "user-project"
    (user / "trainer").mkdir(parents=True)
    (user / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='my-model', version='1.0', packages=['trainer'])\n"
    )
    (user / "trainer" / "__init__.py").write_text("OWNER = 'the user'\n")
    (user / "trainer" / "task.py").write_text("print('the user trainer runs')\n")

    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site)]
    run(*pip, "--no-build-isolation", str(user))
    run(*pip, str(wheel))
    env = {**os.environ, "PYTHONPATH": str(site)}
    assert run(sys.executable, "-m", "trainer.task", env=env, cwd=tmp_path).strip() == (
        "the user trainer runs"
    )

    check = textwrap.dedent(
        f"""
        import tarfile, sys
        from pathlib import Path
        import trainer, tui
        from tui.services.hpconfig import bundled_trainer_metrics
        from tui.services.trainer_package import build_trainer_sdist
        assert tui.__file__.startswith({str(site)!r}), tui.__file__
        assert trainer.OWNER == "the user"
        sdist = build_trainer_sdist(Path({str(tmp_path / "out")!r}))
        print(sdist.name, sorted(bundled_trainer_metrics())[0])
        """
    )
    printed = run(sys.executable, "-c", check, env=env, cwd=tmp_path).split()
    assert printed[0] == "cloudpane-trainer-0.1.0.tar.gz"
    assert printed[1]  # the bundled trainer's flags, not the user's package, answered
    with tarfile.open(tmp_path / "out" / printed[0]) as tar:
        task = tar.extractfile("cloudpane-trainer-0.1.0/trainer/task.py")
        assert task is not None
        assert task.read() == (REPO / "trainer" / "task.py").read_bytes()
