"""Look-ups of tickets, their messages, participants, links and events: the reads behind the pipeline.

Reads only: everything that writes a ticket's history is `inbox.store.history`. Every function
takes the caller's session and never commits; `tickets_due` locks the rows it returns for the
caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Collection, Mapping, Sequence

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from inbox.store import ahead, deferred
from inbox.store.rawqueue import PROCESSED_HERE
from inbox.store.tables import Attachment, Event, Participant, RawMessage, Ticket, TicketLink, TicketMessage


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
# Each adds what this transaction holds back (`deferred.Held.pending`) to what it reads, so none
# makes the held rows be written first (`deferred.AWARE`).
_TICKETS_OF_IDS = select(TicketMessage.message_id, TicketMessage.ticket_id).where(
    TicketMessage.message_id.in_(bindparam("ids", expanding=True))
).execution_options(**deferred.AWARE)
_ROWS_BY_ID = select(*_ROW).where(Ticket.id.in_(bindparam("ids", expanding=True))).execution_options(**deferred.AWARE)
_ROWS_BY_NUMBER = (select(*_ROW).where(Ticket.number.in_(bindparam("numbers", expanding=True)))
                   .execution_options(**deferred.AWARE))
_PARTICIPANTS = select(Participant.address).where(Participant.ticket_id == bindparam("ticket_id")).execution_options(
    **deferred.AWARE)
_PARTICIPANTS_OF = (select(Participant.ticket_id, Participant.address)
                    .where(Participant.ticket_id.in_(bindparam("ids", expanding=True)))
                    .execution_options(**deferred.AWARE))
_ROLES = (select(Participant.address, Participant.role).where(Participant.ticket_id == bindparam("ticket_id"))
          .execution_options(**deferred.AWARE))
_RAW_BY_MESSAGE_ID = select(RawMessage.id, RawMessage.state, RawMessage.ticket_id).where(RawMessage.message_id == bindparam("message_id")).limit(20)


def tickets_for_message_ids(session: Session, message_ids: Sequence[str]) -> dict[str, int]:
    """Which ticket each known Message-ID (in or out) belongs to."""
    if not message_ids:
        return {}
    found, ask = _known_threads(session, message_ids)
    if ask:
        found.update((mid, tid) for mid, tid in _conn(session).execute(_TICKETS_OF_IDS, {"ids": ask}))
    wanted = set(message_ids)
    found.update((row["message_id"], row["ticket_id"]) for row in _held(session, "ticket_messages")
                 if row["message_id"] in wanted)
    return found


def rows_by_id(session: Session, ids: Sequence[int]) -> dict[int, TicketRow]:
    if not ids:
        return {}
    looked = ahead.of(session)
    found, ask = looked.rows_by_id(ids) if looked is not None else ({}, list(ids))
    if ask:
        found.update((r.id, TicketRow(*r)) for r in _conn(session).execute(_ROWS_BY_ID, {"ids": ask}))
    found.update((row.id, row) for row in _held_tickets(session, "id", ids))
    return found


def rows_by_number(session: Session, numbers: Sequence[int]) -> dict[int, TicketRow]:
    if not numbers:
        return {}
    looked = ahead.of(session)
    found, ask = looked.rows_by_number(numbers) if looked is not None else ({}, list(numbers))
    if ask:
        found.update((r.number, TicketRow(*r)) for r in _conn(session).execute(_ROWS_BY_NUMBER, {"numbers": ask}))
    found.update((row.number, row) for row in _held_tickets(session, "number", numbers))
    return found


def look_ahead_threads(session: Session, numbers: Collection[int], message_ids: Collection[str]) -> None:
    """Read the tickets a batch names, by number and by Message-ID, with their participants, in four
    statements, for the readers above to answer from (`inbox.store.ahead`); only in a transaction
    that holds its writes, else nothing."""
    if deferred.held(session) is None:
        return
    conn = _conn(session)
    by_number: dict[int, TicketRow | None] = dict.fromkeys(numbers)
    if numbers:
        by_number.update((r.number, TicketRow(*r)) for r in conn.execute(_ROWS_BY_NUMBER, {"numbers": list(numbers)}))
    by_message_id: dict[str, int | None] = dict.fromkeys(message_ids)
    if message_ids:
        by_message_id.update((mid, tid) for mid, tid in conn.execute(_TICKETS_OF_IDS, {"ids": list(message_ids)}))
    by_id = {row.id: row for row in by_number.values() if row is not None}
    missing = list({tid for tid in by_message_id.values() if tid is not None} - set(by_id))
    if missing:
        by_id.update((r.id, TicketRow(*r)) for r in conn.execute(_ROWS_BY_ID, {"ids": missing}))
    participants: dict[int, set[str]] = {tid: set() for tid in by_id}
    if by_id:
        for tid, address in conn.execute(_PARTICIPANTS_OF, {"ids": list(by_id)}):
            participants[tid].add(address)
    ahead.install(session, by_number, by_message_id, by_id, participants)


def _known_threads(session: Session, message_ids: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    looked = ahead.of(session)
    return looked.tickets_for_message_ids(message_ids) if looked is not None else ({}, list(message_ids))


def _held(session: Session, table: str) -> list[dict]:
    found = deferred.held(session)
    return found.pending(table) if found is not None else []


def _held_tickets(session: Session, column: str, wanted: Sequence[int]) -> list[TicketRow]:
    """Tickets opened in this transaction and not written yet whose `column` is among `wanted`, as
    the rows `_ROW` reads (only those made into rows: a batch holds up to a hundred)."""
    chosen = set(wanted)
    return [TicketRow(row["id"], row["number"], row["tracking"], row["status"], row.get("customer_id"))
            for row in _held(session, "tickets") if row[column] in chosen]


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
    looked = ahead.of(session)
    known = looked.participants(ticket_id) if looked is not None else None
    found = known if known is not None else set(
        _conn(session).execute(_PARTICIPANTS, {"ticket_id": ticket_id}).scalars())
    found.update(row["address"] for row in _held(session, "participants") if row["ticket_id"] == ticket_id)
    return found


def participant_roles(session: Session, ticket_id: int) -> dict[str, str]:
    """Each address on the ticket's thread with its role, in the order they joined."""
    found = {address: role for address, role in _conn(session).execute(_ROLES, {"ticket_id": ticket_id})}
    for row in _held(session, "participants"):  # held as INSERT ... ON CONFLICT DO NOTHING: the first role stays
        if row["ticket_id"] == ticket_id:
            found.setdefault(row["address"], row["role"])
    return found


