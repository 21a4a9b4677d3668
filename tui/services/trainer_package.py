"""Packages the bundled trainer as a source distribution for Vertex AI's python_package_spec.

Vertex AI installs the sdist (``pip install cloudpane-trainer-<version>.tar.gz``) inside its
prebuilt TensorFlow container and runs ``python -m trainer.task``; the cloudpane sandbox does
the same locally. The archive is written directly with tarfile — no build tool, no network —
and byte-for-byte deterministic (sorted entries, fixed times and owners), so the same trainer
always uploads as the same object.

This module must not import TensorFlow: it runs inside the TUI. ``trainer/__init__.py`` is
import-light for that reason.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import trainer

DIST_NAME = "cloudpane-trainer"
# A fixed time for every entry (2024-01-01): reproducible, and after 1980 so that a wheel
# built from the sdist can still store it in a zip.
_MTIME = 1704067200
_PACKAGE_SUFFIXES = (".py", ".yaml")


def trainer_version() -> str:
    return trainer.__version__


def trainer_requirements() -> tuple[str, ...]:
    """What the trainer installs beyond the container's TensorFlow."""
    return tuple(trainer.REQUIREMENTS)


def sdist_filename(version: str | None = None) -> str:
    return f"{DIST_NAME}-{version or trainer_version()}.tar.gz"


def _package_files() -> list[tuple[str, Path]]:
    """(path inside the archive, source file) for every file of the trainer package."""
    root = Path(trainer.__file__).resolve().parent
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
        raise FileNotFoundError(f"the trainer package at {trainer.__file__} has no task.py")

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
