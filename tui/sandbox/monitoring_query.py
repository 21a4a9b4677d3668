"""Cloud Monitoring's `timeSeries.list`, the part the sandbox answers: CPU utilisation of VMs.

Pure of any wire format: the REST route and the gRPC service (monitoring.py) both parse their
request into a `Query`, and render the `Page` this module computes. Here live the recorded
samples (`CpuHistory`), the filter subset Google's filter language needs for this metric, the
per-series alignment (ALIGN_MEAN/MIN/MAX over an alignment period) and paging.
"""

from __future__ import annotations

import base64
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tui.sandbox.errors import ApiError

METRIC = "compute.googleapis.com/instance/cpu/utilization"
RESOURCE = "gce_instance"
UNIT = "10^2.%"  # what Google reports for this metric: a ratio shown as percent
DEFAULT_PAGE_SIZE = 100_000  # Google's effective page size when none (or more) is asked
MIN_ALIGNMENT_SECONDS = 60.0  # Google refuses shorter alignment periods
ALIGNERS = ("ALIGN_NONE", "ALIGN_MEAN", "ALIGN_MIN", "ALIGN_MAX")

# Label fields a filter may name, and where they live on a series.
RESOURCE_LABELS = ("project_id", "instance_id", "zone")
METRIC_LABELS = ("instance_name",)


# ---------------------------------------------------------------- recorded samples


@dataclass
class SeriesInfo:
    """Who a series is about (its labels)."""

    project: str
    zone: str
    instance_id: str
    name: str


class CpuHistory:
    """Bounded per-instance sample history, keyed by instance id (a re-created VM is new).

    The sampler writes from the event loop; gRPC threads read: a lock guards both.
    """

    def __init__(self, max_points: int) -> None:
        self.max_points = max(1, max_points)
        self._lock = threading.Lock()
        self._points: dict[str, deque[tuple[float, float]]] = {}
        self._info: dict[str, SeriesInfo] = {}

    def add(self, info: SeriesInfo, t: float, value: float) -> None:
        with self._lock:
            points = self._points.get(info.instance_id)
            if points is None or points.maxlen != self.max_points:
                points = deque(points or (), maxlen=self.max_points)
                self._points[info.instance_id] = points
            points.append((t, value))
            self._info[info.instance_id] = info

    def trim(self, oldest: float) -> None:
        """Forget samples older than `oldest`, and series left empty."""
        with self._lock:
            for key in list(self._points):
                points = self._points[key]
                while points and points[0][0] < oldest:
                    points.popleft()
                if not points:
                    del self._points[key]
                    self._info.pop(key, None)

    def resize(self, max_points: int) -> None:
        with self._lock:
            self.max_points = max(1, max_points)
            for key, points in self._points.items():
                self._points[key] = deque(points, maxlen=self.max_points)

    def series(self, project: str) -> list[tuple[SeriesInfo, list[tuple[float, float]]]]:
        """A snapshot of every recorded series of a project (points oldest first)."""
        with self._lock:
            return [
                (self._info[key], list(points))
                for key, points in self._points.items()
                if self._info[key].project == project
            ]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(p) for p in self._points.values())

    def clear(self) -> None:
        with self._lock:
            self._points.clear()
            self._info.clear()


# ---------------------------------------------------------------- filter


_CLAUSE = re.compile(
    r"""\s*(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>!=|=)\s*
        (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|
                  (?:one_of|starts_with|ends_with|has_substring)\s*\([^)]*\)|[^\s"'()]+)\s*""",
    re.VERBOSE,
)
_STRING = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,"']+)\s*(,|$)""")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _strings(args: str, whole: str) -> list[str]:
    found: list[str] = []
    pos = 0
    while pos < len(args):
        match = _STRING.match(args, pos)
        if not match:
            raise _bad_filter(whole, f"cannot read the arguments {args!r}")
        found.append(_unquote(match.group(1)))
        pos = match.end()
    return found


def _bad_filter(text: str, why: str) -> ApiError:
    return ApiError(400, f'Field filter had an invalid value of "{text}": {why}.')


@dataclass(frozen=True)
class Clause:
    path: tuple[str, ...]  # ("metric", "type") or ("resource", "labels", "zone") …
    negate: bool
    test: Callable[[str], bool]


@dataclass(frozen=True)
class SeriesFilter:
    """A parsed filter: clauses joined by AND (all the filters a console needs)."""

    text: str
    metric_type: str
    clauses: tuple[Clause, ...] = ()

    def matches(self, info: SeriesInfo) -> bool:
        values = {
            ("metric", "type"): METRIC,
            ("resource", "type"): RESOURCE,
            ("project",): info.project,
            ("resource", "labels", "project_id"): info.project,
            ("resource", "labels", "instance_id"): info.instance_id,
            ("resource", "labels", "zone"): info.zone,
            ("metric", "labels", "instance_name"): info.name,
        }
        return all(clause.test(values[clause.path]) != clause.negate for clause in self.clauses)


