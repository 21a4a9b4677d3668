"""Copying text to the person's clipboard with OSC 52, so it works over SSH and in tmux.

The terminal, not this machine, owns the clipboard: the escape sequence travels through SSH to
the terminal on the person's own computer, which puts the text on its clipboard. No clipboard
daemon, no X server needed. Most terminals support it (iTerm2, kitty, WezTerm, Windows
Terminal, foot, Alacritty, xterm with allowWindowOps); tmux forwards it inside its DCS wrapper.
"""

from __future__ import annotations

import base64
import os
from typing import Any

# Terminals cap OSC 52 payloads (xterm ~100 kB, tmux a little less): refuse rather than cut.
MAX_OSC52_BYTES = 74_994


class ClipboardTooLarge(ValueError):
    """The text is too long for terminals to accept in one OSC 52 sequence."""


def osc52_sequence(text: str, *, in_tmux: bool = False, selection: str = "c") -> str:
    """The escape sequence that puts `text` on the terminal's clipboard (`c`) or selection.

    The text is base64-encoded, so no character in it can end the sequence early.
    """
    if selection not in ("c", "p", "s", "0"):
        raise ValueError(f"Unknown OSC 52 selection {selection!r}.")
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    if len(payload) > MAX_OSC52_BYTES:
        raise ClipboardTooLarge(
            f"{len(text)} characters is too long for the terminal's clipboard "
            f"(at most about {MAX_OSC52_BYTES * 3 // 4} bytes)."
        )
    sequence = f"\x1b]52;{selection};{payload}\x07"
    if in_tmux:  # tmux passes a sequence through only inside its DCS wrapper, ESCs doubled
        sequence = f"\x1bPtmux;{sequence.replace(chr(27), chr(27) * 2)}\x1b\\"
    return sequence


def copy_to_clipboard(app: Any, text: str) -> bool:
    """Put `text` on the clipboard of the terminal running `app`; True if a sequence was sent.

    The text is also kept as the app's own clipboard (Textual's paste inside the app, and
    tests, read it from `app.clipboard`). Raises ClipboardTooLarge for oversized text.
    """
    sequence = osc52_sequence(text, in_tmux=bool(os.environ.get("TMUX")))
    app._clipboard = text
    driver = getattr(app, "_driver", None)
    if driver is None or getattr(app, "is_headless", True):
        return False
    driver.write(sequence)
    return True
