"""The VMs pane's dialogs: create an instance, change its machine type, read its serial port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Select, Switch, TextArea
from textual.worker import Worker

from tui.inert import visible
from tui.panes.base import report_worker_failure
from tui.services.errors import CloudpaneError
from tui.services.idle_stop import IdleStop, with_watcher
from tui.services.models import (
    AcceleratorType,
    Image,
    ImageChoices,
    Instance,
    InstanceSpec,
    MachineType,
)
from tui.services.policy import AutoStopSyntaxError, parse_auto_stop
from tui.widgets.literal import Input, Label, Log, Static

if TYPE_CHECKING:
    from tui.services.compute import ComputeService

T = TypeVar("T")


class DialogScreen(ModalScreen[T]):
    """A modal whose failed workers become notifications (worker messages do not bubble)."""

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)


ServiceGetter = Callable[[], Awaitable["ComputeService"]]

DISK_TYPES = [
    ("Balanced persistent disk", "pd-balanced"),
    ("SSD persistent disk", "pd-ssd"),
    ("Standard persistent disk", "pd-standard"),
]
MIN_DISK_GB, MAX_DISK_GB = 10, 65536


# --- the form's checks, pure so they can be tested without a screen ---------------------------


def parse_disk_size(text: str) -> tuple[int | None, str]:
    """The boot disk size in GB, or why the text is not one."""
    text = text.strip()
    try:
        size = int(text)
    except ValueError:
        return None, f"Disk size must be a whole number of GB (e.g. 50), not {text!r}."
    if not MIN_DISK_GB <= size <= MAX_DISK_GB:
        return None, f"Disk size must be between {MIN_DISK_GB} and {MAX_DISK_GB} GB, not {size}."
    return size, ""


def check_gpu(
    gpu_type: str | None, count: int, accelerators: Mapping[str, AcceleratorType], zone: str
) -> str:
    """'' when `count` GPUs of `gpu_type` can go on one instance in `zone`, else why not."""
    if not gpu_type:
        return ""
    if gpu_type not in accelerators:
        offered = ", ".join(sorted(accelerators)) or "none"
        return f"{zone} offers no {gpu_type} (GPUs there: {offered}); choose another zone."
    if count < 1:
        return f"Choose how many {gpu_type} to attach (1 or more), or no GPU."
    maximum = accelerators[gpu_type].max_per_instance
    if count > maximum:
        return f"{gpu_type} allows at most {maximum} per instance in {zone}, not {count}."
    return ""


def price_summary(
    spec: InstanceSpec | None, machine: MachineType | None, laptop_price: float = 1500.0
) -> str:
    """'≈ $0.73/h (catalog 2026-10-01)' — or why there is no figure."""
    if spec is None or machine is None:
        return "Choose a zone and a machine type to see the price."
    try:
        from tui.services import pricing
    except ImportError:
        return "Price: not available yet."
    try:
        catalog = pricing.load_catalog()
        hourly = catalog.spec_hourly(spec)
    except Exception as exc:  # a broken catalog must not break the form
        return f"Price unknown ({exc})."
    if hourly is None:
        return "Price unknown for this shape (not in the catalog) — not $0."
    disk = catalog.disk_monthly(spec.disk_type, spec.disk_size_gb, spec.zone.rsplit("-", 1)[0])
    disk_text = f" + disk ${disk:.2f}/month" if disk is not None else ""
    kind = "spot" if spec.spot else "on-demand"
    return (
        f"≈ ${hourly:.2f}/hour {kind} (${hourly * 24:.2f}/day, ${hourly * 730:.0f}/month if "
        f"left on){disk_text}. Catalog {catalog.as_of}. "
        f"{pricing.laptop_sentence(hourly, laptop_price).capitalize()}."
    )


class CreateInstanceScreen(DialogScreen[InstanceSpec | None]):
    """Everything the lecture's 'choose what you want' needs, validated before it is sent."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Create")]

    def __init__(
        self,
        get_service: ServiceGetter,
        default_zone: str,
        laptop_price: float = 1500.0,
        idle: IdleStop | None = None,
        idle_default: bool = False,
        image_families: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self.image_families = image_families  # featured (project, family); None: the default
        self.image_choices = ImageChoices(images=())
        self._quota_key: tuple[object, ...] | None = None  # the GPUs the quota note is about
        self.idle = idle or IdleStop()  # the watcher's thresholds: the idle rule's ([rules])
        self.idle_default = idle_default  # [rules] idle_stop = true ticks the switch
        self.get_service = get_service
        self.default_zone = default_zone
        self.laptop_price = laptop_price  # the buy-or-rent line's yardstick ([costs] laptop_price)
        self.machine_types: dict[str, MachineType] = {}
        self.accelerators: dict[str, AcceleratorType] = {}
        self.images: dict[str, Image] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label("Create a VM instance", classes="dialog-title")
            with VerticalScroll(classes="form-scroll"):
                yield Label("Name", classes="field-label")
                yield Input(placeholder="e.g. train-1", id="name")
                yield Static("", id="name-error", classes="field-error")
                yield Label("Zone", classes="field-label")
                yield Select([], id="zone", prompt="loading zones…")
                yield Label("Machine type", classes="field-label")
                yield Select([], id="machine", prompt="choose a zone first")
                yield Label("GPU type and count", classes="field-label")
                with Horizontal():
                    yield Select([], id="gpu", prompt="no GPU")
                    yield Select(
                        [(str(n), n) for n in (1, 2, 4, 8)],
                        id="gpu-count",
                        value=1,
                        allow_blank=False,
                    )
                yield Static("", id="gpu-note", classes="field-error")
                yield Static("", id="quota-note", classes="field-error")
                yield Label("Boot image", classes="field-label")
                yield Select([], id="image", prompt="loading images…")
                yield Static("", id="image-note", classes="field-error")
                yield Label("Show deprecated images too", classes="field-label")
                yield Switch(value=False, id="show-deprecated")
                yield Label("Boot disk size (GB) and type", classes="field-label")
                with Horizontal():
                    yield Input("50", id="disk-size", type="integer")
                    yield Select(DISK_TYPES, id="disk-type", value="pd-balanced", allow_blank=False)
                yield Label(
                    "Spot (up to ~60-90 % cheaper; can be preempted)", classes="field-label"
                )
                yield Switch(value=False, id="spot")
                yield Label(
                    "Auto-stop after (4, 1.5, 90m; empty or off = never; enforced by Google)",
                    classes="field-label",
                )
                yield Input("", id="auto-stop", placeholder="e.g. 4")
                yield Label(
                    f"Idle stop: {self.idle.describe()} (a watcher on the VM)",
                    classes="field-label",
                )
                yield Switch(value=self.idle_default, id="idle-stop")
                yield Label("Startup script (runs as root at every boot)", classes="field-label")
                yield TextArea("", id="startup-script")
            yield Static("", id="form-error", classes="field-error")
            yield Static(
                "Choose a zone and a machine type to see the price.",
                id="summary",
                classes="form-summary",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()
        self.load_choices()

    # --------------------------------------------------------------- loading
    @work(exclusive=True, group="form-load", exit_on_error=False)
    async def load_choices(self) -> None:
        try:
            service = await self.get_service()
            zones = await service.list_zones()
            choices = await service.list_images(self.image_families)
        except CloudpaneError as error:
            self.query_one("#form-error", Static).update(f"{error.message} {error.hint}")
            return
        self.image_choices = choices
        zone_select = self.query_one("#zone", Select)
        zone_select.set_options(
            [(visible(z.name), z.name) for z in sorted(zones, key=lambda z: z.name)]
        )
        names = {z.name for z in zones}
        if self.default_zone in names:
            zone_select.value = self.default_zone
        self.update_images()

    def update_images(self) -> None:
        """Offer the current families (and the deprecated ones when asked); say what is missing."""
        from tui.services.images import label

        choices = self.image_choices
        offered = list(choices.images)
        if self.query_one("#show-deprecated", Switch).value:
            offered += list(choices.deprecated)
        self.images = {f"{i.project}/{i.family}": i for i in offered}
        image_select = self.query_one("#image", Select)
        previous = image_select.value
        image_select.set_options([(visible(label(i)), key) for key, i in self.images.items()])
        if isinstance(previous, str) and previous in self.images:
            image_select.value = previous
        elif choices.images:
            image_select.value = f"{choices.images[0].project}/{choices.images[0].family}"
        notes = [
            f"Image family {m.family} ({m.project}) is not available: {m.message}"
            if m.family != "*"
            else f"Images of {m.project} could not be listed: {m.message}"
            for m in choices.missing
        ]
        if choices.deprecated and not self.query_one("#show-deprecated", Switch).value:
            held = ", ".join(i.family for i in choices.deprecated)
            notes.append(f"Not offered (deprecated by Google): {held}.")
        self.query_one("#image-note", Static).update(" ".join(notes))

    @on(Switch.Changed, "#show-deprecated")
    def _show_deprecated(self) -> None:
        self.update_images()

    @on(Select.Changed, "#image")
    def _image_changed(self, event: Select.Changed) -> None:
        """A boot disk is never smaller than the image: raise the size to the image's."""
        image = self.images.get(str(event.value))
        if image is None:
            return
        size = self.query_one("#disk-size", Input)
        try:
            current = int(size.value)
        except ValueError:
            current = 0
        if current < image.disk_size_gb:
            size.value = str(image.disk_size_gb)
        self.update_summary()

    @on(Select.Changed, "#zone")
    def _zone_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.load_zone(event.value)

    @work(exclusive=True, group="form-zone", exit_on_error=False)
    async def load_zone(self, zone: str) -> None:
        machine = self.query_one("#machine", Select)
        machine.set_options([])
        machine.prompt = "loading machine types…"
        try:
            service = await self.get_service()
            machine_types = await service.list_machine_types(zone)
            accelerators = await service.list_accelerator_types(zone)
        except CloudpaneError as error:
            self.query_one("#form-error", Static).update(f"{error.message} {error.hint}")
            return
        self.machine_types = {m.name: m for m in machine_types}
        self.accelerators = {a.name: a for a in accelerators}
        machine.set_options(
            [
                (visible(f"{m.name}  ({m.vcpus} vCPU, {m.memory_mb / 1024:.0f} GB)"), m.name)
                for m in sorted(machine_types, key=lambda m: (m.family, m.vcpus, m.name))
            ]
        )
        for preferred in ("n1-standard-4", "e2-standard-4"):
            if preferred in self.machine_types:
                machine.value = preferred
                break
        self.update_gpu_choices()
        self.update_summary()

    @on(Select.Changed, "#machine")
    def _machine_changed(self) -> None:
        self.update_gpu_choices()
        self.update_summary()

    def update_gpu_choices(self) -> None:
        from tui.services.compute import attachable_accelerators

        gpu = self.query_one("#gpu", Select)
        note = self.query_one("#gpu-note", Static)
        machine = self.machine_types.get(str(self.query_one("#machine", Select).value))
        if machine is None:
            gpu.set_options([])
            note.update("")
            return
        if machine.bundled_accelerators:
            gpu.set_options([])
            gpu.disabled = True
            bundled = ", ".join(f"{a.count}× {a.type}" for a in machine.bundled_accelerators)
            note.update(f"{machine.name} comes with its GPUs: {bundled}.")
            return
        allowed = attachable_accelerators(machine.family)
        offered = [a for a in self.accelerators.values() if a.name in allowed]
        gpu.disabled = not offered
        gpu.set_options([(visible(f"{a.description} ({a.name})"), a.name) for a in offered])
        if not allowed:
            note.update(
                f"{machine.family} machines take no GPUs; choose n1 for T4/P4/P100/V100, "
                "a2 (A100), a3 (H100) or g2 (L4)."
            )
        elif not offered:
            note.update("This zone offers no GPU for this machine family.")
        else:
            note.update("")

    @on(Select.Changed, "#gpu")
    @on(Select.Changed, "#gpu-count")
    @on(Select.Changed, "#disk-type")
    @on(Switch.Changed, "#spot")
    @on(Input.Changed, "#disk-size")
    def _inputs_changed(self) -> None:
        self.update_summary()

    @on(Input.Changed, "#name")
    def _name_changed(self, event: Input.Changed) -> None:
        from tui.services.compute import validate_instance_name

        reason = validate_instance_name(event.value) if event.value else None
        self.query_one("#name-error", Static).update(reason or "")

    # ------------------------------------------------------------- building
    def build_spec(self) -> tuple[InstanceSpec | None, str]:
        """The spec the form describes, or the first thing wrong with it."""
        from tui.services.compute import validate_instance_name

        name = self.query_one("#name", Input).value.strip()
        if not name:
            return None, "Give the instance a name."
        reason = validate_instance_name(name)
        if reason:
            return None, f"Name: {reason}"
        zone = self.query_one("#zone", Select).value
        if not isinstance(zone, str):
            return None, "Choose a zone."
        machine = self.query_one("#machine", Select).value
        if not isinstance(machine, str):
            return None, "Choose a machine type."
        image_key = self.query_one("#image", Select).value
        if not isinstance(image_key, str) or image_key not in self.images:
            return None, "Choose a boot image."
        size, problem = parse_disk_size(self.query_one("#disk-size", Input).value)
        if size is None:
            return None, problem
        image = self.images[image_key]
        if size < image.disk_size_gb:
            return None, (
                f"The image {image.family} needs a boot disk of at least "
                f"{image.disk_size_gb} GB, not {size}."
            )
        gpu = self.query_one("#gpu", Select).value
        gpu_type = gpu if isinstance(gpu, str) else None
        count = self.query_one("#gpu-count", Select).value if gpu_type else 0
        count = int(count) if isinstance(count, int) else 0
        problem = check_gpu(gpu_type, count, self.accelerators, zone)
        if problem:
            return None, problem
        try:
            max_run = parse_auto_stop(self.query_one("#auto-stop", Input).value)
        except AutoStopSyntaxError as problem:
            return None, str(problem)
        spec = InstanceSpec(
            name=name,
            zone=zone,
            machine_type=machine,
            image=self.images[image_key],
            disk_size_gb=size,
            disk_type=str(self.query_one("#disk-type", Select).value),
            accelerator_type=gpu_type,
            accelerator_count=count,
            spot=self.query_one("#spot", Switch).value,
            startup_script=self.query_one("#startup-script", TextArea).text,
            max_run_seconds=max_run,
            idle_stop=self.idle if self.query_one("#idle-stop", Switch).value else None,
        )
        if spec.idle_stop is not None:
            try:
                with_watcher(spec.startup_script, spec.idle_stop)
            except ValueError as problem:
                return None, str(problem)
        return spec, ""

    def update_summary(self) -> None:
        spec, _ = self.build_spec()
        machine = self.machine_types.get(str(self.query_one("#machine", Select).value))
        if spec is None and machine is not None:
            # Price what is chosen so far even before the name is typed.
            zone = self.query_one("#zone", Select).value
            gpu = self.query_one("#gpu", Select).value
            count = self.query_one("#gpu-count", Select).value
            image = next(iter(self.images.values()), Image("debian-cloud", "debian-12"))
            try:
                size = int(self.query_one("#disk-size", Input).value)
            except ValueError:
                size = 50
            spec = InstanceSpec(
                name="preview",
                zone=str(zone),
                machine_type=machine.name,
                image=image,
                disk_size_gb=size,
                disk_type=str(self.query_one("#disk-type", Select).value),
                accelerator_type=gpu if isinstance(gpu, str) else None,
                accelerator_count=int(count)
                if isinstance(gpu, str) and isinstance(count, int)
                else 0,
                spot=self.query_one("#spot", Switch).value,
            )
        self.query_one("#summary", Static).update(price_summary(spec, machine, self.laptop_price))
        has_gpu = spec is not None and bool(
            spec.accelerator_type or (machine and machine.bundled_accelerators)
        )
        key = (
            (spec.zone, spec.machine_type, spec.accelerator_type, spec.accelerator_count, spec.spot)
            if spec is not None and has_gpu
            else None
        )
        if key != self._quota_key:  # read the quotas again only when the GPUs change
            self._quota_key = key
            if spec is not None and key is not None:
                self.check_quota(spec)
            else:
                self.query_one("#quota-note", Static).update("")

    def action_submit(self) -> None:
        spec, problem = self.build_spec()
        if spec is None:
            self.query_one("#form-error", Static).update(problem)
            return
        self.submit_checked(spec)

    @work(exclusive=True, group="form-submit", exit_on_error=False)
    async def submit_checked(self, spec: InstanceSpec) -> None:
        """A GPU VM is sent only when the project's and region's GPU quotas allow it."""
        problem = await self.quota_problem(spec)
        if problem:
            self.query_one("#quota-note", Static).update(problem)
            self.query_one("#form-error", Static).update(
                "Not created: the GPU quota would refuse it (see above)."
            )
            return
        self.dismiss(spec)

    async def quota_problem(self, spec: InstanceSpec) -> str:
        """'' when the spec's GPUs fit the quotas (or it has none, or they cannot be read)."""
        try:
            service = await self.get_service()
            return await service.gpu_quota_problem(
                spec.zone,
                spec.machine_type,
                spec.accelerator_type,
                spec.accelerator_count,
                spec.spot,
            )
        except CloudpaneError:
            return ""  # unreadable quotas must not block a create; Google still decides

    @work(exclusive=True, group="form-quota", exit_on_error=False)
    async def check_quota(self, spec: InstanceSpec) -> None:
        """Say "quota 0" as soon as a GPU is chosen, before the Create click."""
        self.query_one("#quota-note", Static).update(await self.quota_problem(spec))

    @on(Button.Pressed, "#create")
    def _create(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class MachineTypeScreen(DialogScreen[str | None]):
    """'Make it even more powerful if needed (or less)': pick a new machine type."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, get_service: ServiceGetter, instance: Instance) -> None:
        super().__init__()
        self.get_service = get_service
        self.instance = instance

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label(f"Machine type of {self.instance.name}", classes="dialog-title")
            yield Label(f"Now: {self.instance.machine_type}. New machine type:")
            yield Select([], id="machine", prompt="loading machine types…")
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Change", id="change", variant="primary")

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        try:
            service = await self.get_service()
            types = await service.list_machine_types(self.instance.zone)
        except CloudpaneError as error:
            self.query_one("#form-error", Static).update(f"{error.message} {error.hint}")
            return
        select = self.query_one("#machine", Select)
        select.set_options(
            [
                (visible(f"{m.name}  ({m.vcpus} vCPU, {m.memory_mb / 1024:.0f} GB)"), m.name)
                for m in sorted(types, key=lambda m: (m.family, m.vcpus, m.name))
                if m.name != self.instance.machine_type
            ]
        )
        select.focus()

    @on(Button.Pressed, "#change")
    def _change(self) -> None:
        value = self.query_one("#machine", Select).value
        if not isinstance(value, str):
            self.query_one("#form-error", Static).update("Choose a machine type.")
            return
        self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class SerialOutputScreen(DialogScreen[None]):
    """The instance's serial port 1, followed every two seconds while open."""

    BINDINGS = [Binding("escape,q", "close", "Close")]

    def __init__(self, get_service: ServiceGetter, instance: Instance) -> None:
        super().__init__()
        self.get_service = get_service
        self.instance = instance
        self.serial_offset = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"Serial port output — {self.instance.name}", classes="dialog-title")
            yield Log(id="serial-log", max_lines=20_000)
            yield Label("esc close · follows new output", classes="dialog-hint")

    def on_mount(self) -> None:
        self.poll()

    @work(exclusive=True, exit_on_error=False)
    async def poll(self) -> None:
        log = self.query_one(Log)
        try:
            service = await self.get_service()
            text, self.serial_offset = await service.serial_output(
                self.instance.zone, self.instance.name, self.serial_offset
            )
        except CloudpaneError as error:
            log.write_line(f"[{error.title}] {error.message} {error.hint}")
            self.set_timer(5, self.poll)
            return
        if text:
            log.write(text)
        self.set_timer(2, self.poll)

    def action_close(self) -> None:
        self.dismiss(None)
