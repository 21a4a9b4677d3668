"""Cloud Monitoring against the sandbox: Google's MetricServiceClient (gRPC), the REST surface
and MonitoringService — real clients, real wire, nothing of Google mocked."""

from __future__ import annotations

import http.server
import itertools
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from google.api import metric_pb2
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3

from tests.conftest import as_owner
from tui.sandbox import daemon, owner
from tui.sandbox.monitoring import zero_ticks
from tui.sandbox.monitoring_query import CpuHistory, SeriesInfo, align
from tui.services import errors
from tui.services.clients import Backend, sandbox_backend
from tui.services.compute import ComputeService
from tui.services.models import Image, Instance, InstanceSpec
from tui.services.monitoring import (
    CPU_METRIC,
    MAX_IDS_IN_FILTER,
    MonitoringService,
    latest_utilisation,
    monitoring_client,
)

ZONE = "us-central1-a"
CPU = f'metric.type = "{CPU_METRIC}"'
SAMPLE_SECONDS = 0.5


@pytest.fixture
def fast_sampling(sandbox_info: daemon.SandboxInfo) -> Iterator[float]:
    """Sample every 0.5 s for this test; the sandbox's own period afterwards."""
    previous = daemon.admin(sandbox_info, "monitoring", {})["sampleSeconds"]
    daemon.admin(sandbox_info, "monitoring", {"sample_seconds": SAMPLE_SECONDS})
    yield SAMPLE_SECONDS
    daemon.admin(sandbox_info, "monitoring", {"sample_seconds": previous})


@pytest.fixture
def mon(clean_sandbox: Backend, fast_sampling: float) -> Backend:
    return clean_sandbox


def client(backend: Backend) -> Any:
    return monitoring_client(backend)


async def create(backend: Backend, name: str, **kw: Any) -> Instance:
    svc = ComputeService(backend)
    values: dict[str, Any] = {
        "name": name,
        "zone": ZONE,
        "machine_type": "e2-medium",
        "image": Image("debian-cloud", "debian-12"),
        "disk_size_gb": 10,
    }
    values.update(kw)
    spec = InstanceSpec(**values)
    await svc.wait_operation(await svc.create_instance(spec), timeout=30)
    return await svc.get_instance(ZONE, name)


def window(minutes: float = 5, end: datetime | None = None) -> monitoring_v3.TimeInterval:
    end = end or datetime.now(timezone.utc)
    return monitoring_v3.TimeInterval(start_time=end - timedelta(minutes=minutes), end_time=end)


def list_series(backend: Backend, filter: str = CPU, **request: Any) -> list[Any]:
    body: dict[str, Any] = {
        "name": f"projects/{backend.project}",
        "filter": filter,
        "interval": window(),
    }
    body.update(request)
    return list(client(backend).list_time_series(request=body))


def wait_points(
    backend: Backend, count: int, series: int = 1, filter: str = CPU, timeout: float = 10
) -> list[Any]:
    """The series once `series` of them have at least `count` points each."""
    deadline = time.monotonic() + timeout
    while True:
        found = list_series(backend, filter)
        if len(found) >= series and all(len(s.points) >= count for s in found):
            return found
        assert time.monotonic() < deadline, f"fewer than {count} points within {timeout} s"
        time.sleep(0.2)


# ---------------------------------------------------------------- through Google's client


async def test_idle_vm_series_through_googles_client(mon: Backend) -> None:
    inst = await create(mon, "quiet")
    (series,) = wait_points(mon, 3)
    assert series.metric.type == CPU_METRIC
    assert dict(series.metric.labels) == {"instance_name": "quiet"}
    assert series.resource.type == "gce_instance"
    assert dict(series.resource.labels) == {
        "project_id": mon.project,
        "instance_id": inst.id,
        "zone": ZONE,
    }
    assert series.metric_kind == metric_pb2.MetricDescriptor.GAUGE
    assert series.value_type == metric_pb2.MetricDescriptor.DOUBLE
    stamps = [p.interval.end_time for p in series.points]
    assert stamps == sorted(stamps, reverse=True), "points come newest first, as Google's"
    assert inst.last_start is not None and min(stamps) >= inst.last_start
    assert {p.value.double_value for p in series.points} == {0.0}  # no process: an idle VM
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(abs(g - SAMPLE_SECONDS) < 0.01 for g in gaps)


