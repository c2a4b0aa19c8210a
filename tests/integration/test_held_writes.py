"""An ingest batch that holds its writes to its end (inbox.store.deferred) leaves the database as
ingesting its mails one by one, writing at once, does; and what it holds is read back within it."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.exc import IntegrityError

from inbox.domain.ticket import Outcome
from inbox.ingest.pipeline import IngestContext, ingest_one
from inbox.store import deferred, rawqueue, suppression
from inbox.store.db import make_engine
from inbox.store.migrate import upgrade
from inbox.store.tables import Base, Counter
from tests.fakes import T0, mail, make_app, make_settings


def _with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alice@acme.com", "support@example.com", "Logs attached"
    msg["Message-ID"] = "<a4@acme.com>"
    msg.set_content("The logs.\n")
    msg.add_attachment(b"\x00" * 500, maintype="application", subtype="octet-stream", filename="log.bin")
    return msg.as_bytes()


MAILS = [
    mail(message_id="<a1@acme.com>", headers={"Cc": "carol@acme.com"}),
    mail(sender="bob@acme.com", subject="Re: Printer on fire", message_id="<b2@acme.com>", in_reply_to="<a1@acme.com>",
         body="Still burning.\n"),
    mail(message_id="<a1@acme.com>", body="The same mail, sent again.\n"),  # a duplicate in the same batch
    _with_attachment(),
    mail(sender="eve@elsewhere.test", subject="Re: Printer on fire", message_id="<e5@elsewhere.test>",
         in_reply_to="<a1@acme.com>", body="Not yours to join.\n"),
    mail(sender="carol@acme.com", subject="Please escalate the printer", message_id="<c6@acme.com>",
         in_reply_to="<b2@acme.com>", body="please escalate this\n"),
    mail(sender="dave@acme.com", subject="Another thing", message_id="<d7@acme.com>"),
]


def _fresh(db_url: str, tmp_path: Path, name: str) -> str:
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/{name}.db"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    engine = create_engine(db_url)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "counters")
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE counters SET value = 0"))
    engine.dispose()
    return db_url


def _ingest(db_url: str, tmp_path: Path, *, held: bool) -> dict[str, Any]:
    app = make_app(make_settings(tmp_path, db_url))
    try:
        with app.sessions() as session, session.begin():
            suppression.suppress(session, "carol@acme.com", "bounced before", T0, None)
        ids = [app.rawstore.put(data, "test").id for data in MAILS]
        if held:
            worker = app.worker()
            assert worker.drain(ids)[Outcome.DUPLICATE] == 1
            worker.close()
        else:
            ctx = IngestContext(app.current_desk().get())
            for raw_id in ids:
                with app.sessions() as session, session.begin():
                    assert deferred.held(session) is None
                    [raw] = rawqueue.claim(session, T0, 1, [raw_id])
                    result = ingest_one(session, raw, ctx)
                    rawqueue.finish(session, raw.id, outcome=result.outcome.value, ticket_id=result.ticket_id,
                                    message_id=result.message_id, now=T0)
        return _shape(app)
    finally:
        app.close()


QUERIES = {
    "tickets": "SELECT number, tracking, subject, requester, status, severity, assignee, flags FROM tickets "
               "ORDER BY number",
    "messages": "SELECT m.id, t.number, m.message_id, m.direction, m.internal, m.raw_id FROM ticket_messages m "
                "JOIN tickets t ON t.id = m.ticket_id ORDER BY m.id",
    "attachments": "SELECT message_id, filename, size FROM attachments ORDER BY id",
    "participants": "SELECT t.number, p.address, p.role FROM participants p JOIN tickets t ON t.id = p.ticket_id "
                    "ORDER BY t.number, p.address",
    "links": "SELECT ticket_id, linked_ticket_id, reason FROM ticket_links ORDER BY ticket_id, linked_ticket_id",
    "events": "SELECT id, ticket_id, raw_id, kind, actor, detail FROM events ORDER BY id",
    "raw": "SELECT id, state, outcome, ticket_id, message_id, attempts, claimed_by IS NULL FROM raw_messages "
           "ORDER BY id",
    "counters": "SELECT name, value FROM counters ORDER BY name",
    "suppressions": "SELECT address FROM suppressions ORDER BY address",
    "outbox": "SELECT key, ticket_id, kind, recipient, in_reply_to FROM outbox ORDER BY id",
}


def _shape(app) -> dict[str, Any]:  # noqa: ANN001
    with app.engine.connect() as conn:
        return {name: [tuple(row) for row in conn.execute(text(sql))] for name, sql in QUERIES.items()}


def test_a_held_batch_ends_as_mails_written_one_at_a_time(db_url: str, tmp_path: Path) -> None:
    """Messages read back by the replies behind them, a duplicate in the same batch, an attachment,
    an outsider's link, a suppressed sender writing, counters advanced several times: the rows, their
    ids and their order are the same whether the batch held its writes or every mail wrote at once."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one_by_one = _ingest(_fresh(db_url, tmp_path, "plain"), tmp_path / "a", held=False)
    batch = _ingest(_fresh(db_url, tmp_path, "held"), tmp_path / "b", held=True)
    assert [t[3] for t in one_by_one["tickets"]] == ["alice@acme.com", "alice@acme.com", "eve@elsewhere.test",
                                                     "dave@acme.com"]
    assert len(one_by_one["messages"]) == 6 and one_by_one["links"] and one_by_one["attachments"]
    assert one_by_one["suppressions"] == []  # carol wrote: the list no longer holds her
    for name in QUERIES:
        assert batch[name] == one_by_one[name], name


