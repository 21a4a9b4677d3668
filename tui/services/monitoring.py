"""Cloud Monitoring for idle detection: CPU utilisation of VMs over the last minutes.

One `timeSeries.list` call (all pages) for all instances of interest, through Google's
google-cloud-monitoring client. That client speaks gRPC only, so the Backend's endpoint decides
the channel: Google's default (TLS, Application Default Credentials) when the endpoint is None;
for a local `http://` endpoint (the sandbox) a plaintext channel to the gRPC address that the
server names at `GET /_sandbox/monitoring`, each call carrying the backend's bearer token as
Google's clients carry theirs (`authorization` metadata; the sandbox serves only its owner).
The request, the response and every retry are the same code either way.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from tui.services.clients import Backend, call, read_retry
from tui.services.errors import InvalidArgument, Unavailable
from tui.services.models import Instance

CPU_METRIC = "compute.googleapis.com/instance/cpu/utilization"
# Above this many instances the filter names none (Google limits a filter's length) and the
# answer is narrowed here instead.
MAX_IDS_IN_FILTER = 40
CALL_TIMEOUT = 30.0

Samples = dict[str, list[tuple[datetime, float]]]

_CLIENTS: dict[Backend, Any] = {}
_LOCK = threading.Lock()


def grpc_target(backend: Backend) -> str:
    """Where a plaintext-endpoint backend serves Monitoring's gRPC (asked once per client)."""
    assert backend.endpoint is not None
    url = f"{backend.endpoint.rstrip('/')}/_sandbox/monitoring"
    request = urllib.request.Request(url, headers=_auth_metadata(backend))
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            found = json.loads(resp.read()).get("grpcEndpoint")
    except urllib.error.HTTPError as exc:
        raise Unavailable(
            f"The server at {backend.endpoint} does not serve Cloud Monitoring (HTTP {exc.code}).",
            "Restart the sandbox (cloudpane sandbox stop; cloudpane sandbox start) to update it.",
        ) from exc
    except (OSError, ValueError) as exc:
        raise Unavailable(
            f"Could not reach the sandbox's Cloud Monitoring at {backend.endpoint} ({exc}).",
            "Check that the sandbox is running: cloudpane sandbox status.",
        ) from exc
    if not found:
        raise Unavailable(
            f"The sandbox at {backend.endpoint} could not start its Cloud Monitoring service.",
            "See sandbox.log in the sandbox's data directory.",
        )
    return str(found)


def _auth_metadata(backend: Backend) -> dict[str, str]:
    """The bearer token for a plaintext (sandbox) endpoint, once the daemon proved itself."""
    creds = backend.credentials
    if hasattr(creds, "auth_header"):  # SandboxCredentials: guarded against a stranger
        return {"authorization": creds.auth_header()}
    token = getattr(creds, "token", None)
    return {"authorization": f"Bearer {token}"} if token else {}


def _with_token(channel: Any, backend: Backend) -> Any:
    """The channel, each call of it carrying the backend's bearer token."""
    import grpc

    class Token(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            metadata = list(details.metadata or []) + list(_auth_metadata(backend).items())
            return continuation(details._replace(metadata=metadata), request)

    return grpc.intercept_channel(channel, Token())


def monitoring_client(backend: Backend) -> Any:
    """A MetricServiceClient for this backend, built once (google-cloud-monitoring is gRPC)."""
    with _LOCK:
        found = _CLIENTS.get(backend)
    if found is not None:
        return found
    from google.cloud import monitoring_v3

    if backend.endpoint is None:
        client = monitoring_v3.MetricServiceClient(credentials=backend.credentials)
    elif backend.endpoint.startswith("http://"):
        import grpc
        from google.cloud.monitoring_v3.services.metric_service.transports import (
            MetricServiceGrpcTransport,
        )

        # As the GAPIC transport does for its own channels: no 4 MB cap on a page of points.
        channel = grpc.insecure_channel(
            grpc_target(backend),
            options=[
                ("grpc.max_send_message_length", -1),
                ("grpc.max_receive_message_length", -1),
            ],
        )
        channel = _with_token(channel, backend)
        client = monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )
    else:  # another TLS endpoint (a private or regional one): host[:port]
        host = backend.endpoint.removeprefix("https://").rstrip("/")
        client = monitoring_v3.MetricServiceClient(
            credentials=backend.credentials, client_options={"api_endpoint": host}
        )
    with _LOCK:
        return _CLIENTS.setdefault(backend, client)


