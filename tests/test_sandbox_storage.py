"""The sandbox's Cloud Storage JSON API, driven by google-cloud-storage itself (and plain HTTP
where a browser or curl would be the client)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import google_crc32c
import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import storage  # type: ignore[attr-defined]

from tui.sandbox import daemon


def b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def b64_crc(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


@pytest.fixture
def gcs(clean_sandbox: Any, sandbox_info: daemon.SandboxInfo) -> storage.Client:
    return storage.Client(
        project=sandbox_info.project,
        credentials=clean_sandbox.credentials,
        client_options={"api_endpoint": sandbox_info.url},
    )


@pytest.fixture
def bucket(gcs: storage.Client) -> storage.Bucket:
    """A fine-grained (ACL) bucket."""
    b = gcs.bucket("test-bucket")
    b.iam_configuration.uniform_bucket_level_access_enabled = False
    return gcs.create_bucket(b, location="us-central1")


@pytest.fixture
def ubla_bucket(gcs: storage.Client) -> storage.Bucket:
    b = gcs.bucket("uniform-bucket")
    b.iam_configuration.uniform_bucket_level_access_enabled = True
    return gcs.create_bucket(b, location="EU")


def anon_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- buckets ---------------------------------------------------------------------------------


def test_bucket_lifecycle(gcs: storage.Client) -> None:
    b = gcs.bucket("my-data_1.v2")
    b.storage_class = "NEARLINE"
    b.iam_configuration.public_access_prevention = "enforced"
    made = gcs.create_bucket(b, location="NAM4")
    assert made.location == "NAM4" and made.location_type == "dual-region"
    assert made.storage_class == "NEARLINE"
    assert made.iam_configuration.public_access_prevention == "enforced"
    assert made.iam_configuration.uniform_bucket_level_access_enabled is False
    gcs.create_bucket("second-bucket", location="US")
    assert [x.name for x in gcs.list_buckets()] == ["my-data_1.v2", "second-bucket"]
    got = gcs.get_bucket("second-bucket")
    assert got.location_type == "multi-region" and got.time_created is not None
    got.labels = {"team": "ml"}
    got.patch()
    assert gcs.get_bucket("second-bucket").labels == {"team": "ml"}
    assert int(gcs.get_bucket("second-bucket").metageneration) == 2
    with pytest.raises(gexc.Conflict):
        gcs.create_bucket("second-bucket")
    gcs.bucket("second-bucket").delete()
    with pytest.raises(gexc.NotFound):
        gcs.get_bucket("second-bucket")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ab", "at least 3"),
        ("Upper-case", "lowercase"),
        ("google-data", "google"),
        ("goog-x", "goog"),
        ("192.168.5.4", "IP address"),
        ("-dash-start", "start and end"),
    ],
)
def test_bucket_name_refused(
    clean_sandbox: Any, sandbox_info: Any, owner_headers: dict[str, str], name: str, reason: str
) -> None:
    # Raw JSON: the client library pre-checks some names itself; the server must too.
    resp = requests.post(
        f"{sandbox_info.url}/storage/v1/b?project=p", json={"name": name}, headers=owner_headers
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert reason in error["message"] and error["errors"][0]["reason"] == "invalid"


def test_bad_location_and_class(gcs: storage.Client) -> None:
    with pytest.raises(gexc.BadRequest, match="location"):
        gcs.create_bucket("some-bucket", location="mars-north1")
    b = gcs.bucket("some-bucket")
    b.storage_class = "FROZEN"
    with pytest.raises(gexc.BadRequest, match="storage class"):
        gcs.create_bucket(b)


def test_non_empty_bucket_refuses_delete(bucket: storage.Bucket) -> None:
    bucket.blob("x").upload_from_string(b"1")
    with pytest.raises(gexc.Conflict, match="not empty"):
        bucket.delete()
    bucket.delete(force=True)  # the library deletes the objects first


# --- uploads and downloads -------------------------------------------------------------------


def test_small_upload_roundtrip_with_hashes(bucket: storage.Bucket) -> None:
    data = b"hello sandbox\n"
    blob = bucket.blob("dir/hello.txt")
    blob.upload_from_string(data, content_type="text/plain")
    assert blob.md5_hash == b64_md5(data) and blob.crc32c == b64_crc(data)
    assert blob.size == len(data) and blob.generation and blob.metageneration == 1
    again = bucket.get_blob("dir/hello.txt")
    assert again is not None and again.content_type == "text/plain"
    assert again.download_as_bytes() == data
    assert again.download_as_bytes(start=6, end=12) == data[6:13]


def test_media_upload_and_download_headers(
    bucket: storage.Bucket, sandbox_info: Any, owner_headers: dict[str, str]
) -> None:
    data = os.urandom(1000)
    url = f"{sandbox_info.url}/upload/storage/v1/b/test-bucket/o?uploadType=media&name=raw%2Fm.bin"
    resp = requests.post(
        url, data=data, headers={"Content-Type": "application/x-test", **owner_headers}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["md5Hash"] == b64_md5(data)
    media = f"{sandbox_info.url}/download/storage/v1/b/test-bucket/o/raw%2Fm.bin?alt=media"
    got = requests.get(media, headers={**owner_headers, "Range": "bytes=-10"})
    assert got.status_code == 206 and got.content == data[-10:]
    assert got.headers["Content-Range"] == "bytes 990-999/1000"
    assert f"md5={b64_md5(data)}" in got.headers["x-goog-hash"]
    assert got.headers["x-goog-generation"] == resp.json()["generation"]
    bad = requests.get(media, headers={**owner_headers, "Range": "bytes=5000-"})
    assert bad.status_code == 416


def test_large_resumable_upload(bucket: storage.Bucket, tmp_path: Any) -> None:
    data = os.urandom(3 * 1024 * 1024 + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    blob = bucket.blob("big.bin", chunk_size=1024 * 1024)  # 4 chunks, resumable
    blob.upload_from_filename(str(path))
    assert blob.md5_hash == b64_md5(data) and blob.size == len(data)
    out = tmp_path / "out.bin"
    bucket.blob("big.bin").download_to_filename(str(out))
    assert out.read_bytes() == data


def test_interrupted_resumable_upload_resumes(
    bucket: storage.Bucket, sandbox_info: Any, owner_headers: dict[str, str]
) -> None:
    import io

    from google.resumable_media.requests import ResumableUpload

    chunk = 256 * 1024
    data = os.urandom(5 * chunk + 1000)
    transport = requests.Session()
    transport.headers.update(owner_headers)
    url = f"{sandbox_info.url}/upload/storage/v1/b/test-bucket/o?uploadType=resumable"
    # No client-side checksum: the client did not send the cut-off bytes itself, so its running
    # CRC would miss them; the server's hashes are checked against the data below instead.
    upload = ResumableUpload(url, chunk, checksum=None)
    stream = io.BytesIO(data)
    upload.initiate(transport, stream, {"name": "resumed.bin"}, "application/octet-stream")
    upload.transmit_next_chunk(transport)
    upload.transmit_next_chunk(transport)
    assert upload.bytes_uploaded == 2 * chunk

    # The third chunk is cut off mid-way: headers promise 256 KiB, 100,000 bytes arrive.
    session = urllib.parse.urlparse(upload.resumable_url)
    target = f"{session.path}?{session.query}"
    with socket.create_connection((session.hostname, session.port)) as sock:
        head = (
            f"PUT {target} HTTP/1.1\r\nHost: {session.netloc}\r\n"
            f"Content-Length: {chunk}\r\n"
            f"Content-Range: bytes {2 * chunk}-{3 * chunk - 1}/{len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[2 * chunk : 2 * chunk + 100_000])
        time.sleep(0.3)
    time.sleep(0.3)

    # Nothing visible yet: a cut-off upload never shows as an object.
    assert bucket.get_blob("resumed.bin") is None
    status = transport.put(upload.resumable_url, headers={"Content-Range": f"bytes */{len(data)}"})
    assert status.status_code == 308
    end = int(status.headers["Range"].split("-")[1])
    assert 2 * chunk - 1 <= end <= 2 * chunk + 100_000 - 1

    upload.recover(transport)  # asks the server how far it got and seeks the stream there
    assert upload.bytes_uploaded == end + 1
    while not upload.finished:
        upload.transmit_next_chunk(transport)
    blob = bucket.get_blob("resumed.bin")
    assert blob is not None and blob.size == len(data) and blob.md5_hash == b64_md5(data)
    assert blob.download_as_bytes() == data


def test_corrupt_uploads_never_become_objects(
    bucket: storage.Bucket, sandbox_info: Any, owner_headers: dict[str, str]
) -> None:
    data = b"payload that will be checked"
    boundary = "BOUNDARY"
    meta = json.dumps({"name": "bad.txt", "crc32c": b64_crc(b"something else")})
    body = (
        (
            f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n"
            f"--{boundary}\r\ncontent-type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--".encode()
    )
    resp = requests.post(
        f"{sandbox_info.url}/upload/storage/v1/b/test-bucket/o?uploadType=multipart",
        data=body,
        headers={"Content-Type": f'multipart/related; boundary="{boundary}"', **owner_headers},
    )
    assert resp.status_code == 400 and "CRC32C" in resp.json()["error"]["message"]
    assert bucket.get_blob("bad.txt") is None

    # Resumable: the final chunk's x-goog-hash does not match what arrived.
    start = requests.post(
        f"{sandbox_info.url}/upload/storage/v1/b/test-bucket/o?uploadType=resumable",
        json={"name": "bad2.txt"},
        headers=owner_headers,
    )
    final = requests.put(
        start.headers["Location"],
        data=data,
        headers={
            "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
            "x-goog-hash": f"md5={b64_md5(b'other')}",
            **owner_headers,
        },
    )
    assert final.status_code == 400 and "MD5" in final.json()["error"]["message"]
    assert bucket.get_blob("bad2.txt") is None


def test_generation_preconditions(bucket: storage.Bucket) -> None:
    blob = bucket.blob("p.txt")
    blob.upload_from_string(b"v1", if_generation_match=0)
    first = blob.generation
    with pytest.raises(gexc.PreconditionFailed):
        bucket.blob("p.txt").upload_from_string(b"v2", if_generation_match=0)
    with pytest.raises(gexc.PreconditionFailed):
        bucket.blob("p.txt").upload_from_string(b"v2", if_generation_match=first + 1)
    bucket.blob("p.txt").upload_from_string(b"v2", if_generation_match=first)
    current = bucket.get_blob("p.txt")
    assert current is not None and current.generation > first
    assert current.download_as_bytes() == b"v2"
    with pytest.raises(gexc.PreconditionFailed):
        current.delete(if_generation_match=first)
    current.metadata = {"k": "v"}
    current.patch(if_metageneration_match=1)
    with pytest.raises(gexc.PreconditionFailed):
        current.patch(if_metageneration_match=1)
    # A resumable upload checks the precondition when it starts.
    big = bucket.blob("p.txt", chunk_size=256 * 1024)
    with pytest.raises(gexc.PreconditionFailed):
        big.upload_from_string(os.urandom(9 * 1024 * 1024), if_generation_match=0)
    # An old generation is gone (no versioning).
    with pytest.raises(gexc.NotFound):
        bucket.blob("p.txt", generation=first).download_as_bytes()


def test_copy_and_rewrite(bucket: storage.Bucket) -> None:
    src = bucket.blob("src.txt")
    src.upload_from_string(b"copy me")
    copied = bucket.copy_blob(src, bucket, "dst.txt")
    assert copied.download_as_bytes() == b"copy me" and copied.md5_hash == src.md5_hash
    token, done, total = bucket.blob("dst2.txt").rewrite(src)
    assert token is None and done == total == 7


# --- listing ---------------------------------------------------------------------------------


def test_listing_prefix_delimiter_and_pages(gcs: storage.Client, bucket: storage.Bucket) -> None:
    names = ["a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "d/4.txt", "e.txt", "f/"]
    names += [f"many/{i:02d}.txt" for i in range(12)]
    for name in names:
        bucket.blob(name).upload_from_string(name.encode())
    flat = [b.name for b in gcs.list_blobs(bucket, page_size=5)]
    assert flat == sorted(names)
    it = gcs.list_blobs(bucket, delimiter="/")
    top = [b.name for b in it]
    assert top == ["a.txt", "e.txt"] and it.prefixes == {"b/", "d/", "f/", "many/"}
    it = gcs.list_blobs(bucket, prefix="b/", delimiter="/")
    assert [b.name for b in it] == ["b/1.txt", "b/2.txt"] and it.prefixes == {"b/c/"}
    # Pages of 3 across a mix of folders and objects: nothing lost or repeated.
    seen: list[str] = []
    it = gcs.list_blobs(bucket, delimiter="/", page_size=3)
    for page in it.pages:
        items = [b.name for b in page]
        assert len(items) + len(page.prefixes) <= 3
        seen += items + sorted(page.prefixes)
    assert sorted(seen) == ["a.txt", "b/", "d/", "e.txt", "f/", "many/"]
    it = gcs.list_blobs(bucket, prefix="many/", page_size=5)
    pages = [[b.name for b in p] for p in it.pages]
    assert [len(p) for p in pages] == [5, 5, 2]
    ranged = gcs.list_blobs(bucket, start_offset="b/2.txt", end_offset="e.txt")
    assert [b.name for b in ranged] == ["b/2.txt", "b/c/3.txt", "d/4.txt"]
    with pytest.raises(gexc.NotFound):
        list(gcs.list_blobs("no-such-bucket"))


def test_seed_hook_writes_objects_directly(gcs: storage.Client, sandbox_info: Any) -> None:
    result = daemon.admin(sandbox_info, "seed", {"objects": 3000, "bucket": "seeded", "folders": 7})
    assert result["storage"] == {"bucket": "seeded", "objects": 3000}
    it = gcs.list_blobs("seeded", delimiter="/", page_size=200)
    page = next(it.pages)
    assert len(list(page)) == 0 and len(page.prefixes) == 7
    started = time.perf_counter()
    it = gcs.list_blobs("seeded", prefix="folder-0003/", page_size=200)
    first = list(next(it.pages))
    assert len(first) == 200 and it.next_page_token
    assert time.perf_counter() - started < 2
    blob = gcs.bucket("seeded").blob(first[0].name)
    assert blob.download_as_bytes() == b"cloudpane sandbox object\n"
    blob.delete()  # shared seed content survives the delete of one object
    assert gcs.bucket("seeded").blob(first[1].name).download_as_bytes()


# --- ACLs, IAM, uniform access, public access prevention ----------------------------------------


def test_object_and_bucket_acls(
    bucket: storage.Bucket, sandbox_info: Any, owner_headers: dict[str, str]
) -> None:
    blob = bucket.blob("acl.txt")
    blob.upload_from_string(b"x")
    blob.acl.reload()
    entities = {e["entity"] for e in blob.acl}
    assert any(e.startswith("project-owners-") for e in entities)
    blob.acl.user("alice@example.com").grant_read()
    blob.acl.save()
    fresh = bucket.blob("acl.txt")
    fresh.acl.reload()
    assert "READER" in fresh.acl.user("alice@example.com").get_roles()
    # The single-entry endpoints.
    base = f"{sandbox_info.url}/storage/v1/b/test-bucket/o/acl.txt/acl"
    session = requests.Session()
    session.headers.update(owner_headers)
    made = session.post(base, json={"entity": "group-team@example.com", "role": "OWNER"})
    assert made.status_code == 200 and made.json()["role"] == "OWNER"
    assert session.delete(f"{base}/group-team@example.com").status_code == 204
    assert session.get(f"{base}/group-team@example.com").status_code == 404
    bad = session.post(base, json={"entity": "nobody", "role": "READER"})
    assert bad.status_code == 400
    bucket.acl.reload()
    bucket.acl.group("team@example.com").grant_read()
    bucket.acl.save()
    again = bucket.client.bucket("test-bucket")
    again.acl.reload()
    assert "READER" in again.acl.group("team@example.com").get_roles()


def test_uniform_access_refuses_acls(ubla_bucket: storage.Bucket) -> None:
    blob = ubla_bucket.blob("u.txt")
    blob.upload_from_string(b"x")
    with pytest.raises(gexc.BadRequest, match="uniform bucket-level access"):
        blob.acl.reload()
    with pytest.raises(gexc.BadRequest, match="uniform bucket-level access"):
        blob.make_public()
    with pytest.raises(gexc.BadRequest, match="uniform bucket-level access"):
        ubla_bucket.blob("v.txt").upload_from_string(b"y", predefined_acl="publicRead")
    with pytest.raises(gexc.BadRequest, match="uniform bucket-level access"):
        ubla_bucket.acl.reload()
    # Turning it off brings object ACLs back.
    ubla_bucket.iam_configuration.uniform_bucket_level_access_enabled = False
    ubla_bucket.patch()
    blob.acl.reload()
    assert len(list(blob.acl)) >= 1


def test_iam_policy_etag_and_validation(ubla_bucket: storage.Bucket) -> None:
    policy = ubla_bucket.get_iam_policy(requested_policy_version=3)
    assert any(b["role"] == "roles/storage.legacyBucketOwner" for b in policy.bindings)
    stale = ubla_bucket.get_iam_policy(requested_policy_version=3)
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {"user:a@b.com"}})
    saved = ubla_bucket.set_iam_policy(policy)
    assert saved.etag != stale.etag
    stale.bindings.append({"role": "roles/storage.objectAdmin", "members": {"user:c@d.com"}})
    with pytest.raises(gexc.PreconditionFailed):
        ubla_bucket.set_iam_policy(stale)
    fresh = ubla_bucket.get_iam_policy(requested_policy_version=3)
    fresh.bindings.append({"role": "roles/storage.objectViewer", "members": {"user:nodomain"}})
    with pytest.raises(gexc.BadRequest):
        ubla_bucket.set_iam_policy(fresh)
    fresh = ubla_bucket.get_iam_policy(requested_policy_version=3)
    fresh.bindings.append({"role": "roles/made.up", "members": {"user:a@b.com"}})
    with pytest.raises(gexc.BadRequest):
        ubla_bucket.set_iam_policy(fresh)


def test_public_access_prevention(gcs: storage.Client, sandbox_info: Any) -> None:
    b = gcs.bucket("locked-bucket")
    b.iam_configuration.uniform_bucket_level_access_enabled = False
    b.iam_configuration.public_access_prevention = "enforced"
    b = gcs.create_bucket(b)
    blob = b.blob("secret.txt")
    blob.upload_from_string(b"secret")
    with pytest.raises(gexc.PreconditionFailed, match="public access prevention"):
        blob.make_public()
    policy = b.get_iam_policy(requested_policy_version=3)
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {"allUsers"}})
    with pytest.raises(gexc.PreconditionFailed, match="public access prevention"):
        b.set_iam_policy(policy)
    # Public before, prevention turned on after: the grant stops working.
    b.iam_configuration.public_access_prevention = "inherited"
    b.patch()
    blob.make_public()
    assert anon_get(blob.public_url)[0] == 200
    b.iam_configuration.public_access_prevention = "enforced"
    b.patch()
    status, body = anon_get(blob.public_url)
    assert status == 403 and b"public access prevention" in body.lower()


def test_anonymous_reads_only_public_objects(
    bucket: storage.Bucket, ubla_bucket: storage.Bucket, sandbox_info: Any
) -> None:
    blob = bucket.blob("docs/read me.txt")
    blob.upload_from_string(b"public soon")
    url = blob.public_url
    assert url == f"{sandbox_info.url}/test-bucket/docs/read%20me.txt"
    assert anon_get(url)[0] == 403
    download = (
        f"{sandbox_info.url}/download/storage/v1/b/test-bucket/o/docs%2Fread%20me.txt?alt=media"
    )
    assert anon_get(download)[0] == 401
    blob.make_public()
    assert anon_get(url) == (200, b"public soon")
    assert anon_get(download) == (200, b"public soon")
    blob.make_private()
    assert anon_get(url)[0] == 403
    # Uniform access: only the bucket-level grant makes objects public.
    ub = ubla_bucket.blob("model.bin")
    ub.upload_from_string(b"weights")
    assert anon_get(ub.public_url)[0] == 403
    policy = ubla_bucket.get_iam_policy(requested_policy_version=3)
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {"allUsers"}})
    ubla_bucket.set_iam_policy(policy)
    assert anon_get(ub.public_url) == (200, b"weights")
    assert anon_get(f"{sandbox_info.url}/uniform-bucket/missing")[0] == 404


def test_public_route_does_not_shadow_other_apis(gcs: storage.Client, sandbox_info: Any) -> None:
    gcs.create_bucket("compute")  # a valid bucket name that is also an API prefix
    gcs.bucket("compute").blob("v1/x").upload_from_string(b"x")
    status, body = anon_get(f"{sandbox_info.url}/compute/v1/projects/p/zones")
    assert b"storage.objects.get" not in body
    status, body = anon_get(f"{sandbox_info.url}/_sandbox/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = anon_get(f"{sandbox_info.url}/v1/projects/p/locations/us-central1/customJobs")
    assert b"storage.objects.get" not in body


def test_plain_client_with_sandbox_env(
    clean_sandbox: Any, sandbox_info: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `cloudpane sandbox env` prints is all a plain `storage.Client()` needs."""
    from tui.sandbox.tool_env import tool_env

    for name, value in tool_env(
        sandbox_info.url, sandbox_info.project, sandbox_info.data_dir
    ).items():
        monkeypatch.setenv(name, value)
    plain = storage.Client()
    made = plain.create_bucket("trainer-output")
    made.blob("model/saved.pb").upload_from_string(b"graph")
    assert [b.name for b in plain.list_blobs("trainer-output")] == ["model/saved.pb"]
    assert plain.bucket("trainer-output").blob("model/saved.pb").download_as_bytes() == b"graph"


def test_reset_forgets_buckets_and_bytes(gcs: storage.Client, sandbox_info: Any) -> None:
    gcs.create_bucket("to-forget").blob("f").upload_from_string(b"bytes")
    daemon.admin(sandbox_info, "reset")
    assert list(gcs.list_buckets()) == []
    assert not list((sandbox_info.data_dir / "blobs" / "gcs").glob("objects/*/*"))


@pytest.fixture(autouse=True)
def _no_faults(sandbox_info: Any) -> Iterator[None]:
    yield
    daemon.admin(sandbox_info, "faults", {})
