"""The audit write after an invocation that produced cards (see service/store/audit.py for the policy)."""

from __future__ import annotations

import time

from flask import current_app, g

from .. import metrics
from ..render import CARD_EXTENSION_KEY
from ..store.audit import client_of


def record_invocation(service_id: str, hook_request: dict, patient_id: str, assessment, cards: list[dict], started: float) -> None:
    """Counts the cards and queues their audit record; never raises, never waits for the database."""
    for card in cards:
        metrics.inc("relapse_cds_cards_total", kind=str(((card.get("extension") or {}).get(CARD_EXTENSION_KEY) or {}).get("kind", "unknown")))
    store = current_app.extensions["relapse_cds.store"]
    store.record_invocation(
        service_id=service_id, hook=hook_request["hook"], hook_instance=hook_request["hookInstance"],
        client=client_of(g), patient_hash=store.hash_patient(patient_id), assessment=assessment,
        knowledge_version=current_app.extensions["relapse_cds.knowledge"].version, cards=cards,
        processing_ms=(time.perf_counter() - started) * 1000,
    )