def forget_client(backend: Backend) -> None:
    """Drop the cached client (a restarted sandbox serves gRPC on another port)."""
    with _LOCK:
        _CLIENTS.pop(backend, None)


def cpu_filter(ids: Sequence[str]) -> str:
    text = f'metric.type = "{CPU_METRIC}" AND resource.type = "gce_instance"'
    if ids and len(ids) <= MAX_IDS_IN_FILTER:
        quoted = ", ".join(f'"{i}"' for i in ids)
        text += f" AND resource.labels.instance_id = one_of({quoted})"
    return text


def latest_utilisation(
    samples: Mapping[str, Sequence[tuple[datetime, float]]],
    now: datetime | None = None,
    max_age: timedelta = timedelta(minutes=5),
) -> dict[str, float]:
    """The newest sample of each instance (0..1), if it is recent — for a CPU column."""
    now = now or datetime.now(timezone.utc)
    found: dict[str, float] = {}
    for key, points in samples.items():
        if points:
            stamp, value = max(points, key=lambda p: p[0])
            if now - stamp <= max_age:
                found[key] = value
    return found


class MonitoringService:
    """CPU utilisation of Compute Engine instances; every method is async."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def project(self) -> str:
        return self.backend.project

    async def cpu_samples(
        self,
        instances: Iterable[Instance],
        minutes: float = 60,
        *,
        alignment_seconds: int | None = 60,
        now: datetime | None = None,
    ) -> Samples:
        """{instance id: [(time, utilisation 0..1), …] oldest first} over the last `minutes`.

        `alignment_seconds` averages each series per period (ALIGN_MEAN; Google wants ≥ 60 s);
        None returns the raw samples (every 60 s on Google, every few seconds in the sandbox).
        Instances without samples in the window are absent. One call, all pages, reads
        retried; errors become CloudpaneError.
        """
        wanted = {i.id: i for i in instances}
        if not wanted:
            return {}
        if minutes <= 0:
            raise InvalidArgument(f"The CPU window must be positive, got {minutes:g} minutes.")
        if alignment_seconds is not None and alignment_seconds < 60:
            raise InvalidArgument(
                f"Cloud Monitoring aligns over 60 s or more, got {alignment_seconds} s.",
                "Use alignment_seconds=None for the raw samples.",
            )
        end = now or datetime.now(timezone.utc)
        start = end - timedelta(minutes=minutes)
        ids = sorted(wanted)

        def fetch() -> Samples:
            from google.cloud import monitoring_v3

            client = monitoring_client(self.backend)
            request: dict[str, Any] = {
                "name": f"projects/{self.project}",
                "filter": cpu_filter(ids),
                "interval": monitoring_v3.TimeInterval(start_time=start, end_time=end),
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
            if alignment_seconds is not None:
                request["aggregation"] = monitoring_v3.Aggregation(
                    alignment_period={"seconds": int(alignment_seconds)},
                    per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_MEAN,
                )
            found: Samples = {}
            try:
                pager = client.list_time_series(
                    request=request, retry=read_retry(), timeout=CALL_TIMEOUT
                )
                for series in pager:
                    raw = type(series).pb(series)
                    instance_id = raw.resource.labels.get("instance_id", "")
                    if instance_id not in wanted:
                        continue
                    points = found.setdefault(instance_id, [])
                    for point in raw.points:
                        stamp = point.interval.end_time.ToDatetime(tzinfo=timezone.utc)
                        points.append((stamp, float(point.value.double_value)))
            except Exception as exc:
                from google.api_core import exceptions as gexc

                if isinstance(exc, gexc.ServiceUnavailable | gexc.RetryError):
                    forget_client(self.backend)  # rediscover the endpoint next time
                raise
            for points in found.values():
                points.sort(key=lambda p: p[0])
            return found

        return await call(fetch, action="read CPU utilisation")
