"""Who can do what: a bucket's IAM policy and, with fine-grained access, an object's ACL.

Add a user or group with a role, remove one, make the object (or the whole bucket) public or
private again. Exposing changes go through `Sharing`, which says what becomes public first.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Select

from tui.panes.bucket_sharing import ServiceGetter, Sharing, show_error
from tui.panes.bucket_tables import sync_table
from tui.panes.vm_forms import DialogScreen
from tui.services.errors import CloudpaneError
from tui.services.storage_models import AclEntry, Bucket, IamBinding
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.literal import DataTable, Input, Label, Static

IAM_ROLES: list[tuple[str, str]] = [
    ("roles/storage.objectViewer", "Storage Object Viewer: list and read objects"),
    ("roles/storage.objectCreator", "Storage Object Creator: add objects (not read them)"),
    ("roles/storage.objectUser", "Storage Object User: read, add, change, delete objects"),
    ("roles/storage.objectAdmin", "Storage Object Admin: all of that, and object ACLs"),
    ("roles/storage.admin", "Storage Admin: everything, the bucket and its policy too"),
    ("roles/storage.legacyBucketReader", "Legacy Bucket Reader: list objects, read metadata"),
]
ACL_ROLES: list[tuple[str, str]] = [
    ("READER", "READER: can read this object"),
    ("OWNER", "OWNER: can read it and change its ACL"),
]
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

IAM_COLUMNS = (("role", "Role", 30), ("member", "Member", 40))
ACL_COLUMNS = (("entity", "Entity", 40), ("role", "Role", 8))


def member_cell(member: str) -> str | Text:
    return Text(member, style="bold red") if member in PUBLIC_MEMBERS else member


def iam_rows(policy: list[IamBinding]) -> dict[str, tuple[str | Text, ...]]:
    rows: dict[str, tuple[str | Text, ...]] = {}
    for binding in sorted(policy, key=lambda b: b.role):
        for member in binding.members:
            rows[f"{binding.role} {member}"] = (
                binding.role.removeprefix("roles/"),
                member_cell(member),
            )
    return rows


def acl_rows(acl: list[AclEntry]) -> dict[str, tuple[str | Text, ...]]:
    return {entry.entity: (member_cell(entry.entity), entry.role) for entry in acl}


def access_summary(bucket: Bucket) -> str:
    uniform = (
        "Uniform bucket-level access: on — permissions apply to the whole bucket."
        if bucket.uniform_access
        else "Fine-grained access: objects can have ACLs of their own."
    )
    prevention = (
        "Public access prevention: enforced — nothing can be made public."
        if bucket.public_access_prevention == "enforced"
        else "Public access prevention: not enforced."
    )
    return f"{uniform}\n{prevention}"


class AddMemberScreen(DialogScreen[tuple[str, str] | None]):
    """A principal and a role: for the bucket's IAM policy or for one object's ACL."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, where: str, *, acl: bool = False) -> None:
        super().__init__()
        self.where = where
        self.acl = acl

    def compose(self) -> ComposeResult:
        roles = ACL_ROLES if self.acl else IAM_ROLES
        with Vertical(classes="dialog form", id="add-member-dialog"):
            yield Label(f"Grant access to {self.where}", classes="dialog-title")
            yield Label(
                "Who: user:ana@example.com, group:team@example.com, "
                + ("domain:example.com" if self.acl else "serviceAccount:…, domain:…"),
                classes="field-label",
            )
            yield Input(placeholder="user:ana@example.com", id="member")
            yield Label("Role", classes="field-label")
            yield Select(
                [(text, role) for role, text in roles],
                id="role",
                value=roles[0][0],
                allow_blank=False,
            )
            yield Static("", id="form-error", classes="field-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Grant", id="grant", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#member", Input).focus()

    @on(Input.Submitted, "#member")
    @on(Button.Pressed, "#grant")
    def _grant(self) -> None:
        member = self.query_one("#member", Input).value.strip()
        role = self.query_one("#role", Select).value
        if not member:
            self.query_one("#form-error", Static).update("Type who gets access.")
            return
        if ":" not in member and member not in PUBLIC_MEMBERS:
            self.query_one("#form-error", Static).update(
                f"Say what {member!r} is: user:{member}, group:{member} or domain:{member}."
            )
            return
        self.dismiss((member, str(role)))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PermissionsScreen(DialogScreen[None]):
    """The bucket's IAM policy, and the selected object's ACL when objects have ACLs."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("a", "add", "Add"),
        Binding("ctrl+d,delete", "remove", "Remove"),
        Binding("m", "object_public", "Object public"),
        Binding("M", "object_private", "Object private"),
        Binding("b", "bucket_public", "Bucket public"),
        Binding("B", "bucket_private", "Bucket private"),
        Binding("r", "reload", "Refresh", show=False),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]
    MUTATING = frozenset(
        {"add", "remove", "object_public", "object_private", "bucket_public", "bucket_private"}
    )

    def __init__(
        self,
        get_service: ServiceGetter,
        bucket: Bucket,
        object_name: str | None = None,
        *,
        read_only: bool = False,
        changed: Any = None,
    ) -> None:
        super().__init__()
        self.get_service = get_service
        self.bucket = bucket
        self.object_name = object_name
        self.read_only = read_only
        self.sharing: Sharing | None = None
        self.changed = changed
        self.policy: list[IamBinding] = []
        self.acl: list[AclEntry] = []
        self.loaded = False

    @property
    def has_acl(self) -> bool:
        return self.object_name is not None and not self.bucket.uniform_access

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="permissions-dialog"):
            yield Label(f"Permissions — gs://{self.bucket.name}", classes="dialog-title")
            yield Static(access_summary(self.bucket), id="perm-flags", markup=False)
            yield Label("Bucket IAM policy", classes="field-label")
            iam: DataTable[str | Text] = DataTable(id="iam-table", cursor_type="row")
            for key, label, width in IAM_COLUMNS:
                iam.add_column(label, key=key, width=width)
            yield iam
            if self.object_name is not None:
                yield Label(f"ACL of {self.object_name}", classes="field-label")
                if self.has_acl:
                    acl: DataTable[str | Text] = DataTable(id="acl-table", cursor_type="row")
                    for key, label, width in ACL_COLUMNS:
                        acl.add_column(label, key=key, width=width)
                    yield acl
                else:
                    yield Static(
                        "No ACL of its own: under uniform bucket-level access only the bucket "
                        "policy above applies to it.",
                        id="acl-note",
                        classes="dialog-hint",
                    )
            yield Label(self.hint(), classes="dialog-hint", id="perm-hint")

    def hint(self) -> str:
        if self.read_only:
            return "read-only · tab switch table · esc close"
        parts = ["a add", "^d remove"]
        if self.object_name:
            parts += ["m/M object public/private"]
        parts += ["b/B bucket", "tab table", "esc"]
        return " · ".join(parts)

    def on_mount(self) -> None:
        self.sharing = Sharing(self.app, self.get_service, self._changed)
        self.query_one("#iam-table", DataTable).focus()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING and self.read_only:
            return False
        return not (action in ("object_public", "object_private") and self.object_name is None)

    def _changed(self, bucket: str) -> None:
        if self.changed is not None:
            self.changed(bucket)

    # --- data ------------------------------------------------------------------------------

    @work(exclusive=True, group="perm-load", exit_on_error=False, description="read permissions")
    async def reload(self) -> None:
        service = await self.get_service()
        try:
            self.bucket = await service.get_bucket(self.bucket.name)
            self.policy = await service.get_iam_policy(self.bucket.name)
            if self.has_acl and self.object_name is not None:
                self.acl = await service.get_object_acl(self.bucket.name, self.object_name)
        except CloudpaneError as error:
            show_error(self.app, error)
            return
        self.query_one("#perm-flags", Static).update(access_summary(self.bucket))
        sync_table(self.query_one("#iam-table", DataTable), IAM_COLUMNS, iam_rows(self.policy))
        if self.has_acl:
            sync_table(self.query_one("#acl-table", DataTable), ACL_COLUMNS, acl_rows(self.acl))
        self.loaded = True

    def action_reload(self) -> None:
        self.reload()

    def on_acl_table(self) -> bool:
        return self.has_acl and self.focused is not None and self.focused.id == "acl-table"

    def selected_key(self) -> str | None:
        table = self.query_one("#acl-table" if self.on_acl_table() else "#iam-table", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_cursor(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, DataTable):
            focused.action_cursor_down() if step > 0 else focused.action_cursor_up()

    # --- changes ---------------------------------------------------------------------------

    def action_add(self) -> None:
        self._add(self.on_acl_table())

    @work(group="perm-edit", exit_on_error=False, description="grant access")
    async def _add(self, acl: bool) -> None:
        bucket = self.bucket.name
        where = f"{bucket}/{self.object_name}" if acl else f"bucket {bucket}"
        answer = await self.app.push_screen_wait(AddMemberScreen(where, acl=acl))
        if answer is None:
            return
        member, role = answer
        assert self.sharing is not None
        if member in PUBLIC_MEMBERS:
            # Exposing: the flows that say what becomes public and ask first.
            if acl and self.object_name is not None:
                await self.sharing.make_object_public(bucket, self.object_name)
            else:
                await self.sharing.make_bucket_public(bucket)
            self.reload()
            return
        service = await self.get_service()
        try:
            if acl and self.object_name is not None:
                self.acl = await service.add_object_acl(bucket, self.object_name, member, role)
            else:
                self.policy = await service.add_iam_member(bucket, member, role)
        except CloudpaneError as error:
            show_error(self.app, error)
            return
        self.app.notify(f"{member} now has {role} on {where}.", title="Access granted")
        self._changed(bucket)
        self.reload()

    def action_remove(self) -> None:
        key = self.selected_key()
        if key is None:
            self.app.notify("Select a member first.", severity="warning")
            return
        self._remove(key, self.on_acl_table())

    @work(group="perm-edit", exit_on_error=False, description="remove access")
    async def _remove(self, key: str, acl: bool) -> None:
        bucket = self.bucket.name
        if acl:
            entity, role, where = key, "", f"{bucket}/{self.object_name}"
            body = f"Remove {entity} from the ACL of {where}?"
        else:
            role, _, entity = key.partition(" ")
            where = f"bucket {bucket}"
            body = f"Remove {entity} from {role} on {where}? They lose what this role gave them."
        if not await self.app.push_screen_wait(
            ConfirmScreen("Remove access", body, confirm_label="Remove")
        ):
            return
        service = await self.get_service()
        try:
            if acl and self.object_name is not None:
                await service.remove_object_acl(bucket, self.object_name, entity)
            else:
                await service.remove_iam_member(bucket, entity, role)
        except CloudpaneError as error:
            show_error(self.app, error)
            return
        self.app.notify(f"Removed {entity} from {where}.", title="Access removed")
        self._changed(bucket)
        self.reload()

    @work(group="perm-edit", exit_on_error=False, description="make the object public")
    async def action_object_public(self) -> None:
        if self.sharing and self.object_name:
            await self.sharing.make_object_public(self.bucket.name, self.object_name)
            self.reload()

    @work(group="perm-edit", exit_on_error=False, description="make the object private")
    async def action_object_private(self) -> None:
        if self.sharing and self.object_name:
            await self.sharing.make_object_private(self.bucket.name, self.object_name)
            self.reload()

    @work(group="perm-edit", exit_on_error=False, description="make the bucket public")
    async def action_bucket_public(self) -> None:
        if self.sharing:
            await self.sharing.make_bucket_public(self.bucket.name)
            self.reload()

    @work(group="perm-edit", exit_on_error=False, description="make the bucket private")
    async def action_bucket_private(self) -> None:
        if self.sharing:
            await self.sharing.make_bucket_private(self.bucket.name)
            self.reload()

    def action_close(self) -> None:
        self.dismiss(None)
