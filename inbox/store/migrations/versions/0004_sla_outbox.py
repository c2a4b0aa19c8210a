"""SLA bookkeeping on tickets, the outbox of emails to send, and the suppression list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_update_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("pauses", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("follow_ups", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("sla_state", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.create_index("ix_tickets_next_check_at", ["next_check_at"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.String(length=200), nullable=True),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("in_reply_to", sa.String(length=998), nullable=True),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_ticket_id", "outbox", ["ticket_id"])
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_recipient_sent", "outbox", ["recipient", "sent_at"])

    op.create_table(
        "suppressions",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_id", BigId, sa.ForeignKey("tickets.id"), nullable=True),
        sa.PrimaryKeyConstraint("address"),
    )


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_index("ix_outbox_recipient_sent", table_name="outbox")
    op.drop_index("ix_outbox_state_next", table_name="outbox")
    op.drop_index("ix_outbox_ticket_id", table_name="outbox")
    op.drop_table("outbox")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index("ix_tickets_next_check_at")
        for column in ("sla_state", "follow_ups", "pauses", "paused_since", "last_update_sent_at", "next_check_at"):
            batch_op.drop_column(column)
