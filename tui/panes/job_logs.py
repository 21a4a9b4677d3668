"""A job's logs, live (follow, search, save), and its training curves.

Cloud Logging allows 60 `entries.list` requests a minute per project, shared by every reader.
So the process has ONE `LogPoller` per project (`services.logs.shared_poller`); each app's
`LogHub` subscribes to it for the jobs its log views and plots show, and one request per tick
serves them all. The poller refuses to read faster than its budget (`log_reads_per_minute`);
the hub's next tick is armed only after the previous one finished; a job nobody watches is
unfollowed.

Lines are shown as soon as they are read. Cloud Logging may make an entry readable late (after
newer ones); the poller's lag window still catches it, and the view inserts it in timestamp
order.

Memory stays bounded: the poller keeps a ring buffer per job and the view a `Log` with
`max_lines`, mirrored by a deque of the same length (for search and save).
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from tui.services.errors import CloudpaneError, translate
from tui.services.job_models import Job, LogEntry
from tui.services.log_levels import shown_severity
from tui.widgets.literal import Input, Log, Static

if TYPE_CHECKING:
    from tui.services.clients import Backend
    from tui.services.logs import LogPoller

VIEW_LINES = 5000  # lines a log view keeps (the poller's ring buffer holds as many)

SEVERITY_STYLE = {
    "DEBUG": "dim",
    "NOTICE": "cyan",
    "WARNING": "yellow",
    "ERROR": "bold red",
    "CRITICAL": "bold red",
    "ALERT": "bold red",
    "EMERGENCY": "bold red",
}
SEVERITY_LABEL = {"WARNING": "WARN", "CRITICAL": "CRIT", "EMERGENCY": "EMERG", "DEFAULT": "-"}
TEXT_STYLE = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red", "ALERT": "red"}


# --- the shared poller ------------------------------------------------------------------------


class LogListener(Protocol):
    """What a log view or plot hears from the hub."""

    def log_entries(self, entries: list[LogEntry]) -> None: ...

    def log_status(self, text: str, error: bool) -> None: ...


class LogHub:
    """The app's one LogPoller, shared by every subscriber (see the module docstring)."""

    def __init__(self, app: App[Any], backend: Backend, poller: LogPoller | None = None) -> None:
        from tui.services.logs import shared_poller

        self.app = app
        self.backend = backend
        config = getattr(app, "config", None)
        budget = getattr(config, "log_reads_per_minute", None)
        self.poller = poller or shared_poller(backend, reads_per_minute=budget)
        self.listeners: dict[str, list[LogListener]] = {}
        self.from_start: dict[str, bool] = {}
        self._timer: Timer | None = None
        self._polling = False
        self._again = False

    def subscribe(self, job_id: str, listener: LogListener, from_start: bool = True) -> None:
        """Start hearing a job's new lines (the poller follows it while anyone listens)."""
        self.listeners.setdefault(job_id, []).append(listener)
        if job_id not in self.from_start:
            self.poller.subscribe(job_id, self._heard, from_start=from_start)
            # Another app of this process may follow it already, perhaps only from now on.
            self.from_start[job_id] = self.poller.from_start(job_id)
        self._soon()

    def unsubscribe(self, job_id: str, listener: LogListener) -> None:
        listeners = self.listeners.get(job_id, [])
        if listener in listeners:
            listeners.remove(listener)
        if not listeners:
            self.listeners.pop(job_id, None)
            if self.from_start.pop(job_id, None) is not None:
                self.poller.unsubscribe(job_id, self._heard)

    def _heard(self, job_id: str, entries: list[LogEntry]) -> None:
        """The poller's new entries of a job (from this hub's poll or another's)."""
        for listener in list(self.listeners.get(job_id, [])):
            listener.log_entries(entries)

    def _soon(self) -> None:
        """Poll as soon as the budget allows (a new subscriber wants its first lines)."""
        if self._polling:
            self._again = True
            return
        self._arm(self.poller.ready_in())

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        # Textual timers divide by their interval: never 0.
        self._timer = self.app.set_timer(max(delay, 0.01), self._tick, name="job-logs")

    def _tick(self) -> None:
        self._timer = None
        if not self.listeners or self._polling:
            return
        self._polling = True
        self.app.run_worker(
            self._poll(),
            group="job-logs",
            exit_on_error=False,
            description="read job logs",
        )

    async def _poll(self) -> None:
        error: CloudpaneError | None = None
        try:
            await self.poller.poll_once()  # new entries reach listeners through _heard
        except CloudpaneError as exc:
            error = exc
        except Exception as exc:  # a bug must not stop the logs for good
            error = translate(exc, "read job logs")
        finally:
            self._polling = False
        self._deliver(error)
        if not self.listeners:
            return
        # Re-armed only after this poll, when the budget (and any backoff) allows the next:
        # a slow Logging API never piles up requests.
        self._again = False
        self._arm(self.poller.ready_in())

    def _deliver(self, error: CloudpaneError | None) -> None:
        if error is not None:
            status, bad = f"{error.message} Retrying in {self.poller.next_delay:.0f} s.", True
        elif self.poller.last_error is not None:  # a 429: throttled, not broken
            status = (
                f"Cloud Logging read quota reached; next read in {self.poller.next_delay:.0f} s."
            )
            bad = True
        else:
            status, bad = "", False
        for listeners in list(self.listeners.values()):
            for listener in list(listeners):
                listener.log_status(status, bad)


