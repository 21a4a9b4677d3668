"""Test support for Vertex AI jobs: a tiny stand-in trainer package and polling helpers.

The stand-in is a real sdist (`trainer/task.py`) that the sandbox fetches from its bucket and
runs like the bundled trainer, but starts in a fraction of a second: it prints epoch lines in
the trainer's format, can write a model into AIP_MODEL_DIR through gs://, print its
environment, fail, or run until cancelled.
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from typing import Any

from tui.services.clients import Backend

# Every prebuilt TensorFlow training image has passed its end of availability (docs/gcp-facts.md),
# so jobs name a custom image, as on Google; the sandbox runs the package in its own Python.
TRAINER_IMAGE = "us-central1-docker.pkg.dev/cloudpane-sandbox/trainers/tf-trainer:latest"

STANDIN_TASK = r"""
import argparse, json, os, signal, sys, time

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--exit", type=int, default=0)
p.add_argument("--model", action="store_true")
p.add_argument("--env", action="store_true")
p.add_argument("--forever", action="store_true")
p.add_argument("--lines", type=int, default=0)
p.add_argument("--stderr-log", action="store_true")
a = p.parse_args()

def on_term(signum, frame):
    print("got SIGTERM, stopping", flush=True)
    sys.exit(143)

signal.signal(signal.SIGTERM, on_term)
print("standin start job=%s pid=%d" % (os.environ.get("CLOUD_ML_JOB_ID"), os.getpid()), flush=True)
if a.env:
    keys = ["TF_CONFIG", "CLUSTER_SPEC", "AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR",
            "AIP_TENSORBOARD_LOG_DIR", "CLOUD_ML_JOB_ID", "CLOUD_ML_PROJECT_ID"]
    print("ENV " + json.dumps({k: os.environ.get(k) for k in keys}), flush=True)
if a.stderr_log:  # what Python logging, absl and TensorFlow print (all to stderr)
    for line in ("INFO:root:chatter on stderr",
                 "W1202 14:00:00.000000 1 task.py:9] careful on stderr",
                 "2026-12-02 14:00:00.000000: I tensorflow/core/x.cc:1] tf on stderr"):
        print(line, file=sys.stderr, flush=True)
for i in range(a.lines):
    print("line %d" % i, flush=True)
for e in range(1, a.epochs + 1):
    print("epoch=%d/%d loss=%.4f val_loss=%.4f val_abs_rel=%.4f images_per_sec=100.0"
          % (e, a.epochs, 1.0 / e, 1.1 / e, 0.5 / e), flush=True)
    time.sleep(a.sleep)
if a.model:
    from google.cloud import storage
    bucket, _, prefix = os.environ["AIP_MODEL_DIR"][5:].partition("/")
    storage.Client().bucket(bucket).blob(prefix + "saved_model.txt").upload_from_string("weights")
    print("model written", flush=True)
while a.forever:
    time.sleep(0.1)
if a.exit:
    print("Traceback (most recent call last):", file=sys.stderr, flush=True)
    print("RuntimeError: the stand-in failed on purpose", file=sys.stderr, flush=True)
    sys.exit(a.exit)
print("standin done", flush=True)
"""


def standin_sdist() -> bytes:
    """A minimal sdist of a `trainer` package (what Vertex's python_package_spec takes)."""
    files = {
        "standin-0.1/PKG-INFO": b"Metadata-Version: 2.1\nName: standin\nVersion: 0.1\n",
        "standin-0.1/setup.py": b"from setuptools import setup\nsetup(name='standin', version='0.1', packages=['trainer'])\n",
        "standin-0.1/trainer/__init__.py": b"",
        "standin-0.1/trainer/task.py": STANDIN_TASK.encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def storage_client(backend: Backend) -> Any:
    from google.cloud import storage

    return storage.Client(
        project=backend.project,
        credentials=backend.credentials,
        client_options={"api_endpoint": backend.endpoint},
    )


def upload_standin(backend: Backend, bucket: str = "stage") -> str:
    """Create the bucket if needed, upload the stand-in, return its gs:// URI."""
    client = storage_client(backend)
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    client.bucket(bucket).blob("packages/standin-0.1.tar.gz").upload_from_string(standin_sdist())
    return f"gs://{bucket}/packages/standin-0.1.tar.gz"


def wait_until(
    check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Call `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what or check} (last: {last!r})"
    )


class ManualClock:
    """A monotonic clock that moves only when told: rate budgets counted per simulated minute,
    never by wall time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
