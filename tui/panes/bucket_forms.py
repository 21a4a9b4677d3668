"""The Buckets pane's forms: create a bucket (name rules, location, class with its price),
choose a signed URL's expiry, and show a URL that can be copied."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Select, Switch

from tui.panes.vm_forms import DialogScreen
from tui.services.storage import (
    LOCATIONS,
    STORAGE_CLASSES,
    location_type,
    price_per_gb_month,
    validate_bucket_name,
)
from tui.services.storage_models import bucket_name_warning
from tui.widgets.clipboard import ClipboardTooLarge, copy_to_clipboard
from tui.widgets.literal import Input, Label, Static

LOCATION_HINT = (
    "Best close to the machines and users that read it: a region next to your VMs is "
    "cheapest and fastest; a dual- or multi-region survives a region's outage."
)


def price_text(price: float) -> str:
    """$0.020, $0.0012 — enough digits to tell the classes apart."""
    text = f"{price:.4f}".rstrip("0")
    decimals = len(text.partition(".")[2])
    return f"${price:.{max(decimals, 3)}f}"


@dataclass(frozen=True)
class BucketSpec:
    name: str
    location: str
    storage_class: str
    uniform_access: bool
    public_access_prevention: str  # "enforced" or "inherited"


def class_options(location: str) -> list[tuple[str, str]]:
    """Storage classes with their price per GB-month where the bucket will live."""
    return [
        (f"{name:<9} {price_text(price_per_gb_month(name, location))} per GB-month", name)
        for name in STORAGE_CLASSES
    ]


def cost_summary(name: str, location: str, storage_class: str) -> str:
    """What the choice costs, in a sentence."""
    kind = location_type(location)
    described = next((loc.description for loc in LOCATIONS if loc.code == location), "")
    price = price_per_gb_month(storage_class, location)
    info = STORAGE_CLASSES[storage_class]
    minimum = (
        f" Objects are billed for at least {info.min_storage_days} days."
        if info.min_storage_days
        else ""
    )
    where = f"{location} ({kind}{', ' + described if described else ''})"
    return (
        f"gs://{name or '…'}: {storage_class} in {where}: {price_text(price)} per GB-month, "
        f"≈ ${price * 1024:.2f} per TB-month.{minimum} Soft delete (on by default) keeps "
        "deleted and overwritten objects billed for 7 more days."
    )


class CreateBucketScreen(DialogScreen[BucketSpec | None]):
    """A new bucket, its name checked against Cloud Storage's rules as it is typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Create")]

    def __init__(self, default_location: str = "us-central1") -> None:
        super().__init__()
        codes = {loc.code for loc in LOCATIONS}
        self.default_location = default_location if default_location in codes else "us-central1"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="create-bucket-dialog"):
            yield Label("Create a bucket", classes="dialog-title")
            with VerticalScroll(classes="form-scroll"):
                yield Label("Name (unique worldwide)", classes="field-label")
                yield Input(placeholder="e.g. my-team-training-data", id="bucket-name")
                yield Static("", id="name-error", classes="field-error")
                yield Static("", id="name-warning", classes="dialog-hint")
                yield Label("Location", classes="field-label")
                yield Select(
                    [
                        (f"{loc.code} — {loc.description} ({loc.kind})", loc.code)
                        for loc in LOCATIONS
                    ],
                    id="bucket-location",
                    value=self.default_location,
                    allow_blank=False,
                )
                yield Static(LOCATION_HINT, classes="dialog-hint")
                yield Label("Storage class (cost per GB differs)", classes="field-label")
                yield Select(
                    class_options(self.default_location),
                    id="bucket-class",
                    value="STANDARD",
                    allow_blank=False,
                )
                yield Static("", id="class-note", classes="dialog-hint")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=True, id="bucket-uniform")
                    yield Label("Uniform access: permissions for the whole bucket, no ACLs")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=True, id="bucket-pap")
                    yield Label("Prevent public access: nothing in it can be made public")
            yield Static("", id="form-error", classes="field-error")
            yield Static("", id="summary", classes="form-summary")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Create", id="create", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#bucket-name", Input).focus()
        self.update_summary()

    @on(Input.Changed, "#bucket-name")
    def _name_changed(self, event: Input.Changed) -> None:
        reason = validate_bucket_name(event.value) if event.value else None
        self.query_one("#name-error", Static).update(reason or "")
        self.query_one("#name-warning", Static).update(bucket_name_warning(event.value) or "")
        self.update_summary()

    @on(Select.Changed, "#bucket-location")
    def _location_changed(self, event: Select.Changed) -> None:
        classes = self.query_one("#bucket-class", Select)
        chosen = classes.value
        classes.set_options(class_options(str(event.value)))
        classes.value = chosen if isinstance(chosen, str) else "STANDARD"
        self.update_summary()

    @on(Select.Changed, "#bucket-class")
    def _class_changed(self) -> None:
        self.update_summary()

    def chosen(self) -> tuple[str, str, str]:
        name = self.query_one("#bucket-name", Input).value.strip()
        location = self.query_one("#bucket-location", Select).value
        storage_class = self.query_one("#bucket-class", Select).value
        return (
            name,
            location if isinstance(location, str) else self.default_location,
            storage_class if isinstance(storage_class, str) else "STANDARD",
        )

    def update_summary(self) -> None:
        name, location, storage_class = self.chosen()
        self.query_one("#class-note", Static).update(STORAGE_CLASSES[storage_class].description)
        self.query_one("#summary", Static).update(cost_summary(name, location, storage_class))

    def build(self) -> tuple[BucketSpec | None, str]:
        name, location, storage_class = self.chosen()
        reason = validate_bucket_name(name)
        if reason:
            return None, f"Name: {reason}"
        return (
            BucketSpec(
                name=name,
                location=location,
                storage_class=storage_class,
                uniform_access=self.query_one("#bucket-uniform", Switch).value,
                public_access_prevention=(
                    "enforced" if self.query_one("#bucket-pap", Switch).value else "inherited"
                ),
            ),
            "",
        )

    @on(Input.Submitted, "#bucket-name")
    @on(Button.Pressed, "#create")
    def action_submit(self) -> None:
        spec, problem = self.build()
        if spec is None:
            self.query_one("#form-error", Static).update(problem)
            return
        self.dismiss(spec)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# --- signed URLs -------------------------------------------------------------------------------

