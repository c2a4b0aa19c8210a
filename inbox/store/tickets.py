"""Tickets, their messages, participants, links and events: the SQL behind the pipeline.

Every function takes the caller's session and never commits: the caller owns
the transaction, so one message's effects land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Connection, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.store.tables import (
    Attachment,
    Counter,
    Event,
    Participant,
    RawMessage,
    Ticket,
    TicketLink,
    TicketMessage,
)

# Column limits: longer values from hostile mail are cut, never allowed to fail the insert.
_ADDR = 320
_ID = 998


@dataclass(frozen=True)
class TicketRow:
    """What the pipeline needs to know of a ticket: read with plain SQL, no ORM identity map."""

    id: int
    number: int
    tracking: str
    status: str
    customer_id: str | None


_ROW = (Ticket.id, Ticket.number, Ticket.tracking, Ticket.status, Ticket.customer_id)

# Built once: constructing and coercing a statement per call costs more than running it.
_INSERT_TICKET = insert(Ticket.__table__).returning(Ticket.__table__.c.id)
_INSERT_MESSAGE = insert(TicketMessage.__table__).returning(TicketMessage.__table__.c.id)
_INSERT_ATTACHMENT = insert(Attachment.__table__)
_INSERT_EVENT = insert(Event.__table__)
_NEXT_NUMBER = (
    update(Counter.__table__)
    .where(Counter.__table__.c.name == bindparam("counter"))
    .values(value=Counter.__table__.c.value + 1)
    .returning(Counter.__table__.c.value)
)
_TICKETS_OF_IDS = select(TicketMessage.message_id, TicketMessage.ticket_id).where(
    TicketMessage.message_id.in_(bindparam("ids", expanding=True))
)
_ROWS_BY_ID = select(*_ROW).where(Ticket.id.in_(bindparam("ids", expanding=True)))
_ROWS_BY_NUMBER = select(*_ROW).where(Ticket.number.in_(bindparam("numbers", expanding=True)))
_PARTICIPANTS = select(Participant.address).where(Participant.ticket_id == bindparam("ticket_id"))
_RAW_BY_MESSAGE_ID = select(RawMessage.id, RawMessage.state, RawMessage.ticket_id).where(RawMessage.message_id == bindparam("message_id")).limit(20)


def allocate_number(session: Session, name: str = "tracking") -> int:
    """The next number of a counter; the row lock makes concurrent writers take turns."""
    return int(_conn(session).execute(_NEXT_NUMBER, {"counter": name}).scalar_one())


_ROTATIONS: dict[str, Any] = {}


def next_in_rotation(session: Session, name: str) -> int:
    """The next turn (1, 2, 3 ...) of a named rotation, creating it on first use; the row lock
    of the upsert makes concurrent writers take turns. (Also how many new senders a domain has
    had this hour: every new sender's mail asks, so the statement is built once per dialect.)"""
    dialect = session.get_bind().dialect.name
    stmt = _ROTATIONS.get(dialect)
    if stmt is None:
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        table = Counter.__table__
        stmt = _ROTATIONS[dialect] = (
            insert_(table).values(name=bindparam("counter"), value=1)
            .on_conflict_do_update(index_elements=[table.c.name], set_={"value": table.c.value + 1})
            .returning(table.c.value))
    return int(_conn(session).execute(stmt, {"counter": name}).scalar_one())


def tickets_for_message_ids(session: Session, message_ids: Sequence[str]) -> dict[str, int]:
    """Which ticket each known Message-ID (in or out) belongs to."""
    if not message_ids:
        return {}
    rows = _conn(session).execute(_TICKETS_OF_IDS, {"ids": list(message_ids)})
    return {mid: tid for mid, tid in rows}


def rows_by_id(session: Session, ids: Sequence[int]) -> dict[int, TicketRow]:
    if not ids:
        return {}
    return {r.id: TicketRow(*r) for r in _conn(session).execute(_ROWS_BY_ID, {"ids": list(ids)})}


def rows_by_number(session: Session, numbers: Sequence[int]) -> dict[int, TicketRow]:
    if not numbers:
        return {}
    return {r.number: TicketRow(*r) for r in _conn(session).execute(_ROWS_BY_NUMBER, {"numbers": list(numbers)})}


def row_by_tracking(session: Session, tracking: str) -> TicketRow | None:
    row = _conn(session).execute(select(*_ROW).where(Ticket.tracking == tracking.upper())).first()
    return TicketRow(*row) if row else None


def flags_of(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, list[str]]]:
    """The tracking number and flags of each ticket, by id."""
    if not ids:
        return {}
    stmt = select(Ticket.id, Ticket.tracking, Ticket.flags).where(Ticket.id.in_(list(ids)))
    return {ticket_id: (tracking, list(flags or [])) for ticket_id, tracking, flags in _conn(session).execute(stmt)}


