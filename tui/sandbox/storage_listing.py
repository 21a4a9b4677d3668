"""Object listing with Google's semantics: prefix, delimiter, maxResults/pageToken, offsets."""

from __future__ import annotations

import base64
from typing import Any

from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError
from tui.sandbox.storage_state import OBJECT, get_bucket, object_key

_AFTER_ALL = "\U0010ffff"


# Tokens carry this tag, so a token the sandbox never handed out is Google's 400, not a name
# to start after (and a cursor with a lone surrogate never reaches SQLite).
_TOKEN_TAG = "gcs1:"


def encode_token(cursor: str) -> str:
    raw = (_TOKEN_TAG + cursor).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str) -> str:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid page token.", "invalid") from exc
    if not text.startswith(_TOKEN_TAG):
        raise ApiError(400, "Invalid page token.", "invalid")
    return text[len(_TOKEN_TAG) :]


def list_objects(
    ctx: SandboxContext,
    bucket: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    max_results: int = 1000,
    page_token: str = "",
    start_offset: str = "",
    end_offset: str = "",
    include_trailing_delimiter: bool = False,
) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """One page: (object docs, prefixes, next page token). Prefixes count toward max_results.

    A folder is skipped in one step (the next query starts after everything under it), so a
    page costs a few indexed SQLite range scans whatever the bucket's size.
    """
    get_bucket(ctx, bucket)
    max_results = max(1, min(max_results, 1000))
    key_prefix = object_key(bucket, prefix)
    cursor = decode_token(page_token) if page_token else ""
    after = object_key(bucket, cursor) if cursor else ""
    if start_offset and (not cursor or cursor < start_offset):
        # startOffset is inclusive: start just after the largest name below it.
        last = ord(start_offset[-1])
        after = object_key(bucket, start_offset[:-1])
        if last > 0:
            after += chr(last - 1) + _AFTER_ALL
    items: list[dict[str, Any]] = []
    prefixes: list[str] = []
    strip = len(bucket) + 1
    drained = False  # no rows left after `after`
    ended = False  # reached endOffset
    folder = None
    step = max_results + 1
    while len(items) + len(prefixes) < max_results and not (drained or ended):
        # After a folder jump the next row is often another folder: read a few rows, and more
        # (doubling) while rows are objects, rather than decoding a full page per folder.
        limit = min(max_results - len(items) - len(prefixes) + 1, step)
        batch = ctx.store.list(OBJECT, prefix=key_prefix, start_after=after, limit=limit)
        drained = len(batch) < limit
        step *= 2
        for key, doc in batch:
            name = key[strip:]
            if end_offset and name >= end_offset:
                ended = True
                break
            if folder is not None and name.startswith(folder):
                continue
            rest = name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut >= 0:
                folder = prefix + rest[: cut + len(delimiter)]
                prefixes.append(folder)
                if include_trailing_delimiter and name == folder:
                    items.append(doc)
                after = object_key(bucket, folder) + _AFTER_ALL
                step = 8
            else:
                items.append(doc)
                after = key
            if len(items) + len(prefixes) >= max_results:
                drained = False  # rows may remain after this one
                break
    next_token = None
    if not ended:
        more = ctx.store.list(OBJECT, prefix=key_prefix, start_after=after, limit=1)
        if more and not (end_offset and more[0][0][strip:] >= end_offset):
            next_token = encode_token(after[strip:])
    return items, prefixes, next_token
