"""Bad input to every sandbox route gets Google's 400, never a 500, and never a stored value
that breaks later reads; path segments never carry `..`, `/` or NUL to the disk or a process.

The corpus is deterministic: every route of the real app (walked from `server.create_app`), each
path parameter replaced by hostile segments, list parameters given garbage tokens and sizes,
every JSON body replaced by malformed JSON, and the write routes given fields of the wrong type.
Requests go out as plain HTTP (urllib) to the session's real daemon, as an attacker's would; the
reads afterwards use plain HTTP and Google's own clients.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from tui.sandbox import daemon
from tui.sandbox.context import SANDBOX_PROJECT, SandboxContext
from tui.sandbox.server import create_app
from tui.sandbox.store import Store
from tui.sandbox.validation import PATH_PATTERNS
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.job_models import label_map
from tui.services.jobs import JobsService, job_from_resource
from tui.services.storage import StorageService
from tui.services.tuning import TuningService

P = SANDBOX_PROJECT
ZONE = "us-central1-a"
REGION = "us-central1"
VM = "fuzz-vm"
BUCKET = "fuzz-bucket"
OBJ = "data/obj.txt"
OBJ_Q = "data%2Fobj.txt"
DEBIAN = "projects/debian-cloud/global/images/family/debian-12"
PACKAGE = "gs://fuzz-bucket/pkg/trainer-0.1.tar.gz"
# No prebuilt TensorFlow training image is available any more (docs/gcp-facts.md).
TRAIN_IMAGE = "us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest"

# --- raw HTTP, the owner's way in (one place: a token requirement is added here) ------------------


def owner_headers(info: daemon.SandboxInfo) -> dict[str, str]:
    """What marks a request as the owner's: today a Google client header; a bearer token
    where the sandbox hands one out."""
    headers = {"x-goog-api-client": "cloudpane-fuzz"}
    token = getattr(info, "token", None)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def http(
    info: daemon.SandboxInfo,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        info.url + path,
        data=data,
        method=method,
        headers={**owner_headers(info), "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def googles_error(status: int, body: bytes, where: str) -> dict[str, Any]:
    """A 4xx in Google's shape: {"error": {"code", "message", "status", "errors": [...]}}."""
    assert 400 <= status < 500, f"{where}: {status} {body[:300]!r}"
    error = json.loads(body)["error"]
    assert error["code"] == status, where
    assert isinstance(error["message"], str) and error["message"], where
    assert isinstance(error["status"], str), where
    assert error["errors"] and error["errors"][0]["reason"], where
    return error  # type: ignore[no-any-return]


def no_5xx(status: int, body: bytes, where: str) -> None:
    assert status < 500, f"{where}: {status} {body[:300]!r}"
    if status >= 400:
        googles_error(status, body, where)


# --- a small world to aim at --------------------------------------------------------------------


def vm_body(name: str = VM) -> dict[str, Any]:
    return {
        "name": name,
        "machineType": f"zones/{ZONE}/machineTypes/e2-small",
        "disks": [{"boot": True, "initializeParams": {"sourceImage": DEBIAN}}],
    }


def job_body(**changes: Any) -> dict[str, Any]:
    body = {
        "displayName": "fuzz-job",
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "pythonPackageSpec": {
                        "executorImageUri": TRAIN_IMAGE,
                        "packageUris": [PACKAGE],
                        "pythonModule": "trainer.task",
                    },
                }
            ]
        },
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def world(sandbox_info: daemon.SandboxInfo) -> Iterator[dict[str, str]]:
    """A bucket with an object, a VM, a job: what the corpus aims at, and what must stay readable."""
    daemon.admin(sandbox_info, "reset")
    yield make_world(sandbox_info)
    daemon.admin(sandbox_info, "reset")


def make_world(info: daemon.SandboxInfo) -> dict[str, str]:
    assert http(info, "POST", f"/storage/v1/b?project={P}", {"name": BUCKET})[0] == 200
    up = f"/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={OBJ_Q}"
    assert http(info, "POST", up, raw=b"hello", content_type="text/plain")[0] == 200
    vms = f"/compute/v1/projects/{P}/zones/{ZONE}/instances"
    assert http(info, "POST", vms, vm_body())[0] == 200
    status, body = http(info, "POST", f"/v1/projects/{P}/locations/{REGION}/customJobs", job_body())
    assert status == 200, body
    job_id = json.loads(body)["name"].rsplit("/", 1)[1]
    ops = json.loads(http(info, "GET", f"/compute/v1/projects/{P}/zones/{ZONE}/operations")[1])
    return {"job_id": job_id, "operation": ops["items"][0]["name"]}


