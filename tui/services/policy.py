"""Turn-off rules → warnings. Pure: instances, CPU samples and `now` in, warnings out.

The lecture's warning, made concrete: an idle VM, a VM running for hours, a GPU running at night
or over a weekend, a month heading over budget, a GPU VM with no auto-stop. `evaluate` says what
is true now; `WarningTracker` turns that into notifications — once per episode (an episode ends
when its condition clears), and not while snoozed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from tui.services import pricing
from tui.services.idle_stop import IdleStop
from tui.services.models import Instance
from tui.services.pricing import PriceCatalog, SettingsError
from tui.services.warning_state import WarningState

IDLE = "idle"
LONG_RUNNING = "long-running"
GPU_OFF_HOURS = "gpu-off-hours"
OVER_BUDGET = "over-budget"
GPU_NO_AUTO_STOP = "gpu-no-auto-stop"
ALL_RULES = (IDLE, LONG_RUNNING, GPU_OFF_HOURS, OVER_BUDGET, GPU_NO_AUTO_STOP)

PROJECT = "(project)"  # instance id of project-wide warnings (the budget)

RULE_TITLES = {
    IDLE: "Idle",
    LONG_RUNNING: "Running long",
    GPU_OFF_HOURS: "GPU outside working hours",
    OVER_BUDGET: "Over budget",
    GPU_NO_AUTO_STOP: "GPU without auto-stop",
}

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

CpuSamples = Mapping[str, Sequence[tuple[datetime, float]]]


@dataclass(frozen=True)
class Rules:
    """The `[rules]` section of the config file. Defaults suit a student's project."""

    idle_cpu_percent: float = 5.0  # CPU below this …
    idle_minutes: float = 30.0  # … for this long is idle
    max_run_hours: float = 8.0  # a run longer than this is "running long"
    working_start: time = time(8, 0)  # GPUs may run from …
    working_end: time = time(20, 0)  # … until (exclusive)
    working_days: frozenset[int] = frozenset(range(5))  # Monday=0 … Friday=4
    monthly_budget: float | None = 50.0  # $; None: no budget rule
    timezone: str | None = None  # IANA name for working hours; None: the time zone of `now`
    disabled: frozenset[str] = frozenset()
    # CPU samples older than this prove nothing about idleness now.
    max_sample_age_minutes: float = 10.0
    # Tick "stop itself when idle" in the create form: the on-VM watcher, with these
    # same idle thresholds (services/idle_stop.py).
    idle_stop: bool = False

    def idle_watcher(self) -> IdleStop:
        """The on-VM watcher's settings: the idle rule's own definition of idle."""
        return IdleStop(minutes=self.idle_minutes, cpu_pct=self.idle_cpu_percent)

    def enabled(self, rule: str) -> bool:
        return rule not in self.disabled

    def tz(self) -> tzinfo | None:
        if self.timezone is None:
            return None
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Rules:
        """Rules from the config file; errors name the key and say what was expected."""
        data = dict(data or {})
        known = {
            "idle_cpu_percent",
            "idle_minutes",
            "max_run_hours",
            "working_hours",
            "working_days",
            "monthly_budget",
            "timezone",
            "disabled",
            "idle_stop",
        }
        for key in data:
            if key not in known:
                raise SettingsError(
                    f"rules.{key} is not a rule setting (known: {', '.join(sorted(known))})"
                )
        rules = cls()
        changes: dict[str, Any] = {}
        if "idle_cpu_percent" in data:
            value = _number(data, "idle_cpu_percent", "a percentage between 0 and 100")
            if not 0 <= value <= 100:
                raise SettingsError(f"rules.idle_cpu_percent must be 0–100, got {value:g}")
            changes["idle_cpu_percent"] = value
        if "idle_minutes" in data:
            changes["idle_minutes"] = _positive(data, "idle_minutes", "minutes")
        if "max_run_hours" in data:
            changes["max_run_hours"] = _positive(data, "max_run_hours", "hours")
        if "working_hours" in data:
            changes["working_start"], changes["working_end"] = _hours(data["working_hours"])
        if "working_days" in data:
            changes["working_days"] = _days(data["working_days"])
        if "monthly_budget" in data:
            budget = data["monthly_budget"]
            if budget is False or budget is None:
                changes["monthly_budget"] = None
            else:
                value = _number(data, "monthly_budget", "an amount in dollars (or false)")
                if value < 0:
                    raise SettingsError(f"rules.monthly_budget must be ≥ 0, got {value:g}")
                changes["monthly_budget"] = value
        if "timezone" in data:
            zone = data["timezone"]
            if not isinstance(zone, str):
                raise SettingsError(
                    f"rules.timezone must be a name like 'Europe/Berlin', got {zone!r}"
                )
            try:
                replace(rules, timezone=zone).tz()
            except (KeyError, ValueError) as exc:
                raise SettingsError(f"rules.timezone: unknown time zone {zone!r}") from exc
            changes["timezone"] = zone
        if "idle_stop" in data:
            if not isinstance(data["idle_stop"], bool):
                raise SettingsError(
                    f"rules.idle_stop must be true or false, got {data['idle_stop']!r}"
                )
            changes["idle_stop"] = data["idle_stop"]
        if "disabled" in data:
            names = data["disabled"]
            if isinstance(names, str):
                names = [names]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise SettingsError(f"rules.disabled must be a list of rule names, got {names!r}")
            unknown = [n for n in names if n not in ALL_RULES]
            if unknown:
                raise SettingsError(
                    f"rules.disabled: unknown rule {unknown[0]!r} (rules: {', '.join(ALL_RULES)})"
                )
            changes["disabled"] = frozenset(names)
        return replace(rules, **changes)


