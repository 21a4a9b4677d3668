"""`cloudpane jobs submit|list|describe|logs|cancel`: your own training code on Vertex AI.

    cloudpane jobs submit --package DIR --module PKG.MODULE [--requirements REQ …] -- ARGS…
    cloudpane jobs submit --script FILE.py [--requirements REQ …] -- ARGS…

`submit` packages the code (tui/services/packaging.py: built as the folder declares, or
autopackaged as gcloud does), uploads it to the staging bucket and creates a CustomJob with a
`pythonPackageSpec` — what `gcloud ai custom-jobs create --local-package-path` does.
`--local-run` (on a Google project) runs the same spec in the sandbox first and submits to
Vertex only when it succeeded.

Exit codes, as `status` has them: 0 done (with --wait/--follow: the job SUCCEEDED) · 1 the job
FAILED or was CANCELLED · 2 could not read, invalid settings, or the cloud refused · 130
interrupted (the job keeps running).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tui.config import Config
    from tui.services.clients import Backend
    from tui.services.job_models import Job, LogEntry, TrainerJobRequest
    from tui.services.jobs import JobsService
    from tui.services.packaging import BuiltPackage

EXIT_OK, EXIT_JOB_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = ("table", "json", "yaml")


def _formats(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table", help="default table")


def add_arguments(verbs: Any) -> None:
    """Add submit, list, describe, logs and cancel to the `jobs` sub-verbs."""
    submit = verbs.add_parser("submit", help="run your own package or script on Vertex AI")
    code = submit.add_mutually_exclusive_group(required=True)
    code.add_argument("--package", type=Path, metavar="DIR", help="a folder of Python code")
    code.add_argument("--script", type=Path, metavar="FILE.py", help="a single Python script")
    submit.add_argument("--module", metavar="PKG.MODULE", help="with --package: what to run")
    submit.add_argument(
        "--requirements", nargs="+", default=[], metavar="REQ", help="extra pip requirements"
    )
    submit.add_argument(
        "--executor-image",
        metavar="URI",
        help="default: the newest prebuilt TensorFlow image still available (none since "
        "2026-07-11: give one; see docs/jobs.md)",
    )
    submit.add_argument("--machine-type", default="n1-standard-4", help="default n1-standard-4")
    submit.add_argument("--accelerator", metavar="TYPE:COUNT", help="e.g. NVIDIA_TESLA_T4:1")
    submit.add_argument(
        "--replicas", type=int, default=1, metavar="N", help="machines (N>1: N-1 workers)"
    )
    submit.add_argument("--spot", action="store_true", help="Spot VMs (cheaper, preemptible)")
    submit.add_argument(
        "--staging-bucket", metavar="gs://B[/PREFIX]", help="where the package and outputs go"
    )
    submit.add_argument("--display-name", help="default: the folder's or script's name")
    submit.add_argument(
        "--wait", action="store_true", help="wait for the end; exit 0 if it succeeded"
    )
    submit.add_argument("--follow", action="store_true", help="print its logs until it ends")
    submit.add_argument(
        "--local-run",
        action="store_true",
        help="on a Google project: run it in the sandbox first, submit only if it succeeded",
    )
    submit.add_argument(
        "--smoke-args",
        default="",
        metavar="ARGS",
        help='with --local-run: added for the sandbox run only, e.g. --smoke-args="--epochs=1"',
    )
    submit.add_argument("args", nargs="*", metavar="-- ARGS", help="arguments for your code")

    listing = verbs.add_parser("list", help="the region's training jobs")
    _formats(listing)
    describe = verbs.add_parser("describe", help="one job: state, spec, why it failed")
    describe.add_argument("job", metavar="JOB", help="job id or projects/…/customJobs/ID")
    _formats(describe)
    logs = verbs.add_parser("logs", help="a job's log lines")
    logs.add_argument("job", metavar="JOB")
    logs.add_argument("--follow", action="store_true", help="until the job ends")
    _formats(logs)
    cancel = verbs.add_parser("cancel", help="cancel a running job")
    cancel.add_argument("job", metavar="JOB")


# --- helpers ----------------------------------------------------------------------------------


def _print_error(exc: Exception, err: TextIO) -> None:
    from tui.inert import visible

    message = getattr(exc, "message", str(exc))
    print(f"cloudpane: {visible(message)}", file=err)
    hint = getattr(exc, "hint", "")
    if hint:
        print(f"  {visible(hint)}", file=err)


def job_name(backend: Backend, job: str, region: str) -> str:
    """An id or a full name → projects/P/locations/R/customJobs/ID."""
    if job.startswith("projects/"):
        return job
    return f"projects/{backend.project}/locations/{region}/customJobs/{job}"


def job_summary(job: Job) -> dict[str, Any]:
    """What list and describe show of a job (JSON-ready)."""

    def stamp(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    pool = job.spec.worker_pools[0] if job.spec.worker_pools else None
    return {
        "id": job.id,
        "name": job.name,
        "displayName": job.display_name,
        "state": job.status,
        "hardware": job.hardware,
        "replicas": job.spec.replica_count,
        "module": pool.python_module if pool else None,
        "executorImage": pool.executor_image_uri if pool else None,
        "created": stamp(job.created),
        "ended": stamp(job.ended),
        "reason": job.reason,
    }


def _dump(data: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2, default=str), file=out)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip(), file=out)


def _table(rows: list[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    from tui.inert import visible

    cells = [[visible(str(r.get(c) or "")) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    print(
        "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        file=out,
    )
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _accelerator(text: str | None) -> tuple[str | None, int]:
    if not text:
        return None, 0
    kind, _, count = text.partition(":")
    try:
        return kind, int(count or "1")
    except ValueError:
        raise argparse.ArgumentTypeError(f"--accelerator: use TYPE:COUNT, got {text!r}") from None


# --- submit -----------------------------------------------------------------------------------


def build_package(args: argparse.Namespace, out_dir: Path) -> BuiltPackage:
    from tui.services.errors import InvalidArgument
    from tui.services.packaging import package_folder, package_script

    if args.script is not None:
        if args.module:
            raise InvalidArgument("--module goes with --package; a script runs as itself.")
        return package_script(args.script, out_dir, args.requirements)
    if not args.module:
        raise InvalidArgument(
            "--package needs --module, the module to run.", "For example --module trainer.task."
        )
    return package_folder(args.package, args.module, out_dir, args.requirements)


def submit_request(args: argparse.Namespace, region: str, default_name: str) -> TrainerJobRequest:
    from tui.services.errors import InvalidArgument
    from tui.services.job_models import TrainerJobRequest

    if not args.staging_bucket:
        raise InvalidArgument(
            "A staging bucket is required.", "Give --staging-bucket gs://BUCKET[/PREFIX]."
        )
    accelerator, count = _accelerator(args.accelerator)
    return TrainerJobRequest(
        display_name=args.display_name or default_name,
        staging_bucket=args.staging_bucket,
        region=region,
        machine_type=args.machine_type,
        accelerator_type=accelerator,
        accelerator_count=count,
        replica_count=args.replicas,
        spot=args.spot,
        executor_image_uri=args.executor_image or "",
        trainer_args=tuple(args.args),
    )


async def location_warnings(
    backend: Backend, req: TrainerJobRequest, args: Sequence[str], out: TextIO
) -> None:
    """Say, before anything is submitted, which buckets live away from the job's region."""
    from tui.services.data_location import bucket_locations, buckets_in, notes
    from tui.services.jobs import split_bucket

    staging, _ = split_bucket(req.staging_bucket)
    names = [staging, *buckets_in(args)]
    for note in notes(req.region, staging, await bucket_locations(backend, names)):
        print(f"Warning: {note}", file=out, flush=True)


