"""Cloud text is data in the TUI: hostile names, metadata, log lines and serial output.

A corpus of hostile strings (tests/support/hostile.py: Rich markup, `@click`, a bare `[/]`,
OSC 52/8/0, CSI 2J, bidi overrides, zero-width, 10,000 characters, emoji, CJK) is pushed into
the sandbox with Google's own clients: VM description, metadata and serial output, object
names, Vertex job and tuning job display names and error texts, Cloud Logging entries. Then every
pane and its detail and log views are opened with Pilot, and what would be sent to the
terminal is checked: no escape sequence but Textual's own colours and cursor moves (no OSC:
no link, no clipboard write, no window title; no screen clear), no `@click` action or link
from cloud text, the text shown literally, and the app still running.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from jobs_helpers import storage_client
from rich.cells import cell_len
from rich.segment import Segment
from support.hostile import HOSTILE, MARKUP_CLOSE, fit, tagged
from textual._compositor import LayoutUpdate
from textual.pilot import Pilot
from textual.widgets import Log

from tui.app import CloudpaneApp
from tui.config import Config
from tui.inert import visible
from tui.panes.buckets import BucketsPane
from tui.panes.job_forms import JobFormScreen
from tui.panes.job_logs import LogScreen
from tui.panes.jobs import JobsPane
from tui.panes.tuning import TuningScreen
from tui.panes.vms import VmsPane
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.connect import Connection
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen

SIZE = (160, 50)
REGION = "us-central1"
ZONE = "us-central1-a"
BUCKET = "hostile-bucket"
VM = "hostile-vm"
# Object names may hold anything but CR and LF (Google refuses those with a 400).
OBJECT_NAMES = {k: v for k, v in HOSTILE.items() if "\r" not in v and "\n" not in v}
# No prebuilt TensorFlow training image is available any more (docs/gcp-facts.md).
EXECUTOR = "us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest"

# The escape sequences Textual itself writes for a frame: SGR colours (CSI … m) and the
# cursor moved to the start of each line (CSI row;col H). Anything else starting with ESC
# (OSC ], DCS P, CSI 2J, a cursor move back over the text) came from somewhere else.
_TEXTUAL_CSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\[[0-9]+;[0-9]+H")
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b]")


def make_app(backend: Backend, info: SandboxInfo) -> CloudpaneApp:
    return CloudpaneApp(
        Config(refresh_seconds=0.5), connection=Connection(backend, "", info.data_dir)
    )


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


# --------------------------------------------------------------------------- seeding
def click_name(folder: Path) -> str:
    """A job name that, parsed as markup, is a click that writes a file into `folder`."""
    return f"[@click=app.screenshot('victim.txt','{folder}')]CLICK-ME[/]"


def job_client(backend: Backend):  # type: ignore[no-untyped-def]
    from google.cloud import aiplatform_v1

    return aiplatform_v1.JobServiceClient(
        credentials=backend.credentials,
        transport="rest",
        client_options=backend.regional_options(REGION),
    )


def create_jobs(backend: Backend, names: dict[str, str]) -> dict[str, str]:
    """One custom job per name, through aiplatform_v1; its package is missing, so it fails
    at once (no trainer runs) with an error that quotes the hostile package URI. (Labels
    cannot carry the corpus: Vertex, and the sandbox, accept only [a-z0-9_-] in them.)"""
    from google.cloud import aiplatform_v1 as v1

    client = job_client(backend)
    ids = {}
    for key, name in names.items():
        pool = v1.WorkerPoolSpec(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
            replica_count=1,
            python_package_spec=v1.PythonPackageSpec(
                executor_image_uri=EXECUTOR,
                package_uris=[f"gs://{BUCKET}/{fit(HOSTILE.get(key, key), 200)}.tar.gz"],
                python_module="trainer.task",
            ),
        )
        job = v1.CustomJob(
            display_name=name,
            job_spec=v1.CustomJobSpec(worker_pool_specs=[pool]),
        )
        created = client.create_custom_job(
            parent=f"projects/{backend.project}/locations/{REGION}", custom_job=job
        )
        ids[key] = created.name.rsplit("/", 1)[-1]
    return ids


def create_tuning_jobs(backend: Backend, names: dict[str, str]) -> None:
    """One hyperparameter tuning job per name, through aiplatform_v1 (missing package: its
    one trial fails at once)."""
    from google.cloud import aiplatform_v1 as v1

    client = job_client(backend)
    for key, name in names.items():
        pool = v1.WorkerPoolSpec(
            machine_spec=v1.MachineSpec(machine_type="n1-standard-4"),
            replica_count=1,
            python_package_spec=v1.PythonPackageSpec(
                executor_image_uri=EXECUTOR,
                package_uris=[f"gs://{BUCKET}/{key}.tar.gz"],
                python_module="trainer.task",
            ),
        )
        study = v1.StudySpec(
            metrics=[v1.StudySpec.MetricSpec(metric_id="loss", goal="MINIMIZE")],
            parameters=[
                v1.StudySpec.ParameterSpec(
                    parameter_id="lr",
                    double_value_spec=v1.StudySpec.ParameterSpec.DoubleValueSpec(
                        min_value=0.1, max_value=1.0
                    ),
                )
            ],
        )
        job = v1.HyperparameterTuningJob(
            display_name=name,
            study_spec=study,
            max_trial_count=1,
            parallel_trial_count=1,
            trial_job_spec=v1.CustomJobSpec(worker_pool_specs=[pool]),
        )
        client.create_hyperparameter_tuning_job(
            parent=f"projects/{backend.project}/locations/{REGION}", hyperparameter_tuning_job=job
        )


def write_log_lines(backend: Backend, job_id: str) -> None:
    """Every hostile string as a log line of the job, through google-cloud-logging."""
    from google.cloud import logging as cloud_logging
    from google.cloud.logging import Resource

    client = cloud_logging.Client(
        project=backend.project,
        credentials=backend.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": backend.endpoint},
    )
    resource = Resource(
        type="ml_job",
        labels={"job_id": job_id, "project_id": backend.project, "task_name": "workerpool0-0"},
    )
    logger = client.logger("workerpool0-0")
    for key, value in HOSTILE.items():
        logger.log_text(tagged(key, value), resource=resource, severity="INFO")


def create_objects(backend: Backend) -> None:
    """One object per hostile string (object names hold 1,024 bytes, no CR or LF)."""
    client = storage_client(backend)
    bucket = client.create_bucket(BUCKET)
    for key, value in OBJECT_NAMES.items():
        bucket.blob(tagged(key, fit(value, 900))).upload_from_string(b"x")


def create_vm(backend: Backend) -> None:
    """A VM (names are checked by Google's pattern) whose description, metadata and serial
    output (its startup script prints the corpus) carry the hostile strings."""
    from google.cloud import compute_v1

    client = compute_v1.InstancesClient(
        credentials=backend.credentials,
        transport="rest",
        client_options={"api_endpoint": backend.endpoint},
    )
    printed = "\n".join(tagged(k, v[:200]) for k, v in HOSTILE.items())
    script = f"#!/bin/bash\ncat <<'HOSTILE_END'\n{printed}\nHOSTILE_END\n"
    items = [compute_v1.Items(key=f"note-{k}", value=v) for k, v in HOSTILE.items()]
    items.append(compute_v1.Items(key="startup-script", value=script))
    instance = compute_v1.Instance(
        name=VM,
        machine_type=f"zones/{ZONE}/machineTypes/e2-small",
        description="".join(HOSTILE[k] for k in HOSTILE if k != "long-10000"),
        metadata=compute_v1.Metadata(items=items),
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/debian-cloud/global/images/family/debian-12"
                ),
            )
        ],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
    )
    # Not `.result()`: it polls the operation on Google's default endpoint. The test waits
    # for the VM (and its serial output) on screen instead.
    client.insert(project=backend.project, zone=ZONE, instance_resource=instance)


# --------------------------------------------------------------------------- looking
def frame(app: CloudpaneApp) -> LayoutUpdate:
    """The whole frame as Textual draws it now: the top screen over those beneath it."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    assert isinstance(update, LayoutUpdate)
    return update


def terminal_output(app: CloudpaneApp) -> str:
    """The bytes Textual would write to the terminal for the whole screen now."""
    return frame(app).render_segments(app.console)


def segments(app: CloudpaneApp) -> list[Segment]:
    return [segment for line in frame(app).strips for strip in line for segment in strip]


def screen_text(app: CloudpaneApp) -> str:
    return "\n".join(
        "".join(segment.text for strip in line for segment in strip) for line in frame(app).strips
    )


def assert_inert(app: CloudpaneApp, where: str) -> None:
    """Nothing on screen acts: no foreign escape sequence, no link, no cloud `@click`."""
    assert app.is_running and app._exception is None, f"{where}: the app crashed"
    output = terminal_output(app)
    foreign = _TEXTUAL_CSI.sub("", output)
    assert "\x1b" not in foreign, f"{where}: an escape sequence reached the terminal"
    assert "\x1b[2J" not in output, f"{where}: the screen would be cleared"
    unsafe = _FORBIDDEN.findall(output.replace("\x1b", ""))
    assert not unsafe, f"{where}: control or bidi characters reached the terminal: {unsafe!r}"
    for segment in segments(app):
        style = segment.style
        if style is None:
            continue
        assert not style.link, f"{where}: a link in {segment.text!r}"
        click = str((style.meta or {}).get("@click", ""))
        assert "screenshot" not in click, f"{where}: a cloud @click on {segment.text!r}"


def assert_literal(app: CloudpaneApp, where: str, *values: str, cells: int = 14) -> None:
    """Each value is on screen as its escaped, literal text (the start of it: cells cut).

    The escaped form is what tui.inert.visible writes: here the question is whether the TUI
    shows cloud text through it (visible itself is checked against the corpus elsewhere)."""
    text = screen_text(app)
    for value in values:
        start = ""
        for char in visible(value):
            if cell_len(start + char) > cells:
                break
            start += char
        assert start in text, f"{where}: {start!r} is not shown literally"


# --------------------------------------------------------------------------- tests
async def test_a_job_named_close_tag_does_not_crash_the_app_when_hidden_panes_wake(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """A job named `[/]` took the TUI down about 20 s after start, with the Jobs pane never
    opened: the hidden panes wake then (BACKGROUND_PANES_*) and the Jobs table measured the
    name as markup. Here the waking is triggered directly rather than waited for."""
    await asyncio.to_thread(create_jobs, clean_sandbox, {"close": MARKUP_CLOSE})
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        jobs = app.query_one(JobsPane)
        app.wake_all_panes()  # what _wake_background_when_idle does 5–30 s after connecting
        await wait_for(pilot, lambda: jobs.loaded and jobs.jobs)
        await wait_for(pilot, lambda: app.query_one("#jobs-table").row_count == 1)
        await pilot.pause(0.2)  # the table measures its new rows when idle
        assert app.is_running and app._exception is None
        await pilot.press("3")
        await pilot.pause(0.2)
        assert_inert(app, "jobs pane")
        assert_literal(app, "jobs pane", MARKUP_CLOSE, cells=3)


async def test_clicking_a_job_name_made_of_a_click_action_does_nothing(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    """A job named `[@click=app.screenshot('victim.txt', DIR)]CLICK-ME[/]` showed as
    "CLICK-ME", and a click on it wrote DIR/victim.txt (a file of the user's, overwritten)."""
    name = click_name(tmp_path)
    await asyncio.to_thread(create_jobs, clean_sandbox, {"click": name})
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        jobs = app.query_one(JobsPane)
        await pilot.press("3")
        await wait_for(pilot, lambda: jobs.jobs and app.query_one("#jobs-table").row_count == 1)
        await pilot.pause(0.3)
        assert_inert(app, "jobs table")
        assert_literal(app, "jobs table", name)
        table = jobs.query_one("#jobs-table")
        for offset in ((2, 1), (5, 1), (9, 1)):  # on "CLICK-ME" where markup would put it
            if isinstance(app.screen, DetailsScreen):
                await pilot.press("escape")
                await wait_for(pilot, lambda: not isinstance(app.screen, DetailsScreen))
            await pilot.click(table, offset=offset)
            await pilot.pause(0.2)
        assert not (tmp_path / "victim.txt").exists(), "a click on a job name wrote a file"
        assert app.is_running


@pytest.fixture
def hostile_jobs(clean_sandbox: Backend, tmp_path: Path) -> dict[str, str]:
    """Every hostile string as a job display name (Vertex allows 128 characters), plus a
    click that would write into tmp_path; log lines on the first job."""
    names = {key: tagged(key, value, 128) for key, value in HOSTILE.items()}
    names["click-victim"] = click_name(tmp_path)
    ids = create_jobs(clean_sandbox, names)
    write_log_lines(clean_sandbox, ids["click-victim"])
    return names


async def test_jobs_pane_shows_hostile_names_errors_and_log_lines_literally(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, hostile_jobs: dict[str, str], tmp_path: Path
) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        jobs = app.query_one(JobsPane)
        await pilot.press("3")
        await wait_for(pilot, lambda: len(jobs.jobs) == len(hostile_jobs))
        await wait_for(pilot, lambda: all(j.status == "FAILED" for j in jobs.jobs.values()))
        await pilot.pause(0.3)
        assert_inert(app, "jobs table")
        assert_literal(app, "jobs table", *hostile_jobs.values())

        table = jobs.query_one("#jobs-table")
        names = [jobs.jobs[str(row.key.value)].display_name for row in table.ordered_rows]  # type: ignore[attr-defined]
        row = names.index(hostile_jobs["click-victim"])

        # Details (YAML with labels and the error), then the job's logs.
        while isinstance(app.screen, DetailsScreen):
            await pilot.press("escape")
        table.move_cursor(row=row)  # type: ignore[attr-defined]
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        await pilot.pause(0.2)
        assert_inert(app, "job details")
        assert "CLICK-ME" in screen_text(app) and "@click" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailsScreen))

        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        log = app.screen.query_one(Log)
        await wait_for(pilot, lambda: log.line_count >= len(HOSTILE))
        await pilot.pause(0.2)
        assert_inert(app, "job logs")
        assert_literal(app, "job logs", HOSTILE["osc52-clipboard"], HOSTILE["markup-click"])
        await pilot.press("escape")

        # The re-run form (its name field prefilled with the name) and the delete question.
        await wait_for(pilot, lambda: not isinstance(app.screen, LogScreen))
        for key, screen_type in (("e", JobFormScreen), ("ctrl+d", ConfirmScreen)):
            table.move_cursor(row=names.index(hostile_jobs["osc52-clipboard"]))  # type: ignore[attr-defined]
            table.focus()
            await pilot.press(key)
            await wait_for(pilot, lambda t=screen_type: isinstance(app.screen, t))  # type: ignore[misc]
            await pilot.pause(0.3)
            assert_inert(app, f"{screen_type.__name__}")
            assert_literal(app, screen_type.__name__, hostile_jobs["osc52-clipboard"], cells=10)
            await pilot.press("escape")
            await wait_for(pilot, lambda t=screen_type: not isinstance(app.screen, t))  # type: ignore[misc]

        # A notification that quotes a hostile name: `c` on an ended job says so.
        await wait_for(pilot, lambda: not isinstance(app.screen, LogScreen))
        table.move_cursor(row=names.index(hostile_jobs["markup-close"]))  # type: ignore[attr-defined]
        table.focus()
        await pilot.press("c")
        await wait_for(pilot, lambda: any("already ended" in n.message for n in app._notifications))
        await pilot.pause(0.3)
        assert_inert(app, "notification")
        assert_literal(app, "notification", hostile_jobs["markup-close"], cells=3)
        assert app.is_running


async def test_tuning_screen_shows_hostile_study_names_literally(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    names = {key: tagged(key, value, 128) for key, value in HOSTILE.items()}
    await asyncio.to_thread(create_tuning_jobs, clean_sandbox, names)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one(JobsPane).loaded)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, TuningScreen))
        table = app.screen.query_one("#tuning-jobs")
        await wait_for(pilot, lambda: table.row_count == len(names))  # type: ignore[attr-defined]
        await pilot.pause(0.5)
        cells = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}  # type: ignore[attr-defined]
        assert cells == {visible(name) for name in names.values()}
        for index in range(table.row_count):  # type: ignore[attr-defined]
            table.move_cursor(row=index)  # type: ignore[attr-defined]
            await pilot.pause(0.1)
            assert_inert(app, f"tuning jobs, row {index}")
        assert_literal(app, "tuning jobs", visible(names["markup-close"]).split("#")[0])
        assert app.is_running


