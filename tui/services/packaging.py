"""A user's folder or script → an sdist for Vertex AI's `pythonPackageSpec`, as gcloud packages it.

- A folder with `pyproject.toml` or `setup.py` is built as it declares (`python -m build
  --sdist`; first without isolation — offline and fast when its build backend is installed here,
  as setuptools is — then isolated, which downloads the backend).
- A bare folder is autopackaged the way `gcloud ai custom-jobs create --local-package-path`
  does: a generated `setup.py` with `find_packages()`, the folder's top-level modules, and its
  `requirements.txt` plus any `--requirements` as `install_requires`.
- A single script becomes a one-module package (`train.py` → run as `python -m train`).

Requirements given for a folder that declares its own build go into a small companion sdist
(`cloudpane-requirements-<hash>`): Vertex installs every `packageUris` entry, so they are
installed beside the package without rewriting the user's build files.

Generated archives are deterministic (sorted entries, fixed times and owners), so the same code
uploads as the same bytes. This module never imports the user's code.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tui.services.errors import InvalidArgument

# A fixed time for every entry (2024-01-01): reproducible, and after 1980 for wheels.
_MTIME = 1704067200
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", "env", "build", "dist",
              ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", "node_modules"}  # fmt: skip
_SKIP_SUFFIXES = (".pyc", ".pyo")
MAX_FILES = 5000
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PYPROJECT = (
    '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
)


@dataclass(frozen=True)
class CodeSource:
    """A person's own code (chosen in the form): packaged when the job is submitted."""

    path: Path  # a folder or a .py script
    module: str = ""  # for a folder: what to run
    requirements: tuple[str, ...] = ()
    local_first: bool = False  # on Google: run it in the sandbox first


@dataclass(frozen=True)
class BuiltPackage:
    """What will be uploaded: the archives (the user's first), the module to run, and why."""

    archives: tuple[Path, ...]
    module: str
    files: tuple[str, ...]  # the user's files inside the main archive
    how: str  # one line: how the code was packaged

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.archives)

    def summary(self) -> str:
        """`3 files, 2.1 KiB: my-pkg-0.1.tar.gz (built from pyproject.toml)`."""
        names = ", ".join(p.name for p in self.archives)
        count = len(self.files)
        return (
            f"{count} file{'s' if count != 1 else ''}, {human_size(self.size)}: {names} "
            f"({self.how})"
        )


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# --- deterministic sdists -----------------------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write_sdist(out_dir: Path, dist_name: str, version: str, entries: dict[str, bytes]) -> Path:
    """Write `dist_name-version.tar.gz` with `entries` (paths below its top folder)."""
    top = f"{dist_name}-{version}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            _add(tar, f"{top}/{name}", entries[name])
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{top}.tar.gz"
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(compressed.getvalue())
    os.replace(partial, target)  # never a half-written archive under the real name
    return target


def generated_setup(
    dist_name: str,
    version: str,
    requirements: Sequence[str],
    py_modules: Sequence[str] = (),
    description: str = "",
) -> dict[str, bytes]:
    """setup.py, pyproject.toml and PKG-INFO of a generated package."""
    setup = (
        "from setuptools import find_packages, setup\n\n"
        "setup(\n"
        f"    name={dist_name!r},\n"
        f"    version={version!r},\n"
        f"    description={description!r},\n"
        "    packages=find_packages(),\n"
        f"    py_modules={list(py_modules)!r},\n"
        "    include_package_data=True,\n"
        "    package_data={'': ['*']},\n"
        f"    install_requires={list(requirements)!r},\n"
        ")\n"
    )
    info = [
        "Metadata-Version: 2.1",
        f"Name: {dist_name}",
        f"Version: {version}",
        *(f"Requires-Dist: {r}" for r in requirements),
    ]
    return {
        "setup.py": setup.encode(),
        "pyproject.toml": _PYPROJECT.encode(),
        "PKG-INFO": ("\n".join(info) + "\n").encode(),
    }


# --- the user's files ---------------------------------------------------------------------------


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts[:-1]):
            continue
        if path.is_symlink() or not path.is_file() or path.suffix in _SKIP_SUFFIXES:
            continue
        if rel.parts[0] in _SKIP_DIRS:
            continue
        yield path


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements.txt (comments, blanks and options dropped)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    return lines


def _dist_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-.").lower() or "user-code"


def check_module(module: str) -> None:
    if not _MODULE.match(module or ""):
        raise InvalidArgument(
            f"{module!r} is not a module name.",
            "Give --module as PACKAGE.MODULE, e.g. trainer.task.",
        )


def _requirements_sdist(requirements: Sequence[str], out_dir: Path) -> Path:
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:10]
    name = f"cloudpane-requirements-{digest}"
    entries = generated_setup(name, "0.1", requirements, description="requirements of a job")
    return write_sdist(out_dir, name, "0.1", entries)


