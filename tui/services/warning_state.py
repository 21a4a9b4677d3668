"""Snoozes and announced warnings, kept in the state folder so a restart remembers them.

A snooze is the person's decision ("remind me tomorrow"): it holds for the TUI and for
`cloudpane watch` alike, across restarts, until its time. What was already announced is kept per
consumer ("tui", "watch"), so a restart does not raise the same toast (or log line) again while
the episode lasts, and the TUI's toasts never silence `watch`'s hook.

One small JSON file (`warnings.json`, owner-only), keyed by project; written atomically, read
before each merge so two processes do not undo each other's snoozes.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tui.services.state_files import read_json_object, write_private

FILE_NAME = "warnings.json"
Key = tuple[str, str]  # (instance id, rule)


def _encode(key: Key) -> str:
    return f"{key[0]}|{key[1]}"


def _decode(text: str) -> Key | None:
    instance, sep, rule = text.rpartition("|")
    return (instance, rule) if sep and instance and rule else None


class WarningState:
    """The persisted part of a WarningTracker for one project and one consumer."""

    def __init__(self, path: Path, project: str, consumer: str) -> None:
        self.path = path
        self.project = project
        self.consumer = consumer

    @classmethod
    def in_state_dir(cls, project: str, consumer: str) -> WarningState:
        from tui.config import state_dir

        return cls(state_dir() / FILE_NAME, project, consumer)

    def _read_all(self) -> dict[str, Any]:
        return read_json_object(self.path)

    def _section(self, data: dict[str, Any]) -> dict[str, Any]:
        section = data.get(self.project)
        return section if isinstance(section, dict) else {}

    def load(self) -> tuple[dict[Key, datetime], set[Key]]:
        """(snoozes of the project, warnings this consumer already announced)."""
        section = self._section(self._read_all())
        snoozed: dict[Key, datetime] = {}
        for text, until in (section.get("snoozed") or {}).items():
            key = _decode(str(text))
            with contextlib.suppress(TypeError, ValueError):
                if key:
                    snoozed[key] = datetime.fromisoformat(str(until))
        announced_all = section.get("announced") or {}
        mine = announced_all.get(self.consumer) if isinstance(announced_all, dict) else None
        announced = {k for k in (_decode(str(t)) for t in (mine or [])) if k}
        return snoozed, announced

    def save(self, snoozed: dict[Key, datetime], announced: set[Key]) -> None:
        data = self._read_all()
        section = self._section(data)
        section["snoozed"] = {_encode(k): v.isoformat() for k, v in sorted(snoozed.items())}
        announced_all = section.get("announced")
        if not isinstance(announced_all, dict):
            announced_all = {}
        announced_all[self.consumer] = sorted(_encode(k) for k in announced)
        section["announced"] = announced_all
        data[self.project] = section
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True))
