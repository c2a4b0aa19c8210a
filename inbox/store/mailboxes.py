"""Each IMAP mailbox's durable state: UIDVALIDITY, the last UID done, the poller's lease.

The lease is what keeps two `inbox serve` processes on one database from polling the same
mailbox at once: taking it is one conditional UPDATE (or the INSERT of a fresh row), atomic on
PostgreSQL (the row lock re-checks the condition) and on SQLite (one writer at a time). A lease
whose holder is provably dead is taken back at once by an UPDATE that names that holder, so of
two processes taking it back only one matches. Every function takes the caller's Session and
never commits: the caller's transaction decides.
It never speaks IMAP and never touches raw messages or tickets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from inbox.store.tables import MailboxState
from inbox.store.upsert import insert_for

ERROR_LIMIT = 2000  # characters of last_error kept: enough for a reason, never a whole mail


@dataclass(frozen=True)
class MailboxProgress:
    """A mailbox's state, detached from any session."""

    name: str
    uidvalidity: int | None  # None: never selected yet
    last_uid: int  # every UID up to this one is stored and marked done
    lease_owner: str | None
    lease_until: datetime | None
    last_success_at: datetime | None
    last_error: str | None


def load_state(session: Session, name: str) -> MailboxProgress | None:
    """The state of mailbox `name`, or None when no poller has touched it yet."""
    # populate_existing: this session's own UPDATEs went around the identity map.
    query = select(MailboxState).where(MailboxState.name == name).execution_options(populate_existing=True)
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        return None
    return MailboxProgress(
        name=row.name,
        uidvalidity=row.uidvalidity,
        last_uid=row.last_uid,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
    )


def save_progress(session: Session, name: str, uidvalidity: int, last_uid: int, at: datetime) -> None:
    """Record a successful round: the UIDVALIDITY seen, the last UID done, when; clears last_error."""
    _ensure_row(session, name)
    session.execute(
        update(MailboxState)
        .where(MailboxState.name == name)
        .values(uidvalidity=uidvalidity, last_uid=last_uid, last_success_at=at, last_error=None)
        .execution_options(synchronize_session=False)
    )


def record_error(session: Session, name: str, error: str) -> None:
    """Keep the latest problem of mailbox `name` (for /healthz and operators); progress is untouched."""
    _ensure_row(session, name)
    session.execute(
        update(MailboxState)
        .where(MailboxState.name == name)
        .values(last_error=error[:ERROR_LIMIT])
        .execution_options(synchronize_session=False)
    )


def acquire_lease(session: Session, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease on mailbox `name` until now + ttl. True when `owner` holds it now.

    Granted when nobody holds it, `owner` already does, or the holder's lease has run out.
    """
    _ensure_row(session, name)
    # One statement decides: on PostgreSQL a concurrent UPDATE waits for the row lock and then
    # re-evaluates this WHERE against the winner's row, so only one owner ever matches.
    result = session.execute(
        update(MailboxState)
        .where(MailboxState.name == name)
        .where(
            or_(
                MailboxState.lease_owner.is_(None),
                MailboxState.lease_owner == owner,
                MailboxState.lease_until.is_(None),
                MailboxState.lease_until <= now,
            )
        )
        .values(lease_owner=owner, lease_until=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def take_dead_lease(
    session: Session, name: str, owner: str, now: datetime, ttl: timedelta, is_dead: Callable[[str], bool],
) -> str | None:
    """Take the lease on mailbox `name` from a holder that `is_dead` says is gone (a crashed
    process), without waiting for it to run out; returns the holder replaced, or None.

    For a holder `is_dead` cannot judge (another host) this takes nothing: its lease runs out.
    """
    holder = session.execute(select(MailboxState.lease_owner).where(MailboxState.name == name)).scalar_one_or_none()
    if holder is None or holder == owner or not is_dead(holder):
        return None
    # Compare-and-set on the dead holder: a process that took the lease since the read above
    # (on PostgreSQL, re-checked after the row lock) no longer matches, so it is never displaced.
    result = session.execute(
        update(MailboxState)
        .where(MailboxState.name == name, MailboxState.lease_owner == holder)
        .values(lease_owner=owner, lease_until=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return holder if result.rowcount == 1 else None  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, owner: str) -> None:
    """Give the lease up, if `owner` still holds it, so another instance can take over at once."""
    session.execute(
        update(MailboxState)
        .where(MailboxState.name == name, MailboxState.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def lease_holder(session: Session, name: str, now: datetime) -> str | None:
    """Who holds an unexpired lease on mailbox `name`, if anyone."""
    row = session.execute(
        select(MailboxState.lease_owner, MailboxState.lease_until).where(MailboxState.name == name)
    ).first()
    if row is None or row.lease_owner is None or row.lease_until is None or row.lease_until <= now:
        return None
    return row.lease_owner


def _ensure_row(session: Session, name: str) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: two instances creating the row at once both succeed.
    insert = insert_for(session.get_bind().dialect.name)
    session.execute(insert(MailboxState).values(name=name, last_uid=0).on_conflict_do_nothing(index_elements=["name"]))
