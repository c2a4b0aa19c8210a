"""What people do to tickets by email: flags on tickets and messages, customer escalation
levels, and the mail whose attachments a relayed reply carries.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("ticket_messages") as batch_op:
        batch_op.add_column(sa.Column("flag", sa.Text(), nullable=True))
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("attach_raw_id", BigId, nullable=True))
        batch_op.create_foreign_key("fk_outbox_attach_raw_id", "raw_messages", ["attach_raw_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_constraint("fk_outbox_attach_raw_id", type_="foreignkey")
        batch_op.drop_column("attach_raw_id")
    with op.batch_alter_table("ticket_messages") as batch_op:
        batch_op.drop_column("flag")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("flags")
