"""Finding tickets with `inbox tickets list` (issue 23): each filter, the checks on its values, search
(migration 0010's index, on both databases), limit, order and total."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy import text as sql

from inbox.cli import main
from inbox.clock import FixedClock
from inbox.store.db import make_engine
from inbox.store.migrate import alembic_config, upgrade
from inbox.store.ticket_search import SEARCH_COLUMN, SEARCH_INDEXES, SEARCH_TABLES
from tests.fakes import T0, mail, write_config

RULES = """\
rules:
  - {name: billing, when: {subject: [invoice]}, category: billing}
  - {name: access, when: {subject: [login]}, category: access}
"""
NOW = T0 + timedelta(days=10)  # when the commands run, unless told
# (sender, subject, body, days after T0): SUP-000001 .. SUP-000004
MAILS = [
    ("Alice <alice@acme.com>", "Printer on fire", "Our printer is on fire.\n", 0),
    ("Hank <hank@globex.test>", "Invoice wrong", "The invoice total is wrong; the kumquat line.\n", 1),
    ("Stranger <someone@elsewhere.test>", "Login fails", "I cannot log in since Tuesday.\n", 2),
    ("Bob <bob@acme.com>", "Export broken", "The export stops halfway, says zeppelin.\n", 3),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str, at: datetime = NOW) -> tuple[int, str, str]:
    code = main(list(argv), FixedClock(at))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Four tickets through the real pipeline, a day apart, then changed by hand as an engineer would."""
    path = str(write_config(tmp_path, db_url, extra=RULES))
    for i, (sender, subject, body, days) in enumerate(MAILS, start=1):
        (tmp_path / f"{i}.eml").write_bytes(mail(sender=sender, subject=subject, body=body,
                                                 message_id=f"<find{i}@test>", date=T0 + timedelta(days=days)))
        at = (T0 + timedelta(days=days)).isoformat()
        assert run(capsys, "--config", path, "ingest", str(tmp_path / f"{i}.eml"), "--received-at", at)[0] == 0
    later = T0 + timedelta(days=3, hours=1)
    assert run(capsys, "--config", path, "tickets", "set", "SUP-000002", "--severity", "critical",
               "--assign", "engineer@example.com", at=later)[0] == 0
    assert run(capsys, "--config", path, "tickets", "set", "SUP-000004", "--status", "solved", at=later)[0] == 0
    return path


def listed(capsys: pytest.CaptureFixture[str], config: str, *options: str) -> list[str]:
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json", *options)
    assert code == 0
    return [row["tracking"] for row in json.loads(out)]


@pytest.mark.parametrize(("options", "expected"), [
    ((), ["SUP-000001", "SUP-000002", "SUP-000003", "SUP-000004"]),
    (("--customer", "acme"), ["SUP-000001", "SUP-000004"]),
    (("--customer", "globex", "--customer", "none"), ["SUP-000002", "SUP-000003"]),
    (("--customer", "acme,globex"), ["SUP-000001", "SUP-000002", "SUP-000004"]),
    (("--assignee", "Engineer@Example.com"), ["SUP-000002"]),
    (("--assignee", "none"), ["SUP-000001", "SUP-000003", "SUP-000004"]),
    (("--category", "billing"), ["SUP-000002"]),
    (("--category", "access,none"), ["SUP-000001", "SUP-000003", "SUP-000004"]),
    (("--status", "solved"), ["SUP-000004"]),
    (("--status", "open", "--status", "closed"), ["SUP-000001", "SUP-000002", "SUP-000003"]),
    (("--severity", "critical"), ["SUP-000002"]),
    (("--severity", "low", "--customer", "acme"), ["SUP-000001", "SUP-000004"]),
    (("--open",), ["SUP-000001", "SUP-000002", "SUP-000003"]),
    (("--since", (T0 + timedelta(days=1)).isoformat()), ["SUP-000002", "SUP-000003", "SUP-000004"]),
    (("--until", (T0 + timedelta(days=2)).isoformat()), ["SUP-000001", "SUP-000002"]),
    (("--since", "2026-03-03T09:00:00-08:00", "--until", "2026-03-04T09:00:01-08:00"), ["SUP-000002", "SUP-000003"]),
    (("--search", "kumquat"), ["SUP-000002"]),  # a word only in a message's body
    (("--search", "PRINTER"), ["SUP-000001"]),  # any case
    (("--search", "export zeppelin"), ["SUP-000004"]),  # every word, subject and body of one message
    (("--search", "printer zeppelin"), []),  # every word, not any
    (("--search", "kumquat", "--status", "solved"), []),
])
def test_each_filter(config: str, capsys, options: tuple[str, ...], expected: list[str]) -> None:
    """Each filter keeps exactly the tickets it names; several values match any of them, several
    filters all of them."""
    assert listed(capsys, config, *options) == expected


