"""cloudpane's own log file: warnings and unexpected errors, with tracebacks, for bug reports.

The TUI owns the terminal, so nothing may print there; this file (`cloudpane.log` in the state
folder, rotated at 1 MB, three kept) is where a traceback goes when something unexpected
happens. Every line passes through `redact`, so a token in an exception text never lands in it.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from tui.config import state_dir
from tui.services.errors import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path() -> Path:
    return state_dir() / "cloudpane.log"


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_file_log(level: int = logging.WARNING) -> Path | None:
    """Send cloudpane's warnings and errors to the log file. → its path, or None if the folder
    cannot be written (the app runs on; it just has nowhere to put a traceback)."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.setLevel(level)
    root = logging.getLogger("tui")
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return path