def reads_work(info: daemon.SandboxInfo, world: dict[str, str]) -> None:
    """Every list and get of the world still answers 200 with JSON (and the bytes)."""
    reads = [
        f"/compute/v1/projects/{P}/zones/{ZONE}/instances",
        f"/compute/v1/projects/{P}/zones/{ZONE}/instances/{VM}",
        f"/compute/v1/projects/{P}/aggregated/instances",
        f"/storage/v1/b?project={P}",
        f"/storage/v1/b/{BUCKET}",
        f"/storage/v1/b/{BUCKET}/o",
        f"/storage/v1/b/{BUCKET}/o/{OBJ_Q}",
        f"/v1/projects/{P}/locations/{REGION}/customJobs",
        f"/v1/projects/{P}/locations/{REGION}/customJobs/{world['job_id']}",
        f"/v1/projects/{P}/locations/{REGION}/hyperparameterTuningJobs",
    ]
    for path in reads:
        status, body = http(info, "GET", path)
        assert status == 200, f"GET {path} after bad input: {status} {body[:300]!r}"
        json.loads(body)
    status, body = http(info, "GET", f"/download/storage/v1/b/{BUCKET}/o/{OBJ_Q}?alt=media")
    assert (status, body) == (200, b"hello")


# --- the corpus, from the app's own route table ---------------------------------------------------