def test_due_before_and_breached(config: str, capsys) -> None:
    """--due-before keeps open tickets with a target pending before the instant; --breached those
    that missed one, once the sweep has recorded it."""
    # SUP-000002 is critical: response in 4 business hours from its start (Tuesday 09:00 Los Angeles),
    # 13:00 there, 21:00 UTC. The low ones have 2 business days.
    assert listed(capsys, config, "--due-before", "2026-03-03T21:00:01Z") == ["SUP-000002"]
    assert listed(capsys, config, "--due-before", "2026-03-03T21:00:00Z") == []
    assert listed(capsys, config, "--breached") == []
    assert run(capsys, "--config", config, "jobs", "run-once", "--as-of", "2026-03-20T17:00:00Z")[0] == 0
    assert listed(capsys, config, "--breached", "--severity", "critical") == ["SUP-000002"]
    assert "SUP-000004" not in listed(capsys, config, "--breached")  # solved before any target passed


@pytest.mark.parametrize(("options", "line"), [
    (("--status", "bogus"),
     "inbox: --status: 'bogus' is not one of open, pending, waiting-on-customer, waiting-on-third-party, solved, closed"),
    (("--status", "open,none"),
     "inbox: --status: 'none' is not one of open, pending, waiting-on-customer, waiting-on-third-party, solved, closed"),
    (("--severity", "urgent"), "inbox: --severity: 'urgent' is not one of critical, high, medium, low"),
    (("--customer", "initech"), "inbox: --customer: 'initech' is not one of acme, globex, none"),
    (("--assignee", "boss@example.com"), "inbox: --assignee: 'boss@example.com' is not one of engineer@example.com, none"),
    (("--category", "sales"), "inbox: --category: 'sales' is not one of billing, access, none"),
    (("--since", "2026-03-04T00:00:00Z", "--until", "2026-03-03T00:00:00Z"),
     "inbox: --since: 2026-03-04T00:00:00+00:00 is not before --until 2026-03-03T00:00:00+00:00"),
])
def test_an_unknown_value_is_one_line_and_exit_2(config: str, capsys, options: tuple[str, ...], line: str) -> None:
    """A value the config does not know is a usage error: one line naming the option, the value and the
    choices, exit 2, nothing on stdout; with --json one `usage` document."""
    code, out, err = run(capsys, "--config", config, "tickets", "list", *options)
    assert (code, out, err.splitlines()) == (2, "", [line])
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json", *options)
    assert code == 2 and json.loads(out)["error"] == {"kind": "usage", "message": line.removeprefix("inbox: "),
                                                      "problems": []}


@pytest.mark.parametrize(("options", "message"), [
    (("--since", "yesterday"), "argument --since: 'yesterday' is not an ISO 8601 instant with an offset"),
    (("--limit", "-3"), "argument --limit: '-3' is not a whole number of 0 or more"),
    (("--order", "newest"), "argument --order: 'newest' is not one of opened, -opened"),
])
def test_a_malformed_option_is_argparses_two_lines(config: str, capsys, options: tuple[str, ...], message: str) -> None:
    """A value of the wrong shape is refused before the config is read, as argparse refuses any: usage, then one line."""
    code, out, err = run(capsys, "--config", config, "tickets", "list", *options)
    lines = err.splitlines()
    assert (code, out) == (2, "") and lines[0].startswith("usage: inbox tickets list")
    assert lines[-1].startswith(f"inbox tickets list: error: {message}")


def test_a_category_only_a_ticket_holds_is_accepted(config: str, capsys) -> None:
    """A category an engineer gave by hand (`#category hardware`, not in the config's rules) can still be listed."""
    engine = make_engine(_db_url(config))
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE tickets SET category = 'hardware' WHERE tracking = 'SUP-000001'")
    engine.dispose()
    assert listed(capsys, config, "--category", "hardware") == ["SUP-000001"]


def _db_url(config: str) -> str:
    from inbox.settings import database_url, load_settings

    return database_url(load_settings(config))


