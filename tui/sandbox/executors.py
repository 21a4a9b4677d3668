"""One Python environment per executor image: what Vertex AI's prebuilt container would carry.

On Vertex AI a `pythonPackageSpec` job runs in its executor image (`tf-cpu.2-17.py310`,
`pytorch-gpu.2-4.py310`, …): the image brings the framework at its version, plus the few
packages every prebuilt training container has (google-cloud-storage, cloudml-hypertune), and
Vertex pip-installs the job's package into it. The sandbox does the same with virtual
environments, never with the daemon's own interpreter environment:

- **The image layer** (`executors/<image>/base`), created on first use and reused by every
  later job of that image: a venv of the base interpreter (not the daemon's venv) holding the
  image's framework. A requirement that the daemon's environment already satisfies at the
  image's version is *linked* from there, file by file, with the distributions it depends on
  (symlinks in `linked/`, named by a `.pth` file): exactly those files and nothing else of the
  daemon's — no cloudpane, no textual — in well under a second and without a network.
  Anything else is installed with pip from the package registry; offline, preparation fails
  with one line that says what could not be installed.
- **The package layer** (`executors/<image>/packages/<sha>`), one per set of package archives
  (so the trials of a tuning study share one): a venv that sees the image layer
  (`site.addsitedir`) and into which the job's packages are pip-installed with their declared
  requirements, as Vertex installs them into the container.

Which framework an image carries comes from its name (`tf-cpu.2-NN` → TensorFlow 2.NN, …).
`CLOUDPANE_SANDBOX_EXECUTORS` (JSON: image-name regex → requirement list) overrides that, for a
mirror, an offline machine or tests that must not download a framework; the override is shown
in the job's log. The environment's Python is the daemon's base Python, not the image's (the
log line says so).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.metadata as metadata
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from tui.sandbox.owner import make_tree_private

Say = Callable[[str], None]

OVERRIDE_ENV = "CLOUDPANE_SANDBOX_EXECUTORS"
# What every prebuilt training container carries beside its framework (Google's container
# lists: cloud.google.com/vertex-ai/docs/training/pre-built-containers), plus what building an
# sdist without network needs.
IMAGE_COMMON = ("google-cloud-storage", "cloudml-hypertune", "setuptools", "wheel")
PIP_TIMEOUT = 1800  # seconds: a framework download is large

# image name (after the registry path) → the framework requirement it implies.
_FRAMEWORKS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    # The sandbox has no GPU: tf-gpu images get TensorFlow's CPU build of the same version.
    (re.compile(r"^tf-(?:cpu|gpu)\.(\d+)-(\d+)"), lambda m: f"tensorflow-cpu=={m[1]}.{m[2]}.*"),
    (re.compile(r"^pytorch-(?:cpu|gpu|xla|tpu)\.(\d+)-(\d+)"), lambda m: f"torch=={m[1]}.{m[2]}.*"),
    (re.compile(r"^sklearn-cpu\.(\d+)-(\d+)"), lambda m: f"scikit-learn=={m[1]}.{m[2]}.*"),
    (re.compile(r"^xgboost-cpu\.(\d+)-(\d+)"), lambda m: f"xgboost=={m[1]}.{m[2]}.*"),
)


class ExecutorError(Exception):
    """The image's environment could not be prepared (the job fails with this one line)."""


