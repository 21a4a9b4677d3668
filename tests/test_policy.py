"""Turn-off rules: each firing and not firing at its boundary, one warning per episode, snooze."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from tui.services import policy, pricing
from tui.services.models import Accelerator, Disk, Instance
from tui.services.policy import (
    GPU_NO_AUTO_STOP,
    GPU_OFF_HOURS,
    IDLE,
    LONG_RUNNING,
    OVER_BUDGET,
    PROJECT,
    Rules,
    WarningTracker,
)
from tui.services.pricing import BUNDLED_PATH, PriceCatalog, SettingsError
from tui.services.warning_state import WarningState

UTC = timezone.utc
# Tuesday 10 March 2026, 10:00 UTC: inside default working hours.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
ALL_OFF = frozenset(policy.ALL_RULES)


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.from_file(BUNDLED_PATH)


def only(rule: str, **changes: object) -> Rules:
    """Rules with just one rule enabled (so each test sees one rule's behaviour)."""
    return Rules(disabled=ALL_OFF - {rule}, **changes)  # type: ignore[arg-type]


def vm(
    name: str = "vm-1",
    machine_type: str = "n1-standard-4",
    *,
    status: str = "RUNNING",
    started: datetime | None = None,
    gpus: int = 0,
    max_run_seconds: int | None = None,
) -> Instance:
    return Instance(
        id=f"id-{name}",
        name=name,
        zone="us-central1-a",
        status=status,
        machine_type=machine_type,
        accelerators=(Accelerator("nvidia-tesla-t4", gpus),) if gpus else (),
        last_start=started if started is not None else NOW - timedelta(hours=2),
        disks=(Disk("boot", 100, "pd-balanced", True),),
        max_run_seconds=max_run_seconds,
    )


def samples(
    until: datetime, minutes: int, value: float, every: int = 60
) -> list[tuple[datetime, float]]:
    """One sample every `every` seconds over the `minutes` before `until`, all at `value`."""
    count = minutes * 60 // every
    return [(until - timedelta(seconds=i * every), value) for i in range(count + 1)]


def rules_fired(warnings: list[policy.TurnOffWarning]) -> list[str]:
    return [w.rule for w in warnings]


# -- idle ------------------------------------------------------------------------------------


def test_idle_fires_at_exactly_y_minutes(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_cpu_percent=5.0, idle_minutes=30.0)
    inst = vm("gpu-box", "a2-highgpu-1g")
    cpu = {inst.id: samples(NOW, 30, 0.004)}  # 0.4 % for exactly 30 min
    [warning] = policy.evaluate([inst], cpu, NOW, rules, catalog)
    assert warning.rule == IDLE and warning.instance_name == "gpu-box"
    assert warning.evidence == "CPU 0.4 % for 30 min, costing $3.67/h"
    assert warning.hourly == pytest.approx(3.673, abs=0.001)
    assert warning.since == NOW - timedelta(minutes=30)


def test_idle_does_not_fire_a_second_short(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_minutes=30.0)
    inst = vm()
    first = NOW - timedelta(minutes=30) + timedelta(seconds=1)  # idle since 29 min 59 s ago
    series = [(first + timedelta(seconds=60 * i), 0.01) for i in range(30)]
    assert policy.evaluate([inst], {inst.id: series}, NOW, rules, catalog) == []
    # One second later the same stretch has lasted 30 minutes.
    later = NOW + timedelta(seconds=1)
    assert rules_fired(policy.evaluate([inst], {inst.id: series}, later, rules, catalog)) == [IDLE]


def test_idle_threshold_is_strictly_below(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_cpu_percent=5.0, idle_minutes=10.0)
    inst = vm()
    at_threshold = {inst.id: samples(NOW, 20, 0.05)}
    assert policy.evaluate([inst], at_threshold, NOW, rules, catalog) == []
    below = {inst.id: samples(NOW, 20, 0.0499)}
    assert rules_fired(policy.evaluate([inst], below, NOW, rules, catalog)) == [IDLE]


def test_idle_run_is_broken_by_a_busy_sample(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_minutes=30.0)
    inst = vm()
    series = samples(NOW, 60, 0.01)
    series[20] = (series[20][0], 0.9)  # busy 20 minutes ago
    assert policy.evaluate([inst], {inst.id: series}, NOW, rules, catalog) == []


def test_idle_needs_fresh_samples_from_the_current_run(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_minutes=30.0)
    inst = vm(started=NOW - timedelta(minutes=20))  # restarted 20 min ago
    cpu = {inst.id: samples(NOW, 60, 0.0)}  # samples from before the start do not count
    assert policy.evaluate([inst], cpu, NOW, rules, catalog) == []
    stale = {vm().id: samples(NOW - timedelta(minutes=15), 60, 0.0)}  # monitoring went quiet
    assert policy.evaluate([vm()], stale, NOW, rules, catalog) == []
    stopped = vm(status="TERMINATED")
    assert (
        policy.evaluate([stopped], {stopped.id: samples(NOW, 60, 0.0)}, NOW, rules, catalog) == []
    )


def test_idle_samples_may_be_keyed_by_name_and_unsorted(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_minutes=30.0)
    series = list(reversed(samples(NOW, 45, 0.002)))
    [warning] = policy.evaluate([vm("named")], {"named": series}, NOW, rules, catalog)
    assert warning.evidence.startswith("CPU 0.2 % for 45 min")


# -- running longer than H hours ----------------------------------------------------------


def test_long_running_boundary(catalog: PriceCatalog) -> None:
    rules = only(LONG_RUNNING, max_run_hours=8.0)
    at = vm(started=NOW - timedelta(hours=8))
    [warning] = policy.evaluate([at], {}, NOW, rules, catalog)
    hourly = catalog.instance_hourly("n1-standard-4", "us-central1") or 0
    assert warning.rule == LONG_RUNNING
    assert warning.evidence == (
        f"running for 8 h 00 min (more than 8 h), {pricing.format_money(8 * hourly)} so far "
        f"at {pricing.format_rate(hourly)}"
    )
    before = vm(started=NOW - timedelta(hours=8) + timedelta(seconds=1))
    assert policy.evaluate([before], {}, NOW, rules, catalog) == []


# -- GPU outside working hours / weekends ------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "fires"),
    [
        (datetime(2026, 3, 10, 19, 59, 59, tzinfo=UTC), False),  # Tuesday, last working second
        (datetime(2026, 3, 10, 20, 0, 0, tzinfo=UTC), True),  # Tuesday 20:00: off hours
        (datetime(2026, 3, 10, 7, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 3, 10, 8, 0, 0, tzinfo=UTC), False),
        (datetime(2026, 3, 13, 12, 0, tzinfo=UTC), False),  # Friday noon
        (datetime(2026, 3, 14, 12, 0, tzinfo=UTC), True),  # Saturday noon
        (datetime(2026, 3, 15, 12, 0, tzinfo=UTC), True),  # Sunday noon
    ],
)
def test_gpu_off_hours_boundaries(catalog: PriceCatalog, now: datetime, fires: bool) -> None:
    rules = only(GPU_OFF_HOURS)
    gpu = vm(gpus=1, started=now - timedelta(hours=1))
    warnings = policy.evaluate([gpu], {}, now, rules, catalog)
    assert rules_fired(warnings) == ([GPU_OFF_HOURS] if fires else [])
    if fires:
        assert "costing $0.54/h" in warnings[0].evidence  # n1-standard-4 + T4
    # A machine without GPUs may run at night.
    assert policy.evaluate([vm(started=now - timedelta(hours=1))], {}, now, rules, catalog) == []


