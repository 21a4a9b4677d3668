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
from jobs_helpers import TRAINER_IMAGE, storage_client, upload_standin
from rich.style import Style
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log, Select, Switch

from tui.app import CloudpaneApp, StatusHeader
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
from tui.panes.vms import VmsPane
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.connect import Connection
from tui.services.job_models import Job, JobSpec, WorkerPool
from tui.services.jobs import JobsService
from tui.services.pricing import get_catalog
from tui.services.training_images import sandbox_trainer_image
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
        worker_pools=(
            WorkerPool(package_uris=(package,), args=args, executor_image_uri=TRAINER_IMAGE),
        ),
        base_output_directory="gs://stage/runs/one",
    )


async def submit(backend: Backend, package: str, *args: str, name: str = "standin") -> Job:
    return await JobsService(backend).submit(standin(package, *args, name=name))


async def open_jobs(pilot: Pilot, app: CloudpaneApp, *wanted: str) -> None:
    await pilot.press("3")
    await wait_for(pilot, lambda: pane(app).loaded and set(wanted) <= set(names(app)))
    await pilot.pause(0.3)
    table(app).focus()  # the Buckets pane may take the focus when it loads (lead: see report)


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
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        assert "No training jobs" in str(app.query_one("#jobs-message").render())
        # submitted elsewhere (gcloud, a colleague): it appears and is watched live
        await submit(clean_sandbox, package, "--epochs", "3", "--sleep", "1", name="watch-me")
        await wait_for(pilot, lambda: state_of(app, "watch-me") in ("QUEUED", "PENDING", "RUNNING"))
        await wait_for(pilot, lambda: state_of(app, "watch-me") == "SUCCEEDED")
        row = [str(c) for c in table(app).get_row(table(app).ordered_rows[0].key)]
        assert row[0] == "watch-me" and row[1] == "SUCCEEDED"
        assert row[2].endswith("s")  # running time, e.g. "1s"
        assert "$" in row[3]  # estimated cost so far, from the catalog
        assert row[5] == "1× n1-standard-4"
        await wait_for(pilot, lambda: "watch-me succeeded" in notifications(app))  # said so
        await select_row(pilot, app, "watch-me")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        text = app.screen.text  # type: ignore[attr-defined]
        assert "displayName: watch-me" in text and "JOB_STATE_SUCCEEDED" in text
        await pilot.press("escape")
        # the filter
        table(app).focus()
        await pilot.press("slash", *"nothing-like-this")
        await wait_for(pilot, lambda: names(app) == [])
        await pilot.press("escape")
        await wait_for(pilot, lambda: names(app) == ["watch-me"])


async def open_form(pilot: Pilot, app: CloudpaneApp, key: str = "n") -> JobFormScreen:
    table(app).focus()
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
        # Every prebuilt TensorFlow image has ended (TF 2.17 on 2026-07-11): none is the default;
        # the sandbox offers its own image instead, and says why when it is cleared.
        assert image.value == Select.NULL
        typed = form.query_one("#image-uri", Input)
        assert typed.value == sandbox_trainer_image(clean_sandbox.project)
        typed.value = ""
        await pilot.pause()
        assert "No prebuilt TensorFlow training container" in text_of(form, "#image-note")
        labels = {v: str(label) for label, v in image._options if isinstance(v, str)}
        tf217 = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
        assert "ENDED: end of availability 2026-07-11" in labels[tf217]
        image.value = tf217  # chosen anyway: it follows the hardware, and is refused on submit
        await pilot.pause()
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
        assert "ENDED" in text_of(form, "#image-note")
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
        assert "reached its end of availability on 2026-07-11" in error
        # any URI is accepted, with a note
        form.query_one("#image-uri", Input).value = "europe-west4-docker.pkg.dev/p/r/tf:latest"
        await pilot.pause()
        assert "accepted as given" in text_of(form, "#image-note")
        await pilot.press("ctrl+s")
        assert "end of availability" not in text_of(form, "#form-error")
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
        # No prebuilt TensorFlow image exists today: the sandbox offers its own by name.
        sandbox_image = sandbox_trainer_image(clean_sandbox.project)
        assert form.query_one("#image-uri", Input).value == sandbox_image
        assert sandbox_image.endswith(":latest") and "/tf-cpu.2-" in sandbox_image
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
        assert pool.executor_image_uri == sandbox_image
        await select_row(pilot, app, "depth-tiny")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        logs = app.screen
        assert isinstance(logs, LogScreen)
        await wait_for(pilot, lambda: "epoch=1/1" in logs.text, timeout=150)
        assert logs.query_one(Log).lines  # on the screen, not only in memory
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


