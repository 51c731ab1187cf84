"""Audit trail (invocation, card), feedback, and the JWT jti replay cache.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "invocation",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(64), nullable=False),
        sa.Column("client_iss", sa.String(512)),
        sa.Column("client_tenant", sa.String(256)),
        sa.Column("patient_hash", sa.String(64)),
        sa.Column("relapse_number", sa.Integer()),
        sa.Column("cog_risk", sa.String(32), nullable=False),
        sa.Column("hsct", sa.String(32), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.Column("knowledge_version", sa.String(64), nullable=False),
        sa.Column("processing_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_invocation_recorded_at", "invocation", ["recorded_at"])
    op.create_table(
        "card",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("invocation_id", sa.String(32), sa.ForeignKey("invocation.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
    )
    op.create_index("ix_card_invocation_id", "card", ["invocation_id"])
    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("item_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text(), nullable=False),
        sa.Column("override_system", sa.String(512)),
        sa.Column("override_code", sa.String(256)),
        sa.Column("override_display", sa.String(512)),
        sa.Column("user_comment", sa.Text()),
        sa.Column("outcome_timestamp", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("client_iss", sa.String(512)),
        sa.Column("client_tenant", sa.String(256)),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "jti",
        sa.Column("iss", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(512), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti", name="pk_jti"),
    )
    op.create_index("ix_jti_expires_at", "jti", ["expires_at"])


def downgrade() -> None:
    op.drop_table("jti")
    op.drop_table("feedback")
    op.drop_table("card")
    op.drop_table("invocation")
