"""Vertex AI's prebuilt training containers: a dated, sourced catalog (tui/data/training_images.json).

Pure. Each prebuilt image has an end of patch and support (EoS: still usable, no fixes) and an end
of availability (EoA: "the images will no longer be usable" — Vertex refuses jobs naming them).
The job form shows both; a default is never an image past its EoA. Any other URI (a custom
container, a regional copy, an image newer than the catalog) is accepted with a note, since the
catalog cannot know what Google added after it was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class TrainingImage:
    uri: str
    framework: str  # "TensorFlow", "PyTorch"
    version: str
    python: str
    accelerator: str  # "CPU" or "GPU (CUDA 12.x)"
    end_of_support: date | None
    end_of_availability: date | None
    source: str

    @property
    def gpu(self) -> bool:
        return self.accelerator.startswith("GPU")

    def available(self, today: date) -> bool:
        """Usable on `today`: before its end of availability (unknown dates are not assumed)."""
        return self.end_of_availability is not None and today < self.end_of_availability

    def ended(self, today: date) -> bool:
        return self.end_of_availability is not None and today >= self.end_of_availability


@dataclass(frozen=True)
class TrainingCatalog:
    as_of: str
    source: str
    images: tuple[TrainingImage, ...]

    def find(self, uri: str) -> TrainingImage | None:
        """The catalog row of a prebuilt image, also for its europe-/asia-docker copies."""
        wanted = _canonical(uri)
        return next((i for i in self.images if _canonical(i.uri) == wanted), None)

    def default(
        self, gpu: bool, today: date, framework: str = "TensorFlow"
    ) -> TrainingImage | None:
        """The newest prebuilt image of `framework` for the hardware still available `today`."""
        usable = [
            i
            for i in self.images
            if i.framework == framework and i.gpu == gpu and i.available(today)
        ]
        usable.sort(key=lambda i: tuple(int(p) for p in i.version.split(".")), reverse=True)
        return usable[0] if usable else None

    def newest_ended(self, gpu: bool, framework: str = "TensorFlow") -> TrainingImage | None:
        rows = [i for i in self.images if i.framework == framework and i.gpu == gpu]
        rows.sort(key=lambda i: tuple(int(p) for p in i.version.split(".")), reverse=True)
        return rows[0] if rows else None


def _canonical(uri: str) -> str:
    for region in ("europe-docker.pkg.dev/", "asia-docker.pkg.dev/"):
        if uri.startswith(region):
            return "us-docker.pkg.dev/" + uri[len(region) :]
    return uri


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@cache
def load_catalog() -> TrainingCatalog:
    raw = json.loads(resources.files("tui.data").joinpath("training_images.json").read_text())
    return TrainingCatalog(
        as_of=raw["as_of"],
        source=raw["source"],
        images=tuple(
            TrainingImage(
                uri=row["uri"],
                framework=row["framework"],
                version=row["version"],
                python=row["python"],
                accelerator=row["accelerator"],
                end_of_support=_day(row["end_of_support"]),
                end_of_availability=_day(row["end_of_availability"]),
                source=row["source"],
            )
            for row in raw["images"]
        ),
    )


def describe(uri: str, today: date) -> str:
    """One line for the form: what the image is and where it stands on `today`."""
    image = load_catalog().find(uri)
    if image is None:
        return (
            f"{uri} — not a prebuilt image in cloudpane's catalog ({load_catalog().as_of}): "
            "accepted as given (a custom container must have Python and the trainer's needs)."
        )
    head = f"{image.framework} {image.version} {image.accelerator}, Python {image.python}"
    if image.end_of_availability is None:
        return f"{head} — support dates unknown to cloudpane's catalog ({image.source})."
    eos = image.end_of_support.isoformat() if image.end_of_support else "?"
    eoa = image.end_of_availability.isoformat()
    if image.ended(today):
        return f"{head} — ENDED: end of availability {eoa}; Vertex AI no longer runs it."
    if image.end_of_support and today >= image.end_of_support:
        return f"{head} — no more fixes since {eos}; usable until {eoa}."
    return f"{head} — supported until {eos}, available until {eoa}."


def ended_problem(uri: str, today: date) -> str:
    """'' unless `uri` is a prebuilt image past its end of availability; then why it fails."""
    image = load_catalog().find(uri)
    if image is None or not image.ended(today):
        return ""
    assert image.end_of_availability is not None
    return (
        f"{image.framework} {image.version} ({uri.rsplit('/', 1)[-1]}) reached its end of "
        f"availability on {image.end_of_availability.isoformat()}; Vertex AI no longer runs it. "
        "Choose an available image or give a custom container image URI."
    )


def no_default_problem(gpu: bool, today: date) -> str:
    """Why there is no default TensorFlow image today (every prebuilt one has ended)."""
    newest = load_catalog().newest_ended(gpu)
    ended = (
        f" (the newest, {newest.uri.rsplit('/', 1)[-1]}, ended on "
        f"{newest.end_of_availability.isoformat()})"
        if newest is not None and newest.end_of_availability is not None
        else ""
    )
    return (
        f"No prebuilt TensorFlow training container is available from Google today{ended}. "
        "Give an executor image URI: a prebuilt image newer than cloudpane's catalog "
        f"({load_catalog().as_of}), or a custom container with TensorFlow."
    )


def today() -> date:
    """Today in UTC (Google's dates are calendar days)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).date()


def default_image_uri(gpu: bool, on: date | None = None) -> str:
    """The executor image a trainer job gets when none is given; '' when none is available."""
    image = load_catalog().default(gpu, on or today())
    return image.uri if image is not None else ""


# The newest TensorFlow on PyPI when this was written (2026-12-02): what the sandbox installs
# for its own trainer image when this machine has no TensorFlow of its own.
SANDBOX_TF_FALLBACK = "2.21"


def sandbox_trainer_image(project: str) -> str:
    """A container name for the bundled trainer in the sandbox, where Google has no prebuilt
    TensorFlow image to offer: the sandbox prepares the framework an image's name says
    (`tf-cpu.2-NN` → tensorflow-cpu 2.NN, tui/sandbox/executors.py), here the TensorFlow this
    machine already has (the `train` extra), so nothing is downloaded; else the newest one."""
    from importlib import metadata

    version = SANDBOX_TF_FALLBACK
    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            version = ".".join(metadata.version(dist).split(".")[:2])
            break
        except metadata.PackageNotFoundError:
            continue
    tag = version.replace(".", "-")
    return f"us-central1-docker.pkg.dev/{project}/cloudpane-sandbox/tf-cpu.{tag}:latest"