async def test_logs_stream_with_colours_follow_search_and_save(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str, tmp_path: Path
) -> None:
    await submit(
        clean_sandbox, package, "--lines", "150", "--epochs", "3", "--exit", "1", name="noisy"
    )
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app, "noisy")
        await select_row(pilot, app, "noisy")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        logs = app.screen
        assert isinstance(logs, LogScreen)
        await wait_for(pilot, lambda: "RuntimeError" in logs.text, timeout=30)
        await pilot.pause(0.2)
        assert "line 149" in logs.text and "epoch=3/3" in logs.text
        log = logs.query_one(Log)
        assert len(log.lines) == len(logs.rows)  # one screen line per kept row
        # severity colours: the stderr traceback is ERROR, in red, as the Log draws it
        index = next(i for i, r in enumerate(logs.rows) if "RuntimeError" in r.text)
        assert logs.rows[index].entry.severity == "ERROR"
        assert " ERROR workerpool0-0 RuntimeError" in log.lines[index]
        strip = log._render_line_strip(index, Style())
        colours = {s.style.color.name for s in strip if s.style and s.style.color}
        assert "red" in colours
        # following: at the end; f pauses
        assert log.auto_scroll and log.scroll_y == log.max_scroll_y
        await pilot.press("f")
        assert not logs.follow and not log.auto_scroll
        assert "paused" in text_of(logs, "#log-status")
        await pilot.press("f")
        assert logs.follow
        # search from the top: / finds, n goes on; it stops following so the match stays
        await pilot.press("g")
        assert log.scroll_y == 0 and not logs.follow
        await pilot.press("slash", *"line 12", "enter")
        first = logs.match_row
        assert first is not None and logs.rows[first].text == "line 12"
        assert "match 1/11" in text_of(logs, "#log-status")  # line 12, line 120…129
        await pilot.press("n")
        assert logs.match_row is not None and logs.rows[logs.match_row].text == "line 120"
        assert "match 2/11" in text_of(logs, "#log-status")
        await pilot.press("N", "N")
        assert logs.rows[logs.match_row].text == "line 129"  # wraps around
        # save, asking the path; an existing file is never replaced silently
        target = tmp_path / "noisy.log"
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen))
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: target.exists() and "Saved" in notifications(app))
        saved = target.read_text().splitlines()
        assert len(saved) == len(logs.rows) and "RuntimeError" in saved[-1 - 0] + "".join(saved)
        target.write_text("keep me\n")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen))
        path_screen = app.screen
        path_screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#cancel")
        await wait_for(pilot, lambda: app.screen is path_screen)
        assert "Not replaced" in text_of(path_screen, "#path-error")
        assert target.read_text() == "keep me\n"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: target.read_text() != "keep me\n")
        assert isinstance(app.screen, LogScreen)


