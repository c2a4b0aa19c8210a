"""Replays: the proofs that have changed a ticket, and the SMTP client each raw message came from.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "used_proofs",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("raw_id", BigId, sa.ForeignKey("raw_messages.id"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("raw_messages") as batch_op:
        batch_op.add_column(sa.Column("peer", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("raw_messages") as batch_op:
        batch_op.drop_column("peer")
    op.drop_table("used_proofs")