async def submit_built(
    backend: Backend,
    req: TrainerJobRequest,
    built: BuiltPackage,
    *,
    out: TextIO,
    wait: bool,
    follow: bool,
    poll_seconds: float,
) -> tuple[int, Job]:
    """Upload `built`, create the job, and wait or follow it if asked: (exit code, job)."""
    from tui.services.jobs import JobsService

    service = JobsService(backend)
    await location_warnings(backend, req, req.trainer_args, out)
    job = await service.submit_code(
        req, built.archives, built.module, lambda text: print(text, file=out, flush=True)
    )
    print(f"Submitted job {job.display_name}: {job.name}", file=out, flush=True)
    print(f"  id {job.id}; follow it with `cloudpane jobs logs {job.id} --follow`", file=out)
    if not (wait or follow):
        return EXIT_OK, job
    final = await wait_for(service, job.name, out, poll_seconds, follow=follow, backend=backend)
    return (EXIT_OK if final.state == "JOB_STATE_SUCCEEDED" else EXIT_JOB_FAILED), final


def default_name(args: argparse.Namespace) -> str:
    return str(args.script.stem if args.script is not None else args.package.resolve().name)


async def submit(
    args: argparse.Namespace,
    backend: Backend,
    region: str,
    *,
    out: TextIO,
    err: TextIO,
    poll_seconds: float = 2.0,
) -> int:
    """Package, upload, create; then wait or follow if asked. The exit code."""
    with tempfile.TemporaryDirectory(prefix="cloudpane-package-") as tmp:
        built = await asyncio.to_thread(build_package, args, Path(tmp))
        req = submit_request(args, region, default_name(args))
        print(f"Packaged {built.summary()}", file=out, flush=True)
        print(f"Module: {built.module}", file=out, flush=True)
        code, _ = await submit_built(
            backend,
            req,
            built,
            out=out,
            wait=args.wait,
            follow=args.follow,
            poll_seconds=poll_seconds,
        )
    return code


