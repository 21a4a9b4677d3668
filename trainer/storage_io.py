"""All of the trainer's remote I/O, behind one small interface.

The trainer never writes to a remote URI directly. Outputs go to a local folder first and are
uploaded from there (after each epoch for checkpoints and TensorBoard logs, at the end for the
model); remote checkpoints are downloaded before training so that a restarted job resumes.
This keeps every Keras callback on a plain local path, whatever the TensorFlow build supports.

Which client moves the bytes:

* ``gs://`` with ``API_ENDPOINT_OVERRIDE`` (the cloudpane sandbox: its endpoint, with the
  credentials it gives its jobs) or ``STORAGE_EMULATOR_HOST`` set — google-cloud-storage, which
  honours both; TensorFlow's own GCS filesystem does not.
* ``gs://`` where TensorFlow has no ``gs`` filesystem — google-cloud-storage (Application
  Default Credentials, as on Vertex AI).
* any other URI TensorFlow can open (``gs://`` on builds that have it, ``ram://``, local paths)
  — ``tf.io.gfile``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
ENDPOINT_ENV = "API_ENDPOINT_OVERRIDE"


class StorageError(Exception):
    """A remote read or write failed; the message names the URI."""


def is_remote(path: str) -> bool:
    """True for a URI with a scheme other than file:// (gs://, ram://, ...)."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> str:
    """A plain filesystem path for a local location (file:// stripped)."""
    return path[len("file://") :] if path.startswith("file://") else path


def join(base: str, *parts: str) -> str:
    """Join URI or path segments with '/' (os.path.join is wrong for gs://)."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def _split_gs(uri: str) -> tuple[str, str]:
    rest = uri[len("gs://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StorageError(f"{uri!r} has no bucket name; expected gs://BUCKET/PATH")
    return bucket, prefix


def tensorflow_reads_gcs() -> bool:
    """Whether tf.io.gfile (and so tf.data) can open gs:// paths itself."""
    if os.environ.get(EMULATOR_ENV) or os.environ.get(ENDPOINT_ENV):
        return False
    import tensorflow as tf

    schemes = getattr(tf.io.gfile, "get_registered_schemes", None)
    # Builds too old to say are the ones that still bundle the GCS filesystem.
    return True if schemes is None else "gs" in schemes()


class Store(Protocol):
    """Moves whole files between a remote URI and the local disk."""

    def list_files(self, prefix: str) -> list[str]: ...
    def download(self, uri: str, local: Path) -> None: ...
    def upload(self, local: Path, uri: str) -> None: ...
    def delete(self, uri: str) -> None: ...


class GfileStore:
    """tf.io.gfile: any filesystem TensorFlow has registered."""

    def list_files(self, prefix: str) -> list[str]:
        import tensorflow as tf

        if not tf.io.gfile.isdir(prefix):
            return [prefix] if tf.io.gfile.exists(prefix) else []
        files: list[str] = []
        for root, _dirs, names in tf.io.gfile.walk(prefix):
            files.extend(join(root, name) for name in names)
        return sorted(files)

    def download(self, uri: str, local: Path) -> None:
        import tensorflow as tf

        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            tf.io.gfile.copy(uri, str(local), overwrite=True)
        except tf.errors.OpError as exc:
            raise StorageError(f"cannot read {uri}: {exc.message}") from exc

    def upload(self, local: Path, uri: str) -> None:
        import tensorflow as tf

        try:
            tf.io.gfile.makedirs(uri.rsplit("/", 1)[0])
            # Remove first: some filesystems (ram://) append on an overwriting copy.
            if tf.io.gfile.exists(uri):
                tf.io.gfile.remove(uri)
            tf.io.gfile.copy(str(local), uri)
        except tf.errors.OpError as exc:
            raise StorageError(f"cannot write {uri}: {exc.message}") from exc

    def delete(self, uri: str) -> None:
        import tensorflow as tf

        if tf.io.gfile.exists(uri):
            tf.io.gfile.remove(uri)


