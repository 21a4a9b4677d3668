"""Messages panes post upward; the App routes them (no pane reaches into another widget).

Cost figures change every second; `can_replace` lets a newer figure replace one still queued
(as toolong's messages do), so a busy UI never works through a backlog of stale figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from tui.services.pricing import JobsBurn, TickerFigures


class VmCosts(Message):
    """The VMs pane's figures changed: burn rate, today's spend, month's projection."""

    def __init__(self, figures: TickerFigures) -> None:
        super().__init__()
        self.figures = figures

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, VmCosts)


class JobCosts(Message):
    """The Jobs pane's figures changed: what running training costs, and jobs since midnight."""

    def __init__(self, burn: JobsBurn) -> None:
        super().__init__()
        self.burn = burn

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobCosts)
