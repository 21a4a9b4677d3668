"""The Jobs pane's dialogs: the submit form (new, re-run, loaded from YAML) and a path prompt.

The form describes one of two things:

* a new run of the bundled trainer → a `TrainerJobRequest` (the service builds and uploads the
  package, then creates the job);
* an existing spec (re-run of a job, or a YAML file) → a `JobSpec` edited with only the fields
  the person changed, so a spec with several kinds of pools keeps what the form cannot show.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Select, Switch

from tui.panes.vm_forms import DialogScreen
from tui.services.job_models import (
    BUNDLED_GPUS,
    JobSpec,
    SpecProblem,
    TrainerJobRequest,
    accelerators_for,
    training_machine_types,
)
from tui.services.packaging import CodeSource
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.literal import Input, Label, Static

# --- hardware and prices ----------------------------------------------------------------------


def prebuilt_images() -> list[str]:
    """The catalog's prebuilt training images (tui/data/training_images.json), newest first."""
    from tui.services.training_images import load_catalog

    return [i.uri for i in load_catalog().images]


def image_label(uri: str) -> str:
    """'tf-cpu.2-17.py310 — TensorFlow 2.17 CPU … ENDED …': the image and where it stands."""
    from tui.services.training_images import describe, today

    return f"{uri.rsplit('/', 1)[-1].removesuffix(':latest')} — {describe(uri, today())}"


def image_for(uri: str, gpu: bool) -> str:
    """The same prebuilt image for the other kind of hardware (others unchanged)."""
    from tui.services.training_images import load_catalog

    catalog = load_catalog()
    if catalog.find(uri) is None:
        return uri
    swaps = (("-cpu.", "-gpu.") if gpu else ("-gpu.", "-cpu."),)
    for old, new in swaps:
        other = uri.replace(old, new)
        if catalog.find(other) is not None:
            return other
    return uri


def gpu_label(accelerator: str) -> str:
    """NVIDIA_TESLA_T4 → T4, NVIDIA_A100_80GB → A100 80GB."""
    short = accelerator.removeprefix("NVIDIA_").removeprefix("TESLA_")
    return short.replace("_", " ")


def hourly(machine: str, region: str, gpu: str | None, count: int, replicas: int) -> float | None:
    """Estimated $/h of `replicas` machines of this shape on Vertex AI training."""
    try:
        from tui.services.pricing import get_catalog

        return get_catalog().vertex_hourly(machine, region, gpu, count if gpu else 0, replicas)
    except Exception:  # a broken catalog must not break the form or the table
        return None


def spec_hourly(spec: JobSpec) -> float | None:
    """Estimated $/h of every pool of a job spec; None when any pool's price is unknown."""
    try:
        from tui.services.pricing import job_hourly

        return job_hourly(spec)
    except Exception:  # a broken price catalog must not break the form
        return None


def regions() -> list[str]:
    try:
        from tui.services.pricing import get_catalog

        found = list(get_catalog().regions)
    except Exception:
        found = []
    return found or ["us-central1", "us-east1", "us-west1", "europe-west4", "asia-east1"]


# --- trainer arguments ------------------------------------------------------------------------

# Form field → trainer flag, with the trainer's own defaults (trainer/flags.py).
TRAINER_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("epochs", "--epochs", "Epochs", "12"),
    ("batch-size", "--batch-size", "Batch size", "16"),
    ("learning-rate", "--learning-rate", "Learning rate", "0.002"),
    ("image-size", "--image-size", "Image size (px)", "64"),
    ("data", "--data", "Data (synthetic, or gs://…)", "synthetic"),
)


def parse_trainer_args(args: tuple[str, ...] | list[str]) -> tuple[dict[str, str], list[str]]:
    """Split trainer args into the form's fields ({'epochs': '3', …}) and the rest."""
    flags = {flag: key for key, flag, _, _ in TRAINER_FIELDS}
    values: dict[str, str] = {}
    rest: list[str] = []
    items = list(args)
    i = 0
    while i < len(items):
        word = items[i]
        name, eq, value = word.partition("=")
        flag = name.replace("_", "-") if name.startswith("--") else name
        if flag in flags:
            if eq:
                values[flags[flag]] = value
            elif i + 1 < len(items) and not items[i + 1].startswith("--"):
                values[flags[flag]] = items[i + 1]
                i += 1
            else:
                rest.append(word)
        else:
            rest.append(word)
        i += 1
    return values, rest


