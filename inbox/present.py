"""Tickets as people and scripts see them: JSON-ready dicts and plain-text tables.

Times are ISO 8601 with an offset (CONTRACT.md). Reads what it is given; never queries.
Text meant for a terminal shows mail as it was written but never passes on a control
character: a customer's body must not be able to move the cursor or recolour the screen.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Sequence

from classifiers import split_lines
from inbox.store.tables import Event, OutboxRow, Suppression, Ticket, TicketMessage

BODY_INDENT = " " * 6
BODY_LIMIT = 4000  # characters of one message body in `tickets show`; --json carries the whole text
MAX_BLANK_LINES = 2
# C0 and C1 controls other than tab and newline: ESC sequences and friends (ECMA-48).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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
    suppressed: Sequence[Suppression] = (), outbox: Sequence[OutboxRow] = (),
) -> dict[str, Any]:
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
            }
            for m in messages
        ],
        "events": [
            {"kind": e.kind, "at": iso(e.at), "actor": e.actor, "detail": e.detail} for e in events
        ],
    }


def ticket_table(tickets: Sequence[Ticket]) -> str:
    header = ("TRACKING", "SEVERITY", "STATUS", "CUSTOMER", "CREATED", "SUBJECT")
    rows = [
        (t.tracking, t.severity, t.status, t.customer_id or "-", t.created_at.strftime("%Y-%m-%d %H:%M"), t.subject[:60])
        for t in tickets
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + str(r[-1]) for r in [header, *rows]]
    return "\n".join(lines)


def ticket_text(detail: dict[str, Any]) -> str:
    lines = [f"{detail['tracking']}  {printable(detail['subject'])}"]
    for key in ("customer", "plan", "severity", "category", "status", "assignee", "requester", "created_at",
                "first_response_due", "first_response_at", "next_update_due", "workaround_due", "resolution_due"):
        lines.append(f"  {key:<19} {detail[key] if detail[key] is not None else '-'}")
    if detail["flags"]:
        lines.append(f"  {'flags':<19} {printable('; '.join(detail['flags']))}")
    if detail["escalation_level"]:
        lines.append(f"  {'escalation_level':<19} {detail['escalation_level']}")
    if detail["links"]:
        lines.append(f"  {'links':<19} {', '.join(detail['links'])}")
    for s in detail["suppressed"]:
        lines.append(f"  {'suppressed':<19} {s['address']} since {s['since']}: {s['reason']}")
    lines.append("messages:")
    for m in detail["messages"]:
        marks = "" if m["automation"] == "person" else f" [{m['automation']}]"
        marks += " [internal]" if m["internal"] else ""
        marks += f" [flagged: {printable(m['flag'])}]" if m["flag"] else ""
        # Quoted, so that a name written as an address ("engineer@example.com") reads as the name it is.
        sender = f"\"{printable(m['from_name'])}\" <{m['from']}>" if m["from_name"] else m["from"]
        lines.append(f"  {m['at']}  {m['direction']:<3} {sender}{marks}: {printable(m['subject'])}")
        lines.extend(body_lines(m["text"]))
    if detail["outbox"]:
        lines.append("outbox:")
        for o in detail["outbox"]:
            into = f" into digest {o['digest']}" if o["digest"] else ""
            lines.append(f"  {o['kind']:<18} to {o['to']}: {o['state']}{into}" + (f" ({o['error']})" if o["error"] else ""))
    lines.append("events:")
    for e in detail["events"]:
        lines.append(f"  {e['at']}  {e['kind']:<16} {e['actor']}  {e['detail']}")
    return "\n".join(lines)


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
