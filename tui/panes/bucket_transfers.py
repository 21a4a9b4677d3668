"""Uploads and downloads in the Buckets pane: the dialogs that ask, and the progress they show.

- `complete_path` is the shell-like Tab completion of the path inputs (pure);
- `UploadScreen`, `DownloadScreen` ask where from / where to; `ConflictScreen` asks once per
  batch what to do with objects that already exist (never overwritten silently);
- `TransfersBar` shows each transfer in flight: a bar for the whole transfer and one for each
  file being sent right now.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DirectoryTree, ProgressBar, Select

from tui.format import bytes_human
from tui.panes.vm_forms import DialogScreen
from tui.services.storage_models import OnExists, TransferProgress
from tui.widgets.literal import Input, Label, Static

Choice = Literal["skip", "overwrite", "rename"]
ON_EXISTS_CHOICES: list[tuple[str, Choice]] = [
    ("keep both: save under a new name (a (1).txt)", "rename"),
    ("skip it", "skip"),
    ("overwrite it", "overwrite"),
]
MAX_CANDIDATES_SHOWN = 6


# --- paths -------------------------------------------------------------------------------------


def default_download_dir() -> Path:
    """~/Downloads when there is one, else the current folder."""
    downloads = Path.home() / "Downloads"
    return downloads if downloads.is_dir() else Path.cwd()


def complete_path(text: str, *, dirs_only: bool = False) -> tuple[str, list[str]]:
    """Shell-like completion: → (completed text, the names that still match).

    One match completes fully (folders get a trailing `/`); several complete to their common
    beginning. `~` stays as typed. Hidden entries are offered only when asked for with a dot.
    """
    head, tail = os.path.split(text)
    folder = Path(os.path.expanduser(head or "."))
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError:
        return text, []
    matches: list[str] = []
    for entry in entries:
        name = entry.name
        if not name.startswith(tail) or (name.startswith(".") and not tail.startswith(".")):
            continue
        is_dir = entry.is_dir()
        if dirs_only and not is_dir:
            continue
        matches.append(name + "/" if is_dir else name)
    if not matches:
        return text, []
    if len(matches) == 1:
        return os.path.join(head, matches[0]), matches
    common = os.path.commonprefix(matches)  # noqa: RUF071 - names, not paths
    return (os.path.join(head, common) if common else text), matches


class PathInput(Input):
    """An Input whose Tab completes a local path (and moves on when there is nothing to add)."""

    BINDINGS = [Binding("tab", "complete", "Complete", show=False)]

    def __init__(self, value: str = "", *, dirs_only: bool = False, **kwargs: object) -> None:
        super().__init__(value, **kwargs)  # type: ignore[arg-type]
        self.dirs_only = dirs_only

    class Completed(Message):
        """Sent after a Tab with the names that still match (to show them)."""

        def __init__(self, input: PathInput, candidates: list[str]) -> None:
            super().__init__()
            self.input = input
            self.candidates = candidates

        @property
        def control(self) -> PathInput:
            return self.input

    def action_complete(self) -> None:
        completed, candidates = complete_path(self.value, dirs_only=self.dirs_only)
        if completed == self.value and len(candidates) <= 1:
            self.screen.focus_next()
            return
        self.value = completed
        self.cursor_position = len(completed)
        self.post_message(self.Completed(self, candidates))


def candidates_text(candidates: list[str]) -> str:
    if len(candidates) <= 1:
        return ""
    shown = "  ".join(candidates[:MAX_CANDIDATES_SHOWN])
    more = f"  … +{len(candidates) - MAX_CANDIDATES_SHOWN}" if len(candidates) > 6 else ""
    return shown + more


# --- upload ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadRequest:
    paths: tuple[Path, ...]
    dest_prefix: str


class UploadScreen(DialogScreen[UploadRequest | None]):
    """A local file or folder → a folder of the bucket."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Upload"),
        Binding("ctrl+t", "toggle_tree", "Browse"),
    ]

    def __init__(self, bucket: str, prefix: str) -> None:
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form", id="upload-dialog"):
            yield Label(f"Upload to gs://{self.bucket}/{self.prefix}", classes="dialog-title")
            with VerticalScroll(classes="form-scroll"):
                yield Label("File or folder (Tab completes · ctrl+t browse)", classes="field-label")
                yield PathInput("", id="upload-path", placeholder="e.g. ~/data/train")
                yield Static("", id="upload-candidates", classes="dialog-hint")
                yield DirectoryTree(os.path.expanduser("~"), id="upload-tree")
                yield Label("Into folder of the bucket", classes="field-label")
                yield Input(self.prefix, id="upload-dest", placeholder="(top of the bucket)")
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Upload", id="upload", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#upload-tree").display = False
        self.query_one("#upload-path", Input).focus()

    @on(PathInput.Completed, "#upload-path")
    def _completed(self, event: PathInput.Completed) -> None:
        self.query_one("#upload-candidates", Static).update(candidates_text(event.candidates))

    def action_toggle_tree(self) -> None:
        tree = self.query_one("#upload-tree", DirectoryTree)
        tree.display = not tree.display
        if tree.display:
            tree.focus()
        else:
            self.query_one("#upload-path", Input).focus()

    @on(DirectoryTree.FileSelected)
    @on(DirectoryTree.DirectorySelected)
    def _picked(self, event: DirectoryTree.FileSelected | DirectoryTree.DirectorySelected) -> None:
        box = self.query_one("#upload-path", Input)
        box.value = str(event.path)
        box.cursor_position = len(box.value)

    def build(self) -> tuple[UploadRequest | None, str]:
        text = self.query_one("#upload-path", Input).value.strip()
        if not text:
            return None, "Type the path of a file or folder to upload (Tab completes)."
        path = Path(os.path.expanduser(text))
        if not path.exists():
            return None, f"No such file or folder: {text}"
        if not (path.is_file() or path.is_dir()):
            return None, f"{text} is neither a file nor a folder."
        dest = self.query_one("#upload-dest", Input).value.strip().lstrip("/")
        if dest and not dest.endswith("/"):
            dest += "/"
        if len(dest.encode()) > 900:
            return None, "The destination folder name is too long (object names ≤ 1024 bytes)."
        return UploadRequest((path,), dest), ""

    @on(Input.Submitted, "#upload-path")
    @on(Input.Submitted, "#upload-dest")
    @on(Button.Pressed, "#upload")
    def action_submit(self) -> None:
        request, problem = self.build()
        if request is None:
            self.query_one("#form-error", Static).update(problem)
            return
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ConflictScreen(DialogScreen[Choice | None]):
    """Asked once per batch: what to do with the objects that already exist."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("s", "choose('skip')", "Skip"),
        Binding("r", "choose('rename')", "Rename"),
        Binding("o", "choose('overwrite')", "Overwrite"),
    ]

    def __init__(self, where: str, names: list[str], soft_delete: str = "") -> None:
        super().__init__()
        self.where = where
        self.names = names
        self.soft_delete = soft_delete  # what overwriting keeps billed (the bucket's retention)

    def compose(self) -> ComposeResult:
        count = len(self.names)
        listed = "\n".join(f"  {n}" for n in self.names[:5])
        more = f"\n  … and {count - 5} more" if count > 5 else ""
        with Vertical(classes="dialog", id="conflict-dialog"):
            yield Label("Already in the bucket", classes="dialog-title")
            yield Static(
                f"{count} object{'s' if count != 1 else ''} already exist{'' if count != 1 else 's'}"
                f" in {self.where}:\n{listed}{more}\n\n"
                + (f"If you overwrite: {self.soft_delete}\n\n" if self.soft_delete else "")
                + "The other files are uploaded. For these:",
                markup=False,
                id="conflict-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Skip (s)", id="skip")
                yield Button("Keep both (r)", id="rename", variant="primary")
                yield Button("Overwrite (o)", id="overwrite", variant="error")

    def on_mount(self) -> None:
        self.query_one("#skip", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("skip", "rename", "overwrite"):
            self.dismiss(event.button.id)  # type: ignore[arg-type]
        else:
            self.dismiss(None)

    def action_choose(self, choice: Choice) -> None:
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)


# --- download ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadRequest:
    dest: Path
    on_exists: OnExists


class DownloadScreen(DialogScreen[DownloadRequest | None]):
    """Objects and folders of a bucket → a local folder."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Download")]

    def __init__(self, bucket: str, items: list[str], default_dest: Path | None = None) -> None:
        super().__init__()
        self.bucket = bucket
        self.items = items
        self.default_dest = default_dest or default_download_dir()

    def compose(self) -> ComposeResult:
        count = len(self.items)
        shown = ", ".join(self.items[:3]) + (f" and {count - 3} more" if count > 3 else "")
        with Vertical(classes="dialog form", id="download-dialog"):
            yield Label(f"Download from gs://{self.bucket}", classes="dialog-title")
            yield Static(shown, markup=False, classes="dialog-hint")
            yield Label("Into local folder (Tab completes)", classes="field-label")
            yield PathInput(str(self.default_dest), id="download-dest", dirs_only=True)
            yield Static("", id="download-candidates", classes="dialog-hint")
            yield Label("When a local file already has the name", classes="field-label")
            yield Select(ON_EXISTS_CHOICES, id="download-exists", value="rename", allow_blank=False)
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Download", id="download", variant="primary")

    def on_mount(self) -> None:
        box = self.query_one("#download-dest", Input)
        box.focus()
        box.cursor_position = len(box.value)

    @on(PathInput.Completed, "#download-dest")
    def _completed(self, event: PathInput.Completed) -> None:
        self.query_one("#download-candidates", Static).update(candidates_text(event.candidates))

    def build(self) -> tuple[DownloadRequest | None, str]:
        text = self.query_one("#download-dest", Input).value.strip()
        if not text:
            return None, "Type the folder to download into."
        dest = Path(os.path.expanduser(text))
        if dest.exists() and not dest.is_dir():
            return None, f"{text} is a file, not a folder."
        choice = self.query_one("#download-exists", Select).value
        on_exists: OnExists = choice if choice in ("skip", "overwrite", "rename") else "rename"  # type: ignore[assignment]
        return DownloadRequest(dest, on_exists), ""

    @on(Input.Submitted, "#download-dest")
    @on(Button.Pressed, "#download")
    def action_submit(self) -> None:
        request, problem = self.build()
        if request is None:
            self.query_one("#form-error", Static).update(problem)
            return
        self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# --- progress ----------------------------------------------------------------------------------

