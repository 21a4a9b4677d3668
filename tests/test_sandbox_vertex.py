"""The sandbox's Vertex AI customJobs and Cloud Logging entries.list, driven by Google's own
clients (aiplatform_v1 GAPIC over REST, the high-level aiplatform SDK, google-cloud-logging)."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from google.api_core import exceptions as gexc
from google.cloud import aiplatform_v1
from google.cloud import logging as cloud_logging
from jobs_helpers import upload_standin, wait_until

from tui.sandbox import daemon
from tui.sandbox.logging_filter import FilterError, compile_filter, parse_timestamp_ns
from tui.services.clients import Backend, sandbox_backend

REGION = "us-central1"
FINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


def job_client(backend: Backend) -> aiplatform_v1.JobServiceClient:
    return aiplatform_v1.JobServiceClient(
        credentials=backend.credentials,
        transport="rest",
        client_options={"api_endpoint": backend.endpoint},
    )


def log_client(backend: Backend) -> cloud_logging.Client:
    return cloud_logging.Client(
        project=backend.project,
        credentials=backend.credentials,
        _use_grpc=False,
        client_options={"api_endpoint": backend.endpoint},
    )


def job_body(package: str, args: list[str], *, workers: int = 0, **extra: Any) -> dict[str, Any]:
    pool = {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "python_package_spec": {
            "executor_image_uri": "us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest",
            "package_uris": [package],
            "python_module": "trainer.task",
            "args": args,
        },
    }
    pools = [pool] + ([{**pool, "replica_count": workers}] if workers else [])
    return {
        "display_name": extra.pop("display_name", "standin"),
        "job_spec": {
            "worker_pool_specs": pools,
            "base_output_directory": {"output_uri_prefix": "gs://stage/out"},
            **extra,
        },
    }


def state_of(client: aiplatform_v1.JobServiceClient, name: str) -> str:
    return str(client.get_custom_job(name=name).state.name)


def wait_final(client: aiplatform_v1.JobServiceClient, name: str, timeout: float = 30) -> Any:
    wait_until(lambda: state_of(client, name) in FINAL, timeout, 0.1, f"{name} to end")
    return client.get_custom_job(name=name)


def job_lines(backend: Backend, job_id: str) -> list[Any]:
    return list(
        log_client(backend).list_entries(
            filter_=f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
            page_size=1000,
        )
    )


@pytest.fixture
def package(clean_sandbox: Backend) -> str:
    return upload_standin(clean_sandbox)


@pytest.fixture
def jobs(clean_sandbox: Backend) -> aiplatform_v1.JobServiceClient:
    return job_client(clean_sandbox)


def parent(backend: Backend) -> str:
    return f"projects/{backend.project}/locations/{REGION}"


# --- customJobs ------------------------------------------------------------------------------


def test_job_runs_to_success_with_google_states_and_times(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox),
        custom_job=job_body(package, ["--epochs", "2", "--model"], scheduling={"strategy": "SPOT"}),
    )
    assert created.state.name == "JOB_STATE_QUEUED"
    assert re.fullmatch(rf"{parent(clean_sandbox)}/customJobs/\d+", created.name)
    seen = {created.state.name}
    while (state := state_of(jobs, created.name)) not in FINAL:
        seen.add(state)
    job = jobs.get_custom_job(name=created.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED", job.error
    assert "JOB_STATE_RUNNING" in seen or "JOB_STATE_PENDING" in seen
    assert job.create_time <= job.start_time <= job.end_time <= job.update_time
    assert job.job_spec.scheduling.strategy.name == "SPOT"
    spec = job.job_spec.worker_pool_specs[0]
    assert spec.machine_spec.machine_type == "n1-standard-4" and spec.replica_count == 1
    # The model went through gs:// into the bucket, under Vertex's model/ folder.
    from jobs_helpers import storage_client

    names = [b.name for b in storage_client(clean_sandbox).list_blobs("stage", prefix="out/")]
    assert names == ["out/model/saved_model.txt"]
    listed = jobs.list_custom_jobs(parent=parent(clean_sandbox))
    assert [j.name for j in listed] == [created.name]
    texts = [e.payload for e in job_lines(clean_sandbox, created.name.rsplit("/", 1)[1])]
    assert texts[0] == "Waiting for job to be provisioned."
    assert "epoch=2/2 loss=0.5000 val_loss=0.5500 val_abs_rel=0.2500 images_per_sec=100.0" in texts
    assert texts[-1] == "Job completed successfully."


def test_failed_replica_fails_the_job_with_its_last_lines(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body(package, ["--epochs", "1", "--exit", "3"])
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_FAILED"
    assert job.error.code == 3
    assert job.error.message.startswith(
        "The replica workerpool0-0 exited with a non-zero status of 3."
    )
    assert "RuntimeError: the stand-in failed on purpose" in job.error.message
    entries = job_lines(clean_sandbox, created.name.rsplit("/", 1)[1])
    stderr = [e for e in entries if e.payload.startswith("RuntimeError")]
    assert stderr and stderr[0].severity == "ERROR"
    assert stderr[0].resource.labels == {
        "job_id": created.name.rsplit("/", 1)[1],
        "project_id": clean_sandbox.project,
        "task_name": "workerpool0-0",
    }
    assert stderr[0].log_name == f"projects/{clean_sandbox.project}/logs/workerpool0-0"


def test_missing_package_fails_the_job(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body("gs://stage/nope.tar.gz", [])
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_FAILED"
    assert "gs://stage/nope.tar.gz could not be read (not found)" in job.error.message


def test_cancel_stops_the_processes(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body(package, ["--epochs", "0", "--forever"])
    )
    job_id = created.name.rsplit("/", 1)[1]
    start = wait_until(
        lambda: [e for e in job_lines(clean_sandbox, job_id) if "standin start" in e.payload],
        what="the replica to start",
    )
    pid = int(start[0].payload.rsplit("pid=", 1)[1])
    assert psutil.pid_exists(pid)
    jobs.cancel_custom_job(name=created.name)
    assert state_of(jobs, created.name) in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_CANCELLED"
    assert job.error.code == 1 and job.end_time
    texts = [e.payload for e in job_lines(clean_sandbox, job_id)]
    assert "got SIGTERM, stopping" in texts  # SIGTERM reached the trainer first
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(gexc.BadRequest, match="already JOB_STATE_CANCELLED"):
        jobs.cancel_custom_job(name=created.name)


def test_multi_replica_jobs_get_cluster_spec_and_tf_config(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox),
        custom_job=job_body(package, ["--epochs", "1", "--env"], workers=2),
    )
    job = wait_final(jobs, created.name)
    assert job.state.name == "JOB_STATE_SUCCEEDED", job.error.message
    job_id = created.name.rsplit("/", 1)[1]
    envs = {
        e.resource.labels["task_name"]: json.loads(e.payload[4:])
        for e in job_lines(clean_sandbox, job_id)
        if e.payload.startswith("ENV ")
    }
    assert sorted(envs) == ["workerpool0-0", "workerpool1-0", "workerpool1-1"]
    configs = {task: json.loads(env["TF_CONFIG"]) for task, env in envs.items()}
    cluster = configs["workerpool0-0"]["cluster"]
    assert len(cluster["chief"]) == 1 and len(cluster["worker"]) == 2
    assert all(c["cluster"] == cluster for c in configs.values())
    assert all(addr.startswith("127.0.0.1:") for addr in cluster["chief"] + cluster["worker"])
    assert configs["workerpool0-0"]["task"] == {"type": "chief", "index": 0}
    assert configs["workerpool1-1"]["task"] == {"type": "worker", "index": 1}
    spec = json.loads(envs["workerpool1-0"]["CLUSTER_SPEC"])
    assert spec["task"] == {"type": "workerpool1", "index": 0}
    assert sorted(spec["cluster"]) == ["workerpool0", "workerpool1"]
    for env in envs.values():
        assert env["AIP_MODEL_DIR"] == "gs://stage/out/model/"
        assert env["AIP_CHECKPOINT_DIR"] == "gs://stage/out/checkpoints/"
        assert env["AIP_TENSORBOARD_LOG_DIR"] == "gs://stage/out/logs/"
        assert env["CLOUD_ML_JOB_ID"] == job_id
        assert env["CLOUD_ML_PROJECT_ID"] == clean_sandbox.project


def test_single_replica_has_no_tf_config(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body(package, ["--epochs", "0", "--env"])
    )
    wait_final(jobs, created.name)
    lines = job_lines(clean_sandbox, created.name.rsplit("/", 1)[1])
    env = json.loads(next(e.payload for e in lines if e.payload.startswith("ENV "))[4:])
    assert env["TF_CONFIG"] is None and env["CLUSTER_SPEC"] is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["job_spec"]["worker_pool_specs"][0].update(replica_count=2), "must be 1"),
        (
            lambda b: b["job_spec"]["worker_pool_specs"][0]["machine_spec"].update(
                machine_type="e2-standard-4",
                accelerator_type="NVIDIA_TESLA_T4",
                accelerator_count=1,
            ),
            "e2-standard-4 does not take accelerators",
        ),
        (
            lambda b: b["job_spec"]["worker_pool_specs"][0]["machine_spec"].update(
                machine_type="n1-standard-32",
                accelerator_type="NVIDIA_TESLA_V100",
                accelerator_count=2,
            ),
            "takes 4, 8× NVIDIA_TESLA_V100, not 2",
        ),
        (lambda b: b.update(display_name=""), "displayName is required"),
        (
            lambda b: b["job_spec"]["worker_pool_specs"][0]["python_package_spec"].update(
                package_uris=["/local/file.tar.gz"]
            ),
            "is not gs://",
        ),
    ],
)
def test_invalid_jobs_are_refused(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, change: Any, message: str
) -> None:
    body = job_body("gs://stage/p.tar.gz", [])
    change(body)
    with pytest.raises(gexc.BadRequest, match=re.escape(message)):
        jobs.create_custom_job(parent=parent(clean_sandbox), custom_job=body)
    assert list(jobs.list_custom_jobs(parent=parent(clean_sandbox))) == []


def test_unknown_job_project_and_delete(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    with pytest.raises(gexc.NotFound):
        jobs.get_custom_job(name=f"{parent(clean_sandbox)}/customJobs/123")
    with pytest.raises((gexc.Forbidden, gexc.PermissionDenied)):
        jobs.list_custom_jobs(parent=f"projects/someone-else/locations/{REGION}")
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body(package, ["--forever"])
    )
    with pytest.raises(gexc.BadRequest, match="cancel it before deleting"):
        jobs.delete_custom_job(name=created.name)
    jobs.cancel_custom_job(name=created.name)
    wait_final(jobs, created.name)
    jobs.delete_custom_job(name=created.name).result(timeout=10)
    with pytest.raises(gexc.NotFound):
        jobs.get_custom_job(name=created.name)


def test_list_pages_and_filters(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    names = [
        jobs.create_custom_job(
            parent=parent(clean_sandbox),
            custom_job=job_body(package, ["--epochs", "0"], display_name=f"job-{i}"),
        ).name
        for i in range(3)
    ]
    pager = jobs.list_custom_jobs(request={"parent": parent(clean_sandbox), "page_size": 2})
    assert sorted(j.name for j in pager) == sorted(names)
    only = jobs.list_custom_jobs(
        request={"parent": parent(clean_sandbox), "filter": 'display_name="job-1"'}
    )
    assert [j.display_name for j in only] == ["job-1"]
    for name in names:
        wait_final(jobs, name)


def test_high_level_sdk_reads_sandbox_jobs(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body(package, ["--epochs", "0"])
    )
    wait_final(jobs, created.name)
    from google.cloud import aiplatform

    aiplatform.init(
        project=clean_sandbox.project,
        location=REGION,
        api_endpoint=clean_sandbox.endpoint,
        api_transport="rest",
        credentials=clean_sandbox.credentials,
    )
    job = aiplatform.CustomJob.get(created.name)
    assert job.display_name == "standin"
    assert job.state.name == "JOB_STATE_SUCCEEDED"
    assert [j.resource_name for j in aiplatform.CustomJob.list()] == [created.name]


def stop_daemon(info: daemon.SandboxInfo) -> None:
    """SIGTERM the daemon and reap it (this process started it: it would linger as a zombie)."""
    os.kill(info.pid, signal.SIGTERM)
    try:
        os.waitpid(info.pid, 0)
    except ChildProcessError:  # already reaped by subprocess's own clean-up
        wait_until(lambda: not psutil.pid_exists(info.pid), 10, what="the daemon to exit")


def test_jobs_of_a_stopped_daemon_fail_as_sandbox_restarted(tmp_path: Path) -> None:
    info = daemon.start(tmp_path / "sb", env={"CLOUDPANE_SANDBOX_TIMING": '{"operation": 0.05}'})
    try:
        backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
        package = upload_standin(backend)
        client = job_client(backend)
        created = client.create_custom_job(
            parent=parent(backend), custom_job=job_body(package, ["--forever"])
        )
        job_id = created.name.rsplit("/", 1)[1]
        start = wait_until(
            lambda: [e for e in job_lines(backend, job_id) if "standin start" in e.payload],
            what="the replica to start",
        )
        pid = int(start[0].payload.rsplit("pid=", 1)[1])
        stop_daemon(info)
        assert wait_until(lambda: not psutil.pid_exists(pid), 10, what="the replica to end")
        info = daemon.start(tmp_path / "sb")
        client = job_client(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
        job = client.get_custom_job(name=created.name)
        assert job.state.name == "JOB_STATE_FAILED"
        assert job.error.message.startswith("sandbox restarted")
    finally:
        info = daemon.status(tmp_path / "sb")
        if info is not None:
            stop_daemon(info)


# --- Cloud Logging ---------------------------------------------------------------------------


@pytest.fixture
def logged(clean_sandbox: Backend) -> Iterator[cloud_logging.Client]:
    """Entries of two jobs and a VM, written with google-cloud-logging's entries:write."""
    client = log_client(clean_sandbox)
    project = clean_sandbox.project
    for job_id in ("111", "222"):
        resource = {
            "type": "ml_job",
            "labels": {"job_id": job_id, "project_id": project, "task_name": "workerpool0-0"},
        }
        entries = [
            {"textPayload": f"job {job_id} line {i}", "severity": "ERROR" if i == 4 else "INFO"}
            for i in range(5)
        ]
        client.logging_api.write_entries(
            entries, logger_name=f"projects/{project}/logs/workerpool0-0", resource=resource
        )
    client.logging_api.write_entries(
        [{"textPayload": "vm line"}],
        logger_name=f"projects/{project}/logs/syslog",
        resource={"type": "gce_instance", "labels": {"instance_id": "111"}},
    )
    yield client