# A valid value for each path parameter (job_id and operation come from the world).
VALID = {
    "project": P,
    "zone": ZONE,
    "region": REGION,
    "instance": VM,
    "disk": VM,
    "network": "default",
    "subnetwork": "default",
    "name": "e2-small",
    "family": "debian-12",
    "image": "debian-12-bookworm-v20250101",
    "location": REGION,
    "service": "6F81-5844-456A",
    "verb": "setLabels",
}
# Storage's JSON API is one {rest:path} route; these are the resource paths behind it.
STORAGE_PATHS = [
    "/storage/v1/b",
    f"/storage/v1/b/{BUCKET}",
    f"/storage/v1/b/{BUCKET}/o",
    f"/storage/v1/b/{BUCKET}/o/{OBJ_Q}",
    f"/storage/v1/b/{BUCKET}/o/{OBJ_Q}/acl",
    f"/storage/v1/b/{BUCKET}/acl",
    f"/storage/v1/b/{BUCKET}/defaultObjectAcl",
    f"/storage/v1/b/{BUCKET}/iam",
    f"/storage/v1/b/{BUCKET}/o/composed/compose",
    f"/storage/v1/b/{BUCKET}/o/{OBJ_Q}/copyTo/b/{BUCKET}/o/copy",
    f"/storage/v1/b/{BUCKET}/o/{OBJ_Q}/rewriteTo/b/{BUCKET}/o/rewritten",
]
# Segments that must never reach a handler as a name: each is a 400 wherever a name goes.
HOSTILE_SEGMENTS = {
    "dotdot": "..",
    "dot": ".",
    "encoded-dotdot": "%2E%2E",
    "nul": "a%00b",
    "slash": "a%2Fb",
    "backslash": "a%5C..%5Cb",
    "upper": "UPPER",
    "space": "a%20b",
    "long": "a" * 300,
    "lone-surrogate": "%ED%A0%80",
    "not-utf8": "%FF",
    "newline": "a%0Ab",
}
MALFORMED_BODIES = {
    "array": b"[]",
    "string": b'"x"',
    "number": b"5",
    "null": b"null",
    "truncated": b'{"name": ',
    "not-utf8": b'{"name": "\xff"}',
    "lone-surrogate": b'{"name": "\\ud800"}',
    "lone-surrogate-key": b'{"\\udc00": "x"}',
    "nan": b'{"x": NaN}',
    "huge-int": b'{"x": ' + b"9" * 5000 + b"}",
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "deep-101": b'{"a":' * 101 + b"1" + b"}" * 101,
}
BAD_QUERIES = {
    "token-not-base64": "pageToken=%21%21%21",
    "token-not-ours": "pageToken=YWJj",  # base64 of "abc"
    "token-not-utf8": "pageToken=%FF",
    "token-negative": "pageToken=LTE%3D",  # base64 of "-1"
    "token-surrogate": "pageToken=7aCA",  # base64 of a lone surrogate's UTF-8 bytes
    "size-word": "maxResults=x&pageSize=x",
    "size-huge": "maxResults=99999999999999999999999&pageSize=99999999999999999999999",
    "filter-garbage": "filter=%28%28%28%28",
    "generation-word": "ifGenerationMatch=x&ifMetagenerationMatch=x&generation=x",
}
# Fields of the wrong type, aimed at the routes that store them.
WRONG_TYPES: dict[str, list[dict[str, Any]]] = {
    f"POST /compute/v1/projects/{P}/zones/{ZONE}/instances": [
        {**vm_body("x1"), "disks": [5]},
        {**vm_body("x2"), "disks": 5},
        {**vm_body("x3"), "networkInterfaces": [5]},
        {**vm_body("x4"), "scheduling": 5},
        {**vm_body("x5"), "guestAccelerators": [5]},
        {**vm_body("x6"), "labels": {"a": {}}},
        {**vm_body("x7"), "labels": []},
        {**vm_body("x8"), "labels": {"a": 5}},
        {**vm_body("x9"), "metadata": {"items": [{"key": "startup-script", "value": {}}]}},
        {**vm_body("x10"), "metadata": 5},
        {**vm_body("x11"), "name": 5},
        {
            **vm_body("x12"),
            "disks": [{"initializeParams": {"sourceImage": DEBIAN, "diskSizeGb": "abc"}}],
        },
        {**vm_body("x13"), "disks": [{"initializeParams": {"sourceImage": 5}}]},
    ],
    f"POST /compute/v1/projects/{P}/zones/{ZONE}/instances/{VM}/setLabels": [
        {"labels": {"a": {}}},
        {"labels": 5},
        {"labels": {"Bad": "x"}},
        {"labels": {f"k{i}": "v" for i in range(65)}},
    ],
    f"POST /compute/v1/projects/{P}/zones/{ZONE}/instances/{VM}/setMachineType": [
        {"machineType": 5}
    ],
    f"POST /compute/v1/projects/{P}/zones/{ZONE}/instances/{VM}/setScheduling": [
        {"maxRunDuration": {"seconds": "x"}},
        {"maxRunDuration": 5},
    ],
    f"POST /v1/projects/{P}/locations/{REGION}/customJobs": [
        job_body(labels={"a": {}}),
        job_body(labels={"a": 5}),
        job_body(labels={"Bad-Key": "x"}),
        job_body(labels={f"k{i}": "v" for i in range(65)}),
        job_body(displayName={}),
        job_body(jobSpec=5),
        job_body(jobSpec={"workerPoolSpecs": [5]}),
        job_body(jobSpec={"workerPoolSpecs": [{"machineSpec": 5}]}),
        job_body(jobSpec={"workerPoolSpecs": 5}),
    ],
    f"POST /v1/projects/{P}/locations/{REGION}/hyperparameterTuningJobs": [
        {"displayName": "t", "studySpec": 5, "trialJobSpec": 5, "maxTrialCount": "x"},
        {"displayName": "t", "labels": {"a": {}}},
        {"displayName": "t", "studySpec": {"metrics": 5, "parameters": [5]}},
    ],
    "POST /storage/v1/b?project=" + P: [{"name": 5}, {"name": "ok-name", "labels": {"a": {}}}],
    f"PATCH /storage/v1/b/{BUCKET}": [
        {"versioning": 5},
        {"lifecycle": 5},
        {"iamConfiguration": {"uniformBucketLevelAccess": 5}},
        {"labels": {"a": {}}},
    ],
    f"PATCH /storage/v1/b/{BUCKET}/o/{OBJ_Q}": [
        {"contentType": 5},
        {"contentType": {}},
        {"metadata": 5},
        {"metadata": {"a": {}}},
        {"cacheControl": []},
        {"acl": 5},
    ],
    f"PUT /storage/v1/b/{BUCKET}/o/{OBJ_Q}": [{"contentType": 5}, {"metadata": {"a": [1]}}],
    f"PUT /storage/v1/b/{BUCKET}/iam": [
        {"bindings": 5},
        {"bindings": [5]},
        {"bindings": [{"role": 5, "members": 5}]},
    ],
    f"POST /storage/v1/b/{BUCKET}/o/{OBJ_Q}/acl": [{"entity": 5, "role": {}}],
    f"POST /storage/v1/b/{BUCKET}/o/composed/compose": [
        {"sourceObjects": 5},
        {"sourceObjects": [5]},
        {"destination": 5},
    ],
    f"POST /storage/v1/b/{BUCKET}/o/{OBJ_Q}/copyTo/b/{BUCKET}/o/copy": [{"contentType": 5}],
    f"POST /upload/storage/v1/b/{BUCKET}/o?uploadType=resumable&name=up": [
        {"contentType": 5},
        {"metadata": {"a": {}}},
    ],
    "POST /v2/entries:write": [
        {"entries": 5},
        {"entries": [5]},
        {"entries": [{"logName": 5, "resource": 5, "labels": 5}]},
    ],
    "POST /v2/entries:list": [{"filter": 5, "resourceNames": 5, "pageSize": "x"}],
    "POST /_sandbox/seed": [{"instances": "x"}],
}


