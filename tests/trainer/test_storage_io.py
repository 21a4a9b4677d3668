"""Remote outputs are staged locally and uploaded; remote data and backups come back down.

``ram://`` (TensorFlow's in-memory filesystem) stands in for any filesystem tf.io.gfile
serves; gs:// goes to the cloudpane sandbox's Cloud Storage through google-cloud-storage, as it
does on Vertex AI when TensorFlow has no GCS filesystem.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from trainer_testing import TINY, run_trainer

from trainer import storage_io

tf = pytest.importorskip("tensorflow")


def _ram() -> str:
    return f"ram://trainer-test-{uuid.uuid4().hex}"


def test_local_destination_is_written_in_place(tmp_path: Path) -> None:
    out = storage_io.OutputDir(str(tmp_path / "model"))
    assert out.local == tmp_path / "model" and out.local.is_dir()
    (out.local / "a.txt").write_text("x")
    assert out.sync() == 0  # nothing to upload
    out.cleanup()
    assert (tmp_path / "model" / "a.txt").exists()  # never deleted


def test_remote_destination_is_staged_synced_and_restored() -> None:
    target = _ram()
    out = storage_io.OutputDir(target)
    assert out.local.is_dir() and not str(out.local).startswith("ram:")
    (out.local / "backup").mkdir()
    (out.local / "backup" / "latest.weights.h5").write_bytes(b"w1")
    (out.local / "best.weights.h5").write_bytes(b"b")
    assert out.sync() == 2
    assert out.sync() == 0  # unchanged files are not sent again
    (out.local / "backup" / "latest.weights.h5").write_bytes(b"w2-longer")
    assert out.sync() == 1
    assert tf.io.gfile.GFile(f"{target}/backup/latest.weights.h5", "rb").read() == b"w2-longer"

    again = storage_io.OutputDir(target)  # a restarted job
    assert again.restore("backup") == 1
    assert (again.local / "backup" / "latest.weights.h5").read_bytes() == b"w2-longer"
    assert not (again.local / "best.weights.h5").exists()  # only the asked-for part

    out.remove_remote("backup")
    assert storage_io.GfileStore().list_files(f"{target}/backup") == []
    assert storage_io.GfileStore().list_files(target) == [f"{target}/best.weights.h5"]
    out.cleanup()
    again.cleanup()
    assert not out.local.exists()


def test_non_publishing_worker_writes_privately(tmp_path: Path) -> None:
    out = storage_io.OutputDir(str(tmp_path / "shared"), publish=False)
    assert out.local != tmp_path / "shared"
    (out.local / "model.keras").write_bytes(b"m")
    assert out.sync() == 0
    out.cleanup()
    assert not (tmp_path / "shared" / "model.keras").exists()


def test_paths_and_uris() -> None:
    assert storage_io.is_remote("gs://b/x") and storage_io.is_remote("ram://x")
    assert not storage_io.is_remote("/tmp/x") and not storage_io.is_remote("file:///tmp/x")
    assert storage_io.local_path("file:///tmp/x") == "/tmp/x"
    assert storage_io.join("gs://b/", "/a/", "b") == "gs://b/a/b"


@pytest.mark.parametrize("variable", ["STORAGE_EMULATOR_HOST", "API_ENDPOINT_OVERRIDE"])
def test_emulator_routes_gs_through_google_cloud_storage(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://127.0.0.1:9")
    assert not storage_io.tensorflow_reads_gcs()
    if variable == "API_ENDPOINT_OVERRIDE":
        return  # its client needs the ADC that comes with it (test below)
    assert isinstance(storage_io.store_for("gs://b/x"), storage_io.GcsClientStore)
    assert isinstance(storage_io.store_for("ram://x"), storage_io.GfileStore)


def test_bad_gs_uri_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    with pytest.raises(storage_io.StorageError, match="has no bucket name"):
        storage_io.GcsClientStore().list_files("gs:///x")


# ------------------------------------------------------------ the sandbox's Cloud Storage


@pytest.fixture
def gcs_env(clean_sandbox: Any, sandbox_info: Any) -> dict[str, str]:
    """What `cloudpane sandbox env` prints (the owner's ADC and the endpoint)."""
    from google.cloud import storage  # type: ignore[attr-defined]

    from tui.sandbox.tool_env import tool_env

    client = storage.Client(
        project=sandbox_info.project,
        credentials=clean_sandbox.credentials,
        client_options={"api_endpoint": sandbox_info.url},
    )
    client.create_bucket("trainer-bucket", location="us-central1")
    return tool_env(sandbox_info.url, sandbox_info.project, sandbox_info.data_dir)


def test_gcs_client_store_round_trip(
    gcs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in gcs_env.items():
        monkeypatch.setenv(key, value)
    store = storage_io.store_for("gs://trainer-bucket/x")
    assert isinstance(store, storage_io.GcsClientStore)
    (tmp_path / "f.bin").write_bytes(b"payload")
    store.upload(tmp_path / "f.bin", "gs://trainer-bucket/dir/sub/f.bin")
    assert store.list_files("gs://trainer-bucket/dir") == ["gs://trainer-bucket/dir/sub/f.bin"]
    assert storage_io.download_tree("gs://trainer-bucket/dir", tmp_path / "down", store) == 1
    assert (tmp_path / "down" / "sub" / "f.bin").read_bytes() == b"payload"
    store.delete("gs://trainer-bucket/dir/sub/f.bin")
    store.delete("gs://trainer-bucket/dir/sub/f.bin")  # already gone: fine
    assert store.list_files("gs://trainer-bucket/dir") == []
    with pytest.raises(storage_io.StorageError, match="cannot read gs://trainer-bucket/none"):
        store.download("gs://trainer-bucket/none", tmp_path / "none")


def test_trainer_exports_to_and_trains_from_gs_in_the_sandbox(
    gcs_env: dict[str, str], clean_sandbox: Any, tmp_path: Path
) -> None:
    from google.cloud import storage  # type: ignore[attr-defined]

    export = run_trainer(
        [
            *TINY,
            "--export-data=gs://trainer-bucket/depth",
            "--train-examples=16",
            "--val-examples=8",
        ],
        tmp_path,
        gcs_env,
        timeout=120,
    )
    assert export.returncode == 0, export.stderr[-3000:]
    out = "gs://trainer-bucket/job"
    proc = run_trainer(
        [
            *TINY,
            "--data=gs://trainer-bucket/depth",
            "--epochs=1",
            f"--model-dir={out}/model",
            f"--checkpoint-dir={out}/checkpoints",
            f"--tensorboard-dir={out}/logs",
        ],
        tmp_path,
        gcs_env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "train_examples=16 val_examples=8" in proc.stdout
    gcs = storage.Client(
        project=gcs_env["GOOGLE_CLOUD_PROJECT"],
        credentials=clean_sandbox.credentials,
        client_options={"api_endpoint": gcs_env["API_ENDPOINT_OVERRIDE"]},
    )
    names = {b.name for b in gcs.list_blobs("trainer-bucket", prefix="job/")}
    for expected in (
        "job/model/saved_model.pb",
        "job/model/model.keras",
        "job/model/metrics.json",
        "job/checkpoints/best.weights.h5",
    ):
        assert expected in names
    assert any(n.startswith("job/logs/validation/events.out.tfevents") for n in names)
    assert not any(n.startswith("job/checkpoints/backup/") for n in names)
    metrics = json.loads(
        gcs.bucket("trainer-bucket").blob("job/model/metrics.json").download_as_bytes()
    )
    assert metrics["validation_examples"] == 8
