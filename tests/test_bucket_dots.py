"""A bucket name with dots is valid but needs a verified domain: the create form says so as the
name is typed, before Google refuses it (docs/gcp-facts.md, Cloud Storage naming rules)."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.test_buckets_pane import SIZE, make_app, open_tab, wait_for
from tui.panes.bucket_forms import CreateBucketScreen
from tui.sandbox.daemon import SandboxInfo
from tui.services.storage import StorageService


@pytest.fixture(autouse=True)
def _only_the_panes_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_DELAY", 3600.0)
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_LATEST", 3600.0)


async def test_dotted_bucket_name_warns_about_domain_verification(
    clean_sandbox,
    sandbox_info: SandboxInfo,  # type: ignore[no-untyped-def]
) -> None:
    svc = StorageService(clean_sandbox)
    app = make_app(svc.backend, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await open_tab(pilot, app)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateBucketScreen))
        form = app.screen
        form.query_one("#bucket-name", Input).value = "data.example.com"
        warning = lambda: str(form.query_one("#name-warning").render())  # noqa: E731
        await wait_for(pilot, lambda: "require verification" in warning())
        assert "data-example-com" in warning()  # the dashed alternative
        assert str(form.query_one("#name-error").render()) == ""  # a warning, not a refusal
        form.query_one("#bucket-name", Input).value = "data-example"
        await wait_for(pilot, lambda: warning() == "")