@dataclass(frozen=True)
class ImageEnvironment:
    """What an executor image carries: its short name and its requirements."""

    image: str  # the full URI
    name: str  # tf-cpu.2-17.py310
    requirements: tuple[str, ...]
    source: str  # "the image name", or the override variable

    @property
    def key(self) -> str:
        """A folder name for this environment (stable for the same requirements)."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.name)[:60] or "image"
        digest = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:8]
        return f"{slug}-{digest}"


def image_name(uri: str) -> str:
    """`us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest` → `tf-cpu.2-17.py310`."""
    last = uri.rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0]


def _override() -> dict[str, list[str]]:
    raw = os.environ.get(OVERRIDE_ENV, "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return {str(k): [str(r) for r in v] for k, v in data.items() if isinstance(v, list)}


def image_environment(uri: str) -> ImageEnvironment:
    """The requirements of the environment for executor image `uri`."""
    name = image_name(uri)
    for pattern, requirements in _override().items():
        if re.search(pattern, name):
            return ImageEnvironment(uri, name, (*requirements, *IMAGE_COMMON), OVERRIDE_ENV)
    for regex, framework in _FRAMEWORKS:
        match = regex.match(name)
        if match:
            return ImageEnvironment(uri, name, (framework(match), *IMAGE_COMMON), "the image name")
    return ImageEnvironment(uri, name, IMAGE_COMMON, "an image the sandbox does not know")


# --- linking what the daemon already has ----------------------------------------------------


def _local(req: Requirement) -> metadata.Distribution | None:
    """The daemon's distribution satisfying `req`, if it has one."""
    try:
        dist = metadata.distribution(req.name)
    except metadata.PackageNotFoundError:
        return None
    if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
        return None
    return dist


def _closure(
    roots: Iterable[metadata.Distribution],
) -> tuple[list[metadata.Distribution], list[str]]:
    """The roots and every distribution they need (installed here), and what is missing."""
    seen: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    todo = list(roots)
    while todo:
        dist = todo.pop()
        name = canonicalize_name(dist.metadata["Name"])
        if name in seen:
            continue
        seen[name] = dist
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            found = _local(req)
            if found is None:
                missing.append(str(req))
            else:
                todo.append(found)
    return list(seen.values()), missing


def _relative_files(dist: metadata.Distribution) -> list[tuple[str, ...]]:
    """The dist's files inside site-packages, as path parts (scripts outside are left out)."""
    out = []
    for file in dist.files or ():
        parts = Path(str(file)).parts
        if parts and parts[0] != ".." and not Path(str(file)).is_absolute():
            out.append(parts)
    return out


def _link(dists: Sequence[metadata.Distribution], view: Path) -> int:
    """Link the files of `dists` (as their RECORDs list them) into `view`; the links made.

    A folder that only these distributions own (`tensorflow/`) is one link; a folder shared
    with others (the `google/` namespace) is entered, so their packages stay out of view.
    """
    wanted = {canonicalize_name(d.metadata["Name"]): d for d in dists}
    owned_elsewhere: set[tuple[str, ...]] = set()  # folders holding files of other dists
    for dist in metadata.distributions():
        if canonicalize_name(dist.metadata["Name"] or "") in wanted:
            continue
        for parts in _relative_files(dist):
            for depth in range(1, len(parts)):
                owned_elsewhere.add(parts[:depth])
    count = 0
    done: set[tuple[str, ...]] = set()
    for dist in wanted.values():
        for parts in _relative_files(dist):
            prefix = parts
            for depth in range(1, len(parts)):
                if parts[:depth] not in owned_elsewhere:
                    prefix = parts[:depth]
                    break
            if prefix in done:
                continue
            done.add(prefix)
            source = Path(str(dist.locate_file(Path(*prefix))))
            target = view.joinpath(*prefix)
            if not source.exists() or target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source)
            count += 1
    return count


# --- venvs and pip ---------------------------------------------------------------------------


def base_python() -> str:
    """The interpreter the daemon's venv was made from (never the venv itself)."""
    return str(getattr(sys, "_base_executable", "") or sys.executable)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python*/site-packages"))
    if not found:
        raise ExecutorError(f"The environment {venv} has no site-packages folder.")
    return found[0]


