"""Training job logs from Cloud Logging: one-shot reads, a shared poller, and epoch metrics.

Following logs on Google has two hard facts to respect (docs/gcp-facts.md):

- **Entries become readable late and out of order.** gcloud's own streamer never reads the
  newest 5 s for that reason, and the tail API buffers 2 s "to prevent out of order results".
  So the poller keeps a *lag window*: each request re-reads from `newest seen - lag` (5 s), and
  the insertIds seen inside that window are kept to drop repeats. A line is shown as soon as
  it is read (no added latency); one that turns up late is inserted in timestamp order. For a
  busy job (more than 500 lines in 5 s) the window narrows to its newest 500 entries, so that
  memory stays bounded and a re-read fits in one page beside the new lines.
- **`entries.list` allows 60 requests a minute per project**, shared by every reader of the
  project (other cloudpane windows, gcloud, the Console). So each process has ONE poller per
  project (`shared_poller`), every view subscribes to it, and each tick is a single request
  whose filter ORs the followed jobs. The poller itself refuses to send faster than its budget
  (`reads_per_minute`, default 20; the `log_reads_per_minute` config key), however many views
  ask, and backs off after a 429 or a 403 `rateLimitExceeded`.

google-cloud-logging's JSON client (`_use_grpc=False`) is the one path to Google and the sandbox.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tui.services.clients import Backend, call, client, read_retry
from tui.services.errors import CloudpaneError, InvalidArgument, QuotaExceeded, translate
from tui.services.job_models import SEVERITY_ORDER, LogEntry, LogPage

MAX_PAGE = 1000  # Cloud Logging's largest page
READ_QUOTA_PER_MINUTE = 60  # entries.list requests per minute per project (not raisable)
DEFAULT_READS_PER_MINUTE = 20.0  # this process's share: a third of the project's quota
LAG_SECONDS = 5.0  # gcloud's streamer: "we choose to not fetch logs in the most recent N seconds"
WINDOW_ENTRIES = MAX_PAGE // 2  # at most this many entries re-read per job and poll
EPOCH_START = datetime(1970, 1, 1, tzinfo=timezone.utc)

# --- metrics from the trainer's epoch lines -------------------------------------------------

_EPOCH = re.compile(r"(?:^|\s)epoch=(\d+)/(\d+)((?:\s+[A-Za-z_][\w.]*=\S+)*)\s*$")
_PAIR = re.compile(r"([A-Za-z_][\w.]*)=(\S+)")


def parse_epoch_line(text: str) -> dict[str, float] | None:
    """The trainer's per-epoch line → {"epoch": 3, "epochs": 10, "loss": 0.1234, ...}.

    The bundled trainer prints (trainer/reporting.py) one line per epoch:
    `epoch=3/10 loss=0.1234 val_loss=0.1111 val_abs_rel=0.0876 images_per_sec=123.4 seconds=20.1`
    (possibly after a logging prefix). Non-numeric values are left out; None if not such a line.
    """
    match = _EPOCH.search(text.rstrip())
    if match is None:
        return None
    values: dict[str, float] = {"epoch": int(match.group(1)), "epochs": int(match.group(2))}
    for key, raw in _PAIR.findall(match.group(3)):
        try:
            number = float(raw)
        except ValueError:
            continue
        if not math.isnan(number):
            values[key] = number
    return values


# --- filters and conversions ----------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def job_filter(job_id: str, since: datetime | None = None, min_severity: str | None = None) -> str:
    """The Logging filter for one job's entries."""
    parts = ['resource.type="ml_job"', f"resource.labels.job_id={_quoted(job_id)}"]
    parts.append(f'timestamp>="{_stamp(since or EPOCH_START)}"')
    if min_severity:
        parts.append(f"severity>={min_severity}")
    return " AND ".join(parts)


def _entry_from_client(entry: Any) -> LogEntry:
    """A google-cloud-logging entry object → LogEntry."""
    payload = entry.payload
    if isinstance(payload, dict):
        text = str(payload.get("message", json.dumps(payload)))
    else:
        text = "" if payload is None else str(payload)
    labels = dict(getattr(entry.resource, "labels", None) or {})
    log_name = entry.log_name or ""
    return LogEntry(
        timestamp=entry.timestamp or EPOCH_START,
        insert_id=entry.insert_id or "",
        severity=entry.severity or "DEFAULT",
        text=text,
        job_id=str(labels.get("job_id", "")),
        task_name=str(labels.get("task_name", "")),
        log_name=log_name,
    )