def texts(entries: Any) -> list[str]:
    return [e.payload for e in entries]


def test_entries_list_filters(logged: cloud_logging.Client) -> None:
    def query(filter_: str, **kw: Any) -> list[str]:
        return texts(logged.list_entries(filter_=filter_, **kw))

    assert query('resource.labels.job_id="111"') == [f"job 111 line {i}" for i in range(5)]
    both = query(
        'resource.type="ml_job" AND (resource.labels.job_id="111" OR resource.labels.job_id="222")'
    )
    assert len(both) == 10
    assert query('resource.labels.job_id=("111" OR "222") AND severity>=ERROR') == [
        "job 111 line 4",
        "job 222 line 4",
    ]
    # OR binds tighter than AND, as in Google's language.
    assert (
        len(
            query(
                'resource.type="ml_job" AND resource.labels.job_id="111" OR resource.labels.job_id="222"'
            )
        )
        == 10
    )
    assert query('resource.type="gce_instance" AND resource.labels.instance_id="111"') == [
        "vm line"
    ]
    assert query('resource.labels.job_id="111" AND textPayload:"LINE 3"') == ["job 111 line 3"]
    assert query('resource.labels.job_id="111" AND NOT severity=INFO') == ["job 111 line 4"]
    newest = query('resource.labels.job_id="222"', order_by=cloud_logging.DESCENDING)
    assert newest == [f"job 222 line {i}" for i in reversed(range(5))]
    all_111 = list(logged.list_entries(filter_='resource.labels.job_id="111"'))
    third = all_111[2]
    stamp = third.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert query(f'resource.labels.job_id="111" AND timestamp>"{stamp}"') == [
        "job 111 line 3",
        "job 111 line 4",
    ]
    assert query(f'resource.labels.job_id="111" AND timestamp>="{stamp}"')[0] == "job 111 line 2"