def test_gpu_off_hours_weekend_wording_and_bundled_gpus(catalog: PriceCatalog) -> None:
    saturday = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    inst = vm("a2", "a2-highgpu-1g", started=saturday - timedelta(hours=1))  # GPU bundled
    [warning] = policy.evaluate([inst], {}, saturday, only(GPU_OFF_HOURS), catalog)
    assert warning.evidence.startswith("1 GPU running on a non-working day (Sat 12:00)")


def test_gpu_off_hours_uses_the_configured_time_zone(catalog: PriceCatalog) -> None:
    rules = Rules.from_mapping(
        {"timezone": "America/New_York", "working_hours": "09:00-17:00", "disabled": [IDLE]}
    )
    rules = replace(rules, disabled=ALL_OFF - {GPU_OFF_HOURS})
    # 15:00 UTC on a Tuesday in March 2026 is 11:00 in New York (EDT): working time.
    at = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert policy.evaluate([vm(gpus=1)], {}, at, rules, catalog) == []
    # 22:00 UTC is 18:00 in New York: after 17:00.
    late = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)
    [warning] = policy.evaluate([vm(gpus=1)], {}, late, rules, catalog)
    assert "(Tue 18:00)" in warning.evidence


# -- budget --------------------------------------------------------------------------------


def test_budget_boundary(catalog: PriceCatalog) -> None:
    rules = only(OVER_BUDGET, monthly_budget=100.0)
    assert policy.evaluate([vm()], {}, NOW, rules, catalog, month_projection=100.0) == []
    [warning] = policy.evaluate([vm()], {}, NOW, rules, catalog, month_projection=100.01)
    assert warning.instance_id == PROJECT and warning.rule == OVER_BUDGET
    assert "$100.01" in warning.evidence and "budget of $100.00" in warning.evidence