def ticket_by_tracking(session: Session, tracking: str) -> Ticket | None:
    return session.execute(select(Ticket).where(Ticket.tracking == tracking.upper())).scalar_one_or_none()


def participants(session: Session, ticket_id: int) -> set[str]:
    return set(_conn(session).execute(_PARTICIPANTS, {"ticket_id": ticket_id}).scalars())


def add_participants(session: Session, ticket_id: int, roles: Mapping[str, str]) -> None:
    """Record addresses on a ticket's thread; ones already there keep their first role."""
    rows = [{"ticket_id": ticket_id, "address": a[:_ADDR], "role": r} for a, r in roles.items() if a]
    if not rows:
        return
    _conn(session).execute(_upsert(session, Participant), rows)


def create_ticket(session: Session, *, number: int, tracking: str, at: datetime, **fields: Any) -> TicketRow:
    values = {"number": number, "tracking": tracking, "created_at": at, "updated_at": at, **fields}
    ticket_id = _conn(session).execute(_INSERT_TICKET, values).scalar_one()
    return TicketRow(ticket_id, number, tracking, values["status"], values.get("customer_id"))


def set_fields(session: Session, ticket_id: int, **values: Any) -> None:
    _conn(session).execute(update(Ticket.__table__).where(Ticket.id == ticket_id).values(**values))


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
) -> int:
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
    row_id = _conn(session).execute(_INSERT_MESSAGE, values).scalar_one()
    if message.attachments:
        _conn(session).execute(
            _INSERT_ATTACHMENT,
            [
                {"message_id": row_id, "filename": a.filename[:255], "content_type": a.content_type[:255],
                 "size": a.size, "sha256": a.sha256}
                for a in message.attachments
            ],
        )
    return int(row_id)


def add_events(session: Session, *events: dict[str, Any]) -> None:
    """Append events (dicts with kind, at, actor and optionally ticket_id, raw_id, detail)."""
    rows = [
        {"ticket_id": e.get("ticket_id"), "raw_id": e.get("raw_id"), "kind": str(e["kind"]), "at": e["at"],
         "actor": e["actor"][:_ADDR], "detail": dict(e.get("detail") or {})}
        for e in events
    ]
    if rows:
        _conn(session).execute(_INSERT_EVENT, rows)


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
        _conn(session).execute(_upsert(session, TicketLink), rows)


def linked_trackings(session: Session, ticket_id: int) -> list[str]:
    stmt = (
        select(Ticket.tracking)
        .join(TicketLink, TicketLink.linked_ticket_id == Ticket.id)
        .where(TicketLink.ticket_id == ticket_id)
        .order_by(Ticket.number)
    )
    return list(session.execute(stmt).scalars())


def list_tickets(session: Session, *, status: str | None = None, severity: str | None = None) -> list[Ticket]:
    stmt = select(Ticket).order_by(Ticket.number)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if severity:
        stmt = stmt.where(Ticket.severity == severity)
    return list(session.execute(stmt).scalars())


def recent_tickets(session: Session, limit: int) -> list[tuple[str, str]]:
    """(tracking, subject) of the newest `limit` tickets, newest first: for choosers, not reports."""
    stmt = select(Ticket.tracking, Ticket.subject).order_by(Ticket.number.desc()).limit(limit)
    return [(tracking, subject) for tracking, subject in session.execute(stmt)]


def messages_of(session: Session, ticket_id: int) -> list[TicketMessage]:
    stmt = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id).order_by(TicketMessage.id)
    return list(session.execute(stmt).scalars())