async def test_filters_select_series(mon: Backend) -> None:
    first = await create(mon, "alpha")
    await create(mon, "beta")
    wait_points(mon, 1, series=2)
    assert {s.metric.labels["instance_name"] for s in list_series(mon)} == {"alpha", "beta"}
    by_name = list_series(mon, f'{CPU} AND metric.labels.instance_name = "beta"')
    assert [s.metric.labels["instance_name"] for s in by_name] == ["beta"]
    by_id = list_series(mon, f'{CPU} AND resource.labels.instance_id = one_of("{first.id}", "123")')
    assert [s.resource.labels["instance_id"] for s in by_id] == [first.id]
    assert [
        s.metric.labels["instance_name"]
        for s in list_series(mon, f'{CPU} AND resource.label.zone != "{ZONE}"')
    ] == []
    starts = list_series(mon, f'{CPU} AND metric.labels.instance_name = starts_with("al")')
    assert [s.metric.labels["instance_name"] for s in starts] == ["alpha"]
    other_metric = 'metric.type = "compute.googleapis.com/instance/disk/read_bytes_count"'
    assert list_series(mon, other_metric) == []
    # An interval before the VMs existed has no series.
    assert (
        list_series(mon, interval=window(1, datetime.now(timezone.utc) - timedelta(hours=1))) == []
    )


@pytest.mark.parametrize(
    ("filter", "words"),
    [
        ("", "metric type"),
        ('resource.type = "gce_instance"', "metric type"),
        (f'{CPU} OR metric.labels.instance_name = "x"', "AND only"),
        (f'{CPU} AND metric.labels.color = "red"', "not a label of this metric"),
        (f"{CPU} AND resource.labels.instance_id", "cannot read"),
        (f"{CPU} AND", "ends with AND"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(
    clean_sandbox: Backend, filter: str, words: str
) -> None:
    with pytest.raises(gexc.InvalidArgument) as caught:
        list_series(clean_sandbox, filter)
    assert words in caught.value.message


def test_bad_requests_are_refused(clean_sandbox: Backend) -> None:
    agg = monitoring_v3.Aggregation
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"aggregation": agg(alignment_period={"seconds": 30}, per_series_aligner="ALIGN_MEAN")},
            "at least 60 seconds",
        ),
        ({"aggregation": agg(per_series_aligner="ALIGN_MEAN")}, "alignmentPeriod is required"),
        (
            {"aggregation": agg(alignment_period={"seconds": 60}, per_series_aligner="ALIGN_RATE")},
            "ALIGN_MEAN",
        ),
        (
            {
                "aggregation": agg(
                    alignment_period={"seconds": 60},
                    per_series_aligner="ALIGN_MEAN",
                    cross_series_reducer="REDUCE_MEAN",
                )
            },
            "REDUCE_NONE",
        ),
        ({"interval": monitoring_v3.TimeInterval()}, "endTime is required"),
        (
            {
                "interval": monitoring_v3.TimeInterval(
                    start_time=datetime.now(timezone.utc),
                    end_time=datetime.now(timezone.utc) - timedelta(minutes=1),
                )
            },
            "later than endTime",
        ),
        ({"name": "organizations/1"}, "projects/PROJECT_ID"),
        ({"page_token": "not-a-token"}, "pageToken"),
    ]
    for request, words in cases:
        with pytest.raises(gexc.InvalidArgument) as caught:
            list_series(clean_sandbox, **request)
        assert words in caught.value.message, (request, caught.value.message)


async def test_headers_view_and_paging(mon: Backend) -> None:
    await create(mon, "p1")
    await create(mon, "p2")
    wait_points(mon, 4, series=2)
    fixed = window(5)
    full = list_series(mon, interval=fixed)
    headers = list_series(
        mon, interval=fixed, view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS
    )
    assert [s.metric.labels["instance_name"] for s in headers] == ["p1", "p2"]
    assert all(len(s.points) == 0 for s in headers)
    pager = client(mon).list_time_series(
        request={
            "name": f"projects/{mon.project}",
            "filter": CPU,
            "interval": fixed,
            "page_size": 3,
        }
    )
    pages = list(pager.pages)
    total = sum(len(s.points) for s in full)
    assert len(pages) == -(-total // 3) and all(
        sum(len(s.points) for s in page.time_series) <= 3 for page in pages
    )
    joined: dict[str, list[Any]] = {}
    for page in pages:  # a long series continues on the next page
        for s in page.time_series:
            joined.setdefault(s.metric.labels["instance_name"], []).extend(s.points)
    assert {k: [p.interval.end_time for p in v] for k, v in joined.items()} == {
        s.metric.labels["instance_name"]: [p.interval.end_time for p in s.points] for s in full
    }


