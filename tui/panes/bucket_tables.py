"""What the Buckets pane's tables show: columns, cells, and a diffing update of a DataTable.

Pure apart from `sync_table`, which only touches the DataTable it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text

from tui.format import bytes_human
from tui.services.storage_models import NOT_PUBLIC, PUBLIC, SUBJECT_TO_ACLS, Blob, Bucket
from tui.widgets.literal import DataTable

Cell = str | Text

BUCKET_COLUMNS = (
    ("name", "Name", 22),
    ("location", "Location", 12),
    ("class", "Class", 8),
    ("uniform", "Uniform", 7),
    ("public", "Public", 10),
    ("prevention", "Prevention", 10),
)

OBJECT_COLUMNS = (
    ("mark", "", 1),
    ("name", "Name", 34),
    ("size", "Size", 9),
    ("updated", "Updated", 16),
    ("class", "Class", 8),
)

PUBLIC_TEXT = {
    NOT_PUBLIC: Text("no", style="green"),
    SUBJECT_TO_ACLS: Text("per object", style="yellow"),
    PUBLIC: Text("PUBLIC", style="bold red"),
}

MARK = "✓"


def public_cell(bucket: Bucket) -> Text:
    return PUBLIC_TEXT.get(bucket.public, Text(bucket.public or "?", style="dim"))


def bucket_row(bucket: Bucket) -> tuple[Cell, ...]:
    """The cells of one bucket, in BUCKET_COLUMNS order."""
    prevention = (
        Text("enforced", style="green")
        if bucket.public_access_prevention == "enforced"
        else Text("inherited", style="dim")
    )
    return (
        bucket.name,
        bucket.location,
        bucket.storage_class,
        "on" if bucket.uniform_access else Text("off", style="yellow"),
        public_cell(bucket),
        prevention,
    )


def bucket_matches(bucket: Bucket, needle: str) -> bool:
    if not needle:
        return True
    haystack = " ".join((bucket.name, bucket.location, bucket.storage_class, bucket.public)).lower()
    return all(word in haystack for word in needle.lower().split())


def updated_text(when: datetime | None) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M") if when else ""


def folder_key(prefix: str) -> str:
    """Row key of a folder: its full prefix, ending in `/` (no object name can be both)."""
    return prefix if prefix.endswith("/") else prefix + "/"


def folder_row(prefix: str, shown_under: str, marked: bool) -> tuple[Cell, ...]:
    name = prefix[len(shown_under) :] if prefix.startswith(shown_under) else prefix
    return (
        MARK if marked else "",
        Text(f"▸ {name}", style="bold"),
        "",
        "",
        "",
    )


def blob_row(blob: Blob, shown_under: str, marked: bool) -> tuple[Cell, ...]:
    name = blob.name[len(shown_under) :] if blob.name.startswith(shown_under) else blob.name
    return (
        MARK if marked else "",
        name,
        bytes_human(blob.size),
        updated_text(blob.updated),
        blob.storage_class,
    )


def parent_prefix(prefix: str) -> str:
    """`a/b/c/` → `a/b/`; `a/` → ``."""
    trimmed = prefix.rstrip("/")
    head, slash, _ = trimmed.rpartition("/")
    return f"{head}/" if slash else ""


def breadcrumb(bucket: str, prefix: str) -> str:
    """`gs://bucket › a › b ›` — where the person is."""
    parts = [f"gs://{bucket}", *[p for p in prefix.split("/") if p]]
    return " › ".join(parts) + (" ›" if prefix else "")


def _differs(value: Any, before: Any) -> bool:
    if str(value) != str(before):
        return True
    return isinstance(value, Text) and isinstance(before, Text) and value.style != before.style


def sync_table(
    table: DataTable[Any],
    columns: Sequence[tuple[str, str, int]],
    rows: Mapping[str, Sequence[Cell]],
) -> bool:
    """Bring `table` in line with `rows` (key → cells) by diff. True when rows were added.

    Rows that are gone are removed, changed cells updated in place, new rows appended (the
    caller sorts if it wants them elsewhere); the cursor stays where it was.
    """
    current = {row.key.value or "" for row in table.ordered_rows}
    for key in current - rows.keys():
        table.remove_row(key)
    added = False
    for key, cells in rows.items():
        if key in current:
            old = table.get_row(key)
            for (column, _, _), value, before in zip(columns, cells, old, strict=False):
                if _differs(value, before):
                    table.update_cell(key, column, value)
        else:
            table.add_row(*cells, key=key)
            added = True
    return added


def object_sort_key(name: Cell) -> tuple[bool, str]:
    """Folders (shown as `▸ name/`) first, then objects, each by name."""
    text = str(name)
    return (not text.startswith("▸ "), text.removeprefix("▸ "))


def bucket_details(bucket: Bucket) -> dict[str, Any]:
    from tui.panes.bucket_forms import price_text
    from tui.services.soft_delete import bucket_cost_note
    from tui.services.storage import price_per_gb_month

    try:
        price = f"{price_text(price_per_gb_month(bucket.storage_class, bucket.location))} per GB"
    except KeyError:
        price = "unknown"
    return {
        "name": bucket.name,
        "location": f"{bucket.location} ({bucket.location_type})",
        "storageClass": bucket.storage_class,
        "pricePerGbMonth": price,
        "softDeleteRetention": bucket_cost_note(bucket),
        "uniformBucketLevelAccess": bucket.uniform_access,
        "publicAccessPrevention": bucket.public_access_prevention,
        "public": bucket.public,
        "created": bucket.created.isoformat() if bucket.created else None,
        "labels": dict(bucket.labels),
    }


def blob_details(blob: Blob) -> dict[str, Any]:
    return {
        "name": blob.name,
        "bucket": blob.bucket,
        "size": f"{blob.size:,} bytes ({bytes_human(blob.size)})",
        "contentType": blob.content_type,
        "md5Hash": blob.md5,
        "crc32c": blob.crc32c,
        "generation": blob.generation,
        "metageneration": blob.metageneration,
        "updated": blob.updated.isoformat() if blob.updated else None,
        "created": blob.created.isoformat() if blob.created else None,
        "storageClass": blob.storage_class,
        "publicUrl": blob.public_url or "not public",
        "metadata": dict(blob.metadata),
    }
