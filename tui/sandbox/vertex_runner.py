"""Run a CustomJob's replicas as local processes, the way Vertex AI runs them in containers.

- The trainer package is fetched from the sandbox's own Cloud Storage over its HTTP API (so this
  module needs nothing of the storage module's internals) and unpacked into the job's folder;
  the replica imports it from there (`PYTHONPATH`), run by the interpreter of its executor
  image's environment (executors.py), never the daemon's.
- Each replica is `python -m MODULE ARGS` in its own process group with the environment Vertex
  sets: AIP_MODEL_DIR / AIP_CHECKPOINT_DIR / AIP_TENSORBOARD_LOG_DIR under the base output
  directory, CLOUD_ML_JOB_ID, CLOUD_ML_PROJECT_ID, and CLUSTER_SPEC + TF_CONFIG (loopback ports)
  when the job has several replicas; nothing of the daemon's own environment (guest_env.py),
  and the owner's access to the sandbox through ADC and API_ENDPOINT_OVERRIDE.
- Every line it prints is handed to a callback with its severity as Vertex records it: stdout
  is INFO, stderr is ERROR — whatever the line says of itself (Python logging, absl and
  TensorFlow write to stderr, so on Google their INFO lines are ERROR too; docs/gcp-facts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tui.sandbox.owner import make_tree_private

LineCallback = Callable[[str, str, str], None]  # (task_name, severity, text)

MAX_LINE = 64 * 1024
TF_ROLES = ("chief", "worker", "ps", "evaluator")  # worker pools 0..3 in TF_CONFIG


class PackageError(Exception):
    """The trainer package could not be fetched or unpacked (the job fails with this)."""


# --- packages -------------------------------------------------------------------------------


def split_gs_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise PackageError(f"Package URI {uri!r} is not of the form gs://BUCKET/OBJECT.")
    bucket, name = uri[5:].split("/", 1)
    return bucket, name


def fetch_package(
    base_url: str, uri: str, dest_dir: Path, headers: dict[str, str] | None = None
) -> Path:
    """Download gs://bucket/object from the sandbox's Cloud Storage into dest_dir (blocking).

    `headers` carry the owner's token: Vertex reads the package as the job's service account.
    """
    bucket, name = split_gs_uri(uri)
    url = (
        f"{base_url}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}"
        f"/o/{urllib.parse.quote(name, safe='')}?alt=media"
    )
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / Path(name).name
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as resp, open(target, "wb") as out:
            shutil.copyfileobj(resp, out)
    except urllib.error.HTTPError as exc:
        detail = "not found" if exc.code == 404 else f"HTTP {exc.code}"
        raise PackageError(f"The package {uri} could not be read ({detail}).") from None
    except OSError as exc:
        raise PackageError(f"The package {uri} could not be read ({exc}).") from None
    return target


def _safe_extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        root = dest.resolve()
        for member in tar.getmembers():  # Python < 3.10.12: check paths ourselves
            target = (dest / member.name).resolve()
            if not str(target).startswith(str(root)) or member.issym() or member.islnk():
                raise PackageError(f"{archive.name}: unsafe path {member.name!r} in the archive.")
        tar.extractall(dest)


def unpack_package(archive: Path, dest: Path, module: str) -> Path:
    """Unpack an sdist (.tar.gz) or wheel (.whl/.zip) and return the folder to import from."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
            _safe_extract_tar(archive, dest)
        elif archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if info.filename.startswith("/") or ".." in Path(info.filename).parts:
                        raise PackageError(f"{archive.name}: unsafe path {info.filename!r}.")
                zf.extractall(dest)
        else:
            raise PackageError(
                f"{archive.name} is not a Python package (expected .tar.gz, .whl or .zip)."
            )
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise PackageError(f"{archive.name} could not be unpacked ({exc}).") from None
    make_tree_private(dest)  # archive members keep their 0644 modes otherwise
    top = module.split(".", 1)[0]
    candidates = [dest, *sorted(p for p in dest.iterdir() if p.is_dir())]
    candidates += [c / "src" for c in candidates if (c / "src").is_dir()]
    for folder in candidates:
        if (folder / top).is_dir() or (folder / f"{top}.py").is_file():
            return folder
    raise PackageError(f"{archive.name} does not contain the module {module!r}.")


# --- environment ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def output_dirs(base_output_directory: str) -> dict[str, str]:
    """Vertex AI's layout below baseOutputDirectory.outputUriPrefix."""
    if not base_output_directory:
        return {}
    base = base_output_directory.rstrip("/")
    return {
        "AIP_MODEL_DIR": f"{base}/model/",
        "AIP_CHECKPOINT_DIR": f"{base}/checkpoints/",
        "AIP_TENSORBOARD_LOG_DIR": f"{base}/logs/",
    }


