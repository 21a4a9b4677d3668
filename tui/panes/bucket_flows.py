"""The Buckets pane's longer flows: delete a bucket, delete objects, download.

Each runs inside one of the pane's workers, so it can wait for a dialog's answer; it asks
before anything is lost and reports what happened (and, for downloads, where the files went).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.format import bytes_human
from tui.panes.bucket_transfers import DownloadRequest, DownloadScreen, TransfersBar
from tui.services.errors import CloudpaneError
from tui.services.soft_delete import deleted_sentence
from tui.services.storage_models import BucketNotEmpty
from tui.widgets.confirm import ConfirmScreen
from tui.widgets.operations import OperationsBar

if TYPE_CHECKING:
    from tui.panes.buckets import BucketsPane
    from tui.services.storage import StorageService

DELETE_LIMIT = 100_000  # objects one folder deletion will gather before refusing


async def delete_bucket(pane: BucketsPane, name: str) -> None:
    service = await pane.get_service()
    count = await service.count_objects(name, limit=1000)
    shown = f"{count:,}" if count < 1000 else "at least 1,000"
    if count:
        body = (
            f"Bucket {name} is not empty: it holds {shown} object{'s' if count != 1 else ''}."
            f"\nDeleting the bucket deletes {'them' if count != 1 else 'it'} too.\n"
            + deleted_sentence(pane.buckets.get(name), None)
        )
        label = f"Delete bucket and {shown} object{'s' if count != 1 else ''}"
    else:
        body = f"Delete the empty bucket {name}? Its name becomes free for anyone to take."
        label = "Delete bucket"
    confirm = ConfirmScreen("Delete bucket", body, confirm_label=label, type_to_confirm=name)
    if not await pane.app.push_screen_wait(confirm):
        return
    bar = pane.query_one(OperationsBar)
    op = bar.start(f"delete bucket {name}")
    try:
        try:
            deleted = await service.delete_bucket(name, delete_objects=count > 0)
        except BucketNotEmpty as error:  # objects arrived after the question
            more = ConfirmScreen(
                "Bucket not empty",
                f"{error.message}\nDelete {error.count:,} objects and the bucket?",
                confirm_label=f"Delete {error.count:,} objects too",
            )
            if not await pane.app.push_screen_wait(more):
                return
            deleted = await service.delete_bucket(name, delete_objects=True)
    except CloudpaneError as error:
        pane.show_error(error)
        return
    finally:
        bar.finish(op)
    pane.buckets.pop(name, None)
    pane.render_buckets()
    also = f" and its {deleted:,} object{'s' if deleted != 1 else ''}" if deleted else ""
    pane.app.notify(f"Bucket {name}{also} deleted.", title="Deleted")
    pane.refresh_buckets()


async def delete_objects(pane: BucketsPane, bucket: str, items: list[str]) -> None:
    service = await pane.get_service()
    names: list[str] = []
    folders: dict[str, int] = {}
    sizes: dict[str, int] = {}  # what soft delete will keep billed
    for item in items:
        if item.endswith("/"):
            inside = await names_under(service, bucket, item, sizes)
            folders[item] = len(inside)
            names += inside
        else:
            names.append(item)
            blob = pane.objects.get(item)
            if blob is not None:
                sizes[item] = blob.size
    if not names:
        pane.app.notify("Nothing to delete: the folders are empty.", severity="warning")
        return
    listed = "\n".join(
        f"  {item}" + (f"  ({folders[item]:,} objects)" if item in folders else "")
        for item in items[:6]
    )
    more = f"\n  … and {len(items) - 6} more" if len(items) > 6 else ""
    count = len(names)
    body = (
        f"Delete {count:,} object{'s' if count != 1 else ''} from gs://{bucket}?\n"
        f"{listed}{more}\n" + deleted_sentence(pane.buckets.get(bucket), sum(sizes.values()))
    )
    confirm = ConfirmScreen("Delete objects", body, confirm_label=f"Delete {count:,}")
    if not await pane.app.push_screen_wait(confirm):
        return
    bar = pane.query_one(OperationsBar)
    op = bar.start(f"delete {count:,} objects in {bucket}")
    try:
        await service.delete_objects(bucket, names)
    except CloudpaneError as error:
        pane.show_error(error)
    else:
        pane.app.notify(
            f"Deleted {count:,} object{'s' if count != 1 else ''} from gs://{bucket}.",
            title="Deleted",
        )
    finally:
        bar.finish(op)
        pane.marked.clear()
        if pane.bucket == bucket:
            pane.load_objects("refresh")


async def names_under(
    service: StorageService, bucket: str, prefix: str, sizes: dict[str, int] | None = None
) -> list[str]:
    names: list[str] = []
    token: str | None = None
    while True:
        page = await service.list_page(bucket, prefix, "", token, 1000)
        names += [b.name for b in page.blobs]
        if sizes is not None:
            sizes.update((b.name, b.size) for b in page.blobs)
        token = page.next_token
        if token is None:
            return names
        if len(names) >= DELETE_LIMIT:
            raise CloudpaneError(
                f"{prefix} holds more than {DELETE_LIMIT:,} objects.",
                "Delete the bucket, or use an Object Lifecycle rule for so many objects.",
            )


async def download(pane: BucketsPane, bucket: str, items: list[str]) -> None:
    shown = [item or f"the whole bucket {bucket}" for item in items]
    request = await pane.app.push_screen_wait(DownloadScreen(bucket, shown, pane.download_dir))
    if not isinstance(request, DownloadRequest):
        return
    pane.download_dir = request.dest
    service = await pane.get_service()
    box = pane.query_one(TransfersBar).start("↓", f"gs://{bucket} → {request.dest}")
    try:
        result = await service.download(
            bucket,
            items,
            request.dest,
            on_exists=request.on_exists,
            progress=box.update_progress,
        )
    except CloudpaneError as error:
        pane.show_error(error)
        return
    finally:
        pane.query_one(TransfersBar).finish(box)
    count = len(result.downloaded)
    text = (
        f"{count} file{'s' if count != 1 else ''} ({bytes_human(result.bytes)}) saved in "
        f"{request.dest}"
    )
    if result.skipped:
        text += f" · {len(result.skipped)} skipped (already there)"
    if result.failed:
        first = next(iter(result.failed.items()))
        text += f" · {len(result.failed)} failed, e.g. {first[0]}: {first[1]}"
    pane.app.notify(
        text,
        title="Download finished" if result.ok else "Download incomplete",
        severity="information" if result.ok else "warning",
        timeout=15,
    )
    pane.set_message(f"Downloaded to {request.dest}")
    pane.marked.clear()
    if pane.in_bucket:
        pane.table().refresh()
        pane.load_objects("refresh")
