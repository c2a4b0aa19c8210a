"""The schema check reads the newest revision without Alembic, and agrees with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from inbox.store import migrate


def test_head_revisions_agree_with_alembic() -> None:
    """`head_revisions` (read from the scripts' lines) is Alembic's own set of heads."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert migrate.head_revisions() == set(scripts.get_heads())


def test_head_revisions_reads_quotes_none_and_branches(tmp_path: Path) -> None:
    """Either quote, a None parent and a merge's tuple of parents are all read."""
    (tmp_path / "a.py").write_text("revision = 'a'\ndown_revision = None\n")
    (tmp_path / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    (tmp_path / "c.py").write_text('revision: str = "c"\ndown_revision: str | None = "a"\n')
    assert migrate.head_revisions(tmp_path) == {"b", "c"}
    (tmp_path / "d.py").write_text('revision = "d"\ndown_revision = ("b", "c")\n')
    assert migrate.head_revisions(tmp_path) == {"d"}
