"""Vertex AI custom training jobs: submit (the bundled trainer or any spec), watch, cancel, re-run.

One code path to Google and to the sandbox: the aiplatform_v1 GAPIC `JobServiceClient` over
REST, with the regional endpoint (`{region}-aiplatform.googleapis.com`) or the sandbox's URL.
google-cloud-aiplatform takes seconds to import, so it is imported inside the functions that run
in worker threads, never at module import.

The resource JSON (camelCase, as REST and `gcloud ... describe` show it) is the pivot: specs are
turned into it to create a job, and jobs are read from it, so `job_resource()` (the YAML details
view) and the dataclasses always agree.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tui.services.clients import Backend, call, client, read_retry
from tui.services.errors import InvalidArgument
from tui.services.job_models import (
    Job,
    JobSpec,
    SpecProblem,
    TrainerJobRequest,
    WorkerPool,
    accelerator_problem,
    hardware_problem,
    label_map,
)

TRAINER_MODULE = "trainer.task"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_JOB_NAME = re.compile(r"^projects/[^/]+/locations/([^/]+)/customJobs/[^/]+$")


# --- validation -----------------------------------------------------------------------------


def _display_name_problems(name: str, field: str) -> list[SpecProblem]:
    if not name or not name.strip():
        return [SpecProblem(field, "a display name is required.")]
    if len(name) > 128:
        return [SpecProblem(field, f"at most 128 characters (got {len(name)}).")]
    if any(ord(c) < 32 for c in name):
        return [SpecProblem(field, "must not contain control characters (newlines, tabs).")]
    return []


def _gs_problems(uri: str, field: str, what: str) -> list[SpecProblem]:
    if not uri.startswith("gs://"):
        return [SpecProblem(field, f"{what} must be a gs://BUCKET/PATH URI (got {uri!r}).")]
    bucket = uri[5:].split("/", 1)[0]
    if not _BUCKET_NAME.match(bucket):
        return [SpecProblem(field, f"{bucket!r} is not a valid bucket name.")]
    return []


def validate_job_spec(spec: JobSpec) -> list[SpecProblem]:
    """Every reason Vertex AI would refuse this spec (empty when it is fine).

    Field paths follow the REST/YAML naming (`workerPoolSpecs[0].machineSpec.acceleratorType`),
    so a YAML loader can point at the line.
    """
    problems = _display_name_problems(spec.display_name, "displayName")
    if not _REGION.match(spec.region):
        problems.append(SpecProblem("region", f"{spec.region!r} is not a region like us-central1."))
    if not spec.worker_pools:
        problems.append(SpecProblem("workerPoolSpecs", "at least one worker pool is required."))
    for i, pool in enumerate(spec.worker_pools):
        path = f"workerPoolSpecs[{i}]"
        if i == 0 and pool.replica_count != 1:
            problems.append(
                SpecProblem(
                    f"{path}.replicaCount",
                    "the first pool is the primary replica and must have replicaCount 1; "
                    f"put more workers in workerPoolSpecs[1] (got {pool.replica_count}).",
                )
            )
        elif pool.replica_count < 0:
            problems.append(SpecProblem(f"{path}.replicaCount", "must not be negative."))
        if pool.replica_count == 0 and i > 0:
            continue
        hw = hardware_problem(pool.machine_type, pool.accelerator_type, pool.accelerator_count)
        if hw:
            problems.append(SpecProblem(f"{path}.machineSpec.{hw[0]}", hw[1]))
        if pool.container_image_uri:
            continue
        package = f"{path}.pythonPackageSpec"
        if not pool.executor_image_uri:
            problems.append(SpecProblem(f"{package}.executorImageUri", "is required."))
        else:
            from tui.services import training_images as ti

            ended = ti.ended_problem(pool.executor_image_uri, ti.today())
            if ended:
                problems.append(SpecProblem(f"{package}.executorImageUri", ended))
        if not pool.package_uris:
            problems.append(
                SpecProblem(f"{package}.packageUris", "at least one package is required.")
            )
        for n, uri in enumerate(pool.package_uris):
            problems += _gs_problems(uri, f"{package}.packageUris[{n}]", "a package")
        if not _MODULE.match(pool.python_module or ""):
            problems.append(
                SpecProblem(
                    f"{package}.pythonModule",
                    f"must be a dotted module name like trainer.task (got {pool.python_module!r}).",
                )
            )
        if pool.boot_disk_size_gb < 100 or pool.boot_disk_size_gb > 64000:
            problems.append(
                SpecProblem(f"{path}.diskSpec.bootDiskSizeGb", "must be between 100 and 64000 GB.")
            )
        if pool.boot_disk_type not in ("pd-ssd", "pd-standard", "hyperdisk-balanced"):
            problems.append(
                SpecProblem(f"{path}.diskSpec.bootDiskType", "must be pd-ssd or pd-standard.")
            )
    if spec.base_output_directory:
        problems += _gs_problems(
            spec.base_output_directory, "baseOutputDirectory.outputUriPrefix", "the output folder"
        )
    if spec.timeout_seconds is not None and spec.timeout_seconds <= 0:
        problems.append(SpecProblem("scheduling.timeout", "must be a positive number of seconds."))
    for key, value in spec.labels.items():
        if not _LABEL_KEY.match(key) or not _LABEL_VALUE.match(value):
            problems.append(
                SpecProblem(
                    f"labels.{key}",
                    "label keys and values use lowercase letters, digits, - and _ "
                    "(keys start with a letter, 63 characters at most).",
                )
            )
    return problems


def check_job_spec(spec: JobSpec) -> None:
    problems = validate_job_spec(spec)
    if problems:
        raise InvalidArgument(
            "The job spec is not valid:\n" + "\n".join(f"- {p}" for p in problems),
            "Fix the listed fields and submit again.",
        )


def split_bucket(staging: str) -> tuple[str, str]:
    """'bucket', 'gs://bucket' or 'gs://bucket/some/prefix' → (bucket, prefix)."""
    text = staging.strip().removeprefix("gs://").strip("/")
    bucket, _, prefix = text.partition("/")
    return bucket, prefix


def validate_trainer_request(req: TrainerJobRequest) -> list[SpecProblem]:
    """The submit form's checks; field names are the request's attribute names."""
    problems = _display_name_problems(req.display_name, "display_name")
    bucket, _ = split_bucket(req.staging_bucket)
    if not bucket:
        problems.append(SpecProblem("staging_bucket", "a staging bucket is required."))
    elif not _BUCKET_NAME.match(bucket):
        problems.append(SpecProblem("staging_bucket", f"{bucket!r} is not a valid bucket name."))
    if not _REGION.match(req.region):
        problems.append(SpecProblem("region", f"{req.region!r} is not a region like us-central1."))
    if req.replica_count < 1:
        problems.append(SpecProblem("replica_count", "at least 1 replica is required."))
    hw = accelerator_problem(req.machine_type, req.accelerator_type, req.accelerator_count)
    if hw:
        problems.append(SpecProblem("accelerator" if req.accelerator_type else "machine_type", hw))
    if req.timeout_seconds is not None and req.timeout_seconds <= 0:
        problems.append(SpecProblem("timeout_seconds", "must be a positive number of seconds."))
    problems.extend(_image_problems(req))
    return problems


def _image_problems(req: TrainerJobRequest) -> list[SpecProblem]:
    """No default past its end of availability; a named prebuilt image must still be available."""
    from tui.services import training_images as ti

    gpu = bool(req.accelerator_type and req.accelerator_count)
    if not req.executor_image_uri:
        if ti.default_image_uri(gpu):
            return []
        return [SpecProblem("executor_image_uri", ti.no_default_problem(gpu, ti.today()))]
    ended = ti.ended_problem(req.executor_image_uri, ti.today())
    return [SpecProblem("executor_image_uri", ended)] if ended else []


# --- resource JSON <-> dataclasses ------------------------------------------------------------


def _duration(seconds: int) -> str:
    return f"{seconds}s"


def _seconds(text: str | None) -> int | None:
    if not text:
        return None
    return int(float(str(text).rstrip("s")))


def pool_to_resource(pool: WorkerPool) -> dict[str, Any]:
    machine: dict[str, Any] = {"machineType": pool.machine_type}
    if pool.accelerator_type and pool.accelerator_count:
        machine["acceleratorType"] = pool.accelerator_type
        machine["acceleratorCount"] = pool.accelerator_count
    out: dict[str, Any] = {"machineSpec": machine, "replicaCount": str(pool.replica_count)}
    env = [{"name": k, "value": v} for k, v in pool.env]
    if pool.container_image_uri:
        container: dict[str, Any] = {"imageUri": pool.container_image_uri}
        if pool.container_command:
            container["command"] = list(pool.container_command)
        if pool.args:
            container["args"] = list(pool.args)
        if env:
            container["env"] = env
        out["containerSpec"] = container
    else:
        package: dict[str, Any] = {
            "executorImageUri": pool.executor_image_uri,
            "packageUris": list(pool.package_uris),
            "pythonModule": pool.python_module,
        }
        if pool.args:
            package["args"] = list(pool.args)
        if env:
            package["env"] = env
        out["pythonPackageSpec"] = package
    out["diskSpec"] = {
        "bootDiskType": pool.boot_disk_type,
        "bootDiskSizeGb": pool.boot_disk_size_gb,
    }
    return out


def spec_to_job_spec(spec: JobSpec) -> dict[str, Any]:
    """The CustomJobSpec JSON (what `gcloud ai custom-jobs create --config` reads)."""
    out: dict[str, Any] = {"workerPoolSpecs": [pool_to_resource(p) for p in spec.worker_pools]}
    scheduling: dict[str, Any] = {}
    if spec.timeout_seconds:
        scheduling["timeout"] = _duration(spec.timeout_seconds)
    if spec.restart_job_on_worker_restart:
        scheduling["restartJobOnWorkerRestart"] = True
    if spec.spot:
        scheduling["strategy"] = "SPOT"
    if scheduling:
        out["scheduling"] = scheduling
    if spec.service_account:
        out["serviceAccount"] = spec.service_account
    if spec.base_output_directory:
        out["baseOutputDirectory"] = {"outputUriPrefix": spec.base_output_directory}
    if spec.enable_web_access:
        out["enableWebAccess"] = True
    return out


def spec_to_resource(spec: JobSpec) -> dict[str, Any]:
    """The CustomJob JSON to create."""
    out: dict[str, Any] = {"displayName": spec.display_name, "jobSpec": spec_to_job_spec(spec)}
    if spec.labels:
        out["labels"] = dict(spec.labels)
    return out


def pool_from_resource(data: Mapping[str, Any]) -> WorkerPool:
    machine = data.get("machineSpec") or {}
    package = data.get("pythonPackageSpec") or {}
    container = data.get("containerSpec") or {}
    disk = data.get("diskSpec") or {}
    accel = machine.get("acceleratorType")
    if accel == "ACCELERATOR_TYPE_UNSPECIFIED":
        accel = None
    env_items = package.get("env") or container.get("env") or []
    return WorkerPool(
        machine_type=str(machine.get("machineType", "")),
        replica_count=int(data.get("replicaCount") or 0),
        accelerator_type=accel,
        accelerator_count=int(machine.get("acceleratorCount") or 0) if accel else 0,
        executor_image_uri=str(package.get("executorImageUri", "")),
        package_uris=tuple(package.get("packageUris") or ()),
        python_module=str(package.get("pythonModule", TRAINER_MODULE if package else "")),
        args=tuple(str(a) for a in (package.get("args") or container.get("args") or ())),
        env=tuple((str(e.get("name", "")), str(e.get("value", ""))) for e in env_items),
        container_image_uri=container.get("imageUri") if container else None,
        container_command=tuple(container.get("command") or ()),
        boot_disk_type=str(disk.get("bootDiskType") or "pd-ssd"),
        boot_disk_size_gb=int(disk.get("bootDiskSizeGb") or 100),
    )


def spec_from_job_spec(
    job_spec: Mapping[str, Any],
    display_name: str,
    region: str,
    labels: Mapping[str, str] | None = None,
) -> JobSpec:
    scheduling = job_spec.get("scheduling") or {}
    return JobSpec(
        display_name=display_name,
        worker_pools=tuple(
            pool_from_resource(p or {}) for p in job_spec.get("workerPoolSpecs") or ()
        ),
        region=region,
        base_output_directory=str(
            (job_spec.get("baseOutputDirectory") or {}).get("outputUriPrefix", "")
        ),
        spot=scheduling.get("strategy") == "SPOT",
        timeout_seconds=_seconds(scheduling.get("timeout")),
        restart_job_on_worker_restart=bool(scheduling.get("restartJobOnWorkerRestart", False)),
        service_account=str(job_spec.get("serviceAccount", "")),
        enable_web_access=bool(job_spec.get("enableWebAccess", False)),
        labels=dict(labels or {}),
    )


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    value = str(text)
    match = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", value)
    if match is None:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(f"{base}.{micro}{zone}").astimezone(timezone.utc)


def region_of(name: str) -> str:
    match = _JOB_NAME.match(name)
    if match is None:
        raise InvalidArgument(
            f"{name!r} is not a job name.", "Use projects/P/locations/REGION/customJobs/ID."
        )
    return match.group(1)


def job_from_resource(data: Mapping[str, Any]) -> Job:
    name = str(data.get("name", ""))
    parts = name.split("/")
    region = parts[3] if len(parts) > 3 else ""
    labels = label_map(data.get("labels"))
    display_name = str(data.get("displayName", ""))
    error = data.get("error") or {}
    return Job(
        name=name,
        display_name=display_name,
        state=str(data.get("state", "JOB_STATE_UNSPECIFIED")),
        spec=spec_from_job_spec(data.get("jobSpec") or {}, display_name, region, labels),
        created=_time(data.get("createTime")),
        started=_time(data.get("startTime")),
        ended=_time(data.get("endTime")),
        updated=_time(data.get("updateTime")),
        error=str(error.get("message")) if error.get("message") else None,
        error_code=int(error["code"]) if error.get("code") is not None else None,
        labels=labels,
    )


def to_resource(message: Any) -> dict[str, Any]:
    """A proto-plus CustomJob → its REST JSON (camelCase, enum names)."""
    result: dict[str, Any] = type(message).to_dict(
        message, use_integers_for_enums=False, preserving_proto_field_name=False
    )
    return result


# --- the trainer request --------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:40] or "job"


def trainer_job_spec(
    req: TrainerJobRequest,
    package_uri: str | Sequence[str],
    output_uri: str,
    module: str = TRAINER_MODULE,
) -> JobSpec:
    """The CustomJob spec for a package (the bundled trainer by default): a primary replica,
    plus workers in the second pool if asked (Vertex sets TF_CONFIG / CLUSTER_SPEC for them)."""
    uris = (package_uri,) if isinstance(package_uri, str) else tuple(package_uri)
    gpu = bool(req.accelerator_type and req.accelerator_count)
    from tui.services import training_images as ti

    image = req.executor_image_uri or ti.default_image_uri(gpu)
    if not image:
        raise InvalidArgument(ti.no_default_problem(gpu, ti.today()))
    primary = WorkerPool(
        machine_type=req.machine_type,
        replica_count=1,
        accelerator_type=req.accelerator_type if gpu else None,
        accelerator_count=req.accelerator_count if gpu else 0,
        executor_image_uri=image,
        package_uris=uris,
        python_module=module,
        args=tuple(req.trainer_args),
    )
    pools = [primary]
    if req.replica_count > 1:
        pools.append(dataclasses.replace(primary, replica_count=req.replica_count - 1))
    return JobSpec(
        display_name=req.display_name,
        worker_pools=tuple(pools),
        region=req.region,
        base_output_directory=output_uri,
        spot=req.spot,
        timeout_seconds=req.timeout_seconds,
        labels=dict(req.labels),
    )


POOL_EDITS = {
    "machine_type",
    "accelerator_type",
    "accelerator_count",
    "executor_image_uri",
    "args",
    "package_uris",
    "python_module",
}


def edit_spec(spec: JobSpec, edits: Mapping[str, Any] | None) -> JobSpec:
    """A copy of `spec` with edits: JobSpec fields, pool fields (applied to every pool), or
    `replica_count` (the total: the primary plus workers in pool 1)."""
    if not edits:
        return spec
    job_fields = {f.name for f in dataclasses.fields(JobSpec)}
    unknown = set(edits) - job_fields - POOL_EDITS - {"replica_count"}
    if unknown:
        raise InvalidArgument(f"Cannot edit {', '.join(sorted(unknown))} of a job spec.")
    pool_edits: dict[str, Any] = {
        k: (tuple(v) if k in ("args", "package_uris") else v)
        for k, v in edits.items()
        if k in POOL_EDITS
    }
    pools = [dataclasses.replace(p, **pool_edits) for p in spec.worker_pools]
    if "replica_count" in edits:
        total = int(edits["replica_count"])
        if total < 1:
            raise InvalidArgument("A job needs at least 1 replica.")
        primary = dataclasses.replace(pools[0], replica_count=1)
        workers = pools[1] if len(pools) > 1 else primary
        pools = [primary]
        if total > 1:
            pools.append(dataclasses.replace(workers, replica_count=total - 1))
    return dataclasses.replace(
        spec,
        worker_pools=tuple(pools),
        **{k: v for k, v in edits.items() if k in job_fields and k != "worker_pools"},
    )


# --- the service ----------------------------------------------------------------------------


class JobsService:
    """Async operations on Vertex AI custom jobs for the Jobs pane."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _client(self, region: str) -> Any:
        def build() -> Any:
            from google.cloud import aiplatform_v1

            return aiplatform_v1.JobServiceClient(
                credentials=self.backend.credentials,
                transport="rest",
                client_options=self.backend.regional_options(region),
            )

        return client(self.backend, f"vertex.jobs.{region}", build)

    def _parent(self, region: str) -> str:
        return f"projects/{self.backend.project}/locations/{region}"

    async def submit(self, spec: JobSpec) -> Job:
        """Create a CustomJob (validated first; a write, so never retried blindly)."""
        check_job_spec(spec)

        def create() -> Job:
            from google.cloud import aiplatform_v1

            message = aiplatform_v1.CustomJob.from_json(json.dumps(spec_to_resource(spec)))
            created = self._client(spec.region).create_custom_job(
                parent=self._parent(spec.region), custom_job=message, timeout=60
            )
            return job_from_resource(to_resource(created))

        return await call(create, action=f"create training job {spec.display_name!r}")

    async def submit_trainer(
        self, req: TrainerJobRequest, progress: Callable[[str], None] | None = None
    ) -> Job:
        """Package the bundled trainer, upload it to the staging bucket and create the job.

        The model, checkpoints and TensorBoard logs land under gs://BUCKET/PREFIX/{model,
        checkpoints,logs}/ (Vertex's AIP_* folders below baseOutputDirectory).
        """
        say = progress or (lambda text: None)
        package_uri, output_uri = await self.upload_trainer(req, "cloudpane-jobs", say)
        spec = trainer_job_spec(req, package_uri, output_uri)
        say("Creating the training job…")
        return await self.submit(spec)

    async def upload_trainer(
        self, req: TrainerJobRequest, folder: str, say: Callable[[str], None]
    ) -> tuple[str, str]:
        """Check the request, build the trainer's sdist and upload it to the staging bucket.

        Returns (package URI, base output URI): gs://BUCKET/PREFIX/package/… and
        gs://BUCKET/PREFIX, PREFIX being `req.output_prefix` or FOLDER/<name>-<UTC time>.
        """
        problems = validate_trainer_request(req)
        if problems:
            raise InvalidArgument(
                "The trainer settings are not valid:\n" + "\n".join(f"- {p}" for p in problems),
                "Fix the listed fields and submit again.",
            )
        bucket, base = split_bucket(req.staging_bucket)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        prefix = req.output_prefix.strip("/") or "/".join(
            p for p in (base, f"{folder}/{_slug(req.display_name)}-{stamp}") if p
        )

        def package_and_upload() -> str:
            from tui.services.trainer_package import build_trainer_sdist

            with tempfile.TemporaryDirectory(prefix="cloudpane-sdist-") as tmp:
                say("Building the trainer package…")
                sdist = build_trainer_sdist(Path(tmp))
                return self._upload_sdist(bucket, prefix, sdist, say)

        package_uri = await call(
            package_and_upload, action=f"upload the trainer package to gs://{bucket}"
        )
        return package_uri, f"gs://{bucket}/{prefix}"

    def _upload_sdist(
        self, bucket: str, prefix: str, sdist: Path, say: Callable[[str], None]
    ) -> str:
        """Upload one archive below gs://BUCKET/PREFIX/package/ (blocking); its URI."""
        name = f"{prefix}/package/{sdist.name}"
        say(f"Uploading {sdist.name} to gs://{bucket}/{name}…")
        blob = self._storage().bucket(bucket).blob(name)
        blob.upload_from_filename(str(sdist), content_type="application/gzip")
        return f"gs://{bucket}/{name}"

    def _output_prefix(self, req: TrainerJobRequest, folder: str) -> tuple[str, str]:
        problems = validate_trainer_request(req)
        if problems:
            raise InvalidArgument(
                "The job settings are not valid:\n" + "\n".join(f"- {p}" for p in problems),
                "Fix the listed fields and submit again.",
            )
        bucket, base = split_bucket(req.staging_bucket)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        prefix = req.output_prefix.strip("/") or "/".join(
            p for p in (base, f"{folder}/{_slug(req.display_name)}-{stamp}") if p
        )
        return bucket, prefix

    async def submit_code(
        self,
        req: TrainerJobRequest,
        archives: Sequence[Path],
        module: str,
        progress: Callable[[str], None] | None = None,
    ) -> Job:
        """Upload a user's packaged code (tui/services/packaging.py) and create its job."""
        say = progress or (lambda text: None)
        spec, _ = await self.stage_code(req, archives, module, say)
        say("Creating the training job…")
        return await self.submit(spec)

    async def stage_code(
        self,
        req: TrainerJobRequest,
        archives: Sequence[Path],
        module: str,
        say: Callable[[str], None],
    ) -> tuple[JobSpec, str]:
        """Upload the archives to the staging bucket; the job spec to submit and its output URI.

        (`--local-run` submits the same spec to the sandbox first, then to Vertex.)
        """
        bucket, prefix = self._output_prefix(req, "cloudpane-jobs")

        def upload() -> list[str]:
            return [self._upload_sdist(bucket, prefix, a, say) for a in archives]

        uris = await call(upload, action=f"upload the package to gs://{bucket}")
        output = f"gs://{bucket}/{prefix}"
        spec = trainer_job_spec(req, uris, output, module=module)
        check_job_spec(spec)
        return spec, output

    def _storage(self) -> Any:
        """The one google-cloud-storage client of this backend (StorageService's)."""
        from tui.services.storage import StorageService

        return StorageService(self.backend).client()

    async def list_jobs(self, region: str | None = None) -> list[Job]:
        """The region's custom jobs, newest first."""
        region = region or self.backend.region

        def fetch() -> list[Job]:
            pager = self._client(region).list_custom_jobs(
                request={"parent": self._parent(region), "page_size": 100},
                retry=read_retry(),
                timeout=30,
            )
            jobs = [job_from_resource(to_resource(j)) for j in pager]
            epoch = datetime.min.replace(tzinfo=timezone.utc)
            return sorted(jobs, key=lambda j: j.created or epoch, reverse=True)

        return await call(fetch, action=f"list training jobs in {region}")

    async def job_resource(self, name: str) -> dict[str, Any]:
        """The full CustomJob resource (REST JSON) for the details view."""
        region = region_of(name)

        def fetch() -> dict[str, Any]:
            found = self._client(region).get_custom_job(name=name, retry=read_retry(), timeout=30)
            return to_resource(found)

        return await call(fetch, action=f"read training job {name.rsplit('/', 1)[-1]}")

    async def get_job(self, name: str) -> Job:
        return job_from_resource(await self.job_resource(name))

    async def cancel(self, name: str) -> None:
        """Ask Vertex to cancel; the job goes CANCELLING, then CANCELLED."""
        region = region_of(name)

        def cancel() -> None:
            self._client(region).cancel_custom_job(name=name, timeout=30)

        await call(cancel, action=f"cancel training job {name.rsplit('/', 1)[-1]}")

    async def delete(self, name: str) -> None:
        """Delete a finished job's record (Vertex refuses while it runs)."""
        region = region_of(name)

        def delete() -> None:
            self._client(region).delete_custom_job(name=name, timeout=30).result(timeout=60)

        await call(delete, action=f"delete training job {name.rsplit('/', 1)[-1]}")

    async def rerun(self, job: Job | JobSpec, edits: Mapping[str, Any] | None = None) -> Job:
        """Submit the job's spec again, optionally edited (see `edit_spec`)."""
        spec = job.spec if isinstance(job, Job) else job
        return await self.submit(edit_spec(spec, edits))