async def test_buckets_pane_shows_hostile_object_names_literally(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await asyncio.to_thread(create_objects, clean_sandbox)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        buckets = app.query_one(BucketsPane)
        await pilot.press("2")
        await wait_for(pilot, lambda: BUCKET in screen_text(app))
        buckets.focus_main()
        await pilot.press("enter")
        await wait_for(pilot, lambda: buckets.objects_loaded and buckets.table().row_count > 1)
        await pilot.pause(0.3)
        assert_inert(app, "objects")
        # A name with a `/` is listed as a folder (`▸ [bold]x[/`): its first part is shown.
        assert_literal(app, "objects", *(fit(v, 900).split("/")[0] for v in OBJECT_NAMES.values()))

        # Its details, permissions, download and delete dialogs, each on the worst name.
        name = tagged("osc52-clipboard", fit(HOSTILE["osc52-clipboard"], 900))
        table = buckets.table()
        for key in ("i", "p", "d", "ctrl+d"):
            table.move_cursor(row=table.get_row_index(name))
            table.focus()
            await pilot.press(key)
            await wait_for(pilot, lambda: len(app.screen_stack) > 1)
            await pilot.pause(0.5)
            assert_inert(app, f"object, key {key}")
            assert_literal(app, f"object, key {key}", HOSTILE["osc52-clipboard"], cells=10)
            await pilot.press("escape")
            await wait_for(pilot, lambda: len(app.screen_stack) == 1)
        assert app.is_running


async def test_vms_pane_shows_hostile_metadata_and_serial_output_literally(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await asyncio.to_thread(create_vm, clean_sandbox)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        vms = app.query_one(VmsPane)
        await wait_for(pilot, lambda: VM in screen_text(app))
        vms.focus_main()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        await pilot.pause(0.2)
        assert_inert(app, "VM details")
        # YAML quotes ESC itself (`\\e]52;…`); the markup must be there, literally.
        assert "[@click=app.screenshot(" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailsScreen))
        vms.focus_main()
        await pilot.press("o")
        await wait_for(pilot, lambda: app.screen.query(Log))
        log = app.screen.query_one(Log)
        tag = "#hostile-osc52-clipboard"
        await wait_for(pilot, lambda: any(tag in line for line in log.lines))
        await wait_for(pilot, lambda: "startup-script: \\x1b]52;c;" in screen_text(app))
        assert_inert(app, "serial output")
        # Lines are cut at the dialog's width: the start of each is checked.
        # (A CR is a line break on a serial console: "x\rFORGED" shows as two lines.)
        lines = [v[:200] for v in HOSTILE.values() if "\r" not in v]
        assert_literal(app, "serial output", *lines, cells=8)
        assert app.is_running


async def test_notifications_are_literal_whatever_the_caller_asks(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """The one choke point for toasts: markup off, controls escaped, even with markup=True."""
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.notify(
            HOSTILE["markup-click"] + HOSTILE["osc52-clipboard"], title=HOSTILE["osc0-title"]
        )
        app.notify(MARKUP_CLOSE, title="x", markup=True)
        await wait_for(pilot, lambda: "pwned" in screen_text(app))
        assert_inert(app, "toasts")
        assert_literal(app, "toasts", HOSTILE["markup-click"], HOSTILE["osc0-title"])


def test_no_module_shows_text_through_textual_widgets_that_parse_markup() -> None:
    """`Static`, `Label`, `DataTable`, `Log` and `Input` come from tui/widgets/literal.py,
    where a string is always literal and escaped; importing Textual's own would reopen the
    hole."""
    root = Path(__file__).resolve().parent.parent / "tui"
    guarded = {"Static", "Label", "DataTable", "Log", "Input"}
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "literal.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "textual.widgets":
                names = {alias.name for alias in node.names} & guarded
                if names:
                    offenders.append(f"{path.relative_to(root.parent)}: {sorted(names)}")
    assert not offenders, "import these from tui.widgets.literal instead:\n" + "\n".join(offenders)