async def test_stopped_vm_gets_no_new_points(mon: Backend) -> None:
    await create(mon, "stopper")
    wait_points(mon, 2)
    svc = ComputeService(mon)
    await svc.wait_operation(await svc.stop_instance(ZONE, "stopper"), timeout=30)
    stopped_at = datetime.now(timezone.utc)
    time.sleep(SAMPLE_SECONDS * 3)
    after = monitoring_v3.TimeInterval(
        start_time=stopped_at + timedelta(seconds=0.01), end_time=datetime.now(timezone.utc)
    )
    assert list_series(mon, interval=after) == []


# ---------------------------------------------------------------- the REST surface


def rest(info: daemon.SandboxInfo, **params: Any) -> tuple[int, dict[str, Any]]:
    query = urllib.parse.urlencode(params)
    url = f"{info.url}/v3/projects/{info.project}/timeSeries?{query}"
    try:
        with urllib.request.urlopen(as_owner(info, url), timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_rest_surface_speaks_googles_json(
    mon: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    inst = await create(mon, "resty")
    wait_points(mon, 3)
    end = datetime.now(timezone.utc)
    status, body = rest(
        sandbox_info,
        **{
            "filter": f'{CPU} AND resource.labels.instance_id = "{inst.id}"',
            "interval.startTime": (end - timedelta(minutes=5)).isoformat(),
            "interval.endTime": end.isoformat(),
            "pageSize": 2,
        },
    )
    assert status == 200 and body["unit"] == "10^2.%"
    (series,) = body["timeSeries"]
    assert series["metricKind"] == "GAUGE" and series["valueType"] == "DOUBLE"
    assert series["resource"] == {
        "type": "gce_instance",
        "labels": {"project_id": mon.project, "instance_id": inst.id, "zone": ZONE},
    }
    assert len(series["points"]) == 2 and series["points"][0]["value"] == {"doubleValue": 0.0}
    assert series["points"][0]["interval"]["endTime"].endswith("Z")
    assert body["nextPageToken"]
    status, body = rest(
        sandbox_info, filter="metric.type = ", **{"interval.endTime": end.isoformat()}
    )
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    status, body = rest(sandbox_info, filter=CPU)
    assert status == 400 and "endTime is required" in body["error"]["message"]
    status, body = rest(
        sandbox_info,
        filter=CPU,
        **{"interval.endTime": "yesterday", "aggregation.alignmentPeriod": "60s"},
    )
    assert status == 400 and "RFC 3339" in body["error"]["message"]


def test_admin_settings_are_validated(sandbox_info: daemon.SandboxInfo) -> None:
    current = daemon.admin(sandbox_info, "monitoring", {})
    assert current["grpcEndpoint"].startswith("127.0.0.1:")
    assert current["metric"] == CPU_METRIC
    for bad in ({"sample_seconds": 0}, {"sample_seconds": "fast"}, {"colour": 1}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            daemon.admin(sandbox_info, "monitoring", bad)
        assert caught.value.code == 400


# ---------------------------------------------------------------- MonitoringService


async def test_service_cpu_samples_keyed_by_instance_id(mon: Backend) -> None:
    inst = await create(mon, "svc-cpu")
    wait_points(mon, 3)
    service = MonitoringService(mon)
    raw = await service.cpu_samples([inst], minutes=5, alignment_seconds=None)
    assert list(raw) == [inst.id]
    stamps = [t for t, _ in raw[inst.id]]
    assert stamps == sorted(stamps) and len(stamps) >= 3, "oldest first"
    assert all(v == 0.0 for _, v in raw[inst.id])
    aligned = await service.cpu_samples([inst], minutes=5)
    assert 1 <= len(aligned[inst.id]) <= 6  # one mean per minute
    assert latest_utilisation(raw) == {inst.id: 0.0}
    # Many instances: the filter names none, the answer is narrowed client-side.
    strangers = [
        Instance(
            id=str(9000 + n), name=f"x{n}", zone=ZONE, status="RUNNING", machine_type="e2-medium"
        )
        for n in range(MAX_IDS_IN_FILTER + 1)
    ]
    many = await service.cpu_samples([*strangers, inst], minutes=5, alignment_seconds=None)
    assert list(many) == [inst.id]
    assert await service.cpu_samples([], minutes=5) == {}


async def test_service_rejects_bad_arguments(clean_sandbox: Backend) -> None:
    service = MonitoringService(clean_sandbox)
    inst = Instance(id="1", name="x", zone=ZONE, status="RUNNING", machine_type="e2-medium")
    with pytest.raises(errors.InvalidArgument, match="positive"):
        await service.cpu_samples([inst], minutes=0)
    with pytest.raises(errors.InvalidArgument, match="60 s or more"):
        await service.cpu_samples([inst], alignment_seconds=10)


async def test_service_retries_reads_and_translates_errors(mon: Backend, faults: Any) -> None:
    inst = await create(mon, "flaky")
    wait_points(mon, 1)
    service = MonitoringService(mon)
    faults(fail_next=2, codes=[503], path_prefix="/v3/")
    found = await service.cpu_samples([inst], minutes=5, alignment_seconds=None)
    assert inst.id in found, "two UNAVAILABLE answers were retried"
    faults(fail_next=1, codes=[403], path_prefix="/v3/")
    with pytest.raises(errors.PermissionDenied, match="read CPU utilisation"):
        await service.cpu_samples([inst], minutes=5)
    faults(fail_next=1, codes=[400], path_prefix="/google.monitoring")
    with pytest.raises(errors.InvalidArgument):
        await service.cpu_samples([inst], minutes=5)


async def test_service_says_when_the_sandbox_is_unreachable(tmp_path: Path) -> None:
    own = tmp_path / "sandbox"
    owner.ensure_token(own)  # a sandbox folder whose daemon is not running
    gone = sandbox_backend("http://127.0.0.1:9", "nowhere", data_dir=own)
    inst = Instance(id="1", name="x", zone=ZONE, status="RUNNING", machine_type="e2-medium")
    with pytest.raises(errors.Unavailable, match="sandbox status"):
        await MonitoringService(gone).cpu_samples([inst])

    class NotASandbox(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotASandbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # The folder says a live daemon (this process) owns the port, but what answers there
        # cannot prove it holds the token: it is refused before anything is sent to it.
        url = f"http://127.0.0.1:{server.server_port}"
        (own / "sandbox.json").write_text(json.dumps({"pid": os.getpid(), "url": url}))
        other = sandbox_backend(url, "p", data_dir=own)
        with pytest.raises(errors.Unavailable, match="not your sandbox"):
            await MonitoringService(other).cpu_samples([inst])
    finally:
        server.shutdown()


# ---------------------------------------------------------------- pure parts


def test_alignment_buckets_end_at_the_interval_end() -> None:
    end = 1000.0
    points = [(1000.0, 0.5), (970.0, 0.1), (940.0, 0.9), (939.0, 0.3), (880.0, 0.4)]
    # Buckets (940, 1000], (880, 940], (820, 880]: newest first, at each bucket's end.
    assert align(points, end, 60, "ALIGN_MEAN") == [(1000.0, 0.3), (940.0, 0.6), (880.0, 0.4)]
    assert align(points, end, 60, "ALIGN_MAX")[1] == (940.0, 0.9)
    assert align(points, end, 60, "ALIGN_MIN")[0] == (1000.0, 0.1)


def test_history_is_bounded() -> None:
    history = CpuHistory(max_points=3)
    info = SeriesInfo("p", ZONE, "1", "vm")
    for t in range(5):
        history.add(info, float(t), 0.1)
    assert len(history) == 3
    assert [t for t, _ in history.series("p")[0][1]] == [2.0, 3.0, 4.0]
    history.trim(oldest=4.0)
    assert len(history) == 1
    history.trim(oldest=10.0)
    assert history.series("p") == []


def test_zero_ticks_for_idle_vms() -> None:
    assert zero_ticks(1.2, 2.6, 0.5, 2.6, 0) == [1.5, 2.0, 2.5]
    # Aligned: the newest tick of each 60 s bucket, even a bucket the VM started inside.
    assert zero_ticks(100.2, 130.0, 0.5, 130.0, 60) == [130.0]
    assert zero_ticks(5.0, 130.0, 0.5, 130.0, 60) == [10.0, 70.0, 130.0]
    assert zero_ticks(125.0, 130.0, 0.5, 200.0, 60) == [130.0]  # the interval ends later
    assert zero_ticks(131.0, 130.0, 0.5, 130.0, 60) == []
