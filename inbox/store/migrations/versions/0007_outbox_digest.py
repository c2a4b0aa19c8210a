"""Staff digests: an alert folded into a digest email points at it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("digest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch_op.create_foreign_key("fk_outbox_digest_id", "outbox", ["digest_id"], ["id"])
        batch_op.create_index("ix_outbox_digest_id", ["digest_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_digest_id")
        batch_op.drop_constraint("fk_outbox_digest_id", type_="foreignkey")
        batch_op.drop_column("digest_id")
