"""Which tickets a batch of mails names, read for the whole batch at its start: the readers of
`inbox.store.tickets` answer from here instead of asking the database once per mail.

Under a storm each reply cost a handful of round trips (its tickets by number, by Message-ID,
their participants), and with the parser and the database sharing the machine's cores each round
trip waits its turn: these were a sixth of an ingest batch's time on PostgreSQL.

The protocol, in a transaction that holds its writes (`inbox.store.deferred`: an ingest batch):
- `tickets.look_ahead_threads` reads, in four statements, the rows of the tickets with the batch's
  numbers, the tickets of its Message-IDs, their rows, and their participants. What it found
  missing is remembered as missing too: a number or a Message-ID no ticket had then.
- What the transaction adds itself, the store notes here as it writes it, for as long as the
  transaction lasts (the held rows leave `Held.pending` once written): each ticket created
  (`created`), each Message-ID kept (`kept`), each participant added (`joined`). A reader adds
  those to what was looked up; a number created here is read from the database or the held rows,
  as without a look-ahead.
- A ticket's row holds its status, which this transaction may change: a ticket whose row may have
  changed here (`touched`: `history.set_fields`, and `tickets.ticket_by_id`, the ORM's way to a
  ticket it may then change) is read afresh from then on.

What another process commits meanwhile is seen as a read at the batch's start would have seen it:
a few hundred milliseconds earlier than a read per mail. Without a holding transaction nothing is
remembered and every reader asks the database, as before. Never commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from inbox.store import deferred

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["Ahead", "created", "install", "joined", "kept", "of", "touched"]

_KEY = "inbox.store.ahead"
_CREATED, _KEPT, _JOINED, _TOUCHED = "tickets created here", "Message-IDs kept here", "participants added here", \
    "tickets touched here"


class Ahead:
    """What `tickets.look_ahead_threads` found for one transaction (the rows are `TicketRow`s), and
    the transaction's notes of what it added and touched since."""

    def __init__(self, by_number: dict[int, Any], by_message_id: dict[str, int | None], by_id: dict[int, Any],
                 participants: dict[int, set[str]], notes: dict[str, Any]) -> None:
        self._by_number = by_number  # number -> row, or None: no ticket had it
        self._by_message_id = by_message_id  # Message-ID -> ticket id, or None: no ticket had it
        self._by_id = by_id
        self._participants = participants
        self._notes = notes

    def rows_by_number(self, numbers: Iterable[int]) -> tuple[dict[int, Any], list[int]]:
        """The rows known for `numbers`, and the numbers still to read."""
        created, touched = self._notes.get(_CREATED, ()), self._notes.get(_TOUCHED, ())
        found: dict[int, Any] = {}
        ask: list[int] = []
        for number in numbers:
            if number not in self._by_number or number in created:
                ask.append(number)
                continue
            row = self._by_number[number]
            if row is None:
                continue
            if row.id in touched:
                ask.append(number)
            else:
                found[number] = row
        return found, ask

    def rows_by_id(self, ids: Sequence[int]) -> tuple[dict[int, Any], list[int]]:
        """The rows known for ticket `ids`, and the ids still to read."""
        touched = self._notes.get(_TOUCHED, ())
        found = {i: self._by_id[i] for i in ids if i in self._by_id and i not in touched}
        return found, [i for i in ids if i not in found]

    def tickets_for_message_ids(self, message_ids: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        """The tickets known for `message_ids`, and the Message-IDs still to read."""
        kept: dict[str, int] = self._notes.get(_KEPT, {})
        found: dict[str, int] = {}
        ask: list[str] = []
        for mid in message_ids:
            if mid in kept:
                found[mid] = kept[mid]
            elif mid not in self._by_message_id:
                ask.append(mid)
            elif self._by_message_id[mid] is not None:
                found[mid] = self._by_message_id[mid]  # type: ignore[assignment]
        return found, ask

    def ticket_ids(self) -> list[int]:
        """The tickets it found, by number or by Message-ID."""
        return list(self._by_id)

    def participants(self, ticket_id: int) -> set[str] | None:
        """The ticket's participants, or None when they were not looked up."""
        if ticket_id not in self._participants:
            return None
        return self._participants[ticket_id] | self._notes.get(_JOINED, {}).get(ticket_id, set())


def install(session: Session, by_number: dict[int, Any], by_message_id: dict[str, int | None], by_id: dict[int, Any],
            participants: dict[int, set[str]]) -> None:
    """Keep what `tickets.look_ahead_threads` read for the rest of the holding transaction (none: nothing kept)."""
    held = deferred.held(session)
    if held is not None:
        held.notes[_KEY] = Ahead(by_number, by_message_id, by_id, participants, held.notes)


def of(session: Session) -> Ahead | None:
    """What was looked up ahead in this transaction, if anything."""
    held = deferred.held(session)
    return held.notes.get(_KEY) if held is not None else None


def created(session: Session, number: int) -> None:
    _note(session, _CREATED, set, lambda found: found.add(number))


def kept(session: Session, message_id: str, ticket_id: int) -> None:
    _note(session, _KEPT, dict, lambda found: found.__setitem__(message_id, ticket_id))


def joined(session: Session, ticket_id: int, addresses: Collection[str]) -> None:
    _note(session, _JOINED, dict, lambda found: found.setdefault(ticket_id, set()).update(addresses))


def touched(session: Session, ticket_id: int) -> None:
    _note(session, _TOUCHED, set, lambda found: found.add(ticket_id))


def _note(session: Session, name: str, factory: type, change: Any) -> None:
    held = deferred.held(session)
    if held is not None and _KEY in held.notes:  # nothing looked up ahead: nothing to correct
        change(held.note(name, factory))
