"""The `jti` replay cache: a token's id is accepted once within its lifetime, across all gunicorn
workers and restarts.

`ReplayCache` is the seam: the app factory chooses the implementation (`replay_cache_for`). The
shipped one is a SQLite file (stdlib sqlite3, WAL, one row per (iss, jti)); the service's database
(service/store/) can provide the same one-method interface instead.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol


class ReplayUnavailable(Exception):
    """The replay cache could not answer (database down, disk full): no token can be accepted."""


class ReplayCache(Protocol):
    def first_use(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Record (iss, jti) until `expires_at`; True only the first time it is seen. Must be atomic
        across processes: two workers racing with the same jti get one True."""
        ...


_SCHEMA = "CREATE TABLE IF NOT EXISTS jti_seen (iss TEXT NOT NULL, jti TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (iss, jti))"
_PURGE_EVERY = 200  # on average, one insert in this many also deletes expired rows


class SqliteReplayCache:
    """File-backed replay cache; a connection per call keeps it safe across fork and threads."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def first_use(self, iss: str, jti: str, expires_at: datetime) -> bool:
        now = datetime.now(timezone.utc).timestamp()
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            # A row past its expiry no longer blocks (the token itself is rejected as expired anyway).
            db.execute("DELETE FROM jti_seen WHERE iss = ? AND jti = ? AND expires_at < ?", (iss, jti, now))
            inserted = db.execute(
                "INSERT OR IGNORE INTO jti_seen (iss, jti, expires_at) VALUES (?, ?, ?)", (iss, jti, expires_at.timestamp()),
            ).rowcount == 1
            if random.randrange(_PURGE_EVERY) == 0:
                db.execute("DELETE FROM jti_seen WHERE expires_at < ?", (now,))
            db.execute("COMMIT")
            return inserted
        finally:
            db.close()


def replay_cache_for(path: Path) -> ReplayCache:
    """The implementation the app uses. When the service database lands, choose it here."""
    return SqliteReplayCache(path)


class FailClosed:
    """Wraps a replay cache so that any failure of its storage refuses the token (ReplayUnavailable)
    instead of escaping as a server error or, worse, letting a replay through."""

    def __init__(self, cache: ReplayCache):
        self._cache = cache

    def first_use(self, iss: str, jti: str, expires_at: datetime) -> bool:
        try:
            return self._cache.first_use(iss, jti, expires_at)
        except Exception as exc:  # noqa: BLE001 - whatever the storage raised, the answer is "cannot tell"
            raise ReplayUnavailable(type(exc).__name__) from None