def events_of(session: Session, ticket_id: int) -> list[Event]:
    stmt = select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id)
    return list(session.execute(stmt).scalars())


def count_tickets(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Ticket)).scalar_one())


def processed_copy(session: Session, message_id: str, other_than: int) -> tuple[bool, int | None]:
    """Whether another raw row with this Message-ID was processed, and its ticket."""
    # Filtered here, not in SQL: given the state too, SQLite walks the state index
    # over every processed row instead of the Message-ID index.
    for raw_id, state, ticket_id in _conn(session).execute(_RAW_BY_MESSAGE_ID, {"message_id": message_id}):
        if raw_id != other_than and state == "processed":
            return True, ticket_id
    return False, None


def _conn(session: Session) -> Connection:
    """The session's connection: Core statements skip the ORM's per-call overhead and autoflush."""
    return session.connection()


_UPSERTS: dict[tuple[str, type], Any] = {}


def _upsert(session: Session, model: type) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the session's dialect, built once per model."""
    dialect = session.get_bind().dialect.name
    stmt = _UPSERTS.get((dialect, model))
    if stmt is None:
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = _UPSERTS[(dialect, model)] = insert_(model.__table__).on_conflict_do_nothing()  # type: ignore[attr-defined]
    return stmt


def ticket_by_id(session: Session, ticket_id: int) -> Ticket | None:
    """The ticket, read afresh: in a batch, Core statements may have changed the row since it was loaded."""
    return session.get(Ticket, ticket_id, populate_existing=True)


_PUBLIC_IN = (select(TicketMessage.message_id)
              .where(TicketMessage.ticket_id == bindparam("ticket_id"), TicketMessage.direction == "in",
                     TicketMessage.internal.is_(False)))
_FIRST_IN = _PUBLIC_IN.order_by(TicketMessage.id).limit(1)
_LAST_IN = _PUBLIC_IN.order_by(TicketMessage.id.desc()).limit(1)
_LAST_PUBLIC_AT = select(func.max(TicketMessage.at)).where(TicketMessage.ticket_id == bindparam("ticket_id"),
                                                           TicketMessage.internal.is_(False))


_FIRST_REQUEST = (select(TicketMessage.from_addr, TicketMessage.visible_text)
                  .where(TicketMessage.ticket_id == bindparam("ticket_id"), TicketMessage.direction == "in",
                         TicketMessage.internal.is_(False))
                  .order_by(TicketMessage.id).limit(1))


def last_event_actor(session: Session, ticket_id: int, kind: str) -> str | None:
    """Who made the ticket's latest event of `kind`, if any."""
    stmt = (select(Event.actor).where(Event.ticket_id == ticket_id, Event.kind == kind)
            .order_by(Event.id.desc()).limit(1))
    return _conn(session).execute(stmt).scalar_one_or_none()


def first_request(session: Session, ticket_id: int) -> tuple[str, str] | None:
    """Who first wrote the ticket's public inbound mail, and what they wrote (for the engineer's brief)."""
    row = _conn(session).execute(_FIRST_REQUEST, {"ticket_id": ticket_id}).first()
    return (row[0], row[1]) if row else None


def thread_ends(session: Session, ticket_id: int) -> tuple[str | None, str | None]:
    """The Message-IDs of the first and the latest public inbound mail of a ticket."""
    conn = _conn(session)
    params = {"ticket_id": ticket_id}
    return conn.execute(_FIRST_IN, params).scalar_one_or_none(), conn.execute(_LAST_IN, params).scalar_one_or_none()


def last_public_message_at(session: Session, ticket_id: int) -> datetime | None:
    """When the latest public message of the ticket, in or out, was written."""
    return _conn(session).execute(_LAST_PUBLIC_AT, {"ticket_id": ticket_id}).scalar_one_or_none()


def tickets_due(session: Session, now: datetime, limit: int) -> list[Ticket]:
    """Tickets whose next SLA check has come, soonest first, locked for this transaction.

    An index range on `next_check_at`: the cost follows what is due, not how many are open.
    On PostgreSQL rows another instance holds are skipped (FOR UPDATE SKIP LOCKED).
    """
    stmt = select(Ticket).where(Ticket.next_check_at <= now).order_by(Ticket.next_check_at, Ticket.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.execute(stmt).scalars())

