"""The sandbox's Vertex AI v1: `customJobs` create, get, list, cancel and delete.

REST paths as `google.cloud.aiplatform_v1.JobServiceClient(transport="rest")` sends them:

    POST   /v1/projects/{p}/locations/{loc}/customJobs
    GET    /v1/projects/{p}/locations/{loc}/customJobs[?pageSize&pageToken&filter]
    GET    /v1/projects/{p}/locations/{loc}/customJobs/{id}
    POST   /v1/projects/{p}/locations/{loc}/customJobs/{id}:cancel
    DELETE /v1/projects/{p}/locations/{loc}/customJobs/{id}        (a done Operation)

A job goes JOB_STATE_QUEUED → PENDING (fetch and unpack the package) → RUNNING (one local
process per replica, see vertex_runner) → SUCCEEDED when the primary replica exits 0, FAILED
when any replica exits non-zero (its last log lines in `error.message`) or the timeout passes,
CANCELLING → CANCELLED on cancel. Jobs belong to the daemon and keep running when the TUI
quits; when the daemon stops, its jobs' processes stop, and on the next start the jobs it was
running are marked FAILED ("sandbox restarted").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox import executors
from tui.sandbox import vertex_runner as runner
from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError
from tui.sandbox.guest_env import guest_env
from tui.sandbox.logging_api import _json_body, log_store
from tui.sandbox.vertex_images import ended_on
from tui.services.job_models import ACCELERATOR_ENUM, accelerator_problem

log = logging.getLogger("cloudpane.sandbox.vertex")

KIND = "customJob"
RUNTIME_KIND = "customJobRuntime"  # pids of running replicas (not part of the API)
MAX_REPLICAS = 8  # what one local machine can reasonably run
ERROR_TAIL_LINES = 10
WORKER_GRACE = 5.0  # seconds workers may run on after the primary succeeded
STRATEGIES = {0: "STRATEGY_UNSPECIFIED", 1: "ON_DEMAND", 2: "LOW_COST", 3: "STANDARD", 4: "SPOT"}
FINAL_STATES = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}
ACTIVE_STATES = {
    "JOB_STATE_QUEUED",
    "JOB_STATE_PENDING",
    "JOB_STATE_RUNNING",
    "JOB_STATE_CANCELLING",
}
# google.rpc.Code values Vertex puts in `error.code`.
CODE_CANCELLED, CODE_INVALID, CODE_DEADLINE, CODE_INTERNAL = 1, 3, 4, 13


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class JobRun:
    """The daemon's handle on one job that has not finished."""

    key: str
    task: asyncio.Task[None] | None = None
    replicas: list[runner.Replica] = field(default_factory=list)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)


_RUNS: dict[str, dict[str, JobRun]] = {}  # data_dir -> key -> run


def _runs(ctx: SandboxContext) -> dict[str, JobRun]:
    return _RUNS.setdefault(str(ctx.data_dir), {})


# --- validation and normalisation -----------------------------------------------------------


