"""The suppression list over `suppressions`: addresses no automatic mail goes to.

An address is put on it when mail to it failed for good (a bounce of our mail, a 5xx) and taken
off when a person writes from it. Only the ticket rules (`inbox.tickets`) import this module: they
write each change together with the event that tells it on the ticket, and they answer for it
when others ask whether an address is suppressed. Functions take the caller's session and never
commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from inbox.store import deferred
from inbox.store.tables import Suppression
from inbox.store.upsert import insert_for

__all__ = ["Suppression", "addresses_suppressed", "lift", "look_ahead", "suppress", "suppressed"]

_INSERTS: dict[str, Any] = {}

# Built once: it runs for every mail a person sends, and building a statement costs more than running it.
_LIFT = delete(Suppression.__table__).where(Suppression.__table__.c.address == bindparam("address"))
_AMONG = select(Suppression.__table__.c.address).where(
    Suppression.__table__.c.address.in_(bindparam("addresses", expanding=True)))
# In a transaction that holds its writes (an ingest batch): the addresses `look_ahead` asked
# about, and which of them are on the list as this transaction changed it.
_ASKED, _ON_LIST = "suppression asked", "suppression on the list"


def suppress(session: Session, address: str, reason: str, at: datetime, ticket_id: int | None) -> bool:
    """Stop automatic mail to `address`; False when it already was."""
    values = {"address": address.lower()[:320], "reason": reason[:2000], "since": at, "ticket_id": ticket_id}
    # RETURNING, not rowcount: SQLAlchemy reports -1 rows for this statement on psycopg, which
    # would count an address already on the list as newly suppressed (and record it again).
    new = session.connection().execute(_insert_ignoring(session), values).first() is not None
    held = deferred.held(session)
    if held is not None:
        held.note(_ON_LIST, set).add(values["address"])
    return new


def lift(session: Session, address: str) -> bool:
    """A person wrote from `address`: automatic mail may go to it again. True when it was suppressed."""
    address = address.lower()
    held = deferred.held(session)
    if held is not None and address in held.note(_ASKED, set) and address not in held.note(_ON_LIST, set):
        return False  # known, in this transaction, not to be on the list: nothing to delete
    result = session.connection().execute(_LIFT, {"address": address})
    if held is not None:
        held.note(_ON_LIST, set).discard(address)
    return bool(result.rowcount)


def look_ahead(session: Session, addresses: Iterable[str]) -> None:
    """Find which of a batch's senders are on the list with one query, so that `lift` deletes only
    where there is something to delete: a person's mail is nearly never from a suppressed address.
    Only in a transaction that holds its writes (`inbox.store.deferred`); else nothing."""
    held = deferred.held(session)
    wanted = sorted({a.lower() for a in addresses if a})
    if held is None or not wanted:
        return
    held.note(_ON_LIST, set).update(session.connection().execute(_AMONG, {"addresses": wanted}).scalars())
    held.note(_ASKED, set).update(wanted)


def suppressed(session: Session, addresses: Iterable[str]) -> dict[str, Suppression]:
    """Which of `addresses` are on the list, by lower-cased address, with why and since when."""
    wanted = sorted({a.lower() for a in addresses if a})
    if not wanted:
        return {}
    rows = session.execute(select(Suppression).where(Suppression.address.in_(wanted))).scalars()
    return {row.address: row for row in rows}


def addresses_suppressed(session: Session, addresses: Sequence[str]) -> list[str]:
    return sorted(suppressed(session, addresses))


def _insert_ignoring(session: Session) -> Any:
    """INSERT ... ON CONFLICT (address) DO NOTHING RETURNING address for the session's dialect, built once."""
    dialect = session.get_bind().dialect.name
    stmt = _INSERTS.get(dialect)
    if stmt is None:
        insert_ = insert_for(dialect)
        table = Suppression.__table__
        stmt = _INSERTS[dialect] = (insert_(table).on_conflict_do_nothing(index_elements=["address"])
                                    .returning(table.c.address))
    return stmt
