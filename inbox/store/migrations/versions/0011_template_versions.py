"""Template versions: each save, rollback, reset or import of one template file is a new row.

The current version of a path is its highest `version` (a version that does not render is never
stored, so the highest is always the one to send); `id` grows with every row on both databases,
so `max(id)` tells an instance in one cheap query whether anything was saved since it last looked.
`text` NULL marks an override removed by a reset: the next more general file applies again.

On a database that already held a service's state (an upgrade, not a new install), it also leaves
a note in service_state: the first `inbox serve` imports the templates edited on disk as versions
(`autoresponder.versions.import_from_disk`), so no admin's edit is lost.

Revision ID: 0011
Revises: 0009 (the lead re-chains after 0010)
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
IMPORT_PENDING = "templates_import_from_disk"  # autoresponder.versions.IMPORT_PENDING


def upgrade() -> None:
    op.create_table(
        "template_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(20), nullable=False),
        sa.UniqueConstraint("path", "version", name="uq_template_versions_path_version"),
    )
    bind = op.get_bind()
    # An installation that ran before: any ticket, stored mail or service value says so.
    ran = any(bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None
              for table in ("service_state", "tickets", "raw_messages"))
    if ran:
        op.execute(sa.text("INSERT INTO service_state (key, value) VALUES (:key, 'pending')").bindparams(
            key=IMPORT_PENDING))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM service_state WHERE key = :key").bindparams(key=IMPORT_PENDING))
    op.drop_table("template_versions")