async def wait_for(
    service: JobsService,
    name: str,
    out: TextIO,
    poll_seconds: float,
    *,
    follow: bool = False,
    backend: Backend | None = None,
) -> Job:
    """Poll until the job ends (printing its new log lines if `follow`); the final job."""
    from tui.inert import visible
    from tui.services.logs import LogsService

    logs = LogsService(backend) if follow and backend is not None else None
    seen: set[str] = set()
    job_id = name.rsplit("/", 1)[-1]
    state = ""

    async def print_new() -> None:
        assert logs is not None
        cursor: str | None = None
        while True:
            page = await logs.read(job_id, cursor=cursor, page_size=500)
            for entry in page.entries:
                if entry.insert_id not in seen:
                    seen.add(entry.insert_id)
                    print(f"{entry.severity:<7} {visible(entry.text)}", file=out, flush=True)
            if page.cursor is None:
                return
            cursor = page.cursor

    while True:
        job = await service.get_job(name)
        if job.state != state:
            state = job.state
            print(f"state {job.status}", file=out, flush=True)
        if logs is not None:
            await print_new()
        if not job.is_active:
            if logs is not None:  # late entries (Logging delivers some after the end)
                await print_new()
            line = f"Job {job.status}"
            if job.reason:
                line += f": {visible(job.reason)}"
            print(line, file=out, flush=True)
            return job
        await asyncio.sleep(poll_seconds)


# --- the other verbs --------------------------------------------------------------------------


async def list_jobs(backend: Backend, region: str, fmt: str, out: TextIO) -> int:
    from tui.services.jobs import JobsService

    jobs = await JobsService(backend).list_jobs(region)
    rows = [job_summary(j) for j in jobs]
    if fmt != "table":
        _dump(rows, fmt, out)
    elif not rows:
        print(f"No training jobs in {region}.", file=out)
    else:
        _table(rows, ("id", "displayName", "state", "hardware", "created", "reason"), out)
    return EXIT_OK


