"""What every sandbox API module is handed: where state lives and the shared settings."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tui.sandbox.faults import FaultSettings
from tui.sandbox.store import Store

SANDBOX_PROJECT = "cloudpane-sandbox"


@dataclass
class Timing:
    """How long lifecycle transitions take (seconds). Short by default; tests shorten them more."""

    provisioning: float = 1.0
    staging: float = 1.0
    stopping: float = 1.0
    operation: float = 0.3

    @classmethod
    def from_env(cls) -> Timing:
        """`CLOUDPANE_SANDBOX_TIMING='{"provisioning": 0.2, ...}'` overrides the defaults."""
        raw = os.environ.get("CLOUDPANE_SANDBOX_TIMING", "")
        return cls(**{k: float(v) for k, v in json.loads(raw).items()}) if raw else cls()


def instance_workdir(data_dir: Path, project: str, zone: str, name: str) -> Path:
    """Where a sandbox instance's processes run (and where `ssh` in the sandbox lands)."""
    return data_dir / "work" / "instances" / project / zone / name


@dataclass
class SandboxContext:
    data_dir: Path
    store: Store
    project: str = SANDBOX_PROJECT
    base_url: str = ""  # http://127.0.0.1:PORT, known once the server is bound
    bound_host: str = "127.0.0.1"  # the address it listens on (requests must name loopback)
    owner_token: str = field(default="", repr=False)  # the owner's secret (owner.py)
    faults: FaultSettings = field(default_factory=FaultSettings)
    timing: Timing = field(default_factory=Timing)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # API requests per path, counted by the fault middleware (`/_sandbox/requests`).
    request_counts: Counter[str] = field(default_factory=Counter)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1]) if self.base_url else 0

    @property
    def adc_file(self) -> Path:
        """The ADC file that gives what the sandbox runs its owner's access (owner.write_adc)."""
        return self.data_dir / "adc.json"

    def owner_headers(self) -> dict[str, str]:
        """What the daemon sends when it calls its own API (a job's package download)."""
        return {"Authorization": f"Bearer {self.owner_token}"}

    @property
    def blob_dir(self) -> Path:
        path = self.data_dir / "blobs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def work_dir(self) -> Path:  # keep in step with instance_workdir()
        """Where instance and job processes run (one subfolder each)."""
        path = self.data_dir / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path