def package_folder(
    folder: Path, module: str, out_dir: Path, requirements: Sequence[str] = ()
) -> BuiltPackage:
    """Build or autopackage `folder`; `module` (e.g. trainer.task) must be inside it."""
    check_module(module)
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise InvalidArgument(
            f"{folder} is not a folder.", "Give --package the folder of your code."
        )
    files = [p.relative_to(folder).as_posix() for p in _walk(folder)]
    if len(files) > MAX_FILES:
        raise InvalidArgument(
            f"{folder} holds {len(files)} files, more than the {MAX_FILES} a training package "
            "should carry.",
            "Keep data in a bucket, or package a smaller folder.",
        )
    if (folder / "pyproject.toml").is_file() or (folder / "setup.py").is_file():
        declared = "pyproject.toml" if (folder / "pyproject.toml").is_file() else "setup.py"
        sdist = build_declared(folder, out_dir)
        archives = [sdist]
        if requirements:
            archives.append(_requirements_sdist(requirements, out_dir))
        return BuiltPackage(tuple(archives), module, tuple(files), f"built from its {declared}")
    top = module.split(".", 1)[0]
    if not (folder / top / "__init__.py").is_file() and not (folder / f"{top}.py").is_file():
        raise InvalidArgument(
            f"The module {module} is not in {folder}: there is no {top}/__init__.py or {top}.py.",
            "Give --module as the dotted path of a module inside the folder.",
        )
    reqs = list(requirements)
    if (folder / "requirements.txt").is_file():
        reqs = read_requirements(folder / "requirements.txt") + reqs
    py_modules = sorted(p.stem for p in folder.glob("*.py") if p.stem != "setup")
    name = _dist_name(folder.name)
    entries = generated_setup(name, "0.1", reqs, py_modules, f"{folder.name}, autopackaged")
    for rel in files:
        if rel not in entries:
            entries[rel] = (folder / rel).read_bytes()
    sdist = write_sdist(out_dir, name, "0.1", entries)
    return BuiltPackage((sdist,), module, tuple(files), "a bare folder, packaged for it")


def package_script(script: Path, out_dir: Path, requirements: Sequence[str] = ()) -> BuiltPackage:
    """A one-module package of `script`; it runs as `python -m <its stem>`."""
    script = script.expanduser().resolve()
    if not script.is_file() or script.suffix != ".py":
        raise InvalidArgument(f"{script} is not a Python script.", "Give --script a FILE.py.")
    module = script.stem
    check_module(module)
    name = _dist_name(f"{module}-script")
    entries = generated_setup(
        name, "0.1", list(requirements), [module], f"{script.name}, autopackaged"
    )
    entries[script.name] = script.read_bytes()
    sdist = write_sdist(out_dir, name, "0.1", entries)
    return BuiltPackage((sdist,), module, (script.name,), "a single script, packaged for it")


def build_declared(folder: Path, out_dir: Path) -> Path:
    """`python -m build --sdist` (without isolation first: offline when the backend is here)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("*.tar.gz"))
    errors = ""
    for isolation in (["--no-isolation"], []):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "build",
                "--sdist",
                *isolation,
                "--outdir",
                str(out_dir),
                str(folder),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        made = sorted(set(out_dir.glob("*.tar.gz")) - before)
        if result.returncode == 0 and made:
            return made[-1]
        errors = result.stderr or result.stdout
    lines = [line.strip() for line in errors.splitlines() if line.strip()]
    raise InvalidArgument(
        f"{folder} could not be built as it declares: {lines[-1] if lines else 'no output'}",
        "Run `python -m build --sdist` in the folder to see why.",
    )


def describe_source(path: Path, module: str = "") -> tuple[str, str]:
    """(what will be packaged, a problem or "") for the form, from the disk alone (no build)."""
    path = path.expanduser()
    if path.is_file():
        if path.suffix != ".py":
            return "", f"{path.name} is not a Python script (.py)."
        size = path.stat().st_size
        return f"Script {path.name}: 1 file, {human_size(size)}; runs as python -m {path.stem}.", ""
    if not path.is_dir():
        return "", f"{path} is neither a folder nor a script."
    files = list(_walk(path))
    size = sum(p.stat().st_size for p in files)
    count = f"{len(files)} file{'s' if len(files) != 1 else ''}, {human_size(size)}"
    declared = next((n for n in ("pyproject.toml", "setup.py") if (path / n).is_file()), "")
    how = f"built from its {declared}" if declared else "a bare folder, packaged for it"
    if not module:
        return f"Folder {path.name}: {count} ({how}).", "Give the module to run, e.g. trainer.task."
    if not _MODULE.match(module):
        return f"Folder {path.name}: {count} ({how}).", f"{module!r} is not a module name."
    return f"Folder {path.name}: {count} ({how}); runs python -m {module}.", ""
