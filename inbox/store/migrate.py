"""Create or migrate the schema with Alembic, on SQLite or PostgreSQL.

Alembic is loaded only to migrate: `is_current`, which every command asks first, reads the
migration scripts' revision lines and the `alembic_version` table itself, so a command that only
reads tickets never pays for importing Alembic (about a third of its start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from inbox.store.revisions import MIGRATIONS, VERSION_TABLE, head_revisions

if TYPE_CHECKING:
    from alembic.config import Config

UPGRADE_LOCK = 0x1B0C5  # any constant that no other lock of ours uses


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@dataclass(frozen=True)
class Upgraded:
    """What an upgrade did: the revision before (None: there was no schema) and after."""

    before: str | None
    after: str | None

    @property
    def what(self) -> str:
        """"created", "migrated" or "current" (nothing to do)."""
        return "created" if self.before is None else "current" if self.before == self.after else "migrated"

    def __str__(self) -> str:
        if self.what == "created":
            return f"created the schema at revision {self.after}"
        if self.what == "migrated":
            return f"migrated the schema from revision {self.before} to {self.after}"
        return f"nothing to do: the schema is at revision {self.after}"


def upgrade(engine: Engine, revision: str = "head") -> Upgraded:
    """Create or migrate the schema to `revision`, and say which of the two it did (or neither)."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Every instance runs `inbox db upgrade` as it starts: the second waits for the first
            # to commit, then finds the schema current, instead of creating the same tables twice.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK})
        before = _revision(connection)  # read under the lock: what this upgrade found
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return Upgraded(before, _revision(connection))


def _revision(connection: Connection) -> str | None:
    """The schema's revision (several heads joined by commas), None when there is no schema."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = sorted(row[0] for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    return ",".join(found) or None


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest revision (so commands can refuse an old schema)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            current: set[str] = set()
        else:
            current = {row[0] for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}
    return current == head_revisions()
