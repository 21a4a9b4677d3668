"""The GC policy: young generations automatic, full collections only when the person is idle."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tui.gc_policy import FORCE_AFTER, FREEZE_AFTER, FULL_EVERY, IDLE_SECONDS, GcPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy() -> Iterator[tuple[GcPolicy, Clock]]:
    clock = Clock()
    chosen = GcPolicy(clock)
    before = gc.get_threshold()
    chosen.install()
    yield chosen, clock
    chosen.uninstall()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_install_leaves_full_collections_to_the_app(policy: tuple[GcPolicy, Clock]) -> None:
    young0, young1, old = gc.get_threshold()
    assert (young0, young1) == (2_000, 10) and old >= 1_000_000


def test_a_full_collection_waits_for_idle(policy: tuple[GcPolicy, Clock]) -> None:
    gc_policy, clock = policy
    gc_policy.frozen = True  # the start-up freeze is tested below
    clock.now += FULL_EVERY + 1
    gc_policy.saw_input()
    assert not gc_policy.tick()  # typing: not now
    clock.now += IDLE_SECONDS + 0.1
    assert gc_policy.tick()  # idle and due
    assert not gc_policy.tick()  # not again right away


def test_a_full_collection_is_forced_when_overdue(policy: tuple[GcPolicy, Clock]) -> None:
    gc_policy, clock = policy
    gc_policy.frozen = True
    runs = []
    while clock.now < 1000.0 + FORCE_AFTER + 1:  # someone who never stops pressing keys
        clock.now += 1.0
        gc_policy.saw_input()
        runs.append(gc_policy.tick())
    assert runs.count(True) == 1  # once, when 180 s had passed; none before


def test_start_up_objects_are_frozen_once_when_idle(policy: tuple[GcPolicy, Clock]) -> None:
    gc_policy, clock = policy
    clock.now += FREEZE_AFTER + IDLE_SECONDS
    assert gc_policy.tick() and gc_policy.frozen and gc.get_freeze_count() > 0


async def test_the_app_runs_the_policy_while_it_runs(
    clean_sandbox: object, sandbox_info: object
) -> None:
    from tests.test_vms_pane import make_app

    before = gc.get_threshold()
    app = make_app(clean_sandbox, sandbox_info)  # type: ignore[arg-type]
    async with app.run_test() as pilot:
        assert gc.get_threshold()[2] >= 1_000_000
        seen = app.gc_policy.last_input
        await pilot.press("j")
        assert app.gc_policy.last_input > seen  # a key press postpones the next full collection
    assert gc.get_threshold() == before
