"""A ticket's history, written: tickets, their fields, messages, participants, links and events,
and the counters that number tickets and take turns.

The only SQL that adds to or changes what a ticket went through; the look-ups are
`inbox.store.tickets`. Only the ticket rules (`inbox.tickets`) call it: ingest, the outbound side
and the CLI report what happened there, and the rules write it here. Every function takes the
caller's session and never commits: the caller owns the transaction, so one message's effects
land together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.store import ahead, deferred
from inbox.store.tables import Attachment, Counter, Event, Participant, Ticket, TicketLink, TicketMessage
from inbox.store.tickets import TicketRow
from inbox.store.upsert import insert_for

# Column limits: longer values from hostile mail are cut, never allowed to fail the insert.
_ADDR = 320
_ID = 998

# Built once: constructing and coercing a statement per call costs more than running it.
# A new ticket refers to no held row; add_message writes the held messages before its own
# (`deferred.AWARE`: the held rows need not be written before these).
_INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id).execution_options(**deferred.AWARE)
_INSERT_TICKET_HELD = insert(Ticket.__table__)  # held with the id it was given (`deferred.Held.next_id`)
_INSERT_MESSAGE = (insert(TicketMessage.__table__).returning(TicketMessage.__table__.c.id)
                   .execution_options(**deferred.AWARE))
_INSERT_MESSAGE_HELD = insert(TicketMessage.__table__)  # a held row's id is never asked for
_INSERT_ATTACHMENT = insert(Attachment.__table__).execution_options(**deferred.AWARE)
_INSERT_EVENT = insert(Event.__table__)
_NEXT_NUMBER = (
    update(Counter.__table__)
    .where(Counter.__table__.c.name == bindparam("counter"))
    .values(value=Counter.__table__.c.value + 1)
    .returning(Counter.__table__.c.value)
)
# Aware of held rows (`deferred.AWARE`): set_participant_roles changes the held ones where they wait.
_SET_ROLE = (
    update(Participant.__table__)
    .where(Participant.__table__.c.ticket_id == bindparam("ticket_id_"),
           Participant.__table__.c.address == bindparam("address_"))
    .values(role=bindparam("role"))
    .execution_options(**deferred.AWARE)
)
_ADDRESSES_THERE = (select(Participant.__table__.c.address)
                    .where(Participant.__table__.c.ticket_id == bindparam("ticket_id"),
                           Participant.__table__.c.address.in_(bindparam("addresses", expanding=True)))
                    .execution_options(**deferred.AWARE))
_SET_COUNTER = (
    update(Counter.__table__).where(Counter.__table__.c.name == bindparam("counter")).values(value=bindparam("to"))
)


def allocate_number(session: Session, name: str = "tracking") -> int:
    """The next number of a counter; the row lock makes concurrent writers take turns."""
    return _advance(session, name, _NEXT_NUMBER)


_ROTATIONS: dict[str, Any] = {}


def next_in_rotation(session: Session, name: str) -> int:
    """The next turn (1, 2, 3 ...) of a named rotation, creating it on first use; the row lock
    of the upsert makes concurrent writers take turns. (Also how many new senders a domain has
    had this hour: every new sender's mail asks, so the statement is built once per dialect.)"""
    dialect = session.get_bind().dialect.name
    stmt = _ROTATIONS.get(dialect)
    if stmt is None:
        insert_ = insert_for(dialect)
        table = Counter.__table__
        stmt = _ROTATIONS[dialect] = (
            insert_(table).values(name=bindparam("counter"), value=1)
            .on_conflict_do_update(index_elements=[table.c.name], set_={"value": table.c.value + 1})
            .returning(table.c.value))
    return _advance(session, name, stmt)


def _advance(session: Session, name: str, stmt: Any) -> int:
    """Advance counter `name` by `stmt`, once per transaction that holds its writes
    (`inbox.store.deferred`): the row lock that first advance takes is held to the commit, so no
    one else moves the counter meanwhile, and the later turns are counted here and written once."""
    held = deferred.held(session)
    counted: dict[str, int] = held.note("counters") if held is not None else {}
    if held is not None and name in counted:
        counted[name] += 1
        held.put(_SET_COUNTER, name, {"counter": name, "to": counted[name]})
        return counted[name]
    value = counted[name] = int(_conn(session).execute(stmt, {"counter": name}).scalar_one())
    return value


def add_participants(session: Session, ticket_id: int, roles: Mapping[str, str]) -> None:
    """Record addresses on a ticket's thread; ones already there keep their first role."""
    rows = [{"ticket_id": ticket_id, "address": a[:_ADDR], "role": r} for a, r in roles.items() if a]
    if not rows:
        return
    ahead.joined(session, ticket_id, [row["address"] for row in rows])
    _write(session, _upsert(session, Participant), rows)


def set_participant_roles(session: Session, ticket_id: int, roles: Mapping[str, str]) -> None:
    """Give addresses on a ticket's thread these roles, adding the ones not on it yet."""
    if not roles:
        return
    wanted = {a[:_ADDR]: r for a, r in roles.items() if a}
    found = deferred.held(session)
    waiting = [row for row in found.pending("participants") if row["ticket_id"] == ticket_id] if found else []
    for row in waiting:  # rows held back still take the role where they wait
        if row["address"] in wanted:
            row["role"] = wanted[row["address"]]
    conn = _conn(session)
    there = {a for a, in conn.execute(_ADDRESSES_THERE, {"ticket_id": ticket_id, "addresses": list(wanted)})}
    changed = [{"ticket_id_": ticket_id, "address_": a, "role": r} for a, r in wanted.items() if a in there]
    if changed:
        conn.execute(_SET_ROLE, changed)
    there.update(row["address"] for row in waiting)
    add_participants(session, ticket_id, {a: r for a, r in wanted.items() if a not in there})


def create_ticket(session: Session, *, number: int, tracking: str, at: datetime, **fields: Any) -> TicketRow:
    values = {"number": number, "tracking": tracking, "created_at": at, "updated_at": at, **fields}
    held = deferred.held(session)
    if held is not None and held.takes_ids:
        ticket_id = values["id"] = held.next_id("tickets")
        held.put(_INSERT_TICKET_HELD, ticket_id, values)  # set_fields finds it here while held
    else:
        ticket_id = _conn(session).execute(_INSERT_TICKET, values).scalar_one()
    ahead.created(session, number)
    return TicketRow(ticket_id, number, tracking, values["status"], values.get("customer_id"))


_SET_FIELDS: dict[tuple[str, ...], Any] = {}


def set_fields(session: Session, ticket_id: int, **values: Any) -> None:
    """Plain values on a ticket's columns; the statement for each set of columns is built once."""
    names = tuple(sorted(values))
    stmt = _SET_FIELDS.get(names)
    if stmt is None:
        table = Ticket.__table__
        # Aware of held rows: a held ticket is changed where it waits, below.
        stmt = _SET_FIELDS[names] = (update(table).where(table.c.id == bindparam("ticket_id_"))
                                     .values({name: bindparam(name) for name in names})
                                     .execution_options(**deferred.AWARE))
    ahead.touched(session, ticket_id)
    held = deferred.held(session)
    waiting = held.row(_INSERT_TICKET_HELD, ticket_id) if held is not None else None
    if waiting is not None:
        waiting.update(values)  # a ticket opened in this transaction, not written yet: its row is here
        return
    _conn(session).execute(stmt, {"ticket_id_": ticket_id, **values})


def add_message(
    session: Session,
    *,
    ticket_id: int,
    message: ParsedMessage,
    message_id: str,
    direction: str,
    at: datetime,
    raw_id: int | None = None,
    automation: str = "person",
    internal: bool = False,
    flag: str | None = None,
) -> int | None:
    """Keep a mail on a ticket; its row's id, or None when the row is held to the end of the
    transaction without one (`inbox.store.deferred`: held without ids, a mail without
    attachments, whose id nothing needs; a holder that takes ids gives every held row its id)."""
    values = {
        "ticket_id": ticket_id,
        "raw_id": raw_id,
        "direction": direction,
        "message_id": message_id[:_ID],
        "from_addr": message.from_addr[:_ADDR],
        "from_name": message.from_name[:_ID],
        "to_addrs": list(message.to),
        "cc_addrs": list(message.cc),
        "subject": message.subject,
        "in_reply_to": " ".join(message.in_reply_to) or None,
        "references": " ".join(message.references) or None,
        "text": message.text,
        "visible_text": message.visible_text,
        "automation": automation,
        "internal": internal,
        "at": at,
        "flag": flag[:2000] if flag else None,
    }
    ahead.kept(session, values["message_id"], ticket_id)
    held = deferred.held(session)
    if held is not None and held.takes_ids:
        row_id = values["id"] = held.next_id("ticket_messages")
        held.add(_INSERT_MESSAGE_HELD, [values])
        held.add(_INSERT_ATTACHMENT, _attachment_rows(row_id, message))
        return row_id
    if held is not None and not message.attachments:
        held.add(_INSERT_MESSAGE_HELD, [values])
        return None
    deferred.flush(session, "ticket_messages")  # the held ones first: a ticket's messages are read in id order
    row_id = _conn(session).execute(_INSERT_MESSAGE, values).scalar_one()
    if message.attachments:
        _conn(session).execute(_INSERT_ATTACHMENT, _attachment_rows(row_id, message))
    return int(row_id)


def _attachment_rows(message_row: int, message: ParsedMessage) -> list[dict[str, Any]]:
    return [{"message_id": message_row, "filename": a.filename[:255], "content_type": a.content_type[:255],
             "size": a.size, "sha256": a.sha256} for a in message.attachments]


def add_events(session: Session, *events: dict[str, Any]) -> None:
    """Append events (dicts with kind, at, actor and optionally ticket_id, raw_id, detail)."""
    rows = [
        {"ticket_id": e.get("ticket_id"), "raw_id": e.get("raw_id"), "kind": str(e["kind"]), "at": e["at"],
         "actor": e["actor"][:_ADDR], "detail": dict(e.get("detail") or {})}
        for e in events
    ]
    if rows:
        _write(session, _INSERT_EVENT, rows)


def add_event(
    session: Session,
    *,
    kind: str,
    at: datetime,
    actor: str,
    ticket_id: int | None = None,
    raw_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    add_events(session, {"kind": kind, "at": at, "actor": actor, "ticket_id": ticket_id, "raw_id": raw_id, "detail": detail})


def link_tickets(session: Session, ticket_id: int, linked_ids: Iterable[int], reason: str) -> None:
    rows = [{"ticket_id": ticket_id, "linked_ticket_id": o, "reason": reason[:200]} for o in set(linked_ids) - {ticket_id}]
    if rows:
        _write(session, _upsert(session, TicketLink), rows)

def _write(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Insert now, or at the end of a transaction that holds its writes (`inbox.store.deferred`):
    what is held is read back in that transaction only through `inbox.store.tickets`, which
    writes it first."""
    held = deferred.held(session)
    if held is not None:
        held.add(stmt, rows)
    else:
        _conn(session).execute(stmt, rows)


def _conn(session: Session) -> Connection:
    """The session's connection: Core statements skip the ORM's per-call overhead and autoflush."""
    return session.connection()


_UPSERTS: dict[tuple[str, type], Any] = {}


def _upsert(session: Session, model: type) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect, built once per model."""
    dialect = session.get_bind().dialect.name
    stmt = _UPSERTS.get((dialect, model))
    if stmt is None:
        insert_ = insert_for(dialect)
        stmt = _UPSERTS[(dialect, model)] = insert_(model.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
    return stmt
