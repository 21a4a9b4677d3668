"""Your code, tried in the sandbox before it goes to Vertex AI (the form's "Try in the sandbox
first"; the CLI's `--local-run` does the same, printing the logs as they come).

The same package (built once), the same executor image (the sandbox prepares that image's
environment), the same arguments, in a staging bucket of the same name in the sandbox. Only a
SUCCEEDED run lets the job go on; otherwise the one-line reason is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tui.services.clients import Backend, call
from tui.services.errors import InvalidArgument
from tui.services.job_models import Job, TrainerJobRequest
from tui.services.packaging import BuiltPackage, CodeSource, package_folder, package_script


def package_code(code: CodeSource, out_dir: Path) -> BuiltPackage:
    """A folder or a script chosen in the form → its package (blocking)."""
    if code.path.is_file():
        return package_script(code.path, out_dir, code.requirements)
    return package_folder(code.path, code.module, out_dir, code.requirements)


async def ensure_bucket(local: Backend, bucket: str) -> None:
    from tui.services.storage import StorageService

    def ensure() -> None:
        client = StorageService(local).client()
        if client.lookup_bucket(bucket) is None:
            client.create_bucket(bucket)

    await call(ensure, action=f"create gs://{bucket} in the sandbox")


async def run_in_sandbox(
    local: Backend,
    request: TrainerJobRequest,
    built: BuiltPackage,
    say: Callable[[str], None],
    poll_seconds: float = 1.0,
) -> Job:
    """Run the job in the sandbox to its end; the job if it SUCCEEDED, else InvalidArgument."""
    from tui.services.jobs import JobsService, split_bucket

    await ensure_bucket(local, split_bucket(request.staging_bucket)[0])
    service = JobsService(local)
    say("Trying it in the sandbox first…")
    job = await service.submit_code(request, built.archives, built.module, say)
    while job.is_active:
        await asyncio.sleep(poll_seconds)
        job = await service.get_job(job.name)
        say(f"Sandbox run: {job.status}")
    if job.state != "JOB_STATE_SUCCEEDED":
        raise InvalidArgument(
            f"The sandbox run {job.status}: {job.reason or 'no reason given'}. "
            "Nothing was submitted.",
            f"See its logs in the sandbox: job {job.id}.",
        )
    return job
