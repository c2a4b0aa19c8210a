"""The claim/retry mechanics the two work queues (`rawqueue`, `outbox`) share.

A worker takes rows (`take`): locked past other instances' claimers on PostgreSQL, marked in
progress, stamped with when and by whom, an attempt counted. A claim older than CLAIM_TIMEOUT is
taken again (its worker died). A failed attempt waits `backoff`. A claim is written as
`host:pid:token` in the row's `claimed_by`: after a crash or SIGKILL the next process on that
host finds those rows (`orphans`) and gives them back at once (`give_back`) instead of waiting
out the timeout; other hosts' claims wait, since from here we cannot tell whether their process
lives. What the states are called, and when a row stops being retried, is each queue's own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.orm import Session

CLAIM_TIMEOUT = timedelta(minutes=10)


def backoff(attempts: int, most_minutes: int) -> timedelta:
    """The wait after the n-th failed attempt: 1, 2, 4 ... minutes, at most `most_minutes`."""
    return timedelta(minutes=min(most_minutes, 2 ** max(0, attempts - 1)))


def take(session: Session, stmt: Select[Any], state: str, now: datetime, owner: str | None) -> list[Any]:
    """Claim the rows `stmt` selects: skipping rows another instance is claiming (PostgreSQL;
    SQLite has one writer at a time anyway), marked `state`, stamped, an attempt counted."""
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.execute(stmt).scalars())
    for row in rows:
        row.state, row.claimed_at, row.claimed_by = state, now, owner
        row.attempts += 1
    session.flush()
    return rows


def take_columns(session: Session, table: Any, stmt: Select[Any], state: str, now: datetime,
                 owner: str | None) -> list[Any]:
    """As `take`, in two statements however many rows, with no ORM objects: the rows of `stmt`,
    which selects columns of `table`, the id first."""
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.execute(stmt))
    if rows:
        session.execute(update(table).where(table.c.id.in_([row[0] for row in rows]))
                        .values(state=state, claimed_at=now, claimed_by=owner, attempts=table.c.attempts + 1))
    return rows


def give_back(session: Session, table: Any, where: ColumnElement[bool], state: str, refund: int = 1) -> int:
    """Unclaim the rows `where` selects, back to `state`, due at once, `refund` attempts returned."""
    values = {"state": state, "claimed_at": None, "claimed_by": None, "attempts": table.attempts - refund}
    return int(session.execute(update(table).where(where).values(**values)).rowcount)


def orphans(session: Session, table: Any, state: str, host: str, is_dead: Callable[[str], bool],
            suffix: str = "") -> list[tuple[int, str]]:
    """(id, claimed_by) of the rows in `state` claimed on `host` by a process that is gone;
    `suffix` is a marker a queue may append to the owner, left out before asking `is_dead`."""
    rows = session.execute(
        select(table.id, table.claimed_by).where(table.state == state, table.claimed_by.like(f"{host}:%"))
    ).all()
    return [(row_id, owner) for row_id, owner in rows if owner and is_dead(owner.removesuffix(suffix))]
