"""Cloud text is data in every CLI verb: `status`, `watch`, `audit` (issue 14, point 6).

The hostile corpus (tests/support/hostile.py) goes into the sandbox through Google's own
clients — Vertex AI job display names (aiplatform_v1, as another tool or a colleague would
write them; cloudpane's own submit refuses control characters, an attacker's client does
not), the failing jobs' log lines (which Vertex copies into the job's error), Cloud Storage
object names (made public through cloudpane, so they land in the audit trail) — and then each
verb runs for real, as a subprocess. Each must exit with its documented code, put no control
byte or escape sequence on the terminal (stdout or stderr), show the escaped forms instead,
and keep `--json` exact.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.jobs_helpers import TRAINER_IMAGE, storage_client, wait_until
from tests.support.hostile import (
    ACTING,
    HOSTILE,
    MARKUP,
    fit,
    object_name_safe,
    shown,
    tagged,
    terminal_unsafe,
)
from tests.test_cli_status import gpu_instance
from tests.test_cli_watch import Watch, watch  # noqa: F401  (the fixture)
from tui.sandbox import daemon
from tui.services.clients import Backend
from tui.services.job_models import JobSpec, WorkerPool
from tui.services.jobs import spec_to_resource
from tui.services.storage import StorageService

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-central1"

# What the hostile trainer prints before failing: the last lines land in the job's error.
LOG_LINES = [
    HOSTILE["osc52-clipboard"],
    HOSTILE["osc8-link"],
    HOSTILE["osc0-title"],
    HOSTILE["csi-clear"],
    HOSTILE["c1-csi"],
    HOSTILE["bidi-override"],
    HOSTILE["markup-close"],
    HOSTILE["markup-click"],
    HOSTILE["long-10000"],
]

HOSTILE_TASK = f"""
import sys
for line in {LOG_LINES!r}:
    print(line, file=sys.stderr, flush=True)
sys.exit(3)
"""


def hostile_sdist() -> bytes:
    files = {
        "hostile-0.1/PKG-INFO": b"Metadata-Version: 2.1\nName: hostile\nVersion: 0.1\n",
        "hostile-0.1/setup.py": b"from setuptools import setup\n"
        b"setup(name='hostile', version='0.1', packages=['trainer'])\n",
        "hostile-0.1/trainer/__init__.py": b"",
        "hostile-0.1/trainer/task.py": HOSTILE_TASK.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def job_names() -> dict[str, str]:
    """corpus entry → a display name Vertex accepts (at most 128 characters) that carries it."""
    return {key: tagged(key, value, max_chars=128) for key, value in HOSTILE.items()}


MISSING = "gs://stage/packages/missing-0.1.tar.gz"
HOSTILE_PACKAGE = "gs://stage/packages/hostile-0.1.tar.gz"


def create_jobs(backend: Backend, names: dict[str, str], package: str = MISSING) -> list[str]:
    """One job per display name, created with Google's aiplatform_v1 client directly. With
    the missing package each fails at once ("could not be read"), without a process; with
    `HOSTILE_PACKAGE` it prints the hostile log lines and exits 3."""
    from google.cloud import aiplatform_v1

    if package == HOSTILE_PACKAGE:
        client = storage_client(backend)
        if client.lookup_bucket("stage") is None:
            client.create_bucket("stage")
        client.bucket("stage").blob(package[len("gs://stage/") :]).upload_from_string(
            hostile_sdist()
        )
    jobs = aiplatform_v1.JobServiceClient(
        credentials=backend.credentials,
        transport="rest",
        client_options=backend.regional_options(REGION),
    )
    pool = WorkerPool(
        machine_type="n1-standard-4", package_uris=(package,), executor_image_uri=TRAINER_IMAGE
    )
    created = []
    for name in names.values():
        resource = spec_to_resource(JobSpec("x", (pool,), base_output_directory="gs://stage/o"))
        resource["displayName"] = name
        job = jobs.create_custom_job(
            parent=f"projects/{backend.project}/locations/{REGION}",
            custom_job=aiplatform_v1.CustomJob.from_json(json.dumps(resource)),
        )
        created.append(job.name)
    return created


def wait_failed(backend: Backend, names: list[str]) -> None:
    from google.cloud import aiplatform_v1

    jobs = aiplatform_v1.JobServiceClient(
        credentials=backend.credentials,
        transport="rest",
        client_options=backend.regional_options(REGION),
    )

    def all_failed() -> bool:
        states = [jobs.get_custom_job(name=n).state.name for n in names]
        assert "JOB_STATE_SUCCEEDED" not in states, states
        return all(s == "JOB_STATE_FAILED" for s in states)

    wait_until(all_failed, timeout=180, interval=0.5, what="the hostile jobs to fail")


def cli(sandbox_info: daemon.SandboxInfo, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLOUDPANE_SANDBOX_DIR": str(sandbox_info.data_dir), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tui", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="surrogateescape",
        timeout=180,
    )


def assert_inert(output: str, where: str) -> None:
    bad = terminal_unsafe(output)
    assert not bad, f"{where}: control/format characters reach the terminal: {sorted(set(bad))!r}"
    assert "Traceback" not in output, f"{where}: a traceback:\n{output[-3000:]}"


@pytest.fixture(scope="module")
def hostile_jobs(sandbox_info: daemon.SandboxInfo, sandbox: Backend) -> Iterator[dict[str, str]]:
    """The corpus as failed jobs' display names (and, through their logs, their errors)."""
    daemon.admin(sandbox_info, "reset")
    names = job_names()
    created = create_jobs(sandbox, names)
    created += create_jobs(sandbox, {"logs": "hostile-logs"}, HOSTILE_PACKAGE)
    wait_failed(sandbox, created)
    yield {**names, "logs": "hostile-logs"}
    daemon.admin(sandbox_info, "reset")


