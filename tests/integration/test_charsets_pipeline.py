"""Issue 22's charset classes through the ingest pipeline: the ticket's subject, the message's
text and its attachments' names are stored as the writer meant, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from inbox.app import App
from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from inbox.store.tables import Attachment
from tests.fakes import make_app, make_settings
from tests.unit import charset_mails as cm


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


@pytest.mark.parametrize("mail", cm.ALL, ids=[m.name for m in cm.ALL])
def test_stored_ticket_reads_as_written(app: App, mail: cm.CharsetMail) -> None:
    """Each charset class opens a ticket whose subject, text and file names are the writer's."""
    ref = app.rawstore.put(mail.raw, "test")
    [(_ref, outcome)] = app.worker().run_batch([ref.id])
    assert outcome is Outcome.OPENED
    with app.sessions() as session:
        [ticket] = store.list_tickets(session)
        [message] = store.messages_of(session, ticket.id)
        names = session.execute(select(Attachment.filename).where(Attachment.message_id == message.id)
                                .order_by(Attachment.id)).scalars().all()
        assert ticket.subject == mail.subject
        assert message.subject == mail.subject
        assert message.text.strip() == mail.text
        assert tuple(names) == mail.filenames
