"""`inbox backup --to DIR` and `inbox restore FILE` (CONTRACT.md), on both databases."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, select, text

from inbox.cli import main
from inbox.clock import Clock, FixedClock
from inbox.store import backup as backups
from inbox.store.db import make_engine
from inbox.store.migrate import upgrade
from inbox.store.retention import decide
from inbox.store.tables import Base
from tests.conftest import scratch_pg
from tests.fakes import T0, mail, write_config

NOW = datetime(2026, 3, 15, 2, 0, tzinfo=timezone.utc)


def run(capsys: pytest.CaptureFixture[str], *argv: str, clock: Clock | None = None) -> tuple[int, str, str]:
    code = main(list(argv), clock)
    out, err = capsys.readouterr()
    return code, out, err


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@pytest.fixture
def new_database(db_url: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes brand new databases of db_url's kind, without a schema: new SQLite paths, or new PostgreSQL
    databases (dropped at the end)."""
    with scratch_pg("inbox_restore") as scratch:
        def make() -> str:
            if is_sqlite(db_url):
                return f"sqlite:///{tmp_path}/inbox_restore_{uuid.uuid4().hex[:10]}/inbox.db"
            return scratch.new()

        yield make


@pytest.fixture
def fresh_url(new_database: Callable[[], str]) -> str:
    return new_database()


