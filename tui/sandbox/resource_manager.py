"""Resource Manager v3 `projects.search`: the projects the caller can see.

The sandbox has one project; serving the search lets the project picker use the same
google-cloud-resource-manager call against the sandbox as against Google.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox.context import SandboxContext

PROJECT_NUMBER = "100000000001"


def project_resource(ctx: SandboxContext) -> dict[str, str]:
    return {
        "name": f"projects/{PROJECT_NUMBER}",
        "projectId": ctx.project,
        "displayName": "cloudpane sandbox",
        "state": "ACTIVE",
        "createTime": "2026-01-01T00:00:00Z",
        "etag": "W/sandbox",
    }


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    async def search(request: Request) -> Response:
        query = request.query_params.get("query", "").strip()
        project = project_resource(ctx)
        # The subset of the query language a picker sends: "" or "id:NAME" / "NAME*".
        wanted = query.removeprefix("id:").removeprefix("projectId:").rstrip("*")
        matches = not wanted or project["projectId"].startswith(wanted)
        return JSONResponse({"projects": [project] if matches else []})

    return [Route("/v3/projects:search", search, methods=["GET"])]
