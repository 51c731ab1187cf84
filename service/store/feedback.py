"""CDS Hooks feedback, stored durably and idempotently.

Every item of one request is written in one transaction, committed before the 200 (SQLite with
synchronous=FULL; PostgreSQL's default synchronous commit): acknowledged means durable. An item is
identified by the sha256 of the service id and the item as validated, with a unique index on it: an
exact duplicate (a client's retry) is stored once, whichever worker receives it. Feedback on a card
uuid the audit trail does not know is stored all the same, and counted apart."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from .schema import card, feedback
from .times import naive_utc, utcnow


@dataclass(frozen=True)
class FeedbackResult:
    stored: int
    duplicates: int
    unknown_cards: int
    by_outcome: dict[str, int]


def item_hash(service_id: str, item: dict) -> str:
    canonical = json.dumps([service_id, item], sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _row(service_id: str, item: dict, client: tuple[str | None, str | None], received: datetime) -> dict:
    reason = item.get("overrideReason") or {}
    coding = reason.get("reason") or {}
    return {
        "item_hash": item_hash(service_id, item), "service_id": service_id, "card_uuid": item["card"],
        "outcome": item["outcome"], "accepted_suggestions": json.dumps([s["id"] for s in item.get("acceptedSuggestions") or []]),
        "override_system": coding.get("system"), "override_code": coding.get("code"), "override_display": coding.get("display"),
        "user_comment": reason.get("userComment"), "outcome_timestamp": naive_utc(item["outcomeTimestamp"]),
        "received_at": received, "client_iss": client[0], "client_tenant": client[1],
    }


def _insert_ignoring_duplicates(connection: Connection, row: dict) -> bool:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(feedback).values(**row).on_conflict_do_nothing(index_elements=["item_hash"])
    return connection.execute(statement.returning(feedback.c.id)).first() is not None


def save(engine: Engine, service_id: str, items: list[dict], client: tuple[str | None, str | None]) -> FeedbackResult:
    received = utcnow()
    rows = [_row(service_id, item, client, received) for item in items]
    stored, by_outcome = 0, {}
    with engine.begin() as connection:
        uuids = sorted({r["card_uuid"] for r in rows})
        known = set(connection.execute(select(card.c.uuid).where(card.c.uuid.in_(uuids))).scalars())
        unknown = 0
        for row in rows:
            if _insert_ignoring_duplicates(connection, row):
                stored += 1
                by_outcome[row["outcome"]] = by_outcome.get(row["outcome"], 0) + 1
                unknown += row["card_uuid"] not in known
    return FeedbackResult(stored, len(rows) - stored, unknown, by_outcome)
