"""StorageService against the sandbox: buckets, pages, transfers, permissions, refusals."""

from __future__ import annotations

import asyncio
import os
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from tui.sandbox import daemon
from tui.services.clients import Backend
from tui.services.errors import Conflict, InvalidArgument, NoCredentials, NotFound
from tui.services.storage import (
    LOCATIONS,
    STORAGE_CLASSES,
    StorageService,
    price_per_gb_month,
)
from tui.services.storage_models import (
    NOT_PUBLIC,
    PUBLIC,
    SUBJECT_TO_ACLS,
    AclEntry,
    BucketNotEmpty,
    CannotSign,
    PublicAccessPrevented,
    TransferProgress,
    UniformAccessEnabled,
)


@pytest.fixture
def svc(clean_sandbox: Backend) -> StorageService:
    return StorageService(clean_sandbox)


def anon_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "data/a.txt": b"alpha\n",
        "data/sub/b.bin": os.urandom(3000),
        "data/sub/deeper/c.json": b"{}",
        "data/empty.txt": b"",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


# --- buckets ---------------------------------------------------------------------------------


async def test_buckets_create_list_delete(svc: StorageService) -> None:
    made = await svc.create_bucket("ml-data", "us-central1", "NEARLINE", uniform_access=False)
    assert made.storage_class == "NEARLINE" and made.public == SUBJECT_TO_ACLS
    await svc.create_bucket("locked", "EU", public_access_prevention="enforced")
    buckets = {b.name: b for b in await svc.list_buckets()}
    assert buckets["ml-data"].location == "US-CENTRAL1"
    assert buckets["ml-data"].location_type == "region"
    assert buckets["ml-data"].uniform_access is False
    assert buckets["locked"].public == NOT_PUBLIC
    assert buckets["locked"].public_access_prevention == "enforced"
    assert buckets["locked"].location_type == "multi-region"
    with pytest.raises(Conflict):
        await svc.create_bucket("ml-data", "us-central1")
    assert await svc.delete_bucket("locked") == 0
    assert [b.name for b in await svc.list_buckets()] == ["ml-data"]


async def test_bucket_name_refused_with_reason(svc: StorageService) -> None:
    with pytest.raises(InvalidArgument) as err:
        await svc.create_bucket("My_Bucket", "us-central1")
    assert "lowercase" in err.value.message
    with pytest.raises(InvalidArgument, match="storage class"):
        await svc.create_bucket("fine-name", "us-central1", "GLACIER")


async def test_delete_non_empty_bucket_needs_consent(svc: StorageService) -> None:
    await svc.create_bucket("full", "us-central1")
    gcs = svc.client()
    for i in range(5):
        gcs.bucket("full").blob(f"f/{i}").upload_from_string(b"x")
    with pytest.raises(BucketNotEmpty) as err:
        await svc.delete_bucket("full")
    assert err.value.count == 5 and "5 objects" in err.value.message
    assert await svc.delete_bucket("full", delete_objects=True) == 5
    assert await svc.list_buckets() == []


def test_catalog_prices_and_locations() -> None:
    assert set(STORAGE_CLASSES) == {"STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"}
    assert price_per_gb_month("standard", "us-central1") == 0.020
    assert price_per_gb_month("ARCHIVE", "US") < price_per_gb_month("COLDLINE", "US")
    kinds = {loc.kind for loc in LOCATIONS}
    assert kinds == {"region", "dual-region", "multi-region"}
    assert {"NAM4", "EUR4", "US", "EU", "ASIA"} <= {loc.code for loc in LOCATIONS}


# --- objects ---------------------------------------------------------------------------------


async def test_list_page_folders_and_tokens(svc: StorageService) -> None:
    await svc.create_bucket("pages", "us-central1")
    bucket = svc.client().bucket("pages")
    for i in range(7):
        bucket.blob(f"logs/{i}.txt").upload_from_string(b"l")
    bucket.blob("readme.md").upload_from_string(b"r")
    bucket.blob("models/m.bin").upload_from_string(b"m")
    top = await svc.list_page("pages")
    assert top.folders == ("logs/", "models/") and [b.name for b in top.blobs] == ["readme.md"]
    assert top.next_token is None
    first = await svc.list_page("pages", prefix="logs/", page_size=3)
    assert [b.basename for b in first.blobs] == ["0.txt", "1.txt", "2.txt"]
    names = [b.name for b in first.blobs]
    token = first.next_token
    while token:
        page = await svc.list_page("pages", prefix="logs/", page_size=3, page_token=token)
        names += [b.name for b in page.blobs]
        token = page.next_token
    assert names == [f"logs/{i}.txt" for i in range(7)]
    with pytest.raises(NotFound):
        await svc.list_page("no-such-bucket")


