"""The VMs pane driven as a person would, with Pilot, against the real sandbox."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Switch

from tui.app import CloudpaneApp, StatusHeader
from tui.config import Config
from tui.panes.vm_forms import CreateInstanceScreen, MachineTypeScreen
from tui.panes.vms import COLUMNS, TICKING_INDEXES, VmsPane, ticking_only
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend
from tui.services.compute import ComputeService
from tui.services.connect import Connection
from tui.services.models import Image, InstanceSpec
from tui.services.pricing import get_catalog
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.details import DetailsScreen

SIZE = (120, 34)


def make_app(backend: Backend, info: SandboxInfo, **config: object) -> CloudpaneApp:
    settings = Config(refresh_seconds=0.5, **config)  # type: ignore[arg-type]
    return CloudpaneApp(settings, connection=Connection(backend, "", info.data_dir))


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def table(app: CloudpaneApp) -> DataTable:
    return app.query_one("#vms-table", DataTable)


def names(app: CloudpaneApp) -> list[str]:
    return [str(table(app).get_row(row.key)[0]).lstrip("⚠ ") for row in table(app).ordered_rows]


def status_of(app: CloudpaneApp, name: str) -> str:
    pane = app.query_one(VmsPane)
    return next(i.status for i in pane.instances.values() if i.name == name)


def notifications(app: CloudpaneApp) -> str:
    return "\n".join(f"{n.title}: {n.message}" for n in app._notifications)


async def create(
    backend: Backend,
    name: str,
    zone: str = "us-central1-a",
    machine: str = "e2-small",
    **extra: object,
) -> None:
    service = ComputeService(backend)
    op = await service.create_instance(
        InstanceSpec(
            name=name,
            zone=zone,
            machine_type=machine,
            image=Image("debian-cloud", "debian-12"),
            **extra,  # type: ignore[arg-type]
        )
    )
    await service.wait_operation(op, timeout=30)


async def select_row(pilot: Pilot, app: CloudpaneApp, name: str) -> None:
    await wait_for(pilot, lambda: name in names(app))
    table(app).move_cursor(row=names(app).index(name))
    table(app).focus()
    await pilot.pause()


async def test_lists_instances_across_zones(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await create(clean_sandbox, "alpha", "us-central1-a")
    await create(clean_sandbox, "beta", "europe-west4-a", "n1-standard-4")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(names(app)) == 2)
        assert names(app) == ["alpha", "beta"]
        row = [str(c) for c in table(app).get_row(table(app).ordered_rows[1].key)]
        cells = dict(zip([c[0] for c in COLUMNS], row, strict=True))
        assert (cells["name"], cells["status"], cells["zone"], cells["machine"]) == (
            "beta",
            "RUNNING",
            "europe-west4-a",
            "n1-standard-4",
        )
        expected = get_catalog().instance_hourly("n1-standard-4", "europe-west4", spot=False)
        assert cells["hourly"] == f"${expected:.2f}"  # $/h from the price catalog
        assert cells["run"].startswith("$")  # the cost of this run, ticking
        # The costs reach the header as a message from the pane: wait for it.
        await wait_for(pilot, lambda: "/h" in app.query_one(StatusHeader).text)
        header = app.query_one(StatusHeader).text
        assert "Sandbox project — nothing here is billed" in header
        assert "month" in header


async def test_filter_with_slash(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> None:
    await create(clean_sandbox, "train-1")
    await create(clean_sandbox, "notebook")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(names(app)) == 2)
        await pilot.press("slash", *"train")
        await wait_for(pilot, lambda: names(app) == ["train-1"])
        assert "1 match" in str(app.query_one("#vms-message").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(names(app)) == 2)


async def test_create_through_the_form(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.query_one(VmsPane).loaded)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateInstanceScreen))
        form = app.screen
        await pilot.press(*"Bad_Name")
        await wait_for(pilot, lambda: "lowercase" in str(form.query_one("#name-error").render()))
        form.query_one("#name", Input).value = ""
        await pilot.press(*"gpu-box")
        await wait_for(pilot, lambda: "n1-standard-4" in form.machine_types)
        assert form.query_one("#machine", Select).value == "n1-standard-4"
        form.query_one("#gpu", Select).value = "nvidia-tesla-t4"
        await pilot.pause()
        summary = str(form.query_one("#summary").render())
        assert "/hour" in summary  # the bill before confirming
        assert "costs a $1,500 laptop in" in summary  # buy or rent, before buying
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "gpu-box" in names(app))
        await wait_for(pilot, lambda: status_of(app, "gpu-box") == "RUNNING")
        await wait_for(pilot, lambda: "gpu-box created" in notifications(app))
    instance = await ComputeService(clean_sandbox).get_instance("us-central1-a", "gpu-box")
    assert [(a.type, a.count) for a in instance.accelerators] == [("nvidia-tesla-t4", 1)]


async def test_create_form_says_a_retired_family_and_holds_back_deprecated_ones(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """A family Google retired (404) is said on screen; deprecated families are not offered."""
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.query_one(VmsPane).loaded)
        form = CreateInstanceScreen(
            app.query_one(VmsPane).get_service,
            "us-central1-a",
            image_families=[
                ("debian-cloud", "debian-12"),
                ("deeplearning-platform-release", "tf-latest-gpu"),
            ],
        )
        app.push_screen(form)
        await wait_for(pilot, lambda: app.screen is form and bool(form.query("#image-note")))
        note = lambda: str(form.query_one("#image-note").render())  # noqa: E731
        await wait_for(pilot, lambda: "tf-latest-gpu" in note())
        assert "not available" in note() and "was not found" in note()
        assert "debian-cloud/debian-12" in form.images
        assert "debian-cloud/debian-11" not in form.images  # DEPRECATED by Google
        assert "debian-11" in note()
        form.query_one("#show-deprecated", Switch).value = True
        await wait_for(pilot, lambda: "debian-cloud/debian-11" in form.images)
        dl = "deeplearning-platform-release/common-cu128-ubuntu-2204-nvidia-570"
        form.query_one("#disk-size", Input).value = "20"
        form.query_one("#image", Select).value = dl
        await wait_for(pilot, lambda: form.query_one("#disk-size", Input).value == "50")


async def test_create_form_refuses_bad_disk_size(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, CreateInstanceScreen))
        form = app.screen
        await pilot.press(*"ok-name")
        await wait_for(pilot, lambda: bool(form.machine_types))
        form.query_one("#disk-size", Input).value = "5"
        await pilot.press("ctrl+s")
        assert "between 10 and 65536" in str(form.query_one("#form-error").render())
        assert isinstance(app.screen, CreateInstanceScreen)  # nothing lost, still editable


async def test_stop_start_resize_delete(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> None:
    await create(clean_sandbox, "worker")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "worker")
        await wait_for(pilot, lambda: status_of(app, "worker") == "RUNNING")
        # resize refuses while running, and says why
        await pilot.press("m")
        assert "Stop it first" in notifications(app)
        # stop asks first
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: status_of(app, "worker") == "TERMINATED")
        # make it more powerful
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, MachineTypeScreen))
        await wait_for(pilot, lambda: app.screen.query_one("#machine", Select)._options[1:])
        app.screen.query_one("#machine", Select).value = "e2-standard-8"
        await pilot.click("#change")
        await wait_for(pilot, lambda: "is now e2-standard-8" in notifications(app))
        instance = await ComputeService(clean_sandbox).get_instance("us-central1-a", "worker")
        assert instance.machine_type == "e2-standard-8"
        # start again
        await select_row(pilot, app, "worker")
        await pilot.press("u")
        await wait_for(pilot, lambda: status_of(app, "worker") == "RUNNING")
        # delete needs the name typed back
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        confirm = app.screen.query_one("#confirm")
        assert confirm.disabled
        await pilot.press(*"worker")
        assert not confirm.disabled
        await pilot.press("enter")
        await wait_for(pilot, lambda: "worker" not in names(app))


async def test_details_show_yaml(clean_sandbox: Backend, sandbox_info: SandboxInfo) -> None:
    await create(clean_sandbox, "detail-me")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "detail-me")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        assert "name: detail-me" in app.screen.text
        assert "machineType:" in app.screen.text
        line = str(app.screen.query_one("#details-summary").render())
        assert re.search(
            r"^\$\d+\.\d+/h — at this rate, this machine costs a \$1,500 laptop in ", line
        )
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailsScreen)


async def test_failed_operation_is_shown_and_screen_stays_usable(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, faults: Callable[..., dict]
) -> None:
    await create(clean_sandbox, "fragile")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "fragile")
        faults(  # a refusal: not retried (a 500 or 503 would be, see test_idempotent_writes)
            fail_next=1,
            codes=[403],
            path_prefix="/compute/v1/projects/cloudpane-sandbox/zones/us-central1-a/instances/fragile/stop",
        )
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: "Could not" in notifications(app))
        assert "Injected fault" in notifications(app)
        assert status_of(app, "fragile") == "RUNNING"
        await pilot.press("slash", *"frag")  # still usable
        await wait_for(pilot, lambda: names(app) == ["fragile"])


async def test_list_errors_back_off_and_recover(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, faults: Callable[..., dict]
) -> None:
    await create(clean_sandbox, "steady")
    faults(
        error_rate=1.0, codes=[503], path_prefix="/compute/v1/projects/cloudpane-sandbox/aggregated"
    )
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(VmsPane)
        await wait_for(
            pilot, lambda: "Retrying in" in str(app.query_one("#vms-message").render()), timeout=60
        )
        assert pane.failures >= 1
        faults()
        await wait_for(pilot, lambda: names(app) == ["steady"], timeout=60)
        assert pane.failures == 0


async def test_serial_output_of_a_startup_script(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await create(clean_sandbox, "scripted", startup_script="echo hello-from-the-vm; sleep 30")
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "scripted")
        await pilot.press("o")
        await wait_for(
            pilot,
            lambda: "hello-from-the-vm" in "\n".join(app.screen.query_one("#serial-log").lines),
            timeout=20,
        )


async def test_palette_offers_pane_actions(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Create instance", "Stop instance", "Change machine type", "Go to buckets"} <= set(
            titles
        )


async def test_read_only_refuses_and_hides_mutations(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await create(clean_sandbox, "prod-vm")
    app = make_app(clean_sandbox, sandbox_info, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "prod-vm")
        for key in ("t", "ctrl+d", "n", "m", "u", "a"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, (ConfirmScreen, CreateInstanceScreen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Stop instance" not in titles and "Instance details" in titles
        assert status_of(app, "prod-vm") == "RUNNING"


def test_ssh_command_in_the_sandbox_is_a_shell_in_the_instance_dir(
    sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    from tui.panes.vms import ssh_command
    from tui.services.models import Instance

    vm = Instance(
        "1", "box", "us-central1-a", "RUNNING", "e2-small", last_start=datetime.now(timezone.utc)
    )
    command, cwd = ssh_command(Connection(sandbox, "", sandbox_info.data_dir), vm)
    assert command and command[0].endswith(("bash", "sh"))
    assert cwd and Path(cwd).is_dir() and "box" in cwd


FIXED_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("size", [(80, 24), (120, 34)])
def test_vms_pane_snapshot(
    size: tuple[int, int],
    snap_compare: Callable[..., bool],
    clean_sandbox: Backend,
    sandbox_info: SandboxInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped instances and a fixed clock, so no ticking figure changes the picture."""
    monkeypatch.setattr("tui.panes.vms.utcnow", lambda: FIXED_NOW)

    async def setup() -> None:
        service = ComputeService(clean_sandbox)
        for name, zone, machine in (
            ("data-prep", "us-central1-a", "e2-standard-4"),
            ("train-t4", "us-central1-b", "n1-standard-8"),
        ):
            await create(clean_sandbox, name, zone, machine)
            await service.wait_operation(await service.stop_instance(zone, name), timeout=30)

    asyncio.run(setup())
    app = make_app(clean_sandbox, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await wait_for(
            pilot,
            lambda: (
                len(names(app)) == 2 and all(status_of(app, n) == "TERMINATED" for n in names(app))
            ),
        )
        await wait_for(pilot, lambda: "/h" in app.query_one(StatusHeader).text)  # costs' message
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_from_a_warning_to_a_stopped_instance(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """A GPU left running with no auto-stop: warned once, stopped from the warning, warning gone."""
    from tui.panes.vm_warnings import WarningsScreen

    await create(
        clean_sandbox,
        "forgotten-gpu",
        machine="n1-standard-4",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(VmsPane)
        await wait_for(pilot, lambda: "Turn it off?" in notifications(app))
        assert "forgotten-gpu" in notifications(app)
        assert "⚠ forgotten-gpu" in str(table(app).get_row(table(app).ordered_rows[0].key)[0])
        count = len([n for n in app._notifications if "Turn it off?" in (n.title or "")])
        await pilot.pause(1.5)  # more polls: the same episode is not announced again
        assert len([n for n in app._notifications if "Turn it off?" in (n.title or "")]) == count
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WarningsScreen))
        screen = app.screen
        rows = [w.instance_name for w in screen.warnings]
        screen.query_one(DataTable).move_cursor(row=rows.index("forgotten-gpu"))
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: status_of(app, "forgotten-gpu") == "TERMINATED")
        await wait_for(
            pilot, lambda: not [w for w in pane.warnings if w.instance_name == "forgotten-gpu"]
        )
        assert "turn-off warning" not in str(app.query_one("#vms-message").render())