def test_limit_total_and_order(config: str, capsys) -> None:
    """--limit cuts the list and stderr says the total; --json without --limit gives every match
    (CONTRACT.md); --order sorts in the database, ties by tracking number."""
    _, out, err = run(capsys, "--config", config, "tickets", "list", "--json", "--limit", "2")
    assert [r["tracking"] for r in json.loads(out)] == ["SUP-000001", "SUP-000002"]
    assert err == "showing 2 of 4 tickets (--limit N shows more, --limit 0 all)\n"
    _, out, err = run(capsys, "--config", config, "tickets", "list", "--limit", "0")
    assert err == "4 tickets\n" and len(out.splitlines()) == 5  # the header and every ticket
    assert listed(capsys, config, "--order=-opened") == ["SUP-000004", "SUP-000003", "SUP-000002", "SUP-000001"]
    assert listed(capsys, config, "--order", "severity")[0] == "SUP-000002"
    assert listed(capsys, config, "--order=-severity")[-1] == "SUP-000002"
    # Due: the critical one first (hours), then the low ones by their 2-business-day response; the
    # solved one has nothing pending and comes last.
    assert listed(capsys, config, "--order", "due") == ["SUP-000002", "SUP-000001", "SUP-000003", "SUP-000004"]
    assert listed(capsys, config, "--order", "updated")[-1] == "SUP-000004"


def test_text_list_shows_times_in_the_tickets_time_zone(config: str, capsys) -> None:
    """The text table gives each ticket's opening time in its plan's calendar zone, to the minute."""
    _, out, _ = run(capsys, "--config", config, "tickets", "list", "--customer", "acme")
    header, first, second = out.splitlines()
    assert header.split() == ["TRACKING", "SEVERITY", "STATUS", "CUSTOMER", "ASSIGNEE", "OPENED", "SUBJECT"]
    assert first.startswith("SUP-000001") and "2026-03-02 09:00 PST" in first and first.endswith("Printer on fire")
    assert "2026-03-05 09:00 PST" in second


OPERATORS = [
    ('"', False), ('kumquat"', True), ('"kumquat', True), ('kumquat OR "x', False), ("NEAR(kumquat", False),
    ("NEAR(kumquat)", False), ("kumquat*", True), ("kumquat:*", True), ("-kumquat", True), ("^kumquat", True),
    ("{kumquat}", True), ("kumquat AND", False), ("kumquat & !total", True), ("kumquat <-> total", True),
    ("a'b", False), ("\\", False), ("!!!", False), ("", False), ("kumquat " * 100, True),
    ("total:kumquat", True), ("wrong; DROP TABLE tickets; --", False), ("\x00kumquat\x1b", True), ("\x1b[31mkumquat", False),
    # the drivers' own placeholders: the text is a bound value, never part of the SQL
    ("%s", False), ("?", False), ("kumquat?", True), ("kumquat %", True), ("%(search)s kumquat", False),
    (":search", False), ("kumquat') OR 1=1 --", False),
]


def test_search_reads_words_never_operators(config: str, capsys) -> None:
    """Quotes, FTS5 and tsquery operators, column filters, NUL and control characters are plain
    text: the search never fails, and finds the ticket when each of its words is there (and only then)."""
    for text, found in OPERATORS:
        code, out, err = run(capsys, "--config", config, "tickets", "list", "--json", f"--search={text}")
        assert code == 0, (text, err)
        assert [r["tracking"] for r in json.loads(out)] == (["SUP-000002"] if found else []), text
    assert listed(capsys, config, "--search", "kumquat") == ["SUP-000002"]  # the tables are all still there


def test_search_finds_a_reply_as_soon_as_it_is_stored(config: str, tmp_path: Path, capsys) -> None:
    """A reply's words are searchable once it is ingested: the index is kept by the database (triggers
    on SQLite, an expression index on PostgreSQL), whatever path wrote the message."""
    assert listed(capsys, config, "--search", "walrus") == []
    (tmp_path / "reply.eml").write_bytes(mail(subject="Re: [SUP-000001] Printer on fire", message_id="<r1@acme.com>",
                                              in_reply_to="<find1@test>", body="Now the walrus is on fire too.\n",
                                              date=T0 + timedelta(days=5)))
    assert run(capsys, "--config", config, "ingest", str(tmp_path / "reply.eml"))[0] == 0
    assert listed(capsys, config, "--search", "walrus") == ["SUP-000001"]