async def test_details_public_url_and_delete_many(svc: StorageService, sandbox: Backend) -> None:
    await svc.create_bucket("details", "us-central1", uniform_access=False)
    blob = svc.client().bucket("details").blob("x/y.txt")
    blob.upload_from_string(b"hello", content_type="text/plain")
    info = await svc.blob_details("details", "x/y.txt")
    assert info.size == 5 and info.content_type == "text/plain" and info.md5 and info.crc32c
    assert info.generation > 0 and info.public_url is None
    url = await svc.make_public("details", "x/y.txt")
    assert url == f"{sandbox.endpoint}/details/x/y.txt"
    assert (await svc.blob_details("details", "x/y.txt")).public_url == url
    assert anon_get(url) == (200, b"hello")
    await svc.make_private("details", "x/y.txt")
    assert anon_get(url)[0] == 403
    svc.client().bucket("details").blob("x/z.txt").upload_from_string(b"z")
    gone = await svc.delete_objects("details", ["x/y.txt", "x/z.txt", "never-existed"])
    assert sorted(gone) == ["never-existed", "x/y.txt", "x/z.txt"]
    assert (await svc.list_page("details", prefix="x/")).blobs == ()
    with pytest.raises(NotFound):
        await svc.blob_details("details", "x/y.txt")


# --- uploads ---------------------------------------------------------------------------------


async def test_upload_folder_with_progress(svc: StorageService, tmp_path: Path) -> None:
    files = make_tree(tmp_path)
    await svc.create_bucket("uploads", "us-central1")
    events: list[TransferProgress] = []
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def progress(event: TransferProgress) -> None:
        threads.add(threading.get_ident())
        events.append(event)

    result = await svc.upload("uploads", [tmp_path / "data"], "in/", progress=progress, parallel=4)
    assert result.ok and result.bytes == sum(len(v) for v in files.values())
    assert set(result.uploaded) == {f"in/{k}" for k in files}
    await asyncio.sleep(0.05)  # let the last call_soon_threadsafe callbacks run
    assert threads == {loop_thread}  # the UI can touch widgets from the callback
    done = [e for e in events if e.state == "done"]
    assert len(done) == 4 and done[-1].files_done == 4 == done[-1].files_total
    assert events[-1].bytes_done == events[-1].bytes_total == result.bytes
    gcs = svc.client()
    for rel, content in files.items():
        assert gcs.bucket("uploads").blob(f"in/{rel}").download_as_bytes() == content


async def test_upload_never_overwrites_silently(svc: StorageService, tmp_path: Path) -> None:
    await svc.create_bucket("exists", "us-central1")
    local = tmp_path / "model.txt"
    local.write_bytes(b"new")
    blob = svc.client().bucket("exists").blob("m/model.txt")
    blob.upload_from_string(b"old")

    refused = await svc.upload("exists", local, "m/", on_exists="error")
    assert "m/model.txt" in refused.failed and "already exists" in refused.failed["m/model.txt"]
    assert blob.download_as_bytes() == b"old"

    skipped = await svc.upload("exists", local, "m/", on_exists="skip")
    assert skipped.skipped == ("m/model.txt",) and blob.download_as_bytes() == b"old"

    renamed = await svc.upload("exists", local, "m", on_exists="rename")
    assert renamed.renamed == {"m/model.txt": "m/model (1).txt"}
    again = await svc.upload("exists", local, "m", on_exists="rename")
    assert again.uploaded == ("m/model (2).txt",)
    assert svc.client().bucket("exists").blob("m/model (1).txt").download_as_bytes() == b"new"

    over = await svc.upload("exists", local, "m/", on_exists="overwrite")
    assert over.uploaded == ("m/model.txt",)
    current = svc.client().bucket("exists").blob("m/model.txt")
    assert current.download_as_bytes() == b"new"


