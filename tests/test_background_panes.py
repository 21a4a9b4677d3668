"""Hidden panes load at the first pause in typing (their imports would delay key presses)."""

from __future__ import annotations

import asyncio

import pytest

from tests.test_vms_pane import make_app
from tui.sandbox.daemon import SandboxInfo
from tui.services.clients import Backend


async def _type_for(pilot: object, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        await pilot.press("j")  # type: ignore[attr-defined]
        await asyncio.sleep(0.25)


async def test_hidden_panes_wait_for_a_pause(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_DELAY", 3.0)
    monkeypatch.setattr("tui.app.BACKGROUND_IDLE_SECONDS", 1.0)
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_LATEST", 60.0)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test() as pilot:
        await _type_for(pilot, 5.0)  # typing from the start, past the 3 s delay
        assert app._ready_panes == {"vms-pane"}  # typing: the others still wait
        await pilot.pause(2.0)
        assert app._ready_panes == {"vms-pane", "buckets-pane", "jobs-pane"}


async def test_hidden_panes_wake_at_the_latest_even_while_typing(
    clean_sandbox: Backend, sandbox_info: SandboxInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_DELAY", 1.0)
    monkeypatch.setattr("tui.app.BACKGROUND_IDLE_SECONDS", 1.0)
    monkeypatch.setattr("tui.app.BACKGROUND_PANES_LATEST", 2.0)
    app = make_app(clean_sandbox, sandbox_info)
    async with app.run_test() as pilot:
        await _type_for(pilot, 3.0)
        assert app._ready_panes == {"vms-pane", "buckets-pane", "jobs-pane"}