async def test_one_poller_for_all_views_and_new_lines_only(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str
) -> None:
    job = await submit(clean_sandbox, package, "--epochs", "2", name="quiet")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app, "quiet")
        await wait_for(pilot, lambda: state_of(app, "quiet") == "SUCCEEDED")
        await select_row(pilot, app, "quiet")
        # only new lines: a finished job writes none
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        hub = log_hub(app, clean_sandbox)
        before = hub.poller.requests
        await wait_for(pilot, lambda: hub.poller.requests >= before + 1)
        assert app.screen.rows == deque_empty()  # type: ignore[attr-defined]
        assert "new lines only" in text_of(app.screen, "#log-title")
        await pilot.press("escape")
        assert hub.poller.followed == []  # nobody watches: nothing is read
        # logs and curves of one job share one followed job, one request per tick
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        await wait_for(pilot, lambda: "epoch=2/2" in app.screen.text)  # type: ignore[attr-defined]
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, CurvesScreen))
        assert hub.poller.followed == [job.id]
        await wait_for(pilot, lambda: "epoch 2/2" in text_of(app.screen, "#curves-status"))
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: hub.poller.followed == [])
        idle = hub.poller.requests
        await pilot.pause(2.0)
        assert hub.poller.requests == idle


def deque_empty() -> object:
    from collections import deque

    return deque()


async def test_cancel_asks_first_then_cancels(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str
) -> None:
    await submit(clean_sandbox, package, "--forever", name="endless")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app, "endless")
        await wait_for(pilot, lambda: state_of(app, "endless") == "RUNNING")
        await select_row(pilot, app, "endless")
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#cancel")  # not now
        await pilot.pause(0.5)
        assert state_of(app, "endless") == "RUNNING"
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: state_of(app, "endless") == "CANCELLED", timeout=20)
        await wait_for(pilot, lambda: "endless was cancelled" in notifications(app))
        await pilot.press("c")
        await wait_for(pilot, lambda: "already ended" in notifications(app))


async def test_rerun_opens_the_form_prefilled_and_submits_the_edit(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str
) -> None:
    await submit(clean_sandbox, package, "--epochs", "2", name="again")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app, "again")
        await wait_for(pilot, lambda: state_of(app, "again") == "SUCCEEDED")
        await select_row(pilot, app, "again")
        form = await open_form(pilot, app, "e")
        assert form.query_one("#name", Input).value == "again"
        assert form.query_one("#arg-epochs", Input).value == "2"
        assert form.query_one("#machine", Select).value == "n1-standard-4"
        output = form.query_one("#staging", Input).value
        assert output.startswith("gs://stage/runs/one/rerun-")  # the first run's model is kept
        form.query_one("#arg-epochs", Input).value = "3"
        form.query_one("#spot", Switch).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(pane(app).jobs) == 2)
        await wait_for(
            pilot,
            lambda: all(j.status == "SUCCEEDED" for j in pane(app).jobs.values()),
            timeout=30,
        )
        newest = max(pane(app).jobs.values(), key=lambda j: j.created or datetime.min)
        assert newest.spec.worker_pools[0].args == ("--epochs=3",)
        assert newest.spec.worker_pools[0].package_uris == (package,)  # the package is reused
        assert newest.spec.spot and newest.spec.base_output_directory == output
        assert names(app) == ["again", "again"]


BAD_YAML = """\
workerPoolSpecs:
- machineSpec:
    machineType: n1-standard-8
    acceleratorType: NVIDIA_TESLA_T4
    acceleratorCount: 3
  replicaCount: 1
  pythonPackageSpec:
    executorImageUri: us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer-gpu:latest
    packageUris: [PACKAGE]
    pythonModule: trainer.task
"""

GOOD_YAML = """\
workerPoolSpecs:
- machineSpec:
    machineType: n1-standard-4
  replicaCount: 1
  pythonPackageSpec:
    executorImageUri: us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest
    packageUris: [PACKAGE]
    pythonModule: trainer.task
    args: [--epochs=2]
baseOutputDirectory:
  outputUriPrefix: gs://stage/from-yaml
"""