def app_routes(tmp_path: Path) -> list[Route]:
    """The real app's routes (the table the daemon serves), built over a throwaway store."""
    ctx = SandboxContext(data_dir=tmp_path, store=Store(tmp_path / "state.sqlite3"))
    return [r for r in create_app(ctx).routes if isinstance(r, Route)]


def fill(template: str, world: dict[str, str], **override: str) -> str:
    values = {**VALID, "job_id": world["job_id"], "operation": world["operation"], **override}
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], template)


def targets(tmp_path: Path, world: dict[str, str]) -> list[tuple[str, str, str]]:
    """(method, route template, a concrete path) for every route and method."""
    found = []
    for route in app_routes(tmp_path):
        if route.path in NOT_GOOGLE_JSON:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if route.path.endswith("{rest:path}"):
                if route.path.startswith("/storage/"):
                    found += [(method, route.path, path) for path in STORAGE_PATHS]
                elif route.path.startswith("/upload/"):
                    found.append((method, route.path, f"/upload/storage/v1/b/{BUCKET}/o"))
                else:
                    found.append((method, route.path, f"/download/storage/v1/b/{BUCKET}/o/x"))
            else:
                found.append((method, route.path, fill(route.path, world)))
    return found


# OAuth's token endpoint (the sandbox's ADC refresh) takes a form body and answers OAuth's
# errors ({"error": "invalid_grant"}), as oauth2.googleapis.com does: not a JSON API route.
NOT_GOOGLE_JSON = {"/token"}

# Routes whose valid request would undo the world (or the session): only hostile input there.
DESTRUCTIVE = {"/_sandbox/reset"}


def test_the_sandboxs_own_project_id_is_valid() -> None:
    assert re.fullmatch(PATH_PATTERNS["project"], SANDBOX_PROJECT)