def test_budget_projection_from_burn_rate(catalog: PriceCatalog) -> None:
    inst = vm(machine_type="a2-highgpu-1g")  # ≈ $3.67/h: ≈ $2,733 over March's 744 h
    rules = only(OVER_BUDGET, monthly_budget=2000.0)
    [warning] = policy.evaluate([inst], {}, NOW, rules, catalog)
    burn = pricing.burn_rate([inst], catalog).total
    assert warning.hourly == pytest.approx(burn)
    assert pricing.format_money(burn * 744) in warning.evidence
    assert policy.evaluate([inst], {}, NOW, only(OVER_BUDGET, monthly_budget=3000.0), catalog) == []
    assert policy.evaluate([inst], {}, NOW, only(OVER_BUDGET, monthly_budget=None), catalog) == []


# -- GPU without auto-stop -----------------------------------------------------------------


def test_gpu_without_auto_stop(catalog: PriceCatalog) -> None:
    rules = only(GPU_NO_AUTO_STOP)
    [warning] = policy.evaluate([vm(gpus=2)], {}, NOW, rules, catalog)
    assert warning.evidence.startswith("2 GPUs and no auto-stop set")
    assert policy.evaluate([vm(gpus=2, max_run_seconds=3600)], {}, NOW, rules, catalog) == []
    assert policy.evaluate([vm()], {}, NOW, rules, catalog) == []
    assert policy.evaluate([vm(gpus=1, status="TERMINATED")], {}, NOW, rules, catalog) == []


def test_all_rules_together_and_disabled(catalog: PriceCatalog) -> None:
    night = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    inst = vm(gpus=1, started=night - timedelta(hours=9))
    cpu = {inst.id: samples(night, 40, 0.0)}
    rules = Rules(monthly_budget=10.0)
    fired = rules_fired(policy.evaluate([inst], cpu, night, rules, catalog))
    assert sorted(fired) == sorted(policy.ALL_RULES)
    quiet = Rules(monthly_budget=10.0, disabled=frozenset({IDLE, OVER_BUDGET}))
    fired = rules_fired(policy.evaluate([inst], cpu, night, quiet, catalog))
    assert sorted(fired) == sorted([LONG_RUNNING, GPU_OFF_HOURS, GPU_NO_AUTO_STOP])


# -- one warning per episode; snooze ---------------------------------------------------------


