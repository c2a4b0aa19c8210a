"""Helpers of the hostile-input tests: store and process bytes, read back what they became."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.cli import main
from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from inbox.store.tables import Attachment, Event, OutboxRow, RawMessage, Ticket, TicketMessage


# --- reading back ------------------------------------------------------------------------------------------


def ingest(app: App, data: bytes) -> tuple[int, Outcome]:
    """Store the bytes as the files/IMAP paths do and run the real worker on them."""
    ref = app.rawstore.put(data, "test")
    return ref.id, process(app, ref.id)


def process(app: App, raw_id: int) -> Outcome:
    done = app.worker().run_batch([raw_id])
    assert [i for i, _ in done] == [raw_id], f"raw #{raw_id} was not processed: {done}"
    return done[0][1]


def raw_row(app: App, raw_id: int) -> RawMessage:
    with app.sessions() as session:
        return session.get(RawMessage, raw_id)


def nothing_pending(app: App) -> None:
    """Every raw row is processed: none waiting, claimed, failed or quarantined, none with an error."""
    with app.sessions() as session:
        states = session.execute(select(RawMessage.id, RawMessage.state, RawMessage.last_error)).all()
    assert states and all(state == "processed" and error is None for _, state, error in states), states


def the_ticket(app: App, raw_id: int) -> tuple[Ticket, TicketMessage]:
    """The one ticket the raw row made, and its one message."""
    with app.sessions() as session:
        raw = session.get(RawMessage, raw_id)
        assert raw.ticket_id is not None, (raw.outcome, raw.last_error)
        ticket = session.get(Ticket, raw.ticket_id)
        [message] = store.messages_of(session, ticket.id)
        session.expunge_all()
    assert message.raw_id == raw_id
    return ticket, message


def stored_text(app: App) -> list[str]:
    """Every text value of tickets, messages, attachments, events and outbox contexts, as stored."""
    values: list[str] = []
    with app.sessions() as session:
        for t in session.scalars(select(Ticket)):
            values += [t.subject, t.requester]
        for m in session.scalars(select(TicketMessage)):
            values += [m.subject, m.text, m.visible_text, m.from_addr, m.from_name, m.message_id,
                       m.in_reply_to or "", m.references or "", *m.to_addrs, *m.cc_addrs]
        values += list(session.scalars(select(Attachment.filename)))
        values += [json.dumps(d, ensure_ascii=False) for d in session.scalars(select(Event.detail))]
        values += [json.dumps(c, ensure_ascii=False) for c in session.scalars(select(OutboxRow.context))]
    return values


def readable(text: str) -> bool:
    """Text any terminal, file or database can take: no NUL, no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, _ = capsys.readouterr()
    return code, out


