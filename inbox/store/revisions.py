"""Which schema revision the code wants and which one a database holds, without Alembic or SQLAlchemy.

Every command asks first whether the schema is current (`migrate.is_current` for the service's
engines, `is_current` here for a `Reader`); the newest revisions are read from the migration
scripts' own lines, so no command but `db upgrade` pays for importing Alembic.
"""

from __future__ import annotations

import re
from pathlib import Path

from inbox.store.reader import Reader

__all__ = ["MIGRATIONS", "VERSION_TABLE", "head_revisions", "is_current"]

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
# `revision = "0009"` and `down_revision = "0008"` (or None), as `alembic revision` writes them.
_REVISION_LINE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$""", re.MULTILINE)
_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")


def head_revisions(versions: Path = MIGRATIONS / "versions") -> set[str]:
    """The revisions no other migration script builds on, read from the scripts' own lines
    (the same answer as Alembic's ScriptDirectory.get_heads(), which a test holds it to)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            found = set(_QUOTED.findall(value))
            (revisions if name == "revision" else parents).update(found)
    return revisions - parents


def is_current(reader: Reader) -> bool:
    """Whether the database `reader` reads is at the newest revision."""
    m = reader.mark
    exists = (f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = {m}" if reader.dialect == "sqlite" else
              f"SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = {m}")
    if not reader.all(exists, [VERSION_TABLE]):
        return False
    return {v for v, in reader.all(f"SELECT version_num FROM {VERSION_TABLE}")} == head_revisions()
