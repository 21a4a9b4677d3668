"""The sandbox's Cloud Logging v2: `entries:list` (and `entries:write`) over an SQLite table.

Every line a sandbox job prints becomes a log entry with Google's resource labels
(`resource.type="ml_job"`, `resource.labels.job_id`, `task_name`), readable with the filter
language subset of `logging_filter`. Entries live in their own SQLite file (`logs.sqlite3` in
the data directory), one row each, indexed by (resource id, timestamp, insertId) so that reading
one job's lines after a cursor stays fast with millions of rows.

Writers (the job runner, other API modules) call `log_store(ctx).append(entry)`: appends are
buffered in memory and written in one transaction by a background flusher; every read flushes
first, so an entry is visible to `entries:list` as soon as it was appended.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError
from tui.sandbox.logging_filter import (
    ID_LABELS,
    SEVERITIES,
    SEVERITY_NAMES,
    FilterError,
    compile_filter,
    format_timestamp,
    parse_timestamp_ns,
)

SCHEMA = """
-- One row per (project, log, resource): a job replica's stream, a VM's serial port...
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    log_name TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_labels TEXT NOT NULL,  -- JSON
    UNIQUE (project, log_name, resource_type, resource_labels)
);
-- The label a resource is read by ("job_id=123"), as a small integer for the index.
CREATE TABLE IF NOT EXISTS log_resources (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS log_entries (
    seq INTEGER PRIMARY KEY,
    stream INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    ts INTEGER NOT NULL,            -- nanoseconds since the epoch
    insert_id TEXT NOT NULL,
    severity INTEGER NOT NULL,
    labels TEXT,                    -- JSON or NULL
    text_payload TEXT,
    json_payload TEXT               -- JSON or NULL
);
CREATE INDEX IF NOT EXISTS log_by_resource_time ON log_entries(rid, ts, insert_id);
CREATE INDEX IF NOT EXISTS log_by_time ON log_entries(ts, insert_id);
"""

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TEXT = 256 * 1024  # Google's limit on one entry
FLUSH_INTERVAL = 0.25
_INSERT = (
    "INSERT INTO log_entries(stream, rid, ts, insert_id, severity, labels, text_payload, "
    "json_payload) VALUES (?,?,?,?,?,?,?,?)"
)
_SELECT = (
    "SELECT s.project, e.ts, e.insert_id, s.log_name, s.resource_type, s.resource_labels, "
    "e.severity, e.labels, e.text_payload, e.json_payload "
    "FROM log_entries e CROSS JOIN log_streams s ON s.id = e.stream"  # entries drive the loop
)


@dataclass(frozen=True)
class Row:
    project: str
    ts: int
    insert_id: str
    log_name: str
    resource_type: str
    resource_labels: str
    severity: int
    labels: str | None
    text_payload: str | None
    json_payload: str | None


class LogStore:
    """Log entries in SQLite with a write buffer; safe to use from several threads.

    Entries are small rows (time, insertId, severity, text) pointing at their stream (project,
    log name, resource) and at the integer id of the label they are read by, so a million
    lines take little space and one job's lines are one index range.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._pending: list[tuple[Any, ...]] = []
        self._streams: dict[tuple[str, str, str, str], int] = {}
        self._resources: dict[str, int] = {}
        self._last_ts = 0
        self._counter = 0
        row = self._db.execute("SELECT MAX(ts), MAX(seq) FROM log_entries").fetchone()
        if row and row[0]:
            self._last_ts, self._counter = int(row[0]), int(row[1])

    # --- writing ---------------------------------------------------------------------------

    def next_timestamp(self) -> int:
        """Now in ns, whole microseconds, strictly increasing: (timestamp, insertId) is a total
        order in which an entry appended later never sorts before one already readable."""
        with self._lock:
            now = time.time_ns() // 1000 * 1000
            self._last_ts = max(now, self._last_ts + 1000)
            return self._last_ts

    def _stream_id(self, key: tuple[str, str, str, str]) -> int:
        found = self._streams.get(key)
        if found is None:
            self._db.execute(
                "INSERT OR IGNORE INTO log_streams(project, log_name, resource_type, "
                "resource_labels) VALUES (?,?,?,?)",
                key,
            )
            found = self._db.execute(
                "SELECT id FROM log_streams WHERE project=? AND log_name=? AND resource_type=? "
                "AND resource_labels=?",
                key,
            ).fetchone()[0]
            self._streams[key] = found
        return found

    def _resource_id(self, key: str) -> int:
        found = self._resources.get(key)
        if found is None:
            self._db.execute("INSERT OR IGNORE INTO log_resources(key) VALUES (?)", (key,))
            found = self._db.execute("SELECT id FROM log_resources WHERE key=?", (key,)).fetchone()[
                0
            ]
            self._resources[key] = found
        return found

    def append(
        self,
        *,
        project: str,
        log_id: str,
        resource_type: str,
        resource_labels: dict[str, str],
        severity: str | int = "DEFAULT",
        text: str | None = None,
        json_payload: dict[str, Any] | None = None,
        labels: dict[str, str] | None = None,
        timestamp_ns: int | None = None,
        insert_id: str | None = None,
    ) -> None:
        sev = severity if isinstance(severity, int) else SEVERITIES.get(severity.upper(), 0)
        id_label = ID_LABELS.get(resource_type)
        resource_key = f"{id_label}={resource_labels.get(id_label, '')}" if id_label else ""
        labels_json = json.dumps(resource_labels, separators=(",", ":"), sort_keys=True)
        with self._lock:
            stream = self._stream_id(
                (project, f"projects/{project}/logs/{log_id}", resource_type, labels_json)
            )
            rid = self._resource_id(resource_key)
            ts = timestamp_ns if timestamp_ns is not None else self.next_timestamp()
            self._counter += 1
            self._pending.append(
                (
                    stream,
                    rid,
                    ts,
                    insert_id or f"{self._counter:016x}",
                    sev,
                    json.dumps(labels, separators=(",", ":")) if labels else None,
                    text[:MAX_TEXT] if text is not None else None,
                    json.dumps(json_payload) if json_payload is not None else None,
                )
            )
            if len(self._pending) >= 5000:
                self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, []
            self._db.execute("BEGIN")
            self._db.executemany(_INSERT, pending)
            self._db.execute("COMMIT")

    # --- reading ---------------------------------------------------------------------------

    def query(
        self,
        project: str,
        where: str,
        params: list[Any],
        *,
        descending: bool = False,
        after: tuple[int, str] | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[Row]:
        sql = f"{_SELECT} WHERE s.project = ? AND ({where})"
        args: list[Any] = [project, *params]
        if after is not None:
            cmp = "<" if descending else ">"
            sql += f" AND (e.ts {cmp} ? OR (e.ts = ? AND e.insert_id {cmp} ?))"
            args += [after[0], after[0], after[1]]
        direction = "DESC" if descending else "ASC"
        sql += f" ORDER BY e.ts {direction}, e.insert_id {direction} LIMIT ?"
        args.append(limit)
        with self._lock:
            self.flush()
            rows = self._db.execute(sql, args).fetchall()
        return [Row(*r) for r in rows]

    def tail_text(self, resource_key: str, lines: int) -> list[str]:
        """The last `lines` text payloads of one resource ("job_id=7"), oldest first."""
        with self._lock:
            self.flush()
            rows = self._db.execute(
                "SELECT text_payload FROM log_entries "
                "WHERE rid = (SELECT id FROM log_resources WHERE key = ?) "
                "ORDER BY ts DESC, insert_id DESC LIMIT ?",
                (resource_key, lines),
            ).fetchall()
        return [r[0] or "" for r in reversed(rows)]

    def count(self) -> int:
        with self._lock:
            self.flush()
            return int(self._db.execute("SELECT COUNT(*) FROM log_entries").fetchone()[0])

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._db.execute("DELETE FROM log_entries")
            self._db.execute("DELETE FROM log_streams")
            self._db.execute("DELETE FROM log_resources")
            self._streams.clear()
            self._resources.clear()

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._db.close()


def entry_json(row: Row) -> dict[str, Any]:
    """A stored row → Google's LogEntry JSON."""
    stamp = format_timestamp(row.ts)
    entry: dict[str, Any] = {
        "logName": row.log_name,
        "resource": {"type": row.resource_type, "labels": json.loads(row.resource_labels)},
        "timestamp": stamp,
        "receiveTimestamp": stamp,
        "severity": SEVERITY_NAMES.get(row.severity, "DEFAULT"),
        "insertId": row.insert_id,
    }
    if row.labels:
        entry["labels"] = json.loads(row.labels)
    if row.json_payload is not None:
        entry["jsonPayload"] = json.loads(row.json_payload)
    elif row.text_payload is not None:
        entry["textPayload"] = row.text_payload
    return entry


# --- the store of a sandbox ------------------------------------------------------------------

_STORES: dict[Path, LogStore] = {}
_STORES_LOCK = threading.Lock()
_FLUSHERS: dict[Path, asyncio.Task[None]] = {}


def log_store(ctx: SandboxContext) -> LogStore:
    """The log store of this sandbox (one per data directory)."""
    with _STORES_LOCK:
        store = _STORES.get(ctx.data_dir)
        if store is None:
            store = _STORES[ctx.data_dir] = LogStore(ctx.data_dir / "logs.sqlite3")
        return store


async def _flush_loop(store: LogStore) -> None:
    while True:
        await asyncio.sleep(FLUSH_INTERVAL)
        with contextlib.suppress(sqlite3.Error):  # a full disk must not kill the daemon
            store.flush()


async def startup(ctx: SandboxContext) -> None:
    store = log_store(ctx)
    _FLUSHERS[ctx.data_dir] = asyncio.create_task(_flush_loop(store), name="log flusher")


async def shutdown(ctx: SandboxContext) -> None:
    task = _FLUSHERS.pop(ctx.data_dir, None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with _STORES_LOCK:
        store = _STORES.pop(ctx.data_dir, None)
    if store is not None:
        store.close()


def reset(ctx: SandboxContext) -> None:
    log_store(ctx).clear()


# --- routes ----------------------------------------------------------------------------------


def _page_token(after: tuple[int, str], fingerprint: str) -> str:
    raw = json.dumps([after[0], after[1], fingerprint]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _read_page_token(token: str, fingerprint: str) -> tuple[int, str]:
    try:
        ts, insert_id, seen = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        raise ApiError(400, "Invalid pageToken.") from None
    if seen != fingerprint:
        raise ApiError(400, "The pageToken does not belong to this filter and order.")
    return int(ts), str(insert_id)


def _projects(resource_names: Any, ctx: SandboxContext) -> list[str]:
    if not resource_names or not isinstance(resource_names, list):
        raise ApiError(400, 'resourceNames is required, e.g. ["projects/PROJECT_ID"].')
    projects = []
    for name in resource_names:
        if not isinstance(name, str) or not name.startswith("projects/"):
            raise ApiError(400, f"Unsupported resource name {name!r}: use projects/PROJECT_ID.")
        projects.append(name.removeprefix("projects/"))
    return projects


def list_entries(ctx: SandboxContext, body: dict[str, Any]) -> dict[str, Any]:
    """The work of `entries:list` (runs in a thread: a scan must not block the event loop)."""
    projects = _projects(body.get("resourceNames") or body.get("projectIds"), ctx)
    filter_text = str(body.get("filter") or "")
    order = str(body.get("orderBy") or "timestamp asc").strip().lower()
    if order not in ("timestamp asc", "timestamp desc", "timestamp"):
        raise ApiError(
            400, f"Unsupported orderBy {order!r}: use 'timestamp asc' or 'timestamp desc'."
        )
    descending = order == "timestamp desc"
    try:
        page_size = int(body.get("pageSize") or DEFAULT_PAGE_SIZE)
    except (TypeError, ValueError):
        raise ApiError(400, "pageSize must be an integer.") from None
    if page_size < 1:
        page_size = DEFAULT_PAGE_SIZE
    page_size = min(page_size, MAX_PAGE_SIZE)
    try:
        where, params = compile_filter(filter_text)
    except FilterError as exc:
        raise ApiError(400, f"Invalid filter: {exc}") from None
    fingerprint = hashlib.sha1(f"{projects}|{filter_text}|{descending}".encode()).hexdigest()[:16]
    token = body.get("pageToken")
    after = _read_page_token(str(token), fingerprint) if token else None
    store = log_store(ctx)
    rows: list[Row] = []
    for project in projects:  # almost always one
        rows += store.query(
            project, where, params, descending=descending, after=after, limit=page_size + 1
        )
    rows.sort(key=lambda r: (r.ts, r.insert_id), reverse=descending)
    result: dict[str, Any] = {}
    if rows:
        result["entries"] = [entry_json(r) for r in rows[:page_size]]
    if len(rows) > page_size:
        last = rows[page_size - 1]
        result["nextPageToken"] = _page_token((last.ts, last.insert_id), fingerprint)
    return result


def write_entries(ctx: SandboxContext, body: dict[str, Any]) -> None:
    """`entries:write`: Google's request shape with shared logName/resource/labels defaults."""
    entries = body.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ApiError(400, "entries is required and must not be empty.")
    store = log_store(ctx)
    for entry in entries:
        log_name = entry.get("logName") or body.get("logName") or ""
        if "/logs/" not in log_name or not log_name.startswith("projects/"):
            raise ApiError(400, f"Invalid logName {log_name!r}: use projects/P/logs/LOG_ID.")
        project, log_id = log_name.removeprefix("projects/").split("/logs/", 1)
        resource = entry.get("resource") or body.get("resource") or {"type": "global"}
        labels = {**(body.get("labels") or {}), **(entry.get("labels") or {})}
        stamp = entry.get("timestamp")
        try:
            ts = parse_timestamp_ns(stamp) if stamp else None
        except FilterError as exc:
            raise ApiError(400, str(exc)) from None
        store.append(
            project=project,
            log_id=log_id,
            resource_type=str(resource.get("type", "global")),
            resource_labels={str(k): str(v) for k, v in (resource.get("labels") or {}).items()},
            severity=entry.get("severity", "DEFAULT"),
            text=entry.get("textPayload"),
            json_payload=entry.get("jsonPayload"),
            labels=labels or None,
            timestamp_ns=ts,
            insert_id=entry.get("insertId"),
        )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


def routes(ctx: SandboxContext) -> list[BaseRoute]:
    async def entries_list(request: Request) -> Response:
        body = await _json_body(request)
        return JSONResponse(await asyncio.to_thread(list_entries, ctx, body))

    async def entries_write(request: Request) -> Response:
        write_entries(ctx, await _json_body(request))
        return JSONResponse({})

    return [
        Route("/v2/entries:list", entries_list, methods=["POST"]),
        Route("/v2/entries:write", entries_write, methods=["POST"]),
    ]