def _enum(value: Any, names: dict[int, str], what: str) -> str:
    """An enum by number or name; any other value is Google's 400 (stored, it would break
    every later read: the clients cannot parse a job with an unknown enum value)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value not in names:
            raise ApiError(400, f"Invalid {what} value {value}.")
        return names[value]
    text = str(value)
    if text not in names.values():
        raise ApiError(400, f"Invalid {what} {text!r}; use one of {', '.join(names.values())}.")
    return text


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid value for {what}: {value!r} is not an integer.") from None


def _duration_seconds(value: Any, what: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(value))
    if match is None:
        raise ApiError(400, f'Invalid {what} {value!r}: use a duration like "3600s".')
    return float(match.group(1))


def normalise_job(body: dict[str, Any]) -> dict[str, Any]:
    """Check a CustomJob as Vertex does and return it in the REST JSON form Google answers."""
    display_name = body.get("displayName")
    if not display_name or not isinstance(display_name, str):
        raise ApiError(400, "CustomJob.displayName is required.")
    if len(display_name) > 128:
        raise ApiError(400, "CustomJob.displayName must be at most 128 characters.")
    spec = body.get("jobSpec")
    if not isinstance(spec, dict):
        raise ApiError(400, "CustomJob.jobSpec is required.")
    pools = spec.get("workerPoolSpecs")
    if not isinstance(pools, list) or not pools:
        raise ApiError(400, "jobSpec.workerPoolSpecs must contain at least one worker pool.")
    total = 0
    for i, pool in enumerate(pools):
        where = f"jobSpec.workerPoolSpecs[{i}]"
        if not pool and i > 0:
            continue  # an empty placeholder pool (e.g. no parameter servers)
        machine = pool.get("machineSpec") or {}
        machine_type = machine.get("machineType")
        if not machine_type:
            raise ApiError(400, f"{where}.machineSpec.machineType is required.")
        if "acceleratorType" in machine:
            machine["acceleratorType"] = _enum(
                machine["acceleratorType"], ACCELERATOR_ENUM, "acceleratorType"
            )
        count = _int(machine.get("acceleratorCount", 0), f"{where}.machineSpec.acceleratorCount")
        if count:
            machine["acceleratorCount"] = count
        problem = accelerator_problem(machine_type, machine.get("acceleratorType"), count)
        if problem:
            raise ApiError(400, f"{where}.machineSpec: {problem}")
        replicas = _int(pool.get("replicaCount", 0), f"{where}.replicaCount")
        if i == 0 and replicas != 1:
            raise ApiError(
                400,
                f"{where}.replicaCount must be 1: the first worker pool is the primary replica; "
                "put further workers in workerPoolSpecs[1].",
            )
        if replicas < 0:
            raise ApiError(400, f"{where}.replicaCount must not be negative.")
        pool["replicaCount"] = str(replicas)  # int64 is a string in Google's JSON
        total += replicas
        if "containerSpec" in pool:
            raise ApiError(
                400,
                f"{where}.containerSpec: the sandbox runs Python packages only "
                "(pythonPackageSpec); custom containers need Google Cloud.",
            )
        package = pool.get("pythonPackageSpec")
        if not isinstance(package, dict):
            raise ApiError(400, f"{where} needs a pythonPackageSpec (or a containerSpec).")
        if not package.get("executorImageUri"):
            raise ApiError(400, f"{where}.pythonPackageSpec.executorImageUri is required.")
        ended = ended_on(str(package["executorImageUri"]))
        if ended is not None:
            raise ApiError(
                400,
                f"{where}.pythonPackageSpec.executorImageUri: the prebuilt training image "
                f"{package['executorImageUri']} reached its end of availability on "
                f"{ended.isoformat()} and can no longer be used.",
            )
        uris = package.get("packageUris")
        if not isinstance(uris, list) or not uris:
            raise ApiError(400, f"{where}.pythonPackageSpec.packageUris is required.")
        for uri in uris:
            if not str(uri).startswith("gs://"):
                raise ApiError(400, f"{where}.pythonPackageSpec.packageUris: {uri!r} is not gs://.")
        if not package.get("pythonModule"):
            raise ApiError(400, f"{where}.pythonPackageSpec.pythonModule is required.")
    if total > MAX_REPLICAS:
        raise ApiError(
            400, f"The sandbox runs at most {MAX_REPLICAS} replicas per job; this job asks {total}."
        )
    output = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix", "")
    if output and not str(output).startswith("gs://"):
        raise ApiError(400, "jobSpec.baseOutputDirectory.outputUriPrefix must start with gs://.")
    scheduling = spec.get("scheduling")
    if isinstance(scheduling, dict):
        if "strategy" in scheduling:
            scheduling["strategy"] = _enum(scheduling["strategy"], STRATEGIES, "strategy")
        if "timeout" in scheduling:
            _duration_seconds(scheduling["timeout"], "scheduling.timeout")
    return {
        "displayName": display_name,
        "jobSpec": spec,
        **({"labels": body["labels"]} if body.get("labels") else {}),
        **({"encryptionSpec": body["encryptionSpec"]} if body.get("encryptionSpec") else {}),
    }


# --- state ----------------------------------------------------------------------------------


def _key(project: str, location: str, job_id: str) -> str:
    return f"{project}/{location}/{job_id}"


def _load(ctx: SandboxContext, key: str) -> dict[str, Any]:
    doc = ctx.store.get(KIND, key)
    if doc is None:
        project, location, job_id = key.split("/")
        name = f"projects/{project}/locations/{location}/customJobs/{job_id}"
        raise ApiError(404, f"CustomJob {name} not found.")
    return doc


def _update(ctx: SandboxContext, key: str, **changes: Any) -> dict[str, Any]:
    doc = ctx.store.get(KIND, key)
    if doc is None:  # deleted or reset meanwhile
        return {}
    doc.update(changes)
    doc["updateTime"] = now_text()
    ctx.store.put(KIND, key, doc)
    return doc


def _service_line(ctx: SandboxContext, key: str, text: str, severity: str = "INFO") -> None:
    project, _, job_id = key.split("/")
    _log_line(ctx, project, job_id, "service", severity, text)


def _log_line(
    ctx: SandboxContext, project: str, job_id: str, task_name: str, severity: str, text: str
) -> None:
    log_store(ctx).append(
        project=project,
        log_id=task_name,
        resource_type="ml_job",
        resource_labels={"job_id": job_id, "project_id": project, "task_name": task_name},
        severity=severity,
        text=text,
    )


def _finish(ctx: SandboxContext, key: str, state: str, error: dict[str, Any] | None = None) -> None:
    changes: dict[str, Any] = {"state": state, "endTime": now_text()}
    if error:
        changes["error"] = error
    _update(ctx, key, **changes)
    ctx.store.delete(RUNTIME_KIND, key)
    messages = {
        "JOB_STATE_SUCCEEDED": ("Job completed successfully.", "INFO"),
        "JOB_STATE_FAILED": ("Job failed.", "ERROR"),
        "JOB_STATE_CANCELLED": ("Job was cancelled.", "INFO"),
    }
    text, severity = messages[state]
    _service_line(ctx, key, text, severity)


# --- the lifecycle --------------------------------------------------------------------------


async def _sleep_unless_cancelled(run: JobRun, seconds: float) -> bool:
    """Sleep; True if cancel was asked meanwhile."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(run.cancel.wait(), seconds)
    return run.cancel.is_set()