def cluster_env(
    replica_counts: list[int], job_id: str, pool: int, index: int, ports: dict[tuple[int, int], int]
) -> dict[str, str]:
    """CLUSTER_SPEC and TF_CONFIG for replica `index` of worker pool `pool`."""
    addresses = {
        p: [f"127.0.0.1:{ports[(p, i)]}" for i in range(count)]
        for p, count in enumerate(replica_counts)
        if count
    }
    job = json.dumps({"job_id": job_id})
    cluster_spec = {
        "cluster": {f"workerpool{p}": hosts for p, hosts in addresses.items()},
        "environment": "cloud",
        "task": {"type": f"workerpool{pool}", "index": index},
        "job": job,
    }
    tf_config = {
        "cluster": {TF_ROLES[p]: hosts for p, hosts in addresses.items() if p < len(TF_ROLES)},
        "environment": "cloud",
        "task": {"type": TF_ROLES[pool], "index": index},
        "job": job,
    }
    return {"CLUSTER_SPEC": json.dumps(cluster_spec), "TF_CONFIG": json.dumps(tf_config)}


# --- severities -----------------------------------------------------------------------------

# Vertex AI grades a replica's lines by stream only (GoogleCloudPlatform/vertex-ai-samples#242:
# Keras progress bars on stderr show as ERROR), never by their text.
STREAM_SEVERITY = {False: "INFO", True: "ERROR"}  # is_stderr → severity


# --- processes ------------------------------------------------------------------------------


@dataclass
class Replica:
    task_name: str  # workerpool0-0
    proc: asyncio.subprocess.Process
    create_time: float
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    returncode: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait(self) -> int:
        """The exit status, once the process ended and its output was read to the end."""
        code = await self.proc.wait()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.pumps, return_exceptions=True), 5.0)
        self.returncode = code
        return code

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


async def _pump(
    stream: asyncio.StreamReader, task_name: str, is_stderr: bool, on_line: LineCallback
) -> None:
    pending = b""
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if len(pending) > MAX_LINE:  # a very long line without a newline
            lines.append(pending)
            pending = b""
        for raw in lines:
            _emit(raw, task_name, is_stderr, on_line)
    if pending:
        _emit(pending, task_name, is_stderr, on_line)


def _emit(raw: bytes, task_name: str, is_stderr: bool, on_line: LineCallback) -> None:
    # A progress bar redraws with '\r': keep what a terminal would finally show.
    text = raw.decode("utf-8", errors="replace").rstrip("\r").rsplit("\r", 1)[-1]
    if not text.strip():
        return
    severity = STREAM_SEVERITY[is_stderr]
    with contextlib.suppress(Exception):  # a failing listener must not stop the reading
        on_line(task_name, severity, text[:MAX_LINE])


async def start_replica(
    task_name: str,
    module: str,
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    on_line: LineCallback,
    python: str = "",
) -> Replica:
    """Start `python -m module args` in its own process group (`python`: the image's)."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        python or sys.executable,
        "-m",
        module,
        *args,
        cwd=str(cwd),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own group: cancel reaches everything it started
    )
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        created = 0.0
    replica = Replica(task_name, proc, created)
    assert proc.stdout is not None and proc.stderr is not None
    replica.pumps = [
        asyncio.create_task(_pump(proc.stdout, task_name, False, on_line)),
        asyncio.create_task(_pump(proc.stderr, task_name, True, on_line)),
    ]
    return replica


async def stop_replicas(replicas: list[Replica], grace: float = 2.0) -> None:
    """SIGTERM every replica's group, SIGKILL what is left after `grace` seconds."""
    alive = [r for r in replicas if r.proc.returncode is None]
    for replica in alive:
        replica.signal_group(signal.SIGTERM)
    if not alive:
        return
    _, pending = await asyncio.wait([asyncio.create_task(r.wait()) for r in alive], timeout=grace)
    for replica in alive:
        replica.signal_group(signal.SIGKILL)  # also reaches children that outlived the leader
    if pending:
        await asyncio.wait(pending, timeout=5.0)


def kill_stale_group(pid: int, create_time: float) -> bool:
    """Kill a replica's process group left by an earlier daemon (if the pid is still its own)."""
    try:
        if abs(psutil.Process(pid).create_time() - create_time) > 0.01:
            return False
    except psutil.Error:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return True