async def test_yaml_errors_are_shown_then_a_good_file_is_edited_saved_and_submitted(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str, tmp_path: Path
) -> None:
    from tui.services.jobspec_yaml import load_job_spec

    spec_file = tmp_path / "train.yaml"
    spec_file.write_text(BAD_YAML.replace("PACKAGE", package))
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen))
        app.screen.query_one("#path", Input).value = str(spec_file)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, PathScreen)
                and "train.yaml:5:" in text_of(app.screen, "#path-error")
            ),
        )
        error = text_of(app.screen, "#path-error")
        assert "train.yaml:5: workerPoolSpecs[0].machineSpec.acceleratorCount:" in error
        assert "nothing was submitted" in error
        # fixed file, same dialog: enter again
        spec_file.write_text(GOOD_YAML.replace("PACKAGE", package))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, JobFormScreen))
        form = app.screen
        assert form.query_one("#name", Input).value == "train"  # the file's name
        assert form.query_one("#staging", Input).value == "gs://stage/from-yaml"
        form.query_one("#arg-epochs", Input).value = "1"
        # save the edited spec as YAML
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen))
        saved = tmp_path / "edited.yaml"
        app.screen.query_one("#path", Input).value = str(saved)
        await pilot.press("enter")
        await wait_for(pilot, lambda: saved.exists() and app.screen is form)
        loaded = load_job_spec(saved)
        assert loaded.spec.worker_pools[0].args == ("--epochs=1",)
        assert loaded.spec.worker_pools[0].package_uris == (package,)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: state_of(app, "train") == "SUCCEEDED", timeout=30)


