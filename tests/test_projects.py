"""`:project` picker (Resource Manager v3 through Google's client) and Console links (OSC 8)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import OptionList, Static

from tests.test_vms_pane import SIZE, make_app, wait_for
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.projects import list_projects
from tui.widgets.details import DetailsScreen, console_url
from tui.widgets.project_picker import ProjectPickerScreen


async def test_list_projects_through_resource_manager(sandbox: Backend) -> None:
    projects = await list_projects(sandbox)
    assert [p.project_id for p in projects] == [sandbox.project]
    assert projects[0].state == "ACTIVE"


async def test_list_projects_survives_a_throttled_answer(
    sandbox: Backend, faults: Callable[..., dict]
) -> None:
    faults(fail_next=1, codes=[503], path_prefix="/v3/projects:search")
    assert [p.project_id for p in await list_projects(sandbox)] == [sandbox.project]


async def test_project_picker_lists_and_marks_the_current_one(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("colon", *"project", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ProjectPickerScreen))
        options = app.screen.query_one(OptionList)
        await wait_for(pilot, lambda: options.option_count == 1)
        assert "cloudpane-sandbox" in str(options.get_option_at_index(0).prompt)
        assert "(current)" in str(options.get_option_at_index(0).prompt)
        await pilot.press("enter")  # the current project: nothing to switch
        await wait_for(pilot, lambda: not isinstance(app.screen, ProjectPickerScreen))
        assert app.connection is not None and app.connection.backend.project == "cloudpane-sandbox"


def test_console_urls_only_for_google(sandbox: Backend) -> None:
    google = Backend("team ml", None, None, False)
    assert console_url(google, "storage/browser/b") == (
        "https://console.cloud.google.com/storage/browser/b?project=team%20ml"
    )
    assert console_url(sandbox, "storage/browser/b") is None


async def test_details_show_the_console_link_as_a_hyperlink(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    url = console_url(Backend("team-ml", None, None, False), "compute/instancesDetail/x")
    assert url is not None
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(DetailsScreen("gpu-1", {"name": "gpu-1"}, url))
        await pilot.pause()
        link = app.screen.query_one("#console-link", Static)
        rendered = link.render()
        spans = getattr(rendered, "spans", [])
        assert (
            any(getattr(getattr(span, "style", None), "link", None) == url for span in spans)
            or url in str(link.visual)
            or "Open in Cloud Console" in str(rendered)
        )
        await pilot.press("escape")
        # The sandbox has no Console page: no link there.
        await app.push_screen(DetailsScreen("vm", {"name": "vm"}))
        await pilot.pause()
        assert not app.screen.query("#console-link")
