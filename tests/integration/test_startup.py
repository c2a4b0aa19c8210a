"""What an instance does as it starts: where its database URL comes from, how many parsers it
runs, and several instances migrating one empty PostgreSQL database at the same moment."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from inbox.app import MAX_PARSERS, parser_processes
from inbox.cli import main
from inbox.clock import FixedClock
from inbox.store.db import make_engine
from inbox.store.migrate import is_current, upgrade
from tests.fakes import T0, write_config

INSTANCES = 4


@pytest.mark.parametrize(("cores", "parsers"), [(None, 0), (1, 0), (2, 1), (4, 3), (9, 8), (64, MAX_PARSERS)])
def test_one_parser_per_core_but_one(cores: int | None, parsers: int) -> None:
    assert parser_processes(cores) == parsers


def _config_with_url_env(tmp_path: Path) -> Path:
    config = write_config(tmp_path, "sqlite:///never-used.db")
    config.write_text(config.read_text().replace('database: {url: "sqlite:///never-used.db"}',
                                                  "database: {url_env: INBOX_TEST_DATABASE_URL}"))
    return config


def test_the_database_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = _config_with_url_env(tmp_path)
    monkeypatch.setenv("INBOX_TEST_DATABASE_URL", f"sqlite:///{tmp_path}/from-env.db")
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert (tmp_path / "from-env.db").stat().st_size > 0
    assert not (Path.cwd() / "never-used.db").exists()


@pytest.mark.parametrize(("value", "reason"), [(None, "environment variable INBOX_TEST_DATABASE_URL is not set"),
                                               ("mysql://db/inbox", "INBOX_TEST_DATABASE_URL does not hold a sqlite:// or postgresql:// URL")])
def test_a_missing_or_odd_database_url_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], value: str | None,
                                                         reason: str) -> None:
    config = _config_with_url_env(tmp_path)
    if value is None:
        monkeypatch.delenv("INBOX_TEST_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("INBOX_TEST_DATABASE_URL", value)
    # The test's clock, not $INBOX_TEST_CLOCK, whose warning would be a second line on stderr.
    assert main(["--config", str(config), "tickets", "list"], FixedClock(T0)) == 2
    assert capsys.readouterr().err.strip() == f"{config}: database.url_env: {reason}"


def test_instances_starting_together_migrate_an_empty_database_once(empty_pg: str) -> None:
    """Every instance runs `inbox db upgrade` as it starts; on one empty PostgreSQL database they
    must not create the same tables twice (without the advisory lock they block each other)."""
    url = empty_pg
    errors: list[BaseException] = []
    start = threading.Barrier(INSTANCES)

    def instance() -> None:
        engine = make_engine(url)
        try:
            start.wait()
            upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=instance, daemon=True) for _ in range(INSTANCES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "the upgrades blocked each other"
    assert errors == []
    engine = make_engine(url)
    assert is_current(engine)
    engine.dispose()