# What pip needs from the daemon's environment to reach a package index (its own settings,
# proxies, certificates, caches) — and nothing else: installing a job's package runs its
# setup.py, the user's code, which must not see the daemon's variables (tokens) either.
_PIP_KEEPS = frozenset(
    {
        "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    }
)  # fmt: skip


def _clean_env() -> dict[str, str]:
    """pip's environment: what it needs of the daemon's, never what would put the daemon's
    packages in view (PYTHONPATH, VIRTUAL_ENV, …) nor the rest of the daemon's variables."""
    drop = ("PIP_TARGET", "PIP_PREFIX", "PIP_USER")
    return {
        k: v
        for k, v in os.environ.items()
        if (k in _PIP_KEEPS or k.startswith("PIP_")) and k not in drop
    }


def _make_venv(venv: Path) -> None:
    result = subprocess.run(
        [base_python(), "-m", "venv", "--without-pip", "--clear", str(venv)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )
    if result.returncode != 0:
        raise ExecutorError(f"Could not create a Python environment: {_last_line(result.stderr)}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    return (errors or lines or ["no output"])[-1]


def pip_install(venv: Path, args: Sequence[str], what: str) -> None:
    """`pip install ARGS` into `venv` (the daemon's pip, aimed at the venv's interpreter)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(_venv_python(venv)),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-warn-script-location",
        *args,
    ]
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, env=_clean_env(), timeout=PIP_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise ExecutorError(
            f"Could not install {what}: pip ran longer than {PIP_TIMEOUT} s."
        ) from None
    if result.returncode != 0:
        output = result.stderr + result.stdout
        reason = _last_line(output).removeprefix("ERROR: ")
        if "(from versions: none)" in output:
            reason += " (no package registry offered it: offline?)"
        raise ExecutorError(f"Could not install {what}: {reason}")


# --- preparing ---------------------------------------------------------------------------------

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def prepare_image(root: Path, env: ImageEnvironment, say: Say) -> Path:
    """The image layer's venv, created on first use (blocking; run it in a thread)."""
    folder = root / env.key
    venv = folder / "base"
    marker = folder / "ready.json"
    with _lock(str(folder)):
        if marker.is_file():
            say(f"Using the prepared environment of image {env.name}.")
            return venv
        python = f"Python {sys.version_info[0]}.{sys.version_info[1]}"
        say(
            f"Preparing image {env.name} ({', '.join(env.requirements)}; from {env.source}) "
            f"with the sandbox's {python}."
        )
        _make_venv(venv)
        linked: list[metadata.Distribution] = []
        to_install: list[str] = []
        for text in env.requirements:
            req = Requirement(text)
            dist = _local(req)
            if dist is None:
                to_install.append(text)
            else:
                linked.append(dist)
        closure, missing = _closure(linked)
        if closure:
            view = folder / "linked"
            count = _link(closure, view)
            (_site_packages(venv) / "_cloudpane_linked.pth").write_text(f"{view}\n")
            roots = ", ".join(f"{d.metadata['Name']} {d.version}" for d in linked)
            say(f"Linked {roots} and {len(closure) - len(linked)} dependencies ({count} links).")
        to_install += [m for m in missing if m not in to_install]
        if to_install:
            say(f"Installing {', '.join(to_install)} …")
            pip_install(venv, to_install, " ".join(to_install) + f" for image {env.name}")
        make_tree_private(folder)  # venv and pip copy files with their 0644 modes
        marker.write_text(json.dumps({"image": env.image, "requirements": env.requirements}))
        say(f"Image {env.name} is ready.")
        return venv


def prepare_packages(root: Path, env: ImageEnvironment, archives: Sequence[Path], say: Say) -> Path:
    """A venv over the image layer with `archives` installed; its python (blocking).

    One per set of archives, reused: the trials of a study and re-runs share it.
    """
    image_venv = prepare_image(root, env, say)
    digest = hashlib.sha256()
    for archive in archives:
        data = archive.read_bytes()
        if archive.name.endswith((".tar.gz", ".tgz")):
            # gzip stamps the time it compressed: the same package must hash the same.
            with contextlib.suppress(OSError, EOFError):
                data = gzip.decompress(data)
        digest.update(archive.name.encode() + b"\0" + data)
    folder = root / env.key / "packages" / digest.hexdigest()[:16]
    marker = folder / "ready"
    with _lock(str(folder)):
        if not marker.is_file():
            names = ", ".join(a.name for a in archives)
            say(f"Installing {names} into image {env.name} …")
            _make_venv(folder)
            site = _site_packages(image_venv)
            (_site_packages(folder) / "_cloudpane_image.pth").write_text(
                f"import site; site.addsitedir({str(site)!r})\n"
            )
            pip_install(folder, ["--no-build-isolation", *map(str, archives)], names)
            make_tree_private(folder)  # venv and pip copy files with their 0644 modes
            marker.write_text("ok\n")
        return _venv_python(folder)
