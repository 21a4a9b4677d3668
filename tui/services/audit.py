"""A local audit trail of exposing actions: who made what public, or signed a URL, and when.

One JSON object per line (append-only, readable with `jq`), in the state folder
(`~/.local/state/cloudpane/audit.log` on Linux; `CLOUDPANE_AUDIT_LOG` overrides). Each line
says when (UTC), who (the cloud identity when the credentials name one, and the local
user@host), where (backend, project), what (action and gs:// target) and how it ended.
The request is written before the action runs: when the trail cannot be written, the action
is refused (an exposure that leaves no trace is worse than none). Credentials themselves are
never written, only the account name they carry.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui.services.errors import CloudpaneError

_LOCK = threading.Lock()


def audit_path() -> Path:
    override = os.environ.get("CLOUDPANE_AUDIT_LOG")
    if override:
        return Path(override)
    from tui.config import state_dir

    return state_dir() / "audit.log"


def cloud_identity(credentials: Any, is_sandbox: bool) -> str:
    """The account the credentials act as, when they say so (never the token itself)."""
    if is_sandbox:
        return "sandbox (anonymous)"
    for attribute in ("service_account_email", "account", "signer_email"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and value and value != "default":
            return value
    return "unknown account (Application Default Credentials)"


def local_user() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


class AuditLogUnwritable(CloudpaneError):
    title = "Audit log not writable"


class AuditLog:
    """Appends exposure records to `path` (created with owner-only permissions)."""

    def __init__(self, identity: str, project: str, backend: str, path: Path | None = None):
        self.identity = identity
        self.project = project
        self.backend = backend
        self.path = path

    def record(self, action: str, target: str, outcome: str, **detail: Any) -> None:
        """Append one line; AuditLogUnwritable when the file cannot be written."""
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "who": self.identity,
            "local_user": local_user(),
            "backend": self.backend,
            "project": self.project,
            "action": action,
            "target": target,
            "outcome": outcome,
            **detail,
        }
        path = self.path or audit_path()
        try:
            from tui.config import private_dir, state_dir

            if path.parent == state_dir():
                private_dir(path.parent)  # cloudpane's own folder: narrowed if it was open
            else:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with _LOCK:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.fchmod(fd, 0o600)  # a trail written by an older version was 0644
                with os.fdopen(fd, "a", encoding="utf-8") as fh:
                    # ASCII: a name's U+2028 or C1 control stays an escape in the file, so
                    # every reader (and `grep`, `tail`) sees one record per line.
                    fh.write(json.dumps(entry, ensure_ascii=True) + "\n")
        except OSError as exc:
            raise AuditLogUnwritable(
                f"Could not write the audit log {path}: {exc.strerror or exc}.",
                "Exposing actions are refused without a record. Fix the folder's permissions "
                "or point CLOUDPANE_AUDIT_LOG at a writable file.",
            ) from exc


def read_entries(path: Path | None = None) -> list[dict[str, Any]]:
    """All records, oldest first (for tests and `cloudpane audit`)."""
    path = path or audit_path()
    try:
        # Records end with "\n" only: `splitlines` would also split at U+2028, U+0085 and
        # \x1c-\x1e inside a name (older files hold them raw) and break the JSON.
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