def build_trainer_args(values: dict[str, str], extra: str) -> tuple[tuple[str, ...], str]:
    """Trainer args from the form's fields, and a problem ('' when fine)."""
    args = []
    for key, flag, label, _ in TRAINER_FIELDS:
        value = values.get(key, "").strip()
        if not value:
            continue
        if key in ("epochs", "batch-size", "image-size") and (
            not value.isdigit() or int(value) < 1
        ):
            return (), f"{label} must be a whole number of at least 1, not {value!r}."
        if key == "learning-rate":
            try:
                if float(value) <= 0:
                    raise ValueError
            except ValueError:
                return (), f"Learning rate must be a positive number, not {value!r}."
        args.append(f"{flag}={value}")
    try:
        args += shlex.split(extra)
    except ValueError as exc:
        return (), f"Other arguments: {exc}."
    return tuple(args), ""


def fresh_output(directory: str, now: datetime | None = None) -> str:
    """A new output folder next to `directory`, so a re-run keeps the earlier run's model."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    if not directory:
        return ""
    base = directory.rstrip("/")
    if re.search(r"-\d{8}-\d{6}$", base):
        return base[:-15] + stamp
    return f"{base}/rerun-{stamp}"


# --- what the form produces -------------------------------------------------------------------


@dataclass(frozen=True)
class JobSubmission:
    """A new job (`request`: the bundled trainer, or `code`) or a ready spec (`spec`)."""

    request: TrainerJobRequest | None = None
    spec: JobSpec | None = None
    code: CodeSource | None = None

    @property
    def display_name(self) -> str:
        if self.request is not None:
            return self.request.display_name
        assert self.spec is not None
        return self.spec.display_name

    @property
    def chosen_region(self) -> str:
        if self.request is not None:
            return self.request.region
        assert self.spec is not None
        return self.spec.region


def where_text(sandbox: bool, region: str, project: str) -> str:
    if sandbox:
        return (
            "Runs on this machine in the sandbox (the same job Vertex AI would run) — "
            "nothing is billed."
        )
    return f"Runs on Vertex AI in {region}, billed to project {project}."


def price_text(
    machine: str, region: str, gpu: str | None, count: int, replicas: int, spot: bool
) -> str:
    value = hourly(machine, region, gpu, count, replicas)
    shape = f"{replicas}× {machine}" + (f" + {count}× {gpu_label(gpu)}" if gpu else "")
    if value is None:
        return f"{shape}: price unknown (not in the catalog) — not $0."
    spot_note = " (on-demand price; spot costs less)" if spot else ""
    return f"≈ ${value:.2f}/hour for {shape}{spot_note}, ${value * 24:.2f}/day."


# --- the form ---------------------------------------------------------------------------------


BucketLocator = Callable[[list[str]], Awaitable[dict[str, str]]]


class JobFormScreen(DialogScreen[JobSubmission | None]):
    """Submit the bundled trainer or your own code, or re-run / edit a spec; saves YAML too."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Submit"),
        Binding("ctrl+o", "save_yaml", "Save YAML"),
    ]

    def __init__(
        self,
        *,
        sandbox: bool,
        project: str,
        region: str,
        staging_bucket: str = "",
        base: JobSpec | None = None,
        title: str = "",
        notes: tuple[str, ...] = (),
        new_output: bool = False,
        save_dir: Path | None = None,
        locate: BucketLocator | None = None,
    ) -> None:
        super().__init__()
        self.locate = locate  # bucket name → location, for "is the data near the machines?"
        self.sandbox = sandbox
        self.project = project
        self.default_region = base.region if base else region
        self.staging_bucket = staging_bucket
        self.base = base
        self.title_text = title or ("Edit job" if base else "Submit a training job")
        self.notes = notes
        self.output_dir = ""
        if base is not None:
            self.output_dir = (
                fresh_output(base.base_output_directory)
                if new_output
                else base.base_output_directory
            )
        self.save_dir = save_dir or Path.cwd()
        self.output_prefix = ""  # set when a new trainer job's spec is saved before submitting
        pool = base.worker_pools[0] if base else None
        self.gpu_type: str | None = pool.accelerator_type if pool else None
        self.gpu_count: int = pool.accelerator_count if pool else 1

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        base = self.base
        pool = base.worker_pools[0] if base else None
        values, rest = parse_trainer_args(pool.args if pool else ())
        if base is None:
            values = {key: default for key, _, _, default in TRAINER_FIELDS}
        machine = pool.machine_type if pool else "n1-standard-4"
        machines = training_machine_types()
        if machine not in machines:
            machines.append(machine)
        region_names = regions()
        if self.default_region not in region_names:
            region_names.insert(0, self.default_region)
        from tui.services.training_images import default_image_uri

        image = pool.executor_image_uri if pool else default_image_uri(self.gpu_type is not None)
        if not image and self.sandbox:
            # No prebuilt TensorFlow image exists today; the sandbox runs its own by name.
            from tui.services.training_images import sandbox_trainer_image

            image = sandbox_trainer_image(self.project)
        images = prebuilt_images()
        custom = image if image and image not in images else ""
        staging_label, staging_value, staging_hint = (
            ("Staging bucket: package, model, logs", self.staging_bucket, "gs://my-bucket")
            if base is None
            else ("Output folder: model, checkpoints, logs", self.output_dir, "gs://bucket/runs/x")
        )
        with Vertical(classes="dialog form", id="job-form"):
            yield Label(self.title_text, classes="dialog-title")
            for note in self.notes:
                yield Static(note, classes="form-note", markup=False)
            with VerticalScroll(classes="form-scroll"):
                with _pair():
                    with _field("Display name"):
                        yield Input(
                            base.display_name if base else "",
                            placeholder="e.g. depth-t4",
                            id="name",
                            compact=True,
                        )
                    with _field("Region"):
                        yield Select(
                            [(r, r) for r in region_names],
                            id="region",
                            value=self.default_region,
                            allow_blank=False,
                            compact=True,
                        )
                with _pair():
                    with _field("Machine type"):
                        yield Select(
                            [(m, m) for m in machines],
                            id="machine",
                            value=machine,
                            allow_blank=False,
                            compact=True,
                        )
                    with (
                        _field("Accelerator × count (valid ones only)"),
                        Horizontal(classes="gpu-pair"),
                    ):
                        yield Select([], id="gpu", prompt="no accelerator", compact=True)
                        yield Select([], id="gpu-count", prompt="-", compact=True)
                yield Static("", id="gpu-note", classes="field-note")
                with _pair():
                    with _field("Replicas (>1: multi-worker)"):
                        yield Input(
                            str(base.replica_count if base else 1),
                            id="replicas",
                            type="integer",
                            compact=True,
                        )
                    with _field("Spot (cheaper, may be preempted)"):
                        yield Switch(value=base.spot if base else False, id="spot")
                with _field("Executor image (prebuilt; end of support / availability)"):
                    yield Select(
                        [(image_label(i), i) for i in images],
                        id="image",
                        value=image if image in images else Select.NULL,
                        prompt="no prebuilt image chosen",
                        compact=True,
                    )
                with _field("…or any image URI (custom container; overrides the above)"):
                    yield Input(
                        custom,
                        placeholder="e.g. europe-west4-docker.pkg.dev/PROJECT/REPO/trainer:latest",
                        id="image-uri",
                        compact=True,
                    )
                yield Static("", id="image-note", classes="form-note", markup=False)
                for row in (TRAINER_FIELDS[0:2], TRAINER_FIELDS[2:4], TRAINER_FIELDS[4:5]):
                    with _pair():
                        for key, _, label, default in row:
                            with _field(label):
                                yield Input(
                                    values.get(key, ""),
                                    placeholder=default,
                                    id=f"arg-{key}",
                                    compact=True,
                                )
                        if key == "data":
                            with _field("Other arguments (all of them for your code)"):
                                yield Input(
                                    shlex.join(rest),
                                    placeholder="--train-examples=512 --levels=3",
                                    id="extra-args",
                                    compact=True,
                                )
                if base is None:
                    with _pair():
                        with _field("Your code: folder or script (empty: bundled trainer)"):
                            yield Input(
                                "", placeholder="./my-model or train.py", id="code", compact=True
                            )
                        with _field("Module to run (for a folder)"):
                            yield Input("", placeholder="trainer.task", id="module", compact=True)
                    with _pair():
                        with _field("Requirements (pip names, space-separated)"):
                            yield Input(
                                "",
                                placeholder="pandas scikit-learn",
                                id="requirements",
                                compact=True,
                            )
                        if not self.sandbox:
                            with _field("Try in the sandbox first"):
                                yield Switch(value=True, id="local-first")
                    yield Static("", id="code-note", classes="field-note", markup=False)
                with _field(staging_label):
                    yield Input(staging_value, placeholder=staging_hint, id="staging", compact=True)
            yield Static("", id="form-error", classes="field-error", markup=False)
            yield Static("", id="where", classes="form-where")
            yield Static("", id="location-note", classes="field-error", markup=False)
            yield Static("", id="summary", classes="form-summary")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save YAML ^o", id="save-yaml", compact=True)
                yield Button("Submit ^s", id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self.update_gpu_choices()
        self.update_image_note()
        self.update_summary()
        self.update_code_note()

    # ------------------------------------------------------------ hardware
    def chosen_machine(self) -> str:
        return str(self.query_one("#machine", Select).value)

    def chosen_region(self) -> str:
        return str(self.query_one("#region", Select).value)

    def update_gpu_choices(self) -> None:
        """Offer only the accelerators (and counts) this machine type takes."""
        machine = self.chosen_machine()
        allowed = accelerators_for(machine)
        gpu = self.query_one("#gpu", Select)
        note = self.query_one("#gpu-note", Static)
        if machine in BUNDLED_GPUS:
            self.gpu_type, self.gpu_count = BUNDLED_GPUS[machine]
            note.update(f"{machine} comes with {self.gpu_count}× {gpu_label(self.gpu_type)}.")
        elif not allowed:
            self.gpu_type = None
            note.update(f"{machine} is CPU-only; n1 machines take T4, P4, P100 or V100.")
        else:
            if self.gpu_type not in allowed:
                self.gpu_type = None
            note.update("")
        gpu.set_options([(gpu_label(a), a) for a in allowed])
        gpu.disabled = not allowed or machine in BUNDLED_GPUS
        if self.gpu_type is not None:
            gpu.value = self.gpu_type
        self.update_counts()

    def update_counts(self) -> None:
        count = self.query_one("#gpu-count", Select)
        counts = accelerators_for(self.chosen_machine()).get(self.gpu_type or "", ())
        count.set_options([(str(n), n) for n in counts])
        count.disabled = len(counts) <= 1
        if counts:
            if self.gpu_count not in counts:
                self.gpu_count = counts[0]
            count.value = self.gpu_count
        elif self.gpu_type:
            self.query_one("#gpu-note", Static).update(
                f"{self.chosen_machine()} has too many vCPUs for {gpu_label(self.gpu_type)}; "
                "choose a smaller machine."
            )

    @on(Select.Changed, "#machine")
    def _machine_changed(self) -> None:
        self.update_gpu_choices()
        self.update_image()
        self.update_summary()

    @on(Select.Changed, "#gpu")
    def _gpu_changed(self, event: Select.Changed) -> None:
        value = event.value if isinstance(event.value, str) else None
        if self.chosen_machine() not in BUNDLED_GPUS and value != self.gpu_type:
            self.gpu_type = value
            self.update_counts()
        self.update_image()
        self.update_summary()

    @on(Select.Changed, "#gpu-count")
    def _count_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int):
            self.gpu_count = event.value
        self.update_summary()

    def update_image(self) -> None:
        """The prebuilt image follows the hardware (tf-gpu with a GPU, tf-cpu without)."""
        select = self.query_one("#image", Select)
        current = select.value
        if isinstance(current, str):
            wanted = image_for(current, self.gpu_type is not None)
            if wanted != current:
                select.value = wanted
        self.update_image_note()

    def chosen_image(self) -> str:
        """The image URI the job will name: the typed one, else the chosen prebuilt one."""
        typed = self.query_one("#image-uri", Input).value.strip()
        value = self.query_one("#image", Select).value
        return typed or (value if isinstance(value, str) else "")

    def update_image_note(self) -> None:
        """What the chosen image is and until when Google serves it — or why there is none."""
        from tui.services.training_images import describe, no_default_problem, today

        image = self.chosen_image()
        text = (
            describe(image, today())
            if image
            else no_default_problem(self.gpu_type is not None, today())
        )
        self.query_one("#image-note", Static).update(text)

    @on(Select.Changed, "#image")
    @on(Input.Changed, "#image-uri")
    def _image_changed(self) -> None:
        self.update_image_note()

    @on(Select.Changed, "#region")
    @on(Switch.Changed, "#spot")
    @on(Input.Changed, "#replicas")
    def _inputs_changed(self) -> None:
        self.update_summary()

    @on(Input.Changed, "#code")
    @on(Input.Changed, "#module")
    def _code_changed(self) -> None:
        self.update_code_note()

    def code_path(self) -> str:
        found = self.query("#code")
        return found.first(Input).value.strip() if found else ""

    def update_code_note(self) -> str:
        """Show what will be packaged (files, size, how); the problem with it, or ""."""
        from tui.services.packaging import describe_source

        path = self.code_path()
        notes = self.query("#code-note")
        if not notes:
            return ""
        if not path:
            notes.first(Static).update("The bundled trainer (its fields above) is packaged.")
            return ""
        module = self.query_one("#module", Input).value.strip()
        text, problem = describe_source(Path(path), module)
        notes.first(Static).update("\n".join(t for t in (text, problem) if t))
        return problem

    def replicas(self) -> int | None:
        text = self.query_one("#replicas", Input).value.strip()
        return int(text) if text.isdigit() else None

    @on(Input.Changed)
    @on(Select.Changed, "#region")
    def _locations_changed(self) -> None:
        self.check_locations()

    @work(exclusive=True, group="form-locations", exit_on_error=False)
    async def check_locations(self) -> None:
        """Say before submitting when the staging bucket or a gs:// argument lives away from
        the job's region (what Vertex expects of the staging bucket; egress and latency for
        data) — the same words as `cloudpane jobs submit`."""
        from tui.services.data_location import buckets_in, notes

        if self.locate is None:
            return
        await asyncio.sleep(0.4)  # typing: ask once the text settles (exclusive cancels)
        region = self.chosen_region()
        staging = self.query_one("#staging", Input).value.strip()
        texts = [staging, *(i.value for i in self.query(Input) if i.id != "staging")]
        names = buckets_in(texts)
        staging_name = buckets_in([staging])[0] if buckets_in([staging]) else None
        found = await self.locate(names) if names else {}
        self.query_one("#location-note", Static).update(
            "\n".join(notes(region, staging_name, found))
        )

    def update_summary(self) -> None:
        region = self.chosen_region()
        self.query_one("#where", Static).update(where_text(self.sandbox, region, self.project))
        replicas = self.replicas() or 1
        gpu = self.gpu_type
        text = price_text(
            self.chosen_machine(),
            region,
            gpu,
            self.gpu_count if gpu else 0,
            replicas,
            self.query_one("#spot", Switch).value,
        )
        self.query_one("#summary", Static).update(text)

    # ------------------------------------------------------------ building
    def trainer_args(self) -> tuple[tuple[str, ...], str]:
        values = {key: self.query_one(f"#arg-{key}", Input).value for key, *_ in TRAINER_FIELDS}
        return build_trainer_args(values, self.query_one("#extra-args", Input).value)

    def build(self) -> tuple[JobSubmission | None, str]:
        """What the form describes, or every problem with it (one per line)."""
        name = self.query_one("#name", Input).value.strip()
        replicas = self.replicas()
        if replicas is None or replicas < 1:
            return None, "Replicas: a whole number of at least 1."
        args, problem = self.trainer_args()
        if problem:
            return None, problem
        gpu = self.gpu_type
        count = self.gpu_count if gpu else 0
        staging = self.query_one("#staging", Input).value.strip()
        image = self.chosen_image()
        spot = self.query_one("#spot", Switch).value
        if self.base is None and self.code_path():
            # Your own code takes only its own arguments, not the bundled trainer's fields.
            try:
                args = tuple(shlex.split(self.query_one("#extra-args", Input).value))
            except ValueError as exc:
                return None, f"Other arguments: {exc}."
        if self.base is None:
            from tui.services.jobs import validate_trainer_request

            request = TrainerJobRequest(
                display_name=name,
                staging_bucket=staging,
                region=self.chosen_region(),
                machine_type=self.chosen_machine(),
                accelerator_type=gpu,
                accelerator_count=count,
                replica_count=replicas,
                spot=spot,
                executor_image_uri=image,
                trainer_args=args,
                output_prefix=self.output_prefix,
            )
            problems = validate_trainer_request(request)
            if problems:
                return None, _lines(problems)
            if not self.code_path():
                return JobSubmission(request=request), ""
            problem = self.update_code_note()
            if problem:
                return None, problem
            switch = self.query("#local-first")
            code = CodeSource(
                path=Path(self.code_path()).expanduser(),
                module=self.query_one("#module", Input).value.strip(),
                requirements=tuple(self.query_one("#requirements", Input).value.split()),
                local_first=bool(switch and switch.first(Switch).value),
            )
            return JobSubmission(request=request, code=code), ""
        from tui.services.jobs import edit_spec, validate_job_spec

        edits = self.edits(name, replicas, gpu, count, image, spot, args, staging)
        try:
            spec = edit_spec(self.base, edits)
        except Exception as exc:
            return None, str(getattr(exc, "message", exc))
        problems = validate_job_spec(spec)
        return (None, _lines(problems)) if problems else (JobSubmission(spec=spec), "")

    def edits(
        self,
        name: str,
        replicas: int,
        gpu: str | None,
        count: int,
        image: str,
        spot: bool,
        args: tuple[str, ...],
        output: str,
    ) -> dict[str, Any]:
        """Only what changed: a spec with several kinds of pools keeps what the form hides."""
        assert self.base is not None
        base = self.base
        pool = base.worker_pools[0]
        edits: dict[str, Any] = {}
        for key, new, old in (
            ("display_name", name, base.display_name),
            ("region", self.chosen_region(), base.region),
            ("spot", spot, base.spot),
            ("base_output_directory", output, base.base_output_directory),
            ("replica_count", replicas, base.replica_count),
            ("machine_type", self.chosen_machine(), pool.machine_type),
            ("executor_image_uri", image, pool.executor_image_uri),
            ("args", args, tuple(pool.args)),
        ):
            if new != old:
                edits[key] = new
        if (gpu, count) != (pool.accelerator_type, pool.accelerator_count):
            edits["accelerator_type"] = gpu
            edits["accelerator_count"] = count
        return edits

    def spec_for_yaml(self) -> tuple[JobSpec | None, str]:
        """The spec to save: for a new trainer job, the package goes where submit will put it."""
        submission, problem = self.build()
        if submission is None:
            return None, problem
        if submission.spec is not None:
            return submission.spec, ""
        if submission.code is not None:
            return None, "Your code is packaged when it is submitted; save its job's spec after."
        from tui.services.jobs import split_bucket, trainer_job_spec
        from tui.services.trainer_package import sdist_filename

        request = submission.request
        assert request is not None
        bucket, base = split_bucket(request.staging_bucket)
        if not self.output_prefix:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            slug = re.sub(r"[^a-z0-9-]+", "-", request.display_name.lower()).strip("-")[:40]
            self.output_prefix = "/".join(
                p for p in (base, f"cloudpane-jobs/{slug or 'job'}-{stamp}") if p
            )
        package = f"gs://{bucket}/{self.output_prefix}/package/{sdist_filename()}"
        return trainer_job_spec(request, package, f"gs://{bucket}/{self.output_prefix}"), ""

    # ------------------------------------------------------------- actions
    def action_submit(self) -> None:
        submission, problem = self.build()
        if submission is None:
            self.query_one("#form-error", Static).update(problem)
            return
        self.dismiss(submission)

    def action_save_yaml(self) -> None:
        spec, problem = self.spec_for_yaml()
        if spec is None:
            self.query_one("#form-error", Static).update(problem)
            return
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", spec.display_name).strip("-") or "job"
        self.app.push_screen(
            PathScreen(
                "Save the job spec as YAML",
                str(self.save_dir / f"{name}.yaml"),
                purpose="save",
                hint="The format of `gcloud ai custom-jobs create --config FILE`.",
            ),
            lambda path: self._save(spec, path),
        )

    def _save(self, spec: JobSpec, path: Path | None) -> None:
        if path is None:
            return
        from tui.services.jobspec_yaml import save_job_spec

        try:
            save_job_spec(spec, path)
        except OSError as exc:
            self.query_one("#form-error", Static).update(f"Could not save {path}: {exc}")
            return
        note = (
            " The package is uploaded there when you submit."
            if self.base is None and self.output_prefix
            else ""
        )
        self.app.notify(f"Saved the job spec to {path}.{note}", title="Saved", markup=False)

    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#save-yaml")
    def _save_pressed(self) -> None:
        self.action_save_yaml()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


