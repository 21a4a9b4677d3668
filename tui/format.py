"""Pure formatting helpers shared by the panes and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def duration(seconds: float) -> str:
    """Compact and stable: '45s', '12m', '3h 04m', '2d 05h'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def uptime(since: datetime | None, now: datetime | None = None) -> str:
    if since is None:
        return ""
    return duration(((now or utcnow()) - since).total_seconds())


def until(when: datetime | None, now: datetime | None = None) -> str:
    """'in 3h 04m' or '' — for auto-stop deadlines."""
    if when is None:
        return ""
    delta = (when - (now or utcnow())).total_seconds()
    return "due" if delta <= 0 else f"in {duration(delta)}"


def bytes_human(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def short_timedelta(delta: timedelta) -> str:
    return duration(delta.total_seconds())
