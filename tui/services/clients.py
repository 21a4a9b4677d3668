"""Backend (project, credentials, endpoint) → lazily built google-cloud clients.

The services never know whether they talk to Google or to the sandbox: a Backend carries the
only differences — the credentials (Application Default Credentials, or the sandbox owner's
token, sent only to the daemon that proves it holds it: sandbox_auth.py) and the API endpoint (None for Google's defaults, `http://127.0.0.1:PORT` for the
sandbox; the REST transports honour an `http://` endpoint). Client libraries are imported
inside the factories: google-cloud-compute alone takes seconds to import, and start-up must not.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tui.services.errors import NoCredentials, is_rate_limit, translate

T = TypeVar("T")


@dataclass(frozen=True)
class Backend:
    project: str
    credentials: Any = field(repr=False, compare=False)
    endpoint: str | None = None  # None: Google's own endpoints
    is_sandbox: bool = False
    region: str = "us-central1"
    zone: str = "us-central1-a"

    @property
    def label(self) -> str:
        return "sandbox" if self.is_sandbox else "Google Cloud"

    def client_options(self) -> dict[str, Any]:
        return {"api_endpoint": self.endpoint} if self.endpoint else {}

    def regional_options(self, region: str) -> dict[str, Any]:
        """Vertex AI has one endpoint per region on Google; the sandbox serves all."""
        if self.endpoint:
            return {"api_endpoint": self.endpoint}
        return {"api_endpoint": f"{region}-aiplatform.googleapis.com"}


def sandbox_backend(
    url: str,
    project: str,
    region: str = "us-central1",
    zone: str = "us-central1-a",
    *,
    data_dir: Path,
    daemon_url: str | None = None,
) -> Backend:
    """The sandbox whose data directory is `data_dir` (its owner token is read from there).

    `daemon_url`: the daemon's own address when `url` is a relay in front of it that the
    caller set up (the tests' fault-injecting proxy); the daemon must prove it is there.
    """
    from tui.sandbox.owner import read_token
    from tui.services.sandbox_auth import SandboxCredentials

    token = read_token(data_dir)
    if not token:
        raise NoCredentials(
            f"The sandbox's owner token is missing from {data_dir}.",
            "Restart the sandbox: cloudpane sandbox stop; cloudpane sandbox start.",
        )
    credentials = SandboxCredentials(token, url, data_dir, daemon_url)
    return Backend(project, credentials, url, True, region, zone)


_CLIENTS: dict[tuple[Backend, int, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _cached_client(factory: Callable[[], Any], backend: Backend, key: str) -> Any:
    # Backend equality ignores credentials; a client is bound to its credentials object.
    cache_key = (backend, id(backend.credentials), key)
    with _CLIENTS_LOCK:
        found = _CLIENTS.get(cache_key)
        if found is None:
            found = _CLIENTS[cache_key] = factory()
        return found


def client(backend: Backend, name: str, factory: Callable[[], T]) -> T:
    """One client per (backend, name), built on first use (off the UI thread)."""
    return _cached_client(factory, backend, name)  # type: ignore[no-any-return]


def compute_client(backend: Backend, kind: str) -> Any:
    """A google-cloud-compute REST client, e.g. kind="InstancesClient"."""

    def build() -> Any:
        from google.cloud import compute_v1

        cls = getattr(compute_v1, kind)
        return cls(
            credentials=backend.credentials,
            transport="rest",
            client_options=backend.client_options() or None,
        )

    return _cached_client(build, backend, f"compute.{kind}")


def read_retry(timeout: float = 15.0) -> Any:
    """Retry for idempotent calls (reads, and writes made idempotent by a request ID):
    throttling (429, and Compute's 403 `rateLimitExceeded`), brief outages and dropped
    connections, for up to `timeout` seconds."""
    import requests
    from google.api_core import exceptions as gexc
    from google.api_core import retry

    transient = retry.if_exception_type(
        gexc.TooManyRequests,
        gexc.ServiceUnavailable,
        gexc.InternalServerError,
        gexc.BadGateway,
        gexc.GatewayTimeout,
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
        ConnectionError,
    )

    def predicate(exc: Exception) -> bool:
        return bool(transient(exc)) or is_rate_limit(exc)

    return retry.Retry(
        predicate=predicate,
        initial=0.25,
        maximum=4.0,
        multiplier=2.0,
        timeout=timeout,
    )


async def call(fn: Callable[..., T], *args: Any, action: str = "", **kwargs: Any) -> T:
    """Run a blocking client call in a thread; errors become CloudpaneError."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except Exception as exc:
        raise translate(exc, action) from exc
