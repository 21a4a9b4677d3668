"""Making things public and private again, copying URLs, signing URLs — always asking first.

Each flow is a coroutine run inside a worker of the pane or of the permissions screen (so it
can wait for a dialog's answer), and reports its outcome itself: it says exactly what becomes
public and shows the URL; a refusal (uniform bucket-level access, public access prevention)
is explained, and under uniform access the bucket-level grant is offered instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tui.panes.bucket_forms import SignedUrlScreen, UrlScreen
from tui.services.audit import audit_path
from tui.services.errors import CloudpaneError
from tui.services.storage_models import CannotSign, PublicAccessPrevented, UniformAccessEnabled
from tui.widgets.clipboard import ClipboardTooLarge, copy_to_clipboard
from tui.widgets.confirm import ConfirmScreen

if TYPE_CHECKING:
    from tui.services.storage import StorageService

ServiceGetter = Callable[[], Awaitable["StorageService"]]


def show_error(app: Any, error: CloudpaneError) -> None:
    app.notify(
        f"{error.message}\n{error.hint}".strip(), title=error.title, severity="error", timeout=15
    )


def audit_note() -> str:
    """Exposure is recorded locally; say where, so the user can show it to whoever asks."""
    return f"\n\nThis is recorded in the audit log {audit_path()}."


class Sharing:
    """The exposing flows of the Buckets pane; `changed` is called after each change."""

    def __init__(
        self, app: Any, get_service: ServiceGetter, changed: Callable[[str], None] | None = None
    ) -> None:
        self.app = app
        self.get_service = get_service
        self.changed = changed or (lambda bucket: None)

    async def ask(self, screen: Any) -> Any:
        return await self.app.push_screen_wait(screen)

    # --- one object ------------------------------------------------------------------------

    async def make_object_public(self, bucket: str, name: str) -> bool:
        service = await self.get_service()
        flags = await service.get_bucket(bucket)
        if flags.public_access_prevention == "enforced":
            show_error(self.app, service.public_access_refusal(bucket))
            return False
        if flags.uniform_access:
            return await self.offer_bucket_grant(
                bucket, service.uniform_access_refusal(bucket, name), name
            )
        url = service.public_url(bucket, name)
        body = (
            f"Anyone on the internet, without signing in, will be able to read the object "
            f"gs://{bucket}/{name} at\n\n{url}\n\nNothing else in {bucket} becomes public. "
            "Downloads by others are billed to this project. M makes it private again."
            f"{audit_note()}"
        )
        if not await self.ask(
            ConfirmScreen("Make object public", body, confirm_label="Make public")
        ):
            return False
        try:
            url = await service.make_public(bucket, name)
        except UniformAccessEnabled as error:  # switched to uniform meanwhile
            return await self.offer_bucket_grant(bucket, error, name)
        except PublicAccessPrevented as error:
            show_error(self.app, error)
            return False
        self.changed(bucket)
        await self.ask(
            UrlScreen(
                f"gs://{bucket}/{name} is public",
                url,
                "Anyone with this URL can read this object (and only this one).",
            )
        )
        return True

    async def make_object_private(self, bucket: str, name: str) -> bool:
        service = await self.get_service()
        try:
            await service.make_private(bucket, name)
        except UniformAccessEnabled as error:
            show_error(self.app, error)
            return False
        self.changed(bucket)
        self.app.notify(f"gs://{bucket}/{name} is private again.", title="Private")
        return True

    # --- the whole bucket ------------------------------------------------------------------

    async def offer_bucket_grant(
        self, bucket: str, refusal: CloudpaneError, name: str | None = None
    ) -> bool:
        """Under uniform access: say why the object alone cannot be public, offer the bucket."""
        service = await self.get_service()
        statement = await service.describe_bucket_exposure(bucket)
        body = (
            f"{refusal.message}\n\nInstead, the whole bucket can be made public "
            f"(allUsers → Storage Object Viewer). What becomes public:\n{statement}"
            f"{audit_note()}"
        )
        confirmed = await self.ask(
            ConfirmScreen(
                "Make the whole bucket public?",
                body,
                confirm_label="Make bucket public",
                type_to_confirm=bucket,
            )
        )
        if not confirmed:
            self.app.notify(f"Nothing changed: {bucket} stays as it was.")
            return False
        return await self._grant_bucket(bucket, statement, name)

    async def make_bucket_public(self, bucket: str) -> bool:
        service = await self.get_service()
        flags = await service.get_bucket(bucket)
        if flags.public_access_prevention == "enforced":
            show_error(self.app, service.public_access_refusal(bucket))
            return False
        statement = await service.describe_bucket_exposure(bucket)
        confirmed = await self.ask(
            ConfirmScreen(
                "Make bucket public",
                f"Grant allUsers → Storage Object Viewer on {bucket}.\n\n{statement}{audit_note()}",
                confirm_label="Make bucket public",
                type_to_confirm=bucket,
            )
        )
        if not confirmed:
            return False
        return await self._grant_bucket(bucket, statement, None)

    async def _grant_bucket(self, bucket: str, statement: str, name: str | None) -> bool:
        service = await self.get_service()
        try:
            await service.make_bucket_public(bucket)
        except PublicAccessPrevented as error:
            show_error(self.app, error)
            return False
        self.changed(bucket)
        url = service.public_url(bucket, name) if name else service.public_url(bucket, "OBJECT")
        await self.ask(UrlScreen(f"Bucket {bucket} is public", url, statement))
        return True

    async def make_bucket_private(self, bucket: str) -> bool:
        confirmed = await self.ask(
            ConfirmScreen(
                "Make bucket private",
                f"Remove allUsers and allAuthenticatedUsers from every role on {bucket}? "
                "Public links to its objects stop working; named users keep their access.",
                confirm_label="Make private",
                danger=False,
            )
        )
        if not confirmed:
            return False
        service = await self.get_service()
        await service.make_bucket_private(bucket)
        self.changed(bucket)
        self.app.notify(f"Bucket {bucket} is no longer public.", title="Private")
        return True

    # --- URLs ------------------------------------------------------------------------------

    async def copy_public_url(self, bucket: str, name: str) -> bool:
        service = await self.get_service()
        details = await service.blob_details(bucket, name)
        if details.public_url is None:
            self.app.notify(
                f"gs://{bucket}/{name} is not public: its URL would answer 403. "
                "m makes it public; g makes a signed URL that expires.",
                severity="warning",
            )
            return False
        try:
            sent = copy_to_clipboard(self.app, details.public_url)
        except ClipboardTooLarge as exc:
            self.app.notify(str(exc), severity="warning")
            return False
        where = "Copied" if sent else "Copied (cloudpane's own clipboard)"
        self.app.notify(f"{where}: {details.public_url}", title="Public URL")
        return True

    async def signed_url(self, bucket: str, name: str) -> bool:
        expiry = await self.ask(SignedUrlScreen(bucket, name))
        if expiry is None:
            return False
        service = await self.get_service()
        try:
            url = await service.signed_url(bucket, name, expiry)
        except CannotSign as error:
            show_error(self.app, error)
            return False
        await self.ask(
            UrlScreen(
                f"Signed URL, valid for {expiry}",
                url,
                f"Anyone with this URL can read gs://{bucket}/{name} until it expires.",
            )
        )
        return True
