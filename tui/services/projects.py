"""The projects the credentials can see, for the `:project` picker (Resource Manager v3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui.services.clients import Backend, call, client, read_retry


@dataclass(frozen=True)
class Project:
    project_id: str
    display_name: str
    state: str


def _client(backend: Backend) -> Any:
    def build() -> Any:
        from google.cloud import resourcemanager_v3

        return resourcemanager_v3.ProjectsClient(
            credentials=backend.credentials,
            transport="rest",
            client_options=backend.client_options() or None,
        )

    return client(backend, "resourcemanager.ProjectsClient", build)


async def list_projects(backend: Backend, limit: int = 500) -> list[Project]:
    """Active projects the caller may open, sorted by id (at most `limit`)."""

    def fetch() -> list[Project]:
        found: list[Project] = []
        for item in _client(backend).search_projects(request={"query": ""}, retry=read_retry()):
            if item.state.name == "ACTIVE":
                found.append(Project(item.project_id, item.display_name, item.state.name))
            if len(found) >= limit:
                break
        return sorted(found, key=lambda p: p.project_id)

    return await call(fetch, action="list your projects")
