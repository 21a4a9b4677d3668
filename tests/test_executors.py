"""The sandbox runs each job in its executor image's environment, never in the daemon's.

tui/sandbox/executors.py: one venv per image (framework linked from here when this machine has
it at the image's version, pip-installed otherwise), prepared once and reused; the job's
package pip-installed on top. These tests use requirements this machine already has (no
download) except the offline test, which points pip at a closed port.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from tests.jobs_helpers import standin_sdist, storage_client, wait_until
from tui.sandbox import daemon, executors
from tui.services.clients import sandbox_backend
from tui.services.job_models import TrainerJobRequest
from tui.services.jobs import JobsService

TF_IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"


def test_an_image_name_says_which_framework_and_version_its_environment_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(executors.OVERRIDE_ENV, raising=False)
    first = executors.image_environment(TF_IMAGE).requirements[0]
    assert first == "tensorflow-cpu==2.17.*"
    gpu = executors.image_environment(
        "us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-15.py310:latest"
    )
    assert gpu.requirements[0] == "tensorflow-cpu==2.15.*"  # the sandbox has no GPU
    torch = executors.image_environment(
        "us-docker.pkg.dev/vertex-ai/training/pytorch-gpu.2-4.py310:latest"
    )
    assert torch.requirements[0] == "torch==2.4.*"
    plain = executors.image_environment("europe-docker.pkg.dev/me/my-image:1")
    assert plain.requirements == executors.IMAGE_COMMON
    assert "google-cloud-storage" in executors.image_environment(TF_IMAGE).requirements


def _clean_run(python: Path, code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, check=True, cwd="/"
    ).stdout.strip()


def test_an_image_environment_is_prepared_once_reused_and_holds_only_its_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(executors.OVERRIDE_ENV, '{"^tf-": ["PyYAML"]}')
    image = executors.image_environment(TF_IMAGE)
    archive = tmp_path / "standin-0.1.tar.gz"
    archive.write_bytes(standin_sdist())
    root = tmp_path / "executors"

    first: list[str] = []
    python = executors.prepare_packages(root, image, [archive], first.append)
    assert any(line.startswith("Preparing image tf-cpu.2-17.py310") for line in first)
    assert any(line.startswith("Linked PyYAML") for line in first), first
    assert any("Installing standin-0.1.tar.gz" in line for line in first)

    again: list[str] = []
    archive.write_bytes(standin_sdist())  # the same package, compressed at another time
    assert executors.prepare_packages(root, image, [archive], again.append) == python
    assert again == ["Using the prepared environment of image tf-cpu.2-17.py310."]

    seen = _clean_run(
        python,
        "import importlib.util as u; "
        "print(sorted(m for m in ('yaml', 'google.cloud.storage', 'hypertune', 'tui', 'textual', "
        "'google.cloud.aiplatform', 'starlette') if u.find_spec(m)), u.find_spec('trainer').origin)",
    )
    found, where = seen.rsplit(" ", 1)
    assert found == "['google.cloud.storage', 'hypertune', 'yaml']"  # none of cloudpane's own
    assert where.startswith(str(python.parent.parent))  # the package was pip-installed there


def test_offline_the_job_fails_with_one_line_saying_what_could_not_be_installed(
    tmp_path: Path,
) -> None:
    data = tmp_path / "sb"
    info = daemon.start(
        data,
        env={
            "CLOUDPANE_SANDBOX_TIMING": '{"operation": 0.05}',
            executors.OVERRIDE_ENV: '{"^tf-": ["tensorflow-cpu==2.17.*"]}',
            "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # nothing listens on port 9
            "PIP_RETRIES": "0",
            "PIP_TIMEOUT": "2",
            "PIP_FIND_LINKS": "",
            "PIP_CONFIG_FILE": os.devnull,  # no mirror or wheel folder configured here
        },
    )
    try:
        backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
        storage_client(backend).create_bucket("stage")
        archive = tmp_path / "standin-0.1.tar.gz"
        archive.write_bytes(standin_sdist())
        service = JobsService(backend)
        req = TrainerJobRequest(
            display_name="offline",
            staging_bucket="gs://stage",
            # Google's tf-cpu.2-17 has ended; a user's own build named alike implies TF 2.17 here.
            executor_image_uri=(
                "us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-cpu.2-17.py310:latest"
            ),
        )
        job = asyncio.run(service.submit_code(req, [archive], "trainer.task"))
        final = wait_until(
            lambda: (j := asyncio.run(service.get_job(job.name))) and not j.is_active and j,
            timeout=120,
            what="the job to end",
        )
        assert final.state == "JOB_STATE_FAILED"
        assert final.reason == (
            "Could not install tensorflow-cpu==2.17.* for image tf-cpu.2-17.py310: "
            "No matching distribution found for tensorflow-cpu==2.17.* "
            "(no package registry offered it: offline?)"
        )
    finally:
        daemon.stop(data)
