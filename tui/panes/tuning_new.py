"""New tuning job from a YAML file: pick the file, see the parsed study, then submit.

Nothing is submitted until the file is valid: a bad file shows every error as
`file:line: field: what is wrong`, and the Submit button stays disabled. A good file shows each
parameter with its range and scale, the metric and goal, the trial counts and the worst-case
cost (trials × the hours per trial you enter × the trial machine's price), the conversion notes
and the converted Vertex YAML for an AI Platform file, and — when the file has no trialJobSpec —
the bundled trainer's settings (staging bucket, machine, args), prefilled from the Jobs form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree
from textual.worker import Worker, WorkerState

from tui.services.errors import CloudpaneError, translate
from tui.services.job_models import TrainerJobRequest
from tui.widgets.literal import DataTable, Input, Label, Static

if TYPE_CHECKING:
    from tui.services.hpconfig import HpTuningSpec
    from tui.services.tuning import TuningJob, TuningService  # noqa: F401
    from tui.services.yaml_lines import YamlProblem

YAML_SUFFIXES = (".yaml", ".yml")


class YamlTree(DirectoryTree):
    """Folders and YAML files only."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() in YAML_SUFFIXES)
        ]


class NewStudyScreen(ModalScreen["TuningJob | None"]):
    """Dismisses with the created TuningJob, or None when closed without submitting."""

    DEFAULT_CSS = """
    NewStudyScreen { align: center middle; }
    #new-study { width: 100; max-width: 100%; height: 100%; max-height: 100%;
                 border: thick $primary; background: $surface; padding: 0 1; }
    #new-study .tuning-row { height: auto; }
    #study-path { width: 1fr; }
    #study-tree { height: 6; }
    #study-tree.hidden { display: none; }
    #study-preview { height: 1fr; }
    #study-errors { color: $error; height: auto; }
    #study-summary { height: auto; max-height: 100%; }
    #trainer-form, #cost-form { height: auto; }
    #trainer-form.hidden { display: none; }
    #new-study Input.tuning-field { width: 1fr; height: 1; border: none; padding: 0 1;
                             background: $boost; }
    #new-study Input.tuning-field:focus { background: $primary 30%; }
    #new-study .tuning-label { width: 16; padding: 0 1 0 0; }
    #trainer-form, #cost-form { margin-top: 1; }
    #trainer-form .tuning-row { margin-bottom: 0; }
    #study-status { height: auto; color: $text-muted; }
    #study-notes { height: auto; color: $text-muted; }
    #study-vertex { height: auto; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("ctrl+s", "submit", "Submit"),
        Binding("ctrl+o", "toggle_tree", "Files"),
    ]

    def __init__(
        self,
        service: TuningService,
        *,
        defaults: TrainerJobRequest | None = None,
        start_dir: Path | None = None,
        path: Path | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.defaults = defaults
        self.start_dir = start_dir or Path.cwd()
        self.initial_path = path
        self.path = path or Path()
        self.spec: HpTuningSpec | None = None
        self.errors: list[YamlProblem] = []
        self.submitting = False
        self.converted_yaml = ""  # the Vertex YAML of a legacy file

    # ----------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        d = self.defaults
        with Vertical(id="new-study"):
            yield Label("New tuning job from a YAML file", classes="dialog-title")
            with Horizontal(classes="tuning-row"):
                yield Input(
                    str(self.initial_path or ""),
                    placeholder="path/to/hptuning.yaml (enter loads it)",
                    id="study-path",
                )
                yield Button("Load", id="study-load")
            yield YamlTree(self.start_dir, id="study-tree")
            with VerticalScroll(id="study-preview"):
                yield Static("", id="study-errors", markup=False)
                table: DataTable[str | Text] = DataTable(
                    id="study-summary", show_cursor=False, zebra_stripes=False
                )
                yield table
                with Vertical(id="trainer-form", classes="hidden"):
                    yield Label(
                        "No trialJobSpec: the bundled trainer runs with", classes="dialog-hint"
                    )
                    with Horizontal(classes="tuning-row"):
                        yield Label("Staging bucket", classes="tuning-label")
                        yield Input(
                            d.staging_bucket if d else "",
                            placeholder="gs://BUCKET[/PREFIX]",
                            id="staging-bucket",
                            classes="tuning-field",
                        )
                    with Horizontal(classes="tuning-row"):
                        yield Label("Machine type", classes="tuning-label")
                        yield Input(
                            d.machine_type if d else "n1-standard-4",
                            id="machine-type",
                            classes="tuning-field",
                        )
                    with Horizontal(classes="tuning-row"):
                        yield Label("Executor image", classes="tuning-label")
                        yield Input(
                            d.executor_image_uri if d else "",
                            placeholder=self.image_placeholder(),
                            id="executor-image",
                            classes="tuning-field",
                        )
                    with Horizontal(classes="tuning-row"):
                        yield Label("Trainer args", classes="tuning-label")
                        yield Input(
                            " ".join(d.trainer_args) if d else "",
                            placeholder="--epochs=5 --image-size=64",
                            id="trainer-args",
                            classes="tuning-field",
                        )
                with Horizontal(classes="tuning-row", id="cost-form"):
                    yield Label("Hours per trial", classes="tuning-label")
                    yield Input("1", id="hours-per-trial", classes="tuning-field")
                yield Static("", id="study-notes", markup=False)
                yield Static("", id="study-vertex")
            yield Static("", id="study-status", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="study-close")
                yield Button("Submit", id="study-submit", variant="primary", disabled=True)

    def on_mount(self) -> None:
        table = self.query_one("#study-summary", DataTable)
        table.add_column("", key="label", width=16)
        table.add_column("", key="value")
        table.show_header = False
        table.display = False
        self.query_one("#study-path", Input).focus()
        if self.initial_path is not None:
            self.load(self.initial_path)

    # ------------------------------------------------------------------ loading
    @on(DirectoryTree.FileSelected)
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#study-path", Input).value = str(event.path)
        self.load(event.path)

    @on(Input.Submitted, "#study-path")
    @on(Button.Pressed, "#study-load")
    def _load_typed(self) -> None:
        text = self.query_one("#study-path", Input).value.strip()
        if text:
            self.load(Path(text).expanduser())

    def load(self, path: Path) -> None:
        """Parse and validate the file; show its errors or its preview."""
        from tui.services.hpconfig import HpConfigInvalid
        from tui.services.tuning import load_study

        self.path = path
        try:
            self.spec, self.errors = load_study(path), []
        except HpConfigInvalid as exc:
            self.spec, self.errors = None, list(exc.errors)
        self.render_preview()

    def trainer_request(self) -> TrainerJobRequest | None:
        """The bundled trainer's settings from the form (None when the file has a trialJobSpec)."""
        from tui.services.tuning import parse_trainer_args

        if self.spec is None or self.spec.trial_job_spec is not None:
            return None
        base = self.defaults or TrainerJobRequest(display_name="", staging_bucket="")
        return dataclasses.replace(
            base,
            display_name=self.spec.display_name or base.display_name or self.path.stem,
            staging_bucket=self.query_one("#staging-bucket", Input).value.strip(),
            machine_type=self.query_one("#machine-type", Input).value.strip() or "n1-standard-4",
            trainer_args=parse_trainer_args(self.query_one("#trainer-args", Input).value),
            region=base.region if self.defaults else self.service.backend.region,
            executor_image_uri=self.query_one("#executor-image", Input).value.strip(),
        )

    @staticmethod
    def image_placeholder() -> str:
        """The prebuilt image used when the field is empty, or that there is none today."""
        from tui.services.training_images import default_image_uri

        image = default_image_uri(False)
        return (
            f"empty: {image.rsplit('/', 1)[-1]}"
            if image
            else "required: no prebuilt TensorFlow image is available today; give an image URI"
        )

    def hours_per_trial(self) -> float | None:
        try:
            value = float(self.query_one("#hours-per-trial", Input).value)
        except ValueError:
            return None
        return value if value > 0 else None

    def render_preview(self) -> None:
        from tui.services.hpconfig import summary_rows, to_vertex_yaml
        from tui.services.tuning import trial_hardware

        errors = self.query_one("#study-errors", Static)
        table = self.query_one("#study-summary", DataTable)
        notes = self.query_one("#study-notes", Static)
        vertex_yaml = self.query_one("#study-vertex", Static)
        trainer_form = self.query_one("#trainer-form")
        submit = self.query_one("#study-submit", Button)
        table.clear()
        if self.spec is None:
            count = len(self.errors)
            lines = [f"{count} error{'s' if count != 1 else ''} — nothing can be submitted:"]
            errors.update("\n".join(lines + [str(e) for e in self.errors]))
            errors.display = True
            table.display = False
            trainer_form.add_class("hidden")
            notes.update("")
            vertex_yaml.update("")
            submit.disabled = True
            self._status("Fix the file and load it again.")
            return
        spec = self.spec
        errors.update("")
        errors.display = False
        trainer_form.set_class(spec.trial_job_spec is not None, "hidden")
        hours = self.hours_per_trial()
        try:
            req = self.trainer_request()
        except CloudpaneError:
            req = None
        region = req.region if req else self.service.backend.region
        hardware = trial_hardware(spec, req, region)
        price = hardware.hourly_price() if hardware else None
        rows = summary_rows(spec, hours, price)
        if hardware:
            rows.append(("Trial machine", f"{hardware.words} ({_rate(price)})"))
        table.display = True
        for i, (label, value) in enumerate(rows):
            table.add_row(Text(label, style="bold"), value, key=str(i))
        notes.update(
            "Notes:\n" + "\n".join(f"- {n}" for n in spec.conversion_notes)
            if spec.conversion_notes
            else ""
        )
        self.converted_yaml = to_vertex_yaml(spec) if spec.source_format == "legacy" else ""
        if self.converted_yaml:
            text = "# Converted to Vertex AI\n" + self.converted_yaml
            vertex_yaml.update(Syntax(text, "yaml", theme="ansi_dark"))
        else:
            vertex_yaml.update("")
        submit.disabled = self.submitting
        self._status(f"{self.path.name} is valid. Check the study, then Submit (ctrl+s).")

    @on(Input.Changed, "#hours-per-trial, #machine-type")
    def _recost(self) -> None:
        if self.spec is not None:
            self.render_preview()

    def _status(self, text: str) -> None:
        self.query_one("#study-status", Static).update(text)

    # --------------------------------------------------------------- submitting
    def action_submit(self) -> None:
        if self.spec is None or self.submitting:
            self._status("Nothing to submit: load a valid file first.")
            return
        if getattr(self.app, "read_only", False):
            self._status("cloudpane is read-only: nothing is submitted.")
            return
        try:
            req = self.trainer_request()
        except CloudpaneError as exc:
            self._status(exc.message)
            return
        self.submitting = True
        self.query_one("#study-submit", Button).disabled = True
        self._submit(self.spec, req)

    @on(Button.Pressed, "#study-submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @work(
        exclusive=True,
        group="tuning-submit",
        exit_on_error=False,
        description="submit the tuning job",
    )
    async def _submit(self, spec: HpTuningSpec, req: TrainerJobRequest | None) -> None:
        job = await self.service.submit(spec, req, progress=self._status)
        self.dismiss(job)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = translate(event.worker.error, event.worker.description or "")
            self.submitting = False
            self._status(f"{error.message} {error.hint}".strip())
            self.query_one("#study-submit", Button).disabled = self.spec is None

    def action_toggle_tree(self) -> None:
        self.query_one("#study-tree").toggle_class("hidden")

    @on(Button.Pressed, "#study-close")
    def action_close(self) -> None:
        if not self.submitting:
            self.dismiss(None)


def _rate(value: float | None) -> str:
    from tui.services.pricing import format_rate

    return format_rate(value)
