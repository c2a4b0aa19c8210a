"""Every real-world mail in ../shared/corpus through the whole pipeline, on both databases.

No exception escapes, every message ends as a ticket, a follow-up or a recorded
non-ticket, and none is left pending or failed. (django-helpdesk raises on 37 of
these mails and lets 28 of them stop its whole inbox run.)
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from inbox.rawstore import RawItem
from inbox.receive.files import read_messages
from inbox.store.tables import Event, RawMessage, Ticket
from tests.conftest import CORPUS, missing_service
from tests.fakes import make_app, make_settings

FINAL = {"opened", "appended", "duplicate", "auto_reply", "bounce", "refused"}


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        missing_service(f"the mail corpus at {CORPUS}")
    return sorted(
        p for p in CORPUS.rglob("*")
        if p.is_file() and "_license" not in p.parts and p.name not in {"README.md", "README"}
    )


def test_corpus_ends_every_message_in_a_final_outcome(db_url: str, tmp_path: Path) -> None:
    """1,100+ real mails: each stored, each processed to a final outcome, none failed, none pending."""
    files = corpus_files()
    app = make_app(make_settings(tmp_path, db_url))
    started = time.perf_counter()
    try:
        items = [RawItem(data, source) for source, data in read_messages(files)]
        refs = []
        for start in range(0, len(items), 200):
            refs.extend(app.rawstore.put_many(items[start : start + 200]))
        counts = Counter(o.value for o in app.worker().drain().elements())
        counts["duplicate"] += sum(1 for r in refs if not r.created)  # same bytes twice: stored once
        with app.sessions() as session:
            states = Counter(dict(session.execute(select(RawMessage.state, func.count()).group_by(RawMessage.state)).all()))
            outcomes = Counter(dict(session.execute(select(RawMessage.outcome, func.count()).group_by(RawMessage.outcome)).all()))
            tickets = session.execute(select(func.count()).select_from(Ticket)).scalar_one()
            recorded = session.execute(select(func.count()).select_from(Event).where(Event.ticket_id.is_(None))).scalar_one()
    finally:
        app.close()
    elapsed = time.perf_counter() - started
    print(f"\ncorpus: {len(files)} files, {len(items)} messages, {elapsed:.1f}s; outcomes {dict(counts)}; "
          f"tickets {tickets}; recorded non-tickets {recorded}")
    assert len(items) > 1000
    assert states == {"processed": len({r.id for r in refs})}, states
    assert set(outcomes) <= FINAL, outcomes
    assert sum(counts.values()) == len(items)
    assert counts["failed"] == 0
    assert counts["bounce"] > 300  # sisimai alone holds hundreds of bounces: none may become a ticket