class GcsClientStore:
    """google-cloud-storage: real Cloud Storage with ADC, or the emulator named by the env."""

    def __init__(self) -> None:
        from google.cloud import storage  # type: ignore[attr-defined]

        self._client = storage.Client()

    def _blob(self, uri: str):  # type: ignore[no-untyped-def]
        bucket, name = _split_gs(uri)
        return self._client.bucket(bucket).blob(name)

    def list_files(self, prefix: str) -> list[str]:
        from google.api_core import exceptions

        bucket, name = _split_gs(prefix)
        try:
            blobs = self._client.list_blobs(bucket, prefix=name.rstrip("/") + "/" if name else "")
            found = [f"gs://{bucket}/{b.name}" for b in blobs if not b.name.endswith("/")]
            if not found and name and self._blob(prefix).exists():
                found = [prefix]
        except exceptions.GoogleAPIError as exc:
            raise StorageError(f"cannot list {prefix}: {exc}") from exc
        return sorted(found)

    def download(self, uri: str, local: Path) -> None:
        from google.api_core import exceptions

        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._blob(uri).download_to_filename(str(local))
        except exceptions.GoogleAPIError as exc:
            raise StorageError(f"cannot read {uri}: {exc}") from exc

    def upload(self, local: Path, uri: str) -> None:
        from google.api_core import exceptions

        try:
            self._blob(uri).upload_from_filename(str(local))
        except exceptions.GoogleAPIError as exc:
            raise StorageError(f"cannot write {uri}: {exc}") from exc

    def delete(self, uri: str) -> None:
        from google.api_core import exceptions

        try:
            self._blob(uri).delete()
        except exceptions.NotFound:
            pass
        except exceptions.GoogleAPIError as exc:
            raise StorageError(f"cannot delete {uri}: {exc}") from exc


def store_for(uri: str) -> Store:
    """The client that should handle ``uri`` (see the module docstring)."""
    if uri.startswith("gs://") and not tensorflow_reads_gcs():
        return GcsClientStore()
    return GfileStore()


def download_tree(uri: str, local_dir: Path, store: Store | None = None) -> int:
    """Copy every file under ``uri`` into ``local_dir`` (same relative layout); returns count."""
    store = store or store_for(uri)
    files = store.list_files(uri)
    base = uri.rstrip("/")
    for remote in files:
        rel = remote[len(base) :].lstrip("/") or remote.rsplit("/", 1)[-1]
        store.download(remote, local_dir / rel)
    return len(files)


@dataclass
class OutputDir:
    """A destination folder that callbacks write to as a local path.

    A local destination is written in place. A remote one (or any destination of a worker
    that must not publish, such as a non-chief worker under MultiWorkerMirroredStrategy) gets
    a private local folder that ``sync()`` uploads when ``publish`` is true.
    """

    target: str
    publish: bool = True
    local: Path = field(init=False)
    _staged: bool = field(init=False, default=False)
    _sent: dict[str, tuple[int, int]] = field(init=False, default_factory=dict)
    _store: Store | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if is_remote(self.target) or not self.publish:
            self._staged = True
            self.local = Path(tempfile.mkdtemp(prefix="trainer-stage-"))
        else:
            self.local = Path(local_path(self.target))
            self.local.mkdir(parents=True, exist_ok=True)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = store_for(self.target)
        return self._store

    def restore(self, subdir: str = "") -> int:
        """Bring down what the destination already holds (e.g. a backup), for staged folders."""
        if not self._staged:
            return 0
        src = join(self.target, subdir) if subdir else self.target
        if not is_remote(src):
            src_path = Path(local_path(src))
            if not src_path.exists():
                return 0
            dest = self.local / subdir if subdir else self.local
            shutil.copytree(src_path, dest, dirs_exist_ok=True)
            return sum(1 for p in dest.rglob("*") if p.is_file())
        return download_tree(src, self.local / subdir if subdir else self.local, self.store)

    def sync(self) -> int:
        """Upload files that are new or changed since the last sync; returns how many."""
        if not (self._staged and self.publish):
            return 0
        sent = 0
        for path in sorted(p for p in self.local.rglob("*") if p.is_file()):
            stat = path.stat()
            key = path.relative_to(self.local).as_posix()
            if self._sent.get(key) == (stat.st_size, stat.st_mtime_ns):
                continue
            self.store.upload(path, join(self.target, key))
            self._sent[key] = (stat.st_size, stat.st_mtime_ns)
            sent += 1
        return sent

    def remove_remote(self, subdir: str) -> None:
        """Delete ``subdir`` at the destination (e.g. the backup once training has finished)."""
        if self._staged and self.publish:
            for uri in self.store.list_files(join(self.target, subdir)):
                self.store.delete(uri)
            self._sent = {k: v for k, v in self._sent.items() if not k.startswith(subdir + "/")}

    def cleanup(self) -> None:
        """Remove the private local folder of a staged destination."""
        if self._staged:
            shutil.rmtree(self.local, ignore_errors=True)