def test_hostile_path_segments_get_400_everywhere(
    sandbox_info: daemon.SandboxInfo, world: dict[str, str], tmp_path: Path
) -> None:
    sent = 0
    for route in app_routes(tmp_path):
        params = re.findall(r"{(\w+)}", route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            for param in params:
                for label, segment in HOSTILE_SEGMENTS.items():
                    path = fill(route.path, world, **{param: segment})
                    status, body = http(sandbox_info, method, path)
                    where = f"{method} {route.path} {param}={label}"
                    if label == "upper" and param in ("job_id", "service", "verb"):
                        no_5xx(status, body, where)  # ids and verbs may hold capitals
                        continue
                    error = googles_error(status, body, where)
                    if label in ("dotdot", "encoded-dotdot", "nul", "slash", "lone-surrogate"):
                        assert status in (400, 404), where
                        assert status == 400 or error["status"] == "NOT_FOUND", where
                    sent += 1
    assert sent > 300
    reads_work(sandbox_info, world)


@pytest.mark.parametrize("segment", ["..", "%2E%2E", "a%00b", "a%2Fb", "%ED%A0%80", "UPPER"])
def test_hostile_bucket_segments_get_400(
    sandbox_info: daemon.SandboxInfo, world: dict[str, str], segment: str
) -> None:
    for method, path in [
        ("GET", f"/storage/v1/b/{segment}"),
        ("GET", f"/storage/v1/b/{segment}/o"),
        ("PATCH", f"/storage/v1/b/{segment}"),
        ("POST", f"/upload/storage/v1/b/{segment}/o?uploadType=media&name=x"),
    ]:
        status, body = http(sandbox_info, method, path, raw=b"{}")
        assert status == 400, f"{method} {path}: {status} {body[:200]!r}"
        googles_error(status, body, path)


def test_malformed_bodies_get_400_on_every_write_route(
    sandbox_info: daemon.SandboxInfo, world: dict[str, str], tmp_path: Path
) -> None:
    sent = 0
    for method, template, path in targets(tmp_path, world):
        if method not in ("POST", "PUT", "PATCH") or template.startswith("/download/"):
            continue
        if template.startswith("/upload/"):
            if method != "POST":
                continue  # a session's chunks are media bytes, not JSON
            path += "?uploadType=resumable&name=x"
        for label, raw in MALFORMED_BODIES.items():
            status, body = http(sandbox_info, method, path, raw=raw)
            where = f"{method} {path} {label}"
            error = googles_error(status, body, where)
            assert status == 400, where
            assert error["status"] == "INVALID_ARGUMENT", where
            sent += 1
    assert sent > 200
    reads_work(sandbox_info, world)


def test_bad_list_parameters_get_400_never_500(
    sandbox_info: daemon.SandboxInfo, world: dict[str, str], tmp_path: Path
) -> None:
    for method, template, path in targets(tmp_path, world):
        if method != "GET" or template.startswith("/_sandbox/"):
            continue
        for label, query in BAD_QUERIES.items():
            joiner = "&" if "?" in path else "?"
            status, body = http(sandbox_info, method, path + joiner + query)
            no_5xx(status, body, f"GET {path} {label}")
    reads_work(sandbox_info, world)


@pytest.mark.parametrize(
    "list_path",
    [
        f"/compute/v1/projects/{P}/zones/{ZONE}/machineTypes",
        f"/compute/v1/projects/{P}/zones",
        f"/compute/v1/projects/{P}/regions",
        f"/compute/v1/projects/{P}/global/images",
        f"/compute/v1/projects/{P}/zones/{ZONE}/operations",
        f"/v1/projects/{P}/locations/{REGION}/customJobs",
        f"/v1/projects/{P}/locations/{REGION}/hyperparameterTuningJobs",
        f"/compute/v1/projects/{P}/zones/{ZONE}/instances",
        f"/compute/v1/projects/{P}/aggregated/instances",
        f"/compute/v1/projects/{P}/zones/{ZONE}/disks",
        f"/storage/v1/b?project={P}",
        f"/storage/v1/b/{BUCKET}/o",
    ],
)
@pytest.mark.parametrize(
    "token",
    ["YWJj", "%21%21", "%FF", "LTE%3D", "7aCA"],
    ids=["abc", "bangs", "not-utf8", "minus-one", "lone-surrogate"],
)
def test_page_tokens_we_never_issued_are_400(
    sandbox_info: daemon.SandboxInfo, world: dict[str, str], list_path: str, token: str
) -> None:
    """Offset-paged lists (catalogs, jobs) read an offset from the token: garbage was a 500
    ("invalid literal for int()"). Lists paged by a name (instances, buckets, objects) took any
    token as a name to start after, and one holding a lone surrogate was a 500 from SQLite."""
    joiner = "&" if "?" in list_path else "?"
    status, body = http(sandbox_info, "GET", f"{list_path}{joiner}pageToken={token}")
    assert status == 400, f"{list_path}: {status} {body[:200]!r}"
    googles_error(status, body, list_path)


def test_fields_of_the_wrong_type_get_400_and_nothing_is_stored(
    sandbox_info: daemon.SandboxInfo, world: dict[str, str]
) -> None:
    for target, bodies in WRONG_TYPES.items():
        method, path = target.split(" ", 1)
        for sent in bodies:
            status, body = http(sandbox_info, method, path, sent)
            where = f"{target} {json.dumps(sent)[:120]}"
            error = googles_error(status, body, where)
            assert status == 400 and error["status"] == "INVALID_ARGUMENT", where
            reads_work(sandbox_info, world)
    # Nothing half-made: no VM but the world's, one job, the one object.
    items = json.loads(
        http(sandbox_info, "GET", f"/compute/v1/projects/{P}/zones/{ZONE}/instances")[1]
    )
    assert [vm["name"] for vm in items["items"]] == [VM]
    jobs = json.loads(
        http(sandbox_info, "GET", f"/v1/projects/{P}/locations/{REGION}/customJobs")[1]
    )
    assert len(jobs["customJobs"]) == 1
    objects = json.loads(http(sandbox_info, "GET", f"/storage/v1/b/{BUCKET}/o")[1])
    assert [o["name"] for o in objects["items"]] == [OBJ]


# --- the findings, one by one ---------------------------------------------------------------------


def test_patch_content_type_number_leaves_the_object_readable(
    sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend, tmp_path: Path
) -> None:
    """`PATCH {"contentType": 5}` was stored, and every later read of the object failed."""
    svc = StorageService(clean_sandbox)
    asyncio.run(svc.create_bucket("ct-bucket", "us-central1"))
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    asyncio.run(svc.upload("ct-bucket", source))
    status, body = http(
        sandbox_info, "PATCH", "/storage/v1/b/ct-bucket/o/model.bin", {"contentType": 5}
    )
    assert status == 400, body
    assert "contentType" in googles_error(status, body, "PATCH contentType")["message"]
    details = asyncio.run(svc.blob_details("ct-bucket", "model.bin"))
    assert details.name == "model.bin"
    [listed] = asyncio.run(svc.list_page("ct-bucket")).blobs
    assert listed.name == "model.bin"
    result = asyncio.run(svc.download("ct-bucket", "model.bin", tmp_path / "out"))
    assert result.ok and (tmp_path / "out" / "model.bin").read_bytes() == b"weights"


def test_job_with_an_object_label_is_refused_and_the_job_list_reads(
    sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend
) -> None:
    """A job with `labels: {"a": {}}` was stored and broke the job list (status, Jobs pane)."""
    path = f"/v1/projects/{P}/locations/{REGION}/customJobs"
    status, body = http(sandbox_info, "POST", path, job_body(labels={"a": {}}))
    assert status == 400, body
    assert "labels" in googles_error(status, body, "job labels")["message"]
    assert asyncio.run(JobsService(clean_sandbox).list_jobs(REGION)) == []


def test_the_client_survives_a_label_that_is_not_a_string() -> None:
    """Google never sends one, but one odd value must not take the whole job list down."""
    job = job_from_resource(
        {"name": f"projects/{P}/locations/{REGION}/customJobs/1", "labels": {"a": {}, "b": "x"}}
    )
    assert job.labels == {"a": "{}", "b": "x"}
    assert label_map(None) == {} and label_map(["not", "a", "map"]) == {}


@pytest.mark.parametrize("project", ["..", "%2E%2E", "a%00b", "%00"])
def test_dotdot_or_nul_project_never_reaches_the_disk(
    sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend, project: str
) -> None:
    """A `..` project moved a VM's folder out of its place; a NUL one left a RUNNING VM with
    no process. Both are 400 now, and no instance or folder appears."""
    work = sandbox_info.data_dir / "work"
    before = sorted(str(p) for p in work.rglob("*")) if work.exists() else []
    body = {
        **vm_body("escape"),
        "metadata": {"items": [{"key": "startup-script", "value": "true"}]},
    }
    status, answer = http(
        sandbox_info, "POST", f"/compute/v1/projects/{project}/zones/{ZONE}/instances", body
    )
    assert status == 400, answer
    assert googles_error(status, answer, project)["errors"][0]["reason"] == "invalidParameter"
    after = sorted(str(p) for p in work.rglob("*")) if work.exists() else []
    assert after == before
    listed = json.loads(
        http(sandbox_info, "GET", f"/compute/v1/projects/{P}/aggregated/instances")[1]
    )
    assert not any(scoped.get("instances") for scoped in listed.get("items", {}).values())


@pytest.mark.parametrize(
    ("label", "raw"),
    [
        ("lone-surrogate", b'{"name": "\\ud800"}'),
        ("deep-nesting", b"[" * 100_000 + b"]" * 100_000),
        ("wrong-type", b'{"name": 5}'),
    ],
)
def test_bucket_insert_with_bad_json_is_400(
    sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend, label: str, raw: bytes
) -> None:
    """These were 500s ("surrogates not allowed", "maximum recursion depth", "'int' object
    has no attribute 'lower'")."""
    status, body = http(sandbox_info, "POST", f"/storage/v1/b?project={P}", raw=raw)
    assert status == 400, body
    googles_error(status, body, label)
    assert asyncio.run(StorageService(clean_sandbox).list_buckets()) == []


def test_labels_follow_googles_rules(
    sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend
) -> None:
    vms = f"/compute/v1/projects/{P}/zones/{ZONE}/instances"
    jobs = f"/v1/projects/{P}/locations/{REGION}/customJobs"
    good = {"team": "vision", "run-id": "r_1", "empty": ""}
    assert http(sandbox_info, "POST", vms, {**vm_body("good"), "labels": good})[0] == 200
    assert http(sandbox_info, "POST", jobs, job_body(labels=good))[0] == 200
    for bad in [
        {"Team": "x"},
        {"1team": "x"},
        {"team": "Vision"},
        {"k" * 64: "x"},
        {"team": "v" * 64},
        {f"k{i}": "v" for i in range(65)},
    ]:
        for path, body in [(vms, {**vm_body("bad"), "labels": bad}), (jobs, job_body(labels=bad))]:
            status, answer = http(sandbox_info, "POST", path, body)
            assert status == 400, (path, bad, answer)
            googles_error(status, answer, path)


# --- every field of a valid body, one at a time -----------------------------------------------------

FULL_VM = {
    **vm_body("full"),
    "machineType": f"zones/{ZONE}/machineTypes/n1-standard-4",
    "description": "d",
    "labels": {"team": "vision"},
    "metadata": {"items": [{"key": "k", "value": "v"}]},
    "scheduling": {
        "provisioningModel": "SPOT",
        "instanceTerminationAction": "STOP",
        "maxRunDuration": {"seconds": 3600},
        "onHostMaintenance": "TERMINATE",
        "automaticRestart": False,
    },
    "guestAccelerators": [
        {"acceleratorType": f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 1}
    ],
    "networkInterfaces": [
        {"network": "global/networks/default", "accessConfigs": [{"type": "ONE_TO_ONE_NAT"}]}
    ],
    "disks": [
        {
            "boot": True,
            "autoDelete": True,
            "initializeParams": {
                "sourceImage": DEBIAN,
                "diskSizeGb": "20",
                "diskType": f"zones/{ZONE}/diskTypes/pd-balanced",
            },
        }
    ],
}
FULL_JOB_SPEC = {
    "workerPoolSpecs": [
        {
            "machineSpec": {
                "machineType": "n1-standard-4",
                "acceleratorType": "NVIDIA_TESLA_T4",
                "acceleratorCount": 1,
            },
            "replicaCount": "1",
            "diskSpec": {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 100},
            "pythonPackageSpec": {
                "executorImageUri": TRAIN_IMAGE,
                "packageUris": [PACKAGE],
                "pythonModule": "trainer.task",
                "args": ["--epochs", "1"],
                "env": [{"name": "A", "value": "b"}],
            },
        }
    ],
    "baseOutputDirectory": {"outputUriPrefix": "gs://fuzz-bucket/out"},
    "scheduling": {"timeout": "3600s", "strategy": "SPOT", "restartJobOnWorkerRestart": False},
}
FULL_BODIES: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("POST", f"/compute/v1/projects/{P}/zones/{ZONE}/instances", FULL_VM, "name"),
    (
        "POST",
        f"/v1/projects/{P}/locations/{REGION}/customJobs",
        {"displayName": "j", "labels": {"a": "b"}, "jobSpec": FULL_JOB_SPEC},
        None,
    ),
    (
        "POST",
        f"/v1/projects/{P}/locations/{REGION}/hyperparameterTuningJobs",
        {
            "displayName": "t",
            "maxTrialCount": 2,
            "parallelTrialCount": 1,
            "maxFailedTrialCount": 1,
            "studySpec": {
                "algorithm": "RANDOM_SEARCH",
                "metrics": [{"metricId": "loss", "goal": "MINIMIZE"}],
                "parameters": [
                    {
                        "parameterId": "lr",
                        "doubleValueSpec": {"minValue": 0.001, "maxValue": 0.1},
                        "scaleType": "UNIT_LOG_SCALE",
                    },
                    {"parameterId": "bs", "integerValueSpec": {"minValue": "8", "maxValue": "64"}},
                    {"parameterId": "opt", "categoricalValueSpec": {"values": ["adam", "sgd"]}},
                    {"parameterId": "d", "discreteValueSpec": {"values": [1, 2]}},
                ],
            },
            "trialJobSpec": FULL_JOB_SPEC,
        },
        None,
    ),
    (
        "POST",
        f"/storage/v1/b?project={P}",
        {
            "name": "b",
            "location": "US",
            "storageClass": "STANDARD",
            "labels": {"a": "b"},
            "versioning": {"enabled": True},
            "iamConfiguration": {
                "uniformBucketLevelAccess": {"enabled": True},
                "publicAccessPrevention": "enforced",
            },
            "lifecycle": {"rule": [{"action": {"type": "Delete"}, "condition": {"age": 30}}]},
            "softDeletePolicy": {"retentionDurationSeconds": "0"},
        },
        "name",
    ),
    (
        "PATCH",
        f"/storage/v1/b/{BUCKET}/o/{OBJ_Q}",
        {
            "contentType": "text/plain",
            "metadata": {"a": "b"},
            "cacheControl": "no-cache",
            "contentDisposition": "inline",
            "customTime": "2026-01-01T00:00:00Z",
            "temporaryHold": False,
        },
        None,
    ),
    (
        "PUT",
        f"/storage/v1/b/{BUCKET}/iam",
        {"bindings": [{"role": "roles/storage.objectViewer", "members": ["user:a@b.c"]}]},
        None,
    ),
    (
        "POST",
        "/v2/entries:write",
        {
            "entries": [
                {
                    "logName": f"projects/{P}/logs/fuzz",
                    "resource": {"type": "global", "labels": {"a": "b"}},
                    "severity": "INFO",
                    "textPayload": "hi",
                    "labels": {"a": "b"},
                    "timestamp": "2026-01-01T00:00:00Z",
                }
            ]
        },
        None,
    ),
    (
        "POST",
        "/v2/entries:list",
        {"resourceNames": [f"projects/{P}"], "filter": "severity>=INFO", "pageSize": 10},
        None,
    ),
]
# Each field in turn gets each of these (the wrong type, an edge, nothing at all).
MUTANTS = [5, -1, 1.5, 1e308, "x", "", "\x00", "99999999999999999999", {}, [], None, True, [5]]