async def test_upload_large_file_resumable_in_chunks(svc: StorageService, tmp_path: Path) -> None:
    data = os.urandom(20 * 1024 * 1024 + 17)  # > 8 MiB: resumable, 2 chunks of 16 MiB
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    await svc.create_bucket("large", "us-central1")
    events: list[TransferProgress] = []
    result = await svc.upload("large", path, "", progress=events.append)
    assert result.ok, result.failed
    await asyncio.sleep(0.05)
    partial = [e.file_bytes for e in events if e.state == "progress"]
    assert partial and min(partial) < len(data)  # reported before the end
    info = await svc.blob_details("large", "big.bin")
    assert info.size == len(data)


async def test_upload_errors_are_reported_per_file(svc: StorageService, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InvalidArgument, match="not a file or folder"):
        await svc.upload("whatever", tmp_path / "missing", "")
    result = await svc.upload("no-such-bucket", tmp_path / "f.txt", "")
    assert not result.ok and "f.txt" in result.failed


# --- downloads -------------------------------------------------------------------------------


async def test_download_folder_verified(svc: StorageService, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    await svc.create_bucket("down", "us-central1")
    await svc.upload("down", tmp_path / "src" / "data", "project/")
    dest = tmp_path / "dest"
    events: list[TransferProgress] = []
    result = await svc.download("down", "project/data/sub/", dest, progress=events.append)
    assert result.ok, result.failed
    assert sorted(p.relative_to(dest).as_posix() for p in result.downloaded) == [
        "sub/b.bin",
        "sub/deeper/c.json",
    ]
    assert (dest / "sub" / "b.bin").read_bytes() == files["data/sub/b.bin"]
    single = await svc.download("down", ["project/data/a.txt"], dest)
    assert single.downloaded == (dest / "a.txt",) and (dest / "a.txt").read_bytes() == b"alpha\n"
    # Existing local files: error, skip, rename, overwrite.
    again = await svc.download("down", ["project/data/a.txt"], dest)
    assert "project/data/a.txt" in again.failed
    skipped = await svc.download("down", ["project/data/a.txt"], dest, on_exists="skip")
    assert skipped.skipped == ("project/data/a.txt",)
    renamed = await svc.download("down", ["project/data/a.txt"], dest, on_exists="rename")
    assert renamed.downloaded == (dest / "a (1).txt",)
    assert not list(dest.rglob("*.cloudpane-partial"))
    missing = await svc.download("down", ["project/nope.txt"], dest)
    assert "project/nope.txt" in missing.failed


async def test_download_refuses_unsafe_names(svc: StorageService, tmp_path: Path) -> None:
    await svc.create_bucket("evil", "us-central1")
    bucket = svc.client().bucket("evil")
    for name in ["drop/../../escape.txt", "drop/..", "drop/ok.txt", "drop//etc/passwd"]:
        bucket.blob(name).upload_from_string(b"payload")
    dest = tmp_path / "inside" / "dest"
    result = await svc.download("evil", "drop/", dest)
    assert set(result.failed) == {"drop/../../escape.txt", "drop/.."}
    assert (dest / "drop" / "ok.txt").exists()
    assert (dest / "drop" / "etc" / "passwd").read_bytes() == b"payload"
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and dest not in p.parents]
    assert outside == []


async def test_corrupt_download_never_lands(
    svc: StorageService, sandbox_info: daemon.SandboxInfo, tmp_path: Path
) -> None:
    await svc.create_bucket("rot", "us-central1")
    blob = svc.client().bucket("rot").blob("weights.bin")
    blob.upload_from_string(os.urandom(4096))
    # Bit rot in the sandbox's own storage: the served bytes no longer match their CRC32C.
    stored = sandbox_info.data_dir / "blobs" / "gcs" / "objects" / "rot" / str(blob.generation)
    stored.write_bytes(b"\x00" * 4096)
    result = await svc.download("rot", ["weights.bin"], tmp_path)
    assert "weights.bin" in result.failed
    assert "do not match the CRC32C" in str(result.failed["weights.bin"])
    assert list(tmp_path.iterdir()) == []  # no final file, no partial file


# --- permissions -----------------------------------------------------------------------------


