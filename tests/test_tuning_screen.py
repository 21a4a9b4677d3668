"""The tuning screen driven with Pilot against the real sandbox: a bad file shows its errors and
submits nothing; a good file is previewed, submitted, and its trials fill the table with the
best one marked; logs, export, sort, plot, cancel. Snapshots of the preview and the trials."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from test_cli_tune import BAD, LEGACY
from test_tuning_service import study_yaml
from textual.pilot import Pilot
from textual.widgets import Button, ContentSwitcher, DataTable, Input, RichLog, Static
from tuning_helpers import trial_job_spec, upload_tuning_standin

from tui.app import CloudpaneApp
from tui.config import Config
from tui.panes.tuning import BEST_MARK, TuningScreen
from tui.panes.tuning_dialogs import ExportScreen, TrialLogsScreen
from tui.panes.tuning_new import NewStudyScreen
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.connect import Connection
from tui.services.tuning import TuningService, tuning_job_from_resource
from tui.widgets.confirm import ConfirmScreen

SIZE = (110, 34)
REPO = Path(__file__).resolve().parent.parent
FIXED_NOW = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)


def make_app(backend: Backend, info: SandboxInfo) -> CloudpaneApp:
    return CloudpaneApp(
        Config(refresh_seconds=30), connection=Connection(backend, "", info.data_dir)
    )


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


async def open_screen(
    pilot: Pilot, backend: Backend, info: SandboxInfo, **options: Any
) -> TuningScreen:
    screen = TuningScreen(Connection(backend, "", info.data_dir), poll_seconds=0.3, **options)
    pilot.app.push_screen(screen)
    await pilot.pause(0.1)
    return screen


async def load_file(pilot: Pilot, path: str) -> NewStudyScreen:
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NewStudyScreen))
    new = pilot.app.screen
    assert isinstance(new, NewStudyScreen)
    new.query_one("#study-path", Input).value = path
    new.query_one("#study-path", Input).focus()
    await pilot.press("enter")
    await pilot.pause(0.1)
    return new


def trial_rows(screen: TuningScreen) -> list[list[str]]:
    table = screen.query_one("#tuning-trials", DataTable)
    return [[str(c) for c in table.get_row(r.key)] for r in table.ordered_rows]


def text_of(widget: Static) -> str:
    return str(widget.render())


async def test_bad_file_shows_errors_with_lines_and_submits_nothing(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, clean_sandbox, sandbox_info, start_dir=tmp_path)
        new = await load_file(pilot, str(tmp_path / "bad.yaml"))
        errors = text_of(new.query_one("#study-errors", Static))
        assert "errors — nothing can be submitted" in errors
        assert "bad.yaml:4: studySpec.metrics[0].goal:" in errors
        assert "bad.yaml:7:" in errors and "parallelTrialCount" in errors
        assert new.query_one("#study-submit", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert "Nothing to submit" in text_of(new.query_one("#study-status", Static))
        assert isinstance(app.screen, NewStudyScreen)
        # A legacy file: converted, its Vertex YAML shown, the trainer form asked for.
        (tmp_path / "legacy.yaml").write_text(LEGACY)
        new.query_one("#study-path", Input).value = str(tmp_path / "legacy.yaml")
        new.query_one("#study-path", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert not new.query_one("#study-errors", Static).display
        assert "parameterId: batch_size" in new.converted_yaml
        assert new.query_one("#study-vertex", Static).region.height > 5
        assert not new.query_one("#trainer-form").has_class("hidden")
        assert not new.query_one("#study-submit", Button).disabled
    assert await TuningService(clean_sandbox).list_jobs() == []


async def test_good_file_preview_submit_trials_best_logs_export(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    package = upload_tuning_standin(clean_sandbox)
    (tmp_path / "study.yaml").write_text(study_yaml(package, ["--steps", "2"]))
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, clean_sandbox, sandbox_info, start_dir=tmp_path)
        new = await load_file(pilot, str(tmp_path / "study.yaml"))
        summary = new.query_one("#study-summary", DataTable)
        rows = {str(summary.get_row(r.key)[1]) for r in summary.ordered_rows}
        assert "score (MINIMIZE)" in rows
        assert (
            "a  INTEGER  1 … 2  no scaling" in rows and "b  DISCRETE  {10, 20}  no scaling" in rows
        )
        assert any(r.startswith("$") and "4 trials × 1 h" in r for r in rows)
        new.query_one("#hours-per-trial", Input).value = "3"
        await pilot.pause(0.1)
        rows = {str(summary.get_row(r.key)[1]) for r in summary.ordered_rows}
        assert any("4 trials × 3 h" in r for r in rows)
        assert not new.query_one("#study-submit", Button).disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        await wait_for(
            pilot,
            lambda: (
                len(trial_rows(screen)) == 4
                and all(r[2] == "SUCCEEDED" for r in trial_rows(screen))
            ),
        )
        rows4 = trial_rows(screen)
        best = [r for r in rows4 if r[0] == BEST_MARK]
        assert len(best) == 1 and best[0][1:6] == ["1", "SUCCEEDED", "1", "10", "11"]
        assert sorted(float(r[5]) for r in rows4) == [11, 12, 21, 22]
        jobs = screen.query_one("#tuning-jobs", DataTable)
        assert [str(c) for c in jobs.get_row_at(0)][:4] == [
            "tiny study",
            "SUCCEEDED",
            "4/4",
            "11 #1",
        ]

        # Sort by the metric, descending on the second press.
        screen.query_one("#tuning-trials", DataTable).focus()
        await pilot.press("s", "s")
        assert [r[5] for r in trial_rows(screen)] == ["22", "21", "12", "11"]

        # The selected trial's logs.
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, TrialLogsScreen))
        logs = app.screen
        assert isinstance(logs, TrialLogsScreen)
        await wait_for(pilot, lambda: any("standin trial=" in line for line in logs.lines))
        assert all(
            "standin trial=" + logs.trial_id in line
            for line in logs.lines
            if "standin trial=" in line
        )
        assert logs.query_one(RichLog).lines
        await pilot.press("escape")

        # Export the best parameters.
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen))
        export = app.screen
        assert isinstance(export, ExportScreen)
        assert export.flags_text == "--a=1 --b=10"
        export.folder = tmp_path
        await pilot.press("w")
        assert (tmp_path / "tiny-study-best-params.yaml").read_text().endswith("a: 1\nb: 10\n")
        await pilot.press("escape")

        # The plot of the metric over trials.
        await pilot.press("p")
        assert screen.query_one(ContentSwitcher).current == "tuning-plot"
        await pilot.press("p")

        # Re-run the best trial as a plain job (confirmed).
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(
            pilot, lambda: any("Submitted custom job" in n.message for n in app._notifications)
        )


async def test_cancel_asks_first(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> None:
    package = upload_tuning_standin(clean_sandbox)
    service = TuningService(clean_sandbox)
    from tui.services.hpconfig import parse_hp_config

    job = await service.submit(parse_hp_config(study_yaml(package, ["--forever"]), "s.yaml"))
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, clean_sandbox, sandbox_info)
        await wait_for(pilot, lambda: screen.job is not None and screen.job.running == 2)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # no: nothing happens
        await pilot.pause(0.3)
        assert (await service.get_job(job.name)).status == "RUNNING"
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: screen.job is not None and screen.job.status == "CANCELLED")
        assert all(r[2] == "INFEASIBLE" for r in trial_rows(screen))


# --- snapshots ---------------------------------------------------------------------------------


def test_preview_snapshot(
    snap_compare: Callable[..., bool],
    clean_sandbox: Backend,
    sandbox_info: SandboxInfo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parsed study of the bundled trainer's example file, with the trainer form."""
    shutil.copy(REPO / "trainer" / "hptuning.yaml", tmp_path / "hptuning.yaml")
    monkeypatch.chdir(tmp_path)
    app = make_app(clean_sandbox, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await open_screen(pilot, clean_sandbox, sandbox_info, poll=False, start_dir=tmp_path)
        new = await load_file(pilot, "hptuning.yaml")
        new.query_one("#staging-bucket", Input).value = "gs://depth-stage"
        await pilot.press("ctrl+o")  # hide the file tree (its root is a temporary folder)
        new.query_one("#hours-per-trial", Input).value = "0.5"
        new.query_one("#study-summary", DataTable).focus()  # no blinking cursor
        await pilot.pause(0.1)
        new.query_one("#study-preview").scroll_home(animate=False)
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def fixed_job() -> dict[str, Any]:
    def trial(i: int, lr: float, bs: int, value: float | None, state: str = "SUCCEEDED") -> dict:
        out: dict[str, Any] = {
            "id": str(i),
            "state": state,
            "parameters": [
                {"parameterId": "learning_rate", "value": lr},
                {"parameterId": "batch_size", "value": bs},
            ],
            "startTime": f"2025-05-01T11:{10 + 3 * i:02d}:00Z",
            "endTime": f"2025-05-01T11:{12 + 3 * i:02d}:30Z",
        }
        if value is not None:
            out["finalMeasurement"] = {
                "stepCount": "5",
                "metrics": [{"metricId": "val_abs_rel", "value": value}],
            }
        else:
            out["infeasibleReason"] = "The trial's replica exited with exit status 1."
        return out

    return {
        "name": "projects/cloudpane-sandbox/locations/us-central1/hyperparameterTuningJobs/42",
        "displayName": "depth-unet-tuning",
        "state": "JOB_STATE_SUCCEEDED",
        "studySpec": {
            "metrics": [{"metricId": "val_abs_rel", "goal": "MINIMIZE"}],
            "parameters": [{"parameterId": "learning_rate"}, {"parameterId": "batch_size"}],
            "algorithm": "ALGORITHM_UNSPECIFIED",
        },
        "maxTrialCount": 6,
        "parallelTrialCount": 2,
        "maxFailedTrialCount": 3,
        "trialJobSpec": trial_job_spec("gs://depth-stage/pkg.tar.gz", ["--epochs=5"]),
        "trials": [
            trial(1, 0.0012, 16, 0.2131),
            trial(2, 0.0071, 8, 0.1876),
            trial(3, 0.0004, 32, None, "INFEASIBLE"),
            trial(4, 0.0035, 16, 0.1542),
            trial(5, 0.0051, 8, 0.1611),
            trial(6, 0.0023, 32, 0.1799),
        ],
        "createTime": "2025-05-01T11:00:00Z",
        "startTime": "2025-05-01T11:01:00Z",
        "endTime": "2025-05-01T11:40:00Z",
        "updateTime": "2025-05-01T11:40:00Z",
    }


def test_trials_table_snapshot(
    snap_compare: Callable[..., bool],
    clean_sandbox: Backend,
    sandbox_info: SandboxInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finished study (fixed resource, fixed clock): the best trial (#4) is marked."""
    monkeypatch.setattr("tui.panes.tuning.utcnow", lambda: FIXED_NOW)
    app = make_app(clean_sandbox, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        screen = await open_screen(pilot, clean_sandbox, sandbox_info, poll=False)
        screen.apply_jobs([tuning_job_from_resource(fixed_job())])
        screen.query_one("#tuning-trials", DataTable).focus()
        app.clear_notifications()
        await pilot.pause(0.3)
        rows = trial_rows(screen)
        assert [r[0] for r in rows] == ["", "", "", BEST_MARK, "", ""]

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_read_only_hides_and_refuses_submit_cancel_rerun(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    app = CloudpaneApp(
        Config(refresh_seconds=30, read_only=True),
        connection=Connection(clean_sandbox, "", sandbox_info.data_dir),
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, clean_sandbox, sandbox_info, poll=False)
        shown = {
            binding.action for _, binding, enabled, *_ in screen.active_bindings.values() if enabled
        }
        assert not {"new", "cancel_job", "rerun"} & shown
        assert "export" in shown
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, NewStudyScreen)