def _field_paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _field_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _field_paths(value, (*prefix, i))


def _mutated(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy  # type: ignore[no-any-return]


def test_every_field_of_a_valid_body_mutated_never_breaks_a_read(
    sandbox_info: daemon.SandboxInfo, clean_sandbox: Backend
) -> None:
    """Each field of a full, valid request replaced by each mutant: never a 5xx, and what the
    sandbox accepts, Google's own clients can read back (a Vertex job with strategy
    "99999999999999999999" was stored, and every job list failed to parse after it)."""
    world = make_world(sandbox_info)
    sandbox = clean_sandbox
    sent = 0
    for method, path, body, name_field in FULL_BODIES:
        for field_path in _field_paths(body):
            for value in MUTANTS:
                mutant = _mutated(body, field_path, value)
                if name_field and field_path != (name_field,):
                    mutant[name_field] = f"mutant-{sent}"  # a new resource each time
                status, answer = http(sandbox_info, method, path, mutant)
                no_5xx(status, answer, f"{method} {path} {field_path}={value!r}")
                sent += 1
    assert sent > 1500
    reads_work(sandbox_info, world)
    assert asyncio.run(ComputeService(sandbox).list_instances())
    assert asyncio.run(JobsService(sandbox).list_jobs(REGION))
    asyncio.run(TuningService(sandbox).list_jobs(REGION))
    assert asyncio.run(StorageService(sandbox).list_buckets())
    assert asyncio.run(StorageService(sandbox).blob_details(BUCKET, OBJ)).name == OBJ