def _pair() -> Horizontal:
    return Horizontal(classes="pair")


def _field(label: str) -> Vertical:
    """A labelled field; use as a context manager in compose."""
    column = Vertical(classes="field")
    column.compose_add_child(Label(label, classes="field-label", markup=False))
    return column


def _lines(problems: list[SpecProblem]) -> str:
    return "\n".join(str(p) for p in problems)


# --- asking for a path ------------------------------------------------------------------------


class PathScreen(DialogScreen[Path | None]):
    """Ask for a file path: one that exists (open) or one to write (save; asks before
    replacing a file). `error` shows why the last attempt failed (e.g. a YAML file's errors)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        default: str,
        *,
        purpose: Literal["open", "save"],
        hint: str = "",
        error: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.purpose = purpose
        self.hint = hint
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="path-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)
            yield Input(self.default, id="path")
            with VerticalScroll(id="path-error-scroll"):
                yield Static(self.error, id="path-error", classes="field-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(
                    "Open" if self.purpose == "open" else "Save", id="ok", variant="primary"
                )

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    def show_error(self, text: str) -> None:
        self.query_one("#path-error", Static).update(text)

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        if not text:
            self.show_error("Type a path.")
            return
        path = Path(text).expanduser()
        if self.purpose == "open":
            if not path.is_file():
                self.show_error(
                    f"{path} is not a file." if path.exists() else f"{path}: no such file."
                )
                return
            self.dismiss(path)
            return
        if path.is_dir():
            self.show_error(f"{path} is a folder; add a file name.")
            return
        if not path.parent.is_dir():
            self.show_error(f"The folder {path.parent} does not exist.")
            return
        if path.exists():
            self.app.push_screen(
                ConfirmScreen(
                    "Replace the file?",
                    f"{path} already exists. Saving replaces its content.",
                    confirm_label="Replace",
                ),
                lambda ok: self._replace(path, bool(ok)),
            )
            return
        self.dismiss(path)

    def _replace(self, path: Path, ok: bool) -> None:
        if ok:
            self.dismiss(path)
        else:
            self.show_error("Not replaced: choose another name.")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
