"""Vertex AI prebuilt training images: a dated catalog, no default past end of availability,
and a sandbox that refuses what Vertex no longer runs (driven through Google's aiplatform client)."""

from __future__ import annotations

from datetime import date

import pytest
from google.api_core import exceptions as gexc
from jobs_helpers import TRAINER_IMAGE, upload_standin
from test_sandbox_vertex import job_body, job_client, parent, wait_final

from tui.services import training_images as ti
from tui.services.clients import Backend
from tui.services.job_models import TrainerJobRequest
from tui.services.jobs import validate_trainer_request

TF217_CPU = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
TODAY = date(2026, 12, 2)


def test_catalog_is_dated_and_sourced() -> None:
    catalog = ti.load_catalog()
    assert catalog.as_of == "2026-12-02" and "supported-frameworks" in catalog.source
    tf = catalog.find(TF217_CPU)
    assert tf is not None and tf.source
    assert (tf.end_of_support, tf.end_of_availability) == (date(2025, 7, 11), date(2026, 7, 11))
    assert catalog.find(TF217_CPU.replace("us-docker", "europe-docker")) == tf
    assert {i.framework for i in catalog.images} == {"TensorFlow", "PyTorch"}


def test_a_default_is_never_past_its_end_of_availability() -> None:
    catalog = ti.load_catalog()
    # Before 2026-07-11, TF 2.17 was the default (past its end of support, still available) …
    before = catalog.default(gpu=False, today=date(2026, 1, 15))
    assert before is not None and before.uri == TF217_CPU
    assert "no more fixes since 2025-07-11; usable until 2026-07-11" in ti.describe(
        TF217_CPU, date(2026, 1, 15)
    )
    # … on 2026-12-02 no prebuilt TensorFlow image is available: there is no default at all.
    assert catalog.default(gpu=False, today=TODAY) is None
    assert catalog.default(gpu=True, today=TODAY) is None
    assert "ENDED: end of availability 2026-07-11" in ti.describe(TF217_CPU, TODAY)
    assert "tf-cpu.2-17.py310:latest, ended on 2026-07-11" in ti.no_default_problem(False, TODAY)
    # Unknown dates are never assumed available.
    torch = catalog.find("us-docker.pkg.dev/vertex-ai/training/pytorch-cpu.2-4.py310:latest")
    assert torch is not None and not torch.available(TODAY) and not torch.ended(TODAY)


def test_the_trainer_request_refuses_an_ended_image_and_accepts_any_other_uri() -> None:
    base = TrainerJobRequest(display_name="depth", staging_bucket="gs://stage")
    problems = {p.field: p.message for p in validate_trainer_request(base)}
    assert "No prebuilt TensorFlow training container" in problems["executor_image_uri"]
    ended = validate_trainer_request(
        TrainerJobRequest("depth", "gs://stage", executor_image_uri=TF217_CPU)
    )
    assert [p.field for p in ended] == ["executor_image_uri"]
    assert "2026-07-11" in ended[0].message
    custom = TrainerJobRequest("depth", "gs://stage", executor_image_uri=TRAINER_IMAGE)
    assert validate_trainer_request(custom) == []
    assert "accepted as given" in ti.describe(TRAINER_IMAGE, TODAY)


def test_sandbox_refuses_a_prebuilt_image_past_end_of_availability(
    clean_sandbox: Backend,
) -> None:
    jobs = job_client(clean_sandbox)
    package = upload_standin(clean_sandbox)
    body = job_body(package, ["--epochs=1"])
    body["job_spec"]["worker_pool_specs"][0]["python_package_spec"]["executor_image_uri"] = (
        TF217_CPU
    )
    with pytest.raises(gexc.BadRequest, match="end of availability on 2026-07-11"):
        jobs.create_custom_job(parent=parent(clean_sandbox), custom_job=body)
    assert not list(jobs.list_custom_jobs(parent=parent(clean_sandbox)))
    # A custom image URI is accepted and runs.
    ok = jobs.create_custom_job(parent=parent(clean_sandbox), custom_job=job_body(package, []))
    assert wait_final(jobs, ok.name).state.name == "JOB_STATE_SUCCEEDED"
