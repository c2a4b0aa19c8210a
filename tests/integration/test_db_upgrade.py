"""`inbox db upgrade` says what it did: created the schema, migrated it from one revision to
another, or nothing to do. On a new SQLite file and a new PostgreSQL database (no schema)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from inbox.cli import main
from inbox.clock import FixedClock
from inbox.store.db import make_engine
from inbox.store.migrate import head_revisions, upgrade
from tests.fakes import T0, write_config

[HEAD] = head_revisions()
OLDER = "0007"  # any revision before the head


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without a schema: a SQLite file not yet made, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
    else:
        yield request.getfixturevalue("empty_pg")


def _upgrade(capsys: pytest.CaptureFixture[str], config: Path, *more: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), "db", "upgrade", *more], FixedClock(T0))
    out, err = capsys.readouterr()
    return code, out, err.strip()


def test_db_upgrade_says_created_then_nothing_to_do(fresh_url: str, tmp_path: Path, capsys) -> None:
    """On no schema: "created the schema at revision HEAD"; run again: "nothing to do"."""
    config = write_config(tmp_path, fresh_url)
    assert _upgrade(capsys, config) == (0, "", f"created the schema at revision {HEAD}")
    assert _upgrade(capsys, config) == (0, "", f"nothing to do: the schema is at revision {HEAD}")


def test_db_upgrade_says_from_which_revision_it_migrated(fresh_url: str, tmp_path: Path, capsys) -> None:
    """On an older schema: "migrated the schema from revision OLDER to HEAD", and --json says the same."""
    engine = make_engine(fresh_url)
    try:
        assert str(upgrade(engine, OLDER)) == f"created the schema at revision {OLDER}"
    finally:
        engine.dispose()
    config = write_config(tmp_path, fresh_url)
    code, out, err = _upgrade(capsys, config, "--json")
    assert code == 0 and err == f"migrated the schema from revision {OLDER} to {HEAD}"
    assert json.loads(out) == {"schema": "migrated", "from": OLDER, "revision": HEAD}
    code, out, _ = _upgrade(capsys, config, "--json")
    assert json.loads(out) == {"schema": "up to date", "from": HEAD, "revision": HEAD}
