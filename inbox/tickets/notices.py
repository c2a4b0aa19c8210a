"""Who is told what about a ticket: outbox rows with their recipients, keys and template data.

Each notice is written into the outbox in the caller's transaction, with an idempotency key
(`ack:<ticket>`, `update:<ticket>:<due>` ...) so the same notice is never queued twice, and
with its Message-ID fixed now so every retry is the same email. The template data is a
snapshot of the ticket as it is now, with times written for people in the plan's time zone.
What a customer's email is given is `for_customer`'s view of it: no address of our people
(agents, account managers, teams, escalation contacts) is in it but `ticket.assignee_address`,
which an admin must write on purpose. Nothing is rendered or sent here; that is the
autoresponder's job.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from inbox.domain.msgid import make_message_id
from inbox.settings import Settings
from inbox.sla.agenda import RESPONSE
from inbox.store import outbox
from inbox.store import tickets as store
from inbox.tickets.audience import Audience, audience
from inbox.tickets.desk import Desk, TicketFacts

CUSTOMER, STAFF = "customer", "staff"
# The kinds of email a customer (or a stranger who wrote to us) receives; severity_changed goes to staff too.
CUSTOMER_KINDS = frozenset({"acknowledgement", "not_designated", "status_update", "reminder", "severity_changed",
                            "solved", "closed", "closed_by_customer", "agent_reply", "escalation_received"})
# A value that is one address, bare or with a display name: "ravi@akemona.com", "Ravi <ravi@akemona.com>".
_ONE_ADDRESS = re.compile(r"\s*(?:[^<>@]*<)?\s*([^\s<>@,;]+@[^\s<>@,;]+?)\s*>?\s*")


@lru_cache(maxsize=512)
def when(at: datetime | None, zone: ZoneInfo) -> str | None:
    """An instant as a person in `zone` reads it: "Monday 2 March 2026, 13:00 PST".

    Remembered: a new ticket's context is built for the engineer's brief and the acknowledgement,
    with the same instants, and strftime's names cost more than the look-up (the text depends on
    the instant and the zone alone, which is what equal aware datetimes share)."""
    if at is None:
        return None
    local = at.astimezone(zone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def context(desk: Desk, ticket: TicketFacts, **extra: Any) -> dict[str, Any]:
    zone = desk.contracts.zone(ticket.plan)
    customer = desk.settings.customer(ticket.customer_id)
    d = ticket.dues
    return {
        "service": {"name": desk.settings.service.name},
        "ticket": {
            "tracking": ticket.tracking,
            "subject": ticket.subject,
            "severity": ticket.severity,
            "status": ticket.status,
            "customer": customer.name if customer else (ticket.customer_id or "unknown sender"),
            "plan": ticket.plan,
            "requester": ticket.requester,
            "assignee": ticket.assignee,
            "assignee_name": desk.settings.staff_names.get(ticket.assignee) if ticket.assignee else None,
            "assignee_address": ticket.assignee,
            "category": ticket.category,
            "created_at": when(ticket.created_at, zone),
            "first_response_due": when(d.first_response_due, zone),
            "next_update_due": when(d.next_update_due, zone),
            "workaround_due": when(d.workaround_due, zone),
            "resolution_due": when(d.resolution_due, zone),
            "last_public_activity": when(ticket.last_public_activity, zone),
        },
        "target": None,
        "level": None,
        "change": None,
        "timezone": zone.key,
        **extra,
    }


def for_customer(settings: Settings, data: dict[str, Any]) -> dict[str, Any]:
    """The template data as a customer may see it: every value that is the address of one of our
    people (`ticket.assignee`, `change.by` ...) becomes the name customers read for them
    (`staff_names`, else the service's name). Only `ticket.assignee_address` keeps the address: an
    admin who writes it means to show it. Free text (a subject, a reply) is left as it was written.
    Data queued before these names existed gets them here too."""
    shown = _hidden(settings, data)
    ticket, original = shown.get("ticket"), data.get("ticket")
    if isinstance(ticket, dict) and isinstance(original, dict):
        address = original.get("assignee_address", original.get("assignee"))
        ticket["assignee_address"] = address
        ticket.setdefault("assignee_name", settings.staff_names.get(address) if address else None)
    return shown


def _hidden(settings: Settings, value: Any) -> Any:
    if isinstance(value, str):
        found = _ONE_ADDRESS.fullmatch(value) if "@" in value else None  # an address has its "@": most text has none
        return settings.shown_name(found[1]) if found and settings.is_staff(found[1]) else value
    if isinstance(value, dict):  # most values are text without "@", or None: kept without a call
        return {key: item if item is None or (type(item) is str and "@" not in item) else _hidden(settings, item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_hidden(settings, item) for item in value]
    return value


def target_context(desk: Desk, ticket: TicketFacts, target: str, due: datetime | None) -> dict[str, Any]:
    policy = desk.contracts.policy(ticket.plan, ticket.severity)
    rule = policy.targets.get(target)
    # due_at, the instant itself, is for a digest to sort by how late; templates show `due`.
    return {"name": target, "duration": str(rule.duration) if rule else None,
            "due": when(due, desk.contracts.zone(ticket.plan)), "due_at": due.isoformat() if due else None}


def thread_ids(session: Session, ticket_id: int) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for mail to the customer: the first and the latest inbound mail."""
    first, last = store.thread_ends(session, ticket_id)
    return last, [m for m in dict.fromkeys((first, last)) if m]


def enqueue(
    session: Session,
    desk: Desk,
    ticket: TicketFacts,
    *,
    kind: str,
    key: str,
    recipients: Sequence[str],
    audience: str,
    at: datetime,
    data: dict[str, Any],
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    automatic: bool = True,
    attach_raw_id: int | None = None,
) -> int:
    """Queue `kind` for each recipient (one row each, its key ending in the address, so each is
    sent, limited and suppressed on its own); returns how many rows were new."""
    domain = desk.settings.own_domain
    if audience == CUSTOMER:
        data = for_customer(desk.settings, data)
    new = 0
    if audience == CUSTOMER:  # the last line against a loop: a customer's listed machine is never mailed
        recipients = [r for r in recipients if not _is_listed_machine(desk.settings, r)]
    for recipient in dict.fromkeys(r.lower() for r in recipients if r):
        new += outbox.enqueue(
            session,
            key=f"{key}:{recipient}"[:300],
            ticket_id=ticket.id,
            kind=kind,
            audience=audience,
            recipient=recipient,
            automatic=automatic,
            plan=ticket.plan,
            customer_id=ticket.customer_id,
            context=data,
            message_id=make_message_id(ticket.tracking, domain, desk.secret),
            in_reply_to=in_reply_to if audience == CUSTOMER else None,
            references=list(references) if audience == CUSTOMER else [],
            created_at=at,
            attach_raw_id=attach_raw_id,
        )
    return new


def _is_listed_machine(settings: Settings, address: str) -> bool:
    customer = settings.customer_for(address) if address else None
    return customer is not None and customer.is_machine_sender(address)


def tell_customer(session: Session, desk: Desk, ticket: TicketFacts, *, kind: str, key: str, at: datetime,
                  data: dict[str, Any], automatic: bool = True, attach_raw_id: int | None = None,
                  to: Audience | None = None) -> int:
    """Queue `kind` to the ticket's customer list (`inbox.tickets.audience`: the requester, and for
    news of the ticket the customer's people copied on it), one email each, threaded under the
    customer's own mail. `to`: the list, when the caller already asked for it."""
    to = to or audience(session, desk.settings, ticket_id=ticket.id, requester=ticket.requester,
                        customer=desk.settings.customer(ticket.customer_id), kind=kind, automatic=automatic)
    in_reply_to, refs = thread_ids(session, ticket.id)
    return enqueue(session, desk, ticket, kind=kind, key=key, recipients=to.to, audience=CUSTOMER,
                   at=at, data=data, in_reply_to=in_reply_to, references=refs, automatic=automatic,
                   attach_raw_id=attach_raw_id)


def tell_staff(session: Session, desk: Desk, ticket: TicketFacts, *, kind: str, key: str, at: datetime,
               recipients: Sequence[str], data: dict[str, Any]) -> int:
    """Queue `kind` to people of ours (engineers, account managers, the escalation chain)."""
    return enqueue(session, desk, ticket, kind=kind, key=key, recipients=recipients, audience=STAFF, at=at, data=data)


def acknowledge(session: Session, desk: Desk, ticket: TicketFacts, at: datetime, message_id: str) -> None:
    """Queue the acknowledgement of a new ticket: its tracking number, severity and response target."""
    data = context(desk, ticket, target=target_context(desk, ticket, RESPONSE, ticket.dues.first_response_due))
    enqueue(session, desk, ticket, kind="acknowledgement", key=f"ack:{ticket.id}", recipients=[ticket.requester],
                    audience=CUSTOMER, at=at, data=data, in_reply_to=message_id, references=[message_id])
