"""The persistence tests run on SQLite and on a real PostgreSQL server.

PostgreSQL comes from RELAPSE_CDS_TEST_POSTGRES_URL (an admin URL; `.ci/run` starts a throwaway cluster
with .ci/postgres.sh and sets it). Each test gets a database of its own, dropped afterwards. Without the
variable the PostgreSQL cases skip, saying how to run them; in CI (CI=true) they fail instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_ENV = "RELAPSE_CDS_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_admin_url() -> str:
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: .ci/run must start PostgreSQL for the persistence tests")
        pytest.skip(f"no PostgreSQL: set {PG_ENV} (`eval \"$(bash .ci/postgres.sh start /tmp/relapse-pg)\"` starts one); CI runs these")
    return url


def _admin(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True, connect_timeout=5)


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def new_postgres_database() -> tuple[str, str]:
    """(url, name) of a fresh, empty database on the test server."""
    admin = postgres_admin_url()
    name = f"relapse_test_{uuid.uuid4().hex[:12]}"
    with _admin(admin) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return _with_database(admin, name), name


def drop_postgres_database(name: str) -> None:
    with _admin(postgres_admin_url()) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_execute(sql: str) -> None:
    with _admin(postgres_admin_url()) as connection:
        connection.execute(sql)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    url, name = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)
