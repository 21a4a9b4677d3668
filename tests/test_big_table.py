"""BigTable draws and moves exactly like DataTable, without its per-line list."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tui.widgets.big_table import BigTable


class Twins(App[None]):
    def compose(self) -> ComposeResult:
        yield DataTable(id="plain")
        yield BigTable(id="big")


def fill(table: DataTable[str], rows: int) -> None:
    table.add_columns("name", "size")
    for i in range(rows):
        table.add_row(f"object-{i:05d}", f"{i} B", key=f"k{i}")


async def test_renders_and_scrolls_like_a_data_table() -> None:
    app = Twins()
    async with app.run_test(size=(60, 30)) as pilot:
        plain, big = app.query_one("#plain", DataTable), app.query_one("#big", BigTable)
        for table in (plain, big):
            fill(table, 300)
            table.styles.height = 12
        await pilot.pause()
        for table in (plain, big):
            table.focus()
            await pilot.press("down", "down", "pagedown", "up")
            table.move_cursor(row=250)  # far down: the view scrolls
            await pilot.pause()
        await pilot.pause()
        assert big.cursor_row == plain.cursor_row > 10
        assert big.scroll_y == plain.scroll_y > 0 and big.virtual_size == plain.virtual_size
        lines = [(plain.render_line(y).text, big.render_line(y).text) for y in range(12)]
        assert all(a == b for a, b in lines), lines
        assert big._get_offsets(5) == plain._get_offsets(5)  # the line → row lookup itself
        big.remove_row("k0")
        plain.remove_row("k0")
        big.clear()
        plain.clear()
        await pilot.pause()
        assert big.row_count == plain.row_count == 0 and big.virtual_size == plain.virtual_size


async def test_refuses_rows_of_other_heights() -> None:
    app = Twins()
    async with app.run_test():
        big = app.query_one("#big", BigTable)
        big.add_columns("a")
        with pytest.raises(ValueError, match="one line high"):
            big.add_row("x", height=2)
