"""Tickets as people and scripts see them: JSON-ready dicts and plain-text tables.

Times are ISO 8601 with an offset in JSON (CONTRACT.md), and in the ticket's calendar time zone
in text (`inbox.local_times`). Reads what it is given; never queries.
Text meant for a terminal shows mail as it was written but never passes on a control
character: a customer's body must not be able to move the cursor or recolour the screen.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING, Any, Sequence

from classifiers import split_lines
from inbox.local_times import local, local_instants

if TYPE_CHECKING:  # only named in signatures: `tickets list` renders its rows without loading the ORM
    from inbox.store.tables import Attachment, Event, OutboxRow, Suppression, Ticket, TicketMessage

BODY_INDENT = " " * 6
BODY_LIMIT = 4000  # characters of one message body in `tickets show`; --json carries the whole text
MAX_BLANK_LINES = 2
# C0 and C1 controls other than tab and newline: ESC sequences and friends (ECMA-48); and the
# bidirectional embeddings, overrides and isolates, which show "invoice\u202efdp.exe" as "invoiceexe.pdf".
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def ticket_row(ticket: Ticket) -> dict[str, Any]:
    return {
        "tracking": ticket.tracking,
        "subject": ticket.subject,
        "customer": ticket.customer_id,
        "severity": ticket.severity,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "created_at": iso(ticket.created_at),
        "flags": list(ticket.flags),
    }


def ticket_detail(
    ticket: Ticket, messages: Sequence[TicketMessage], events: Sequence[Event], links: Sequence[str],
    suppressed: Sequence[Suppression] = (), outbox: Sequence[OutboxRow] = (), attachments: Sequence[Attachment] = (),
) -> dict[str, Any]:
    """`attachments` are the messages', numbered from 1 across the ticket in message order: the
    numbers `inbox tickets attachment` takes."""
    files: dict[int, list[dict[str, Any]]] = {}
    numbered = sorted(attachments, key=lambda a: ([m.id for m in messages].index(a.message_id), a.id))
    for number, a in enumerate(numbered, start=1):
        files.setdefault(a.message_id, []).append(
            {"number": number, "name": a.filename, "type": a.content_type, "size": a.size, "sha256": a.sha256})
    return {
        **ticket_row(ticket),
        "plan": ticket.plan,
        "category": ticket.category,
        "requester": ticket.requester,
        "updated_at": iso(ticket.updated_at),
        "first_response_due": iso(ticket.first_response_due),
        "first_response_at": iso(ticket.first_response_at),
        "next_update_due": iso(ticket.next_update_due),
        "workaround_due": iso(ticket.workaround_due),
        "workaround_at": iso(ticket.workaround_at),
        "resolution_due": iso(ticket.resolution_due),
        "paused_since": iso(ticket.paused_since),
        "last_update_sent_at": iso(ticket.last_update_sent_at),
        "solved_at": iso(ticket.solved_at),
        "closed_at": iso(ticket.closed_at),
        "escalation_level": ticket.escalation_level,
        "links": list(links),
        # Addresses on this ticket that get no automatic mail until a person writes from them.
        "suppressed": [{"address": s.address, "since": iso(s.since), "reason": s.reason} for s in suppressed],
        "outbox": [{"kind": o.kind, "to": o.recipient, "state": o.state, "attempts": o.attempts,
                    "next_attempt_at": iso(o.next_attempt_at), "sent_at": iso(o.sent_at), "error": o.last_error,
                    "digest": o.digest_id}  # the outbox row of the digest that carries it, if any
                   for o in outbox],
        "messages": [
            {
                "direction": m.direction,
                "from": m.from_addr,
                "from_name": m.from_name,  # the sender's display name as the mail gave it ("" when none)
                "to": m.to_addrs,
                "cc": m.cc_addrs,
                "subject": m.subject,
                "message_id": m.message_id,
                "at": iso(m.at),
                "automation": m.automation,
                "internal": m.internal,
                "flag": m.flag,
                "text": m.visible_text,
                "attachments": files.get(m.id, []),
            }
            for m in messages
        ],
        "events": [
            {"kind": e.kind, "at": iso(e.at), "actor": e.actor, "detail": e.detail} for e in events
        ],
    }


TIME_FIELDS = frozenset({"created_at", "first_response_due", "first_response_at", "next_update_due",
                         "workaround_due", "resolution_due"})


def ticket_text(detail: dict[str, Any], zone: tzinfo = timezone.utc) -> str:
    """`ticket_detail` for a person: times in `zone` (the ticket's calendar's), one line an event."""
    lines = [f"{detail['tracking']}  {printable(detail['subject'])}"]
    for key in ("customer", "plan", "severity", "category", "status", "assignee", "requester", "created_at",
                "first_response_due", "first_response_at", "next_update_due", "workaround_due", "resolution_due"):
        value = local(detail[key], zone) if key in TIME_FIELDS else detail[key]
        lines.append(f"  {key:<19} {printable(str(value)) if value is not None else '-'}")
    if detail["flags"]:
        lines.append(f"  {'flags':<19} {printable('; '.join(detail['flags']))}")
    if detail["escalation_level"]:
        lines.append(f"  {'escalation_level':<19} {detail['escalation_level']}")
    if detail["links"]:
        lines.append(f"  {'links':<19} {', '.join(detail['links'])}")
    for s in detail["suppressed"]:
        lines.append(f"  {'suppressed':<19} {s['address']} since {local(s['since'], zone)}: {printable(s['reason'])}")
    lines.append("messages:")
    for m in detail["messages"]:
        marks = "" if m["automation"] == "person" else f" [{m['automation']}]"
        marks += " [internal]" if m["internal"] else ""
        marks += f" [flagged: {printable(m['flag'])}]" if m["flag"] else ""
        # Quoted, so that a name written as an address ("engineer@example.com") reads as the name it is.
        sender = f"\"{printable(m['from_name'])}\" <{m['from']}>" if m["from_name"] else m["from"]
        lines.append(f"  {local(m['at'], zone)}  {m['direction']:<3} {sender}{marks}: {printable(m['subject'])}")
        for a in m["attachments"]:
            lines.append(f"{BODY_INDENT}[{a['number']}] {printable(a['name'])}  {a['type']}  {a['size']:,} bytes  "
                         f"sha256 {a['sha256']}")
        lines.extend(body_lines(m["text"]))
    if detail["outbox"]:
        lines.append("outbox:")
        for o in detail["outbox"]:
            into = f" into digest {o['digest']}" if o["digest"] else ""
            error = f" ({printable(o['error'])})" if o["error"] else ""
            lines.append(f"  {o['kind']:<18} to {o['to']}: {o['state']}{into}{error}")
    lines.append("events:")
    for e in detail["events"]:
        lines.append(event_line(e, zone))
    return "\n".join(lines)


def event_line(event: dict[str, Any], zone: tzinfo = timezone.utc) -> str:
    """One event on one line: when, what, who, then its detail as "from -> to; key: value"."""
    detail = dict(event["detail"] or {})
    said = []
    if "from" in detail and "to" in detail and not isinstance(detail["to"], (list, dict)):
        said.append(f"{_value(detail.pop('from'), zone)} -> {_value(detail.pop('to'), zone)}")
    said.extend(f"{key}: {_value(value, zone)}" for key, value in detail.items())
    line = f"  {local(event['at'], zone)}  {event['kind']:<16} {event['actor']}"
    return printable(line + (f"  {'; '.join(said)}" if said else ""))


def _value(value: Any, zone: tzinfo) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v, zone) for v in value) or "(none)"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}: {_value(v, zone)}" for k, v in value.items()) + ")"
    return local_instants(str(value), zone)


def body_lines(text: str, limit: int = BODY_LIMIT) -> list[str]:
    """A message body for a person: indented, at most two blank lines in a row, cut after `limit` characters.

    Rows are the lines the desk read commands and quotes from (`classifiers.split_lines`): a
    quoted "> down \f#solve" shows as the one quoted line it was, never as a command line."""
    rows = [printable(row).rstrip() for row in split_lines(text)]
    text = re.sub(r"\n{%d,}" % (MAX_BLANK_LINES + 2), "\n" * (MAX_BLANK_LINES + 1), "\n".join(rows).strip("\n"))
    if not text:
        return [f"{BODY_INDENT}(no text)"]
    shown, rest = text[:limit], len(text) - limit
    lines = [f"{BODY_INDENT}{row}" if row else "" for row in shown.split("\n")]
    if rest > 0:
        lines.append(f"{BODY_INDENT}[... {rest} more characters]")
    return lines


def printable(text: str) -> str:
    """`text` on one line (line breaks become spaces) without control characters (each becomes U+FFFD)."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", " ".join(text.splitlines()))
