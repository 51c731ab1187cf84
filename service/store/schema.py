"""Tables. Times are naive UTC. JSON-valued columns hold short lists as JSON text (the same on SQLite and
PostgreSQL; the report reads them back in Python). No patient id, no name: a keyed hash only."""

from __future__ import annotations

from sqlalchemy import (BigInteger, Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint,
                        String, Table, Text)

metadata = MetaData()
#: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite, so that autoincrement works on both.
Id = BigInteger().with_variant(Integer(), "sqlite")

invocation = Table(
    "invocation", metadata,
    Column("id", String(32), primary_key=True),  # a uuid4 made with the record: batches insert in one go
    Column("recorded_at", DateTime, nullable=False, index=True),
    Column("service_id", String(64), nullable=False),
    Column("hook", String(64), nullable=False),
    Column("hook_instance", String(64), nullable=False),
    Column("client_iss", String(512)),
    Column("client_tenant", String(256)),
    Column("patient_hash", String(64)),
    Column("relapse_number", Integer),
    Column("cog_risk", String(32), nullable=False),
    Column("hsct", String(32), nullable=False),
    Column("flags", Text, nullable=False),
    Column("missing", Text, nullable=False),
    Column("knowledge_version", String(64), nullable=False),
    Column("processing_ms", Float, nullable=False),
)

card = Table(
    "card", metadata,
    Column("uuid", String(64), primary_key=True),
    Column("invocation_id", String(32), ForeignKey("invocation.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("rules", Text, nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    #: sha256 of the service id and the item as validated: an exact duplicate is stored once.
    Column("item_hash", String(64), nullable=False, unique=True),
    Column("service_id", String(64), nullable=False),
    Column("card_uuid", String(128), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),
    Column("override_system", String(512)),
    Column("override_code", String(256)),
    Column("override_display", String(512)),
    Column("user_comment", Text),
    Column("outcome_timestamp", DateTime, nullable=False),
    Column("received_at", DateTime, nullable=False, index=True),
    Column("client_iss", String(512)),
    Column("client_tenant", String(256)),
)

jti = Table(
    "jti", metadata,
    Column("iss", String(512), nullable=False),
    Column("jti", String(512), nullable=False),
    Column("expires_at", DateTime, nullable=False),
    PrimaryKeyConstraint("iss", "jti", name="pk_jti"),
    Index("ix_jti_expires_at", "expires_at"),
)