def test_one_warning_per_episode(catalog: PriceCatalog) -> None:
    rules = only(IDLE, idle_minutes=30.0)
    inst = vm()
    tracker = WarningTracker()
    announced: list[policy.TurnOffWarning] = []
    # Idle for an hour, evaluated every second from minute 29 to minute 40.
    for second in range(29 * 60, 40 * 60):
        now = NOW + timedelta(seconds=second)
        cpu = {inst.id: samples(now, second // 60, 0.0)}
        announced += tracker.update(policy.evaluate([inst], cpu, now, rules, catalog), now)
    assert len(announced) == 1
    # The condition clears (a busy sample): the episode ends, nothing is announced.
    later = NOW + timedelta(minutes=41)
    busy = {inst.id: [(later, 0.8)]}
    assert tracker.update(policy.evaluate([inst], busy, later, rules, catalog), later) == []
    assert tracker.current() == []
    # A new idle stretch is a new episode: announced once more.
    again = later + timedelta(minutes=31)
    cpu = {inst.id: samples(again, 30, 0.0)}
    assert len(tracker.update(policy.evaluate([inst], cpu, again, rules, catalog), again)) == 1
    assert tracker.update(policy.evaluate([inst], cpu, again, rules, catalog), again) == []


def test_snooze_suppresses_until_a_time_then_reminds(catalog: PriceCatalog) -> None:
    rules = only(LONG_RUNNING, max_run_hours=1.0)
    inst = vm(started=NOW - timedelta(hours=2))
    tracker = WarningTracker()
    assert len(tracker.update(policy.evaluate([inst], {}, NOW, rules, catalog), NOW)) == 1
    tracker.snooze(inst.id, LONG_RUNNING, NOW + timedelta(hours=1))
    for minutes in (1, 30, 59):
        now = NOW + timedelta(minutes=minutes)
        assert tracker.update(policy.evaluate([inst], {}, now, rules, catalog), now) == []
    end = NOW + timedelta(hours=1)
    [reminder] = tracker.update(policy.evaluate([inst], {}, end, rules, catalog), end)
    assert reminder.rule == LONG_RUNNING
    assert tracker.update(policy.evaluate([inst], {}, end, rules, catalog), end) == []


def test_snooze_before_an_episode_and_for_all_rules(catalog: PriceCatalog) -> None:
    tracker = WarningTracker()
    inst = vm(gpus=1)
    tracker.snooze(inst.id, "*", NOW + timedelta(minutes=10))
    warnings = policy.evaluate([inst], {}, NOW, only(GPU_NO_AUTO_STOP), catalog)
    assert warnings and tracker.update(warnings, NOW) == []
    assert len(tracker.update(warnings, NOW + timedelta(minutes=10))) == 1
    with pytest.raises(ValueError, match="unknown rule"):
        tracker.snooze(inst.id, "sleepy", NOW)


def test_episodes_are_per_instance_and_rule(catalog: PriceCatalog) -> None:
    tracker = WarningTracker()
    a, b = vm("a", gpus=1), vm("b", gpus=1)
    rules = only(GPU_NO_AUTO_STOP)
    assert len(tracker.update(policy.evaluate([a], {}, NOW, rules, catalog), NOW)) == 1
    fresh = tracker.update(policy.evaluate([a, b], {}, NOW, rules, catalog), NOW)
    assert [w.instance_name for w in fresh] == ["b"]


# -- config ----------------------------------------------------------------------------------


def test_defaults_suit_a_student() -> None:
    rules = Rules.from_mapping({})
    assert rules.idle_cpu_percent == 5 and rules.idle_minutes == 30
    assert rules.max_run_hours == 8 and rules.monthly_budget == 50
    assert (rules.working_start, rules.working_end) == (time(8), time(20))
    assert rules.working_days == frozenset({0, 1, 2, 3, 4})


def test_rules_from_config() -> None:
    rules = Rules.from_mapping(
        {
            "idle_cpu_percent": 2,
            "idle_minutes": 15,
            "max_run_hours": 4.5,
            "working_hours": "07:30-22:00",
            "working_days": ["mon-thu", "sat"],
            "monthly_budget": False,
            "timezone": "Europe/Berlin",
            "disabled": ["gpu-no-auto-stop"],
        }
    )
    assert rules.idle_cpu_percent == 2.0 and rules.idle_minutes == 15.0
    assert rules.max_run_hours == 4.5
    assert (rules.working_start, rules.working_end) == (time(7, 30), time(22))
    assert rules.working_days == frozenset({0, 1, 2, 3, 5})
    assert rules.monthly_budget is None
    assert rules.tz() is not None
    assert not rules.enabled(GPU_NO_AUTO_STOP) and rules.enabled(IDLE)


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"idle_minutes": "ten"}, "rules.idle_minutes"),
        ({"idle_minutes": 0}, "rules.idle_minutes"),
        ({"idle_cpu_percent": 150}, "rules.idle_cpu_percent"),
        ({"idle_cpu_percent": True}, "rules.idle_cpu_percent"),
        ({"max_run_hours": -1}, "rules.max_run_hours"),
        ({"working_hours": "8 to 20"}, "rules.working_hours"),
        ({"working_days": ["mon", "funday"]}, "rules.working_days"),
        ({"monthly_budget": "lots"}, "rules.monthly_budget"),
        ({"timezone": "Mars/Olympus"}, "rules.timezone"),
        ({"disabled": ["idel"]}, "rules.disabled"),
        ({"idle_minuts": 10}, "rules.idle_minuts"),
    ],
)
def test_bad_config_names_the_key(config: dict, names: str) -> None:
    with pytest.raises(SettingsError) as info:
        Rules.from_mapping(config)
    assert names in str(info.value)
    assert info.value.hint  # says where to fix it