def _normalise_field(name: str, text: str) -> tuple[str, ...]:
    parts = name.split(".")
    if parts[0] in ("resource", "metric") and len(parts) == 3 and parts[1] in ("label", "labels"):
        parts[1] = "labels"  # Google accepts both spellings
        known = RESOURCE_LABELS if parts[0] == "resource" else METRIC_LABELS
        if parts[2] not in known:
            raise _bad_filter(
                text,
                f"{parts[0]} label {parts[2]!r} is not a label of this metric "
                f"(labels: {', '.join(known)})",
            )
        return tuple(parts)
    if tuple(parts) in (("metric", "type"), ("resource", "type"), ("project",)):
        return tuple(parts)
    raise _bad_filter(
        text,
        f"the sandbox cannot filter on {name!r} (it knows metric.type, resource.type, project, "
        "resource.labels.project_id/instance_id/zone and metric.labels.instance_name)",
    )


def _value_test(raw: str, text: str) -> Callable[[str], bool]:
    call = re.fullmatch(r"(one_of|starts_with|ends_with|has_substring)\s*\((.*)\)", raw, re.S)
    if call is None:
        wanted = _unquote(raw)
        return lambda value: value == wanted
    name, args = call.groups()
    items = _strings(args, text)
    if name == "one_of":
        chosen = frozenset(items)
        return lambda value: value in chosen
    if len(items) != 1:
        raise _bad_filter(text, f"{name}() takes exactly one string")
    arg = items[0]
    if name == "starts_with":
        return lambda value: value.startswith(arg)
    if name == "ends_with":
        return lambda value: value.endswith(arg)
    return lambda value: arg in value


def parse_filter(text: str) -> SeriesFilter:
    """`metric.type = "…" AND resource.labels.instance_id = one_of("1", "2")` → SeriesFilter."""
    stripped = text.strip()
    if not stripped:
        raise _bad_filter(text, 'a filter must name the metric type (metric.type = "...")')
    if re.search(r"(^|\s)(OR|NOT)(\s|$)|^-|\s-\w", stripped):
        raise _bad_filter(text, "the sandbox understands clauses joined by AND only (no OR/NOT)")
    clauses: list[Clause] = []
    metric_type = ""
    pos = 0
    while pos < len(stripped):
        match = _CLAUSE.match(stripped, pos)
        if not match:
            raise _bad_filter(text, f"cannot read the filter from {stripped[pos:]!r}")
        path = _normalise_field(match.group("field"), text)
        negate = match.group("op") == "!="
        raw = match.group("value")
        if path == ("metric", "type"):
            if negate or (not raw.startswith(("'", '"')) and "(" in raw):
                raise _bad_filter(text, 'name the metric type as metric.type = "..."')
            metric_type = _unquote(raw)
        clauses.append(Clause(path, negate, _value_test(raw, text)))
        pos = match.end()
        rest = re.match(r"AND\b\s*", stripped[pos:])
        if rest:
            pos += rest.end()
            if pos >= len(stripped):
                raise _bad_filter(text, "the filter ends with AND")
        elif pos < len(stripped):
            raise _bad_filter(text, f"expected AND before {stripped[pos:]!r}")
    if not metric_type:
        raise _bad_filter(text, 'a filter must name the metric type (metric.type = "...")')
    return SeriesFilter(stripped, metric_type, tuple(clauses))


# ---------------------------------------------------------------- the query


@dataclass(frozen=True)
class Query:
    project: str
    filter: SeriesFilter
    start: float  # seconds since the epoch; points with start <= t <= end are returned
    end: float
    aligner: str = "ALIGN_NONE"
    period: float = 0.0  # alignment period in seconds (aligner != ALIGN_NONE)
    headers_only: bool = False
    page_size: int = 0
    page_token: str = ""


def parse_project(name: str) -> str:
    match = re.fullmatch(r"projects/([^/]+)", name or "")
    if not match:
        raise ApiError(
            400, f"Field name had an invalid value of \"{name}\": expected 'projects/PROJECT_ID'."
        )
    return match.group(1)


