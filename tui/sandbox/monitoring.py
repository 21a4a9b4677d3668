"""The sandbox's Cloud Monitoring v3: CPU utilisation of sandbox VMs, for idle detection.

google-cloud-monitoring's MetricServiceClient speaks gRPC only (no REST transport), so
`projects.timeSeries.list` is served twice from one implementation (monitoring_query.py):
  - gRPC `google.monitoring.v3.MetricService/ListTimeSeries` on a second loopback port, which
    Google's own client uses unchanged over an insecure channel; `GET /_sandbox/monitoring`
    on the main port says where (`grpcEndpoint`);
  - REST `GET /v3/projects/{project}/timeSeries` on the main port, Google's JSON shape.

What is measured is real: a background task samples the CPU seconds of each VM's
startup-script process tree every `sample_seconds` and records
Δcpu / Δwall / vCPUs of the machine type (0..1), as Google's
`compute.googleapis.com/instance/cpu/utilization` does every 60 s. A RUNNING VM without a
startup-script is an idle VM with no process: its series is 0.0 at every sample tick since it
started. History is kept in memory (lost when the daemon stops), bounded to `history_seconds`.

Settings: `CLOUDPANE_SANDBOX_SAMPLE_SECONDS` (default 5; tests use less),
`CLOUDPANE_SANDBOX_MONITORING_PORT` (default: any free port), `ctx.timing.sample_seconds` if
the Timing has it, and at run time `POST /_sandbox/monitoring {"sample_seconds": 1}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import compute
from tui.sandbox import compute_catalog as cat
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError, error_response
from tui.sandbox.monitoring_query import (
    METRIC,
    RESOURCE,
    UNIT,
    CpuHistory,
    Page,
    Query,
    SeriesInfo,
    answer,
    build_query,
    parse_duration,
)

log = logging.getLogger("cloudpane.sandbox.monitoring")

DEFAULT_SAMPLE_SECONDS = 5.0
DEFAULT_HISTORY_SECONDS = 24 * 3600.0
MAX_POINTS_PER_SERIES = 100_000
GRPC_SERVICE = "google.monitoring.v3.MetricService"
GRPC_METHOD = f"/{GRPC_SERVICE}/ListTimeSeries"
LOOPBACK = "127.0.0.1"

# HTTP status of an ApiError → the gRPC status Google's gRPC front end answers with.
GRPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _seconds_setting(raw: str | float, name: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not (low <= value <= high) or math.isnan(value):
        raise ValueError(f"{name} must be between {low:g} and {high:g} seconds, got {value:g}")
    return value


def initial_sample_seconds(ctx: SandboxContext) -> float:
    raw = os.environ.get("CLOUDPANE_SANDBOX_SAMPLE_SECONDS", "")
    if raw:
        return _seconds_setting(raw, "CLOUDPANE_SANDBOX_SAMPLE_SECONDS", 0.05, 3600)
    configured = getattr(ctx.timing, "sample_seconds", None)
    return float(configured) if configured else DEFAULT_SAMPLE_SECONDS


def vcpus_of(doc: dict[str, Any]) -> int:
    """vCPUs of an instance's machine type (custom types: "n1-custom-4-16384" → 4)."""
    name = compute.last_segment(str(doc.get("machineType", "")))
    shape = cat.SHAPES.get(name)
    if shape is not None:
        return shape.vcpus
    custom = re.search(r"custom-(\d+)-\d+", name)
    return int(custom.group(1)) if custom else 1


def zero_ticks(lo: float, hi: float, sample: float, end: float, period: float) -> list[float]:
    """Sample ticks (multiples of `sample`) in [lo, hi], oldest first; with an alignment
    `period`, only the newest tick of each bucket (end - (k+1)·period, end - k·period]."""
    if not period:
        first, last = math.ceil(lo / sample), math.floor(hi / sample)
        first = max(first, last - MAX_POINTS_PER_SERIES + 1)
        return [k * sample for k in range(first, last + 1)]
    ticks: list[float] = []
    k = max(0, math.floor((end - hi) / period))
    while end - k * period >= lo:
        top = end - k * period
        tick = math.floor(min(hi, top) / sample) * sample
        if top - period < tick and tick >= lo:
            ticks.append(tick)
        k += 1
    return ticks[::-1]


