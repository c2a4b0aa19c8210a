"""What the search index holds: tickets' subjects and the mail that came in, never our own emails
(migration 0010: the sender writes each in a transaction of its own, and indexing them held
SQLite's write lock through a storm); and the SQLite index stays sound when messages go."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from inbox.domain.ticket_filter import TicketFilter
from inbox.store import ticket_search
from inbox.store.reader import open_reader
from tests.fakes import mail
from tests.sla_kit import T0, Desk


def _found(desk: Desk, words: str) -> int:
    reader = open_reader(desk.app.engine.url.render_as_string(hide_password=False))
    try:
        return ticket_search.count(reader, TicketFilter(search=words))
    finally:
        reader.close()


def test_search_finds_the_mail_that_came_in_and_never_our_own_emails(db_url: str, tmp_path: Path) -> None:
    desk = Desk(tmp_path, db_url)
    try:
        desk.feed(mail(subject="Printer on fire", body="The toner smells of marzipan.\n"))
        assert desk.app.outbound(desk.transport).run_once(T0 + timedelta(seconds=5))["sent"] >= 1
        [ack] = [m for m in desk.sent() if "Printer on fire" in str(m["Subject"])]
        ours = "contacting"  # in the acknowledgement's text, in no mail that came in
        assert ours in ack.get_body(("plain",)).get_content()
        assert _found(desk, "marzipan") == 1 and _found(desk, "printer") == 1
        assert _found(desk, ours) == 0
        if db_url.startswith("sqlite"):
            with desk.app.engine.begin() as conn:
                conn.execute(text("DELETE FROM ticket_messages WHERE direction = 'out'"))
                # FTS5 checks its index against the table: a 'delete' of a row it never held would fail it.
                conn.execute(text("INSERT INTO ticket_messages_fts (ticket_messages_fts) VALUES ('integrity-check')"))
            assert _found(desk, "marzipan") == 1
    finally:
        desk.close()