def parse_duration(text: str, field_name: str) -> float:
    """Google's JSON Duration ("60s", "1.5s") → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", text or "")
    if not match:
        raise ApiError(
            400, f'Field {field_name} had an invalid value of "{text}": expected e.g. "60s".'
        )
    return float(match.group(1))


def build_query(
    *,
    name: str,
    filter_text: str,
    start: float | None,
    end: float | None,
    aligner: str,
    period: float,
    reducer: str,
    view: str,
    page_size: int,
    page_token: str,
) -> Query:
    """Validate a request as Google does; errors say which field and why."""
    project = parse_project(name)
    parsed = parse_filter(filter_text)
    if end is None:
        raise ApiError(400, "Field interval.endTime is required.")
    if start is None:
        start = end  # Google: no start time means the single moment `end`
    if start > end:
        raise ApiError(
            400, "Field interval.startTime had an invalid value: it is later than endTime."
        )
    aligner = aligner or "ALIGN_NONE"
    if aligner not in ALIGNERS:
        raise ApiError(
            400,
            f'Field aggregation.perSeriesAligner had an invalid value of "{aligner}": '
            f"the sandbox supports {', '.join(ALIGNERS)}.",
        )
    if reducer not in ("", "REDUCE_NONE"):
        raise ApiError(
            400,
            f'Field aggregation.crossSeriesReducer had an invalid value of "{reducer}": '
            "the sandbox supports REDUCE_NONE only.",
        )
    if aligner != "ALIGN_NONE":
        if period <= 0:
            raise ApiError(
                400,
                "Field aggregation.alignmentPeriod is required when a per-series aligner is given.",
            )
        if period < MIN_ALIGNMENT_SECONDS:
            raise ApiError(
                400,
                f'Field aggregation.alignmentPeriod had an invalid value of "{period:g}s": '
                f"the alignment period must be at least {MIN_ALIGNMENT_SECONDS:g} seconds.",
            )
    if view not in ("FULL", "HEADERS"):
        raise ApiError(400, f'Field view had an invalid value of "{view}": FULL or HEADERS.')
    if page_size < 0:
        raise ApiError(400, f"Field pageSize had an invalid value of {page_size}: must be >= 0.")
    return Query(
        project=project,
        filter=parsed,
        start=start,
        end=end,
        aligner=aligner,
        period=period if aligner != "ALIGN_NONE" else 0.0,
        headers_only=view == "HEADERS",
        page_size=page_size,
        page_token=page_token,
    )


# ---------------------------------------------------------------- answering it


@dataclass
class Series:
    info: SeriesInfo
    points: list[tuple[float, float]] = field(default_factory=list)  # newest first


@dataclass
class Page:
    series: list[Series]
    next_token: str = ""


def align(
    points: Iterable[tuple[float, float]], end: float, period: float, aligner: str
) -> list[tuple[float, float]]:
    """Per-series alignment: buckets (end - (k+1)·period, end - k·period], one point each at
    the bucket's end, newest first — Google's ALIGN_MEAN/MIN/MAX."""
    buckets: dict[int, list[float]] = {}
    for t, value in points:
        k = int((end - t) // period)
        buckets.setdefault(k, []).append(value)

    def combine(values: list[float]) -> float:
        if aligner == "ALIGN_MIN":
            return min(values)
        if aligner == "ALIGN_MAX":
            return max(values)
        return sum(values) / len(values)

    return [(end - k * period, combine(buckets[k])) for k in sorted(buckets)]


def answer(
    query: Query, candidates: Iterable[tuple[SeriesInfo, list[tuple[float, float]]]]
) -> Page:
    """The page of series matching `query` (candidates' points oldest first)."""
    if query.filter.metric_type != METRIC:
        return Page([])  # a valid metric without sandbox data: no series, as Google answers
    found: list[Series] = []
    for info, points in sorted(candidates, key=lambda c: (c[0].zone, c[0].name, c[0].instance_id)):
        if not query.filter.matches(info):
            continue
        inside = [(t, v) for t, v in points if query.start <= t <= query.end]
        if not inside:
            continue  # Google lists only series with points in the interval
        if query.aligner != "ALIGN_NONE":
            newest_first = align(inside, query.end, query.period, query.aligner)
        else:
            newest_first = sorted(inside, key=lambda p: p[0], reverse=True)
        found.append(Series(info, [] if query.headers_only else newest_first))
    return paginate(found, query)


def _token(series_index: int, point_index: int) -> str:
    return base64.urlsafe_b64encode(f"{series_index}:{point_index}".encode()).decode()


def _untoken(token: str) -> tuple[int, int]:
    try:
        first, second = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        return int(first), int(second)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f'Field pageToken had an invalid value of "{token}".') from exc


def paginate(found: list[Series], query: Query) -> Page:
    """Pages of at most page_size points (FULL) or series (HEADERS); a long series continues
    on the next page, as Google's does."""
    size = query.page_size if 0 < query.page_size <= DEFAULT_PAGE_SIZE else DEFAULT_PAGE_SIZE
    s, p = _untoken(query.page_token) if query.page_token else (0, 0)
    if query.headers_only:
        chunk = found[s : s + size]
        more = s + size < len(found)
        return Page(chunk, _token(s + size, 0) if more else "")
    page: list[Series] = []
    budget = size
    while s < len(found) and budget > 0:
        series = found[s]
        take = series.points[p : p + budget]
        page.append(Series(series.info, take))
        budget -= len(take)
        p += len(take)
        if p >= len(series.points):
            s, p = s + 1, 0
    return Page(page, _token(s, p) if s < len(found) else "")
