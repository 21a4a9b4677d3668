"""Cloud text is data: one place that makes text from other people safe to show.

Names, labels, metadata, log lines and error texts come from whoever can write to the project
(or from a public bucket). Shown raw they can act: a C0/C1 control or an escape sequence
(CSI clears the screen, OSC 0 sets the window title, OSC 8 makes a link, OSC 52 writes the
clipboard), a bidi override that reorders what the reader sees, or — in a Textual widget —
Rich markup such as ``[@click=…]`` that becomes an action. Two tools, for two sinks:

- ``visible(text)``: for a terminal (the CLI, and any cell of the TUI). Every control
  character, escape and bidi/invisible format character is replaced by a visible escape
  (``\\x1b``, ``\\u202e``), so the reader sees exactly which bytes the cloud holds and nothing
  reaches the terminal as a command. Ordinary text — accents, CJK, emoji — passes unchanged.
- ``cloud_text(text, style)``: a Rich ``Text`` of ``visible(text)`` — for widgets. A ``Text``
  is never parsed as markup, so brackets stay brackets.

``--json`` output must not use either: JSON escapes control characters itself and must stay
exact.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls (tab excepted: harmless and common in log lines), DEL, C1 controls, and the
# Unicode format characters that reorder or hide text: bidi embeddings/overrides/isolates,
# marks, zero-width characters, the line and paragraph separators (a line break to some
# viewers: a forged line), the BOM, interlinear annotations, and the invisible tag characters.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f"
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: object) -> str:
    """The text with every control, escape and invisible format character shown escaped."""
    value = text if isinstance(text, str) else str(text)
    # Lone surrogates (from JSON "\ud800") cannot be encoded for a terminal: show them too.
    # (A regex search, not a loop over the characters: tables call this for every cell.)
    if _SURROGATE.search(value):
        value = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    return _UNSAFE.sub(_escape, value)


_SURROGATE = re.compile("[\ud800-\udfff]")  # lone surrogates: see `visible`


def visible_lines(text: object) -> str:
    """Like `visible`, but keeps line breaks (for multi-line blocks: a traceback, serial
    output, a YAML view), escaping everything else."""
    return "\n".join(visible(line) for line in str(text).split("\n"))


def masked(text: object) -> str:
    """The text with each unsafe character replaced by one U+FFFD, so the length is kept.

    For an editable field prefilled with cloud text (a job name in the re-run form): its
    cursor and selection count characters of the value, which must stay exact, so the shown
    text needs one character per character. Prefer `visible` wherever nothing is edited.
    """
    return _SURROGATE.sub("\ufffd", _UNSAFE.sub("\ufffd", str(text)))


def cloud_text(text: object, style: str = "", *, multiline: bool = False) -> Any:
    """A Rich Text of the cloud's text: literal (never markup), nothing that can act."""
    from rich.text import Text

    value = visible_lines(text) if multiline else visible(text)
    return Text(value, style=style, no_wrap=False)
