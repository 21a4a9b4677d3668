"""Warnings reach the person: escape sequences that survive tmux, a hook with safe input."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tui.alerts import desktop_notification, run_hook
from tui.panes.vm_warnings import AutoStop, parse_auto_stop, snooze_options
from tui.services import policy

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=timezone.utc)  # a Friday, 3 a.m.


def test_desktop_notification_sends_osc_777_and_9() -> None:
    seq = desktop_notification("cloudpane: Idle", "gpu-1: CPU 0.4 % for 47 min", in_tmux=False)
    assert "\x1b]777;notify;cloudpane: Idle;gpu-1: CPU 0.4 % for 47 min\x07" in seq
    assert "\x1b]9;cloudpane: Idle: gpu-1: CPU 0.4 % for 47 min\x07" in seq


def test_desktop_notification_is_wrapped_for_tmux() -> None:
    seq = desktop_notification("t", "b", in_tmux=True)
    assert seq.startswith("\x1bPtmux;\x1b\x1b]777;notify;t;b\x07\x1b\\")
    assert seq.count("\x1bPtmux;") == 2


def test_control_characters_cannot_end_the_sequence_early() -> None:
    seq = desktop_notification("a;b", "evil\x07\x1b]52;c;AAAA\x07", in_tmux=False)
    body = seq.split("\x1b]9;", 1)[1]
    assert body.count("\x07") == 1 and "\x1b" not in body
    assert "notify;a,b;" in seq


def test_hook_gets_details_in_environment_not_in_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    script = tmp_path / "hook.py"
    script.write_text(
        "import os, sys\n"
        "open(sys.argv[1], 'w').write(os.environ['CLOUDPANE_EVENT'] + '|' + "
        "os.environ['CLOUDPANE_INSTANCE'] + '|' + os.environ['CLOUDPANE_MESSAGE'])\n"
    )
    message = "gpu-1: $(touch pwned) ; rm -rf /"
    thread = run_hook(
        f"{sys.executable} {script} {out}", "warning", {"instance": "gpu-1", "message": message}
    )
    thread.join(10)
    assert out.read_text() == f"warning|gpu-1|{message}"
    assert not Path("pwned").exists()


def test_broken_hook_is_ignored() -> None:
    run_hook("/nonexistent/command --flag", "warning", {}).join(10)
    run_hook("unbalanced 'quote", "warning", {}).join(10)


def test_parse_auto_stop_is_a_limit_per_run() -> None:
    assert parse_auto_stop("4") == AutoStop(max_run_seconds=4 * 3600)
    assert parse_auto_stop("2.5h") == AutoStop(max_run_seconds=9000)
    assert parse_auto_stop("90m") == AutoStop(max_run_seconds=5400)
    assert parse_auto_stop("off") == AutoStop()


def test_parse_auto_stop_refuses_nonsense() -> None:
    assert "number of hours or minutes" in str(parse_auto_stop("soon"))
    assert "between 30 seconds and 120 days" in str(parse_auto_stop("0.1m"))
    assert "between 30 seconds and 120 days" in str(parse_auto_stop("5000h"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("4", 4 * 3600),
        (" 4 ", 4 * 3600),
        ("1.5", 5400),
        ("4h", 4 * 3600),
        ("4 H", 4 * 3600),
        ("90m", 5400),
        ("90 min", 5400),
        ("2d", 2 * 86400),
        ("0.5m", 30),
        ("120d", 120 * 86400),
        ("off", None),
        ("OFF", None),
        ("", None),
        ("none", None),
        ("0", None),
    ],
)
def test_one_auto_stop_syntax(text: str, seconds: int | None) -> None:
    """The create form, the auto-stop dialog and the CLI read auto-stop with one parser."""
    assert policy.parse_auto_stop(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("soon", "not 'soon'"),
        ("4x", "not '4x'"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("-2h", "between 30 seconds and 120 days"),
        ("29s", "not '29s'"),
        ("0.4m", "between 30 seconds and 120 days"),
        ("121d", "between 30 seconds and 120 days"),
    ],
)
def test_auto_stop_refusals_say_why(text: str, says: str) -> None:
    with pytest.raises(policy.AutoStopSyntaxError, match=re.escape(says)):
        policy.parse_auto_stop(text)


def test_snooze_options_are_in_the_future_and_ordered() -> None:
    options = snooze_options(NOW)
    ends = [end for _, end in options]
    assert all(end > NOW for end in ends)
    assert ends[:3] == [
        NOW + timedelta(minutes=30),
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=4),
    ]
    monday = ends[4].astimezone()
    assert monday.weekday() == 0 and monday.hour == 9
