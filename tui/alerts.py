"""Making a turn-off warning reach a tired person: notification, bell, desktop, hook.

Desktop notifications use terminal escape sequences (OSC 9 and OSC 777) rather than a
notification daemon, because they travel through SSH and tmux to the terminal on the person's
own machine. The hook is an optional command (config `hook`) run once per new warning, with the
details in environment variables — never interpolated into a shell string.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class AnnouncedWarning(Protocol):
    @property
    def instance_name(self) -> str: ...

    @property
    def rule(self) -> str: ...

    @property
    def evidence(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def message(self) -> str: ...


def _clean(text: str) -> str:
    """No control characters inside an escape sequence (they could end it early)."""
    return _CONTROL.sub(" ", text)


def desktop_notification(title: str, body: str, *, in_tmux: bool) -> str:
    """OSC 777 (urxvt, foot, WezTerm, Ghostty…) and OSC 9 (iTerm2, Windows Terminal, kitty…)."""
    title, body = _clean(title).replace(";", ","), _clean(body)
    sequences = [f"\x1b]777;notify;{title};{body}\x07", f"\x1b]9;{title}: {body}\x07"]
    if in_tmux:  # tmux passes a sequence through only inside its DCS wrapper, ESCs doubled
        sequences = [f"\x1bPtmux;{s.replace(chr(27), chr(27) * 2)}\x1b\\" for s in sequences]
    return "".join(sequences)


def hook_environment(event: str, fields: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["CLOUDPANE_EVENT"] = event
    for key, value in fields.items():
        env[f"CLOUDPANE_{key.upper()}"] = value
    return env


def run_hook(command: str, event: str, fields: Mapping[str, str]) -> threading.Thread:
    """Run the hook in the background (it must never block the UI); returns the thread."""

    def target() -> None:
        # A broken hook must not take the app down.
        with contextlib.suppress(OSError, ValueError, subprocess.TimeoutExpired):
            subprocess.run(
                shlex.split(command),
                env=hook_environment(event, fields),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )

    thread = threading.Thread(target=target, daemon=True, name="cloudpane-hook")
    thread.start()
    return thread


def announce_warnings(app: Any, warnings: Iterable[AnnouncedWarning], hook: str | None) -> None:
    """Notification + bell + desktop notification + hook, once per new warning."""
    warnings = list(warnings)
    if not warnings:
        return
    # A few warnings each get a notification; a flood becomes one summary that fits a screen.
    if len(warnings) <= 2:
        for warning in warnings:
            app.notify(
                f"{warning.message}\nw: warnings — stop, snooze or set auto-stop",
                title=f"Turn it off? {warning.title}",
                severity="warning",
                timeout=30,
            )
    else:
        lines = "\n".join(f"• {w.instance_name}: {w.title}" for w in warnings[:4])
        more = f"\n… and {len(warnings) - 4} more" if len(warnings) > 4 else ""
        app.notify(
            f"{lines}{more}\nw: warnings — stop, snooze or set auto-stop",
            title=f"Turn it off? {len(warnings)} new warnings",
            severity="warning",
            timeout=30,
        )
    for warning in warnings:
        if hook:
            run_hook(
                hook,
                "warning",
                {
                    "instance": warning.instance_name,
                    "rule": warning.rule,
                    "message": warning.message,
                },
            )
    app.bell()
    driver = getattr(app, "_driver", None)
    if driver is not None and not getattr(app, "is_headless", True):
        first = warnings[0]
        more = f" (+{len(warnings) - 1} more)" if len(warnings) > 1 else ""
        driver.write(
            desktop_notification(
                f"cloudpane: {first.title}",
                first.message + more,
                in_tmux=bool(os.environ.get("TMUX")),
            )
        )