def test_the_migration_indexes_tickets_already_there(config: str, capsys) -> None:
    """Migration 0010's downgrade drops the index and keeps the tickets; its upgrade indexes every
    ticket and message already stored."""
    url = _db_url(config)
    engine = make_engine(url)
    alembic = alembic_config(url)
    try:
        with engine.begin() as conn:
            alembic.attributes["connection"] = conn
            command.downgrade(alembic, "0009")
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            indexes = {i["name"] for t in ("tickets", "ticket_messages") for i in inspect(conn).get_indexes(t)}
            columns = {c["name"] for t in ("tickets", "ticket_messages") for c in inspect(conn).get_columns(t)}
        assert not names & set(SEARCH_TABLES) and not indexes & set(SEARCH_INDEXES) and SEARCH_COLUMN not in columns
        upgrade(engine)
    finally:
        engine.dispose()
    assert listed(capsys, config, "--search", "kumquat") == ["SUP-000002"]
    assert listed(capsys, config, "--search", "printer") == ["SUP-000001"]


HOSTILE_SUBJECTS = ['say "hi" \\ back', "tab\there\x01\x1f and \x7f", "line\u2028sep\u2029 \u00e9\u00e8 \U0001f525",
                    "</script><b>&amp;", ""]


def test_json_list_gives_each_ticket_as_show_does(config: str, capsys) -> None:
    """`tickets list --json` has the database write each object (json_object, row_to_json): every
    field of every ticket still equals what `tickets show --json` (Python's json) gives, for subjects
    with quotes, backslashes, control and separator characters, flags set and times with and without
    microseconds."""
    engine = make_engine(_db_url(config))
    with engine.begin() as db:
        for number, subject in enumerate(HOSTILE_SUBJECTS[:4], start=1):
            db.execute(sql("UPDATE tickets SET subject = :s WHERE number = :n"), {"s": subject, "n": number})
        db.execute(sql("UPDATE tickets SET flags = :f WHERE number = 2"), {"f": json.dumps(["vip", "quoted \"flag\""])})
    created = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=T0.tzinfo)
    with engine.begin() as db:
        db.execute(sql("UPDATE tickets SET created_at = :at WHERE number = 3"),
                   {"at": created if engine.dialect.name == "postgresql" else created.strftime("%Y-%m-%d %H:%M:%S.%f")})
    engine.dispose()
    code, out, _ = run(capsys, "--config", config, "tickets", "list", "--json")
    assert code == 0
    listed_rows = json.loads(out)
    assert [r["tracking"] for r in listed_rows] == ["SUP-000001", "SUP-000002", "SUP-000003", "SUP-000004"]
    for row in listed_rows:
        code, shown, _ = run(capsys, "--config", config, "tickets", "show", row["tracking"], "--json")
        detail = json.loads(shown)
        assert list(row) == ["tracking", "subject", "customer", "severity", "status", "assignee", "created_at",
                             "flags", "category"]
        assert row == {key: detail[key] for key in row}, row["tracking"]
    assert [r["subject"] for r in listed_rows[:3]] == HOSTILE_SUBJECTS[:3]
    assert listed_rows[1]["flags"] == ["vip", 'quoted "flag"'] and listed_rows[1]["assignee"] == "engineer@example.com"
    assert listed_rows[2]["created_at"] == "2026-03-04T05:06:07.891000+00:00"


def test_listing_and_showing_neither_wait_for_a_writer_nor_can_write(config: str, capsys) -> None:
    """`tickets list` and `tickets show` read beside a writer that holds its transaction open (an
    ingest batch): they answer at once with what has committed, never queueing for the write lock
    (SQLite's BEGIN IMMEDIATE and our WriteLock would have held them until the writer ended). Their
    reader cannot write: SQLite's read-only file and query_only, PostgreSQL's read-only transactions."""
    from concurrent.futures import ThreadPoolExecutor

    from inbox.store.reader import ReadError, open_reader

    url = _db_url(config)
    writer = make_engine(url)
    with ThreadPoolExecutor(1) as pool, writer.begin() as db:  # a timeout ends the writer first, then the pool
        db.execute(sql("UPDATE tickets SET subject = 'not yet committed' WHERE number = 1"))
        listed_now = pool.submit(run, capsys, "--config", config, "tickets", "list", "--json").result(timeout=20)
        shown_now = pool.submit(run, capsys, "--config", config, "tickets", "show", "SUP-000001", "--json").result(timeout=20)
    writer.dispose()
    assert listed_now[0] == 0 and json.loads(listed_now[1])[0]["subject"] == "Printer on fire"
    assert shown_now[0] == 0 and json.loads(shown_now[1])["subject"] == "Printer on fire"
    reader = open_reader(url)
    with pytest.raises(ReadError, match="(?i)read.only|readonly|query_only"):
        reader.all("UPDATE tickets SET subject = 'written by a reader' WHERE number = 1")
    reader.close()
    assert listed(capsys, config, "--search", "Printer") == ["SUP-000001"]
