"""Bad input, everywhere a person (or a network) can give it: every case gets a clear message.

One suite across the app's inputs: VM names, sizes and zones, bucket and object names, local
paths, job and tuning YAML, command-line flags, the config file, and garbled API answers.
Each case checks that the message names the bad value or its place (file:line and field) and
says what to do, and that nothing crashes (no traceback, no raw exception).

Real parts only: Google's own clients against the session sandbox; the garbled answers come
from the sandbox's fault middleware (`malformed_next`, `html_next`), not from mocks.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tui.__main__ import main
from tui.config import ConfigError, load_config
from tui.panes.vm_forms import check_gpu, parse_disk_size
from tui.sandbox import daemon
from tui.sandbox.faults import FaultSettings
from tui.services.clients import Backend
from tui.services.compute import ComputeService, validate_instance_name
from tui.services.errors import BadAnswer, CloudpaneError, InvalidArgument, Unavailable
from tui.services.hpconfig import (
    HpConfigInvalid,
    bundled_trainer_flags,
    bundled_trainer_metrics,
    load_hp_config,
    parse_hp_config,
)
from tui.services.jobs import JobsService
from tui.services.jobspec_yaml import JobSpecFileError, load_job_spec, parse_job_spec
from tui.services.models import AcceleratorType, Image, InstanceSpec
from tui.services.policy import AutoStopSyntaxError, parse_auto_stop
from tui.services.storage import StorageService
from tui.services.storage_models import UnsafePath, validate_bucket_name, validate_object_name
from tui.services.transfer import safe_local_path

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
ZONE = "us-central1-a"
DEBIAN = Image("debian-cloud", "debian-12")
# What must never reach a person: a traceback, a raw request line, markup, library internals.
NOISE = re.compile(
    r"Traceback|(GET|POST|PUT|PATCH|DELETE) https?://|<html|<!DOCTYPE|Request failed with status"
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def clear(error: CloudpaneError, *must_name: str) -> None:
    """A clear message: it names what it must, gives a hint, and carries no noise."""
    text = f"{error.message} {error.hint}"
    for part in must_name:
        assert part in text, f"{part!r} not in {text!r}"
    assert error.hint, f"no hint on what to do: {error.message!r}"
    assert not NOISE.search(text), text


# --- VM instance names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("Train-1", "lowercase", id="name-capitals"),
        pytest.param("1train", "start with a lowercase letter", id="name-starts-with-digit"),
        pytest.param("train_1", "'_'", id="name-underscore"),
        pytest.param("train-", "end with a hyphen", id="name-trailing-hyphen"),
        pytest.param("x" * 64, "at most 63", id="name-too-long"),
        pytest.param("my vm", "a space", id="name-space"),
    ],
)
def test_instance_name_rules(name: str, says: str) -> None:
    reason = validate_instance_name(name)
    assert reason is not None and says in reason


def test_instance_name_refused_before_any_request(clean_sandbox: Backend) -> None:
    spec = InstanceSpec(name="Bad_Name", zone=ZONE, machine_type="e2-medium", image=DEBIAN)
    with pytest.raises(CloudpaneError) as caught:
        run(ComputeService(clean_sandbox).create_instance(spec))
    assert "'Bad_Name'" in caught.value.message and "lowercase" in caught.value.message
    assert run(ComputeService(clean_sandbox).list_instances()) == []


# --- machine shapes and zones through the real Compute API (sandbox) ----------------------------


@pytest.mark.parametrize(
    ("changes", "must_name"),
    [
        pytest.param(
            {"zone": "mars-north1-a"}, ["mars-north1-a", "Unknown zone"], id="zone-unknown"
        ),
        pytest.param(
            {"machine_type": "n1-superduper-99"}, ["n1-superduper-99", ZONE], id="machine-unknown"
        ),
        pytest.param({"disk_size_gb": 5}, ["diskSizeGb", "'5'", "10 GB"], id="disk-too-small"),
        pytest.param(
            {"disk_size_gb": 100000}, ["diskSizeGb", "'100000'", "65536 GB"], id="disk-too-big"
        ),
        pytest.param({"disk_type": "pd-floppy"}, ["pd-floppy", "Check the names"], id="disk-type"),
        pytest.param(
            {"image": Image("debian-cloud", "debian-99")}, ["debian-99"], id="image-unknown"
        ),
        pytest.param(
            {
                "machine_type": "n1-standard-4",
                "accelerator_type": "nvidia-tesla-t4",
                "accelerator_count": 16,
            },
            ["'16'", "at most 4"],
            id="gpu-count-too-high",
        ),
        pytest.param(
            {
                "machine_type": "n1-standard-4",
                "accelerator_type": "nvidia-quantum-9",
                "accelerator_count": 1,
            },
            ["nvidia-quantum-9", "does not exist"],
            id="gpu-type-unknown",
        ),
        pytest.param(
            {
                "machine_type": "e2-standard-4",
                "accelerator_type": "nvidia-tesla-t4",
                "accelerator_count": 1,
            },
            ["e2-standard-4", "nvidia-tesla-t4", "not compatible"],
            id="gpu-on-e2",
        ),
        pytest.param(
            {
                "zone": "us-east1-b",
                "machine_type": "n1-standard-4",
                "accelerator_type": "nvidia-tesla-t4",
                "accelerator_count": 1,
            },
            ["nvidia-tesla-t4", "us-east1-b", "does not exist in zone"],
            id="gpu-not-in-zone",
        ),
    ],
)
def test_create_instance_refusals_are_clear(
    clean_sandbox: Backend, changes: dict[str, Any], must_name: list[str]
) -> None:
    values: dict[str, Any] = {
        "name": "vm-bad",
        "zone": ZONE,
        "machine_type": "e2-medium",
        "image": DEBIAN,
        "disk_size_gb": 10,
    }
    values.update(changes)
    svc = ComputeService(clean_sandbox)
    if changes.get("zone") == "us-east1-b":  # the premise: this zone offers no T4
        assert "nvidia-tesla-t4" not in {
            a.name for a in run(svc.list_accelerator_types("us-east1-b"))
        }
    with pytest.raises(CloudpaneError) as caught:
        run(svc.create_instance(InstanceSpec(**values)))
    assert caught.value.message.startswith("Could not create instance vm-bad: ")
    clear(caught.value, *must_name)


# --- the create form's own checks (before anything is sent) ------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("fifty", "whole number of GB (e.g. 50), not 'fifty'", id="disk-not-a-number"),
        pytest.param("50.5", "whole number of GB", id="disk-fraction"),
        pytest.param("5", "between 10 and 65536 GB, not 5", id="disk-below-minimum"),
        pytest.param("100000", "between 10 and 65536 GB, not 100000", id="disk-above-maximum"),
    ],
)
def test_form_disk_size(text: str, says: str) -> None:
    size, problem = parse_disk_size(text)
    assert size is None and says in problem


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("soon", "number of hours or minutes (4, 1.5, 4h, 90m", id="auto-stop-word"),
        pytest.param("0.1m", "between 30 seconds and 120 days", id="auto-stop-too-short"),
        pytest.param("5000", "not 5000", id="auto-stop-too-long"),
    ],
)
def test_form_auto_stop(text: str, says: str) -> None:
    with pytest.raises(AutoStopSyntaxError) as refused:
        parse_auto_stop(text)
    assert says in str(refused.value)


def test_form_auto_stop_accepts_good_values() -> None:
    assert parse_auto_stop("") is None
    assert parse_auto_stop(" 4 ") == 4 * 3600
    assert parse_auto_stop("90m") == 5400
    assert parse_disk_size(" 50 ") == (50, "")


def test_form_gpu_checks_use_the_zone_catalog(clean_sandbox: Backend) -> None:
    svc = ComputeService(clean_sandbox)
    here = {a.name: a for a in run(svc.list_accelerator_types(ZONE))}
    t4 = here["nvidia-tesla-t4"]
    assert check_gpu("nvidia-tesla-t4", 1, here, ZONE) == ""
    too_many = check_gpu("nvidia-tesla-t4", t4.max_per_instance * 2, here, ZONE)
    assert f"at most {t4.max_per_instance}" in too_many and ZONE in too_many
    assert "how many" in check_gpu("nvidia-tesla-t4", 0, here, ZONE)
    there = {a.name: a for a in run(svc.list_accelerator_types("us-east1-b"))}
    missing = check_gpu("nvidia-tesla-t4", 1, there, "us-east1-b")
    assert "us-east1-b offers no nvidia-tesla-t4" in missing and "another zone" in missing
    assert "GPUs there: none" in check_gpu("x", 1, {}, "z-1-a")
    assert isinstance(t4, AcceleratorType)


# --- bucket and object names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("My-Bucket", "lowercase letters", id="bucket-capitals"),
        pytest.param("ab", "at least 3", id="bucket-too-short"),
        pytest.param("my bucket!", "can only contain", id="bucket-bad-characters"),
        pytest.param("-bucket", "start and end with a letter or a digit", id="bucket-leading-dash"),
        pytest.param("192.168.1.1", "IP addresses", id="bucket-ip-address"),
        pytest.param("my-google-data", '"google"', id="bucket-google"),
    ],
)
def test_bucket_names_refused_with_the_rule(sandbox: Backend, name: str, says: str) -> None:
    reason = validate_bucket_name(name)
    assert reason is not None and says in reason
    with pytest.raises(CloudpaneError) as caught:
        run(StorageService(sandbox).create_bucket(name, "us-central1"))
    clear(caught.value, repr(name), says)


def test_bucket_location_and_class(clean_sandbox: Backend) -> None:
    svc = StorageService(clean_sandbox)
    with pytest.raises(CloudpaneError) as caught:
        run(svc.create_bucket("bad-class-bkt", "us-central1", "PLATINUM"))
    clear(caught.value, "'PLATINUM'", "STANDARD")
    with pytest.raises(CloudpaneError) as caught:
        run(svc.create_bucket("bad-location-bkt", "mars-north1"))
    clear(caught.value, "create bucket bad-location-bkt", "location")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("", "required", id="object-empty"),
        pytest.param("a\nb.txt", "line breaks", id="object-newline"),
        pytest.param("a\x00b", "control characters (\\x00)", id="object-nul"),
        pytest.param("x" * 1025, "at most 1024 bytes", id="object-too-long"),
        pytest.param("é" * 513, "this is 1026", id="object-too-long-utf8"),
        pytest.param("..", '"." or ".."', id="object-dotdot"),
        pytest.param("data/../secret", "downloaded safely", id="object-dotdot-folder"),
        pytest.param(".well-known/acme-challenge/x", "acme-challenge", id="object-acme"),
    ],
)
def test_object_names(name: str, says: str) -> None:
    reason = validate_object_name(name)
    assert reason is not None and says in reason


def test_object_names_that_are_fine() -> None:
    for name in ("a.txt", "data/train/0001.tfrecord", "spaces ok/ünï €.txt", "a/..b", ".hidden"):
        assert validate_object_name(name) is None, name


@pytest.mark.parametrize(
    ("prefix", "says"),
    [
        pytest.param("bad\nname/", "line breaks", id="upload-dest-newline"),
        pytest.param("../", 'cannot be "." or ".."', id="upload-dest-dotdot"),
    ],
)
def test_upload_to_an_invalid_object_name_is_refused_before_any_byte(
    clean_sandbox: Backend, tmp_path: Path, prefix: str, says: str
) -> None:
    svc = StorageService(clean_sandbox)
    run(svc.create_bucket("names-bkt", "us-central1"))
    source = tmp_path / "a.txt"
    source.write_text("hi")
    with pytest.raises(InvalidArgument) as caught:
        run(svc.upload("names-bkt", source, prefix))
    clear(caught.value, str(source), says)
    assert "Nothing was uploaded" in caught.value.hint
    assert run(svc.list_page("names-bkt")).blobs == ()


# --- local paths: uploads and downloads ---------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda d: d / "missing.txt", id="upload-missing-file"),
        pytest.param(lambda d: _broken_link(d), id="upload-broken-link"),
        pytest.param(lambda d: _fifo(d), id="upload-fifo"),
    ],
)
def test_upload_sources_that_are_not_files(
    sandbox: Backend, tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    source = make(tmp_path)
    with pytest.raises(CloudpaneError) as caught:
        run(StorageService(sandbox).upload("any-bucket", source))
    clear(caught.value, str(source), "not a file or folder")


def _broken_link(folder: Path) -> Path:
    link = folder / "dangling"
    link.symlink_to(folder / "gone")
    return link


def _fifo(folder: Path) -> Path:
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    return fifo


def _download_setup(backend: Backend, tmp_path: Path) -> StorageService:
    svc = StorageService(backend)
    run(svc.create_bucket("dl-bkt", "us-central1"))
    source = tmp_path / "a.txt"
    source.write_text("hi")
    run(svc.upload("dl-bkt", source))
    return svc


def test_download_into_a_file(clean_sandbox: Backend, tmp_path: Path) -> None:
    svc = _download_setup(clean_sandbox, tmp_path)
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(CloudpaneError) as caught:
        run(svc.download("dl-bkt", "a.txt", target))
    clear(caught.value, str(target), "folder")


def test_download_below_a_file(clean_sandbox: Backend, tmp_path: Path) -> None:
    svc = _download_setup(clean_sandbox, tmp_path)
    (tmp_path / "a-file").write_text("x")
    target = tmp_path / "a-file" / "sub"
    with pytest.raises(CloudpaneError) as caught:
        run(svc.download("dl-bkt", "a.txt", target))
    clear(caught.value, str(target))


def test_download_of_a_missing_object(clean_sandbox: Backend, tmp_path: Path) -> None:
    svc = _download_setup(clean_sandbox, tmp_path)
    result = run(svc.download("dl-bkt", "nope.txt", tmp_path / "out"))
    assert result.failed == {"nope.txt": "no such object"}


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("../../etc/passwd", "component '..'", id="escape-dotdot"),
        pytest.param("a/../../b", "component '..'", id="escape-dotdot-inside"),
        pytest.param("a/.../b", "component '...'", id="escape-dots"),
        pytest.param("evil\x00.txt", "NUL", id="escape-nul"),
        pytest.param("///", "no usable file name", id="escape-nothing-left"),
    ],
)
def test_object_names_that_would_escape_the_folder(tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        safe_local_path(tmp_path, name)
    assert says in caught.value.message and "was not saved" in caught.value.message
    assert "rename the object" in caught.value.hint


def test_object_name_through_a_link_that_leaves_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "data").symlink_to(outside)
    with pytest.raises(UnsafePath, match="link that leads outside"):
        safe_local_path(root, "data/x.txt")


# --- job spec YAML -------------------------------------------------------------------------------

POOL = """\
workerPoolSpecs:
  - machineSpec:
      machineType: n1-standard-4{extra}
    replicaCount: 1
    pythonPackageSpec:
      executorImageUri: us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest
      packageUris: [gs://my-bucket/trainer.tar.gz]
      pythonModule: trainer.task
"""


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        pytest.param(
            "workerPoolSpecs:\n  - machineSpec: {machineType: n1\n",
            "train.yaml:3",
            "invalid YAML",
            id="job-malformed-yaml",
        ),
        pytest.param("workerPoolSpecs:\n\t- x\n", "train.yaml:2", "not tabs", id="job-tabs"),
        pytest.param(
            POOL.format(extra="\n      acceleratorCount: two"),
            "train.yaml:4: workerPoolSpecs[0].machineSpec.acceleratorCount",
            "whole number (got 'two')",
            id="job-wrong-type",
        ),
        pytest.param(
            POOL.format(extra="\n      machineTyp: n1-standard-8"),
            "train.yaml:4: workerPoolSpecs[0].machineSpec.machineTyp",
            "did you mean machineType?",
            id="job-unknown-field",
        ),
        pytest.param(
            "baseOutputDirectory:\n  outputUriPrefix: gs://my-bucket/out\n",
            "train.yaml:1: workerPoolSpecs",
            "is required",
            id="job-missing-field",
        ),
        pytest.param("- a\n- b\n", "train.yaml:1", "must be a mapping", id="job-list-not-mapping"),
        pytest.param("", "train.yaml:1", "the file is empty", id="job-empty-file"),
        pytest.param(
            POOL.replace("gs://my-bucket/trainer.tar.gz", "/home/me/trainer.tar.gz").format(
                extra=""
            ),
            "train.yaml:7: workerPoolSpecs[0].pythonPackageSpec.packageUris[0]",
            "gs://BUCKET/PATH",
            id="job-local-package-path",
        ),
        pytest.param(
            POOL.format(extra="") + "workerPoolSpecs: []\n",
            "train.yaml:9: workerPoolSpecs",
            "duplicate key (first on line 1)",
            id="job-duplicate-key",
        ),
    ],
)
def test_job_spec_yaml(text: str, where: str, says: str) -> None:
    with pytest.raises(JobSpecFileError) as caught:
        parse_job_spec(text, "train.yaml")
    clear(caught.value, where, says, "nothing was submitted")


def test_job_spec_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(JobSpecFileError) as caught:
        load_job_spec(tmp_path / "nope.yaml")
    clear(caught.value, "nope.yaml", "No such file", str(tmp_path / "nope.yaml"), "Check the path")
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(JobSpecFileError, match=r"model\.yaml: cannot be read"):
        load_job_spec(binary)


# --- hyperparameter tuning YAML ------------------------------------------------------------------

STUDY = """\
studySpec:
  metrics:
  - metricId: {metric}
    goal: {goal}
  parameters:
  - parameterId: {param}
    doubleValueSpec:
      minValue: {low}
      maxValue: 0.1
maxTrialCount: 4
parallelTrialCount: {parallel}
"""
GOOD = {"metric": "val_loss", "goal": "MINIMIZE", "param": "learning_rate", "low": 0.001}


def study(**changes: object) -> str:
    return STUDY.format(**{**GOOD, "parallel": 2, **changes})


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        pytest.param(
            "studySpec:\n  metrics: [{metricId: loss\n",
            "hp.yaml:3:1",
            "invalid YAML",
            id="hp-malformed-yaml",
        ),
        pytest.param(
            study(low="small"),
            "hp.yaml:8: studySpec.parameters[0].doubleValueSpec.minValue",
            "must be a number (got 'small')",
            id="hp-wrong-type",
        ),
        pytest.param(
            study() + "studySpec2: {}\n",
            "hp.yaml:12: studySpec2",
            "",
            id="hp-unknown-top-level-field",
        ),
        pytest.param(
            study(goal="SMALLEST"),
            "hp.yaml:4: studySpec.metrics[0].goal",
            "one of MAXIMIZE, MINIMIZE (got SMALLEST)",
            id="hp-bad-enum",
        ),
        pytest.param(
            study(low=0.5),
            "hp.yaml:8: studySpec.parameters[0].doubleValueSpec.minValue",
            "must be ≤ maxValue 0.1",
            id="hp-min-above-max",
        ),
        pytest.param(
            study(param="learnin_rate"),
            "hp.yaml:6: studySpec.parameters[0].parameterId",
            "did you mean learning_rate?",
            id="hp-unknown-trainer-flag",
        ),
        pytest.param(
            study(metric="f1_magic", goal="MAXIMIZE"),
            "hp.yaml:3: studySpec.metrics[0].metricId",
            "does not report 'f1_magic'",
            id="hp-unknown-metric",
        ),
        pytest.param(
            study(parallel=9),
            "hp.yaml:11: parallelTrialCount",
            "must be ≤ maxTrialCount 4",
            id="hp-parallel-above-max",
        ),
        pytest.param(
            "studySpec:\n  parameters: []\nmaxTrialCount: 4\n",
            "hp.yaml:1: studySpec",
            "needs metrics",
            id="hp-missing-field",
        ),
        pytest.param(
            "trainingInput:\n  hyperparameters:\n    goal: MAXIMIZE\n"
            "    hyperparameterMetricTag: val_loss\n    maxTrials: ten\n",
            "hp.yaml:5: trainingInput.hyperparameters.maxTrials",
            "whole number (got 'ten')",
            id="hp-legacy-wrong-type",
        ),
        pytest.param("foo: 1\n", "hp.yaml:1", "studySpec", id="hp-not-a-tuning-file"),
    ],
)
def test_tuning_yaml(text: str, where: str, says: str) -> None:
    with pytest.raises(HpConfigInvalid) as caught:
        parse_hp_config(text, "hp.yaml", bundled_trainer_metrics(), bundled_trainer_flags())
    clear(caught.value, where, says, "nothing was submitted")


def test_tuning_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(HpConfigInvalid) as caught:
        load_hp_config(tmp_path)  # a folder, not a file
    clear(caught.value, "cannot be read", str(tmp_path), "Check the path")


# --- command line flags and verbs ----------------------------------------------------------------


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the real entry point in-process: (exit status, stderr)."""
    code, _out, err = cli_all(argv, capsys)
    return code, err


def cli_all(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of the real entry point, run in-process."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    return code, out, err


@pytest.fixture
def on_sandbox(sandbox_info: daemon.SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cloudpane … --sandbox` finds the session's sandbox."""
    monkeypatch.setenv("CLOUDPANE_SANDBOX_DIR", str(sandbox_info.data_dir))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(
            ["status", "--format", "nope"],
            "unrecognized arguments: --format nope",
            id="cli-unknown-flag",
        ),
        pytest.param(["frobnicate"], "invalid choice: 'frobnicate'", id="cli-unknown-verb"),
        pytest.param(
            ["status", "--failed-within", "soon"],
            "expected a number of hours, got 'soon'",
            id="cli-bad-hours",
        ),
        pytest.param(
            ["--zone", "nowhere", "status"],
            "--zone: 'nowhere' is not a zone name",
            id="cli-zone-garbage",
        ),
        pytest.param(
            ["--zone", "us-central1", "status"], "is a region, not a zone", id="cli-zone-is-region"
        ),
        pytest.param(
            ["--region", "us-central1-a", "status"],
            "is a zone, not a region",
            id="cli-region-is-zone",
        ),
        pytest.param(
            ["--region", "europe-west4", "--zone", "us-central1-a", "status"],
            "--zone us-central1-a is not in --region europe-west4",
            id="cli-zone-outside-region",
        ),
        pytest.param(
            ["sandbox", "faults", "--error-rate", "5"], "must be from 0 to 1", id="cli-faults-rate"
        ),
        pytest.param(
            ["sandbox", "faults", "--latency-ms", "-3"],
            "must be 0 or more, got -3",
            id="cli-faults-latency",
        ),
        pytest.param(
            ["sandbox", "faults", "--set", "{bad"], "not valid JSON", id="cli-faults-bad-json"
        ),
        pytest.param(
            ["sandbox", "faults", "--set", "[1, 2]"],
            "expected a JSON object",
            id="cli-faults-json-list",
        ),
        pytest.param(
            ["sandbox", "seed", "--instances", "-5"], "must be 0 or more", id="cli-seed-negative"
        ),
        pytest.param(["serve", "--port", "99999"], "between 1 and 65535", id="cli-serve-port"),
        pytest.param(
            ["jobs", "tune"], "the following arguments are required: FILE", id="cli-tune-no-file"
        ),
    ],
)
def test_cli_refuses_bad_flags(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = cli(argv, capsys)
    assert code == 2 and says in err, err


@pytest.mark.usefixtures("on_sandbox")
def test_cli_faults_unknown_setting_is_the_sandboxs_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = cli(["sandbox", "faults", "--set", '{"fail_nxt": 1}'], capsys)
    assert code == 2 and "unknown fault settings: fail_nxt" in err and "fail_next" in err


@pytest.mark.usefixtures("on_sandbox")
def test_cli_tune_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "hptuning.yaml"
    code, err = cli(["jobs", "tune", str(missing), "--sandbox"], capsys)
    assert code == 2
    assert "hptuning.yaml: cannot be read: No such file" in err and str(missing) in err
    assert "nothing was submitted" in err


@pytest.mark.usefixtures("on_sandbox")
def test_cli_tune_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hp.yaml"
    path.write_text(study(goal="SMALLEST"))
    code, err = cli(["jobs", "tune", str(path), "--sandbox"], capsys)
    assert code == 2 and "hp.yaml:4: studySpec.metrics[0].goal" in err


def test_cli_bad_fault_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLOUDPANE_SANDBOX_FAULTS", '{"error_rate": 0.2')
    code, err = cli(["status", "--sandbox"], capsys)
    assert code == 2 and "CLOUDPANE_SANDBOX_FAULTS" in err and "Fix or unset it" in err
    monkeypatch.setenv("CLOUDPANE_SANDBOX_FAULTS", '{"eror_rate": 0.2}')
    code, err = cli(["status", "--sandbox"], capsys)
    assert code == 2 and "unknown fault settings: eror_rate" in err


def test_cli_subprocess_never_shows_a_traceback(tmp_path: Path) -> None:
    """The installed entry point (a separate process), for the same kinds of mistakes."""
    env = {**os.environ, "CLOUDPANE_CONFIG_DIR": str(tmp_path)}
    for argv, says in (
        (["--zone", "nowhere", "status"], "not a zone name"),
        (["--config", str(tmp_path / "nope.toml"), "status"], "no such file"),
        (["sandbox", "faults", "--set", "{bad"], "not valid JSON"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "tui", *argv],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


# --- the config file -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param(
            'project = "p"\nzone = \n', "invalid TOML at line 2, column 8", id="config-invalid-toml"
        ),
        pytest.param(
            'project = "p"\nread_only = "yes"\n',
            ":2: read_only must be true or false, not 'yes'",
            id="config-wrong-type",
        ),
        pytest.param(
            'zome = "us-central1-a"\n',
            ":1: unknown setting 'zome'. Did you mean 'zone'?",
            id="config-unknown-key",
        ),
        pytest.param(
            'zone = "us-central1"\n',
            ":1: zone: 'us-central1' is a region, not a zone",
            id="config-zone-is-region",
        ),
        pytest.param(
            '[rules]\nidle_minutes = "thirty"\n',
            ":2: rules.idle_minutes",
            id="config-rules-wrong-type",
        ),
        pytest.param(
            "[profiles.work]\nread_only = 1\n",
            ":2 [profiles.work]: read_only must be true or false",
            id="config-profile-wrong-type",
        ),
        pytest.param(
            "profiles = 3\n", ":1: profiles must be a table", id="config-profiles-not-table"
        ),
    ],
)
def test_config_file(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}{says}" in str(caught.value) or (
        str(path) in str(caught.value) and says in str(caught.value)
    )


def test_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'project = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_config_unknown_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.work]\nproject = "team"\n')
    code, err = cli(["--config", str(path), "--profile", "wrok", "status"], capsys)
    assert code == 2 and "no profile named 'wrok' (profiles: work). Did you mean 'work'?" in err
    code, err = cli(["--profile", "work", "status"], capsys)  # no config file at all
    assert code == 2 and "defines no profiles" in err and "[profiles.work]" in err


def test_config_flag_naming_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = cli(["--config", str(tmp_path / "confg.toml"), "status"], capsys)
    assert code == 2 and f"--config {tmp_path / 'confg.toml'}: no such file" in err


# --- garbled API answers -------------------------------------------------------------------------


def test_fault_settings_are_checked() -> None:
    for bad, says in (
        ({"malformed_body": "weird"}, "malformed_body must be one of"),
        ({"error_rate": 3}, "error_rate must be a number from 0 to 1"),
        ({"html_next": -1}, "html_next must be a whole number >= 0"),
        ({"codes": [200]}, "codes must be a list of HTTP error codes"),
        ([1], "must be a JSON object"),
    ):
        with pytest.raises(ValueError, match=says):
            FaultSettings.from_mapping(bad)  # type: ignore[arg-type]


READS: dict[str, Callable[[Backend], Coroutine[Any, Any, Any]]] = {
    "compute-list": lambda b: ComputeService(b).list_instances(),
    "compute-get": lambda b: ComputeService(b).get_instance(ZONE, "vm-1"),
    "storage-list": lambda b: StorageService(b).list_buckets(),
    "vertex-list": lambda b: JobsService(b).list_jobs(),
}


# Every read against every garbled body, less two pairs that add nothing (time on two CPUs).
GARBLED = [
    pytest.param(read, body, id=f"{read}-{body}")
    for read in READS
    for body in ("truncated", "wrong-shape", "empty")
    if (read, body) not in (("vertex-list", "empty"), ("compute-list", "empty"))
]


@pytest.mark.parametrize(("read", "body"), GARBLED)
def test_garbled_200_becomes_a_clear_error(
    clean_sandbox: Backend, faults: Callable[..., dict], read: str, body: str
) -> None:
    faults(malformed_next=50, malformed_body=body)
    with pytest.raises(BadAnswer) as caught:
        run(READS[read](clean_sandbox))
    error = caught.value
    assert isinstance(error, Unavailable) and error.title == "Unexpected answer"
    assert error.message.startswith("Could not ") and "the API's answer" in error.message
    clear(error, "proxy")


JOB = "projects/cloudpane-sandbox/locations/us-central1/customJobs/123"


def test_html_error_page_on_a_write_is_summarised(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    # A cancel is a write: not retried, so the page reaches translate() as the client saw it.
    faults(html_next=1, path_prefix="/v1/")
    with pytest.raises(BadAnswer) as caught:
        run(JobsService(clean_sandbox).cancel(JOB))
    clear(
        caught.value,
        "cancel training job 123",
        "HTTP 502",
        '"Error 502 (Server Error)!!1"',
        "try the action again",
    )


def test_html_page_with_a_client_error_keeps_its_meaning(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    faults(html_next=1, html_code=403, path_prefix="/v1/")
    with pytest.raises(CloudpaneError) as caught:
        run(JobsService(clean_sandbox).cancel(JOB))
    assert caught.value.title == "Permission denied"
    clear(caught.value, "HTTP 403 with an HTML page")


def test_one_html_page_on_a_create_is_retried_by_the_library(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    """google-cloud-compute retries an insert answered 502; the page never reaches the user."""
    faults(html_next=1, path_prefix="/compute/")
    spec = InstanceSpec(
        name="vm-html", zone=ZONE, machine_type="e2-medium", image=DEBIAN, disk_size_gb=10
    )
    assert run(ComputeService(clean_sandbox).create_instance(spec)).target == "vm-html"


def test_one_html_page_on_a_read_is_retried(
    clean_sandbox: Backend, faults: Callable[..., dict]
) -> None:
    faults(html_next=1, path_prefix="/storage/")
    assert run(StorageService(clean_sandbox).list_buckets()) == []


@pytest.mark.usefixtures("on_sandbox")
def test_status_with_garbled_answers_exits_2_without_a_traceback(
    clean_sandbox: Backend, faults: Callable[..., dict], capsys: pytest.CaptureFixture[str]
) -> None:
    faults(malformed_next=1000, path_prefix="/compute/")
    code, out, err = cli_all(["status", "--sandbox"], capsys)
    assert code == 2, (out, err)
    assert "the API's answer" in out + err and not NOISE.search(out + err), out + err
