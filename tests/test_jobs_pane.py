"""The Jobs pane driven as a person would, with Pilot, against the real sandbox.

Most jobs run the quick stand-in trainer (tests/jobs_helpers.py); one runs the real bundled
trainer through the form with a tiny configuration.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from jobs_helpers import storage_client, upload_standin
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, Select, Switch

from tui.app import CloudpaneApp
from tui.config import Config
from tui.panes.job_forms import (
    JobFormScreen,
    PathScreen,
    build_trainer_args,
    fresh_output,
    parse_trainer_args,
)
from tui.panes.job_logs import CurvesScreen, LogScreen, log_hub, series, tuning_metric
from tui.panes.jobs import JobsPane
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.connect import Connection
from tui.services.job_models import Job, JobSpec, WorkerPool
from tui.services.jobs import JobsService
from tui.services.pricing import get_catalog
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen

SIZE = (120, 34)


def make_app(backend: Backend, info: SandboxInfo, **config: object) -> CloudpaneApp:
    settings = Config(refresh_seconds=0.5, **config)  # type: ignore[arg-type]
    return CloudpaneApp(settings, connection=Connection(backend, "", info.data_dir))


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def pane(app: CloudpaneApp) -> JobsPane:
    return app.query_one(JobsPane)


def table(app: CloudpaneApp) -> DataTable:
    return app.query_one("#jobs-table", DataTable)


def names(app: CloudpaneApp) -> list[str]:
    return [str(table(app).get_row(row.key)[0]) for row in table(app).ordered_rows]


def state_of(app: CloudpaneApp, name: str) -> str:
    return next((j.status for j in pane(app).jobs.values() if j.display_name == name), "")


def notifications(app: CloudpaneApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


def standin(package: str, *args: str, name: str = "standin") -> JobSpec:
    return JobSpec(
        display_name=name,
        worker_pools=(WorkerPool(package_uris=(package,), args=args),),
        base_output_directory="gs://stage/runs/one",
    )


async def submit(backend: Backend, package: str, *args: str, name: str = "standin") -> Job:
    return await JobsService(backend).submit(standin(package, *args, name=name))


async def open_jobs(pilot: Pilot, app: CloudpaneApp, *wanted: str) -> None:
    await pilot.press("3")
    await wait_for(pilot, lambda: pane(app).loaded and set(wanted) <= set(names(app)))


async def select_row(pilot: Pilot, app: CloudpaneApp, name: str) -> None:
    await wait_for(pilot, lambda: name in names(app))
    table(app).move_cursor(row=names(app).index(name))
    table(app).focus()
    await pilot.pause()


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_standin(clean_sandbox)


async def test_table_follows_a_job_to_succeeded_and_shows_details(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str
) -> None:
    await submit(clean_sandbox, package, "--epochs", "2", "--sleep", "0.5", name="watch-me")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app, "watch-me")
        await wait_for(pilot, lambda: state_of(app, "watch-me") == "SUCCEEDED")
        row = [str(c) for c in table(app).get_row(table(app).ordered_rows[0].key)]
        assert row[0] == "watch-me" and row[1] == "SUCCEEDED"
        assert row[2].endswith("s")  # running time, e.g. "1s"
        assert row[3].startswith("$")  # estimated cost so far, from the catalog
        assert row[5] == "1× n1-standard-4"
        assert "watch-me succeeded" in notifications(app)  # it ended while we watched
        await select_row(pilot, app, "watch-me")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        text = app.screen.text  # type: ignore[attr-defined]
        assert "displayName: watch-me" in text and "JOB_STATE_SUCCEEDED" in text
        await pilot.press("escape")
        # the filter
        await pilot.press("slash", *"nothing-like-this")
        await wait_for(pilot, lambda: names(app) == [])
        await pilot.press("escape")
        await wait_for(pilot, lambda: names(app) == ["watch-me"])


async def open_form(pilot: Pilot, app: CloudpaneApp, key: str = "n") -> JobFormScreen:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, JobFormScreen))
    await pilot.pause()
    assert isinstance(app.screen, JobFormScreen)
    return app.screen


def text_of(screen: object, selector: str) -> str:
    return str(screen.query_one(selector).render())  # type: ignore[attr-defined]


async def test_form_offers_only_valid_hardware_and_prices_it(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        form = await open_form(pilot, app)
        assert "runs on this machine in the sandbox" in text_of(form, "#where").lower()
        gpu = form.query_one("#gpu", Select)
        count = form.query_one("#gpu-count", Select)
        image = form.query_one("#image", Select)
        # n1-standard-4 (the default) takes the N1 GPUs
        assert {v for _, v in gpu._options if isinstance(v, str)} == {
            "NVIDIA_TESLA_T4",
            "NVIDIA_TESLA_P4",
            "NVIDIA_TESLA_P100",
            "NVIDIA_TESLA_V100",
        }
        assert str(image.value).endswith("tf-cpu.2-17.py310:latest")
        cpu_price = get_catalog().vertex_hourly("n1-standard-4", "us-central1")
        assert f"${cpu_price:.2f}/hour" in text_of(form, "#summary")
        # a T4: counts offered are only the valid ones, the image becomes the GPU one
        form.query_one("#machine", Select).value = "n1-standard-8"
        await pilot.pause()
        gpu.value = "NVIDIA_TESLA_T4"
        await pilot.pause()
        await pilot.pause()
        assert [v for _, v in count._options if isinstance(v, int)] == [1, 2, 4]
        assert str(image.value).endswith("tf-gpu.2-17.py310:latest")
        t4_price = get_catalog().vertex_hourly(
            "n1-standard-8", "us-central1", "nvidia-tesla-t4", 1, 1
        )
        assert t4_price is not None and f"${t4_price:.2f}/hour" in text_of(form, "#summary")
        # 3 replicas cost three times as much
        form.query_one("#replicas", Input).value = "3"
        await pilot.pause()
        assert f"${t4_price * 3:.2f}/hour" in text_of(form, "#summary")
        # a CPU-only family takes no accelerator; a bundled one comes with its own
        form.query_one("#machine", Select).value = "e2-standard-4"
        await pilot.pause()
        await pilot.pause()
        assert gpu.disabled and "CPU-only" in text_of(form, "#gpu-note")
        assert str(image.value).endswith("tf-cpu.2-17.py310:latest")
        form.query_one("#machine", Select).value = "a2-highgpu-2g"
        await pilot.pause()
        await pilot.pause()
        assert gpu.value == "NVIDIA_TESLA_A100" and count.value == 2
        # problems are listed, nothing is submitted
        form.query_one("#machine", Select).value = "n1-standard-4"
        form.query_one("#staging", Input).value = "Bad_Bucket!"
        form.query_one("#arg-epochs", Input).value = "0"
        await pilot.press("ctrl+s")
        assert "Epochs must be a whole number" in text_of(form, "#form-error")
        form.query_one("#arg-epochs", Input).value = "2"
        await pilot.press("ctrl+s")
        error = text_of(form, "#form-error")
        assert "display_name" in error and "staging_bucket" in error
        assert isinstance(app.screen, JobFormScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, JobFormScreen)
        assert JobsService(clean_sandbox) and await JobsService(clean_sandbox).list_jobs() == []


def test_form_says_billed_on_google() -> None:
    from tui.panes.job_forms import where_text

    assert where_text(False, "europe-west4", "my-proj") == (
        "Runs on Vertex AI in europe-west4, billed to project my-proj."
    )


def test_trainer_arguments_round_trip() -> None:
    values, rest = parse_trainer_args(
        ["--epochs=3", "--batch_size", "8", "--image-size=32", "--levels=2", "--data", "gs://b/d"]
    )
    assert values == {"epochs": "3", "batch-size": "8", "image-size": "32", "data": "gs://b/d"}
    assert rest == ["--levels=2"]
    args, problem = build_trainer_args(values, "--levels=2 --seed 7")
    assert problem == ""
    assert args == (
        "--epochs=3",
        "--batch-size=8",
        "--image-size=32",
        "--data=gs://b/d",
        "--levels=2",
        "--seed",
        "7",
    )
    assert "Learning rate" in build_trainer_args({"learning-rate": "-1"}, "")[1]
    assert "Other arguments" in build_trainer_args({}, "--x 'unclosed")[1]
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert fresh_output("gs://b/cloudpane-jobs/x-20250101-000000", now) == (
        "gs://b/cloudpane-jobs/x-20260102-030405"
    )
    assert fresh_output("gs://b/runs/one", now) == "gs://b/runs/one/rerun-20260102-030405"


async def test_bundled_trainer_through_the_form_to_succeeded_with_logs_and_curves(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """The real trainer: packaged, uploaded, trained by the sandbox, watched in the pane."""
    storage_client(clean_sandbox).create_bucket("depth-stage")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        form = await open_form(pilot, app)
        await pilot.press(*"depth-tiny")
        fields = {
            "#arg-epochs": "1",
            "#arg-batch-size": "8",
            "#arg-image-size": "32",
            "#extra-args": "--train-examples=16 --val-examples=8 --base-filters=4 --levels=2",
            "#staging": "gs://depth-stage",
        }
        for selector, value in fields.items():
            form.query_one(selector, Input).value = value
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "depth-tiny" in names(app), timeout=30)
        job = next(iter(pane(app).jobs.values()))
        pool = job.spec.worker_pools[0]
        assert pool.package_uris[0].startswith("gs://depth-stage/cloudpane-jobs/depth-tiny-")
        assert "--epochs=1" in pool.args and "--levels=2" in pool.args
        assert pool.executor_image_uri.endswith("tf-cpu.2-17.py310:latest")
        await select_row(pilot, app, "depth-tiny")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        logs = app.screen
        assert isinstance(logs, LogScreen)
        await wait_for(pilot, lambda: "epoch=1/1" in logs.text, timeout=150)
        assert logs.query_one(RichLog).lines  # on the screen, not only in memory
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, CurvesScreen))
        curves = app.screen
        assert isinstance(curves, CurvesScreen)
        await wait_for(pilot, lambda: "epoch 1/1" in text_of(curves, "#curves-status"))
        assert "loss" in text_of(curves, "#curves-status")
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: state_of(app, "depth-tiny") == "SUCCEEDED", timeout=60)
    names_in_bucket = [b.name for b in storage_client(clean_sandbox).list_blobs("depth-stage")]
    assert any("/model/" in n for n in names_in_bucket), names_in_bucket
