"""The credentials cloudpane presents to its sandbox: the owner's token, sent only to the owner's
own daemon.

They are ordinary google-auth credentials (a bearer token), so every google-cloud client sends
them as it sends Google's. Before any request they make sure the daemon on the port is still the
one that proved it holds the token (tui/sandbox/owner.py): the daemon's process, named in the
owner-only `sandbox.json`, must still be alive — while it lives it holds the port and no one
else can listen there. Once it is gone (`cloudpane sandbox stop`, a crash) the next request
asks whatever now answers on the port to prove itself first: a restarted sandbox does, and the
app carries on; a stranger that took the port cannot, and is never sent the token.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials

from tui.services.errors import Unavailable

STATE_FILE = "sandbox.json"  # written by tui.sandbox.daemon


class NotYourSandbox(Unavailable):
    """Something else listens on the sandbox's address."""


class SandboxGone(Unavailable):
    """The sandbox is not running (any more)."""


def _process_start(pid: int) -> float | None:
    """When process `pid` started, if it is one of this user's; None if it is not running."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if hasattr(os, "getuid") and proc.uids().real != os.getuid():
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except psutil.Error:
        return None


class SandboxCredentials(Credentials):  # type: ignore[misc]
    """A bearer token for the sandbox at `url`, checked against the daemon before each use."""

    def __init__(self, token: str, url: str, data_dir: Path, daemon_url: str | None = None) -> None:
        super().__init__(token=token)
        self.sandbox_url = url.rstrip("/")
        self.daemon_url = daemon_url  # when `url` is a relay the caller set up (tests)
        self.data_dir = data_dir
        self._verified: tuple[int, float] | None = None  # (pid, start time) of the proven daemon
        self._guard_lock = threading.Lock()

    def before_request(self, request: Any, method: str, url: str, headers: Any) -> None:
        self.guard()
        super().before_request(request, method, url, headers)

    def guard(self) -> None:
        """Raise unless the daemon that proved itself is still the one on the port."""
        with self._guard_lock:
            if self._verified is not None:
                pid, started = self._verified
                if _process_start(pid) == started:
                    return
                self._verified = None
            self._verified = self._verify()

    def _verify(self) -> tuple[int, float]:
        from tui.sandbox import owner

        try:
            pid = int(json.loads((self.data_dir / STATE_FILE).read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            pid = 0
        started = _process_start(pid) if pid else None
        if started is None:
            raise SandboxGone(
                f"The sandbox at {self.sandbox_url} has stopped.",
                "Check that the sandbox is running: `cloudpane sandbox status` "
                "(start it with `cloudpane sandbox start`).",
            )
        try:
            health = owner.verify_daemon(
                self.sandbox_url, self.token or "", timeout=5.0, daemon_url=self.daemon_url
            )
        except owner.NotYourSandbox as exc:
            raise NotYourSandbox(
                str(exc), "Nothing was sent to it. Stop that program, or restart cloudpane."
            ) from None
        if health is None:
            raise SandboxGone(
                f"The sandbox at {self.sandbox_url} does not answer.",
                "Check that the sandbox is running: `cloudpane sandbox status`.",
            )
        return pid, started

    def auth_header(self) -> str:
        """`Bearer …` for callers outside google-auth (gRPC metadata, urllib); guarded."""
        self.guard()
        return f"Bearer {self.token}"
