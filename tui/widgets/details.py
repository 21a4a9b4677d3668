"""A scrollable, read-only view of a resource as YAML (k9s' `enter`/`y`)."""

from __future__ import annotations

from typing import Any

import yaml
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen

from tui.inert import visible_lines
from tui.widgets.literal import Label, Static


def to_yaml(resource: dict[str, Any]) -> str:
    return yaml.safe_dump(resource, sort_keys=False, allow_unicode=True, width=100)


CONSOLE = "https://console.cloud.google.com"


def console_url(backend: object, path: str) -> str | None:
    """A Cloud Console page of this project; None on the sandbox (it has no Console)."""
    if getattr(backend, "is_sandbox", True):
        return None
    from urllib.parse import quote

    project = quote(str(getattr(backend, "project", "")), safe="")
    return f"{CONSOLE}/{path}?project={project}"


def console_link(url: str) -> Text:
    return Text.assemble(("Open in Cloud Console ↗", Style(link=url, underline=True)), f"  {url}")


class DetailsScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,enter", "close", "Close"),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
    ]

    def __init__(
        self,
        title: str,
        resource: dict[str, Any] | str,
        console_url: str | None = None,
        summary: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        # Cloud text: YAML quotes some controls, not ESC-free bidi or all of C1; escape the rest.
        self.text = visible_lines(resource if isinstance(resource, str) else to_yaml(resource))
        self.console_url = console_url
        self.summary = summary  # one line of our own above the resource (e.g. buy or rent)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            if self.console_url:
                # An OSC 8 hyperlink: clickable in terminals that support it, even over SSH.
                yield Static(console_link(self.console_url), id="console-link")
            if self.summary:
                yield Static(self.summary, id="details-summary", markup=False)
            with VerticalScroll(id="details-scroll"):
                yield Static(Syntax(self.text, "yaml", theme="ansi_dark", word_wrap=True))
            yield Label("esc close · j/k scroll", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#details-scroll").focus()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#details-scroll", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_close(self) -> None:
        self.dismiss(None)