async def test_iam_members(svc: StorageService) -> None:
    await svc.create_bucket("team", "us-central1")
    role = "roles/storage.objectViewer"
    policy = await svc.add_iam_member("team", "user:ana@example.com", role)
    assert any(b.role == role and "user:ana@example.com" in b.members for b in policy)
    policy = await svc.add_iam_member("team", "group:ml@example.com", role)
    viewers = next(b for b in policy if b.role == role)
    assert viewers.members == ("group:ml@example.com", "user:ana@example.com")
    policy = await svc.remove_iam_member("team", "user:ana@example.com", role)
    assert next(b for b in policy if b.role == role).members == ("group:ml@example.com",)
    with pytest.raises(InvalidArgument, match="not a principal"):
        await svc.add_iam_member("team", "ana@example.com", role)
    with pytest.raises(InvalidArgument):
        await svc.add_iam_member("team", "user:ana@example.com", "objectViewer")


async def test_object_acl_entries(svc: StorageService) -> None:
    await svc.create_bucket("acls", "us-central1", uniform_access=False)
    svc.client().bucket("acls").blob("o.txt").upload_from_string(b"o")
    entries = await svc.add_object_acl("acls", "o.txt", "user:bo@example.com", "READER")
    assert AclEntry("user-bo@example.com", "READER") in entries
    assert AclEntry("user-bo@example.com", "READER") in await svc.get_object_acl("acls", "o.txt")
    entries = await svc.remove_object_acl("acls", "o.txt", "user-bo@example.com")
    assert all(e.entity != "user-bo@example.com" for e in entries)
    with pytest.raises(InvalidArgument):
        await svc.add_object_acl("acls", "o.txt", "bo@example.com")


async def test_uniform_access_explains_and_offers_bucket_grant(
    svc: StorageService, sandbox: Backend
) -> None:
    await svc.create_bucket("uniform", "us-central1", uniform_access=True)
    svc.client().bucket("uniform").blob("a.txt").upload_from_string(b"a")
    with pytest.raises(UniformAccessEnabled) as err:
        await svc.make_public("uniform", "a.txt")
    assert "uniform bucket-level access" in err.value.message
    assert "whole bucket" in err.value.hint
    with pytest.raises(UniformAccessEnabled):
        await svc.get_object_acl("uniform", "a.txt")
    with pytest.raises(UniformAccessEnabled):
        await svc.make_private("uniform", "a.txt")
    statement = await svc.describe_bucket_exposure("uniform")
    assert "Anyone on the internet" in statement and "1 object " in statement
    assert await svc.make_bucket_public("uniform") == statement
    assert anon_get(f"{sandbox.endpoint}/uniform/a.txt") == (200, b"a")
    assert {b.name: b.public for b in await svc.list_buckets()}["uniform"] == PUBLIC
    await svc.make_bucket_private("uniform")
    assert anon_get(f"{sandbox.endpoint}/uniform/a.txt")[0] == 403


async def test_public_access_prevention_explains(svc: StorageService) -> None:
    await svc.create_bucket(
        "sealed", "us-central1", uniform_access=False, public_access_prevention="enforced"
    )
    svc.client().bucket("sealed").blob("s.txt").upload_from_string(b"s")
    with pytest.raises(PublicAccessPrevented) as err:
        await svc.make_public("sealed", "s.txt")
    assert "public access prevention" in err.value.message
    with pytest.raises(PublicAccessPrevented):
        await svc.make_bucket_public("sealed")
    with pytest.raises(PublicAccessPrevented):
        await svc.add_iam_member("sealed", "allUsers", "roles/storage.objectViewer")


async def test_signed_url_needs_signing_credentials(svc: StorageService) -> None:
    with pytest.raises(CannotSign, match="cannot sign URLs"):
        await svc.signed_url("any", "thing", timedelta(hours=1))
    with pytest.raises(InvalidArgument):
        await svc.signed_url("any", "thing", timedelta(days=8))


# --- backends and reliability --------------------------------------------------------------------


def test_google_backend_uses_google_endpoint() -> None:
    google = StorageService(Backend("real-project", AnonymousCredentials()))
    assert google.client().api_endpoint == "https://storage.googleapis.com"
    assert google.public_url("b", "a b/c.txt") == "https://storage.googleapis.com/b/a%20b/c.txt"


async def test_google_backend_without_credentials_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata-server probe on this machine
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    with pytest.raises(NoCredentials):
        await StorageService(Backend("adc-project", None)).list_buckets()


async def test_reads_retry_through_faults(svc: StorageService, faults: Any) -> None:
    await svc.create_bucket("flaky", "us-central1")
    faults(fail_next=2, codes=[503])
    assert [b.name for b in await svc.list_buckets()] == ["flaky"]
