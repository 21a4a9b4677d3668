"""Packages the bundled trainer as a source distribution for Vertex AI's python_package_spec.

Vertex AI installs the sdist (``pip install cloudpane-trainer-<version>.tar.gz``) inside its
prebuilt TensorFlow container and runs ``python -m trainer.task``; the cloudpane sandbox does
the same locally. The archive is written directly with tarfile — no build tool, no network —
and byte-for-byte deterministic (sorted entries, fixed times and owners), so the same trainer
always uploads as the same object.

This module must not import TensorFlow: it runs inside the TUI. ``trainer/__init__.py`` is
import-light for that reason.

No name clash with the user's code: Google's template calls a training package ``trainer``, so
cloudpane never imports (nor installs) its own as a top-level ``trainer``. An installed cloudpane
carries the trainer's source as ``tui/_trainer`` (setup.py maps it there); a source checkout
reads ``trainer/`` beside ``tui/``. Its version and requirements are read from the source, and
the few modules the TUI needs (flags) are loaded under a private name (`bundled_module`).
"""

from __future__ import annotations

import ast
import gzip
import importlib
import importlib.util
import io
import os
import sys
import tarfile
from functools import cache
from pathlib import Path
from types import ModuleType

DIST_NAME = "cloudpane-trainer"
# A fixed time for every entry (2024-01-01): reproducible, and after 1980 so that a wheel
# built from the sdist can still store it in a zip.
_MTIME = 1704067200
_PACKAGE_SUFFIXES = (".py", ".yaml")


_ALIAS = "cloudpane_bundled_trainer"


def trainer_source() -> Path:
    """The folder of the bundled trainer's source (installed, or in a source checkout)."""
    tui_dir = Path(__file__).resolve().parent.parent
    for folder in (tui_dir / "_trainer", tui_dir.parent / "trainer"):
        if (folder / "task.py").is_file() and (folder / "__init__.py").is_file():
            return folder
    raise FileNotFoundError(f"the bundled trainer's source is not beside {tui_dir}")


@cache
def _init_constants() -> dict[str, object]:
    """`__version__` and `REQUIREMENTS` of trainer/__init__.py, read without importing it."""
    tree = ast.parse((trainer_source() / "__init__.py").read_text())
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("__version__", "REQUIREMENTS"):
                found[target.id] = ast.literal_eval(node.value)
    return found


def trainer_version() -> str:
    return str(_init_constants()["__version__"])


def trainer_requirements() -> tuple[str, ...]:
    """What the trainer installs beyond the container's TensorFlow."""
    requirements = _init_constants()["REQUIREMENTS"]
    assert isinstance(requirements, (tuple, list))
    return tuple(str(r) for r in requirements)


def bundled_module(name: str) -> ModuleType:
    """A module of the bundled trainer (e.g. "flags"), under a name no user's code has."""
    if _ALIAS not in sys.modules:
        folder = trainer_source()
        spec = importlib.util.spec_from_file_location(
            _ALIAS, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[_ALIAS] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{_ALIAS}.{name}")


def sdist_filename(version: str | None = None) -> str:
    return f"{DIST_NAME}-{version or trainer_version()}.tar.gz"


def _package_files() -> list[tuple[str, Path]]:
    """(path inside the archive, source file) for every file of the trainer package."""
    root = trainer_source()
    files = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and path.suffix in _PACKAGE_SUFFIXES and "__pycache__" not in rel.parts:
            files.append((f"trainer/{rel.as_posix()}", path))
    return files


def _setup_py(version: str, requirements: tuple[str, ...]) -> str:
    return (
        "from setuptools import find_packages, setup\n\n"
        "setup(\n"
        f"    name={DIST_NAME!r},\n"
        f"    version={version!r},\n"
        "    description='cloudpane bundled trainer: monocular depth estimation (U-Net)',\n"
        "    packages=find_packages(include=['trainer', 'trainer.*']),\n"
        "    package_data={'trainer': ['*.yaml']},\n"
        f"    install_requires={list(requirements)!r},\n"
        "    python_requires='>=3.10',\n"
        ")\n"
    )


def _pkg_info(version: str, requirements: tuple[str, ...]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {DIST_NAME}",
        f"Version: {version}",
        "Summary: cloudpane bundled trainer: monocular depth estimation (U-Net)",
        "Requires-Python: >=3.10",
        *(f"Requires-Dist: {req}" for req in requirements),
    ]
    return "\n".join(lines) + "\n"


_PYPROJECT = (
    '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def build_trainer_sdist(out_dir: Path) -> Path:
    """Write ``cloudpane-trainer-<version>.tar.gz`` into ``out_dir`` and return its path."""
    version = trainer_version()
    requirements = trainer_requirements()
    top = f"{DIST_NAME}-{version}"
    entries: dict[str, bytes] = {
        f"{top}/PKG-INFO": _pkg_info(version, requirements).encode(),
        f"{top}/pyproject.toml": _PYPROJECT.encode(),
        f"{top}/setup.py": _setup_py(version, requirements).encode(),
    }
    for name, path in _package_files():
        entries[f"{top}/{name}"] = path.read_bytes()
    if f"{top}/trainer/task.py" not in entries:
        raise FileNotFoundError(f"the trainer package at {trainer_source()} has no task.py")

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            _add(tar, name, entries[name])
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / sdist_filename(version)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(compressed.getvalue())
    os.replace(partial, target)  # never leave a half-written archive under the real name
    return target