class _Fetcher:
    """entries.list through google-cloud-logging's JSON client, one page per call."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.requests = 0  # entries.list calls made (the quota they used)

    def _client(self) -> Any:
        def build() -> Any:
            from google.cloud import logging as cloud_logging

            options = {"api_endpoint": self.backend.endpoint} if self.backend.endpoint else None
            return cloud_logging.Client(
                project=self.backend.project,
                credentials=self.backend.credentials,
                _use_grpc=False,
                client_options=options,
            )

        return client(self.backend, "logging", build)

    def page(self, filter_: str, page_size: int, newest_first: bool = False) -> list[LogEntry]:
        """One entries.list request (blocking): at most `page_size` entries."""
        from google.cloud import logging as cloud_logging

        self.requests += 1
        entries = self._client().list_entries(
            resource_names=[f"projects/{self.backend.project}"],
            filter_=filter_,
            order_by=cloud_logging.DESCENDING if newest_first else cloud_logging.ASCENDING,
            page_size=page_size,
        )
        # islice stops at page_size without asking the iterator for a next page.
        return [_entry_from_client(e) for e in itertools.islice(entries, page_size)]


# --- one-shot reads -------------------------------------------------------------------------


def _encode_cursor(moment: datetime, seen: set[str]) -> str:
    raw = json.dumps([_stamp(moment), sorted(seen)]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, set[str]]:
    try:
        stamp, seen = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc), set(
            seen
        )
    except (ValueError, TypeError) as exc:
        raise InvalidArgument("That log position is not valid any more.") from exc


class LogsService:
    """Reading a job's log entries page by page (the poller below follows them live)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._fetcher = _Fetcher(backend)

    async def read(
        self,
        job_id: str,
        *,
        cursor: str | None = None,
        page_size: int = 200,
        min_severity: str | None = None,
        since: datetime | None = None,
    ) -> LogPage:
        """Entries oldest first, from `since` (or the start) or after `cursor`; retried reads.

        The page's `cursor` reads on from there; None when there was nothing more (follow a
        running job with the LogPoller instead of re-reading).
        """
        if min_severity and min_severity not in SEVERITY_ORDER:
            raise InvalidArgument(f"Unknown severity {min_severity!r}.")
        page_size = max(1, min(page_size, MAX_PAGE))
        start, seen = _decode_cursor(cursor) if cursor else (since or EPOCH_START, set())
        filter_ = job_filter(job_id, start, min_severity)

        def fetch() -> list[LogEntry]:
            return read_retry()(self._fetcher.page)(filter_, page_size + len(seen))

        got = await call(fetch, action=f"read the logs of job {job_id}")
        fresh = [e for e in got if not (e.timestamp == start and e.insert_id in seen)]
        page = fresh[:page_size]
        more = len(got) >= page_size + len(seen) or len(fresh) > page_size
        next_cursor = _cursor_after(page, start, seen) if more and page else None
        return LogPage(tuple(page), next_cursor)

    async def tail(self, job_id: str, lines: int = 100) -> list[LogEntry]:
        """The last `lines` entries of a job, oldest first (one request)."""
        lines = max(1, min(lines, MAX_PAGE))
        filter_ = job_filter(job_id)

        def fetch() -> list[LogEntry]:
            return read_retry()(self._fetcher.page)(filter_, lines, True)

        newest = await call(fetch, action=f"read the logs of job {job_id}")
        return list(reversed(newest))

    def poller(self) -> LogPoller:
        """The process's shared LogPoller for this project (see `shared_poller`)."""
        return shared_poller(self.backend)


def _cursor_after(page: list[LogEntry], start: datetime, seen: set[str]) -> str:
    last = page[-1].timestamp
    at_last = {e.insert_id for e in page if e.timestamp == last}
    if last == start:
        at_last |= seen
    return _encode_cursor(last, at_last)


# --- the shared poller ----------------------------------------------------------------------


