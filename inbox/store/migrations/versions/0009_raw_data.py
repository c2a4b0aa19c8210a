"""Raw bytes apart from the queue state: claiming and finishing a mail no longer rewrite it.

SQLite rewrites a whole row on UPDATE, blob included; PostgreSQL copies only the TOAST pointer,
but one layout serves both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "raw_data",
        sa.Column("raw_id", BigId, sa.ForeignKey("raw_messages.id"), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # As 0001 did for raw_messages.data: stored once, never searched, no compression.
        op.execute("ALTER TABLE raw_data ALTER COLUMN data SET STORAGE EXTERNAL")
    op.execute("INSERT INTO raw_data (raw_id, data) SELECT id, data FROM raw_messages")
    # Not batch mode: SQLite's own DROP COLUMN (3.35) keeps the table, where batch mode would copy
    # it and then fail to drop the original, which every other table's foreign keys name.
    op.drop_column("raw_messages", "data")


def downgrade() -> None:
    # NOT NULL needs a default to be added to rows already there; PostgreSQL drops it after,
    # SQLite cannot without copying the table (see upgrade), so there the column keeps it.
    empty = "X''" if op.get_bind().dialect.name == "sqlite" else "'\\x'::bytea"
    op.add_column("raw_messages", sa.Column("data", sa.LargeBinary(), nullable=False, server_default=sa.text(empty)))
    op.execute("UPDATE raw_messages SET data = (SELECT data FROM raw_data WHERE raw_data.raw_id = raw_messages.id)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_messages ALTER COLUMN data DROP DEFAULT")
        op.execute("ALTER TABLE raw_messages ALTER COLUMN data SET STORAGE EXTERNAL")
    op.drop_table("raw_data")