FILE_SLOTS = 3  # files shown with their own bar at once (a batch of thousands stays calm)


class FileRow(Horizontal):
    def compose(self) -> ComposeResult:
        yield Label("", classes="transfer-file")
        yield ProgressBar(total=100, show_eta=False, show_percentage=True)


class TransferBox(Vertical):
    """One transfer: a line with counts, a bar for the whole, a bar per file in flight."""

    def __init__(self, verb: str, where: str) -> None:
        super().__init__(classes="transfer")
        self.verb = verb
        self.where = where
        self.slots: list[str | None] = [None] * FILE_SLOTS
        self.last: TransferProgress | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="transfer-total"):
            yield Label(f"{self.verb} {self.where}: preparing…", classes="transfer-title")
            yield ProgressBar(total=None, show_eta=False, classes="transfer-bar")
        for _ in range(FILE_SLOTS):
            yield FileRow(classes="transfer-row")

    def on_mount(self) -> None:
        for row in self.query(FileRow):
            row.display = False
        if self.last is not None:  # reports that came before the widgets existed
            self.update_progress(self.last)

    def update_progress(self, event: TransferProgress) -> None:
        self.last = event
        # Reports arrive from worker threads through the loop: maybe before the box is
        # composed, maybe after it was removed. Both are fine; there is nothing to paint.
        if not self.is_attached or not self.query(".transfer-title"):
            return
        self.query_one(".transfer-title", Label).update(
            f"{self.verb} {self.where}: {event.files_done}/{event.files_total} files · "
            f"{bytes_human(event.bytes_done)} of {bytes_human(event.bytes_total)} · x stops"
        )
        self.query_one(".transfer-bar", ProgressBar).update(
            total=max(event.bytes_total, 1), progress=max(event.bytes_done, 0)
        )
        rows = list(self.query(FileRow))
        if event.state in ("done", "skipped", "failed"):
            if event.name in self.slots:
                index = self.slots.index(event.name)
                self.slots[index] = None
                rows[index].display = False
            return
        if event.name not in self.slots:
            if None not in self.slots:
                return  # more files in flight than slots: the total bar still moves
            self.slots[self.slots.index(None)] = event.name
        row = rows[self.slots.index(event.name)]
        row.display = True
        name = event.name if len(event.name) <= 40 else "…" + event.name[-39:]
        suffix = " (verifying)" if event.state == "verifying" else ""
        row.query_one(Label).update(f"  {name}{suffix}")
        row.query_one(ProgressBar).update(
            total=max(event.file_total, 1),
            progress=event.file_bytes if event.file_total else 1,
        )


class TransfersBar(Vertical):
    """Transfers in flight; a box appears when one starts and goes when it ends."""

    def start(self, verb: str, where: str) -> TransferBox:
        box = TransferBox(verb, where)
        self.mount(box)
        return box

    def finish(self, box: TransferBox) -> None:
        box.remove()
