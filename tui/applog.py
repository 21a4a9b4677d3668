"""cloudpane's own log file: warnings and unexpected errors, with tracebacks, for bug reports.

The TUI owns the terminal, so nothing may print there; this file (`cloudpane.log` in the state
folder, rotated at 1 MB, three kept) is where a traceback goes when something unexpected
happens. Every line passes through `redact`, so a token in an exception text never lands in it.
It is its owner's alone: the folder 0700, every file (the rotated ones too) 0600.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
from pathlib import Path

from tui.config import private_dir, state_dir
from tui.services.errors import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path() -> Path:
    return state_dir() / "cloudpane.log"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600 (and narrowed to 0600 if they were not)."""

    def _open(self) -> io.TextIOWrapper:
        mode = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in self.mode else os.O_TRUNC)
        fd = os.open(self.baseFilename, mode, 0o600)
        os.fchmod(fd, 0o600)
        stream = open(fd, self.mode, encoding=self.encoding, errors=self.errors)  # noqa: SIM115
        assert isinstance(stream, io.TextIOWrapper)
        return stream


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _file_handler(path: Path, level: int) -> logging.Handler | None:
    """The rotating, redacting handler; the file is the owner's only (0600): tracebacks
    quote names, paths and answers from the cloud."""
    try:
        private_dir(path.parent)  # narrowed too if an older version left it open
        handler = PrivateRotatingFileHandler(
            path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        return None
    handler.setFormatter(RedactingFormatter(FORMAT))
    handler.setLevel(level)
    return handler


def setup_file_log(level: int = logging.WARNING) -> Path | None:
    """Send cloudpane's warnings and errors to the log file. → its path, or None if the folder
    cannot be written (the app runs on; it just has nowhere to put a traceback)."""
    path = log_path()
    handler = _file_handler(path, level)
    if handler is None:
        return None
    root = logging.getLogger("tui")
    root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return path


def setup_cli_log(level: int = logging.WARNING) -> Path | None:
    """For the headless verbs (`status`, `watch`, `audit`, `jobs tune`, …): every log record
    and warning — cloudpane's, google-auth's, urllib3's — goes to the log file, redacted,
    never to the terminal.

    Without a handler, Python's last-resort handler prints WARNING and above on stderr: offline
    with credentials, `status` printed fifteen tracebacks there (the translation of google-
    auth's refresh errors, unredacted). stdout and stderr carry the verb's own words only; the
    details are in the file. → its path, or None if it cannot be written (then the records
    are dropped: still never on the terminal).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "cloudpane_cli", False)]:
        root.removeHandler(old)
        old.close()
    path = log_path()
    handler = _file_handler(path, level) or logging.NullHandler()
    handler.cloudpane_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    logging.captureWarnings(True)  # warnings.warn (google-auth's, …) go the same way
    return path if not isinstance(handler, logging.NullHandler) else None