def test_entries_list_pages(logged: cloud_logging.Client) -> None:
    # page_size 3 over 10 entries: the client follows nextPageToken through 4 pages.
    got = texts(logged.list_entries(filter_='resource.type="ml_job"', page_size=3))
    assert len(got) == 10 and len(set(got)) == 10


def test_entries_list_errors(logged: cloud_logging.Client) -> None:
    with pytest.raises(gexc.BadRequest, match="Unsupported field 'bogus'"):
        list(logged.list_entries(filter_='bogus="x"'))
    with pytest.raises(gexc.BadRequest, match=r"Missing '\)'"):
        list(logged.list_entries(filter_='(resource.type="ml_job"'))
    with pytest.raises(gexc.BadRequest, match="Invalid timestamp"):
        list(logged.list_entries(filter_='timestamp>="yesterday"'))


def test_filter_compiler_units() -> None:
    sql, params = compile_filter('resource.labels.job_id="7"')
    assert sql == "rid = (SELECT id FROM log_resources WHERE key = ?)" and params == ["job_id=7"]
    assert parse_timestamp_ns("2024-05-01T12:00:00.123456789Z") % 10**9 == 123456789
    assert parse_timestamp_ns("2024-05-01T14:00:00+02:00") == parse_timestamp_ns(
        "2024-05-01T12:00:00Z"
    )
    unquoted, _ = compile_filter("timestamp>=2024-05-01T12:00:00Z")
    assert unquoted == "ts >= ?"
    with pytest.raises(FilterError):
        compile_filter('textPayload=~"a.*"')


def test_stderr_is_error_and_stdout_info_whatever_the_line_says(
    clean_sandbox: Backend, jobs: aiplatform_v1.JobServiceClient, package: str
) -> None:
    """As Vertex records them: the stream decides, not the text (docs/gcp-facts.md)."""
    created = jobs.create_custom_job(
        parent=parent(clean_sandbox), custom_job=job_body(package, ["--stderr-log"])
    )
    wait_final(jobs, created.name)
    entries = job_lines(clean_sandbox, created.name.rsplit("/", 1)[1])
    severity = {e.payload: e.severity for e in entries}
    assert severity["INFO:root:chatter on stderr"] == "ERROR"
    assert severity["W1202 14:00:00.000000 1 task.py:9] careful on stderr"] == "ERROR"
    assert severity["2026-12-02 14:00:00.000000: I tensorflow/core/x.cc:1] tf on stderr"] == "ERROR"
    assert (
        severity["epoch=1/2 loss=1.0000 val_loss=1.1000 val_abs_rel=0.5000 images_per_sec=100.0"]
        == "INFO"
    )