def test_held_rows_are_written_before_the_commit_and_dropped_with_a_rollback(db_url: str, tmp_path: Path) -> None:
    """What a transaction holds is written when `holding` ends, inside the transaction: a rollback
    after that drops it with everything else, and an exception inside drops it unwritten."""
    app = make_app(make_settings(tmp_path, db_url))
    try:
        from inbox.store import history

        with app.sessions() as session:
            transaction = session.begin()
            with deferred.holding(session):
                history.add_event(session, kind="note", at=T0, actor="x@example.com")
                assert session.execute(text("SELECT count(*) FROM events")).scalar_one() == 0
            assert session.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
            transaction.rollback()
            try:
                with session.begin(), deferred.holding(session):
                    history.add_event(session, kind="note", at=T0, actor="x@example.com")
                    raise RuntimeError("the batch failed")
            except RuntimeError:
                pass
            assert deferred.held(session) is None
        with app.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 0
    finally:
        app.close()


def test_a_held_write_that_fails_raises_as_the_database_error_it_is(db_url: str, tmp_path: Path) -> None:
    """On PostgreSQL the held statements go out in one pipeline and a failure is found at its end,
    outside SQLAlchemy's execute: it still reaches the caller as SQLAlchemy's IntegrityError (a
    DBAPIError, which the ingest worker's conflict retry and the dispatcher's rollback expect),
    nothing of the transaction is kept, and the session works on."""
    app = make_app(make_settings(tmp_path, db_url))
    try:
        from inbox.store import history

        with app.sessions() as session:
            with session.begin():
                session.execute(text("INSERT INTO counters (name, value) VALUES ('held-test', 1)"))
            try:
                with session.begin(), deferred.holding(session) as held:
                    history.add_event(session, kind="note", at=T0, actor="x@example.com")
                    held.add(insert(Counter.__table__), [{"name": "held-test", "value": 2}])  # the name is taken
            except IntegrityError as exc:
                assert not isinstance(exc.orig, IntegrityError)  # the driver's own error, wrapped once
            else:
                raise AssertionError("the conflicting held insert did not fail")
            assert session.execute(text("SELECT count(*) FROM events")).scalar_one() == 0
            assert session.execute(text("SELECT value FROM counters WHERE name = 'held-test'")).scalar_one() == 1
    finally:
        app.close()


def test_a_ticket_opened_while_holding_is_there_for_whoever_reads_or_refers_to_it(db_url: str, tmp_path: Path) -> None:
    """A new ticket and its message wait with their ids (no statement each). The
    store's readers add them to what they read without writing them; any other statement, the ORM's
    or raw SQL, a row that refers to the ticket, an update, finds them written first."""
    from inbox.store import history
    from inbox.store import tickets as store
    from inbox.store.tables import Ticket

    app = make_app(make_settings(tmp_path, db_url))
    try:
        ctx = IngestContext(app.current_desk().get())
        [raw_id] = [app.rawstore.put(MAILS[0], "test").id]
        with app.sessions() as session, session.begin(), deferred.holding(session, ids=True) as held:
            [raw] = rawqueue.claim(session, T0, 1, [raw_id])
            result = ingest_one(session, raw, ctx)
            ticket_id = result.ticket_id
            assert ticket_id is not None
            assert held.parents_held() and held.pending("tickets")
            assert store.tickets_for_message_ids(session, ["a1@acme.com"]) == {"a1@acme.com": ticket_id}
            assert {"alice@acme.com", "carol@acme.com"} <= store.participants(session, ticket_id)
            assert store.rows_by_number(session, [1])[1].id == ticket_id
            history.set_fields(session, ticket_id, assignee="x@example.com")
            assert held.parents_held()  # answered from what waits: nothing written yet
            # Whoever else asks finds it written: the ORM, raw SQL, a row that refers to it.
            assert session.get(Ticket, ticket_id).assignee == "x@example.com"
            assert session.execute(text("SELECT count(*) FROM ticket_messages WHERE ticket_id = :t"),
                                   {"t": ticket_id}).scalar_one() == 1
            assert len(store.messages_of(session, ticket_id)) == 1
            session.execute(text("INSERT INTO ticket_links (ticket_id, linked_ticket_id, reason) "
                                 "VALUES (:t, :t, 'self, for the test')"), {"t": ticket_id})
            assert not held.parents_held()
        with app.engine.connect() as conn:
            assert conn.execute(text("SELECT assignee FROM tickets WHERE id = :t"), {"t": ticket_id}).scalar_one() \
                == "x@example.com"
    finally:
        app.close()


def test_ids_taken_ahead_stay_clear_of_a_ticket_another_statement_inserts(db_url: str, tmp_path: Path) -> None:
    """Held tickets get their ids ahead (a sequence on PostgreSQL, the largest id plus one on
    SQLite); a statement not aware of them that inserts a ticket meanwhile takes an id of its own,
    and the next held ticket takes the one after it: every row lands, none collides."""
    from sqlalchemy import select

    from inbox.store import history
    from inbox.store.tables import Ticket

    app = make_app(make_settings(tmp_path, _fresh(db_url, tmp_path, "ids")))
    fields = {"subject": "s", "requester": "r@example.com", "severity": "low", "status": "open"}
    try:
        with app.sessions() as session, session.begin(), deferred.holding(session, ids=True):
            first = history.create_ticket(session, number=901, tracking="T-901", at=T0, **fields)
            session.execute(insert(Ticket.__table__).values(number=902, tracking="T-902", created_at=T0,
                                                            updated_at=T0, **fields))
            third = history.create_ticket(session, number=903, tracking="T-903", at=T0, **fields)
        with app.sessions() as session:
            ids = dict(session.execute(select(Ticket.number, Ticket.id)).all())
        assert ids[901] == first.id and ids[903] == third.id and len(set(ids.values())) == 3
    finally:
        app.close()
