"""`cloudpane status` against the sandbox: table content, the JSON schema, exit codes 0/1/2.

Real google-cloud clients, real sandbox; resources are made through the same services the TUI
uses (ComputeService, JobsService).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.jobs_helpers import TRAINER_IMAGE, upload_standin, wait_until
from tui.cli import report as report_module
from tui.cli.report import gather
from tui.cli.status import report_status, run_status
from tui.config import Config
from tui.sandbox import daemon
from tui.services import pricing
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.job_models import JobSpec, WorkerPool
from tui.services.jobs import JobsService
from tui.services.models import Image, InstanceSpec

ZONE = "us-central1-a"
DEBIAN = Image("debian-cloud", "debian-12")
ANSI = re.compile(r"\x1b\[")
ROOT = Path(__file__).resolve().parent.parent


def make_instance(backend: Backend, name: str, **kw: Any) -> None:
    values: dict[str, Any] = {
        "name": name,
        "zone": ZONE,
        "machine_type": "e2-medium",
        "image": DEBIAN,
        "disk_size_gb": 10,
    }
    values.update(kw)
    svc = ComputeService(backend)

    async def create() -> None:
        await svc.wait_operation(await svc.create_instance(InstanceSpec(**values)), timeout=30)

    asyncio.run(create())


def gpu_instance(backend: Backend, name: str = "gpu-1") -> None:
    """A T4 VM with no auto-stop: the `gpu-no-auto-stop` warning stands while it runs."""
    make_instance(
        backend,
        name,
        machine_type="n1-standard-4",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )


def submit_job(backend: Backend, name: str, package: str, args: tuple[str, ...] = ()) -> str:
    pool = WorkerPool(
        machine_type="n1-standard-4",
        package_uris=(package,),
        args=args,
        executor_image_uri=TRAINER_IMAGE,
    )
    spec = JobSpec(name, (pool,), base_output_directory="gs://stage/out")
    return asyncio.run(JobsService(backend).submit(spec)).name


def job_state(backend: Backend, name: str) -> str:
    return asyncio.run(JobsService(backend).get_job(name)).state


def status_text(backend: Backend, config: Config | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = report_status(backend, config or Config(), out=out, width=80)
    return code, out.getvalue()


def status_json(backend: Backend, config: Config | None = None) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = report_status(backend, config or Config(), as_json=True, out=out)
    return code, json.loads(out.getvalue())


# -- the documented JSON schema (docs/oncall.md), checked field by field -----------------------

NUM = (int, float)
OPT_NUM = (int, float, type(None))
OPT_STR = (str, type(None))

WARNING_FIELDS = {
    "instance": str,
    "instance_id": str,
    "rule": str,
    "title": str,
    "evidence": str,
    "hourly_usd": OPT_NUM,
    "since": OPT_STR,
}
INSTANCE_FIELDS = {
    "id": str,
    "name": str,
    "zone": str,
    "status": str,
    "machine_type": str,
    "gpus": int,
    "hourly_usd": OPT_NUM,
    "run_cost_usd": OPT_NUM,
    "running_seconds": int,
    "stops_at": OPT_STR,
    "warnings": list,
}
JOB_FIELDS = {
    "id": str,
    "name": str,
    "display_name": str,
    "state": str,
    "region": str,
    "hardware": str,
    "hourly_usd": OPT_NUM,
    "created": OPT_STR,
    "started": OPT_STR,
    "ended": OPT_STR,
    "error": OPT_STR,
}
COST_FIELDS = {
    "burn_usd_per_hour": NUM,
    "compute_usd_per_hour": NUM,
    "disks_usd_per_hour": NUM,
    "training_usd_per_hour": NUM,
    "today_usd": NUM,
    "month_projection_usd": NUM,
    "monthly_budget_usd": OPT_NUM,
    "unknown_prices": list,
    "catalog": str,
}
TOP_FIELDS = {
    "schema": str,
    "generated_at": str,
    "project": str,
    "backend": str,
    "exit_code": int,
    "attention": list,
    "instances": list,
    "warnings": list,
    "jobs": dict,
    "costs": (dict, type(None)),
    "errors": list,
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def check_fields(doc: dict[str, Any], fields: dict[str, Any], where: str) -> None:
    assert set(doc) == set(fields), f"{where}: keys {sorted(doc)} != {sorted(fields)}"
    for key, kinds in fields.items():
        value = doc[key]
        assert isinstance(value, kinds) and not (isinstance(value, bool) and kinds in (int, NUM)), (
            f"{where}.{key} = {value!r} is not {kinds}"
        )
        if key in ("generated_at", "since", "stops_at", "created", "started", "ended") and value:
            assert TIMESTAMP.match(value), f"{where}.{key} = {value!r} is not RFC 3339 UTC"


def check_schema(doc: dict[str, Any]) -> None:
    check_fields(doc, TOP_FIELDS, "status")
    assert doc["schema"] == "cloudpane.status/1"
    assert doc["exit_code"] in (0, 1, 2)
    assert all(isinstance(a, str) for a in doc["attention"])
    for i, inst in enumerate(doc["instances"]):
        check_fields(inst, INSTANCE_FIELDS, f"instances[{i}]")
    for i, warning in enumerate(doc["warnings"]):
        check_fields(warning, WARNING_FIELDS, f"warnings[{i}]")
    jobs = doc["jobs"]
    assert set(jobs) == {
        "available",
        "error",
        "region",
        "failed_within_hours",
        "active",
        "failed_recently",
    }
    assert isinstance(jobs["available"], bool) and isinstance(jobs["error"], OPT_STR)
    for group in ("active", "failed_recently"):
        for i, job in enumerate(jobs[group]):
            check_fields(job, JOB_FIELDS, f"jobs.{group}[{i}]")
    if doc["costs"] is not None:
        check_fields(doc["costs"], COST_FIELDS, "costs")
    for error in doc["errors"]:
        assert set(error) == {"what", "message", "hint"} and error["message"]


# -- exit 0 -------------------------------------------------------------------------------------


def test_empty_project_needs_no_attention(clean_sandbox: Backend) -> None:
    code, text = status_text(clean_sandbox)
    assert code == 0
    assert "No running instances." in text
    assert "No training jobs running in us-central1." in text
    assert "OK (exit 0): nothing needs attention." in text
    assert "Burn rate $0.00/h" in text
    assert not ANSI.search(text), "no colours when the output is not a terminal"


def test_cheap_vm_is_listed_with_its_cost_and_exit_0(clean_sandbox: Backend) -> None:
    make_instance(clean_sandbox, "web-1")
    code, text = status_text(clean_sandbox)
    assert code == 0, text
    row = next(line for line in text.splitlines() if "web-1" in line)
    assert "us-central1-a" in row and "e2-medium" in row
    assert re.search(r"\$0\.0\d{3}", row), f"the e2-medium's $/h is shown: {row!r}"
    assert "Running instances (1 of 1)" in text
    code, doc = status_json(clean_sandbox)
    check_schema(doc)
    assert code == doc["exit_code"] == 0 and doc["attention"] == []
    (inst,) = doc["instances"]
    assert (inst["name"], inst["status"], inst["gpus"]) == ("web-1", "RUNNING", 0)
    assert 0 < inst["hourly_usd"] < 0.1
    assert doc["costs"]["compute_usd_per_hour"] == pytest.approx(inst["hourly_usd"], abs=1e-3)


class TerminalOut(io.StringIO):
    """Output that says it is a terminal, as a person's shell is."""

    def isatty(self) -> bool:
        return True


COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7])(?:;\d+)*m")


def test_colours_on_a_terminal_but_never_with_no_color(
    clean_sandbox: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    out = TerminalOut()
    assert report_status(clean_sandbox, Config(), out=out, width=80) == 0
    assert COLOUR.search(out.getvalue()), "a terminal gets colours"
    monkeypatch.setenv("NO_COLOR", "1")
    out = TerminalOut()
    assert report_status(clean_sandbox, Config(), out=out, width=80) == 0
    assert not COLOUR.search(out.getvalue()), "NO_COLOR: no colour codes at all"
    assert "OK (exit 0)" in out.getvalue()


# -- exit 1 -------------------------------------------------------------------------------------


def test_gpu_without_auto_stop_is_a_warning_and_exit_1(clean_sandbox: Backend) -> None:
    gpu_instance(clean_sandbox)
    make_instance(clean_sandbox, "stopped-later")
    code, text = status_text(clean_sandbox)
    assert code == 1, text
    assert "Turn-off warnings" in text
    assert re.search(r"⚠ gpu-1 gpu-no-auto-stop: 1 GPU and no auto-stop set .*costing \$", text)
    gpu_row = next(line for line in text.splitlines() if line.lstrip().startswith("gpu-1"))
    assert "n1-standard-4 +1GPU" in gpu_row
    assert "ATTENTION (exit 1)" in text
    table = text.split("Turn-off warnings")[0]
    assert max(len(line) for line in table.splitlines()) <= 80, "the table fits 80 columns"
    assert "month ≈" in text and "budget $50" in text

    code, doc = status_json(clean_sandbox)
    check_schema(doc)
    assert code == doc["exit_code"] == 1
    rules = {(w["instance"], w["rule"]) for w in doc["warnings"]}
    assert ("gpu-1", "gpu-no-auto-stop") in rules
    gpu = next(i for i in doc["instances"] if i["name"] == "gpu-1")
    assert gpu["gpus"] == 1 and "gpu-no-auto-stop" in gpu["warnings"]
    assert any(a.startswith("gpu-1 gpu-no-auto-stop:") for a in doc["attention"])


def test_disabled_rules_and_a_high_budget_clear_the_warning(clean_sandbox: Backend) -> None:
    gpu_instance(clean_sandbox)
    config = Config(
        rules={"disabled": ["gpu-no-auto-stop", "gpu-off-hours"], "monthly_budget": 100000}
    )
    code, doc = status_json(clean_sandbox, config)
    assert (code, doc["warnings"]) == (0, []), doc["attention"]
    assert doc["costs"]["monthly_budget_usd"] == 100000


def test_recently_failed_job_needs_attention_and_running_jobs_are_listed(
    clean_sandbox: Backend,
) -> None:
    package = upload_standin(clean_sandbox)
    failed = submit_job(clean_sandbox, "depth-broken", "gs://stage/missing.tar.gz")
    running = submit_job(clean_sandbox, "depth-forever", package, ("--forever",))
    try:
        wait_until(lambda: job_state(clean_sandbox, failed) == "JOB_STATE_FAILED", 30)
        wait_until(lambda: job_state(clean_sandbox, running) == "JOB_STATE_RUNNING", 30)
        code, text = status_text(clean_sandbox)
        assert code == 1, text
        assert "Training jobs running in us-central1" in text
        assert re.search(
            r"depth-forever\s+\d+\s+RUNNING\s+1× n1-standard-4\s+\d+s\s+\$0\.\d+", text
        ), text
        assert re.search(r"depth-broken\s+\d+\s+\d+s ago\s+1× n1-standard-4", text), text
        assert "Jobs failed in the last 24 h" in text
        assert "✗ depth-broken: " in text and "missing.tar.gz" in text
        assert "1 failed job" in text

        code, doc = status_json(clean_sandbox)
        check_schema(doc)
        assert code == 1
        assert [j["display_name"] for j in doc["jobs"]["active"]] == ["depth-forever"]
        assert doc["jobs"]["active"][0]["hourly_usd"] > 0
        (bad,) = doc["jobs"]["failed_recently"]
        assert bad["state"] == "JOB_STATE_FAILED" and "missing.tar.gz" in bad["error"]
        assert any(a.startswith("job depth-broken") for a in doc["attention"])

        # "Recently" is a window: the same failure seen two days later no longer counts.
        later = asyncio.run(gather(clean_sandbox, Config())).generated_at + timedelta(days=2)
        old = asyncio.run(gather(clean_sandbox, Config(), later))
        assert old.failed_jobs == [] and old.exit_code == 0
    finally:
        asyncio.run(JobsService(clean_sandbox).cancel(running))


# -- exit 2 -------------------------------------------------------------------------------------


def test_unreadable_project_exits_2_and_says_why(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    make_instance(clean_sandbox, "web-1")
    faults(error_rate=1.0, codes=[403])  # the endpoint refuses every read
    code, text = status_text(clean_sandbox)
    assert code == 2
    assert "instances: not available:" in text and "INCOMPLETE (exit 2)" in text
    assert "Burn rate" not in text, "no $0 burn rate for a project that could not be read"
    code, doc = status_json(clean_sandbox)
    check_schema(doc)
    assert code == doc["exit_code"] == 2
    assert doc["costs"] is None and doc["instances"] == []
    assert {e["what"] for e in doc["errors"]} == {"instances", "jobs"}
    assert all(e["message"] for e in doc["errors"])


def test_jobs_unreadable_degrades_to_not_available(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    make_instance(clean_sandbox, "web-1")
    faults(error_rate=1.0, codes=[403], path_prefix="/v1/projects")  # Vertex AI only
    code, text = status_text(clean_sandbox)
    assert code == 2
    assert "web-1" in text, "instances are still reported"
    assert "jobs: not available:" in text
    code, doc = status_json(clean_sandbox)
    check_schema(doc)
    assert doc["jobs"]["available"] is False and doc["jobs"]["error"]
    assert [i["name"] for i in doc["instances"]] == ["web-1"] and doc["costs"] is not None


def test_no_credentials_for_a_named_project_exits_2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tui.services.connect.adc_may_exist", lambda: False)
    monkeypatch.delenv("CLOUDPANE_SANDBOX", raising=False)
    args = argparse.Namespace(project="someone-elses", sandbox=False, json=True, failed_within=24)
    out, err = io.StringIO(), io.StringIO()
    assert run_status(args, Config(), out=out, err=err) == 2
    doc = json.loads(out.getvalue())
    assert doc["exit_code"] == 2 and doc["errors"][0]["what"] == "connection"
    assert "No Google credentials" in doc["errors"][0]["message"]
    args.json = False
    assert run_status(args, Config(), out=out, err=err) == 2
    assert "cloudpane status: No Google credentials found for project someone-elses" in (
        err.getvalue()
    )


# -- the command line ---------------------------------------------------------------------------


def test_command_line_exit_code_and_json(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    gpu_instance(clean_sandbox)
    env = {**os.environ, "CLOUDPANE_SANDBOX_DIR": str(sandbox_info.data_dir), "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli.status", "--sandbox", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    check_schema(doc)
    assert doc["project"] == sandbox_info.project and doc["backend"] == "sandbox"
    bad = subprocess.run(
        [sys.executable, "-m", "tui.cli.status", "--failed-within", "-3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "must be more than 0 hours" in bad.stderr


def test_report_module_keeps_heavy_imports_lazy() -> None:
    """Importing the CLI modules must not import google-cloud (start-up time)."""
    code = (
        "import sys, tui.cli.status, tui.cli.watch, tui.cli.serve; "
        "heavy = ('google.cloud.compute_v1', 'google.cloud.aiplatform', 'textual_serve', "
        "'textual.app'); print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr
    assert report_module.SCHEMA == "cloudpane.status/1"


def test_running_training_is_in_the_burn_rate(clean_sandbox: Backend) -> None:
    """A job on n1-standard-4 and no VMs: `status` burns at the job's Vertex training rate."""
    spec = JobSpec(
        display_name="burning",
        worker_pools=(
            WorkerPool(
                package_uris=(upload_standin(clean_sandbox),),
                args=("--forever",),
                executor_image_uri=TRAINER_IMAGE,
            ),
        ),
        base_output_directory="gs://stage/runs/one",
    )
    service = JobsService(clean_sandbox)
    job = asyncio.run(service.submit(spec))
    try:
        wait_until(
            lambda: any(j.status == "RUNNING" for j in asyncio.run(service.list_jobs())),
            timeout=60,
            what="the job to run",
        )
        report = asyncio.run(gather(clean_sandbox, Config()))
        hourly = pricing.get_catalog().vertex_hourly("n1-standard-4", "us-central1")
        assert hourly and report.burn_training == pytest.approx(hourly)
        assert report.burn_total == pytest.approx(hourly)
        assert report.month_projection == pytest.approx(
            pricing.month_projection(hourly, report.generated_at)
        )
    finally:
        asyncio.run(service.cancel(job.name))