async def _run_job(ctx: SandboxContext, key: str, run: JobRun) -> None:
    try:
        await _lifecycle(ctx, key, run)
    except asyncio.CancelledError:
        await runner.stop_replicas(run.replicas, grace=0.5)
        raise
    except Exception as exc:  # the sandbox's own bug: fail the job, keep the daemon
        log.exception("job %s crashed", key)
        await runner.stop_replicas(run.replicas, grace=0.5)
        _finish(
            ctx,
            key,
            "JOB_STATE_FAILED",
            {"code": CODE_INTERNAL, "message": f"Internal error: {exc}"},
        )
    finally:
        _runs(ctx).pop(key, None)


async def _lifecycle(ctx: SandboxContext, key: str, run: JobRun) -> None:
    project, _, job_id = key.split("/")
    doc = _load(ctx, key)
    spec = doc["jobSpec"]
    if await _sleep_unless_cancelled(run, ctx.timing.operation):
        _finish(ctx, key, "JOB_STATE_CANCELLED", {"code": CODE_CANCELLED, "message": "CANCELED"})
        return
    _update(ctx, key, state="JOB_STATE_PENDING")
    _service_line(ctx, key, "Waiting for job to be provisioned.")

    job_dir = ctx.work_dir / "jobs" / job_id
    pools: list[dict[str, Any]] = spec["workerPoolSpecs"]
    try:
        import_dirs = await asyncio.to_thread(_prepare_packages, ctx, pools, job_dir)
    except runner.PackageError as exc:
        _service_line(ctx, key, str(exc), "ERROR")
        _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INVALID, "message": str(exc)})
        return
    if run.cancel.is_set():
        _finish(ctx, key, "JOB_STATE_CANCELLED", {"code": CODE_CANCELLED, "message": "CANCELED"})
        return
    loop = asyncio.get_running_loop()

    def say(text: str) -> None:  # from the preparing thread to the job's log
        loop.call_soon_threadsafe(_service_line, ctx, key, text)

    try:
        pythons = await asyncio.to_thread(_prepare_executors, ctx, pools, job_dir, say)
    except executors.ExecutorError as exc:
        _service_line(ctx, key, str(exc), "ERROR")
        _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INVALID, "message": str(exc)})
        return
    if run.cancel.is_set():
        _finish(ctx, key, "JOB_STATE_CANCELLED", {"code": CODE_CANCELLED, "message": "CANCELED"})
        return

    counts = [int(p.get("replicaCount") or 0) if p else 0 for p in pools]
    ports = {(p, i): runner.free_port() for p, c in enumerate(counts) for i in range(c)}
    output = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix", "")

    def on_line(task_name: str, severity: str, text: str) -> None:
        _log_line(ctx, project, job_id, task_name, severity, text)

    _update(ctx, key, state="JOB_STATE_RUNNING", startTime=now_text())
    _service_line(ctx, key, "Job is running.")
    for p, pool in enumerate(pools):
        package = pool.get("pythonPackageSpec") if pool else None
        for i in range(counts[p]):
            assert package is not None
            env = _replica_env(ctx, project, job_id, pool, import_dirs[p], output)
            if sum(counts) > 1:
                env.update(runner.cluster_env(counts, job_id, p, i, ports))
            replica = await runner.start_replica(
                f"workerpool{p}-{i}",
                package["pythonModule"],
                [str(a) for a in package.get("args", [])],
                cwd=job_dir / f"workerpool{p}-{i}",
                env=env,
                on_line=on_line,
                python=pythons[p],
            )
            run.replicas.append(replica)
    ctx.store.put(RUNTIME_KIND, key, {"pids": [[r.pid, r.create_time] for r in run.replicas]})
    await _supervise(ctx, key, run, spec)


