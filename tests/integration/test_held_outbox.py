"""Outbox rows queued in a transaction that holds its writes (inbox.store.deferred, an ingest
batch) wait to its end, yet every reader of the outbox in that transaction sees them, a key is
still queued once, and a rollback drops them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from inbox.app import App
from inbox.store import deferred, outbox
from tests.fakes import T0, make_app, make_settings


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[App]:
    app = make_app(make_settings(tmp_path, db_url))
    with app.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))
    yield app
    app.close()


def _row(n: int, **values: Any) -> dict[str, Any]:
    return {"key": f"probe:{n}", "ticket_id": None, "kind": "acknowledgement", "audience": "customer",
            "recipient": f"person{n}@acme.com", "automatic": True, "plan": None, "customer_id": None, "context": {},
            "message_id": f"probe{n}@example.com", "created_at": T0, **values}


def _count(session: Any) -> int:
    return session.execute(text("SELECT count(*) FROM outbox")).scalar_one()


def test_held_rows_wait_to_the_end_and_are_one_row_per_key(app: App) -> None:
    """Queued while holding, the rows are not in the table until `holding` ends, then are there
    once each: a key queued twice in the transaction is new only the first time, and a key already
    in the table is skipped at the end as it is at once."""
    with app.sessions() as session, session.begin():
        assert outbox.enqueue(session, **_row(0)) is True
    with app.sessions() as session, session.begin():
        with deferred.holding(session):
            assert outbox.enqueue(session, **_row(1)) is True
            assert outbox.enqueue(session, **_row(1)) is False
            assert outbox.enqueue(session, **_row(2)) is True
            outbox.enqueue(session, **_row(0, message_id="another@example.com"))
            assert _count(session) == 1
        assert _count(session) == 3
    with app.sessions() as session:
        assert sorted(r.key for r in session.execute(text("SELECT key FROM outbox"))) == ["probe:0", "probe:1",
                                                                                            "probe:2"]


def test_readers_see_held_rows_before_the_end(app: App) -> None:
    """Whether an address was mailed, what an email of ours named by Message-ID was, the queue's
    depth and claims: each answers with the rows the transaction holds, as if written at once."""
    with app.sessions() as session, session.begin(), deferred.holding(session):
        outbox.enqueue(session, **_row(1))
        assert outbox.has_mailed(session, "Person1@acme.com", "customer") is True
        assert outbox.has_mailed(session, "person1@acme.com", "staff") is False
        assert outbox.kinds_of(session, ["probe1@example.com", "nobody@example.com"]) == {
            "probe1@example.com": ("acknowledgement", True, "customer")}
        outbox.enqueue(session, **_row(2))
        assert outbox.depth(session) == {outbox.PENDING: 2}
        outbox.enqueue(session, **_row(3))
        assert [item.key for item in outbox.claim(session, T0, 10, "me")] == ["probe:1", "probe:2", "probe:3"]
        assert outbox.enqueue(session, **_row(3)) is False  # written by the claim's flush, still one row
    with app.sessions() as session:
        assert _count(session) == 3


def test_a_rollback_drops_held_rows(app: App) -> None:
    """An exception inside `holding` drops the held rows with the transaction: none is written."""
    with app.sessions() as session:
        with pytest.raises(RuntimeError), session.begin(), deferred.holding(session):
            outbox.enqueue(session, **_row(1))
            raise RuntimeError("the batch failed")
        assert deferred.held(session) is None
    with app.sessions() as session:
        assert _count(session) == 0
