"""Test support for hyperparameter tuning: a tiny stand-in trainer that reports a metric.

Like jobs_helpers' stand-in it is a real sdist the sandbox fetches from its bucket and runs,
but it takes the trial's `--<parameter>=<value>` flags and reports a metric through the real
cloudml-hypertune package (to the file CLOUD_ML_HP_METRIC_FILE names). Its metric is the sum
of its numeric parameters (a categorical value counts its length), so every trial's value is
known in advance. It can record when it ran, fail for one parameter value, report nothing,
or run until stopped.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from jobs_helpers import storage_client

from tui.services.clients import Backend

TUNING_STANDIN = r"""
import argparse, json, os, signal, sys, time

p = argparse.ArgumentParser()
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--steps", type=int, default=2)
p.add_argument("--record", default="")
p.add_argument("--fail-when", default="")
p.add_argument("--no-metric", action="store_true")
p.add_argument("--metric", default="score")
p.add_argument("--forever", action="store_true")
a, rest = p.parse_known_args()
params = {}
for item in rest:
    name, _, value = item[2:].partition("=")
    params[name] = value

def number(value):
    try:
        return float(value)
    except ValueError:
        return float(len(value))

signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
trial = os.environ.get("CLOUD_ML_TRIAL_ID", "?")
def record(what):
    if a.record:
        with open(os.path.join(a.record, "events.log"), "a") as f:
            f.write("%s %s %.6f\n" % (trial, what, time.time()))
record("start")
print("standin trial=%s params=%s" % (trial, json.dumps(params, sort_keys=True)), flush=True)
print("ENV " + json.dumps({k: os.environ.get(k) for k in (
    "CLOUD_ML_TRIAL_ID", "CLOUD_ML_HP_METRIC_FILE", "AIP_MODEL_DIR", "CLOUD_ML_JOB_ID")}),
    flush=True)
if a.fail_when:
    name, _, value = a.fail_when.partition("=")
    if name in params and number(params[name]) == number(value):
        print("RuntimeError: failing on purpose for %s" % a.fail_when, file=sys.stderr, flush=True)
        record("end")
        sys.exit(3)
metric = sum(number(v) for v in params.values())
import hypertune
hpt = hypertune.HyperTune()
for step in range(1, a.steps + 1):
    time.sleep(a.sleep / max(a.steps, 1))
    value = metric + (a.steps - step)
    if not a.no_metric:
        hpt.report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=a.metric, metric_value=value, global_step=step)
    print("step=%d %s=%s" % (step, a.metric, value), flush=True)
while a.forever:
    time.sleep(0.05)
record("end")
print("standin done", flush=True)
"""


def tuning_standin_sdist() -> bytes:
    files = {
        "tunestandin-0.1/PKG-INFO": b"Metadata-Version: 2.1\nName: tunestandin\nVersion: 0.1\n",
        "tunestandin-0.1/setup.py": b"from setuptools import setup\nsetup(name='tunestandin', version='0.1', packages=['trainer'])\n",
        "tunestandin-0.1/trainer/__init__.py": b"",
        "tunestandin-0.1/trainer/task.py": TUNING_STANDIN.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload_tuning_standin(backend: Backend, bucket: str = "stage") -> str:
    """Create the bucket if needed, upload the stand-in, return its gs:// URI."""
    client = storage_client(backend)
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    name = "packages/tunestandin-0.1.tar.gz"
    client.bucket(bucket).blob(name).upload_from_string(tuning_standin_sdist())
    return f"gs://{bucket}/{name}"


def trial_job_spec(package: str, args: list[str], output: str = "gs://stage/tuning") -> dict:
    """A trialJobSpec (REST JSON) running the stand-in."""
    return {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": 1,
                "pythonPackageSpec": {
                    "executorImageUri": "us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest",
                    "packageUris": [package],
                    "pythonModule": "trainer.task",
                    "args": args,
                },
            }
        ],
        "baseOutputDirectory": {"outputUriPrefix": output},
    }


def events(record_dir: Path) -> list[tuple[str, str, float]]:
    """(trial id, "start"|"end", time) as the stand-in recorded them, in time order."""
    path = record_dir / "events.log"
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return sorted(((r[0], r[1], float(r[2])) for r in rows), key=lambda e: e[2])


def max_concurrent(record_dir: Path) -> int:
    running = peak = 0
    for _, what, _ in events(record_dir):
        running += 1 if what == "start" else -1
        peak = max(peak, running)
    return peak