def _prepare_packages(ctx: SandboxContext, pools: list[dict[str, Any]], job_dir: Path) -> list[str]:
    """Fetch and unpack every pool's packages; the PYTHONPATH of each pool."""
    paths: list[str] = []
    for p, pool in enumerate(pools):
        package = (pool or {}).get("pythonPackageSpec")
        if not package:
            paths.append("")
            continue
        folders = []
        for n, uri in enumerate(package["packageUris"]):
            archive = runner.fetch_package(
                ctx.base_url, uri, job_dir / "packages" / f"{p}-{n}", ctx.owner_headers()
            )
            folder = runner.unpack_package(
                archive, job_dir / "code" / f"{p}-{n}", package["pythonModule"]
            )
            folders.append(str(folder))
        paths.append(os.pathsep.join(folders))
    return paths


def _prepare_executors(
    ctx: SandboxContext, pools: list[dict[str, Any]], job_dir: Path, say: executors.Say
) -> list[str]:
    """Each pool's interpreter: its executor image's environment with its packages installed."""
    pythons: list[str] = []
    for p, pool in enumerate(pools):
        package = (pool or {}).get("pythonPackageSpec")
        if not package:
            pythons.append("")
            continue
        archives = [
            archive
            for n in range(len(package["packageUris"]))
            for archive in sorted((job_dir / "packages" / f"{p}-{n}").iterdir())
        ]
        image = executors.image_environment(str(package.get("executorImageUri", "")))
        root = ctx.data_dir / "executors"
        pythons.append(str(executors.prepare_packages(root, image, archives, say)))
    return pythons


def _replica_env(
    ctx: SandboxContext,
    project: str,
    job_id: str,
    pool: dict[str, Any],
    import_path: str,
    output: str,
) -> dict[str, str]:
    # Never the daemon's own environment (its packages, PYTHONPATH, VIRTUAL_ENV, tokens): a
    # replica sees what Vertex's container gives it.
    env = guest_env(ctx, ctx.work_dir / "jobs" / job_id / "home", project)
    env["PYTHONPATH"] = import_path
    env.update(runner.output_dirs(output))
    env.update({"CLOUD_ML_JOB_ID": job_id, "CLOUD_ML_PROJECT_ID": project})
    for item in (pool.get("pythonPackageSpec") or {}).get("env", []) or []:
        if isinstance(item, dict) and item.get("name"):
            env[str(item["name"])] = str(item.get("value", ""))
    return env


