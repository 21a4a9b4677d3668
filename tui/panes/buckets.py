"""The Buckets pane: Cloud Storage buckets, their folders and objects, transfers and sharing.

Two views in one pane: the bucket list (polled, like the VMs) and, after `enter`, a folder of
one bucket with a breadcrumb. Folders come from prefix/delimiter listing and are paged lazily:
the next page is fetched only when the cursor nears the end, so a bucket with millions of
objects costs one page. Everything that changes or exposes data asks first.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets.data_table import RowDoesNotExist

from tui.panes import bucket_flows
from tui.panes.base import PaletteAction, Pane
from tui.panes.bucket_sharing import Sharing
from tui.panes.bucket_tables import (
    BUCKET_COLUMNS,
    MARK,
    OBJECT_COLUMNS,
    blob_details,
    blob_row,
    breadcrumb,
    bucket_details,
    bucket_matches,
    bucket_row,
    folder_key,
    folder_row,
    object_sort_key,
    parent_prefix,
    sync_table,
)
from tui.panes.bucket_transfers import TransfersBar
from tui.services.errors import CloudpaneError, translate
from tui.services.storage_models import PUBLIC, Blob, Bucket, ObjectPage
from tui.widgets.big_table import BigTable
from tui.widgets.clipboard import copy_to_clipboard
from tui.widgets.details import DetailsScreen, console_url
from tui.widgets.literal import DataTable, Input, Static
from tui.widgets.operations import OperationsBar

if TYPE_CHECKING:
    from tui.services.connect import Connection
    from tui.services.storage import StorageService

MAX_BACKOFF = 60.0
PAGE_SIZE = 200
PAGE_AHEAD = 20  # fetch the next page when the cursor is this close to the end
# Rows one folder view keeps. Memory stays bounded whatever the bucket holds (the Cloud
# Console shows pages of 50); past this, a name prefix (/) narrows the listing instead.
MAX_OBJECT_ROWS = 50_000


class BucketsPane(Pane):
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("backspace", "up", "Up", key_display="⌫"),
        Binding("n", "create", "New"),
        Binding("u", "upload", "Upload"),
        Binding("d", "download", "Download"),
        Binding("x", "stop_transfers", "Stop transfers", show=False),
        Binding("space", "toggle_mark", "Mark"),
        Binding("ctrl+d", "delete", "Delete"),
        Binding("p", "permissions", "Perms"),
        Binding("m", "make_public", "Public", show=False),
        Binding("M", "make_private", "Private", show=False),
        Binding("c", "copy_url", "Copy URL", show=False),
        Binding("g", "signed_url", "Signed URL", show=False),
        Binding("i", "details", "Details", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]

    PALETTE = (
        PaletteAction("Open bucket or folder", "Browse the selected bucket or folder", "open"),
        PaletteAction("Go up", "Parent folder, or back to the bucket list", "up"),
        PaletteAction(
            "Create bucket", "Name, location and storage class with its price", "create", True
        ),
        PaletteAction("Delete bucket or objects", "Asks first; says what is lost", "delete", True),
        PaletteAction("Upload files or a folder", "Into the current folder", "upload", True),
        PaletteAction("Download", "Marked or selected objects and folders", "download"),
        PaletteAction(
            "Stop transfers", "Uploads and downloads in flight; asks first", "stop_transfers"
        ),
        PaletteAction("Mark object", "Select several objects (space)", "toggle_mark"),
        PaletteAction("Permissions", "IAM policy and object ACL; add or remove", "permissions"),
        PaletteAction(
            "Make public", "Says exactly what becomes public, then asks", "make_public", True
        ),
        PaletteAction("Make private", "Remove public access again", "make_private", True),
        PaletteAction("Copy public URL", "To the clipboard (OSC 52, works over SSH)", "copy_url"),
        PaletteAction("Signed URL", "A link to one object that expires", "signed_url"),
        PaletteAction("Details", "Size, checksums, generation, URL, as YAML", "details"),
        PaletteAction("Refresh buckets", "Reload the list now", "refresh"),
    )

    MUTATING = frozenset({"create", "delete", "upload", "make_public", "make_private"})
    BUCKET_ONLY = frozenset({"create"})
    OBJECT_ONLY = frozenset({"toggle_mark", "signed_url", "up"})

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.service: StorageService | None = None
        self.buckets: dict[str, Bucket] = {}
        self.loaded = False
        self.failures = 0
        self.poll_delay = 20.0
        self._poll_timer: Any = None
        self.filter_text = ""
        # The folder being browsed (bucket None: the bucket list).
        self.bucket: str | None = None
        self.prefix = ""
        self.prefix_filter = ""
        self.page_size = PAGE_SIZE
        self.objects: dict[str, Blob | None] = {}  # row key → blob (None: a folder)
        self.next_token: str | None = None
        self.loading = False
        self.objects_loaded = False
        self.marked: set[str] = set()
        self.download_dir: Path | None = None
        self._filter_timer: Any = None
        self._sharing: Sharing | None = None

    def compose(self) -> ComposeResult:
        yield Static("Buckets", classes="pane-message crumb", id="buckets-crumb")
        yield Static("Connecting…", classes="pane-message", id="buckets-message")
        buckets: DataTable[str | Text] = DataTable(
            id="buckets-table", cursor_type="row", zebra_stripes=True
        )
        for key, label, width in BUCKET_COLUMNS:
            buckets.add_column(label, key=key, width=width)
        yield buckets
        # A folder view may hold 50,000 rows: BigTable skips DataTable's per-line list.
        objects: DataTable[str | Text] = BigTable(
            id="objects-table", cursor_type="row", zebra_stripes=True
        )
        for key, label, width in OBJECT_COLUMNS:
            objects.add_column(label, key=key, width=width)
        yield objects
        yield Input(placeholder="filter (esc clears)", id="buckets-filter", classes="filter")
        yield TransfersBar(id="buckets-transfers")
        yield OperationsBar(id="buckets-operations")

    def on_mount(self) -> None:
        self.query_one("#objects-table").display = False

    @property
    def in_bucket(self) -> bool:
        return self.bucket is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only hides every mutating key; keys of the other view are hidden too."""
        if action in self.MUTATING and getattr(self.app, "read_only", False):
            return False
        if action in self.BUCKET_ONLY and self.in_bucket:
            return False
        return not (action in self.OBJECT_ONLY and not self.in_bucket)

    @property
    def sharing(self) -> Sharing:
        if self._sharing is None:
            self._sharing = Sharing(self.app, self.get_service, self._bucket_changed)
        return self._sharing

    # ----------------------------------------------------------- data flow
    def backend_ready(self, connection: Connection) -> None:
        super().backend_ready(connection)
        self.poll_delay = max(float(self.app.config.refresh_seconds) * 4, 2.0)  # type: ignore[attr-defined]
        self.service = None
        self._sharing = None
        self.buckets.clear()
        self.query_one("#buckets-table", DataTable).clear()
        self.show_buckets(focus=False)  # may be woken while hidden: never take the focus
        self.set_message(f"Loading buckets of {connection.backend.project}…")
        self.refresh_buckets()

    async def get_service(self) -> StorageService:
        if self.service is None:
            assert self.connection is not None

            def build() -> StorageService:
                # google-cloud-storage is a heavy import: never on the UI thread.
                from tui.services.storage import StorageService

                assert self.connection is not None
                return StorageService(self.connection.backend)

            self.service = await asyncio.to_thread(build)
        return self.service

    @work(exclusive=True, group="buckets-poll", exit_on_error=False, description="list buckets")
    async def refresh_buckets(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        if self.connection is None:
            return
        delay = self.poll_delay
        try:
            service = await self.get_service()
            buckets = await service.list_buckets()
        except Exception as exc:
            error = translate(exc, "list buckets")
            self.failures += 1
            delay = min(self.poll_delay * 2**self.failures, MAX_BACKOFF)
            if not self.in_bucket:
                self.set_message(
                    f"{error.message} {error.hint} Retrying in {delay:.0f} s.", error=True
                )
            if self.failures == 1:
                self.show_error(error)
        else:
            self.failures = 0
            self.buckets = {b.name: b for b in buckets}
            self.loaded = True
            self.render_buckets()
        # Re-armed only after this poll finished: a slow cloud never piles up calls.
        self._poll_timer = self.set_timer(delay, self.refresh_buckets)

    def render_buckets(self) -> None:
        table = self.query_one("#buckets-table", DataTable)
        rows = {
            name: bucket_row(b)
            for name, b in sorted(self.buckets.items())
            if bucket_matches(b, self.filter_text)
        }
        if sync_table(table, BUCKET_COLUMNS, rows):
            table.sort("name", key=str)
        if not self.in_bucket:
            self.update_bucket_message(len(rows))

    def update_bucket_message(self, shown: int) -> None:
        total = len(self.buckets)
        public = sum(1 for b in self.buckets.values() if b.public == PUBLIC)
        text = f"{total} bucket{'s' if total != 1 else ''}"
        if public:
            text += f" · {public} public to the internet"
        if self.filter_text:
            text += f" · {shown} match “{self.filter_text}”"
        if total == 0:
            text = "No buckets yet. Press n to create one."
        self.set_message(text + " · enter opens")

    def _bucket_changed(self, bucket: str) -> None:
        """After a change to a bucket's permissions or contents: refresh what shows it."""
        self.refresh_buckets()
        if self.bucket == bucket:
            self.load_objects("refresh")

    # ------------------------------------------------------------- views
    def show_buckets(self, focus: bool = True) -> None:
        self.bucket = None
        self.prefix = ""
        self.prefix_filter = ""
        self.marked.clear()
        self.objects.clear()
        self.next_token = None
        self.query_one("#objects-table").display = False
        self.query_one("#buckets-table").display = True
        self.query_one("#buckets-crumb", Static).update("Buckets")
        self.hide_filter()
        self.render_buckets()
        self.update_bucket_message(self.query_one("#buckets-table", DataTable).row_count)
        self.refresh_bindings()
        if focus:
            self.focus_main()

    def open_folder(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.prefix_filter = ""
        self.marked.clear()
        self.hide_filter()
        self.query_one("#buckets-table").display = False
        self.query_one("#objects-table").display = True
        self.refresh_bindings()
        self.focus_main()
        self.load_objects("first")

    def list_prefix(self) -> str:
        return self.prefix + self.prefix_filter

    @work(exclusive=True, group="buckets-objects", exit_on_error=False, description="list objects")
    async def load_objects(self, mode: str = "first") -> None:
        """first: a new folder; more: the next page; refresh: again, as far as was loaded."""
        bucket, prefix = self.bucket, self.list_prefix()
        if bucket is None:
            return
        table = self.query_one("#objects-table", DataTable)
        self.query_one("#buckets-crumb", Static).update(breadcrumb(bucket, self.prefix))
        if mode == "first":
            table.clear()
            self.objects.clear()
            self.next_token = None
            self.objects_loaded = False
            self.set_message(f"Listing gs://{bucket}/{prefix}…")
        wanted_rows = max(table.row_count, 1) if mode == "refresh" else 0
        token = self.next_token if mode == "more" else None
        self.loading = True
        try:
            service = await self.get_service()
            pages: list[ObjectPage] = []
            while True:
                page = await service.list_page(bucket, prefix, "/", token, self.page_size)
                pages.append(page)
                token = page.next_token
                loaded = sum(len(p.folders) + len(p.blobs) for p in pages)
                if token is None or loaded >= wanted_rows:
                    break
        except CloudpaneError as error:
            self.set_message(f"{error.message} {error.hint}", error=True)
            self.show_error(error)
            return
        finally:
            self.loading = False
        self.next_token = token
        if mode == "refresh":
            self.objects.clear()
        for page in pages:
            self.objects.update({folder_key(f): None for f in page.folders})
            self.objects.update({b.name: b for b in page.blobs if b.name != self.prefix})
        self.marked &= self.objects.keys()
        if mode == "refresh":
            if sync_table(table, OBJECT_COLUMNS, self.object_rows()):
                table.sort("name", key=object_sort_key)
        else:  # only the new pages' rows: a bucket of 100,000 objects loads page by page
            self.add_page_rows(table, pages)
        self.objects_loaded = True
        self.update_object_message()

    def add_page_rows(self, table: DataTable, pages: list[ObjectPage]) -> None:
        """Append the rows of freshly listed pages (each batch's folders before its objects)."""
        for page in pages:
            for folder in page.folders:
                key = folder_key(folder)
                if key not in table.rows:
                    table.add_row(*folder_row(key, self.prefix, key in self.marked), key=key)
        for page in pages:
            for blob in page.blobs:
                if blob.name != self.prefix and blob.name not in table.rows:
                    cells = blob_row(blob, self.prefix, blob.name in self.marked)
                    table.add_row(*cells, key=blob.name)

    def object_rows(self) -> dict[str, tuple[str | Text, ...]]:
        """Rows in listing order: each page's folders before its objects."""
        rows: dict[str, tuple[str | Text, ...]] = {}
        for key, blob in self.objects.items():
            if blob is None:
                rows[key] = folder_row(key, self.prefix, key in self.marked)
        for key, blob in self.objects.items():
            if blob is not None:
                rows[key] = blob_row(blob, self.prefix, key in self.marked)
        return rows

    def update_object_message(self) -> None:
        folders = sum(1 for b in self.objects.values() if b is None)
        count = len(self.objects) - folders
        text = f"{count} object{'s' if count != 1 else ''}, {folders} folder{'s' if folders != 1 else ''}"
        if self.capped:
            text += " shown — the most one view keeps; more exist: / narrows by name prefix"
        elif self.next_token:
            text += " shown · more load as you scroll"
        if self.prefix_filter:
            text += f" · starting with “{self.prefix_filter}”"
        if self.marked:
            text += f" · {len(self.marked)} marked"
        if not self.objects:
            text = "Empty. Press u to upload files or a folder here."
        self.set_message(text + " · ⌫ up")

    @on(DataTable.RowHighlighted, "#objects-table")
    def _near_end(self, event: DataTable.RowHighlighted) -> None:
        """Lazy paging: the next page only when the cursor nears the end of what is loaded."""
        table = event.data_table
        if (
            self.next_token
            and not self.loading
            and not self.capped
            and event.cursor_row >= table.row_count - min(PAGE_AHEAD, self.page_size // 4 + 1)
        ):
            self.loading = True
            self.load_objects("more")

    @property
    def capped(self) -> bool:
        """The folder view holds as many rows as it keeps; more exist in the bucket."""
        return bool(self.next_token) and len(self.objects) >= MAX_OBJECT_ROWS

    def set_message(self, text: str, error: bool = False) -> None:
        message = self.query_one("#buckets-message", Static)
        message.update(text)
        message.set_class(error, "error")

    # ------------------------------------------------------------- helpers
    def table(self) -> DataTable[Any]:
        return self.query_one("#objects-table" if self.in_bucket else "#buckets-table", DataTable)

    def focus_main(self) -> None:
        # Only the visible pane may take the focus, or keys typed on another tab land here.
        if getattr(self.app, "active_pane", lambda: self)() is self:
            self.table().focus()

    def cursor_key(self) -> str | None:
        table = self.table()
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def selected_bucket(self) -> Bucket | None:
        if self.in_bucket:
            return self.buckets.get(self.bucket or "")
        bucket = self.buckets.get(self.cursor_key() or "")
        if bucket is None:
            self.app.notify("Select a bucket first.", severity="warning")
        return bucket

    def selected_items(self) -> list[str]:
        """Marked rows, or the row under the cursor (folders end in `/`)."""
        if self.marked:
            return sorted(self.marked)
        key = self.cursor_key()
        return [key] if key else []

    def selected_blob(self) -> Blob | None:
        key = self.cursor_key()
        blob = self.objects.get(key or "")
        if blob is None:
            self.app.notify(
                "Select an object (not a folder) first." if key else "Select an object first.",
                severity="warning",
            )
        return blob

    def bucket_of_view(self) -> Bucket:
        assert self.bucket is not None
        known = self.buckets.get(self.bucket)
        return known or Bucket(self.bucket, "", "region", "STANDARD", True, "inherited")

    # ------------------------------------------------------------- filter
    def start_filter(self) -> None:
        box = self.query_one("#buckets-filter", Input)
        box.placeholder = (
            "names starting with… (a prefix; esc clears)"
            if self.in_bucket
            else "filter: words to match (esc clears)"
        )
        box.add_class("visible")
        box.value = self.prefix_filter if self.in_bucket else self.filter_text
        box.focus()

    def hide_filter(self) -> None:
        box = self.query_one("#buckets-filter", Input)
        box.remove_class("visible")
        with box.prevent(Input.Changed):
            box.value = ""
        self.filter_text = ""

    @on(Input.Changed, "#buckets-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if not self.in_bucket:
            self.filter_text = event.value.strip()
            self.render_buckets()
            return
        # A prefix filter is a new listing: wait for a pause in typing.
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(0.25, lambda: self._apply_prefix(event.value))

    def _apply_prefix(self, value: str) -> None:
        if value != self.prefix_filter and self.in_bucket:
            self.prefix_filter = value
            self.load_objects("first")

    @on(Input.Submitted, "#buckets-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if self.in_bucket:
            self._apply_prefix(event.value)
        self.focus_main()

    def key_escape(self) -> None:
        """Closes the filter; otherwise goes up, as in k9s."""
        box = self.query_one("#buckets-filter", Input)
        if not box.has_class("visible"):
            self.action_up()
            return
        if box.has_class("visible"):
            had_prefix = bool(self.prefix_filter)
            self.hide_filter()
            self.prefix_filter = ""
            if self.in_bucket:
                if had_prefix:
                    self.load_objects("first")
            else:
                self.render_buckets()
            self.focus_main()

    # ------------------------------------------------------------- navigation
    def action_cursor(self, step: int) -> None:
        table = self.table()
        table.action_cursor_down() if step > 0 else table.action_cursor_up()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        key = self.cursor_key()
        if key is None:
            return
        if not self.in_bucket:
            self.open_folder(key, "")
        elif self.objects.get(key) is None and key.endswith("/"):
            self.open_folder(self.bucket or "", key)
        else:
            self.action_details()

    def action_up(self) -> None:
        if not self.in_bucket:
            return
        if self.prefix:
            came_from = self.prefix
            self.open_folder(self.bucket or "", parent_prefix(self.prefix))
            self._select_after_load(came_from)
        else:
            came_from = self.bucket or ""
            self.show_buckets()
            self.select_key(came_from)

    @work(group="buckets-select", exit_on_error=False)
    async def _select_after_load(self, key: str) -> None:
        for _ in range(200):
            if self.objects_loaded:
                break
            await asyncio.sleep(0.02)
        self.select_key(key)

    def select_key(self, key: str) -> None:
        table = self.table()
        with contextlib.suppress(KeyError, RowDoesNotExist):
            table.move_cursor(row=table.get_row_index(key))

    def action_refresh(self) -> None:
        self.refresh_buckets()
        if self.in_bucket:
            self.load_objects("refresh")

    def action_toggle_mark(self) -> None:
        key = self.cursor_key()
        if key is None or not self.in_bucket:
            return
        table = self.table()
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        table.update_cell(key, "mark", MARK if key in self.marked else "")
        table.action_cursor_down()
        self.update_object_message()

    # ------------------------------------------------------------- details
    @work(group="buckets-details", exit_on_error=False, description="read details")
    async def action_details(self) -> None:
        service = await self.get_service()
        if not self.in_bucket:
            bucket = self.selected_bucket()
            if bucket is None:
                return
            fresh = await service.get_bucket(bucket.name)
            link = (
                console_url(self.connection.backend, f"storage/browser/{bucket.name}")
                if self.connection
                else None
            )
            self.app.push_screen(DetailsScreen(f"gs://{bucket.name}", bucket_details(fresh), link))
            return
        key = self.cursor_key()
        if key is None:
            return
        if self.objects.get(key) is None:
            self.app.notify(f"{key} is a folder: enter opens it.")
            return
        blob = await service.blob_details(self.bucket or "", key)
        link = (
            console_url(
                self.connection.backend, f"storage/browser/_details/{blob.bucket}/{blob.name}"
            )
            if self.connection
            else None
        )
        self.app.push_screen(
            DetailsScreen(f"gs://{blob.bucket}/{blob.name}", blob_details(blob), link)
        )

    # ------------------------------------------------------------- buckets
    def action_create(self) -> None:
        if self.connection is None or not self.writable("create a bucket"):
            return
        from tui.panes.bucket_forms import CreateBucketScreen

        zone = self.connection.backend.zone or ""
        self.app.push_screen(
            CreateBucketScreen(zone.rsplit("-", 1)[0] if zone else "us-central1"),
            self._create_submitted,
        )

    def _create_submitted(self, spec: object) -> None:
        if spec is not None:
            self.create_bucket(spec)

    @work(group="buckets-ops", exit_on_error=False, description="create the bucket")
    async def create_bucket(self, spec: Any) -> None:
        bar = self.query_one(OperationsBar)
        key = bar.start(f"create bucket {spec.name}")
        try:
            service = await self.get_service()
            made = await service.create_bucket(
                spec.name,
                spec.location,
                spec.storage_class,
                uniform_access=spec.uniform_access,
                public_access_prevention=spec.public_access_prevention,
            )
        except CloudpaneError as error:
            self.show_error(error)
            return
        finally:
            bar.finish(key)
        self.buckets[made.name] = made
        self.render_buckets()
        self.select_key(made.name)
        self.app.notify(
            f"gs://{made.name} created in {made.location} ({made.storage_class}).", title="Done"
        )
        self.refresh_buckets()

    def action_delete(self) -> None:
        if not self.writable("delete anything"):
            return
        if self.in_bucket:
            items = self.selected_items()
            if not items:
                self.app.notify("Select or mark (space) objects first.", severity="warning")
                return
            self.delete_objects(self.bucket or "", items)
            return
        bucket = self.selected_bucket()
        if bucket is not None:
            self.delete_bucket(bucket.name)

    @work(group="buckets-ops", exit_on_error=False, description="delete the bucket")
    async def delete_bucket(self, name: str) -> None:
        await bucket_flows.delete_bucket(self, name)

    # ------------------------------------------------------------- objects
    @work(group="buckets-ops", exit_on_error=False, description="delete objects")
    async def delete_objects(self, bucket: str, items: list[str]) -> None:
        await bucket_flows.delete_objects(self, bucket, items)

    # ------------------------------------------------------------- transfers
    def action_upload(self) -> None:
        if not self.writable("upload"):
            return
        if self.in_bucket:
            self.upload(self.bucket or "", self.prefix)
            return
        bucket = self.selected_bucket()
        if bucket is not None:
            self.upload(bucket.name, "")

    @work(group="buckets-transfer", exit_on_error=False, description="upload")
    async def upload(self, bucket: str, prefix: str) -> None:
        from tui.panes.bucket_transfers import ConflictScreen, UploadRequest, UploadScreen

        request = await self.app.push_screen_wait(UploadScreen(bucket, prefix))
        if not isinstance(request, UploadRequest):
            return
        from tui.panes.bucket_upload import run_upload_batch

        await run_upload_batch(self, bucket, request, ConflictScreen)
        if self.bucket == bucket:
            self.load_objects("refresh")

    @work(group="buckets-stop", exit_on_error=False, description="stop transfers")
    async def action_stop_transfers(self) -> None:
        """Stop every upload and download in flight, after saying what each leaves behind."""
        from tui.services.transfer_control import active_transfers
        from tui.widgets.confirm import ConfirmScreen

        records = active_transfers()
        if not records:
            self.app.notify("No upload or download is running.")
            return
        body = "\n\n".join(record.on_quit() for record in records)
        stop = await self.app.push_screen_wait(
            ConfirmScreen("Stop transfers", body, confirm_label="Stop", danger=False)
        )
        if not stop:
            return
        for record in records:
            if not record.finished.is_set():
                record.cancel()
        self.app.notify(
            "Stopping: each file in flight ends at its next read or write.", title="Stopping"
        )

    def action_download(self) -> None:
        if self.in_bucket:
            items = self.selected_items()
            if not items:
                self.app.notify("Select or mark (space) what to download.", severity="warning")
                return
            self.download(self.bucket or "", items)
            return
        bucket = self.selected_bucket()
        if bucket is not None:
            self.download(bucket.name, [""])

    @work(group="buckets-transfer", exit_on_error=False, description="download")
    async def download(self, bucket: str, items: list[str]) -> None:
        await bucket_flows.download(self, bucket, items)

    # ------------------------------------------------------------- sharing
    def action_permissions(self) -> None:
        if self.in_bucket:
            bucket = self.bucket_of_view()
            key = self.cursor_key()
            name = key if key and self.objects.get(key) is not None else None
        else:
            selected = self.selected_bucket()
            if selected is None:
                return
            bucket, name = selected, None
        from tui.panes.bucket_permissions import PermissionsScreen

        self.app.push_screen(
            PermissionsScreen(
                self.get_service,
                bucket,
                name,
                read_only=bool(getattr(self.app, "read_only", False)),
                changed=self._bucket_changed,
            )
        )

    @work(group="buckets-share", exit_on_error=False, description="make it public")
    async def action_make_public(self) -> None:
        if not self.writable("make anything public"):
            return
        if not self.in_bucket:
            bucket = self.selected_bucket()
            if bucket is not None:
                await self.sharing.make_bucket_public(bucket.name)
            return
        blob = self.selected_blob()
        if blob is not None:
            await self.sharing.make_object_public(blob.bucket, blob.name)

    @work(group="buckets-share", exit_on_error=False, description="make it private")
    async def action_make_private(self) -> None:
        if not self.writable("change permissions"):
            return
        if not self.in_bucket:
            bucket = self.selected_bucket()
            if bucket is not None:
                await self.sharing.make_bucket_private(bucket.name)
            return
        blob = self.selected_blob()
        if blob is not None:
            await self.sharing.make_object_private(blob.bucket, blob.name)

    @work(group="buckets-share", exit_on_error=False, description="copy the URL")
    async def action_copy_url(self) -> None:
        if not self.in_bucket:
            bucket = self.selected_bucket()
            if bucket is not None:
                copy_to_clipboard(self.app, f"gs://{bucket.name}")
                self.app.notify(f"Copied gs://{bucket.name}", title="Copied")
            return
        blob = self.selected_blob()
        if blob is not None:
            await self.sharing.copy_public_url(blob.bucket, blob.name)

    @work(group="buckets-share", exit_on_error=False, description="sign a URL")
    async def action_signed_url(self) -> None:
        blob = self.selected_blob() if self.in_bucket else None
        if blob is not None:
            await self.sharing.signed_url(blob.bucket, blob.name)