_EXPIRY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 3600}
MAX_SIGNED = timedelta(days=7)


def parse_expiry(text: str) -> timedelta:
    """'90m', '12h', '7d', '3600s' (a bare number is hours) → timedelta; ValueError says why."""
    match = _EXPIRY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: write e.g. 30m, 12h or 7d.")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds < 1:
        raise ValueError("A signed URL must stay valid for at least 1 second.")
    if seconds > MAX_SIGNED.total_seconds():
        raise ValueError("A signed URL can be valid for at most 7 days (Google's limit).")
    return timedelta(seconds=seconds)


class SignedUrlScreen(DialogScreen[timedelta | None]):
    """How long the signed URL stays valid."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, bucket: str, name: str) -> None:
        super().__init__()
        self.bucket = bucket
        self.name_ = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="signed-dialog"):
            yield Label(f"Signed URL for gs://{self.bucket}/{self.name_}", classes="dialog-title")
            yield Static(
                "Anyone holding the URL can read this one object until it expires; "
                "nothing else becomes public.",
                classes="dialog-hint",
            )
            yield Label("Valid for (e.g. 30m, 12h, 7d; at most 7d)", classes="field-label")
            yield Input("1h", id="signed-expiry")
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Sign", id="sign", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#signed-expiry", Input).focus()

    @on(Input.Submitted, "#signed-expiry")
    @on(Button.Pressed, "#sign")
    def _submit(self) -> None:
        try:
            expiry = parse_expiry(self.query_one("#signed-expiry", Input).value)
        except ValueError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            return
        self.dismiss(expiry)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class UrlScreen(DialogScreen[None]):
    """A URL to read, with what it gives access to, and `c` to copy it (OSC 52)."""

    BINDINGS = [Binding("escape,q", "close", "Close"), Binding("c", "copy", "Copy")]

    def __init__(self, title: str, url: str, note: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.url = url
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="url-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.note:
                yield Static(self.note, markup=False, classes="dialog-hint")
            yield Static(self.url, markup=False, id="url-text", classes="url-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")
                yield Button("Copy (c)", id="copy", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#copy", Button).focus()

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        try:
            sent = copy_to_clipboard(self.app, self.url)
        except ClipboardTooLarge as exc:
            self.app.notify(str(exc), severity="warning")
            return
        where = "to the clipboard" if sent else "(kept in cloudpane's clipboard)"
        self.app.notify(f"Copied {where}: {self.url}", title="Copied")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