async def describe(backend: Backend, job: str, region: str, fmt: str, out: TextIO) -> int:
    from tui.inert import visible
    from tui.services.jobs import JobsService, job_from_resource

    resource = await JobsService(backend).job_resource(job_name(backend, job, region))
    found = job_from_resource(resource)
    if fmt in ("json", "yaml"):
        _dump({"summary": job_summary(found), "resource": resource}, fmt, out)
    else:
        for key, value in job_summary(found).items():
            if value is not None:
                print(f"{key + ':':<14} {visible(str(value))}", file=out)
    return EXIT_JOB_FAILED if found.state in ("JOB_STATE_FAILED",) else EXIT_OK


async def show_logs(
    backend: Backend, job: str, region: str, fmt: str, follow: bool, out: TextIO
) -> int:
    from tui.inert import visible
    from tui.services.jobs import JobsService
    from tui.services.logs import LogsService

    name = job_name(backend, job, region)
    if follow:
        final = await wait_for(JobsService(backend), name, out, 2.0, follow=True, backend=backend)
        return EXIT_OK if final.state == "JOB_STATE_SUCCEEDED" else EXIT_JOB_FAILED
    logs = LogsService(backend)
    entries: list[LogEntry] = []
    cursor: str | None = None
    while True:
        page = await logs.read(name.rsplit("/", 1)[-1], cursor=cursor, page_size=500)
        entries += page.entries
        if page.cursor is None:
            break
        cursor = page.cursor
    if fmt == "table":
        for entry in entries:
            print(
                f"{entry.timestamp.isoformat()} {entry.severity:<7} {visible(entry.text)}", file=out
            )
    else:
        rows = [
            {"timestamp": e.timestamp.isoformat(), "severity": e.severity, "text": e.text}
            for e in entries
        ]
        _dump(rows, fmt, out)
    return EXIT_OK


async def cancel(backend: Backend, job: str, region: str, out: TextIO) -> int:
    from tui.services.jobs import JobsService

    name = job_name(backend, job, region)
    await JobsService(backend).cancel(name)
    print(f"Cancelling {name}", file=out)
    return EXIT_OK


# --- entry point ------------------------------------------------------------------------------


def run_jobs(args: argparse.Namespace, config: Config) -> int:
    """`cloudpane jobs submit|list|describe|logs|cancel` (argparse args + the globals)."""
    from tui.services.connect import connect
    from tui.services.errors import CloudpaneError

    out, err = sys.stdout, sys.stderr
    verb = args.jobs_verb
    region = getattr(args, "region", None) or config.region
    try:
        if verb in ("submit", "cancel") and config.read_only:
            print(f"cloudpane: read-only: not running `jobs {verb}`.", file=err)
            return EXIT_INVALID
        connection = connect(
            getattr(args, "project", None), getattr(args, "sandbox", False), config
        )
        backend = connection.backend
        if verb == "submit":
            if args.local_run and backend.is_sandbox:
                print("Already on the sandbox: --local-run has nothing to try first.", file=out)
            elif args.local_run:
                from tui.cli.jobs_local import submit_after_local_run
                from tui.services.connect import connect_sandbox

                local = connect_sandbox(config).backend
                return asyncio.run(
                    submit_after_local_run(args, backend, local, region, out=out, err=err)
                )
            return asyncio.run(submit(args, backend, region, out=out, err=err))
        if verb == "list":
            return asyncio.run(list_jobs(backend, region, args.format, out))
        if verb == "describe":
            return asyncio.run(describe(backend, args.job, region, args.format, out))
        if verb == "logs":
            return asyncio.run(show_logs(backend, args.job, region, args.format, args.follow, out))
        if verb == "cancel":
            return asyncio.run(cancel(backend, args.job, region, out))
    except (CloudpaneError, argparse.ArgumentTypeError) as exc:
        _print_error(exc, err)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("Stopped; a submitted job keeps running (`cloudpane jobs list`).", file=err)
        return EXIT_INTERRUPTED
    raise AssertionError(f"unknown verb {verb}")