_HUBS: weakref.WeakKeyDictionary[App[Any], LogHub] = weakref.WeakKeyDictionary()


def log_hub(app: App[Any], backend: Backend) -> LogHub:
    """The app's LogHub for this backend (a new one after switching projects)."""
    hub = _HUBS.get(app)
    if hub is None or hub.backend != backend:
        hub = LogHub(app, backend)
        _HUBS[app] = hub
    return hub


# --- formatting -------------------------------------------------------------------------------


def clock(moment: datetime) -> str:
    """Local wall-clock time of a log line."""
    return moment.astimezone().strftime("%H:%M:%S")


@dataclass(frozen=True)
class LogRow:
    """One shown line (an entry with several lines becomes several rows)."""

    entry: LogEntry
    text: str

    @property
    def severity(self) -> str:
        """The line's own level (absl, Python logging, TensorFlow prefixes) where Google's
        severity only names its stream (Vertex: stdout INFO, stderr ERROR)."""
        return shown_severity(self.entry.severity, self.entry.text)

    def plain(self) -> str:
        stamp = self.entry.timestamp.isoformat()
        task = f" {self.entry.task_name}" if self.entry.task_name else ""
        return f"{stamp} {self.severity}{task} {self.text}"


def rows_of(entries: Iterable[LogEntry]) -> list[LogRow]:
    rows = []
    for entry in entries:
        for line in entry.text.splitlines() or [""]:
            rows.append(LogRow(entry, line.expandtabs(4)))
    return rows


def row_line(row: LogRow) -> str:
    """`12:00:07 ERROR workerpool0-0 Traceback …`: fixed columns the highlighter relies on."""
    entry = row.entry
    severity = SEVERITY_LABEL.get(row.severity, row.severity)[:5]
    return f"{clock(entry.timestamp)} {severity:<5} {entry.task_name or '-'} {row.text}"


LABEL_SEVERITY = {label: severity for severity, label in SEVERITY_LABEL.items()}


class LogLineHighlighter(Highlighter):
    """Colours a line by its severity, and the search term, when the line is drawn.

    The Log widget calls it only for the lines on screen, so a 5,000-line buffer costs
    nothing until it is looked at.
    """

    def __init__(self) -> None:
        self.needle = ""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        stamp_end = plain.find(" ")
        if stamp_end < 0:
            return
        level_end = stamp_end + 6
        label = plain[stamp_end + 1 : level_end].strip()
        severity = LABEL_SEVERITY.get(label, label)
        task_end = plain.find(" ", level_end + 1)
        body = task_end + 1 if task_end > 0 else len(plain)
        text.stylize("dim", 0, stamp_end)
        text.stylize(SEVERITY_STYLE.get(severity, "green"), stamp_end + 1, level_end)
        text.stylize("dim cyan", level_end + 1, body)
        if severity in TEXT_STYLE:
            text.stylize(TEXT_STYLE[severity], body)
        if self.needle:
            text.highlight_words([self.needle], style="black on yellow", case_sensitive=False)