def test_status_shows_hostile_job_names_and_errors_escaped(
    hostile_jobs: dict[str, str], sandbox_info: daemon.SandboxInfo
) -> None:
    done = cli(sandbox_info, "status", "--sandbox")
    assert_inert(done.stdout, "status stdout")
    assert_inert(done.stderr, "status stderr")
    assert done.returncode == 1, f"failed jobs need attention (exit 1):\n{done.stderr[-3000:]}"
    for key, name in hostile_jobs.items():
        assert shown(name) in done.stdout, f"{key}: {shown(name)!r} not shown"
    for key in MARKUP:
        assert HOSTILE[key] in done.stdout, f"{key} is not shown literally"
    for line in LOG_LINES[:-1]:
        assert shown(line) in done.stdout, f"log line {shown(line)!r} not in the job's error"
    assert "ATTENTION (exit 1)" in done.stdout


def test_status_json_is_exact(
    hostile_jobs: dict[str, str], sandbox_info: daemon.SandboxInfo
) -> None:
    done = cli(sandbox_info, "status", "--sandbox", "--json")
    assert_inert(done.stdout, "status --json")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "\\u202e" in done.stdout and "\\u001b" in done.stdout  # escaped by JSON itself
    doc = json.loads(done.stdout)
    failed = doc["jobs"]["failed_recently"]
    assert sorted(j["display_name"] for j in failed) == sorted(hostile_jobs.values())
    logs = next(j for j in failed if j["display_name"] == "hostile-logs")
    for line in LOG_LINES[:-1]:  # the error holds the log lines exactly, escapes and all
        assert line in logs["error"], logs["error"][:500]
    assert json.loads(json.dumps(doc)) == doc


def test_watch_shows_hostile_job_changes_escaped(
    clean_sandbox: Backend,
    sandbox_info: daemon.SandboxInfo,
    watch: Callable[..., Watch],  # noqa: F811
) -> None:
    gpu_instance(clean_sandbox)  # its warning says the first read (the baseline) is done
    w = watch()
    w.wait_for(r" WARNING gpu-1 gpu-no-auto-stop: ", timeout=60)
    names = {k: tagged(k, v, 128) for k, v in HOSTILE.items() if k in ACTING or k in MARKUP}
    created = create_jobs(clean_sandbox, names)
    for key, name in names.items():
        line = w.wait_for(re.escape(shown(name)) + r".*-> FAILED", timeout=180)
        assert_inert(line, f"watch line for {key}")
    assert w.stop() == 0
    wait_failed(clean_sandbox, created)
    err = w.proc.stderr.read() if w.proc.stderr else ""
    for line in w.lines:
        assert_inert(line, "watch stdout")
    assert_inert(err, "watch stderr")
    assert shown(HOSTILE["osc52-clipboard"]) in "\n".join(w.lines)


@pytest.fixture
def hostile_objects(clean_sandbox: Backend) -> dict[str, str]:
    """The corpus (what Cloud Storage allows in a name) as objects made public through
    cloudpane, so each lands in the audit trail; → entry → object name."""
    svc = StorageService(clean_sandbox)
    names = {
        key: fit(tagged(key, value), 1024)
        for key, value in HOSTILE.items()
        if object_name_safe(value)
    }

    async def expose() -> None:
        await svc.create_bucket("exposed", REGION, uniform_access=False)
        bucket = svc.client().bucket("exposed")
        for name in names.values():
            bucket.blob(name).upload_from_string(b"data")
            await svc.make_public("exposed", name)

    asyncio.run(expose())
    return names


def test_audit_shows_hostile_targets_escaped_and_the_real_action(
    hostile_objects: dict[str, str], sandbox_info: daemon.SandboxInfo
) -> None:
    done = cli(sandbox_info, "audit")
    assert_inert(done.stdout, "audit stdout")
    assert_inert(done.stderr, "audit stderr")
    assert done.returncode == 0
    rows = [line for line in done.stdout.splitlines() if "gs://exposed/" in line]
    # Two records per object (requested, then its outcome), one line each: no forged lines.
    assert len(rows) == 2 * len(hostile_objects), done.stdout[-3000:]
    for row in rows:
        assert "make-object-public" in row and "make-private" not in row.split("gs://")[0]
    for key, name in hostile_objects.items():
        assert shown(name) in done.stdout, f"{key}: {shown(name)!r} not shown"


def test_audit_json_is_exact(
    hostile_objects: dict[str, str], sandbox_info: daemon.SandboxInfo
) -> None:
    done = cli(sandbox_info, "audit", "--json")
    assert_inert(done.stdout, "audit --json")
    assert done.returncode == 0
    records = [json.loads(line) for line in done.stdout.splitlines()]
    targets = {r["target"] for r in records}
    for name in hostile_objects.values():
        assert f"gs://exposed/{name}" in targets
    assert "\\u202e" in done.stdout and "\\u001b" in done.stdout


def test_a_job_named_close_tag_does_not_crash_status(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    """The issue's reproduction: a job named `[/]` made `cloudpane status` print a traceback
    and exit 1 (as if something needed attention)."""
    created = create_jobs(clean_sandbox, {"close": "[/]"})
    wait_failed(clean_sandbox, created)
    done = cli(sandbox_info, "status", "--sandbox")
    assert_inert(done.stderr, "status stderr")
    assert done.returncode == 1 and "ATTENTION (exit 1)" in done.stdout, done.stderr[-2000:]
    assert "✗ [/]:" in done.stdout
