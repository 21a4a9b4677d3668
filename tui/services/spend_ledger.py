"""The spend ledger on disk: every run cloudpane has seen, kept across restarts.

`pricing.RunLedger` remembers runs and deleted instances while a process lives; this keeps it
in the state folder (`spend.json`, owner-only), one section per project, so "today" and "this
month" never go down when a VM is deleted or cloudpane restarts, and runs that happened while
cloudpane was closed are still counted (Compute Engine's last start/stop times close them).

Shared by the TUI, `status` and `watch`. Written atomically, at most every `SAVE_EVERY` unless
a run started, ended or an instance disappeared. Runs that ended before last month are dropped.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tui.services.pricing import Run, RunLedger, TrainingRun, start_of_month
from tui.services.state_files import read_json_object, write_private

FILE_NAME = "spend.json"
PARTS = ("instances", "training")
SAVE_EVERY = timedelta(seconds=60)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_json(ledger: RunLedger, *, with_last_seen: bool = True) -> dict[str, Any]:
    instances: dict[str, Any] = {}
    for instance_id, name in ledger.names.items():
        entry: dict[str, Any] = {
            "name": name,
            "runs": [
                [_iso(r.start), _iso(r.stop), r.hourly] for r in ledger.runs.get(instance_id, ())
            ],
            "disk_hourly": ledger.disk_hourly.get(instance_id),
            "born": _iso(ledger.born.get(instance_id)),
            "gone": _iso(ledger.gone.get(instance_id)),
        }
        if with_last_seen:
            entry["last_seen"] = _iso(ledger.last_seen.get(instance_id))
        instances[instance_id] = entry
    training = {
        run_id: {
            "name": run.name,
            "start": _iso(run.start),
            "stop": _iso(run.stop),
            "hourly": run.hourly,
            **({"last_seen": _iso(ledger.training_seen.get(run_id))} if with_last_seen else {}),
        }
        for run_id, run in ledger.training.items()
    }
    return {"instances": instances, "training": training}


def _training_from_json(ledger: RunLedger, data: Any) -> None:
    if not isinstance(data, dict):
        return
    for run_id, entry in data.items():
        if not isinstance(entry, dict):
            continue
        start, hourly = _time(entry.get("start")), entry.get("hourly")
        if start is None or not (hourly is None or isinstance(hourly, int | float)):
            continue
        ledger.training[str(run_id)] = TrainingRun(
            str(run_id),
            str(entry.get("name") or run_id),
            start,
            _time(entry.get("stop")),
            None if hourly is None else float(hourly),
        )
        seen = _time(entry.get("last_seen"))
        if seen is not None:
            ledger.training_seen[str(run_id)] = seen


def from_json(data: Any) -> RunLedger:
    ledger = RunLedger()
    if isinstance(data, dict):
        _training_from_json(ledger, data.get("training"))
    instances = data.get("instances") if isinstance(data, dict) else None
    if not isinstance(instances, dict):
        return ledger
    for instance_id, entry in instances.items():
        if not isinstance(entry, dict):
            continue
        ledger.names[str(instance_id)] = str(entry.get("name") or instance_id)
        runs = []
        for item in entry.get("runs") or []:
            if not (isinstance(item, list) and len(item) == 3):
                continue
            start, stop, hourly = _time(item[0]), _time(item[1]), item[2]
            if start is not None and (hourly is None or isinstance(hourly, int | float)):
                runs.append(Run(start, stop, None if hourly is None else float(hourly)))
        if runs:
            ledger.runs[str(instance_id)] = runs
        disk = entry.get("disk_hourly")
        ledger.disk_hourly[str(instance_id)] = (
            float(disk) if isinstance(disk, int | float) else None
        )
        for table, key in (
            (ledger.born, "born"),
            (ledger.gone, "gone"),
            (ledger.last_seen, "last_seen"),
        ):
            when = _time(entry.get(key))
            if when is not None:
                table[str(instance_id)] = when
    return ledger


class SpendStore:
    """Loads and saves one project's ledger."""

    def __init__(self, path: Path, project: str) -> None:
        self.path = path
        self.project = project
        self._lock = threading.Lock()
        self._saved_shape = ""
        self._saved_at: datetime | None = None

    @classmethod
    def in_state_dir(cls, project: str) -> SpendStore:
        from tui.config import state_dir

        return cls(state_dir() / FILE_NAME, project)

    def _read_all(self) -> dict[str, Any]:
        return read_json_object(self.path)

    def load(self) -> RunLedger:
        return from_json(self._read_all().get(self.project))

    def save(
        self,
        ledger: RunLedger,
        now: datetime,
        *,
        force: bool = False,
        parts: tuple[str, ...] = PARTS,
    ) -> bool:
        """Write when the runs changed, or every SAVE_EVERY (for the last-seen times).

        `parts`: what this writer keeps ("instances" for the VMs pane, "training" for the Jobs
        pane; `status` and `watch` keep both); the other part in the file is left as it is.
        """
        with self._lock:
            whole = to_json(ledger, with_last_seen=False)
            shape = json.dumps({p: whole[p] for p in parts}, sort_keys=True)
            due = self._saved_at is None or now - self._saved_at >= SAVE_EVERY
            if not force and shape == self._saved_shape and not due:
                return False
            # Keep this month and the last: "this month" and a month-end look back.
            ledger.forget_before(start_of_month(start_of_month(now) - timedelta(days=1)))
            data = self._read_all()
            section = data.get(self.project)
            section = dict(section) if isinstance(section, dict) else {}
            fresh = to_json(ledger)
            for part in parts:
                section[part] = fresh[part]
            data[self.project] = section
            write_private(self.path, json.dumps(data, sort_keys=True))
            self._saved_shape, self._saved_at = shape, now
            return True
