"""OSC 52 clipboard: the sequence itself, tmux wrapping, limits, and writing through a driver."""

from __future__ import annotations

import base64
import re

import pytest
from textual.app import App

from tui.widgets.clipboard import (
    MAX_OSC52_BYTES,
    ClipboardTooLarge,
    copy_to_clipboard,
    osc52_sequence,
)

URL = "https://storage.googleapis.com/b/a%20b/c.txt"


def decode(sequence: str) -> str:
    match = re.fullmatch(r"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", sequence)
    assert match, repr(sequence)
    return base64.b64decode(match.group(1)).decode("utf-8")


def test_sequence_round_trips_any_text() -> None:
    for text in (URL, "", "ünïcødé ✓", "line1\nline2\x07\x1b]evil"):
        assert decode(osc52_sequence(text)) == text


def test_control_characters_cannot_end_the_sequence_early() -> None:
    sequence = osc52_sequence("a\x07b\x1b\\c")
    assert sequence.count("\x07") == 1 and sequence.endswith("\x07")
    assert sequence.count("\x1b") == 1


def test_tmux_wrapping_doubles_escapes() -> None:
    wrapped = osc52_sequence(URL, in_tmux=True)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]52;c;") and wrapped.endswith("\x07\x1b\\")
    inner = wrapped.removeprefix("\x1bPtmux;").removesuffix("\x1b\\").replace("\x1b\x1b", "\x1b")
    assert decode(inner) == URL


def test_selection_and_size_limits() -> None:
    assert osc52_sequence("x", selection="p").startswith("\x1b]52;p;")
    with pytest.raises(ValueError, match="selection"):
        osc52_sequence("x", selection="q")
    with pytest.raises(ClipboardTooLarge, match="too long"):
        osc52_sequence("x" * MAX_OSC52_BYTES)


class FakeDriver:
    """A stand-in for the terminal: records what would be written to it."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)


class Terminal:
    is_headless = False

    def __init__(self) -> None:
        self._driver = FakeDriver()
        self._clipboard = ""


def test_copy_writes_through_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    app = Terminal()
    assert copy_to_clipboard(app, URL) is True
    assert [decode(s) for s in app._driver.written] == [URL]
    assert app._clipboard == URL


def test_copy_inside_tmux_is_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    app = Terminal()
    copy_to_clipboard(app, URL)
    assert app._driver.written[0].startswith("\x1bPtmux;")


async def test_headless_app_keeps_text_in_its_own_clipboard() -> None:
    app: App[None] = App()
    async with app.run_test():
        assert copy_to_clipboard(app, URL) is False  # no terminal to write to
        assert app.clipboard == URL
