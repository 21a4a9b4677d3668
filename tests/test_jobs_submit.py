"""`cloudpane jobs submit|list|describe|logs|cancel` with code that is not the bundled trainer.

Each test packages a real folder or script, uploads it with the real google-cloud-storage client
and creates the job with the real aiplatform client on the session's sandbox, which installs the
package into its executor image's environment and runs it.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import textwrap
from pathlib import Path

import pytest

from tests.jobs_helpers import TRAINER_IMAGE, storage_client, wait_until
from tui.__main__ import build_parser
from tui.cli import jobs as jobs_cli
from tui.cli.status import report_status
from tui.config import Config
from tui.services.clients import Backend
from tui.services.jobs import JobsService
from tui.services.logs import LogsService

REGION = "us-central1"


def staged(backend: Backend) -> str:
    client = storage_client(backend)
    if client.lookup_bucket("stage") is None:
        client.create_bucket("stage")
    return "gs://stage/runs"


def run_submit(backend: Backend, *argv: str) -> tuple[int, str]:
    image = () if "--executor-image" in argv else ("--executor-image", TRAINER_IMAGE)
    args = build_parser().parse_args(["jobs", "submit", *image, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = asyncio.run(jobs_cli.submit(args, backend, REGION, out=out, err=err, poll_seconds=0.2))
    return code, out.getvalue() + err.getvalue()


def run_verb(backend: Backend, verb: str, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(["jobs", verb, *argv])
    out = io.StringIO()
    if verb == "list":
        code = asyncio.run(jobs_cli.list_jobs(backend, REGION, args.format, out))
    elif verb == "describe":
        code = asyncio.run(jobs_cli.describe(backend, args.job, REGION, args.format, out))
    else:
        code = asyncio.run(
            jobs_cli.show_logs(backend, args.job, REGION, args.format, args.follow, out)
        )
    return code, out.getvalue()


def job_id_of(output: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith("Submitted job"))
    return line.rsplit("/", 1)[1]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_folder_with_pyproject_and_a_dependency_is_built_installed_and_run(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    project = write(
        tmp_path / "depthy",
        {
            "pyproject.toml": """
                [build-system]
                requires = ["setuptools>=61"]
                build-backend = "setuptools.build_meta"

                [project]
                name = "depthy"
                version = "0.3"
                dependencies = ["pyjokes"]
            """,
            "depthy/__init__.py": "",
            "depthy/task.py": """
                import sys
                from importlib.metadata import version
                import pyjokes  # the declared dependency, not in the image
                print("depthy ran with", sys.argv[1:], "pyjokes", version("pyjokes"))
            """,
        },
    )
    code, output = run_submit(
        clean_sandbox,
        "--package", str(project), "--module", "depthy.task",
        "--staging-bucket", staged(clean_sandbox), "--wait", "--", "--lr", "0.1",
    )  # fmt: skip
    assert code == 0, output
    assert (
        "Packaged 3 files" in output
        and "depthy-0.3.tar.gz (built from its pyproject.toml)" in output
    )
    assert "Job SUCCEEDED" in output
    _, logs = run_verb(clean_sandbox, "logs", job_id_of(output))
    assert "depthy ran with ['--lr', '0.1'] pyjokes" in logs


def test_a_bare_folder_is_autopackaged_and_follow_streams_its_lines(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    folder = write(
        tmp_path / "bare",
        {
            "trainer/__init__.py": "",
            "trainer/util.py": "GREETING = 'from util'\n",
            "trainer/task.py": """
                from trainer.util import GREETING
                import importlib.util as u
                print("bare task", GREETING)
                print("sees daemon packages:", [m for m in ("tui", "textual", "yaml") if u.find_spec(m)])
            """,
            "notes/ignored.txt": "kept as data\n",
        },
    )
    code, output = run_submit(
        clean_sandbox,
        "--package", str(folder), "--module", "trainer.task",
        "--staging-bucket", staged(clean_sandbox), "--follow",
    )  # fmt: skip
    assert code == 0, output
    assert "(a bare folder, packaged for it)" in output
    assert "bare task from util" in output  # streamed by --follow
    assert "sees daemon packages: []" in output  # the image's environment, not the daemon's
    assert "Preparing image" in output or "Using the prepared environment" in output


def test_a_failing_script_says_why_in_one_line_everywhere(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    script = (
        write(
            tmp_path,
            {"oops.py": "print('starting')\nimport not_a_module_anywhere\n"},
        )
        / "oops.py"
    )
    code, output = run_submit(
        clean_sandbox,
        "--script",
        str(script),
        "--staging-bucket",
        staged(clean_sandbox),
        "--follow",
    )
    assert code == 1, output  # --follow/--wait: 1 when the job did not succeed
    why = "ModuleNotFoundError: No module named 'not_a_module_anywhere'"
    assert output.rstrip().splitlines()[-1] == f"Job FAILED: {why}"
    job_id = job_id_of(output)
    _, listing = run_verb(clean_sandbox, "list", "--format", "json")
    rows = {row["id"]: row for row in json.loads(listing)}
    assert rows[job_id]["reason"] == why
    described_code, described = run_verb(clean_sandbox, "describe", job_id)
    assert described_code == 1
    assert f"reason:        {why}" in described.splitlines()
    status = io.StringIO()
    assert report_status(clean_sandbox, Config(), out=status, width=200) == 1
    assert f"✗ oops: {why}" in status.getvalue().splitlines()


def test_a_two_worker_job_gets_the_second_pool_and_tf_config(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    script = (
        write(
            tmp_path,
            {
                "cluster.py": """
                import json, os
                tf = json.loads(os.environ["TF_CONFIG"])
                spec = json.loads(os.environ["CLUSTER_SPEC"])
                print("role", tf["task"]["type"], tf["task"]["index"], spec["task"]["type"],
                      sorted(tf["cluster"]))
            """
            },
        )
        / "cluster.py"
    )
    code, output = run_submit(
        clean_sandbox,
        "--script", str(script), "--replicas", "2",
        "--staging-bucket", staged(clean_sandbox), "--wait",
    )  # fmt: skip
    assert code == 0, output
    job_id = job_id_of(output)
    job = asyncio.run(
        JobsService(clean_sandbox).get_job(
            f"projects/{clean_sandbox.project}/locations/{REGION}/customJobs/{job_id}"
        )
    )
    assert [p.replica_count for p in job.spec.worker_pools] == [1, 1]
    _, logs = run_verb(clean_sandbox, "logs", job_id)
    assert "role chief 0 workerpool0 ['chief', 'worker']" in logs
    assert "role worker 0 workerpool1 ['chief', 'worker']" in logs


def test_submit_refuses_a_module_that_is_not_in_the_folder(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    folder = write(tmp_path / "code", {"train.py": "print(1)\n"})
    args = build_parser().parse_args(
        ["jobs", "submit", "--package", str(folder), "--module", "trainer.task",
         "--staging-bucket", "gs://stage"]
    )  # fmt: skip
    from tui.services.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match=re.escape("no trainer/__init__.py or trainer.py")):
        jobs_cli.build_package(args, tmp_path / "out")


def test_buckets_away_from_the_region_are_named_before_anything_is_submitted(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    client = storage_client(clean_sandbox)
    client.create_bucket("eu-stage", location="europe-west4")
    client.create_bucket("far-data", location="asia-east1")
    client.create_bucket("near-data", location="us-central1")
    script = write(tmp_path, {"noop.py": "print('noop')\n"}) / "noop.py"
    code, output = run_submit(
        clean_sandbox,
        "--script", str(script), "--staging-bucket", "gs://eu-stage/runs",
        "--", "--data", "gs://far-data/train/", "--val=gs://near-data/val/",
    )  # fmt: skip
    assert code == 0, output
    warnings = [line for line in output.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: The staging bucket gs://eu-stage is in EUROPE-WEST4, the job runs in "
        "us-central1: Vertex AI expects the staging bucket in the job's region; use a bucket "
        "in us-central1.",
        "Warning: gs://far-data is in ASIA-EAST1, the job runs in us-central1: every read "
        "crosses regions (egress charged per GB, slower reads); copy the data to a bucket in "
        "us-central1.",
    ]
    assert output.index("Warning:") < output.index("Creating the training job")


def test_local_run_tries_the_job_in_the_sandbox_and_submits_only_what_succeeded(
    clean_sandbox: Backend, private_sandbox: Path, tmp_path: Path
) -> None:
    from tui.cli.jobs_local import submit_after_local_run
    from tui.sandbox import daemon
    from tui.services.clients import sandbox_backend

    info = daemon.start(private_sandbox, env={"CLOUDPANE_SANDBOX_TIMING": '{"operation": 0.05}'})
    remote = sandbox_backend(info.url, info.project, data_dir=info.data_dir)  # "Google"
    staged(remote)
    script = (
        write(
            tmp_path,
            {
                "smoke.py": "import sys\nprint('args', sys.argv[1:])\nsys.exit(3 if '--break' in sys.argv else 0)\n"
            },
        )
        / "smoke.py"
    )

    def local_run(*argv: str) -> tuple[int, str]:
        args = build_parser().parse_args(
            ["jobs", "submit", "--script", str(script), "--staging-bucket", "gs://stage/runs",
             "--executor-image", TRAINER_IMAGE, "--local-run", *argv]
        )  # fmt: skip
        out = io.StringIO()
        code = asyncio.run(
            submit_after_local_run(
                args, remote, clean_sandbox, REGION, out=out, err=out, poll_seconds=0.2
            )
        )
        return code, out.getvalue()

    remote_jobs = JobsService(remote)
    code, output = local_run("--smoke-args=--break", "--", "--lr", "1")
    assert code == 1, output
    assert "The sandbox run FAILED" in output and "Nothing was submitted." in output
    assert asyncio.run(remote_jobs.list_jobs(REGION)) == []

    code, output = local_run("--smoke-args=--epochs=1", "--", "--lr", "1")
    assert code == 0, output
    assert "args ['--lr', '1', '--epochs=1']" in output  # the sandbox run, with its smoke args
    [submitted] = asyncio.run(remote_jobs.list_jobs(REGION))
    assert submitted.spec.worker_pools[0].args == ("--lr", "1")
    assert output.rstrip().splitlines()[-2].startswith(f"Submitted job smoke: {submitted.name}")


def test_cancel_and_logs_follow_from_the_command_line(
    clean_sandbox: Backend, tmp_path: Path
) -> None:
    script = (
        write(
            tmp_path,
            {
                "forever.py": "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.1)\n"
            },
        )
        / "forever.py"
    )
    code, output = run_submit(
        clean_sandbox, "--script", str(script), "--staging-bucket", staged(clean_sandbox)
    )
    assert code == 0, output  # without --wait: submitted is success
    job_id = job_id_of(output)
    name = f"projects/{clean_sandbox.project}/locations/{REGION}/customJobs/{job_id}"
    logs = LogsService(clean_sandbox)
    wait_until(
        lambda: any("looping" in e.text for e in asyncio.run(logs.tail(job_id))),
        timeout=120,
        what="the script to run",
    )
    out = io.StringIO()
    assert asyncio.run(jobs_cli.cancel(clean_sandbox, job_id, REGION, out)) == 0
    assert out.getvalue().strip() == f"Cancelling {name}"
    code, followed = run_verb(clean_sandbox, "logs", job_id, "--follow")
    assert code == 1  # it ended CANCELLED
    assert "looping" in followed
    assert followed.rstrip().splitlines()[-1] == "Job CANCELLED: CANCELED"
