"""A DataTable for tens of thousands of one-line rows.

Textual's DataTable maps screen lines to rows through a list with one entry per line, rebuilt
from scratch after every change (`_y_offsets`): 47 ms for 50,000 rows on this project's
machine, on the UI thread, after each page of a big bucket. When every row is one line high,
line y *is* row y, so this table answers the same questions without the list.
It relies on DataTable's private `_y_offsets` (Textual 8); the tests compare its rendering
and cursor with a plain DataTable's, so a Textual change that breaks it is caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, overload

from rich.text import TextType
from textual.widgets._data_table import RowKey

from tui.widgets.literal import DataTable

CellT = TypeVar("CellT")


class _LineIndex(Sequence[tuple[RowKey, int]]):
    """Screen line y → (key of row y, line 0 within it), without a list of every line."""

    def __init__(self, table: DataTable[Any]) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.row_count

    @overload
    def __getitem__(self, y: int) -> tuple[RowKey, int]: ...

    @overload
    def __getitem__(self, y: slice) -> list[tuple[RowKey, int]]: ...

    def __getitem__(self, y: int | slice) -> tuple[RowKey, int] | list[tuple[RowKey, int]]:
        rows = self._table.ordered_rows
        if isinstance(y, slice):
            return [(row.key, 0) for row in rows[y]]
        return (rows[y].key, 0)

    def clear(self) -> None:
        """DataTable.clear() empties its list; there is none here."""


class BigTable(DataTable[CellT]):
    """DataTable whose rows are all one line high (add_row refuses any other height)."""

    @property
    def _y_offsets(self) -> Any:  # type: ignore[override]
        return _LineIndex(self)

    def add_row(
        self,
        *cells: CellT,
        height: int | None = 1,
        key: str | None = None,
        label: TextType | None = None,
    ) -> RowKey:
        if height != 1:
            raise ValueError("BigTable rows are one line high")
        return super().add_row(*cells, height=1, key=key, label=label)