async def _supervise(ctx: SandboxContext, key: str, run: JobRun, spec: dict[str, Any]) -> None:
    """Wait for the primary replica, a failure, a cancel or the timeout."""
    scheduling = spec.get("scheduling") or {}
    timeout = (
        _duration_seconds(scheduling["timeout"], "timeout") if "timeout" in scheduling else None
    )
    deadline = time.monotonic() + timeout if timeout else None
    waits = {asyncio.create_task(r.wait()): r for r in run.replicas}
    cancel_wait = asyncio.create_task(run.cancel.wait())
    primary = run.replicas[0]
    try:
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
            done, _ = await asyncio.wait(
                [*waits, cancel_wait], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            if cancel_wait in done:
                await runner.stop_replicas(run.replicas)
                _finish(
                    ctx, key, "JOB_STATE_CANCELLED", {"code": CODE_CANCELLED, "message": "CANCELED"}
                )
                return
            if not done:  # the timeout
                await runner.stop_replicas(run.replicas)
                _service_line(
                    ctx, key, f"Job ran longer than its timeout of {timeout:.0f} s.", "ERROR"
                )
                message = f"Job timed out: it ran longer than scheduling.timeout ({timeout:.0f} s)."
                _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_DEADLINE, "message": message})
                return
            for task in done:
                replica = waits.pop(task)
                code = task.result()
                if code != 0:
                    await runner.stop_replicas(run.replicas)
                    _finish(ctx, key, "JOB_STATE_FAILED", _failure(ctx, key, replica, code))
                    return
                if replica is primary:
                    # The primary's status is the job's; workers get a moment to end on their
                    # own (MultiWorkerMirrored ends together) before they are stopped.
                    if waits:
                        await asyncio.wait(list(waits), timeout=WORKER_GRACE)
                    await runner.stop_replicas(run.replicas)
                    _finish(ctx, key, "JOB_STATE_SUCCEEDED")
                    return
    finally:
        cancel_wait.cancel()
        for task in waits:
            task.cancel()


def _failure(ctx: SandboxContext, key: str, replica: runner.Replica, code: int) -> dict[str, Any]:
    job_id = key.rsplit("/", 1)[1]
    status = f"signal {-code}" if code < 0 else f"a non-zero status of {code}"
    tail = log_store(ctx).tail_text(f"job_id={job_id}", ERROR_TAIL_LINES + 1)
    tail = [line for line in tail if line][-ERROR_TAIL_LINES:]
    message = f"The replica {replica.task_name} exited with {status}. Termination reason: Error."
    if tail:
        message += " Last log lines:\n" + "\n".join(tail)
    return {"code": CODE_INVALID, "message": message}


# --- routes ---------------------------------------------------------------------------------


def _check_project(ctx: SandboxContext, project: str) -> None:
    if project != ctx.project:
        raise ApiError(
            403, f"Permission denied on project {project} (the sandbox serves {ctx.project})."
        )


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _list_filter(text: str) -> list[tuple[str, str, str]]:
    """`state="JOB_STATE_RUNNING" AND display_name:"depth"` → [(field, op, value)]."""
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
        match = re.fullmatch(r'\s*([\w.]+)\s*(!=|=|:)\s*"?([^"]*)"?\s*', part)
        if match is None:
            raise ApiError(
                400, f'Unsupported list filter {part!r}; use field="value" joined by AND.'
            )
        clauses.append((match.group(1), match.group(2), match.group(3)))
    return clauses


