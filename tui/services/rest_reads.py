"""The lists `cloudpane status` and `watch` read, as REST JSON through google-auth alone.

Why: importing google-cloud-compute takes about 2 s and google-cloud-aiplatform 3–5 s, only to
read two lists; `gcloud compute instances list` answers in less. The list endpoints' JSON is
read here with google-auth's `AuthorizedSession` (a light import) and parsed by the SAME
functions the GAPIC services use (`instance_from_json`, `job_from_resource`,
`tuning_job_from_resource`): one parser per resource. The TUI keeps the GAPIC clients.

Same behaviour as the services: the same endpoints (Google's, or the Backend's, e.g. the
sandbox), the same partial-response mask, the same retries (`read_retry`), and HTTP errors turned
into google-api-core exceptions (`from_http_response`) and then into CloudpaneErrors by
`translate`, with the same actions — so messages and exit codes do not change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from tui.services.clients import Backend, call, read_retry
from tui.services.compute import (
    INSTANCE_LIST_FIELDS,
    disk_path,
    instance_from_json,
    short_name,
)
from tui.services.errors import CloudpaneError, MalformedAnswer
from tui.services.models import Instance

COMPUTE = "https://compute.googleapis.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
DISK_LIST_FIELDS = "nextPageToken,items/*/disks(selfLink,type)"
TIMEOUT_S = 60.0


def compute_root(backend: Backend) -> str:
    return (backend.endpoint or COMPUTE).rstrip("/")


def vertex_root(backend: Backend, region: str) -> str:
    """Vertex AI has one host per region on Google; a Backend endpoint (the sandbox) serves all."""
    return (backend.endpoint or f"https://{region}-aiplatform.googleapis.com").rstrip("/")


class RestReader:
    """Reads list endpoints page by page with the Backend's credentials."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _session(self) -> Any:
        from google.auth import credentials as gcreds
        from google.auth.transport.requests import AuthorizedSession

        # As the GAPIC clients do: service-account credentials need a scope, user ones do not.
        creds = gcreds.with_scopes_if_required(
            self.backend.credentials, None, default_scopes=[CLOUD_PLATFORM]
        )
        return AuthorizedSession(creds)

    def pages(
        self, url: str, key: str, params: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Iterator[Any]:
        """Every page's `key` (a list, or a map for aggregated lists), following nextPageToken.
        Each page is retried as the services' reads are; an HTTP error raises google-api-core's
        exception for it (translate makes it a CloudpaneError)."""
        from google.api_core import exceptions as gexc

        session = self._session()
        try:

            def one_page(token: str) -> dict[str, Any]:
                query = {**params, **({"pageToken": token} if token else {})}
                response = session.get(url, params=query, headers=headers, timeout=TIMEOUT_S)
                if response.status_code >= 400:
                    raise gexc.from_http_response(response)
                return expect(response.json(), dict, "the answer")

            token = ""
            while True:
                body = read_retry()(one_page)(token)
                found = body.get(key)
                if found:
                    yield found
                token = str(body.get("nextPageToken") or "")
                if not token:
                    return
        finally:
            session.close()

    # ---- Compute Engine

    def instance_dicts(
        self, mask: str = INSTANCE_LIST_FIELDS, filter: str = ""
    ) -> list[dict[str, Any]]:
        """instances.aggregatedList (all pages) as REST JSON dicts, with the services' mask."""
        from google.api_core.exceptions import BadRequest

        url = f"{compute_root(self.backend)}/compute/v1/projects/{self.backend.project}"
        url += "/aggregated/instances"
        params: dict[str, Any] = {"maxResults": 500}
        if filter:
            params["filter"] = filter

        def read(fields: str) -> list[dict[str, Any]]:
            headers = {"X-Goog-FieldMask": fields} if fields else None
            found: list[dict[str, Any]] = []
            for scopes in self.pages(url, "items", params, headers):
                for scoped in expect(scopes, dict, "items").values():
                    found.extend(
                        expect(
                            expect(scoped, dict, "a zone").get("instances") or [], list, "instances"
                        )
                    )
            return found

        try:
            return read(mask)
        except BadRequest:
            if not mask:
                raise
            return read("")  # a mask the API refuses must never cost the listing

    def disk_types(self) -> dict[str, str]:
        """{disk_path(disk link): short type} for every disk (disks.aggregatedList)."""
        url = f"{compute_root(self.backend)}/compute/v1/projects/{self.backend.project}"
        url += "/aggregated/disks"
        found: dict[str, str] = {}
        headers = {"X-Goog-FieldMask": DISK_LIST_FIELDS}
        for scopes in self.pages(url, "items", {"maxResults": 500}, headers):
            for scoped in expect(scopes, dict, "items").values():
                for disk in expect(
                    expect(scoped, dict, "a zone").get("disks") or [], list, "disks"
                ):
                    found[disk_path(str(disk.get("selfLink", "")))] = short_name(
                        str(disk.get("type", ""))
                    )
        return found

    async def list_instances(self) -> list[Instance]:
        """Every instance with its disk types, as ComputeService.list_instances gives them."""

        async def types_or_none() -> dict[str, str] | None:
            try:
                return await call(self.disk_types, action="list disks")
            except CloudpaneError:
                return None  # types unknown; the instances are still worth showing

        found, types = await asyncio.gather(
            call(self.instance_dicts, action="list instances"), types_or_none()
        )
        return [instance_from_json(item, types) for item in found]

    # ---- Vertex AI

    def _vertex_list(self, region: str, collection: str) -> list[dict[str, Any]]:
        parent = f"projects/{self.backend.project}/locations/{region}"
        url = f"{vertex_root(self.backend, region)}/v1/{parent}/{collection}"
        found: list[dict[str, Any]] = []
        for page in self.pages(url, collection, {"pageSize": 100}):
            found.extend(item for item in expect(page, list, collection) if isinstance(item, dict))
        return found

    async def list_jobs(self, region: str) -> list[Any]:
        """The region's custom jobs, newest first (as JobsService.list_jobs)."""
        from tui.services.jobs import job_from_resource

        found = await call(
            self._vertex_list, region, "customJobs", action=f"list training jobs in {region}"
        )
        return _newest_first([job_from_resource(item) for item in found])

    async def list_tuning_jobs(self, region: str) -> list[Any]:
        """The region's tuning jobs, newest first (as TuningService.list_jobs)."""
        from tui.services.tuning import tuning_job_from_resource

        found = await call(
            self._vertex_list,
            region,
            "hyperparameterTuningJobs",
            action=f"list tuning jobs in {region}",
        )
        return _newest_first([tuning_job_from_resource(item) for item in found])


def _newest_first(jobs: list[Any]) -> list[Any]:
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(jobs, key=lambda j: j.created or epoch, reverse=True)


def expect(value: Any, kind: type, what: str) -> Any:
    """`value` if it has the documented JSON type, else MalformedAnswer (reads as BadAnswer)."""
    if not isinstance(value, kind):
        raise MalformedAnswer(f"{what} is a JSON {type(value).__name__}, not a {kind.__name__}")
    return value