@dataclass
class _Followed:
    bound: datetime  # the next request asks for timestamp >= bound
    from_start: bool = True
    newest: datetime | None = None  # the newest timestamp read
    floor: datetime | None = None  # the lag window's start: rises, never falls
    # insertId → timestamp of the entries read inside the lag window (newest - lag onwards):
    # those the next request returns again. Older ones can never come back and are dropped,
    # so this holds only a lag window's worth of entries.
    seen: dict[str, datetime] = field(default_factory=dict)
    lines: deque[LogEntry] = field(default_factory=deque)  # in timestamp order
    metrics: deque[dict[str, float]] = field(default_factory=deque)
    total: int = 0  # entries received since follow()
    late: int = 0  # entries that arrived after a newer one had been read


EntriesCallback = Callable[[dict[str, list[LogEntry]]], Awaitable[None] | None]
ErrorCallback = Callable[[CloudpaneError], Awaitable[None] | None]
Subscriber = Callable[[str, list[LogEntry]], None]  # (job_id, its new entries)


def _insert_in_order(lines: deque[LogEntry], entry: LogEntry) -> None:
    """Append, or insert a late entry after every line not newer than it (bounded deque)."""
    if not lines or lines[-1].timestamp <= entry.timestamp:
        lines.append(entry)
        return
    index = len(lines)
    while index > 0 and lines[index - 1].timestamp > entry.timestamp:
        index -= 1
    if index == 0 and lines.maxlen is not None and len(lines) >= lines.maxlen:
        return  # older than everything kept: the buffer would drop it anyway
    if lines.maxlen is not None and len(lines) >= lines.maxlen:
        lines.popleft()
        index -= 1
    lines.insert(index, entry)


