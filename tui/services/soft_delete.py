"""What Cloud Storage's soft delete costs: the sentences delete and overwrite dialogs show.

Soft delete is on by default for every bucket with a 7-day retention
(https://cloud.google.com/storage/docs/soft-delete): a deleted or overwritten object is kept,
restorable and billed as storage at the bucket's storage class, for the bucket's retention
(`softDeletePolicy.retentionDurationSeconds`; 0 turns it off). Deleting data therefore does not
stop its bill at once — the dialogs say so, with the figure. Pure: no I/O.
"""

from __future__ import annotations

from tui.services.storage_models import Bucket

DEFAULT_RETENTION_S = 7 * 86400  # Google's default for buckets that do not say otherwise
HOURS_PER_MONTH = 730.0
GB = 1024**3


def retention_s(bucket: Bucket | None) -> int:
    """The bucket's soft-delete retention; Google's default when the bucket is unknown."""
    if bucket is None or bucket.soft_delete_s is None:
        return DEFAULT_RETENTION_S
    return bucket.soft_delete_s


def duration_text(seconds: int) -> str:
    """604800 → "7 days"; 90000 → "25 hours"."""
    days, rest = divmod(seconds, 86400)
    if rest == 0:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = round(seconds / 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def retained_cost(size_bytes: int, seconds: int, price_per_gb_month: float) -> float:
    """What `size_bytes` cost while soft-deleted for `seconds`."""
    return size_bytes / GB * price_per_gb_month * seconds / 3600 / HOURS_PER_MONTH


def _price(bucket: Bucket | None) -> float | None:
    if bucket is None:
        return None
    from tui.services.storage import price_per_gb_month

    try:
        return price_per_gb_month(bucket.storage_class, bucket.location)
    except KeyError:
        return None


def deleted_sentence(
    bucket: Bucket | None, size_bytes: int | None, *, overwritten: bool = False
) -> str:
    """What happens to the bill after a delete (or an overwrite) in this bucket."""
    seconds = retention_s(bucket)
    what = "The overwritten versions" if overwritten else "Deleted objects"
    if seconds == 0:
        return (
            f"Soft delete is off for this bucket: {what.lower()} are gone at once and stop costing."
        )
    text = (
        f"Soft delete: {what.lower()} stay restorable — and billed as storage — for "
        f"{duration_text(seconds)} (this bucket's retention), then they are gone."
    )
    price = _price(bucket)
    if size_bytes and price is not None:
        cost = retained_cost(size_bytes, seconds, price)
        text += f" For these {_size(size_bytes)}: about ${cost:,.2f}."
    return text


def bucket_cost_note(bucket: Bucket) -> str:
    """For a bucket's details: what deleting or overwriting still costs here."""
    seconds = retention_s(bucket)
    if seconds == 0:
        return "off: deleted and overwritten objects stop costing at once"
    return (
        f"{duration_text(seconds)}: deleted and overwritten objects stay billed for "
        f"{duration_text(seconds)}"
    )


def _size(size_bytes: int) -> str:
    from tui.format import bytes_human

    return bytes_human(size_bytes)