def config_for(url: str, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    return str(write_config(directory, url))


def fill(capsys: pytest.CaptureFixture[str], config: str, tmp_path: Path) -> None:
    """Real tickets through the CLI: two opened, a reply appended, an auto-reply, changes, sent acknowledgements."""
    mails = {
        "a.eml": mail(),
        "b.eml": mail(message_id="<m2@acme.com>", subject="Re: SUP-000001", in_reply_to="<m1@acme.com>",
                      body="It is still burning.\n"),
        "c.eml": mail(sender="hank@globex.test", message_id="<g1@globex.test>", subject="VPN down"),
        "d.eml": mail(message_id="<m3@acme.com>", subject="Out of Office", headers={"Auto-Submitted": "auto-replied"}),
    }
    for name, data in mails.items():
        (tmp_path / name).write_bytes(data)
    code, out, _ = run(capsys, "--config", config, "ingest", "--json", "--received-at", T0.isoformat(),
                       *(str(tmp_path / name) for name in mails))
    assert code == 0 and json.loads(out)["opened"] == 2 and json.loads(out)["appended"] == 1
    assert run(capsys, "--config", config, "tickets", "set", "SUP-000001", "--severity", "high", "--status", "pending",
               "--note", "called them", "--assign", "engineer@example.com")[0] == 0
    assert run(capsys, "--config", config, "jobs", "run-once", "--as-of", (T0 + timedelta(hours=1)).isoformat())[0] == 0


def every_row(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (and the schema revision), in primary-key order, read through the models."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = {table.name: [dict(row._mapping) for row in conn.execute(select(table).order_by(*table.primary_key))]
                    for table in Base.metadata.sorted_tables}
            rows["alembic_version"] = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM alembic_version"))]
    finally:
        engine.dispose()
    return rows


def test_backup_then_restore_into_an_empty_database_is_exact(db_url: str, fresh_url: str, tmp_path: Path,
                                                             capsys) -> None:
    """Tickets, messages, events, raw mail, outbox and counters come back row for row into a database
    without a schema; the backup directory is made; the next ticket continues the tracking numbers."""
    source = config_for(db_url, tmp_path / "source")
    fill(capsys, source, tmp_path)
    before = every_row(db_url)
    assert all(before[name] for name in ("tickets", "ticket_messages", "events", "raw_messages", "outbox", "counters"))
    assert [row["state"] for row in before["outbox"]].count("sent") >= 2

    directory = tmp_path / "not" / "yet" / "there"
    code, out, _ = run(capsys, "--config", source, "backup", "--to", str(directory), "--json")
    document = json.loads(out)
    backup = Path(document["file"])
    suffix = "sqlite3" if is_sqlite(db_url) else "pgdump"
    assert code == 0 and backup.parent == directory and backups.NAME.fullmatch(backup.name)[2] == suffix
    assert document["bytes"] == backup.stat().st_size > 0
    assert (document["kept"], document["deleted"]) == ([str(backup)], [])
    assert sorted(os.listdir(directory)) == [backup.name]  # no temporary file, no -wal beside it
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600

    target = config_for(fresh_url, tmp_path / "target")
    code, out, err = run(capsys, "--config", target, "restore", str(backup), "--json")
    assert code == 0, err
    assert json.loads(out) == {"restored": str(backup), "tickets": 2, "messages": len(before["ticket_messages"]),
                               "events": len(before["events"]), "upgrade_needed": False}
    assert every_row(fresh_url) == before

    (tmp_path / "e.eml").write_bytes(mail(sender="bob@acme.com", message_id="<m9@acme.com>", subject="New one"))
    assert run(capsys, "--config", target, "ingest", str(tmp_path / "e.eml"))[0] == 0
    code, out, _ = run(capsys, "--config", target, "tickets", "show", "SUP-000003", "--json")
    assert code == 0 and json.loads(out)["subject"] == "New one"


def test_restore_refuses_a_database_with_mail_unless_replace(db_url: str, tmp_path: Path, capsys) -> None:
    """Without --replace a database holding tickets is left alone (exit 2, the reason names --replace);
    with it the database becomes the backup again."""
    config = config_for(db_url, tmp_path / "db")
    fill(capsys, config, tmp_path)
    before = every_row(db_url)
    code, out, _ = run(capsys, "--config", config, "backup", "--to", str(tmp_path / "backups"))
    backup = out.strip()
    (tmp_path / "later.eml").write_bytes(mail(sender="bob@acme.com", message_id="<later@acme.com>", subject="Later"))
    run(capsys, "--config", config, "ingest", str(tmp_path / "later.eml"))
    changed = every_row(db_url)

    code, out, err = run(capsys, "--config", config, "restore", backup, "--json")
    assert code == 2 and json.loads(out)["error"]["kind"] == "usage"
    assert "already holds 3 tickets and 5 raw messages" in err and "--replace" in err
    assert every_row(db_url) == changed

    code, _, err = run(capsys, "--config", config, "restore", backup, "--replace")
    assert code == 0 and "restored" in err and every_row(db_url) == before


def test_retention_deletes_old_backups_and_nothing_else(db_url: str, tmp_path: Path, capsys) -> None:
    """A directory of two years of daily backups keeps 30 days, the first of two more months and of three
    years (34 with the new one); other files, the other kind and lookalike names are left alone."""
    config = config_for(db_url, tmp_path / "db")
    kind = "sqlite3" if is_sqlite(db_url) else "pgdump"
    other = "pgdump" if kind == "sqlite3" else "sqlite3"
    directory = tmp_path / "backups"
    directory.mkdir()
    old = [NOW - timedelta(days=n) for n in range(1, 731)]  # 2024-03-15 .. yesterday
    for stamp in old:
        (directory / f"inbox-{stamp:%Y%m%dT%H%M%SZ}.{kind}").write_bytes(b"old")
    bystanders = ["notes.txt", f"inbox-20200101T020000Z.{other}", f"inbox-20200101T020000Z.{kind}.bak",
                  f"inbox-20200101T0200Z.{kind}", f"inbox-20201399T020000Z.{kind}",
                  f".inbox-20200101T020000Z.{kind}.x.part"]
    for name in bystanders:
        (directory / name).write_text("not ours")

    code, out, _ = run(capsys, "--config", config, "backup", "--to", str(directory), "--json", clock=FixedClock(NOW))
    document = json.loads(out)
    kept = [datetime.strptime(Path(p).name[6:22], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            for p in document["kept"]]
    assert code == 0 and len(kept) == 34 and len(document["deleted"]) == len(old) + 1 - 34
    assert kept == decide([*old, NOW], NOW).keep
    assert {datetime(2024, 3, 15, 2, tzinfo=timezone.utc), datetime(2025, 1, 1, 2, tzinfo=timezone.utc),
            datetime(2026, 1, 1, 2, tzinfo=timezone.utc), datetime(2026, 2, 1, 2, tzinfo=timezone.utc)} < set(kept)
    assert sorted(os.listdir(directory)) == sorted([*bystanders, *(Path(p).name for p in document["kept"])])


def test_a_killed_backups_temporary_file_goes_after_a_day(db_url: str, tmp_path: Path, capsys) -> None:
    """A backup SIGKILLed mid-write leaves its .part file: the next backup deletes it once it is a day
    old, and leaves a fresh one (another backup may be writing it) and the other kind's."""
    config = config_for(db_url, tmp_path / "db")
    kind = "sqlite3" if is_sqlite(db_url) else "pgdump"
    other = "pgdump" if kind == "sqlite3" else "sqlite3"
    directory = tmp_path / "backups"
    directory.mkdir()
    killed, writing = directory / f".inbox-20261201T020000Z.{kind}.ab12.part", directory / f".inbox-20261205T020000Z.{kind}.cd34.part"
    theirs = directory / f".inbox-20261201T020000Z.{other}.ef56.part"
    for path in (killed, writing, theirs):
        path.write_bytes(b"half a backup")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (killed, theirs):
        os.utime(path, (two_days_ago, two_days_ago))

    code, out, _ = run(capsys, "--config", config, "backup", "--to", str(directory), "--json")
    assert code == 0 and str(killed) in json.loads(out)["deleted"]
    assert not killed.exists() and writing.exists() and theirs.exists()


def test_a_backup_of_the_other_kind_is_refused(db_url: str, tmp_path: Path, capsys) -> None:
    """A .sqlite3 backup into PostgreSQL (or a pg_dump archive into SQLite) is refused before anything changes."""
    config = config_for(db_url, tmp_path / "db")
    if is_sqlite(db_url):
        foreign = tmp_path / "inbox-20260101T000000Z.pgdump"
        foreign.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
        message = "is a PostgreSQL backup and the database is SQLite"
    else:
        engine = make_engine(f"sqlite:///{tmp_path}/other.db")
        upgrade(engine)
        engine.dispose()
        foreign = backups.backup(engine, tmp_path / "other", NOW).path
        message = "is a SQLite backup and the database is PostgreSQL"
    code, _, err = run(capsys, "--config", config, "restore", str(foreign))
    assert code == 2 and message in err
    (tmp_path / "junk.sqlite3").write_text("hello")
    code, _, err = run(capsys, "--config", config, "restore", str(tmp_path / "junk.sqlite3"))
    assert code == 2 and "not a backup made by `inbox backup`" in err
    code, _, err = run(capsys, "--config", config, "restore", str(tmp_path / "missing.sqlite3"))
    assert code == 2 and "No such file" in err


def test_an_older_schema_is_restored_and_reported(new_database: Callable[[], str], tmp_path: Path,
                                                  capsys) -> None:
    """A backup made at an older revision restores over an empty current schema (its newer tables go too);
    the output says to run `inbox db upgrade`, and after it the database works."""
    old_url, target_url = new_database(), new_database()
    for url, revision in ((old_url, "0004"), (target_url, "head")):
        engine = make_engine(url)
        upgrade(engine, revision)
        engine.dispose()
    old = config_for(old_url, tmp_path / "old")
    code, out, _ = run(capsys, "--config", old, "backup", "--to", str(tmp_path / "backups"))  # allowed on an old schema
    assert code == 0
    config = config_for(target_url, tmp_path / "db")
    code, out, err = run(capsys, "--config", config, "restore", out.strip(), "--json")
    assert code == 0 and json.loads(out)["upgrade_needed"] is True and "run `inbox db upgrade`" in err
    assert every_row_count(target_url, "alembic_version") == [("0004",)]
    assert run(capsys, "--config", config, "tickets", "list")[0] == 2
    assert run(capsys, "--config", config, "db", "upgrade")[0] == 0
    assert run(capsys, "--config", config, "tickets", "list", "--json")[:2] == (0, "[]\n")


def every_row_count(url: str, table: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


def test_missing_or_failing_pg_dump_is_a_clear_error(pg_url: str, tmp_path: Path, capsys, monkeypatch) -> None:
    """No pg_dump on PATH, or one that fails half way, exits 1 with one line and leaves no file behind."""
    config = config_for(pg_url, tmp_path / "db")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    # The test's clock, not $INBOX_TEST_CLOCK, whose warning would be a second line on stderr.
    code, out, err = run(capsys, "--config", config, "backup", "--to", str(tmp_path / "b1"), "--json", clock=FixedClock(NOW))
    assert code == 1 and json.loads(out)["error"]["kind"] == "database"
    assert err.strip().splitlines() == ["inbox: backup failed: pg_dump is not on PATH: install the PostgreSQL "
                                        "client tools (the server's major version or newer)"]
    assert os.listdir(tmp_path / "b1") == []

    fake = empty / "pg_dump"  # writes half an archive to its --file, then fails as a lost connection does
    fake.write_text('#!/bin/sh\nfor a; do case "$a" in --file=*) printf PGDMP-half > "${a#--file=}";; esac; done\n'
                    'echo "pg_dump: error: query failed: server closed the connection unexpectedly" >&2\nexit 1\n')
    fake.chmod(0o755)
    code, _, err = run(capsys, "--config", config, "backup", "--to", str(tmp_path / "b2"))
    assert code == 1 and "pg_dump failed (exit 1): pg_dump: error: query failed: server closed" in err
    assert os.listdir(tmp_path / "b2") == []


def test_a_sqlite_backup_taken_while_a_writer_commits_is_consistent(tmp_path: Path) -> None:
    """Each backup taken while another connection commits is a snapshot: a counter and the rows it counts,
    written in one transaction, always agree in the copy."""
    url = f"sqlite:///{tmp_path}/live.db"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO counters (name, value) VALUES ('writes', 0)"))
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO service_state (key, value) VALUES (:k, :v)"),
                             {"k": f"k{n}", "v": "x" * 500})
                conn.execute(text("UPDATE counters SET value = :n WHERE name = 'writes'"), {"n": n})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        # One directory each, so retention deletes none of them.
        results = [backups.backup(engine, tmp_path / f"b{i}", NOW) for i in range(15)]
    finally:
        stop.set()
        thread.join()
    engine.dispose()
    seen = []
    for result in results:
        copy = create_engine(f"sqlite:///{result.path}")
        with copy.connect() as conn:
            written = conn.execute(text("SELECT value FROM counters WHERE name = 'writes'")).scalar_one()
            rows = conn.execute(text("SELECT count(*) FROM service_state")).scalar_one()
        copy.dispose()
        assert written == rows
        seen.append(rows)
    assert seen == sorted(seen) and seen[-1] > 0