def linked_trackings(session: Session, ticket_id: int) -> list[str]:
    deferred.flush(session, "ticket_links")  # what this transaction holds back is read too
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
    deferred.flush(session, "ticket_messages")  # what this transaction holds back is read too
    stmt = select(TicketMessage).where(TicketMessage.ticket_id == ticket_id).order_by(TicketMessage.id)
    return list(session.execute(stmt).scalars())


def attachments_of(session: Session, message_ids: Sequence[int]) -> list[Attachment]:
    """The attachments of these messages (row ids), by message, each in the order its mail listed them."""
    if not message_ids:
        return []
    stmt = (select(Attachment).where(Attachment.message_id.in_(list(message_ids)))
            .order_by(Attachment.message_id, Attachment.id))
    return list(session.execute(stmt).scalars())


def events_of(session: Session, ticket_id: int) -> list[Event]:
    deferred.flush(session, "events")  # what this transaction holds back is read too
    stmt = select(Event).where(Event.ticket_id == ticket_id).order_by(Event.id)
    return list(session.execute(stmt).scalars())


def events_of_kind(session: Session, ticket_id: int, kind: str) -> list[Event]:
    """The ticket's events of one `kind`, oldest first."""
    deferred.flush(session, "events")  # what this transaction holds back is read too
    stmt = select(Event).where(Event.ticket_id == ticket_id, Event.kind == kind).order_by(Event.id)
    return list(session.execute(stmt).scalars())


def count_tickets(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Ticket)).scalar_one())


