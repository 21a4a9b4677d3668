"""The trainer's stdout protocol: one ``event key=value ...`` line per event, flushed at once.

Kept free of TensorFlow and Keras so that flag errors are reported instantly.
"""

from __future__ import annotations

import shlex
import sys


def _format(value: object) -> str:
    if isinstance(value, float):
        return format(value, ".6g")
    text = str(value)
    return shlex.quote(text) if (" " in text or not text) else text


def emit(event: str, **fields: object) -> None:
    """Print one parseable line (``event key=value ...``) and flush it."""
    parts = [event, *(f"{k}={_format(v)}" for k, v in fields.items())]
    print(" ".join(parts), flush=True)


def emit_error(message: str) -> None:
    """The failure line on stdout (for parsers) and the message on stderr (for people)."""
    print(f"trainer error: {message}", file=sys.stderr, flush=True)
    emit("trainer end", status="failed", error=message.replace("\n", " "))