def test_vms_pane_no_color_snapshot(
    snap_compare: Callable[..., bool],
    clean_sandbox: Backend,
    sandbox_info: SandboxInfo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NO_COLOR terminals: the status must still read without colour (monochrome, 80×24)."""
    monkeypatch.setattr("tui.panes.vms.utcnow", lambda: FIXED_NOW)
    monkeypatch.setenv("NO_COLOR", "1")

    async def setup() -> None:
        service = ComputeService(clean_sandbox)
        await create(clean_sandbox, "mono-vm", "us-central1-a", "e2-standard-4")
        await service.wait_operation(
            await service.stop_instance("us-central1-a", "mono-vm"), timeout=30
        )

    asyncio.run(setup())
    app = make_app(clean_sandbox, sandbox_info)

    async def run_before(pilot: Pilot) -> None:
        await wait_for(
            pilot, lambda: names(app) == ["mono-vm"] and status_of(app, "mono-vm") == "TERMINATED"
        )
        await wait_for(pilot, lambda: "/h" in app.query_one(StatusHeader).text)  # costs' message
        app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_only_ticking_cells_may_wait_for_the_ticker() -> None:
    """Off-screen rows skip repaints that only move costs; any other change is painted."""
    before = tuple(f"cell{i}" for i in range(len(COLUMNS)))
    costs_moved = tuple(f"new{i}" if i in TICKING_INDEXES else c for i, c in enumerate(before))
    assert TICKING_INDEXES and ticking_only(before, costs_moved)
    other = next(i for i in range(len(COLUMNS)) if i not in TICKING_INDEXES)
    status_changed = tuple("STOPPING" if i == other else c for i, c in enumerate(costs_moved))
    assert not ticking_only(before, status_changed)


async def test_gpu_warning_remedy_stops_sets_and_starts(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """ "GPU without auto-stop" offers `a`; on a running VM one confirmation does
    stop → set the limit → start, and the warning clears."""
    from tui.panes.vm_warnings import AutoStopScreen, WarningsScreen

    await create(
        clean_sandbox,
        "gpu-box",
        machine="n1-standard-4",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(VmsPane)
        await wait_for(pilot, lambda: any(w.instance_name == "gpu-box" for w in pane.warnings))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, WarningsScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AutoStopScreen))
        dialog = app.screen
        note = str(dialog.query_one("#restart-note").render())
        assert "only on a stopped instance" in note and "start it again" in note
        assert str(dialog.query_one("#set").label) == "Stop, set, start"
        await pilot.press(*"90m", "enter")
        await wait_for(pilot, lambda: "gpu-box restarted: stop 1.5 h" in notifications(app))
        instance = await ComputeService(clean_sandbox).get_instance("us-central1-a", "gpu-box")
        assert instance.status == "RUNNING"
        assert instance.max_run_seconds == 5400
        await wait_for(
            pilot,
            lambda: (
                not [
                    w
                    for w in pane.warnings
                    if w.instance_name == "gpu-box" and w.rule == "gpu-no-auto-stop"
                ]
            ),
        )


async def test_auto_stop_on_a_stopped_vm_just_sets_it(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    from tui.panes.vm_warnings import AutoStopScreen

    await create(clean_sandbox, "parked")
    service = ComputeService(clean_sandbox)
    await service.wait_operation(await service.stop_instance("us-central1-a", "parked"))
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "parked")
        await wait_for(pilot, lambda: status_of(app, "parked") == "TERMINATED")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AutoStopScreen))
        assert not app.screen.query("#restart-note")
        await pilot.press(*"soon", "enter")
        error = str(app.screen.query_one("#form-error").render())
        assert "not 'soon'" in error and "90m" in error  # the dialog stays, saying why
        app.screen.query_one(Input).value = "4h"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "parked: stop 4 h after each start." in notifications(app))
        instance = await service.get_instance("us-central1-a", "parked")
        assert (instance.status, instance.max_run_seconds) == ("TERMINATED", 4 * 3600)


async def test_restart_does_not_raise_the_same_warning_again(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await create(
        clean_sandbox,
        "left-on",
        machine="n1-standard-4",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )
    first = make_app(clean_sandbox, sandbox_info)
    async with first.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Turn it off?" in notifications(first))
    second = make_app(clean_sandbox, sandbox_info)
    async with second.run_test(size=SIZE) as pilot:
        pane = second.query_one(VmsPane)
        # The warning is still true and marked in the table ...
        await wait_for(pilot, lambda: any(w.instance_name == "left-on" for w in pane.warnings))
        await wait_for(pilot, lambda: pane.warned)
        # ... but it was announced before the restart: no second toast for the same episode.
        assert "Turn it off?" not in notifications(second)


async def test_today_does_not_go_down_when_a_vm_is_deleted(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    await create(
        clean_sandbox,
        "short-lived",
        machine="n1-standard-4",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(VmsPane)
        await wait_for(pilot, lambda: pane.figures is not None and pane.figures.today.value > 0)
        assert pane.figures is not None
        before = pane.figures.today.value
        service = ComputeService(clean_sandbox)
        await service.wait_operation(
            await service.delete_instance("us-central1-a", "short-lived"), timeout=30
        )
        await wait_for(pilot, lambda: "short-lived" not in names(app))
        await wait_for(pilot, lambda: pane.figures is not None and not pane.instances)
        assert pane.figures.today.value >= before
    # A restart still counts it.
    again = make_app(clean_sandbox, sandbox_info)
    async with again.run_test(size=SIZE) as pilot:
        pane = again.query_one(VmsPane)
        await wait_for(pilot, lambda: pane.loaded and pane.figures is not None)
        assert pane.figures is not None and pane.figures.today.value >= before


async def test_tui_and_status_assess_one_fleet_alike(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    """The VMs pane and `status` answer "what does it cost, what should I turn off?" with one
    assessment: same prices per instance, same burn rate, same warnings."""
    from tui.cli.report import gather

    await create(
        clean_sandbox,
        "gpu-a",
        machine="n1-standard-4",
        accelerator_type="nvidia-tesla-t4",
        accelerator_count=1,
    )
    await create(clean_sandbox, "cpu-b", zone="europe-west4-a", machine="e2-standard-8")
    await create(clean_sandbox, "parked-c")
    service = ComputeService(clean_sandbox)
    await service.wait_operation(await service.stop_instance("us-central1-a", "parked-c"))
    config = Config(refresh_seconds=0.5)
    app = CloudpaneApp(config, connection=Connection(clean_sandbox, "", sandbox_info.data_dir))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(VmsPane)
        await wait_for(
            pilot,
            lambda: (
                pane.figures is not None
                and len(pane.instances) == 3
                and status_of(app, "parked-c") == "TERMINATED"
            ),
        )
        assert pane.figures is not None
        tui_hourly = {
            pane.instances[i].name: c.hourly for i, c in pane.figures.per_instance.items()
        }
        tui_burn = pane.figures.burn.total
        tui_warnings = sorted((w.instance_name, w.rule) for w in pane.warnings)
    report = await gather(clean_sandbox, config)
    assert {r.name: r.hourly for r in report.instances} == tui_hourly
    assert report.burn_compute + report.burn_disks == pytest.approx(tui_burn)
    assert sorted((w.instance_name, w.rule) for w in report.warnings) == tui_warnings
    assert ("gpu-a", "gpu-no-auto-stop") in tui_warnings


async def test_idle_watcher_added_from_the_auto_stop_dialog_shows_in_the_table(
    clean_sandbox: Backend, sandbox_info: SandboxInfo
) -> None:
    from textual.widgets import Switch

    from tui.panes.vm_warnings import AutoStopScreen

    await create(clean_sandbox, "watched", startup_script="echo mine")
    service = ComputeService(clean_sandbox)
    await service.wait_operation(await service.stop_instance("us-central1-a", "watched"))
    app = make_app(clean_sandbox, sandbox_info, rules={"idle_minutes": 45})
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, app, "watched")
        await wait_for(pilot, lambda: status_of(app, "watched") == "TERMINATED")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AutoStopScreen))
        switch = app.screen.query_one("#idle-stop", Switch)
        assert not switch.value
        switch.value = True
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "watched: stops itself after 45 min idle" in notifications(app)
        )
        row = names(app).index("watched")
        autostop = [c[0] for c in COLUMNS].index("autostop")
        await wait_for(
            pilot,
            lambda: str(table(app).get_row_at(row)[autostop]) == "idle 45m",
        )
    instance = await service.get_instance("us-central1-a", "watched")
    assert instance.idle_stop_minutes == 45
