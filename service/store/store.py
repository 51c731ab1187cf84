"""The store as the app sees it: engine, schema migrated at start, the audit writer, feedback, purge.

Failure policy: the database may be down or read-only at any time, at start too. The service then
still starts and answers with cards (the audit write fails and is counted); feedback answers 503 so
that the client retries; `relapse-cds db upgrade` / a restart migrates once the database is back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import SQLAlchemyError

from .. import metrics
from . import feedback as feedback_store
from . import migrate
from .audit import AuditWriter, build_record
from .offload import blocking
from .config import StoreSettings
from .engine import make_engine
from .identity import PatientHasher, load_key
from .jti import DatabaseJtiCache
from .schema import card, feedback, invocation, jti
from .times import utcnow

log = logging.getLogger("relapse_cds")


class StoreError(Exception):
    """The database could not do what was asked (down, read-only, schema missing)."""


@dataclass(frozen=True)
class PurgeResult:
    invocations: int
    cards: int
    feedback: int
    jti: int


class Store:
    def __init__(self, settings: StoreSettings, engine: Engine, hasher: PatientHasher):
        self.settings = settings
        self.engine = engine
        self.hash_patient = hasher
        self.audit = AuditWriter(engine)
        self.jti_cache = DatabaseJtiCache(engine)

    def record_invocation(self, **fields) -> None:
        """Queue the audit record of one invocation; never raises (see audit.py)."""
        try:
            self.audit.submit(build_record(**fields))
        except Exception as exc:  # noqa: BLE001 - a bug here must not cost the clinician the card
            log.error("audit record could not be built: %s", type(exc).__name__)
            metrics.inc("relapse_cds_audit_write_failures_total")

    def save_feedback(self, service_id: str, items: list[dict], client: tuple[str | None, str | None]):
        try:
            return blocking(feedback_store.save, self.engine, service_id, items, client)  # committed before the 200
        except SQLAlchemyError as exc:
            raise StoreError(type(exc).__name__) from None

    def purge(self, days: int | None = None) -> PurgeResult:
        """Delete audit rows and feedback older than the retention period, and expired jti rows."""
        cutoff = utcnow() - timedelta(days=days or self.settings.retention_days)
        with self.engine.begin() as connection:
            old = select(invocation.c.id).where(invocation.c.recorded_at < cutoff)
            cards = connection.execute(delete(card).where(card.c.invocation_id.in_(old))).rowcount
            invocations = connection.execute(delete(invocation).where(invocation.c.recorded_at < cutoff)).rowcount
            feedbacks = connection.execute(delete(feedback).where(feedback.c.received_at < cutoff)).rowcount
            expired = connection.execute(delete(jti).where(jti.c.expires_at < utcnow())).rowcount
        return PurgeResult(invocations, cards, feedbacks, expired)


def open_store(settings: StoreSettings, migrate_schema: bool = True) -> Store:
    """Engine and key; the schema is migrated here (a database failure is logged, not fatal). An
unusable data directory is a configuration error: ValueError, and the service does not start."""
    try:
        hasher = PatientHasher(load_key(settings.patient_hash_key, settings.data_dir))
        engine = make_engine(settings.url)
    except OSError as exc:  # a configuration error: stop with a clear message rather than run blind
        raise ValueError(f"the data directory {settings.data_dir} cannot be used ({exc.strerror}); "
                         f"set RELAPSE_CDS_DATA_DIR to a writable directory") from None
    store = Store(settings, engine, hasher)
    if migrate_schema:
        try:
            log.info("database schema at revision %s", migrate.upgrade(engine))
        except SQLAlchemyError as exc:
            log.error("database schema could not be migrated (%s): the audit trail and feedback fail until "
                      "the database is back and `relapse-cds db upgrade` (or a restart) has run", type(exc).__name__)
    engine.dispose()  # no connection opened here is carried into gunicorn's forked workers
    return store
