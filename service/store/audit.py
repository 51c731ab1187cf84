"""The audit trail: one record per invocation that produced cards, written off the request path.

The request thread only builds a small dict (the patient id already hashed) and puts it on a bounded
queue (microseconds); a writer thread in each worker commits queued records in batches. So the
database's speed, or its absence, never delays or fails a clinical answer: a record that cannot be
written (database down or read-only, queue full) is logged without its content and counted in
/metrics (relapse_cds_audit_write_failures_total). Records still queued when a worker is SIGKILLed are
lost: the audit trail is a governance record, not an acknowledgement (feedback is; see feedback.py).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import Engine, insert

from .. import metrics
from .offload import blocking
from .schema import card, invocation
from .times import utcnow

log = logging.getLogger("relapse_cds")
QUEUE_LIMIT = 10_000
BATCH_LIMIT = 200
#: The writer wakes this often and commits what was queued: one wake-up and one commit for many records.
BATCH_WINDOW_S = 0.2
#: ...then waits, at most this long, for a moment when its process answers no request: a commit's
#: Python work beside a request delays it (measured: p99 of the realistic chart +3 ms).
QUIET_WAIT_S = 1.0
_QUIET_POLL_S = 0.002


def client_of(g: object) -> tuple[str | None, str | None]:
    """The calling CDS client (iss, tenant) as the JWT policy (service/auth/) left it on `flask.g`:
    `g.cds_client`, a VerifiedClient, or None in open mode (then both are None)."""
    verified = getattr(g, "cds_client", None)
    iss, tenant = getattr(verified, "iss", None), getattr(verified, "tenant", None)
    return (str(iss)[:512] if iss else None), (str(tenant)[:256] if tenant else None)


def build_record(*, service_id: str, hook: str, hook_instance: str, client: tuple[str | None, str | None],
                 patient_hash: str | None, assessment, knowledge_version: str, cards: list[dict],
                 processing_ms: float) -> dict:
    """What is kept of one invocation: decisions and card identities, never the patient id or text."""
    a = assessment
    return {
        "invocation": {
            "id": uuid.uuid4().hex, "recorded_at": utcnow(), "service_id": service_id, "hook": hook, "hook_instance": hook_instance,
            "client_iss": client[0], "client_tenant": client[1], "patient_hash": patient_hash,
            "relapse_number": a.relapse_number, "cog_risk": a.cog.value, "hsct": a.hsct.value,
            "flags": json.dumps([f.name for f in a.flags.raised]), "missing": json.dumps(list(a.missing)),
            "knowledge_version": knowledge_version, "processing_ms": round(processing_ms, 3),
        },
        "cards": [_card_row(c) for c in cards],
    }


def _card_row(c: dict) -> dict:
    ext = (c.get("extension") or {}).get("org.relapse-cds.card") or {}  # render.CARD_EXTENSION_KEY
    return {"uuid": c["uuid"], "kind": ext.get("kind", "unknown"), "indicator": c.get("indicator", "info"),
            "rules": json.dumps(list(ext.get("rules", [])))}


class AuditWriter:
    """Bounded queue + one writer thread per process (started lazily, so after gunicorn's fork)."""

    def __init__(self, engine: Engine, queue_limit: int = QUEUE_LIMIT, busy: Callable[[], bool] | None = None):
        self._engine = engine
        self._limit = queue_limit
        #: True while the process answers a request (the app factory sets it): writes wait for a gap.
        self.busy = busy
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._queue: queue.Queue = queue.Queue(self._limit)
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, record: dict) -> None:
        """Never raises, never blocks."""
        if self._thread is None:
            self._start()
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._done(1)
            log.error("audit record dropped: the audit queue is full (database too slow or down)")
            metrics.inc("relapse_cds_audit_write_failures_total")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every submitted record is written or counted as failed (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="relapse-cds-audit", daemon=True)
                self._thread.start()
                atexit.register(self.flush, 3.0)

    def _done(self, count: int) -> None:
        with self._idle:
            self._pending -= count
            if not self._pending:
                self._idle.notify_all()

    def _run(self) -> None:
        """Wakes on a timer, not per record: a request's put() wakes no thread, so the request thread
        never hands the interpreter over to the writer (on a busy machine such a hand-over can cost
        milliseconds of scheduling delay)."""
        while True:
            time.sleep(BATCH_WINDOW_S)
            self._await_quiet()
            while batch := self._drain():
                try:
                    blocking(self.write, batch)  # a commit's fsync must not hold a gevent worker's requests
                except Exception as exc:  # noqa: BLE001 - any database failure: counted, the service goes on
                    log.error("audit write failed for %d record(s): %s", len(batch), type(exc).__name__)
                    metrics.inc("relapse_cds_audit_write_failures_total", len(batch))
                finally:
                    self._done(len(batch))

    def _await_quiet(self) -> None:
        """Until no request is being answered, or QUIET_WAIT_S: records wait a little longer, never forever."""
        deadline = time.monotonic() + QUIET_WAIT_S
        while self.busy is not None and self.busy() and time.monotonic() < deadline:
            time.sleep(_QUIET_POLL_S)

    def _drain(self) -> list[dict]:
        batch: list[dict] = []
        while len(batch) < BATCH_LIMIT:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def write(self, batch: list[dict]) -> None:
        """One transaction, two multi-row inserts (the invocation id is made with the record)."""
        cards = [dict(c, invocation_id=r["invocation"]["id"]) for r in batch for c in r["cards"]]
        with self._engine.begin() as connection:
            connection.execute(insert(invocation), [r["invocation"] for r in batch])
            if cards:
                connection.execute(insert(card), cards)