# --- the log view -----------------------------------------------------------------------------


class LogScreen(Screen[None]):
    """A job's log lines as they are written: follow (f), search (/ n N), save (s)."""

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "next_match(1)", "Next"),
        Binding("N", "next_match(-1)", "Previous", show=False),
        Binding("s", "save", "Save"),
        Binding("p", "curves", "Curves"),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
        Binding("g", "home", "Top", show=False),
        Binding("G", "end", "End", show=False),
        Binding("colon", "noop", show=False),
    ]

    def __init__(self, hub: LogHub, job: Job, *, from_start: bool = True) -> None:
        super().__init__()
        self.hub = hub
        self.job = job
        self.from_start = from_start
        self.rows: deque[LogRow] = deque(maxlen=VIEW_LINES)
        self.received = 0  # rows received in all (more than kept on a long log)
        self.follow = True
        self.needle = ""
        self.match_row: int | None = None
        self.status = ""  # the poller's news (throttled, errors)
        self.status_error = False
        self.match_text = ""
        self.highlighter = LogLineHighlighter()

    def compose(self) -> ComposeResult:
        with Vertical(id="log-view"):
            yield Static(self.title_line(), id="log-title", markup=False)
            log = Log(id="job-log", max_lines=VIEW_LINES, highlight=True, auto_scroll=True)
            log.highlighter = self.highlighter
            yield log
            yield Input(
                placeholder="search (enter: find, n/N: next/previous, esc: done)", id="log-search"
            )
            yield Static("", id="log-status", markup=False)
        yield Footer()

    def title_line(self) -> str:
        where = "from the start" if self.from_start else "new lines only"
        return f"Logs · {self.job.display_name} · {self.job.status} · {self.job.region} · {where}"

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.focus()
        # Lines the shared poller already holds (another view follows this job too).
        self.add_entries(self.hub.poller.lines(self.job.id))
        self.hub.subscribe(self.job.id, self, from_start=self.from_start)
        self.update_status()

    def on_unmount(self) -> None:
        self.hub.unsubscribe(self.job.id, self)

    # -------------------------------------------------------------- lines in
    def log_entries(self, entries: list[LogEntry]) -> None:
        self.add_entries(entries)
        self.update_status()

    def log_status(self, text: str, error: bool) -> None:
        if (text, error) != (self.status, self.status_error):
            self.status, self.status_error = text, error
            self.update_status()

    def add_entries(self, entries: Iterable[LogEntry]) -> None:
        rows = rows_of(entries)
        if not rows:
            return
        self.received += len(rows)
        rows = rows[-VIEW_LINES:]  # a backlog bigger than the view: only its end is shown
        if self.rows and rows[0].entry.timestamp < self.rows[-1].entry.timestamp:
            self.insert_late(rows)
        else:
            self.rows.extend(rows)
            self.write_rows(rows, scroll_end=self.follow)
        if self.match_row is not None and self.received > VIEW_LINES:
            self.match_row = None  # the rows moved up; the next `n` searches afresh

    def insert_late(self, rows: list[LogRow]) -> None:
        """Lines older than some already shown (Cloud Logging made them readable late): put
        them in timestamp order and redraw, keeping the reader's place unless following."""
        merged = sorted([*self.rows, *rows], key=lambda row: row.entry.timestamp)  # stable
        self.rows = deque(merged[-VIEW_LINES:], maxlen=VIEW_LINES)
        log = self.query_one(Log)
        top = log.scroll_y
        log.clear()
        self.write_rows(list(self.rows), scroll_end=self.follow)
        if not self.follow:
            log.scroll_to(y=top, animate=False)
        self.match_row = None  # the rows moved; the next `n` searches afresh

    @property
    def dropped(self) -> int:
        return self.received - len(self.rows)

    def update_status(self) -> None:
        parts = [f"{len(self.rows):,} lines"]
        if self.dropped:
            parts[0] += f" (the last {VIEW_LINES:,} of {self.received:,})"
        parts.append("following" if self.follow else "paused (f follows)")
        if self.needle:
            count = sum(1 for r in self.rows if self.needle.lower() in r.text.lower())
            parts.append(f"“{self.needle}”: {count} match{'es' if count != 1 else ''}")
            if self.match_text:
                parts.append(self.match_text)
        if self.status:
            parts.append(self.status)
        status = self.query_one("#log-status", Static)
        status.update(" · ".join(parts))
        status.set_class(self.status_error, "error")

    @property
    def text(self) -> str:
        """The shown lines as plain text (tests, save)."""
        return "\n".join(row.text for row in self.rows)

    # ------------------------------------------------------------- actions
    def action_noop(self) -> None:
        """`:` belongs to the main screen."""

    def action_close(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.has_class("visible"):
            self.hide_search()
            return
        self.dismiss(None)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        log = self.query_one(Log)
        log.auto_scroll = self.follow
        if self.follow:
            log.scroll_end(animate=False)
        self.update_status()

    def action_scroll(self, lines: int) -> None:
        self.query_one(Log).scroll_relative(y=lines, animate=False)

    def action_home(self) -> None:
        self.set_follow(False)
        self.query_one(Log).scroll_home(animate=False)

    def action_end(self) -> None:
        self.query_one(Log).scroll_end(animate=False)

    def set_follow(self, follow: bool) -> None:
        if follow != self.follow:
            self.action_toggle_follow()

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.add_class("visible")
        box.value = self.needle
        box.focus()

    def hide_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.remove_class("visible")
        self.query_one(Log).focus()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        needle = event.value.strip()
        if needle != self.needle:
            self.needle = needle
            self.redraw()
        self.hide_search()
        self.match_row = None
        self.match_text = ""
        if needle:
            self.action_next_match(1)
        self.update_status()

    def redraw(self) -> None:
        """Show (or clear) the search highlights: the lines are coloured when drawn."""
        self.highlighter.needle = self.needle
        log = self.query_one(Log)
        log._render_line_cache.clear()  # Log caches drawn lines by position
        log.refresh()

    def write_rows(self, rows: list[LogRow], scroll_end: bool) -> None:
        self.query_one(Log).write_lines([row_line(row) for row in rows], scroll_end=scroll_end)

    def matches(self) -> list[int]:
        needle = self.needle.lower()
        return [i for i, row in enumerate(self.rows) if needle in row.text.lower()]

    def action_next_match(self, step: int) -> None:
        if not self.needle:
            self.action_search()
            return
        found = self.matches()
        if not found:
            self.app.notify(
                f"“{self.needle}” is not in the lines shown.", severity="warning", markup=False
            )
            return
        log = self.query_one(Log)
        if self.match_row is None:
            top = int(log.scroll_y)
            after = [i for i in found if i >= top] if step > 0 else [i for i in found if i <= top]
            target = (
                (after[0] if step > 0 else after[-1]) if after else found[0 if step > 0 else -1]
            )
        else:
            later = [i for i in found if (i > self.match_row if step > 0 else i < self.match_row)]
            target = (
                (later[0] if step > 0 else later[-1]) if later else found[0 if step > 0 else -1]
            )
        self.match_row = target
        self.set_follow(False)  # new lines must not scroll the match away
        log.scroll_to(y=max(0, target - log.size.height // 2), animate=False)
        index = found.index(target) + 1
        self.match_text = f"match {index}/{len(found)} at line {target + 1}"
        self.update_status()

    def action_save(self) -> None:
        from tui.panes.job_forms import PathScreen

        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.job.display_name)
        default = Path.cwd() / f"{slug.strip('-') or 'job'}-{self.job.id}.log"
        kept = f"the last {len(self.rows):,} lines" if self.dropped else f"{len(self.rows):,} lines"
        self.app.push_screen(
            PathScreen(
                "Save the log to a file", str(default), purpose="save", hint=f"Saves {kept}."
            ),
            self._save_to,
        )

    def _save_to(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            with path.open("w", encoding="utf-8") as out:
                for row in self.rows:
                    out.write(row.plain() + "\n")
        except OSError as exc:
            self.app.notify(f"Could not save {path}: {exc}", severity="error", markup=False)
            return
        note = f" (the last {len(self.rows):,}; older lines were not kept)" if self.dropped else ""
        self.app.notify(
            f"Saved {len(self.rows):,} lines to {path}{note}.", title="Saved", markup=False
        )

    def action_curves(self) -> None:
        self.app.push_screen(CurvesScreen(self.hub, self.job))


# --- the curves -------------------------------------------------------------------------------


def tuning_metric(job: Job) -> str:
    """The metric the trainer reports to the tuner (its --hypertune-metric, else val_abs_rel)."""
    args = list(job.spec.worker_pools[0].args) if job.spec.worker_pools else []
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name.replace("_", "-") == "--hypertune-metric":
            if eq:
                return value
            if i + 1 < len(args):
                return args[i + 1]
    return "val_abs_rel"


def series(points: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of one metric; the last line wins when an epoch repeats (a restart)."""
    by_epoch = {p["epoch"]: p[key] for p in points if key in p and "epoch" in p}
    epochs = sorted(by_epoch)
    return epochs, [by_epoch[e] for e in epochs]


class CurvesScreen(Screen[None]):
    """loss, val_loss and the tuning metric per epoch, drawn in the terminal."""

    BINDINGS = [Binding("escape,q", "close", "Back"), Binding("colon", "noop", show=False)]

    def __init__(self, hub: LogHub, job: Job) -> None:
        super().__init__()
        self.hub = hub
        self.job = job
        self.metric = tuning_metric(job)

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        with Vertical(id="curves-view"):
            yield Static(
                f"Training curves · {self.job.display_name} · {self.job.status}",
                id="curves-title",
                markup=False,
            )
            yield PlotextPlot(id="loss-plot")
            yield PlotextPlot(id="metric-plot")
            yield Static("Waiting for the first epoch line…", id="curves-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.hub.subscribe(self.job.id, self, from_start=True)
        if not self.hub.from_start.get(self.job.id, True):
            self.app.notify(
                "This job's logs are followed from when you opened them: "
                "earlier epochs are missing from the curves.",
                severity="warning",
                markup=False,
            )
        self.draw()

    def on_unmount(self) -> None:
        self.hub.unsubscribe(self.job.id, self)

    def log_entries(self, entries: list[LogEntry]) -> None:
        self.draw()

    def log_status(self, text: str, error: bool) -> None:
        if error:
            self.query_one("#curves-status", Static).update(text)

    def points(self) -> list[dict[str, float]]:
        return self.hub.poller.metrics(self.job.id)

    def draw(self) -> None:
        from textual_plotext import PlotextPlot

        points = self.points()
        loss_plot = self.query_one("#loss-plot", PlotextPlot)
        metric_plot = self.query_one("#metric-plot", PlotextPlot)
        for widget, keys, title in (
            (loss_plot, ("loss", "val_loss"), "loss and val_loss"),
            (metric_plot, (self.metric,), f"{self.metric} (tuning metric)"),
        ):
            plt = widget.plt
            plt.clear_figure()
            plt.title(title)
            plt.xlabel("epoch")
            for key in keys:
                epochs, values = series(points, key)
                if epochs:
                    plt.plot(epochs, values, label=key, marker="braille")
            widget.refresh()
        if points:
            last = points[-1]
            shown = [f"epoch {int(last['epoch'])}/{int(last.get('epochs', 0))}"] + [
                f"{key} {last[key]:.4g}" for key in ("loss", "val_loss", self.metric) if key in last
            ]
            self.query_one("#curves-status", Static).update(" · ".join(shown))

    def action_noop(self) -> None:
        """`:` belongs to the main screen."""

    def action_close(self) -> None:
        self.dismiss(None)