def info_of(key: str, doc: dict[str, Any]) -> SeriesInfo:
    project, zone, name = key.split("/")
    return SeriesInfo(project=project, zone=zone, instance_id=str(doc.get("id", "")), name=name)


# ---------------------------------------------------------------- the monitor (per context)


@dataclass
class Monitor:
    ctx: SandboxContext
    sample_seconds: float = DEFAULT_SAMPLE_SECONDS
    history_seconds: float = DEFAULT_HISTORY_SECONDS
    history: CpuHistory = field(default_factory=lambda: CpuHistory(1))
    # Per process key: (process start time, wall time, CPU seconds) of the last reading.
    last: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event | None = None
    grpc_server: Any = None
    grpc_port: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    def max_points(self) -> int:
        return min(MAX_POINTS_PER_SERIES, math.ceil(self.history_seconds / self.sample_seconds))

    def configure(self, sample_seconds: float | None, history_seconds: float | None) -> None:
        if sample_seconds is not None:
            self.sample_seconds = sample_seconds
        if history_seconds is not None:
            self.history_seconds = history_seconds
        self.history.resize(self.max_points())
        if self.wake is not None:
            self.wake.set()  # the sampler sleeps the new period from now on

    # ---- sampling (event loop)

    def tick(self, now: float | None = None) -> int:
        """Record one sample for every instance process; returns how many were recorded."""
        now = time.time() if now is None else now
        procs = compute.runtime(self.ctx).procs
        recorded = 0
        alive = set(procs.keys())
        for key in list(self.last):
            if key not in alive:
                del self.last[key]  # stopped or deleted: its process is gone
        for key in alive:
            managed = procs.get(key)
            cpu = procs.cpu_seconds(key)
            doc = compute.load(self.ctx, key)
            if managed is None or cpu is None or doc is None:
                continue
            previous = self.last.get(key)
            if previous is None or previous[0] != managed.started:
                # A new process: it had used no CPU when it started (or, if its start time
                # is unknown, this reading is the baseline).
                previous = (
                    (managed.started, managed.started, 0.0)
                    if 0 < managed.started <= now
                    else (managed.started, now, cpu)
                )
            self.last[key] = (managed.started, now, cpu)
            wall = now - previous[1]
            if wall < 0.05:
                continue
            value = (cpu - previous[2]) / wall / vcpus_of(doc)
            self.history.add(info_of(key, doc), now, min(1.0, max(0.0, value)))
            recorded += 1
        self.history.trim(now - self.history_seconds)
        return recorded

    async def run(self) -> None:
        self.wake = asyncio.Event()
        while True:
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.sample_seconds)
            try:
                self.tick()
            except Exception:  # one bad reading must not end sampling
                log.exception("CPU sampling failed")

    # ---- answering (any thread)

    def candidates(self, query: Query) -> list[tuple[SeriesInfo, list[tuple[float, float]]]]:
        """Recorded series, plus 0.0 series for RUNNING VMs that run no process.

        The zero series are made only for series the filter keeps and, when aligned, with one
        tick per alignment bucket (zeros average to zero): a seeded project with thousands of
        idle VMs stays cheap to ask.
        """
        project = query.project
        found = self.history.series(project)
        recorded = {info.instance_id for info, _ in found}
        now = time.time()
        for key, doc in self.ctx.store.list(compute.INSTANCE, prefix=f"{project}/"):
            if doc.get("status") != "RUNNING" or str(doc.get("id")) in recorded:
                continue
            if compute.metadata_value(doc, "startup-script"):
                continue  # it has (or is about to have) a process: only real samples count
            since = doc.get("lastStartTimestamp")
            info = info_of(key, doc)
            if not since or not query.filter.matches(info):
                continue
            lo = max(query.start, compute.parse_ts(since), now - self.history_seconds)
            hi = min(query.end, now)
            if hi < lo:
                continue
            points = [
                (t, 0.0) for t in zero_ticks(lo, hi, self.sample_seconds, query.end, query.period)
            ]
            if points:
                found.append((info, points))
        return found

    def query(self, query: Query) -> Page:
        return answer(query, self.candidates(query))

    def injected_fault(self, project: str) -> tuple[int, str] | None:
        """The wire faults of FaultMiddleware, applied to gRPC calls (which bypass it)."""
        faults = self.ctx.faults
        paths = (GRPC_METHOD, f"/v3/projects/{project}/timeSeries")
        if faults.path_prefix and not any(p.startswith(faults.path_prefix) for p in paths):
            return None
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        with self.ctx.lock:
            if faults.fail_next > 0:
                faults.fail_next -= 1
                code = faults.codes[0] if faults.codes else 503
                return code, f"Injected fault ({code})."
        if faults.drop_rate and self.rng.random() < faults.drop_rate:
            return 503, "Injected dropped connection."
        if faults.error_rate and self.rng.random() < faults.error_rate:
            code = self.rng.choice(faults.codes or [503])
            return code, f"Injected fault ({code})."
        return None


