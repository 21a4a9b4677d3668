"""The sandbox's state: JSON documents in SQLite, keyed by (kind, key).

One small generic table is enough: each API module stores Google's own JSON resource shapes,
so what the sandbox returns is what it stored. Writes are serialised by a lock; SQLite runs in
WAL mode so readers in other threads are not blocked.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM resources WHERE kind=? AND key=?", (kind, key)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO resources(kind, key, doc) VALUES (?, ?, ?)",
                (kind, key, json.dumps(doc)),
            )

    def put_many(self, kind: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO resources(kind, key, doc) VALUES (?, ?, ?)",
                [(kind, key, json.dumps(doc)) for key, doc in items],
            )
            self._db.execute("COMMIT")

    def delete(self, kind: str, key: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM resources WHERE kind=? AND key=?", (kind, key))
        return cur.rowcount > 0

    def list(
        self, kind: str, prefix: str = "", start_after: str = "", limit: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Documents of a kind whose key starts with `prefix`, in key order."""
        # One lower bound only: with two, SQLite scans from the prefix to skip to start_after.
        args: list[Any]
        if start_after and start_after >= prefix:
            sql, args = "SELECT key, doc FROM resources WHERE kind=? AND key>?", [kind, start_after]
        else:
            sql, args = "SELECT key, doc FROM resources WHERE kind=? AND key>=?", [kind, prefix]
        if prefix:
            sql += " AND key<?"
            args.append(prefix + "\U0010ffff")
        sql += " ORDER BY key"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [(key, json.loads(doc)) for key, doc in rows]

    def iter_kind(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.list(kind)

    def count(self, kind: str, prefix: str = "") -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM resources WHERE kind=? AND key>=? AND key<?",
                (kind, prefix, prefix + "\U0010ffff"),
            ).fetchone()
        return int(row[0])

    def next_id(self, name: str) -> int:
        """A monotonically increasing number (resource ids, generations)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (name,),
            )
            row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return int(row[0])

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM resources")
            self._db.execute("DELETE FROM counters")

    def close(self) -> None:
        with self._lock:
            self._db.close()
