"""A corpus of hostile cloud text, shared by the CLI and the TUI tests.

Anyone who can write to a project (or publish a bucket) chooses names, labels, metadata, log
lines and error texts. Each entry below is something that acts when shown raw: Rich markup
that styles, links or runs an action in Textual, a bare ``[/]`` that makes Rich raise, terminal
escape sequences (OSC 52 writes the clipboard, OSC 8 makes a link, OSC 0 sets the window title,
CSI 2J clears the screen), a bidi override and a zero-width space that change what the reader
sees, and sizes and scripts that break layouts (10,000 characters, emoji, CJK).

Tests push these with Google's own clients into the sandbox, then look at every pane and every
CLI verb. `terminal_unsafe` says what must never reach a terminal; `shown` is the escaped form
a reader must see instead (what `tui.inert.visible` writes).
"""

from __future__ import annotations

import re

# name → value. Names are short ids for test parametrisation and messages.
MARKUP_BOLD = "[bold]x[/]"
MARKUP_CLICK = "[@click=app.screenshot('victim.txt','/tmp')]CLICK[/]"
MARKUP_CLOSE = "[/]"
MARKUP_LINK = "[link=http://e.vil]x[/link]"
OSC52_CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07"
OSC8_LINK = "\x1b]8;;http://e.vil\x1b\\click\x1b]8;;\x1b\\"
OSC0_TITLE = "\x1b]0;pwned\x07"
CSI_CLEAR = "\x1b[2J"
BIDI_OVERRIDE = "abc\u202etxt.exe"
ZERO_WIDTH = "a\u200bb"
LONG = "L" * 10_000
EMOJI = "🚀🔥🎉"  # (ZWJ sequences such as 👩‍💻 are shown with the joiner escaped)
CJK = "数据集模型训练"
C1_CSI = "\x9b2J"  # the one-byte C1 form of ESC [
# Move the cursor back over what was printed before (a table's "action" column) and write
# something else there: a record that reads differently on screen than it holds.
CSI_OVERWRITE = "x\x1b[60Dmake-private\x1b[K"
CR_OVERWRITE = "x\rFORGED"  # a carriage return does the same (not allowed in object names)
LINE_SEPARATOR = "a\u2028b"  # U+2028: a line break to some viewers and log shippers
TAG_CHARS = "a\U000e0041\U000e0042b"  # Unicode tag characters: invisible "ASCII smuggling"

HOSTILE: dict[str, str] = {
    "markup-bold": MARKUP_BOLD,
    "markup-click": MARKUP_CLICK,
    "markup-close": MARKUP_CLOSE,
    "markup-link": MARKUP_LINK,
    "osc52-clipboard": OSC52_CLIPBOARD,
    "osc8-link": OSC8_LINK,
    "osc0-title": OSC0_TITLE,
    "csi-clear": CSI_CLEAR,
    "c1-csi": C1_CSI,
    "csi-overwrite": CSI_OVERWRITE,
    "cr-overwrite": CR_OVERWRITE,
    "line-separator": LINE_SEPARATOR,
    "tag-chars": TAG_CHARS,
    "bidi-override": BIDI_OVERRIDE,
    "zero-width": ZERO_WIDTH,
    "long-10000": LONG,
    "emoji": EMOJI,
    "cjk": CJK,
}

# The ones that carry something a terminal would act on (controls, escapes, bidi/invisible).
ACTING: dict[str, str] = {
    k: v for k, v in HOSTILE.items() if k in {"osc52-clipboard", "osc8-link", "osc0-title",
                                               "csi-clear", "c1-csi", "bidi-override",
                                               "zero-width", "csi-overwrite", "cr-overwrite",
                                               "line-separator", "tag-chars"}
}  # fmt: skip

# Rich markup: must be shown with its brackets, literally.
MARKUP: dict[str, str] = {k: v for k, v in HOSTILE.items() if k.startswith("markup-")}

# What must never reach a terminal: C0 controls other than tab and newline, DEL, C1 controls,
# and the Unicode format characters that reorder or hide text.
_TERMINAL_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f]"
)


def terminal_unsafe(text: str) -> list[str]:
    """The characters of `text` that must not reach a terminal (empty when it is safe)."""
    return _TERMINAL_UNSAFE.findall(text)


def shown(value: str) -> str:
    """The visibly escaped form of `value` a reader must see (ESC → ``\\x1b``, U+202E →
    ``\\u202e``). Written out here rather than imported, so a test of `tui.inert` is not
    checked against itself."""
    out = []
    for char in value:
        code = ord(char)
        if char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif _TERMINAL_UNSAFE.match(char):
            if code <= 0xFF:
                out.append(f"\\x{code:02x}")
            elif code <= 0xFFFF:
                out.append(f"\\u{code:04x}")
            else:
                out.append(f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def fit(value: str, max_bytes: int) -> str:
    """`value` cut to at most `max_bytes` of UTF-8 (for fields with a size limit: an object
    name holds 1,024 bytes, a Vertex display name 128 characters), never mid-character."""
    data = value.encode()[:max_bytes]
    return data.decode(errors="ignore")


def tagged(name: str, value: str, max_chars: int | None = None) -> str:
    """A unique, recognisable value: `value` followed by a marker naming the corpus entry,
    so a test can find each one in output ("…#hostile-osc52-clipboard")."""
    marker = f"#hostile-{name}"
    if max_chars is not None and len(value) + len(marker) > max_chars:
        value = value[: max(0, max_chars - len(marker))]
    return value + marker


def object_name_safe(value: str) -> bool:
    """Cloud Storage refuses object names with a carriage return or a line feed."""
    return "\r" not in value and "\n" not in value
