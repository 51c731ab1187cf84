"""SQLAlchemy engines: the same code for SQLite and PostgreSQL; only connection set-up differs.

SQLite: WAL (readers never block the writer, other processes see commits), synchronous=FULL (a commit
survives power loss: acknowledged feedback is durable), a busy timeout so that gunicorn workers queue
for the write lock, and BEGIN IMMEDIATE so that a transaction takes that lock up front (a deferred
transaction that upgrades to writing fails at once instead of waiting when another worker wrote).
PostgreSQL: `postgresql://` URLs go to psycopg 3; a short connect timeout so that a database that is
down fails an audit write quickly; pre-ping so that a restarted server is reconnected.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_MS = 10_000
PG_CONNECT_TIMEOUT_S = 3


def normalise_url(raw: str) -> URL:
    """`postgresql://` and `postgres://` mean psycopg 3; other drivers are not supported."""
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url
    raise ValueError(f"RELAPSE_CDS_DATABASE_URL must be sqlite:/// or postgresql://, not {url.drivername}://")


def make_engine(raw_url: str) -> Engine:
    url = normalise_url(raw_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.query.get("uri"):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=2, max_overflow=2, pool_timeout=PG_CONNECT_TIMEOUT_S,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
    )


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # the driver's own BEGIN handling is off: _sqlite_begin decides
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
            except Exception:  # noqa: BLE001 - a read-only database keeps its mode; writes then fail and are counted
                pass
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