def processed_copy(session: Session, message_id: str, other_than: int) -> tuple[bool, int | None]:
    """Whether another raw row with this Message-ID was processed, and its ticket.

    In a transaction that holds its writes, the rows it marked processed are asked first, then
    what `look_ahead_copies` found for its batch: only a Message-ID it was not asked about costs
    a query."""
    held = deferred.held(session)
    if held is not None:
        here: dict[str, int | None] = held.note(PROCESSED_HERE)
        if message_id in here:
            return True, here[message_id]
        asked: dict[str, tuple[bool, int | None]] = held.note(_COPIES_AHEAD)
        if (message_id, other_than) in asked:
            return asked[message_id, other_than]
    # Filtered here, not in SQL: given the state too, SQLite walks the state index
    # over every processed row instead of the Message-ID index.
    for raw_id, state, ticket_id in _conn(session).execute(_RAW_BY_MESSAGE_ID, {"message_id": message_id}):
        if raw_id != other_than and state == "processed":
            return True, ticket_id
    return False, None


_COPIES_AHEAD = "processed copies looked up ahead"  # (Message-ID, raw id) -> processed_copy's answer
# One row per Message-ID and what its copies came to, however many copies hostile mail made:
# the lowest and highest id tell whether a processed copy other than the asking row exists.
_COPIES = (select(RawMessage.message_id, RawMessage.state, RawMessage.ticket_id, func.min(RawMessage.id),
                  func.max(RawMessage.id))
           .where(RawMessage.message_id.in_(bindparam("ids", expanding=True)))
           .group_by(RawMessage.message_id, RawMessage.state, RawMessage.ticket_id))


def look_ahead_copies(session: Session, asking: Mapping[int, str]) -> None:
    """Answer `processed_copy` for a batch's rows (raw id -> Message-ID) with one query, in a
    transaction that holds its writes (else nothing to keep the answers in: do nothing)."""
    held = deferred.held(session)
    if held is None or not asking:
        return
    groups: dict[str, list[tuple[int, int, int | None]]] = {}
    rows = _conn(session).execute(_COPIES, {"ids": sorted(set(asking.values()))})
    for message_id, state, ticket_id, low, high in rows:
        if state == "processed":
            groups.setdefault(message_id, []).append((low, high, ticket_id))
    answers: dict[tuple[str, int], tuple[bool, int | None]] = held.note(_COPIES_AHEAD)
    for raw_id, message_id in asking.items():
        # As the query per Message-ID reads them: the lowest id first, the asking row left out.
        found = [(low, ticket) for low, high, ticket in groups.get(message_id, ()) if (low, high) != (raw_id, raw_id)]
        answers[message_id, raw_id] = (True, min(found, key=lambda f: f[0])[1]) if found else (False, None)


def _conn(session: Session) -> Connection:
    """The session's connection: Core statements skip the ORM's per-call overhead and autoflush."""
    return session.connection()


def ticket_by_id(session: Session, ticket_id: int) -> Ticket | None:
    """The ticket, read afresh: in a batch, Core statements may have changed the row since it was loaded.
    The caller may change it: its row looked up ahead is not used again (`ahead.touched`)."""
    ahead.touched(session, ticket_id)
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
    deferred.flush(session, "events")  # what this transaction holds back is read too
    stmt = (select(Event.actor).where(Event.ticket_id == ticket_id, Event.kind == kind)
            .order_by(Event.id.desc()).limit(1))
    return _conn(session).execute(stmt).scalar_one_or_none()


def first_request(session: Session, ticket_id: int) -> tuple[str, str] | None:
    """Who first wrote the ticket's public inbound mail, and what they wrote (for the engineer's brief)."""
    deferred.flush(session, "ticket_messages")  # what this transaction holds back is read too
    row = _conn(session).execute(_FIRST_REQUEST, {"ticket_id": ticket_id}).first()
    return (row[0], row[1]) if row else None


def thread_ends(session: Session, ticket_id: int) -> tuple[str | None, str | None]:
    """The Message-IDs of the first and the latest public inbound mail of a ticket."""
    deferred.flush(session, "ticket_messages")  # what this transaction holds back is read too
    conn = _conn(session)
    params = {"ticket_id": ticket_id}
    return conn.execute(_FIRST_IN, params).scalar_one_or_none(), conn.execute(_LAST_IN, params).scalar_one_or_none()


def last_public_message_at(session: Session, ticket_id: int) -> datetime | None:
    """When the latest public message of the ticket, in or out, was written."""
    deferred.flush(session, "ticket_messages")  # what this transaction holds back is read too
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

