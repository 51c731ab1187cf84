"""Counters for `GET /metrics` (Prometheus text format; counts only, no PHI), shared by all gunicorn workers.

Other modules count with `metrics.inc(NAME, reason="...")`; the names, and the label each takes:

| name | label | counted by |
| --- | --- | --- |
| relapse_cds_invocations_total | status | every CDS service call, by HTTP status |
| relapse_cds_cards_total | kind | cards returned (assessment, missing, contradiction, flags) |
| relapse_cds_feedback_total | outcome | feedback items newly stored (accepted, overridden) |
| relapse_cds_feedback_duplicates_total | - | feedback items already stored (idempotent repeats) |
| relapse_cds_feedback_unknown_card_total | - | feedback items on a card uuid the store did not know |
| relapse_cds_feedback_write_failures_total | - | feedback requests answered 503 (database down or read-only) |
| relapse_cds_audit_write_failures_total | - | audit records that could not be written (the cards still went out) |
| relapse_cds_auth_failures_total | reason | requests refused by the JWT policy (service/auth/) |
| relapse_cds_fetch_failures_total | reason | FHIR queries that failed (service/fhir/) |

plus the histogram relapse_cds_invocation_seconds (time to answer a CDS service call).

Why prometheus_client's multiprocess mode: each gunicorn worker counts in its own memory-mapped file in
one directory and /metrics sums them, so any worker answers with the whole server's counts. Counting in
the database instead would lose exactly the counts that matter when the database is down. The directory
is made fresh when the server starts (PROMETHEUS_MULTIPROC_DIR, unless the operator set it) and must be
shared by the workers: the app is created in the gunicorn master (preload), which `relapse-cds serve`
and docker/gunicorn.conf.py both do. prometheus_client is imported only after the directory is set.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading

log = logging.getLogger("relapse_cds")
ENV = "PROMETHEUS_MULTIPROC_DIR"
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "relapse_cds_invocations_total": ("CDS service calls answered, by HTTP status", ("status",)),
    "relapse_cds_cards_total": ("Cards returned, by kind", ("kind",)),
    "relapse_cds_feedback_total": ("Feedback items stored, by outcome", ("outcome",)),
    "relapse_cds_feedback_duplicates_total": ("Feedback items already stored (exact repeats)", ()),
    "relapse_cds_feedback_unknown_card_total": ("Feedback items on a card uuid the store did not know", ()),
    "relapse_cds_feedback_write_failures_total": ("Feedback requests that could not be stored (503)", ()),
    "relapse_cds_audit_write_failures_total": ("Audit records that could not be written", ()),
    "relapse_cds_auth_failures_total": ("Requests refused by the JWT policy, by reason", ("reason",)),
    "relapse_cds_fetch_failures_total": ("FHIR queries that failed, by reason", ("reason",)),
}
LATENCY = "relapse_cds_invocation_seconds"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_lock = threading.Lock()
_metrics: dict[str, object] = {}
_directory: list[str] = []  # where this process's counters are written, fixed when they are made


def fresh_directory() -> str:
    """A new, empty directory for this server's counters (called in the master before workers fork).
    Once counters exist in this process they keep the directory they write to."""
    if _metrics:
        return _directory[0]
    path = tempfile.mkdtemp(prefix="relapse-cds-metrics-")
    os.environ[ENV] = path
    owner = os.getpid()
    # Only the process that made it removes it: forked workers inherit this handler too.
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
    return path


def prepare() -> None:
    """Called by the app factory, so in gunicorn's master when the app is preloaded: the directory
    exists before the workers fork, and they all inherit it."""
    if _metrics:  # counters already made here keep their directory
        return
    if not os.environ.get(ENV):
        fresh_directory()
    os.makedirs(os.environ[ENV], exist_ok=True)


def _ensure() -> dict[str, object]:
    if _metrics:
        return _metrics
    with _lock:
        if not _metrics:
            prepare()
            _directory[:] = [os.environ[ENV]]
            from prometheus_client import Counter, Histogram

            built: dict[str, object] = {}
            for name, (doc, labels) in COUNTERS.items():
                built[name] = Counter(name.removesuffix("_total"), doc, labels, registry=None)
            built[LATENCY] = Histogram(LATENCY, "Time to answer a CDS service call", buckets=_BUCKETS, registry=None)
            _metrics.update(built)
    return _metrics


def inc(name: str, amount: float = 1, **labels: str) -> None:
    """Count; never raises into the caller (a counting fault must not fail a clinical answer)."""
    try:
        metric = _ensure()[name]
        (metric.labels(**labels) if labels else metric).inc(amount)
    except Exception:  # noqa: BLE001
        log.exception("metric %s could not be counted", name)


def observe_latency(seconds: float) -> None:
    try:
        _ensure()[LATENCY].observe(seconds)
    except Exception:  # noqa: BLE001
        log.exception("latency could not be observed")


def exposition() -> tuple[bytes, str]:
    """Text format of every worker's counts summed."""
    _ensure()
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    registry.register(_InNameOrder(MultiProcessCollector(None, path=_directory[0])))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _InNameOrder:
    """The summed counts in a stable order. The multiprocess collector lists families and label sets in
    the order the workers' files first met them, so two readings with equal counts could differ in
    order (a worker's first /metrics call adds its zeroed counters). Histogram samples keep the
    collector's order: their buckets must stay ascending."""

    def __init__(self, inner):
        self._inner = inner

    def collect(self):
        families = sorted(self._inner.collect(), key=lambda family: family.name)
        for family in families:
            if family.type != "histogram":
                family.samples.sort(key=lambda sample: (sample.name, sorted(sample.labels.items())))
        return families