def _number(data: Mapping[str, Any], key: str, what: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingsError(f"rules.{key} must be {what}, got {value!r}")
    return float(value)


def _positive(data: Mapping[str, Any], key: str, unit: str) -> float:
    value = _number(data, key, f"a number of {unit}")
    if value <= 0:
        raise SettingsError(f"rules.{key} must be more than 0 {unit}, got {value:g}")
    return value


def _hours(value: Any) -> tuple[time, time]:
    """ "08:00-20:00" → (08:00, 20:00)."""
    try:
        start_text, end_text = str(value).replace(" ", "").split("-")
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    except ValueError as exc:
        raise SettingsError(
            f"rules.working_hours must look like '08:00-20:00', got {value!r}"
        ) from exc
    if start == end:
        raise SettingsError("rules.working_hours: start and end are the same time")
    return start, end


def _days(value: Any) -> frozenset[int]:
    """["mon", "tue"] or "mon-fri" → weekday numbers."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"rules.working_days must be a list like ['mon', 'fri'], got {value!r}")
    days: set[int] = set()
    for item in items:
        item = item.strip().lower()[:3] if "-" not in item else item.strip().lower()
        if "-" in item:
            first, last = (part.strip()[:3] for part in item.split("-", 1))
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise SettingsError(f"rules.working_days: cannot read {item!r}")
            i, j = DAY_NAMES.index(first), DAY_NAMES.index(last)
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif item in DAY_NAMES:
            days.add(DAY_NAMES.index(item))
        else:
            raise SettingsError(f"rules.working_days: {item!r} is not a day (mon … sun)")
    return frozenset(days)


# --- auto-stop: the one syntax, for the create form, the auto-stop dialog and the CLI --------

# Compute Engine's limits on scheduling.maxRunDuration: 30 seconds to 120 days
# (docs/gcp-facts.md, "Limit the run time of a VM").
MIN_AUTO_STOP_SECONDS = 30
MAX_AUTO_STOP_SECONDS = 120 * 86400
AUTO_STOP_OFF = ("", "off", "none", "no", "never", "clear", "0")
AUTO_STOP_EXAMPLES = "4, 1.5, 4h, 90m, 2d, or off"


class AutoStopSyntaxError(ValueError):
    """What a person typed is not an auto-stop; the message says what would be."""


def parse_auto_stop(text: str) -> int | None:
    """A run-time limit as a person types it → seconds, or None for no limit.

    A bare number is hours (`4`, `1.5`); `h`, `m` and `d` name the unit (`4h`, `90m`, `2d`);
    `off` (or empty, `none`, `0`) means no limit. Raises AutoStopSyntaxError with the reason.
    """
    value = text.strip().lower().replace(" ", "")
    if value in AUTO_STOP_OFF:
        return None
    units = {"h": 3600.0, "m": 60.0, "d": 86400.0}
    unit = 3600.0
    for suffix in ("hours", "hour", "hrs", "hr", "mins", "min", "days", "day"):
        if value.endswith(suffix):
            value, unit = value[: -len(suffix)], units[suffix[0]]
            break
    else:
        if value[-1:] in units:
            value, unit = value[:-1], units[value[-1]]
    try:
        amount = float(value)
    except ValueError:
        raise AutoStopSyntaxError(
            f"Auto-stop is a number of hours or minutes ({AUTO_STOP_EXAMPLES}), not {text.strip()!r}."
        ) from None
    if not math.isfinite(amount):
        raise AutoStopSyntaxError(f"Auto-stop needs a finite duration, not {text.strip()!r}.")
    seconds = round(amount * unit)
    if not MIN_AUTO_STOP_SECONDS <= seconds <= MAX_AUTO_STOP_SECONDS:
        raise AutoStopSyntaxError(
            "Auto-stop must be between 30 seconds and 120 days (Compute Engine's limits), "
            f"not {text.strip()}."
        )
    return seconds


@dataclass(frozen=True)
class TurnOffWarning:
    """One reason to turn something off, with the evidence."""

    instance_id: str  # PROJECT for project-wide warnings
    instance_name: str
    rule: str
    evidence: str  # e.g. "CPU 0.4 % for 47 min, costing $2.93/h"
    hourly: float | None = None  # what it costs while it runs
    since: datetime | None = None  # when the condition started, when known

    @property
    def key(self) -> tuple[str, str]:
        return (self.instance_id, self.rule)

    @property
    def title(self) -> str:
        return RULE_TITLES.get(self.rule, self.rule)

    @property
    def message(self) -> str:
        return f"{self.instance_name}: {self.evidence}"


def idle_since(
    samples: Sequence[tuple[datetime, float]],
    now: datetime,
    threshold: float,
    not_before: datetime | None = None,
    max_age: timedelta = timedelta(minutes=10),
) -> tuple[datetime, float] | None:
    """Start of the trailing run of samples below `threshold` (0..1) and their mean, or None.

    Only samples after `not_before` (the instance's last start) count, and the newest must be
    recent: without fresh samples nothing is proven.
    """
    ordered = sorted(
        (s for s in samples if s[0] <= now and (not_before is None or s[0] >= not_before)),
        key=lambda s: s[0],
    )
    if not ordered or now - ordered[-1][0] > max_age:
        return None
    start: datetime | None = None
    total = 0.0
    count = 0
    for stamp, value in reversed(ordered):
        if value >= threshold:
            break
        start, total, count = stamp, total + value, count + 1
    if start is None:
        return None
    return start, total / count


def _local(now: datetime, rules: Rules) -> datetime:
    zone = rules.tz()
    if zone is not None:
        return now.astimezone(zone)
    return now if now.tzinfo is not None else now.astimezone()


def is_working_time(now: datetime, rules: Rules) -> bool:
    local = _local(now, rules)
    if local.weekday() not in rules.working_days:
        return False
    clock = local.time().replace(tzinfo=None)
    start, end = rules.working_start, rules.working_end
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # working hours across midnight


def evaluate(
    instances: Iterable[Instance],
    cpu_samples: CpuSamples,
    now: datetime,
    rules: Rules,
    catalog: PriceCatalog | None = None,
    *,
    month_projection: float | None = None,
) -> list[TurnOffWarning]:
    """Every rule that holds now, as warnings (the tracker decides which ones to announce).

    `cpu_samples` maps an instance id (or name) to (timestamp, utilisation 0..1) samples.
    `month_projection` defaults to the burn rate now × the hours of this month.
    """
    catalog = catalog or pricing.get_catalog()
    instances = list(instances)
    warnings: list[TurnOffWarning] = []
    for inst in instances:
        if not inst.is_running:
            continue
        hourly = catalog.hourly(inst)
        rate = pricing.format_rate(hourly)
        if rules.enabled(IDLE):
            samples = cpu_samples.get(inst.id) or cpu_samples.get(inst.name) or ()
            found = idle_since(
                samples,
                now,
                rules.idle_cpu_percent / 100,
                inst.last_start,
                timedelta(minutes=rules.max_sample_age_minutes),
            )
            if found is not None:
                since, mean = found
                idle_for = (now - since).total_seconds()
                if idle_for >= rules.idle_minutes * 60:
                    warnings.append(
                        TurnOffWarning(
                            inst.id,
                            inst.name,
                            IDLE,
                            f"CPU {mean * 100:.1f} % for {pricing.format_duration(idle_for)}, "
                            f"costing {rate}",
                            hourly,
                            since,
                        )
                    )
        run_for = pricing.run_seconds(inst, now)
        if rules.enabled(LONG_RUNNING) and run_for >= rules.max_run_hours * 3600:
            cost = pricing.format_money(pricing.run_cost(inst, now, catalog))
            warnings.append(
                TurnOffWarning(
                    inst.id,
                    inst.name,
                    LONG_RUNNING,
                    f"running for {pricing.format_duration(run_for)} "
                    f"(more than {rules.max_run_hours:g} h), {cost} so far at {rate}",
                    hourly,
                    inst.last_start,
                )
            )
        gpus = catalog.gpu_count(inst)
        if gpus and rules.enabled(GPU_OFF_HOURS) and not is_working_time(now, rules):
            local = _local(now, rules)
            weekend = local.weekday() not in rules.working_days
            when = "on a non-working day" if weekend else "outside working hours"
            warnings.append(
                TurnOffWarning(
                    inst.id,
                    inst.name,
                    GPU_OFF_HOURS,
                    f"{gpus} GPU{'s' if gpus > 1 else ''} running {when} "
                    f"({local:%a %H:%M}), costing {rate}",
                    hourly,
                )
            )
        if gpus and rules.enabled(GPU_NO_AUTO_STOP) and inst.stops_at() is None:
            warnings.append(
                TurnOffWarning(
                    inst.id,
                    inst.name,
                    GPU_NO_AUTO_STOP,
                    f"{gpus} GPU{'s' if gpus > 1 else ''} and no auto-stop set "
                    f"(max run duration), costing {rate}",
                    hourly,
                )
            )
    if rules.enabled(OVER_BUDGET) and rules.monthly_budget is not None:
        burn = pricing.burn_rate(instances, catalog)
        projection = (
            month_projection
            if month_projection is not None
            else pricing.month_projection(burn.total, now)
        )
        if projection > rules.monthly_budget:
            warnings.append(
                TurnOffWarning(
                    PROJECT,
                    "project",
                    OVER_BUDGET,
                    f"this month projects to {pricing.format_money(projection)} at "
                    f"{pricing.format_estimate(burn, rate=True)}, above the budget of "
                    f"{pricing.format_money(rules.monthly_budget)}",
                    burn.total,
                )
            )
    return warnings


@dataclass
class WarningTracker:
    """Announces each warning once per episode and honours snoozes.

    An episode of (instance, rule) starts when `evaluate` first reports it and ends when it no
    longer does. Snoozing suppresses announcements until a time; if the condition still holds
    when the snooze ends, it is announced again (a snooze is "remind me later").
    """

    active: dict[tuple[str, str], bool] = field(default_factory=dict)  # key → announced?
    snoozed: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # Where snoozes and announcements persist (the state folder); None keeps them in memory.
    state: WarningState | None = None
    _restored: bool = False

    def _sync_from_state(self) -> None:
        """Take snoozes set elsewhere (the other consumer, an earlier run); on the first update,
        also what this consumer had announced before a restart."""
        if self.state is None:
            return
        snoozed, announced = self.state.load()
        for key, until in snoozed.items():
            if key not in self.snoozed or self.snoozed[key] < until:
                self.snoozed[key] = until
        if not self._restored:
            self._restored = True
            for key in announced:
                self.active.setdefault(key, True)

    def _save_state(self) -> None:
        if self.state is not None:
            self.state.save(self.snoozed, {k for k, announced in self.active.items() if announced})

    def update(self, warnings: Iterable[TurnOffWarning], now: datetime) -> list[TurnOffWarning]:
        """Feed the current warnings; returns those to announce now."""
        self._sync_from_state()
        before = (dict(self.snoozed), dict(self.active))
        current = {w.key: w for w in warnings}
        for key in list(self.active):
            if key not in current:
                del self.active[key]  # the episode ended
        for key, until in list(self.snoozed.items()):
            if until <= now:
                del self.snoozed[key]
        fresh: list[TurnOffWarning] = []
        for key, warning in current.items():
            announced = self.active.setdefault(key, False)
            if announced or self.is_snoozed(key, now):
                continue
            self.active[key] = True
            fresh.append(warning)
        if (self.snoozed, self.active) != before:
            self._save_state()
        return fresh

    def is_snoozed(self, key: tuple[str, str], now: datetime) -> bool:
        for candidate in (key, (key[0], "*")):
            until = self.snoozed.get(candidate)
            if until is not None and now < until:
                return True
        return False

    def snooze(self, instance_id: str, rule: str, until: datetime) -> None:
        """Quiet (instance, rule) — rule "*" for all its rules — until `until`."""
        if rule != "*" and rule not in ALL_RULES:
            raise ValueError(f"unknown rule {rule!r} (rules: {', '.join(ALL_RULES)})")
        self._sync_from_state()
        self.snoozed[(instance_id, rule)] = until
        for key in self.active:
            if key[0] == instance_id and rule in ("*", key[1]):
                self.active[key] = False  # remind again after the snooze if still true
        self._save_state()

    def current(self) -> list[tuple[str, str]]:
        """Keys of the episodes in progress."""
        return list(self.active)
