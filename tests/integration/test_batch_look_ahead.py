"""A batch reads the tickets its mails name once, at its start (`inbox.store.ahead`), and what we
last sent about them (`sent.look_ahead_last_sent`), and ends as its mails ingested one at a time
do, whatever the batch itself changes in between: a participant it adds, a ticket it closes, a
ticket it opens and then names, a Message-ID it keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from inbox.app import App
from inbox.domain.message import ParsedMessage
from inbox.domain.ticket import Outcome
from inbox.ingest.drain import IngestWorker
from inbox.ingest.pipeline import IngestContext, IngestResult, ingest_one
from inbox.store import deferred, rawqueue
from inbox.store.rawqueue import Claimed
from inbox.tickets.acknowledging import ANSWERS_OUR_MAIL
from tests.fakes import T0, mail, make_app, make_settings
from tests.integration.test_held_writes import QUERIES, _fresh, _shape

ENGINEER = "engineer@example.com"
BEFORE = [  # ingested one at a time before the batch: SUP-000001 and SUP-000002
    mail(message_id="<p1@acme.com>"),
    mail(sender="bob@acme.com", subject="Network down", message_id="<p2@acme.com>", body="No network.\n"),
]
BATCH = [
    # alice copies a partner in on SUP-000001, and the partner then writes to it: a participant the batch added
    mail(subject="Re: [SUP-000001] Printer on fire", message_id="<b1@acme.com>", in_reply_to="<p1@acme.com>",
         headers={"Cc": "partner@vendor.test"}, body="Copying our partner.\n"),
    mail(sender="partner@vendor.test", subject="Re: [SUP-000001] Printer on fire", message_id="<b2@vendor.test>",
         body="We are on it.\n"),
    # the engineer closes SUP-000002, and bob's reply behind it starts afresh: a row the batch changed
    mail(sender=ENGINEER, subject="Re: [SUP-000002] Network down", message_id="<b3@example.com>", body="#close\n",
         vouched=True),
    mail(sender="bob@acme.com", subject="Re: [SUP-000002] Network down", message_id="<b4@acme.com>",
         body="It is down again.\n"),
    # dave opens a ticket, then names its number, and carol answers his Message-ID: what the batch made
    mail(sender="dave@acme.com", subject="Disk full", message_id="<b5@acme.com>", body="The disk is full.\n"),
    mail(sender="dave@acme.com", subject="Re: [SUP-000004] Disk full", message_id="<b6@acme.com>",
         body="Still full.\n"),
    mail(sender="carol@acme.com", subject="Re: Disk full", message_id="<b7@acme.com>", in_reply_to="<b5@acme.com>",
         body="Same here.\n"),
    mail(sender="hank@globex.test", subject="Help", message_id="<b8@globex.test>", in_reply_to="<gone@x.test>"),
    # another desk's auto-answer quoting our subject: an echo of what we sent about SUP-000001
    mail(sender="desk@vendor.test", subject="Re: [SUP-000001] Printer on fire", message_id="<b9@vendor.test>",
         body="We received your message.\n"),
]


def _one_at_a_time(app: App, datas: list[bytes]) -> list[Outcome]:
    ctx = IngestContext(app.current_desk().get())
    outcomes = []
    for data in datas:
        raw_id = app.rawstore.put(data, "test").id
        with app.sessions() as session, session.begin():
            [raw] = rawqueue.claim(session, T0, 1, [raw_id])
            result = ingest_one(session, raw, ctx)
            rawqueue.finish(session, raw.id, outcome=result.outcome.value, ticket_id=result.ticket_id,
                            message_id=result.message_id, now=T0)
        outcomes.append(result.outcome)
    return outcomes


def _written_after_each(session: Session, raw: Claimed, ctx: IngestContext,
                        parsed: ParsedMessage | None = None) -> IngestResult:
    """Ingest one mail, then write what the batch holds, as any statement unaware of held rows may
    make it do: from then on the batch's own rows are in the database, no longer held."""
    result = ingest_one(session, raw, ctx, parsed)
    deferred.flush(session)
    return result


def _ingest(url: str, tmp_path: Path, *, batch: bool, written: bool = False) -> tuple[list[Outcome], dict[str, Any]]:
    app = make_app(make_settings(tmp_path, url))
    try:
        _one_at_a_time(app, BEFORE)
        with app.engine.begin() as conn:  # what they queued has gone out: a later mail may echo it
            conn.execute(text("UPDATE outbox SET state = 'sent', sent_at = :at"), {"at": T0})
        if batch:
            ids = [app.rawstore.put(data, "test").id for data in BATCH]
            process = _written_after_each if written else ingest_one
            outcomes = dict(IngestWorker(app.sessions, app.current_desk(), app.clock, app.claimant,
                                         process=process).run_batch(ids))
            found = [outcomes[i] for i in ids]
        else:
            found = _one_at_a_time(app, BATCH)
        return found, _shape(app)
    finally:
        app.close()


@pytest.mark.parametrize("written", [False, True], ids=["held to the end", "written after each mail"])
def test_a_batch_that_changes_what_it_looked_up_ends_as_mails_ingested_one_at_a_time(db_url: str, tmp_path: Path,
                                                                                      written: bool) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one_outcomes, one_by_one = _ingest(_fresh(db_url, tmp_path, "plain"), tmp_path / "a", batch=False)
    batch_outcomes, batch = _ingest(_fresh(db_url, tmp_path, "held"), tmp_path / "b", batch=True, written=written)
    A, O = Outcome.APPENDED, Outcome.OPENED
    assert one_outcomes == [A, A, A, O, O, A, A, O, O]
    assert ("closed",) == tuple(t[4] for t in one_by_one["tickets"] if t[1] == "SUP-000002")
    assert sorted(link[2] for link in one_by_one["links"]) == ["reply to a closed ticket",
                                                               "sender is not a participant of the ticket it names"]
    [vendor] = [t for t in one_by_one["tickets"] if t[3] == "desk@vendor.test"]
    assert ANSWERS_OUR_MAIL in vendor[7], "the vendor desk's answer is taken for an echo of ours"
    assert batch_outcomes == one_outcomes
    for name in QUERIES:
        assert batch[name] == one_by_one[name], name


def test_a_batch_of_replies_reads_their_tickets_once(db_url: str, tmp_path: Path) -> None:
    """Twenty replies to twenty tickets opened before: one read of tickets by number for the batch,
    one of participants, none per mail."""
    app = make_app(make_settings(tmp_path, _fresh(db_url, tmp_path, "replies")))
    try:
        _one_at_a_time(app, [mail(message_id=f"<o{i}@acme.com>", subject=f"Case {i}") for i in range(20)])
        ids = [app.rawstore.put(mail(message_id=f"<r{i}@acme.com>", subject=f"Re: [SUP-{i + 1:06d}] Case {i}",
                                     body="More detail.\n"), "test").id for i in range(20)]
        seen: list[str] = []

        def listen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            seen.append(" ".join(statement.split()))

        event.listen(app.engine, "before_cursor_execute", listen)
        try:
            outcomes = app.worker().run_batch(ids)
        finally:
            event.remove(app.engine, "before_cursor_execute", listen)
        assert [o for _, o in outcomes] == [Outcome.APPENDED] * 20
        by_number = [s for s in seen if s.startswith("SELECT tickets.id") and "tickets.number IN" in s]
        participants = [s for s in seen if s.startswith("SELECT participants.") and "FROM participants" in s
                        and "participants.role" not in s]
        assert len(by_number) == 1, by_number
        assert len(participants) == 1, participants
    finally:
        app.close()