async def test_read_only_refuses_submit_cancel_and_rerun(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str
) -> None:
    await submit(clean_sandbox, package, "--forever", name="prod-job")
    app = make_app(clean_sandbox, sandbox_info, read_only=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_jobs(pilot, app, "prod-job")
            await wait_for(pilot, lambda: state_of(app, "prod-job") == "RUNNING")
            await select_row(pilot, app, "prod-job")
            for key in ("n", "c", "e", "o", "ctrl+d"):
                await pilot.press(key)
                await pilot.pause()
                assert not isinstance(app.screen, (ConfirmScreen, JobFormScreen, PathScreen))
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Submit training job" not in titles and "Cancel job" not in titles
            assert {"Job logs", "Training curves", "Job details"} <= set(titles)
            pane(app).action_submit()  # even when called directly
            await pilot.pause()
            assert not isinstance(app.screen, JobFormScreen)
            await wait_for(pilot, lambda: "read-only" in notifications(app))
            assert state_of(app, "prod-job") == "RUNNING"
    finally:
        service = JobsService(clean_sandbox)
        for job in await service.list_jobs():
            if job.is_active:
                await service.cancel(job.name)


async def test_tuning_key(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Hyperparameter tuning" in titles
        await pilot.press("h")
        await pilot.pause()
        try:
            from tui.panes.tuning import TuningScreen  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            assert "Hyperparameter tuning is not available yet." in notifications(app)
        else:
            await wait_for(pilot, lambda: isinstance(app.screen, TuningScreen))


def test_curve_helpers() -> None:
    points = [
        {"epoch": 1, "epochs": 3, "loss": 1.0, "val_loss": 1.1},
        {"epoch": 2, "epochs": 3, "loss": 0.5},
        {"epoch": 2, "epochs": 3, "loss": 0.4},  # a restarted epoch: the last line wins
    ]
    assert series(points, "loss") == ([1, 2], [1.0, 0.4])
    assert series(points, "val_loss") == ([1], [1.1])
    job = Job(
        "projects/p/locations/us-central1/customJobs/1",
        "j",
        "JOB_STATE_RUNNING",
        JobSpec("j", (WorkerPool(args=("--hypertune_metric", "val_rmse")),)),
    )
    assert tuning_metric(job) == "val_rmse"


# --- snapshots: everything that moves with the clock is frozen -------------------------------

SNAP_JOB_ID = "4242424242"


def freeze_job_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.panes.jobs.job_times", lambda job, now: ("01-15 12:00", 65.0))


@pytest.mark.parametrize("size", [(80, 24), (120, 34)])
def test_jobs_table_snapshot(
    size: tuple[int, int],
    snap_compare: Callable[..., bool],
    clean_sandbox: Backend,
    sandbox_info: SandboxInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finished jobs (succeeded, failed, on a T4) and frozen times: nothing ticks."""
    freeze_job_times(monkeypatch)

    async def setup() -> None:
        package = upload_standin(clean_sandbox)
        service = JobsService(clean_sandbox)
        specs = [
            standin(package, "--epochs", "1", name="baseline"),
            standin(package, "--exit", "1", name="broken"),
            JobSpec(
                "depth-t4",
                (
                    WorkerPool(
                        machine_type="n1-standard-8",
                        accelerator_type="NVIDIA_TESLA_T4",
                        accelerator_count=1,
                        package_uris=(package,),
                        args=("--epochs", "1"),
                        executor_image_uri=TRAINER_IMAGE,
                    ),
                ),
            ),
        ]
        for spec in specs:
            await service.submit(spec)
            await asyncio.sleep(0.01)  # distinct creation times: a stable order
        deadline = asyncio.get_running_loop().time() + 60
        while any(j.is_active for j in await service.list_jobs()):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)

    asyncio.run(setup())
    app = make_app(clean_sandbox, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await open_jobs(pilot, app, "baseline", "broken", "depth-t4")
        # the header's burn rate comes from the VMs pane: wait for it too
        await wait_for(pilot, lambda: app.query_one(VmsPane).loaded)
        await wait_for(pilot, lambda: "/h" in app.query_one(StatusHeader).text)
        table(app).move_cursor(row=0)
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def write_snapshot_log(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Log entries with fixed times, as a job's replicas would have written them."""
    import google.cloud.logging_v2
    from google.cloud import logging as cloud_logging
    from google.cloud.logging import Resource

    # The client's first write adds a "diagnostic" entry stamped now: not in a snapshot.
    monkeypatch.setattr(google.cloud.logging_v2, "_instrumentation_emitted", True)

    client = cloud_logging.Client(
        project=backend.project,
        credentials=backend.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": backend.endpoint},
    )
    logger = client.logger("workerpool0-0")
    start = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
    lines = [
        ("INFO", "service", "Waiting for job to be provisioned."),
        ("INFO", "workerpool0-0", "trainer: 2400 synthetic scenes, image size 64, batch 16"),
        ("WARNING", "workerpool0-0", "No GPU found: training on the CPU."),
        *[
            (
                "INFO",
                "workerpool0-0",
                f"epoch={e}/4 loss={1 / e:.4f} val_loss={1.1 / e:.4f} val_abs_rel={0.5 / e:.4f}",
            )
            for e in range(1, 5)
        ],
        ("ERROR", "workerpool0-0", "Traceback (most recent call last):"),
        ("ERROR", "workerpool0-0", "RuntimeError: out of memory"),
        ("INFO", "service", "Job failed."),
    ]
    for n, (severity, task, text) in enumerate(lines):
        logger.log_text(
            text,
            severity=severity,
            timestamp=start + timedelta(seconds=n),
            resource=Resource(type="ml_job", labels={"job_id": SNAP_JOB_ID, "task_name": task}),
        )


def test_log_view_snapshot(
    snap_compare: Callable[..., bool],
    clean_sandbox: Backend,
    sandbox_info: SandboxInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job's log with every severity colour, times shown in UTC for a stable picture."""
    monkeypatch.setattr("tui.panes.job_logs.clock", lambda moment: moment.strftime("%H:%M:%S"))
    write_snapshot_log(clean_sandbox, monkeypatch)
    job = Job(
        f"projects/{clean_sandbox.project}/locations/us-central1/customJobs/{SNAP_JOB_ID}",
        "depth-oom",
        "JOB_STATE_FAILED",
        JobSpec("depth-oom", (WorkerPool(),)),
    )
    app = make_app(clean_sandbox, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("3")
        app.push_screen(LogScreen(log_hub(app, clean_sandbox), job))
        await wait_for(pilot, lambda: "Job failed." in getattr(app.screen, "text", ""))
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_log_view_keeps_memory_bounded_on_a_long_log(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    """12,000 lines in: the view keeps the last 5,000, says so, and saves those."""
    from tui.panes.job_logs import VIEW_LINES
    from tui.services.job_models import LogEntry

    job = Job(
        "projects/p/locations/us-central1/customJobs/77",
        "long",
        "JOB_STATE_RUNNING",
        JobSpec("long", (WorkerPool(),)),
    )
    start = datetime(2026, 1, 15, tzinfo=timezone.utc)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        screen = LogScreen(log_hub(app, clean_sandbox), job)
        app.push_screen(screen)
        await pilot.pause()
        for batch in range(12):
            screen.log_entries(
                [
                    LogEntry(start, f"{batch}-{i}", "INFO", f"step {batch * 1000 + i}", "77")
                    for i in range(1000)
                ]
            )
            await pilot.pause()
        log = screen.query_one(Log)
        assert len(screen.rows) == len(log.lines) == VIEW_LINES
        assert log.lines[-1].endswith("step 11999") and log.lines[0].endswith("step 7000")
        assert "the last 5,000 of 12,000" in text_of(screen, "#log-status")
        target = tmp_path / "long.log"
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen))
        app.screen.query_one("#path", Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: target.exists() and "older lines" in notifications(app))
        assert len(target.read_text().splitlines()) == VIEW_LINES


async def test_running_training_is_in_the_burn_rate(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, package: str
) -> None:
    """No VMs, one job running on n1-standard-4: the header's burn is the job's Vertex rate."""
    job = await submit(clean_sandbox, package, "--forever", name="burning")
    hourly = get_catalog().vertex_hourly("n1-standard-4", "us-central1")
    assert hourly and job.spec.worker_pools[0].machine_type == "n1-standard-4"
    app = make_app(clean_sandbox, sandbox_info)
    try:
        async with app.run_test(size=(160, 34)) as pilot:  # room for the prices' date
            await open_jobs(pilot, app, "burning")
            await wait_for(pilot, lambda: state_of(app, "burning") == "RUNNING")
            await wait_for(pilot, lambda: "incl. training" in app.query_one(StatusHeader).text)
            header = app.query_one(StatusHeader).text
            assert f"${hourly:,.2f}/h incl. training" in header
            assert f"prices {get_catalog().as_of.isoformat()}" in header
            await pilot.resize_terminal(80, 24)  # at 80 columns the money stays, the date goes
            await wait_for(pilot, lambda: "prices" not in app.query_one(StatusHeader).text)
            assert "incl. training" in app.query_one(StatusHeader).text
    finally:
        await JobsService(clean_sandbox).cancel(job.name)


async def test_form_says_when_the_data_is_far_from_the_machines(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """The staging bucket and gs:// arguments against the job's region, before submitting."""
    client = storage_client(clean_sandbox)
    client.create_bucket("far-stage", location="europe-west4")
    client.create_bucket("near-stage", location="us-central1")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        form = await open_form(pilot, app)
        note = form.query_one("#location-note")
        form.query_one("#staging", Input).value = "gs://far-stage"
        await wait_for(pilot, lambda: "far-stage" in str(note.render()))
        text = str(note.render())
        assert "is in EUROPE-WEST4, the job runs in us-central1" in text
        assert "Vertex AI expects the staging bucket in the job's region" in text
        form.query_one("#staging", Input).value = "gs://near-stage"
        form.query_one("#extra-args", Input).value = "--data=gs://far-stage/train"
        await wait_for(pilot, lambda: "every read crosses regions" in str(note.render()))
        assert "staging bucket" not in str(note.render())  # the near one says nothing
