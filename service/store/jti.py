"""The JWT `jti` replay cache, shared by every worker and server through the database.

Implements the interface of service/auth/ (`first_use(iss, jti, expires_at) -> bool`): True the first
time a (iss, jti) pair is seen, False on a replay. The primary key on (iss, jti) decides races between
workers: the second insert fails with a unique violation. Rows whose token has expired are deleted as
they are passed (and by `relapse-cds purge`): an expired token is refused on its `exp` anyway."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from .schema import jti as jti_table
from .offload import blocking
from .times import naive_utc, utcnow


class DatabaseJtiCache:
    def __init__(self, engine: Engine):
        self._engine = engine

    def first_use(self, iss: str, jti: str, expires_at: datetime | int | float) -> bool:
        """Raises the database's error when it cannot answer: the caller decides (fail closed)."""
        try:
            blocking(self._record, iss, jti, naive_utc(expires_at))  # other requests go on while it commits
        except IntegrityError:
            return False
        return True

    def _record(self, iss: str, jti: str, expires_at: datetime) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(jti_table).where(jti_table.c.expires_at < utcnow()))
            connection.execute(insert(jti_table).values(iss=iss, jti=jti, expires_at=expires_at))

    def purge_expired(self) -> int:
        with self._engine.begin() as connection:
            return connection.execute(delete(jti_table).where(jti_table.c.expires_at < utcnow())).rowcount
