"""Regenerate screenshots/ from the running app against a freshly seeded sandbox.

    .venv/bin/python scripts/make_screenshots.py [--only vms,create]

Each shot drives the real app with Pilot (as the tests do) and saves an SVG.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from tui.app import CloudpaneApp  # noqa: E402
from tui.config import Config  # noqa: E402
from tui.sandbox import daemon  # noqa: E402
from tui.services.clients import Backend, sandbox_backend  # noqa: E402
from tui.services.connect import Connection  # noqa: E402
from tui.services.models import Image, InstanceSpec  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (110, 32)


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.1)


async def seed_vms(backend: Backend) -> None:
    from tui.services.compute import ComputeService

    service = ComputeService(backend)
    debian = Image("debian-cloud", "debian-12")
    dlvm = Image("deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570")
    specs = [
        InstanceSpec(
            "train-t4",
            "us-central1-a",
            "n1-standard-8",
            dlvm,
            100,
            accelerator_type="nvidia-tesla-t4",
            accelerator_count=1,
            startup_script="echo training; sleep 100000",
        ),
        InstanceSpec("notebook", "us-central1-b", "e2-standard-4", debian, 50),
        InstanceSpec("eval-l4", "us-east4-a", "g2-standard-8", dlvm, 200, spot=True),
        InstanceSpec(
            "data-prep", "europe-west4-a", "n2-highmem-8", debian, 500, disk_type="pd-ssd"
        ),
    ]
    ops = [await service.create_instance(spec) for spec in specs]
    for op in ops:
        await service.wait_operation(op, timeout=60)
    await service.wait_operation(
        await service.stop_instance("europe-west4-a", "data-prep"), timeout=60
    )


async def shot_vms(app: CloudpaneApp, pilot: Pilot) -> None:
    from tui.panes.vms import VmsPane

    pane = app.query_one(VmsPane)
    await wait_for(pilot, lambda: len(pane.instances) >= 4)
    app.clear_notifications()
    await pilot.pause(1.2)
    app.save_screenshot(str(OUT / "vms.svg"))


async def shot_create(app: CloudpaneApp, pilot: Pilot) -> None:
    from textual.widgets import Select

    from tui.panes.vm_forms import CreateInstanceScreen

    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, CreateInstanceScreen))
    form = app.screen
    await pilot.press(*"train-v100")
    await wait_for(pilot, lambda: "n1-standard-4" in form.machine_types)
    form.query_one("#gpu", Select).value = "nvidia-tesla-t4"
    await pilot.pause(0.5)
    app.clear_notifications()
    app.save_screenshot(str(OUT / "create-instance.svg"))
    await pilot.press("escape")


async def shot_warnings(app: CloudpaneApp, pilot: Pilot) -> None:
    from tui.panes.vm_warnings import WarningsScreen

    await pilot.press("w")
    await wait_for(pilot, lambda: isinstance(app.screen, WarningsScreen))
    app.clear_notifications()
    await pilot.pause(0.3)
    app.save_screenshot(str(OUT / "warnings.svg"))
    await pilot.press("escape")


async def seed_buckets(backend: Backend, folder: Path) -> None:
    from tui.services.storage import StorageService

    service = StorageService(backend)
    await service.create_bucket("depth-data", "US-CENTRAL1", "STANDARD")
    await service.create_bucket("depth-models", "EU", "NEARLINE")
    await service.create_bucket("shared-results", "US-CENTRAL1", "STANDARD", uniform_access=False)
    data = folder / "synthetic"
    (data / "train").mkdir(parents=True)
    (data / "val").mkdir()
    for index in range(6):
        (data / "train" / f"scene-{index:04d}.tfrecord").write_bytes(b"x" * (4096 * (index + 1)))
    (data / "val" / "scene-0000.tfrecord").write_bytes(b"v" * 8192)
    (data / "README.txt").write_text("Synthetic RGB-D scenes made by python -m trainer.task\n")
    await service.upload("depth-data", data, "")
    await service.add_iam_member("depth-data", "user:ada@example.com", "roles/storage.objectViewer")


async def seed_job(backend: Backend) -> None:
    from tui.services.job_models import TrainerJobRequest
    from tui.services.jobs import JobsService

    service = JobsService(backend)
    job = await service.submit_trainer(
        TrainerJobRequest(
            display_name="depth-unet",
            staging_bucket="depth-models",
            # No prebuilt TensorFlow image is available any more (docs/gcp-facts.md).
            executor_image_uri="us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest",
            trainer_args=(
                "--epochs=8",
                "--image-size=32",
                "--train-examples=384",
                "--val-examples=64",
                "--batch-size=32",
            ),
        )
    )
    for _ in range(240):
        job = await service.get_job(job.name)
        if not job.is_active:
            return
        await asyncio.sleep(1)


async def shot_buckets(app: CloudpaneApp, pilot: Pilot) -> None:
    from tui.panes.bucket_permissions import PermissionsScreen
    from tui.panes.buckets import BucketsPane

    await pilot.press("2")
    pane = app.query_one(BucketsPane)
    await wait_for(pilot, lambda: len(pane.buckets) >= 3)
    app.clear_notifications()
    await pilot.pause(0.5)
    app.save_screenshot(str(OUT / "buckets.svg"))
    pane.focus_main()
    await pilot.press("enter")
    await pilot.pause(1.5)
    app.clear_notifications()
    app.save_screenshot(str(OUT / "bucket-objects.svg"))
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(app.screen, PermissionsScreen))
    await pilot.pause(1.0)
    app.clear_notifications()
    app.save_screenshot(str(OUT / "permissions.svg"))
    await pilot.press("escape")
    await pilot.press("escape")


async def shot_jobs(app: CloudpaneApp, pilot: Pilot) -> None:
    from tui.panes.job_logs import CurvesScreen, LogScreen
    from tui.panes.jobs import JobsPane

    await pilot.press("3")
    pane = app.query_one(JobsPane)
    await wait_for(pilot, lambda: len(pane.jobs) >= 1)
    pane.focus_main()
    app.clear_notifications()
    await pilot.pause(0.5)
    app.save_screenshot(str(OUT / "jobs.svg"))
    await pilot.press("l")
    await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
    await pilot.pause(4)
    app.clear_notifications()
    app.save_screenshot(str(OUT / "job-logs.svg"))
    await pilot.press("p")
    await wait_for(pilot, lambda: isinstance(app.screen, CurvesScreen))
    await pilot.pause(1.5)
    app.save_screenshot(str(OUT / "job-curves.svg"))
    await pilot.press("escape")
    await pilot.press("escape")


async def shot_tuning(app: CloudpaneApp, pilot: Pilot) -> None:
    from textual.widgets import DataTable, Input

    from tui.panes.jobs import JobsPane
    from tui.panes.tuning import TuningScreen
    from tui.panes.tuning_new import NewStudyScreen

    await pilot.press("3")
    app.query_one(JobsPane).focus_main()
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(app.screen, TuningScreen))
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewStudyScreen))
    new = app.screen
    new.query_one("#study-path", Input).value = str(ROOT / "trainer" / "hptuning.yaml")
    new.query_one("#study-path", Input).focus()
    await pilot.press("enter")
    await pilot.pause(0.5)
    new.query_one("#staging-bucket", Input).value = "gs://depth-models"
    await pilot.press("ctrl+o")
    new.query_one("#hours-per-trial", Input).value = "0.5"
    new.query_one("#study-summary", DataTable).focus()
    await pilot.pause(0.5)
    app.clear_notifications()
    app.save_screenshot(str(OUT / "tuning-preview.svg"))
    await pilot.press("escape")
    await pilot.press("escape")


async def shot_own_code(app: CloudpaneApp, pilot: Pilot) -> None:
    """The submit form with a person's own package: what will be uploaded, and the price."""
    from textual.widgets import Input

    from tui.panes.job_forms import JobFormScreen
    from tui.panes.jobs import JobsPane

    code = Path.cwd() / "my-model"
    (code / "trainer").mkdir(parents=True, exist_ok=True)
    (code / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "my-model"\nversion = "0.1"\ndependencies = ["pandas"]\n'
    )
    (code / "trainer" / "__init__.py").write_text("")
    (code / "trainer" / "task.py").write_text("print('training')\n" * 40)
    await pilot.press("3")
    app.query_one(JobsPane).focus_main()
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, JobFormScreen))
    form = app.screen
    values = {
        "#name": "my-model-t4",
        "#code": "./my-model",
        "#module": "trainer.task",
        "#extra-args": "--epochs 20 --data gs://depth-models/data",
        "#staging": "gs://depth-models/runs",
    }
    for selector, value in values.items():
        form.query_one(selector, Input).value = value
    await pilot.pause(0.5)
    form.query_one("#code", Input).focus()
    await pilot.pause(0.5)
    app.clear_notifications()
    app.save_screenshot(str(OUT / "jobs-own-code.svg"))
    await pilot.press("escape")


SHOTS: dict[str, Callable[[CloudpaneApp, Pilot], Awaitable[None]]] = {
    "vms": shot_vms,
    "create": shot_create,
    "warnings": shot_warnings,
    "buckets": shot_buckets,
    "jobs": shot_jobs,
    "tuning": shot_tuning,
    "own-code": shot_own_code,
}


async def main(only: set[str]) -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "sandbox"
        os.environ["CLOUDPANE_CONFIG_DIR"] = str(Path(tmp) / "config")
        info = daemon.start(data_dir)
        try:
            backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
            await seed_vms(backend)
            await seed_buckets(backend, Path(tmp))
            if not only or "jobs" in only:
                await seed_job(backend)
            os.chdir(tmp)  # the own-code shot shows ./my-model, not a temporary path
            app = CloudpaneApp(
                Config(refresh_seconds=1), connection=Connection(backend, "", data_dir)
            )
            async with app.run_test(size=SIZE) as pilot:
                for name, shot in SHOTS.items():
                    if not only or name in only:
                        await shot(app, pilot)
                        print(f"screenshots/{name}: done")
        finally:
            daemon.stop(data_dir)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated shot names")
    args = parser.parse_args()
    asyncio.run(main({s for s in args.only.split(",") if s}))
