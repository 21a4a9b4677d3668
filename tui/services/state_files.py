"""Small JSON files in the state folder: read forgivingly, written atomically and owner-only.

Snoozes (`warning_state.py`) and the spend ledger (`spend_ledger.py`) live in such files. A
missing or damaged file reads as empty — losing a snooze must never stop a warning — and a
write goes to a private temporary file first, then replaces the old one, so a crash or a second
process never leaves half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_private(path: Path, text: str) -> bool:
    """Replace `path` with `text` (folder 0700, file 0600); False when the folder is not
    writable (the caller goes on without persistence)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        tmp.replace(path)
    except OSError:
        return False
    return True