def _matches(doc: dict[str, Any], clauses: list[tuple[str, str, str]]) -> bool:
    for field_name, op, value in clauses:
        name = {"display_name": "displayName", "displayName": "displayName", "state": "state"}.get(
            field_name
        )
        if name is not None:
            actual = str(doc.get(name, ""))
        elif field_name.startswith("labels."):
            actual = str((doc.get("labels") or {}).get(field_name[7:], ""))
        else:
            raise ApiError(400, f"Unsupported filter field {field_name!r}.")
        ok = value.lower() in actual.lower() if op == ":" else actual == value
        if ok == (op == "!="):
            return False
    return True


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    base = "/v1/projects/{project}/locations/{location}/customJobs"

    async def collection(request: Request) -> Response:
        project, location = request.path_params["project"], request.path_params["location"]
        _check_project(ctx, project)
        if request.method == "POST":
            return JSONResponse(await _create(ctx, project, location, await _json_body(request)))
        clauses = _list_filter(request.query_params.get("filter", ""))
        docs = [d for _, d in ctx.store.list(KIND, prefix=f"{project}/{location}/")]
        docs = [d for d in docs if _matches(d, clauses)]
        docs.sort(key=lambda d: d.get("createTime", ""), reverse=True)
        size = int(request.query_params.get("pageSize") or 100) or 100
        token = request.query_params.get("pageToken")
        try:
            start = int(base64.urlsafe_b64decode(token.encode())) if token else 0
        except ValueError:
            raise ApiError(400, "Invalid pageToken.") from None
        if start < 0 or size < 0:  # not a token we issued; pageSize is non-negative
            raise ApiError(400, "Invalid pageToken or pageSize.")
        page = docs[start : start + size]
        body: dict[str, Any] = {"customJobs": [_public(d) for d in page]} if page else {}
        if start + size < len(docs):
            body["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return JSONResponse(body)

    async def item(request: Request) -> Response:
        project, location = request.path_params["project"], request.path_params["location"]
        job_id = request.path_params["job_id"]
        _check_project(ctx, project)
        key = _key(project, location, job_id)
        doc = _load(ctx, key)
        if request.method == "DELETE":
            if doc.get("state") in ACTIVE_STATES:
                raise ApiError(
                    400, f"CustomJob {doc['name']} is {doc['state']}; cancel it before deleting."
                )
            ctx.store.delete(KIND, key)
            op = f"projects/{project}/locations/{location}/operations/{secrets.randbelow(10**18)}"
            return JSONResponse(
                {
                    "name": op,
                    "done": True,
                    "metadata": {
                        "@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
                        "genericMetadata": {"createTime": now_text(), "updateTime": now_text()},
                    },
                    "response": {"@type": "type.googleapis.com/google.protobuf.Empty"},
                }
            )
        return JSONResponse(_public(doc))

    async def cancel(request: Request) -> Response:
        project, location = request.path_params["project"], request.path_params["location"]
        job_id = request.path_params["job_id"]
        _check_project(ctx, project)
        key = _key(project, location, job_id)
        doc = _load(ctx, key)
        state = doc.get("state")
        if state in FINAL_STATES:
            raise ApiError(400, f"Cannot cancel CustomJob {doc['name']}: it is already {state}.")
        if state != "JOB_STATE_CANCELLING":
            _update(ctx, key, state="JOB_STATE_CANCELLING")
            _service_line(ctx, key, "Cancelling the job.")
        run = _runs(ctx).get(key)
        if run is not None:
            run.cancel.set()
        else:  # no runner (should not happen): end it here
            _finish(
                ctx, key, "JOB_STATE_CANCELLED", {"code": CODE_CANCELLED, "message": "CANCELED"}
            )
        return JSONResponse({})

    return [
        Route(base + "/{job_id}:cancel", cancel, methods=["POST"]),
        Route(base, collection, methods=["GET", "POST"]),
        Route(base + "/{job_id}", item, methods=["GET", "DELETE"]),
    ]


async def _create(
    ctx: SandboxContext, project: str, location: str, body: dict[str, Any]
) -> dict[str, Any]:
    job = normalise_job(body)
    job_id = str(10**18 + secrets.randbelow(9 * 10**18))
    stamp = now_text()
    doc = {
        "name": f"projects/{project}/locations/{location}/customJobs/{job_id}",
        **job,
        "state": "JOB_STATE_QUEUED",
        "createTime": stamp,
        "updateTime": stamp,
    }
    key = _key(project, location, job_id)
    ctx.store.put(KIND, key, doc)
    run = JobRun(key)
    _runs(ctx)[key] = run
    run.task = asyncio.create_task(_run_job(ctx, key, run), name=f"customJob {job_id}")
    return doc


# --- module hooks ---------------------------------------------------------------------------


async def startup(ctx: SandboxContext) -> None:
    """Jobs an earlier daemon was running cannot be resumed: stop leftovers, mark them FAILED."""
    for key, doc in ctx.store.list(KIND):
        if doc.get("state") not in ACTIVE_STATES:
            continue
        runtime = ctx.store.get(RUNTIME_KIND, key) or {}
        for pid, created in runtime.get("pids", []):
            runner.kill_stale_group(int(pid), float(created))
        message = (
            "sandbox restarted: the sandbox daemon stopped while this job ran, "
            "and its processes ended with it."
        )
        _finish(ctx, key, "JOB_STATE_FAILED", {"code": CODE_INTERNAL, "message": message})


async def shutdown(ctx: SandboxContext) -> None:
    runs = list(_runs(ctx).values())
    for run in runs:
        if run.task is not None:
            run.task.cancel()
    for run in runs:
        if run.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(run.task, 5.0)


def reset(ctx: SandboxContext) -> None:
    for run in list(_runs(ctx).values()):
        for replica in run.replicas:
            replica.signal_group(signal.SIGKILL)
        if run.task is not None:
            run.task.cancel()
    _runs(ctx).clear()
    shutil.rmtree(ctx.work_dir / "jobs", ignore_errors=True)
    for key, _ in ctx.store.list(KIND):
        ctx.store.delete(KIND, key)
    for key, _ in ctx.store.list(RUNTIME_KIND):
        ctx.store.delete(RUNTIME_KIND, key)