def test_snoozes_and_announcements_survive_a_restart(catalog: PriceCatalog, tmp_path: Path) -> None:
    """A restart neither re-raises an announced warning nor forgets a snooze; a snooze made
    in the TUI quiets `watch` too, but the TUI's toasts do not silence `watch`."""
    path = tmp_path / "state" / "warnings.json"
    rules = Rules(disabled=ALL_OFF - {LONG_RUNNING, GPU_NO_AUTO_STOP}, max_run_hours=1.0)
    inst = vm(started=NOW - timedelta(hours=2), gpus=1)
    warnings = policy.evaluate([inst], {}, NOW, rules, catalog)
    assert {w.rule for w in warnings} == {LONG_RUNNING, GPU_NO_AUTO_STOP}

    tui = WarningTracker(state=WarningState(path, "proj", "tui"))
    assert len(tui.update(warnings, NOW)) == 2
    tui.snooze(inst.id, LONG_RUNNING, NOW + timedelta(hours=3))
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    restarted = WarningTracker(state=WarningState(path, "proj", "tui"))
    later = NOW + timedelta(minutes=5)
    assert restarted.update(policy.evaluate([inst], {}, later, rules, catalog), later) == []

    watch = WarningTracker(state=WarningState(path, "proj", "watch"))
    [fresh] = watch.update(warnings, NOW)
    assert fresh.rule == GPU_NO_AUTO_STOP  # announced by the TUI, not by watch; snoozed: quiet

    other_project = WarningTracker(state=WarningState(path, "other", "tui"))
    assert len(other_project.update(warnings, NOW)) == 2

    # When the snooze ends, the reminder comes once, even across another restart.
    end = NOW + timedelta(hours=3)
    [reminder] = restarted.update(policy.evaluate([inst], {}, end, rules, catalog), end)
    assert reminder.rule == LONG_RUNNING
    again = WarningTracker(state=WarningState(path, "proj", "tui"))
    assert again.update(policy.evaluate([inst], {}, end, rules, catalog), end) == []


def test_a_damaged_warning_state_file_is_not_fatal(catalog: PriceCatalog, tmp_path: Path) -> None:
    path = tmp_path / "warnings.json"
    path.write_text("{not json")
    tracker = WarningTracker(state=WarningState(path, "proj", "tui"))
    inst = vm(gpus=1)
    warnings = policy.evaluate([inst], {}, NOW, only(GPU_NO_AUTO_STOP), catalog)
    assert len(tracker.update(warnings, NOW)) == 1
    assert "proj" in path.read_text()  # rewritten whole


def test_idle_stop_setting_ticks_the_watcher_with_the_idle_rules_thresholds() -> None:
    rules = Rules.from_mapping({"idle_stop": True, "idle_minutes": 20, "idle_cpu_percent": 3})
    assert rules.idle_stop
    watcher = rules.idle_watcher()
    assert (watcher.minutes, watcher.cpu_pct) == (20, 3)
    with pytest.raises(SettingsError, match=r"rules\.idle_stop must be true or false"):
        Rules.from_mapping({"idle_stop": "yes"})