class LogPoller:
    """One poller for every followed job of a project: one entries.list per tick.

    Use `poll_once()` (returns the new entries per job id and hands them to subscribers) from
    your own timer, or `await run(on_entries)` as a loop. `poll_once()` sends a request only
    when the budget allows (`ready_in()` is 0) and none is in flight; otherwise it returns {}
    at once, so any number of callers cannot exceed `reads_per_minute`. After each poll,
    `next_delay` says when the next one is due: `interval` normally, longer after 429 or errors.
    `clock` (monotonic seconds) can be replaced in tests.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        reads_per_minute: float = DEFAULT_READS_PER_MINUTE,
        interval: float | None = None,  # default: as often as the budget allows
        max_interval: float = 60.0,
        buffer_lines: int = 5000,
        page_size: int = MAX_PAGE,
        lag: float = LAG_SECONDS,
        new_lines_lag: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.max_interval = max_interval
        self.buffer_lines = buffer_lines
        self.page_size = max(1, min(page_size, MAX_PAGE))
        self.lag = timedelta(seconds=lag)
        self.new_lines_lag = new_lines_lag
        self.clock = clock
        self.set_budget(reads_per_minute)
        self.interval = max(interval, self.min_interval) if interval else self.min_interval
        self.next_delay = self.interval
        self.last_error: CloudpaneError | None = None
        self.throttled = 0  # 429 / 403 rateLimitExceeded answers received
        self._fetcher = _Fetcher(backend)
        self._jobs: dict[str, _Followed] = {}
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._wake = asyncio.Event()
        self._last_request: float | None = None
        self._in_flight = False

    def set_budget(self, reads_per_minute: float) -> None:
        """At most this many entries.list requests a minute (0 < budget <= the 60 quota)."""
        if not 0 < reads_per_minute <= READ_QUOTA_PER_MINUTE:
            raise InvalidArgument(
                f"The log read budget must be more than 0 and at most {READ_QUOTA_PER_MINUTE} "
                f"requests a minute (Cloud Logging's quota per project), not {reads_per_minute}."
            )
        self.reads_per_minute = float(reads_per_minute)
        self.min_interval = 60.0 / self.reads_per_minute
        if getattr(self, "interval", 0.0) < self.min_interval:
            self.interval = self.min_interval

    # following

    @property
    def followed(self) -> list[str]:
        return list(self._jobs)

    @property
    def requests(self) -> int:
        """entries.list requests made so far."""
        return self._fetcher.requests

    def follow(self, job_id: str, from_start: bool = True, since: datetime | None = None) -> None:
        """Follow a job: all its lines (from_start) or only lines from now on."""
        if job_id in self._jobs:
            return
        if since is None:
            lag = timedelta(seconds=self.new_lines_lag)
            since = EPOCH_START if from_start else datetime.now(timezone.utc) - lag
        self._jobs[job_id] = _Followed(
            bound=since,
            from_start=from_start,
            lines=deque(maxlen=self.buffer_lines),
            metrics=deque(maxlen=10_000),
        )
        self.next_delay = 0.0  # show the first lines at once (as soon as the budget allows)
        self._wake.set()

    def unfollow(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)
        self._subscribers.pop(job_id, None)

    def subscribe(self, job_id: str, subscriber: Subscriber, from_start: bool = True) -> None:
        """Hear a job's new entries from every poll, whoever drives it (follows the job)."""
        self.follow(job_id, from_start=from_start)
        self._subscribers.setdefault(job_id, []).append(subscriber)

    def unsubscribe(self, job_id: str, subscriber: Subscriber) -> None:
        """Stop hearing a job; the last subscriber to leave unfollows it."""
        subscribers = self._subscribers.get(job_id, [])
        if subscriber in subscribers:
            subscribers.remove(subscriber)
        if not subscribers:
            self.unfollow(job_id)

    def from_start(self, job_id: str) -> bool:
        """Whether a followed job is read from its start (False: from when it was followed)."""
        followed = self._jobs.get(job_id)
        return followed.from_start if followed else True

    def lines(self, job_id: str) -> list[LogEntry]:
        """The buffered (most recent `buffer_lines`) entries of a followed job, in time order."""
        followed = self._jobs.get(job_id)
        return list(followed.lines) if followed else []

    def metrics(self, job_id: str) -> list[dict[str, float]]:
        """Every epoch line seen for a followed job, parsed (see parse_epoch_line)."""
        followed = self._jobs.get(job_id)
        return list(followed.metrics) if followed else []

    def remembered(self, job_id: str) -> int:
        """insertIds kept for a job's lag window (bounded: see WINDOW_ENTRIES)."""
        followed = self._jobs.get(job_id)
        return len(followed.seen) if followed else 0

    def late(self, job_id: str) -> int:
        """How many of a job's entries arrived after a newer one (caught by the lag window)."""
        followed = self._jobs.get(job_id)
        return followed.late if followed else 0

    # polling

    def ready_in(self) -> float:
        """Seconds until the budget (and any backoff) allows the next request."""
        if self._last_request is None:
            return 0.0
        wait = max(self.min_interval, self.next_delay if self.last_error else 0.0)
        return max(0.0, self._last_request + wait - self.clock())

    def build_filter(self) -> str:
        branches = [
            f'(resource.labels.job_id={_quoted(job_id)} AND timestamp>="{_stamp(state.bound)}")'
            for job_id, state in self._jobs.items()
        ]
        return 'resource.type="ml_job" AND (' + " OR ".join(branches) + ")"

    async def poll_once(self) -> dict[str, list[LogEntry]]:
        """One entries.list for all followed jobs; the new entries per job id (time order).

        Sends nothing (returns {}) while the budget or a backoff says wait, or while another
        caller's request is in flight. A 429 (or 403 rateLimitExceeded) is not an error here:
        it returns {} and backs off (`next_delay`, `throttled`). Other failures back off too
        and raise a CloudpaneError.
        """
        if not self._jobs or self._in_flight or self.ready_in() > 0:
            return {}
        filter_ = self.build_filter()
        asked = dict(self._jobs)  # follow/unfollow may happen while the request runs
        self._last_request = self.clock()
        # The lag window's entries come back with every request: ask for that many more, so a
        # page holds something new.
        size = min(MAX_PAGE, self.page_size + sum(len(s.seen) for s in asked.values()))
        self._in_flight = True
        try:
            got = await asyncio.to_thread(self._fetcher.page, filter_, size)
        except Exception as exc:
            error = translate(exc, "read job logs")
            self.last_error = error
            self.next_delay = min(self.max_interval, max(self.next_delay, self.interval) * 2)
            if isinstance(error, QuotaExceeded):
                self.throttled += 1
                return {}
            raise error from exc
        finally:
            self._in_flight = False
        self.last_error = None
        new = self._take(got, asked, full=len(got) >= size)
        self.next_delay = self.interval
        for job_id, entries in new.items():
            for subscriber in list(self._subscribers.get(job_id, [])):
                subscriber(job_id, entries)
        return new

    def _take(
        self, got: list[LogEntry], asked: dict[str, _Followed], full: bool
    ) -> dict[str, list[LogEntry]]:
        """Keep the entries not seen before; move each job's window (see the module doc)."""
        new: dict[str, list[LogEntry]] = {}
        for entry in got:
            state = self._jobs.get(entry.job_id)
            if state is None or asked.get(entry.job_id) is not state:
                continue
            if entry.timestamp < state.bound or entry.insert_id in state.seen:
                continue  # already returned by an earlier poll
            if state.newest is not None and entry.timestamp < state.newest:
                state.late += 1
            if state.newest is None or entry.timestamp > state.newest:
                state.newest = entry.timestamp
            state.seen[entry.insert_id] = entry.timestamp
            _insert_in_order(state.lines, entry)
            state.total += 1
            metrics = parse_epoch_line(entry.text)
            if metrics is not None:
                state.metrics.append(metrics)
            new.setdefault(entry.job_id, []).append(entry)
        last = got[-1].timestamp if got else None
        in_page = {e.job_id for e in got}
        for job_id, state in asked.items():
            if state.newest is None:
                continue  # nothing read yet: keep asking from where it started
            # Never below an earlier floor: what lies under it is forgotten for good.
            floor = max(state.newest - self.lag, state.floor or EPOCH_START)
            seen = {i: t for i, t in state.seen.items() if t >= floor}
            if len(seen) > WINDOW_ENTRIES:
                # A busy job: the window re-read must fit in one page with room for new
                # lines, so it narrows to its newest WINDOW_ENTRIES (cut at a timestamp, so
                # that every entry the next request returns again is still known).
                floor = sorted(seen.values())[-WINDOW_ENTRIES]
                seen = {i: t for i, t in seen.items() if t >= floor}
            state.seen, state.floor = seen, floor
            # A full page: everything before its last timestamp was read; go on from there
            # (re-reading the window could return the same full page for ever).
            state.bound = max(floor, last) if full and last and job_id in in_page else floor
        for entries in new.values():
            entries.sort(key=lambda e: e.timestamp)  # stable: the server's order within a time
        return new

    async def run(
        self,
        on_entries: EntriesCallback,
        on_error: ErrorCallback | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Poll until `stop` is set (or the task is cancelled); idle while nothing is followed.

        The next poll is scheduled only after the previous one finished, never sooner than
        the budget allows.
        """
        stop = stop or asyncio.Event()
        while not stop.is_set():
            if not self._jobs:
                self._wake.clear()
                await _first(self._wake.wait(), stop.wait())
                continue
            wait = max(self.next_delay, self.ready_in())
            if wait > 0:
                self._wake.clear()
                await _first(asyncio.sleep(wait), stop.wait(), self._wake.wait())
                if stop.is_set():
                    break
                if self._wake.is_set():  # a new follow: poll now if the budget allows
                    self.next_delay = 0.0
                    continue
            try:
                new = await self.poll_once()
            except CloudpaneError as exc:
                if on_error is not None:
                    result = on_error(exc)
                    if asyncio.iscoroutine(result):
                        await result
                continue
            if new:
                result = on_entries(new)
                if asyncio.iscoroutine(result):
                    await result


async def _first(*aws: Awaitable[Any]) -> None:
    """Wait until the first of these finishes; cancel the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


# --- one poller per project per process -------------------------------------------------------

_SHARED: dict[tuple[str, str | None], LogPoller] = {}


def shared_poller(
    backend: Backend,
    *,
    reads_per_minute: float | None = None,
    clock: Callable[[], float] | None = None,
) -> LogPoller:
    """This process's one LogPoller for the backend's project: every view subscribes to it.

    `reads_per_minute` (the config's `log_reads_per_minute`) sets its budget; `clock` applies
    only when the poller is made (tests).
    """
    key = (backend.project, backend.endpoint)
    poller = _SHARED.get(key)
    if poller is None:
        options: dict[str, Any] = {"clock": clock} if clock is not None else {}
        poller = _SHARED[key] = LogPoller(
            backend, reads_per_minute=reads_per_minute or DEFAULT_READS_PER_MINUTE, **options
        )
    elif reads_per_minute is not None and reads_per_minute != poller.reads_per_minute:
        poller.set_budget(reads_per_minute)
    return poller
