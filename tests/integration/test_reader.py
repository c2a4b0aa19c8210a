"""The read-only connection `tickets list` and `tickets show` read with (inbox/store/reader.py), on
SQLite and PostgreSQL: it shows a ticket as the ORM models do, reads one snapshot, cannot write,
and reports a broken database in one line."""

from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import aliased
from sqlalchemy import text as sql

from inbox.cli import main
from inbox.clock import FixedClock
from inbox.domain.ticket_filter import Sorting, TicketFilter
from inbox.present import ticket_detail
from inbox.store import history, suppression, ticket_search, ticket_view
from inbox.store import tickets as store
from inbox.store.reader import ReadError, open_reader
from inbox.store.tables import (Attachment, Event, OutboxRow, Participant, Suppression, Ticket, TicketLink,
                                TicketMessage)
from tests.fakes import mail, write_config
from tests.sla_kit import T0, Desk


def _url(desk: Desk) -> str:
    return desk.app.engine.url.render_as_string(hide_password=False)


def _with_file(subject: str, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Alice <alice@acme.com>", "support@example.com", subject
    msg["Date"], msg["Message-ID"] = format_datetime(T0), message_id
    msg["Cc"] = "Bob <bob@acme.com>"
    msg.set_content("The log is attached.\n")
    msg.add_attachment(b"line one\nline two\n", maintype="text", subtype="plain", filename="server.log")
    msg.add_attachment(b"\x89PNG\r\n", maintype="image", subtype="png", filename="shot.png")
    return msg.as_bytes()


def _orm_detail(desk: Desk, tracking: str) -> dict:
    """What `tickets show` gave when it read the ORM models (the view is held to this)."""
    with desk.app.sessions() as session:
        ticket = store.ticket_by_tracking(session, tracking)
        assert ticket is not None
        messages = session.scalars(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
                                   .order_by(TicketMessage.id)).all()
        events = session.scalars(select(Event).where(Event.ticket_id == ticket.id).order_by(Event.id)).all()
        named = session.scalars(select(Participant.address).where(Participant.ticket_id == ticket.id)).all()
        addresses = sorted({a.lower() for a in (ticket.requester, *named) if a})
        suppressed = session.scalars(select(Suppression).where(Suppression.address.in_(addresses))
                                     .order_by(Suppression.address)).all()
        outbox = session.scalars(select(OutboxRow).where(OutboxRow.ticket_id == ticket.id).order_by(OutboxRow.id)).all()
        attachments = session.scalars(select(Attachment).where(Attachment.message_id.in_([m.id for m in messages]))
                                      .order_by(Attachment.message_id, Attachment.id)).all()
        linked = aliased(Ticket)
        links = session.scalars(select(linked.tracking).join(TicketLink, TicketLink.linked_ticket_id == linked.id)
                                .where(TicketLink.ticket_id == ticket.id).order_by(linked.number)).all()
        return ticket_detail(ticket, messages, events, links, suppressed=suppressed, outbox=outbox,
                             attachments=attachments)


def test_the_view_shows_a_ticket_as_the_models_do(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every field of `tickets show --json` (times, JSON columns, booleans, attachments, outbox,
    suppressions, links) is the same read through the reader as through the ORM models, times in
    UTC even where the database session's own time zone is not."""
    desk = Desk(tmp_path, db_url)
    try:
        desk.feed(_with_file("Server down", "<v1@acme.com>"))
        desk.feed(mail(subject="Other thing", message_id="<v2@acme.com>", body="See SUP-000001 too.\n"),
                  T0 + timedelta(minutes=3))
        desk.run(T0 + timedelta(minutes=5))
        desk.feed(mail(subject="Re: [SUP-000001] Server down", message_id="<v3@acme.com>", in_reply_to="<v1@acme.com>",
                       body="Still down.\n"), T0 + timedelta(hours=1, microseconds=250))
        with desk.app.sessions() as session, session.begin():
            first, second = (store.ticket_by_tracking(session, t) for t in ("SUP-000001", "SUP-000002"))
            assert first is not None and second is not None
            history.link_tickets(session, first.id, [second.id], "named in a mail")
            suppression.suppress(session, "bob@acme.com", "rejected: 550 no such user", T0 + timedelta(hours=2),
                                 first.id)
        monkeypatch.setenv("PGTZ", "Asia/Kolkata")  # libpq's session time zone: timestamptz come back +05:30
        reader = open_reader(_url(desk))
        try:
            view = ticket_view.read(reader, "sup-000001")
            assert view is not None and ticket_view.read(reader, "SUP-999999") is None
            shown = ticket_detail(view.ticket, view.messages, view.events, view.links,  # type: ignore[arg-type]
                                  suppressed=view.suppressed, outbox=view.outbox, attachments=view.attachments)
        finally:
            reader.close()
        assert json.dumps(shown) == json.dumps(_orm_detail(desk, "SUP-000001"))
        assert shown["links"] == ["SUP-000002"]
        assert [a["name"] for m in shown["messages"] for a in m["attachments"]] == ["server.log", "shot.png"]
        assert shown["suppressed"][0]["address"] == "bob@acme.com" and shown["outbox"]
        assert {type(m["internal"]) for m in shown["messages"]} == {bool}
        assert all(isinstance(m["to"], list) for m in shown["messages"])
    finally:
        desk.close()


def test_a_count_and_its_rows_read_one_snapshot(db_url: str, tmp_path: Path) -> None:
    """What another connection commits after the reader's first read is not seen by it: a total and
    the rows listed after it agree (SQLite's read transaction, PostgreSQL's REPEATABLE READ)."""
    desk = Desk(tmp_path, db_url)
    try:
        desk.feed(mail(message_id="<s1@acme.com>"))
        reader = open_reader(_url(desk))
        try:
            assert ticket_search.count(reader, TicketFilter()) == 1
            desk.feed(mail(subject="Second", message_id="<s2@acme.com>"), T0 + timedelta(minutes=1))
            with desk.app.engine.connect() as db:
                assert db.execute(sql("SELECT count(*) FROM tickets")).scalar_one() == 2
            assert ticket_search.count(reader, TicketFilter()) == 1
            assert [r[0] for r in ticket_search.rows(reader, TicketFilter(), Sorting(), ["low"], None)] == ["SUP-000001"]
        finally:
            reader.close()
    finally:
        desk.close()


def test_the_reader_cannot_write_by_any_statement(db_url: str, tmp_path: Path) -> None:
    """Not an UPDATE, a DELETE, a DROP nor a CREATE: each is refused as a ReadError, and the tickets
    are all still there afterwards. On SQLite not even after `PRAGMA query_only=OFF`: the file itself
    is open read-only. (On PostgreSQL a session may lift its own read-only setting; the reader only
    ever sends its own SELECTs, every value a person gives bound as a parameter.)"""
    desk = Desk(tmp_path, db_url)
    try:
        desk.feed(mail(message_id="<w1@acme.com>"))
        attempts = ["UPDATE tickets SET subject = 'x'", "DELETE FROM tickets", "DROP TABLE events",
                    "CREATE TABLE sneaky (id integer)"]
        if desk.app.engine.dialect.name == "sqlite":
            attempts.append("PRAGMA query_only=OFF")
        for statement in attempts:
            reader = open_reader(_url(desk))
            try:
                with pytest.raises(ReadError):
                    reader.all(statement)
                    reader.all("UPDATE tickets SET subject = 'x'")  # after a statement that got through, this must not
            finally:
                reader.close()
        with desk.app.engine.connect() as db:
            assert db.execute(sql("SELECT count(*) FROM tickets")).scalar_one() == 1
            assert db.execute(sql("SELECT subject FROM tickets")).scalar_one() == "Printer on fire"
    finally:
        desk.close()


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`tickets list` and `show` on a file that is not SQLite exit 1 with the driver's one line."""
    broken = tmp_path / "inbox.db"
    broken.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    config = str(write_config(tmp_path, f"sqlite:///{broken}"))
    for argv in (["tickets", "list"], ["tickets", "show", "SUP-000001"]):
        code = main(["--config", config, *argv], FixedClock(T0))
        out, err = capsys.readouterr()
        assert (code, out) == (1, "") and err.splitlines() == ["inbox: database error: file is not a database"], err
    assert broken.read_bytes().startswith(b"this is not a database")
