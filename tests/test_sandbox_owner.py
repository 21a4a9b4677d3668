"""The sandbox serves only its owner (issue 14): the attacks, run for real on this machine.

- another OS account (`nobody`; CI runs as root) talks to the port and reads the data folder;
- what a web page can send: a foreign `Host` (DNS rebinding), an `Origin` (a cross-site form or
  fetch), `Sec-Fetch-Site: cross-site` (an `<img>`);
- anonymous callers read public objects and nothing else, as on Google;
- a stranger that takes the port after `cloudpane sandbox stop` is never sent the token;
- the daemon's environment (a canary) never reaches a job or a startup script, while a job's
  plain `storage.Client()` still reads and writes the owner's buckets;
- after a session every folder of the sandbox and of cloudpane's state is 0700, every file
  without group or other bits.

Raw HTTP (urllib) for the attacks: an attacker uses no client library.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1, compute_v1, storage
from jobs_helpers import TRAINER_IMAGE, wait_until

from tests.conftest import TEST_TIMING
from tui.sandbox import daemon
from tui.services.clients import Backend, sandbox_backend
from tui.services.errors import Unavailable

CANARY = "ghp_CANARY_daemon_env_must_not_reach_guests"
ZONE = "us-central1-a"
REGION = "us-central1"
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SYSTEM_PYTHON = "/usr/bin/python3"  # one `nobody` may run (the venv may sit under /root)


# ---------------------------------------------------------------- a sandbox of this module's own


@pytest.fixture(scope="module")
def own() -> Iterator[daemon.SandboxInfo]:
    """A sandbox with a canary in its environment, in a folder other accounts can traverse up
    to the data directory (so only the data directory's own modes protect it)."""
    base = Path(tempfile.mkdtemp(prefix="cloudpane-owner-"))
    base.chmod(0o755)
    env = {
        "CLOUDPANE_SANDBOX_TIMING": TEST_TIMING,
        "CANARY_TOKEN": CANARY,
        "GITHUB_TOKEN": CANARY,
        "CLOUDPANE_SANDBOX_FAULTS": '{"latency_ms": 0}',
    }
    info = daemon.start(base / "sandbox", env=env)
    yield info
    daemon.stop(info.data_dir)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def backend(own: daemon.SandboxInfo) -> Backend:
    return sandbox_backend(own.url, own.project, data_dir=own.data_dir)


def gcs(backend: Backend) -> storage.Client:
    return storage.Client(
        project=backend.project,
        credentials=backend.credentials,
        client_options={"api_endpoint": backend.endpoint},
    )


def raw(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def vm_body(name: str, script: str) -> bytes:
    return json.dumps(
        {
            "name": name,
            "machineType": f"zones/{ZONE}/machineTypes/e2-small",
            "disks": [
                {
                    "boot": True,
                    "initializeParams": {
                        "sourceImage": "projects/debian-cloud/global/images/family/debian-12"
                    },
                }
            ],
            "networkInterfaces": [{"network": "global/networks/default"}],
            "metadata": {"items": [{"key": "startup-script", "value": script}]},
        }
    ).encode()


def instance_names(backend: Backend) -> list[str]:
    client = compute_v1.InstancesClient(
        credentials=backend.credentials,
        transport="rest",
        client_options={"api_endpoint": backend.endpoint},
    )
    return [i.name for i in client.list(project=backend.project, zone=ZONE)]


# ---------------------------------------------------------------- web pages


def test_a_web_page_cannot_create_a_vm_or_reset(own: daemon.SandboxInfo, backend: Backend) -> None:
    gcs(backend).create_bucket("kept-bucket")
    vms = f"{own.url}/compute/v1/projects/{own.project}/zones/{ZONE}/instances"
    proof = own.data_dir / "pwned"
    script = f"id > {proof}"
    port = own.url.rsplit(":", 1)[1]
    # What a browser sends for a cross-site text/plain POST (no preflight), from a page ...
    page = {"Content-Type": "text/plain", "Origin": "http://evil.example"}
    assert raw(vms, method="POST", body=vm_body("web1", script), headers=page)[0] == 403
    # ... and from a DNS-rebinding page, whose Host is its own name (even holding the token).
    rebinding = {"Host": f"evil.example:{port}", **own.owner_headers()}
    assert raw(vms, method="POST", body=vm_body("web2", script), headers=rebinding)[0] == 403
    # An Origin is refused even with the owner's token: a page never has a reason to call.
    with_token = {"Origin": f"http://127.0.0.1:{port}", **own.owner_headers()}
    assert raw(vms, method="POST", body=vm_body("web3", script), headers=with_token)[0] == 403
    # A cross-site form post to the admin endpoint.
    form = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"}
    assert raw(f"{own.url}/_sandbox/reset", method="POST", body=b"a=1", headers=form)[0] == 403
    # A cross-site <img> (GET, no Origin, but the browser says where it comes from).
    img = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    assert raw(f"{own.url}/_sandbox/health", headers=img)[0] == 403
    assert instance_names(backend) == []
    assert not proof.exists()
    assert gcs(backend).lookup_bucket("kept-bucket") is not None


def test_anonymous_callers_get_googles_401(own: daemon.SandboxInfo, backend: Backend) -> None:
    """No token: anonymous, as on Google — it may read public objects and nothing else."""
    vms = f"{own.url}/compute/v1/projects/{own.project}/zones/{ZONE}/instances"
    status, body = raw(vms, method="POST", body=vm_body("anon", "id > pwned"))
    assert status == 401
    error = json.loads(body)["error"]
    assert error["status"] == "UNAUTHENTICATED"
    assert "missing required authentication credential" in error["message"]
    assert raw(f"{own.url}/storage/v1/b?project={own.project}")[0] == 401
    for action in ("reset", "seed", "faults"):
        assert raw(f"{own.url}/_sandbox/{action}", method="POST", body=b"{}")[0] == 401
    assert raw(f"{own.url}/_sandbox/monitoring")[0] == 401
    # A bearer token that is not the owner's is no better.
    wrong = {"Authorization": "Bearer not-the-token"}
    assert raw(vms, method="POST", body=vm_body("anon2", "id"), headers=wrong)[0] == 401
    # The health check answers (clients verify the daemon with it) and holds no secret.
    status, body = raw(f"{own.url}/_sandbox/health?nonce=abc")
    assert status == 200 and own.token.encode() not in body
    assert instance_names(backend) == []


def test_anonymous_reads_public_objects_only(own: daemon.SandboxInfo, backend: Backend) -> None:
    bucket = gcs(backend).create_bucket("mixed-access")
    bucket.blob("private.txt").upload_from_string(b"private bytes")
    public = bucket.blob("public.txt")
    public.upload_from_string(b"public bytes")
    public.make_public()
    json_api = f"{own.url}/storage/v1/b/mixed-access/o"
    for name, expected in (("private.txt", 401), ("public.txt", 200)):
        assert raw(f"{json_api}/{name}?alt=media")[0] == expected, name
        assert raw(f"{json_api}/{name}")[0] == expected, name  # metadata
        download = f"{own.url}/download/storage/v1/b/mixed-access/o/{name}?alt=media"
        assert raw(download)[0] == expected, name
    assert raw(f"{own.url}/mixed-access/public.txt") == (200, b"public bytes")
    status, body = raw(f"{own.url}/mixed-access/private.txt")
    assert status == 403 and b"private bytes" not in body
    # Listing, writing, changing the ACL: not even on a public object.
    assert raw(json_api)[0] == 401
    acl = json.dumps({"entity": "allUsers", "role": "READER"}).encode()
    status, _ = raw(
        f"{json_api}/private.txt/acl",
        method="POST",
        body=acl,
        headers={"Content-Type": "application/json"},
    )
    assert status == 401
    assert raw(f"{json_api}/public.txt", method="DELETE")[0] == 401
    assert bucket.blob("public.txt").exists()


def test_monitoring_grpc_refuses_calls_without_the_token(own: daemon.SandboxInfo) -> None:
    import grpc
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.metric_service.transports import (
        MetricServiceGrpcTransport,
    )

    status, body = raw(f"{own.url}/_sandbox/monitoring", headers=own.owner_headers())
    assert status == 200
    target = json.loads(body)["grpcEndpoint"]
    client = monitoring_v3.MetricServiceClient(
        transport=MetricServiceGrpcTransport(channel=grpc.insecure_channel(target))
    )
    request = {
        "name": f"projects/{own.project}",
        "filter": 'metric.type = "compute.googleapis.com/instance/cpu/utilization"',
        "interval": {"end_time": {"seconds": 2_000_000_000}, "start_time": {"seconds": 1}},
    }
    from google.api_core import exceptions as gexc

    with pytest.raises(gexc.Unauthenticated):
        list(client.list_time_series(request=request, timeout=10))


# ---------------------------------------------------------------- another OS account


NOBODY_SCRIPT = r"""
import json, sys, urllib.request, urllib.error
url, data_dir, project = sys.argv[1:4]
out = {}
def call(path, method="GET", body=None):
    req = urllib.request.Request(url + path, data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
for name in ("owner-token", "sandbox.json", "adc.json", "sandbox.log", "state.sqlite3"):
    try:
        open(data_dir + "/" + name).read()
        out[name] = "read"
    except OSError as exc:
        out[name] = type(exc).__name__
try:
    import os
    os.listdir(data_dir)
    out["listdir"] = "read"
except OSError as exc:
    out["listdir"] = type(exc).__name__
out["list_buckets"] = call("/storage/v1/b?project=" + project)
out["create_vm"] = call("/compute/v1/projects/%s/zones/us-central1-a/instances" % project,
                        "POST", sys.stdin.buffer.read())
out["private"] = call("/storage/v1/b/mixed-access-2/o/private.txt?alt=media")
out["public"] = call("/storage/v1/b/mixed-access-2/o/public.txt?alt=media")
out["reset"] = call("/_sandbox/reset", "POST", b"{}")
print(json.dumps(out))
"""


@pytest.mark.skipif(
    not AS_ROOT or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root to act as another account (CI runs as root) and a system Python",
)
def test_another_account_is_anonymous_and_cannot_read_the_folder(
    own: daemon.SandboxInfo, backend: Backend
) -> None:
    bucket = gcs(backend).create_bucket("mixed-access-2")
    bucket.blob("private.txt").upload_from_string(b"private")
    bucket.blob("public.txt").upload_from_string(b"public", predefined_acl="publicRead")
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", NOBODY_SCRIPT, own.url, str(own.data_dir), own.project],
        input=vm_body("intruder", "id > pwned"),
        capture_output=True,
        user="nobody",
        group="nogroup",
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    seen = json.loads(proc.stdout)
    for name in ("owner-token", "sandbox.json", "adc.json", "sandbox.log", "state.sqlite3"):
        assert seen[name] == "PermissionError", (name, seen)
    assert seen["listdir"] == "PermissionError"
    assert seen["list_buckets"] == 401
    assert seen["create_vm"] == 401
    assert seen["private"] == 401
    assert seen["public"] == 200
    assert seen["reset"] == 401
    assert "intruder" not in instance_names(backend)
    assert gcs(backend).lookup_bucket("mixed-access-2") is not None


# ---------------------------------------------------------------- a stranger on the port


class Squatter:
    """A plain HTTP server on a given port that answers everything 200 and records headers.

    Once `relay_to` is set it passes the health challenge on to that address (the real
    sandbox, moved to another port) and replays the answer, as a cleverer stranger would.
    """

    relay_to: str | None = None

    def __init__(self, port: int) -> None:
        seen: list[dict[str, str]] = []
        squatter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append({k.lower(): v for k, v in self.headers.items()})
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                body = json.dumps({"status": "ok", "project": "cloudpane-sandbox"}).encode()
                if squatter.relay_to and self.path.startswith("/_sandbox/health"):
                    body = raw(squatter.relay_to + self.path)[1]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        http.server.HTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.seen = seen
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_a_stranger_on_the_port_is_never_sent_the_token(private_sandbox: Path) -> None:
    from tui.services.storage import StorageService

    info = daemon.start(private_sandbox, env={"CLOUDPANE_SANDBOX_TIMING": TEST_TIMING})
    port = int(info.url.rsplit(":", 1)[1])
    service = StorageService(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
    await service.create_bucket("before-stop", "us-central1")
    daemon.stop(private_sandbox)
    squatter = Squatter(port)  # another account takes the freed port
    try:
        # The running app's next request: the sandbox is gone, nothing is sent to the port.
        with pytest.raises(Unavailable, match="has stopped"):
            await service.list_buckets()
        assert squatter.seen == []
        # `start` moves to another port rather than talk to the stranger ...
        moved = daemon.start(private_sandbox, env={"CLOUDPANE_SANDBOX_TIMING": TEST_TIMING})
        assert moved.url != info.url
        # ... and the running app, whose address is now the stranger's, refuses it,
        with pytest.raises(Unavailable, match=f"Something else is listening on 127.0.0.1:{port}"):
            await service.list_buckets()
        assert squatter.seen, "the stranger was asked to prove itself"
        # even when the stranger passes the challenge on to the real daemon: its answer names
        # the daemon's own address, not this one.
        squatter.relay_to = moved.url
        with pytest.raises(Unavailable, match=f"Something else is listening on 127.0.0.1:{port}"):
            await service.list_buckets()
        # The CLI names the stranger when the folder still points at the port (a daemon killed
        # without cleaning up, its pid now another process's).
        state = {"pid": os.getpid(), "url": info.url, "project": info.project}
        (private_sandbox / "sandbox.json").write_text(json.dumps(state))
        with pytest.raises(daemon.SandboxError, match="not your sandbox"):
            daemon.status(private_sandbox)
        (private_sandbox / "sandbox.json").write_text(
            json.dumps({"pid": moved.pid, "url": moved.url, "project": moved.project})
        )
        token = info.token
        for headers in squatter.seen:
            assert "authorization" not in headers
            assert token not in json.dumps(headers)
    finally:
        squatter.close()


# ---------------------------------------------------------------- what the sandbox runs


ENV_TASK = r"""
import json, os, sys
from google.cloud import storage
client = storage.Client()
bucket = client.bucket(sys.argv[1])
seen = bucket.blob("input.txt").download_as_bytes().decode()
bucket.blob("output.txt").upload_from_string("job read: " + seen)
print("ENVNAMES " + json.dumps(sorted(os.environ)), flush=True)
print("ENVDUMP " + json.dumps(dict(os.environ)), flush=True)
"""


def env_sdist() -> bytes:
    files = {
        "envjob-0.1/PKG-INFO": b"Metadata-Version: 2.1\nName: envjob\nVersion: 0.1\n",
        # Installing the package runs its setup.py (pip, in the executor's environment): code
        # of the user's too, which must not see the daemon's variables either.
        "envjob-0.1/setup.py": (
            b"import os\n"
            b"assert 'CANARY_TOKEN' not in os.environ, 'setup.py saw the daemon environment'\n"
            b"from setuptools import setup\nsetup(name='envjob')\n"
        ),
        "envjob-0.1/envjob/__init__.py": b"",
        "envjob-0.1/envjob/task.py": ENV_TASK.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return buf.getvalue()


def log_texts(backend: Backend, log_filter: str) -> list[str]:
    from google.cloud import logging as cloud_logging

    client = cloud_logging.Client(
        project=backend.project,
        credentials=backend.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": backend.endpoint},
    )
    return [str(e.payload) for e in client.list_entries(filter_=log_filter, page_size=1000)]


def test_a_job_gets_a_clean_environment_and_the_owners_buckets(
    own: daemon.SandboxInfo, backend: Backend
) -> None:
    client = gcs(backend)
    bucket = client.create_bucket("job-data")  # private: the job reads it as the owner
    bucket.blob("input.txt").upload_from_string(b"the owner's data")
    bucket.blob("envjob-0.1.tar.gz").upload_from_string(env_sdist())
    jobs = aiplatform_v1.JobServiceClient(
        credentials=backend.credentials,
        transport="rest",
        client_options={"api_endpoint": backend.endpoint},
    )
    pool = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "python_package_spec": {
            "executor_image_uri": TRAINER_IMAGE,
            "package_uris": ["gs://job-data/envjob-0.1.tar.gz"],
            "python_module": "envjob.task",
            "args": ["job-data"],
        },
    }
    created = jobs.create_custom_job(
        parent=f"projects/{own.project}/locations/{REGION}",
        custom_job={"display_name": "envjob", "job_spec": {"worker_pool_specs": [pool]}},
    )
    final = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
    job = wait_until(
        lambda: (j := jobs.get_custom_job(name=created.name)).state.name in final and j,
        timeout=90,
        what="the job to end",
    )
    job_id = created.name.rsplit("/", 1)[1]
    lines = log_texts(backend, f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"')
    assert job.state.name == "JOB_STATE_SUCCEEDED", (job.error, lines[-10:])
    # A plain storage.Client() read the owner's private object and wrote the answer back.
    assert bucket.blob("output.txt").download_as_bytes() == b"job read: the owner's data"
    names = json.loads(next(t for t in lines if t.startswith("ENVNAMES "))[9:])
    assert "CANARY_TOKEN" not in names and "GITHUB_TOKEN" not in names
    assert "CLOUDPANE_SANDBOX_FAULTS" not in names and "CLOUDPANE_SANDBOX_TIMING" not in names
    assert "CLOUD_ML_JOB_ID" in names and "HOME" in names and "PATH" in names
    assert not any(CANARY in t for t in lines)
    assert not any(own.token in t for t in lines)  # the path of the ADC file, not the secret
    home = json.loads(next(t for t in lines if t.startswith("ENVDUMP "))[8:])["HOME"]
    assert Path(home).is_relative_to(own.data_dir) and Path(home).is_dir()


def test_a_startup_script_gets_a_clean_environment(
    own: daemon.SandboxInfo, backend: Backend
) -> None:
    client = gcs(backend)
    bucket = client.create_bucket("vm-data")
    bucket.blob("in.txt").upload_from_string(b"vm input")
    script = (
        "#!/bin/bash\n"
        "env | sort\n"
        f'"{sys.executable}" -c "from google.cloud import storage; '
        "b = storage.Client().bucket('vm-data'); "
        "b.blob('out.txt').upload_from_string(b.blob('in.txt').download_as_bytes())\"\n"
        "echo script-done\n"
    )
    vms = compute_v1.InstancesClient(
        credentials=backend.credentials,
        transport="rest",
        client_options={"api_endpoint": backend.endpoint},
    )
    url = f"{own.url}/compute/v1/projects/{own.project}/zones/{ZONE}/instances"
    headers = {"Content-Type": "application/json", **own.owner_headers()}
    status, answer = raw(url, method="POST", body=vm_body("env-vm", script), headers=headers)
    assert status == 200, answer

    def serial() -> str:
        return str(
            vms.get_serial_port_output(project=own.project, zone=ZONE, instance="env-vm").contents
        )

    wait_until(lambda: "startup-script exit status" in serial(), 60, 0.2, "the script to end")
    out = serial()
    assert "script-done" in out and "exit status 0" in out, out[-2000:]
    assert CANARY not in out and "CANARY_TOKEN" not in out and "GITHUB_TOKEN" not in out
    assert "CLOUDPANE_SANDBOX_FAULTS" not in out and own.token not in out
    assert bucket.blob("out.txt").download_as_bytes() == b"vm input"
    logged = log_texts(backend, 'resource.type="gce_instance"')
    assert logged and not any(CANARY in t for t in logged)


# ---------------------------------------------------------------- files, after a session


def _open_modes(root: Path) -> list[str]:
    """Everything under root (root too) that group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        try:
            if path.is_symlink():
                continue
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:  # a temporary file that came and went
            continue
        if mode & 0o077 or (path.is_dir() and mode != 0o700):
            found.append(f"{oct(mode)} {path}")
    return found


def test_owner_only_files_after_a_session(own: daemon.SandboxInfo, backend: Backend) -> None:
    """Runs after the module's other tests: buckets, objects, VMs, a job, logs, serial output."""
    from tui.applog import setup_file_log
    from tui.config import state_dir
    from tui.services.audit import AuditLog

    gcs(backend).create_bucket("modes").blob("a/b.txt").upload_from_string(b"bytes")
    daemon.admin(own, "faults", {})
    expected = {"owner-token", "adc.json", "sandbox.json", "sandbox.log", "state.sqlite3"}
    assert expected <= {p.name for p in own.data_dir.iterdir()}
    assert _open_modes(own.data_dir) == []
    # cloudpane's own side: its log and its audit trail in the state folder.
    import logging

    path = setup_file_log()
    assert path is not None
    logging.getLogger("tui.test").error("a line for the log file")
    AuditLog("owner@example.com", own.project, "sandbox").record("test", "target", "ok")
    for handler in list(logging.getLogger("tui").handlers):
        if getattr(handler, "baseFilename", None) == str(path):
            handler.close()
            logging.getLogger("tui").removeHandler(handler)
    assert (state_dir() / "cloudpane.log").exists() and (state_dir() / "audit.log").exists()
    assert _open_modes(state_dir()) == []


def test_an_old_open_folder_is_narrowed_at_start(private_sandbox: Path) -> None:
    """A data folder written by an earlier version (0755 folders, 0644 files) is made private."""
    (private_sandbox / "blobs" / "gcs").mkdir(parents=True)
    old = private_sandbox / "blobs" / "gcs" / "object"
    old.write_bytes(b"old bytes")
    for path in (private_sandbox, private_sandbox / "blobs", private_sandbox / "blobs" / "gcs"):
        path.chmod(0o755)
    old.chmod(0o644)
    (private_sandbox / "last-port").write_text("0")
    (private_sandbox / "last-port").chmod(0o644)
    daemon.start(private_sandbox, env={"CLOUDPANE_SANDBOX_TIMING": TEST_TIMING})
    assert _open_modes(private_sandbox) == []


# ---------------------------------------------------------------- the user's own tools


TOOL_SCRIPT = r"""
from google.cloud import storage
client = storage.Client()
bucket = client.bucket("tool-bucket")
bucket.blob("from-tool.txt").upload_from_string(b"written by a plain client")
print(sorted(b.name for b in client.list_blobs("tool-bucket")))
"""


def test_sandbox_env_is_all_a_plain_client_needs(own: daemon.SandboxInfo, backend: Backend) -> None:
    gcs(backend).create_bucket("tool-bucket").blob("private.txt").upload_from_string(b"p")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CLOUDPANE_SANDBOX_DIR": str(own.data_dir),
    }
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    printed = subprocess.run(
        [sys.executable, "-m", "tui", "sandbox", "env"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    ).stdout
    assert own.token not in printed  # it names files, never the secret
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in printed.splitlines() if line
    )
    assert "STORAGE_EMULATOR_HOST" not in exports  # it would make storage.Client() anonymous
    tool_env = {"PATH": env["PATH"], "HOME": str(own.data_dir.parent), **exports}
    tool = subprocess.run(
        [sys.executable, "-c", TOOL_SCRIPT],
        capture_output=True,
        text=True,
        env=tool_env,
        cwd=own.data_dir.parent,
        timeout=120,
        check=False,
    )
    assert tool.returncode == 0, tool.stderr[-2000:]
    assert "['from-tool.txt', 'private.txt']" in tool.stdout


async def test_the_running_app_refuses_a_stranger_on_its_port(private_sandbox: Path) -> None:
    """The finding: after `sandbox stop` another account took the port, and the running TUI kept
    sending it requests and showed its answers as the sandbox project."""
    import asyncio

    from tests.test_interrupted_work import (
        create_vm,
        make_app,
        start_private,
        vm_names,
        vms_message,
    )
    from tests.test_interrupted_work import wait_for as app_wait_for

    info = start_private(private_sandbox)
    port = int(info.url.rsplit(":", 1)[1])
    await create_vm(info, "mine")
    app = make_app(info)
    async with app.run_test(size=(100, 30)) as pilot:
        await app_wait_for(pilot, lambda: vm_names(app) == ["mine"])
        await asyncio.to_thread(daemon.stop, private_sandbox)
        squatter = Squatter(port)
        try:
            await asyncio.to_thread(start_private, private_sandbox)  # moves to another port
            await app_wait_for(
                pilot, lambda: "Something else is listening" in vms_message(app), timeout=30
            )
            assert f"127.0.0.1:{port}" in vms_message(app)
            assert vm_names(app) == ["mine"]  # the last list, not the stranger's answer
            assert app._exception is None
        finally:
            squatter.close()
    assert squatter.seen  # it was asked to prove itself ...
    assert not any("authorization" in h for h in squatter.seen)  # ... and sent no token
