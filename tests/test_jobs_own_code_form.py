"""The Jobs form with a person's own code: what will be packaged and its price, then the job runs.

Driven with Pilot against the session's sandbox; the job's failure reason reaches the toast in
one line (the exception's last line, not the traceback's top).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.jobs_helpers import TRAINER_IMAGE, storage_client
from tests.test_jobs_pane import (
    SIZE,
    make_app,
    names,
    notifications,
    open_form,
    open_jobs,
    pane,
    state_of,
    text_of,
    wait_for,
)
from tui.panes.job_forms import JobFormScreen
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.pricing import get_catalog


async def test_the_form_packages_your_folder_shows_it_and_its_price_and_runs_it(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, tmp_path: Path
) -> None:
    storage_client(clean_sandbox).create_bucket("own-stage")
    code = tmp_path / "my-model"
    (code / "trainer").mkdir(parents=True)
    (code / "trainer" / "__init__.py").write_text("")
    (code / "trainer" / "task.py").write_text(
        "import sys\nprint('my own trainer', sys.argv[1:])\nimport not_installed_anywhere\n"
    )
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_jobs(pilot, app)
        form = await open_form(pilot, app)
        assert "bundled trainer" in text_of(form, "#code-note")
        await pilot.press(*"mine")
        form.query_one("#code", Input).value = str(code)
        await pilot.pause()
        assert "Give the module to run" in text_of(form, "#code-note")
        form.query_one("#module", Input).value = "trainer.task"
        form.query_one("#extra-args", Input).value = "--steps 3"
        form.query_one("#staging", Input).value = "gs://own-stage"
        form.query_one("#image-uri", Input).value = TRAINER_IMAGE  # no prebuilt TF image left
        await pilot.pause()
        note = text_of(form, "#code-note")
        assert "Folder my-model: 2 files" in note and "a bare folder, packaged for it" in note
        assert "runs python -m trainer.task" in note
        price = get_catalog().vertex_hourly("n1-standard-4", "us-central1")
        assert f"${price:.2f}/hour" in text_of(form, "#summary")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "mine" in names(app), timeout=60)
        assert not isinstance(app.screen, JobFormScreen)
        job = next(iter(pane(app).jobs.values()))
        pool = job.spec.worker_pools[0]
        assert pool.python_module == "trainer.task" and pool.args == ("--steps", "3")
        assert pool.package_uris[0].endswith("/package/my-model-0.1.tar.gz")
        await wait_for(pilot, lambda: state_of(app, "mine") == "FAILED", timeout=120)
        await wait_for(
            pilot,
            lambda: (
                "mine failed: ModuleNotFoundError: No module named 'not_installed_anywhere'"
                in notifications(app)
            ),
        )
