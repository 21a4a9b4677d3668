"""Textual's text widgets, made to show every string literally: cloud text is data.

Names, labels, descriptions, log lines and error texts come from whoever can write to the
project. Textual parses a plain `str` as markup in `Static`, `Label` and DataTable cells: a job
named ``[@click=app.screenshot('x','/dir')]CLICK[/]`` would show as a clickable "CLICK" that
overwrites a file, ``[link=…]`` would be a live link, and a bare ``[/]`` raises MarkupError
and takes the app down. Escape sequences (OSC 52 writes the clipboard, CSI 2J clears the
screen) would reach the terminal through any of them, and through `Log`.

cloudpane never means markup in these widgets, so instead of escaping at hundreds of call
sites the panes import `Static`, `Label`, `DataTable`, `Log` and `Input` from here: the same widgets
(same CSS type names, same messages, same queries), except that a string is always literal
text and every control character, escape and bidi override is shown escaped
(`tui.inert.visible`). A Rich `Text` built by the panes keeps its styles; its characters are
escaped the same way. A test (tests/test_tui_hostile_text.py) fails if a module of `tui`
imports these widgets from Textual directly.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rich.text import Text
from textual.coordinate import Coordinate
from textual.visual import VisualType
from textual.widgets import DataTable as _DataTable
from textual.widgets import Input as _Input
from textual.widgets import Label as _Label
from textual.widgets import Log as _Log
from textual.widgets import Static as _Static
from textual.widgets._data_table import ColumnKey, RowKey

from tui.inert import masked, visible, visible_lines

__all__ = ["DataTable", "Input", "Label", "Log", "Static", "inert_cell", "inert_content"]

CellT = TypeVar("CellT")


def _inert_text(text: Text, *, multiline: bool) -> Text:
    """`text` with its characters escaped; styles kept when nothing had to change."""
    plain = text.plain
    safe = visible_lines(plain) if multiline else visible(plain)
    if safe == plain:
        return text
    # Rare (hostile or broken text): the spans no longer line up, keep the base style only.
    return Text(safe, style=text.style, justify=text.justify, no_wrap=text.no_wrap, end=text.end)


def inert_content(content: Any) -> Any:
    """What a Static or Label may show: a str escaped (line breaks kept), a Text likewise."""
    if isinstance(content, str):
        return visible_lines(content)
    if isinstance(content, Text):
        return _inert_text(content, multiline=True)
    return content


def inert_cell(value: Any) -> Any:
    """A DataTable cell: a str becomes a literal one-line Text (DataTable would parse a str
    as markup); a Text is escaped; anything else (numbers, renderables) is kept."""
    if isinstance(value, str):
        return Text(visible(value), end="")
    if isinstance(value, Text):
        return _inert_text(value, multiline=False)
    return value


class Static(_Static):
    """Textual's Static, but a string is literal text (never markup) with controls escaped."""

    def __init__(self, content: VisualType = "", **options: Any) -> None:
        options["markup"] = False
        super().__init__(inert_content(content), **options)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(inert_content(content), layout=layout)


class Label(_Label):
    """Textual's Label, but a string is literal text (never markup) with controls escaped."""

    def __init__(self, content: VisualType = "", **options: Any) -> None:
        options["markup"] = False
        super().__init__(inert_content(content), **options)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(inert_content(content), layout=layout)


class DataTable(_DataTable[CellT]):
    """Textual's DataTable, but str cells are literal (not markup) and controls are escaped.

    Cells are converted when they enter the table, because DataTable formats its stored
    values in several places (drawing, measuring column widths). Only what is shown changes:
    rows stay keyed by the resource id, never by the text of a cell.
    """

    def add_row(
        self,
        *cells: CellT,
        height: int | None = 1,
        key: str | None = None,
        label: Any = None,
    ) -> RowKey:
        return super().add_row(
            *(inert_cell(cell) for cell in cells),
            height=height,
            key=key,
            label=None if label is None else inert_cell(label),
        )

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: CellT,
        *,
        update_width: bool = False,
    ) -> None:
        super().update_cell(row_key, column_key, inert_cell(value), update_width=update_width)

    def update_cell_at(
        self, coordinate: Coordinate, value: CellT, *, update_width: bool = False
    ) -> None:
        super().update_cell_at(coordinate, inert_cell(value), update_width=update_width)


class Log(_Log):
    """Textual's Log, but every control, escape and bidi override is shown escaped.

    Textual's Log replaces only U+0000–U+0014, so ESC sequences in a log line would reach the
    terminal. The lines are kept as written (search and save see the exact text); only the
    drawing escapes them.
    """

    @classmethod
    def _process_line(cls, line: str) -> str:
        return visible(line.expandtabs())


class Input(_Input):
    """Textual's Input, but what it draws has no control, escape or bidi character.

    A field may be prefilled with cloud text (the re-run form's job name, an upload's folder).
    The value stays exact; only the drawing changes, one U+FFFD for each unsafe character so
    the cursor and the selection still line up. The placeholder is shown escaped.
    """

    @property
    def _value(self) -> Text:
        if self.password:
            return super()._value
        text = Text(masked(self.value), no_wrap=True, overflow="ignore", end="")
        if self.highlighter is not None:
            text = self.highlighter(text)
        return text

    def validate_placeholder(self, placeholder: str) -> str:
        return visible(placeholder)