_MONITORS: dict[int, Monitor] = {}


def monitor(ctx: SandboxContext) -> Monitor:
    found = _MONITORS.get(id(ctx))
    if found is None or found.ctx is not ctx:
        found = _MONITORS[id(ctx)] = Monitor(ctx, sample_seconds=initial_sample_seconds(ctx))
        found.history.resize(found.max_points())
    return found


# ---------------------------------------------------------------- rendering


def rfc3339(t: float) -> str:
    moment = datetime.fromtimestamp(t, timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def page_json(page: Page) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if page.series:
        body["timeSeries"] = [
            {
                "metric": {"labels": {"instance_name": s.info.name}, "type": METRIC},
                "resource": {
                    "type": RESOURCE,
                    "labels": {
                        "project_id": s.info.project,
                        "instance_id": s.info.instance_id,
                        "zone": s.info.zone,
                    },
                },
                "metricKind": "GAUGE",
                "valueType": "DOUBLE",
                "points": [
                    {
                        "interval": {"startTime": rfc3339(t), "endTime": rfc3339(t)},
                        "value": {"doubleValue": value},
                    }
                    for t, value in s.points
                ],
            }
            for s in page.series
        ]
        body["unit"] = UNIT
    if page.next_token:
        body["nextPageToken"] = page.next_token
    return body


def page_proto(page: Page, response_class: Any) -> Any:
    """The raw protobuf ListTimeSeriesResponse (built directly: it is fast for many points)."""
    from google.api import metric_pb2

    response = response_class()
    for s in page.series:
        series = response.time_series.add()
        series.metric.type = METRIC
        series.metric.labels["instance_name"] = s.info.name
        series.resource.type = RESOURCE
        series.resource.labels["project_id"] = s.info.project
        series.resource.labels["instance_id"] = s.info.instance_id
        series.resource.labels["zone"] = s.info.zone
        series.metric_kind = metric_pb2.MetricDescriptor.GAUGE
        series.value_type = metric_pb2.MetricDescriptor.DOUBLE
        for t, value in s.points:
            point = series.points.add()
            nanos = round(t * 1e9)
            point.interval.end_time.FromNanoseconds(nanos)
            point.interval.start_time.FromNanoseconds(nanos)
            point.value.double_value = value
    if page.series:
        response.unit = UNIT
    response.next_page_token = page.next_token
    return response


# ---------------------------------------------------------------- parsing requests


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(
            400, f'Field {name} had an invalid value of "{raw}": not an integer.'
        ) from exc


def _time(raw: str | None, name: str) -> float | None:
    if not raw:
        return None
    try:
        return compute.parse_ts(raw)
    except ValueError as exc:
        raise ApiError(
            400, f'Field {name} had an invalid value of "{raw}": expected an RFC 3339 time.'
        ) from exc


def query_from_params(project: str, params: Any) -> Query:
    """REST query parameters (camelCase, or snake_case as Google also accepts)."""

    def get(*names: str) -> str:
        for name in names:
            value = params.get(name)
            if value is not None:
                return str(value)
        return ""

    period_text = get("aggregation.alignmentPeriod", "aggregation.alignment_period")
    return build_query(
        name=f"projects/{project}",
        filter_text=get("filter"),
        start=_time(get("interval.startTime", "interval.start_time"), "interval.startTime"),
        end=_time(get("interval.endTime", "interval.end_time"), "interval.endTime"),
        aligner=get("aggregation.perSeriesAligner", "aggregation.per_series_aligner"),
        period=parse_duration(period_text, "aggregation.alignmentPeriod") if period_text else 0.0,
        reducer=get("aggregation.crossSeriesReducer", "aggregation.cross_series_reducer"),
        view=get("view") or "FULL",
        page_size=_int(get("pageSize", "page_size") or "0", "pageSize"),
        page_token=get("pageToken", "page_token"),
    )


def query_from_proto(request: Any) -> Query:
    """A raw protobuf ListTimeSeriesRequest → Query."""
    from google.cloud.monitoring_v3 import Aggregation, ListTimeSeriesRequest

    def stamp(ts: Any) -> float:
        return float(ts.seconds) + ts.nanos / 1e9

    interval = request.interval
    agg = request.aggregation
    try:
        aligner = Aggregation.Aligner(agg.per_series_aligner).name
        reducer = Aggregation.Reducer(agg.cross_series_reducer).name
        view = ListTimeSeriesRequest.TimeSeriesView(request.view).name
    except ValueError as exc:
        raise ApiError(400, f"Invalid enum value in the request: {exc}.") from exc
    return build_query(
        name=request.name,
        filter_text=request.filter,
        start=stamp(interval.start_time) if interval.HasField("start_time") else None,
        end=stamp(interval.end_time) if interval.HasField("end_time") else None,
        aligner=aligner,
        period=stamp(agg.alignment_period) if agg.HasField("alignment_period") else 0.0,
        reducer="" if reducer == "REDUCE_NONE" else reducer,
        view=view,
        page_size=int(request.page_size),
        page_token=request.page_token,
    )


# ---------------------------------------------------------------- the gRPC server


def start_grpc(mon: Monitor, port: int, token: str) -> tuple[Any, int]:
    """Serve MetricService/ListTimeSeries on 127.0.0.1:port (0: any free port) to the owner:
    a call must carry `authorization: Bearer <owner token>` metadata, as Google's clients send
    their access token; any other gets UNAUTHENTICATED."""
    from concurrent import futures

    import grpc
    from google.cloud import monitoring_v3

    request_class = monitoring_v3.ListTimeSeriesRequest.pb()
    response_class = monitoring_v3.ListTimeSeriesResponse.pb()

    def list_time_series(request: Any, context: Any) -> Any:
        project = request.name.removeprefix("projects/")
        try:
            fault = mon.injected_fault(project)
            if fault is not None:
                raise ApiError(*fault)
            return page_proto(mon.query(query_from_proto(request)), response_class)
        except ApiError as exc:
            context.abort(
                getattr(grpc.StatusCode, GRPC_STATUS.get(exc.code, "UNKNOWN")), exc.message
            )
        except Exception as exc:
            log.exception("monitoring ListTimeSeries failed")
            context.abort(grpc.StatusCode.INTERNAL, f"Sandbox internal error: {exc}")

    handler = grpc.method_handlers_generic_handler(
        GRPC_SERVICE,
        {
            "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
                list_time_series,
                request_deserializer=request_class.FromString,
                response_serializer=response_class.SerializeToString,
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="monitoring-grpc"),
        interceptors=[_owner_only(token)],
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{LOOPBACK}:{port}")  # loopback only, never another
    if not bound:  # older grpc answers 0 instead of raising
        raise OSError(f"could not bind {LOOPBACK}:{port}")
    server.start()
    return server, bound


def _owner_only(token: str) -> Any:
    """A server interceptor refusing every call without the owner's bearer token."""
    import grpc

    from tui.sandbox.auth import UNAUTHENTICATED
    from tui.sandbox.owner import token_matches

    def refuse(request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)

    refused = grpc.unary_unary_rpc_method_handler(refuse)

    class OwnerOnly(grpc.ServerInterceptor):  # type: ignore[misc]
        def intercept_service(self, continuation: Any, details: Any) -> Any:
            for key, value in details.invocation_metadata or ():
                if key == "authorization" and isinstance(value, str):
                    scheme, _, presented = value.partition(" ")
                    if scheme.lower() == "bearer" and token and token_matches(presented, token):
                        return continuation(details)
            return refused

    return OwnerOnly()


# ---------------------------------------------------------------- routes and hooks


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    async def time_series_list(request: Request) -> Response:
        query = query_from_params(request.path_params["project"], request.query_params)
        page = await asyncio.to_thread(monitor(ctx).query, query)
        return JSONResponse(page_json(page))

    async def admin(request: Request) -> Response:
        mon = monitor(ctx)
        if request.method == "POST":
            try:
                body = await request.json() if await request.body() else {}
                unknown = set(body) - {"sample_seconds", "history_seconds"}
                if unknown:
                    raise ValueError(f"unknown monitoring settings: {', '.join(sorted(unknown))}")
                sample = body.get("sample_seconds")
                history = body.get("history_seconds")
                mon.configure(
                    None
                    if sample is None
                    else _seconds_setting(sample, "sample_seconds", 0.05, 3600),
                    None
                    if history is None
                    else _seconds_setting(history, "history_seconds", 60, 31 * 86400),
                )
            except (ValueError, TypeError) as exc:
                return error_response(400, str(exc))
        return JSONResponse(
            {
                "grpcEndpoint": f"{LOOPBACK}:{mon.grpc_port}" if mon.grpc_port else None,
                "metric": METRIC,
                "sampleSeconds": mon.sample_seconds,
                "historySeconds": mon.history_seconds,
                "points": len(mon.history),
            }
        )

    return [
        Route("/v3/projects/{project}/timeSeries", time_series_list, methods=["GET"]),
        Route("/_sandbox/monitoring", admin, methods=["GET", "POST"]),
    ]


GRPC_PORT_FILE = "last-grpc-port"  # like the REST port: a restart keeps its address


def _previous_grpc_port(ctx: SandboxContext) -> int:
    try:
        return int((ctx.data_dir / GRPC_PORT_FILE).read_text().strip())
    except (OSError, ValueError):
        return 0


async def startup(ctx: SandboxContext) -> None:
    mon = monitor(ctx)
    raw_port = os.environ.get("CLOUDPANE_SANDBOX_MONITORING_PORT", "") or "0"
    # A TUI that still holds a channel to the old port reconnects when the port is the same.
    candidates = [int(raw_port)] if raw_port != "0" else [_previous_grpc_port(ctx), 0]
    mon.grpc_server, mon.grpc_port = None, None
    for port in dict.fromkeys(candidates):
        try:
            mon.grpc_server, mon.grpc_port = start_grpc(mon, port, ctx.owner_token)
        except Exception:  # REST still works; the discovery endpoint says gRPC is missing
            log.exception("could not start the Cloud Monitoring gRPC server on port %s", port)
            continue
        log.info("Cloud Monitoring (gRPC) on %s:%d", LOOPBACK, mon.grpc_port)
        with contextlib.suppress(OSError):
            (ctx.data_dir / GRPC_PORT_FILE).write_text(str(mon.grpc_port))
        break
    mon.task = asyncio.create_task(mon.run(), name="monitoring sampler")


async def shutdown(ctx: SandboxContext) -> None:
    mon = monitor(ctx)
    if mon.task is not None:
        mon.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await mon.task
        mon.task = None
    if mon.grpc_server is not None:
        await asyncio.to_thread(lambda: mon.grpc_server.stop(grace=0.5).wait(2.0))
        mon.grpc_server = None


def reset(ctx: SandboxContext) -> None:
    mon = monitor(ctx)
    mon.history.clear()
    mon.last.clear()
