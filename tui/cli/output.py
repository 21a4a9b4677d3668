"""Text streams for the CLI's human output that show cloud text inert.

Verbs that print plain lines (`jobs tune`, error messages) mix their own words with names,
errors and log lines from the cloud. Escaping each value at each `print` is easy to forget
once; writing through `InertWriter` escapes everything that passes (controls, escape
sequences, bidi and invisible characters, via `tui.inert.visible_lines`) and keeps the line
breaks. Escaping twice changes nothing (an escaped text holds no controls), so wrapping an
already-wrapped stream, or printing an already-escaped value, is harmless.

Not for `--json` (JSON escapes for itself and must stay exact) nor for Rich consoles (their
own styling is escape sequences: give them `visible` values instead, see cli/status.py).
"""

from __future__ import annotations

import io
from typing import TextIO

from tui.inert import visible_lines


class InertWriter(io.TextIOBase):
    """A write-only text stream that passes text to `stream` visibly escaped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(visible_lines(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.stream, "encoding", "utf-8") or "utf-8")


def inert(stream: TextIO) -> TextIO:
    """`stream` wrapped in an `InertWriter` (once)."""
    if isinstance(stream, InertWriter):
        return stream
    return InertWriter(stream)  # type: ignore[return-value]
