"""One upload batch from the Buckets pane: send, ask once about conflicts, send those, report.

Objects that already exist are never overwritten silently: the batch first uploads with
`on_exists="error"`, so everything new lands at once; if some names were taken, the person is
asked once for the whole batch (skip, keep both, overwrite) and only those files go again.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.format import bytes_human
from tui.panes.bucket_transfers import Choice, TransfersBar, UploadRequest
from tui.services.errors import CloudpaneError
from tui.services.transfer import plan_upload

if TYPE_CHECKING:
    from tui.panes.buckets import BucketsPane


def group_by_folder(names: list[str], local: dict[str, Path]) -> dict[str, list[Path]]:
    """Object names → {destination folder: local files}, to upload each file to its name."""
    groups: dict[str, list[Path]] = {}
    for name in names:
        folder = name.rpartition("/")[0]
        groups.setdefault(f"{folder}/" if folder else "", []).append(local[name])
    return groups


def upload_summary(
    where: str,
    uploaded: list[str],
    nbytes: int,
    skipped: list[str],
    renamed: dict[str, str],
    failed: dict[str, str],
) -> str:
    count = len(uploaded)
    text = f"{count} file{'s' if count != 1 else ''} ({bytes_human(nbytes)}) uploaded to {where}"
    if renamed:
        first = next(iter(renamed.items()))
        text += f" · {len(renamed)} renamed ({first[0]} → {first[1]})"
    if skipped:
        text += f" · {len(skipped)} skipped (already there)"
    if failed:
        first = next(iter(failed.items()))
        text += f" · {len(failed)} failed, e.g. {first[0]}: {first[1]}"
    return text


async def run_upload_batch(
    pane: BucketsPane, bucket: str, request: UploadRequest, conflict_screen: Any
) -> None:
    service = await pane.get_service()
    bar = pane.query_one(TransfersBar)
    where = f"gs://{bucket}/{request.dest_prefix}"
    box = bar.start("↑", where)
    try:
        result = await service.upload(
            bucket,
            list(request.paths),
            request.dest_prefix,
            on_exists="error",
            progress=box.update_progress,
        )
    except CloudpaneError as error:
        pane.show_error(error)
        return
    finally:
        bar.finish(box)
    conflicts = list(result.conflicts)
    failed = {n: m for n, m in result.failed.items() if n not in conflicts}
    uploaded = list(result.uploaded)
    skipped: list[str] = []
    renamed: dict[str, str] = {}
    nbytes = result.bytes
    if conflicts:
        from tui.services.soft_delete import deleted_sentence

        overwritten = deleted_sentence(pane.buckets.get(bucket), None, overwritten=True)
        choice: Choice | None = await pane.app.push_screen_wait(
            conflict_screen(where, conflicts, overwritten)
        )
        if choice is None:
            skipped += conflicts
        else:
            jobs = await asyncio.to_thread(plan_upload, list(request.paths), request.dest_prefix)
            local = {job.name: job.local for job in jobs}
            box = bar.start("↑", f"{where} ({choice})")
            try:
                for folder, paths in group_by_folder(conflicts, local).items():
                    again = await service.upload(
                        bucket, paths, folder, on_exists=choice, progress=box.update_progress
                    )
                    uploaded += again.uploaded
                    skipped += again.skipped
                    renamed.update(again.renamed)
                    failed.update(again.failed)
                    nbytes += again.bytes
            except CloudpaneError as error:
                pane.show_error(error)
            finally:
                bar.finish(box)
    pane.app.notify(
        upload_summary(where, uploaded, nbytes, skipped, renamed, failed),
        title="Upload finished" if not failed else "Upload incomplete",
        severity="warning" if failed else "information",
        timeout=15,
    )
