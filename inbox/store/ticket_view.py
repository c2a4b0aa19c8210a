"""One ticket as `inbox tickets show` gives it, read through a `Reader` (the driver itself).

The ORM models (`tables.py`) and the service behind them cost `tickets show` half its second
before it read a row, and SQLAlchemy's import a third of what was left. These queries name only the
columns the view shows and decode them as the models' types do (times aware UTC, JSON decoded,
booleans as bool): each row's attributes are the models' attribute names, so
`inbox.present.ticket_detail` reads them as it reads the models (a test holds the two to the same
detail). Reads only: a command reading a database in use by `inbox serve` sees what has committed
(nothing held back in a transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Sequence

from inbox.store.reader import Reader

__all__ = ["TicketView", "read"]

_TIMES = ("created_at", "updated_at", "first_response_due", "first_response_at", "next_update_due", "workaround_due",
          "workaround_at", "resolution_due", "solved_at", "closed_at", "last_update_sent_at", "paused_since")
# Each table's columns the view shows, and how each is decoded: "time", "json", "bool" (else as read).
_TICKET = {**dict.fromkeys(("id", "number", "tracking", "subject", "requester", "customer_id", "plan", "severity",
                            "category", "status", "assignee", "escalation_level")),
           "flags": "json", **dict.fromkeys(_TIMES, "time")}
_MESSAGE = {"id": None, "ticket_id": None, "direction": None, "from_addr": None, "from_name": None, "to_addrs": "json",
            "cc_addrs": "json", "subject": None, "message_id": None, "at": "time", "automation": None,
            "internal": "bool", "flag": None, "visible_text": None}
_EVENT = {"id": None, "ticket_id": None, "kind": None, "at": "time", "actor": None, "detail": "json"}
_SUPPRESSION = {"address": None, "reason": None, "since": "time"}
_OUTBOX = {"id": None, "ticket_id": None, "kind": None, "recipient": None, "state": None, "attempts": None,
           "next_attempt_at": "time", "sent_at": "time", "last_error": None, "digest_id": None}
_ATTACHMENT = {"id": None, "message_id": None, "filename": None, "content_type": None, "size": None, "sha256": None}


@dataclass(frozen=True)
class TicketView:
    """The rows `inbox.present.ticket_detail` takes, each with the models' attribute names."""

    ticket: SimpleNamespace
    messages: Sequence[SimpleNamespace]
    events: Sequence[SimpleNamespace]
    links: list[str]
    suppressed: Sequence[SimpleNamespace]
    outbox: Sequence[SimpleNamespace]
    attachments: Sequence[SimpleNamespace]


def read(reader: Reader, tracking: str) -> TicketView | None:
    """The ticket whose tracking number is `tracking` (any case), or None."""
    m = reader.mark
    found = _rows(reader, "tickets", _TICKET, f"tracking = {m}", [tracking.upper()])
    if not found:
        return None
    ticket = found[0]
    tid = ticket.id
    messages = _rows(reader, "ticket_messages", _MESSAGE, f"ticket_id = {m}", [tid], "id")
    named = [a for a, in reader.all(f"SELECT address FROM participants WHERE ticket_id = {m}", [tid])]
    addresses = sorted({a.lower() for a in (ticket.requester, *named) if a})
    links = [t for t, in reader.all(
        f"SELECT linked.tracking FROM tickets AS linked JOIN ticket_links ON ticket_links.linked_ticket_id = linked.id "
        f"WHERE ticket_links.ticket_id = {m} ORDER BY linked.number", [tid])]
    ids = [message.id for message in messages]
    return TicketView(
        ticket=ticket, messages=messages,
        events=_rows(reader, "events", _EVENT, f"ticket_id = {m}", [tid], "id"),
        links=links,
        suppressed=_rows(reader, "suppressions", _SUPPRESSION, f"address IN ({', '.join([m] * len(addresses))})",
                         addresses, "address") if addresses else [],
        outbox=_rows(reader, "outbox", _OUTBOX, f"ticket_id = {m}", [tid], "id"),
        attachments=_rows(reader, "attachments", _ATTACHMENT, f"message_id IN ({', '.join([m] * len(ids))})",
                          ids, "message_id, id") if ids else [],
    )


def _rows(reader: Reader, table: str, columns: dict[str, str | None], where: str, params: list[Any],
          order: str | None = None) -> list[SimpleNamespace]:
    names = ", ".join(f'"{name}"' for name in columns)
    sql = f"SELECT {names} FROM {table} WHERE {where}" + (f" ORDER BY {order}" if order else "")
    decode = {"time": reader.time, "json": reader.json, "bool": reader.boolean}
    found = reader.records(sql, params)
    for row in found:
        for name, kind in columns.items():
            if kind is not None:
                setattr(row, name, decode[kind](getattr(row, name)))
    return found
