"""Two instances racing with copies of one signed mail: the used-proof key makes one winner.

Each instance spends a proof's keys in the transaction that makes the change (`inbox.store.proofs`).
On PostgreSQL the second transaction's INSERT ... ON CONFLICT DO NOTHING waits on the first's
uncommitted key and then finds it taken; SQLite has one writer at a time, which the two-instance
test in test_signature_replay.py covers.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from inbox.app import App
from inbox.store import proofs
from tests.fakes import T0, make_app, make_settings

WAIT = 10  # seconds: the bound on the one wait below; nothing waits for it to pass


def test_two_transactions_spending_one_proof_have_one_winner(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL, two sessions at once: the second's spend waits on the first's uncommitted key and,
    once that commits, finds it taken; so two instances racing with copies of one mail make one change."""
    app: App = make_app(make_settings(tmp_path, pg_url))
    try:
        first_raw, second_raw = app.rawstore.put(b"copy 1", "test").id, app.rawstore.put(b"copy 2", "test").id
        keys = ["dkim:" + "ab" * 32]
        outcome: list[int | None] = []
        with app.sessions() as first, first.begin():
            assert proofs.spend(first, keys, raw_id=first_raw, at=T0) is None
            pid = first.execute(text("SELECT pg_backend_pid()")).scalar_one()

            def second() -> None:
                with app.sessions() as session, session.begin():
                    outcome.append(proofs.spend(session, keys, raw_id=second_raw, at=T0))

            racer = threading.Thread(target=second)
            racer.start()
            _wait_until_blocked_by(app, pid)
            assert outcome == []  # still waiting for the first transaction
        racer.join(WAIT)
        assert outcome == [first_raw]
    finally:
        app.close()


def _wait_until_blocked_by(app: App, pid: int) -> None:
    """Return once some session waits on a lock held by backend `pid` (the condition, not a time)."""
    blocked = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    event = threading.Event()
    with app.sessions() as watcher:
        for _ in range(WAIT * 100):
            if watcher.execute(blocked, {"pid": pid}).scalar_one():
                return
            watcher.rollback()
            event.wait(0.01)
    raise AssertionError("the second spend never waited for the first")
