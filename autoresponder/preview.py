"""Previews: the email a template would send, headers and parts, without sending or queueing it.

With a ticket, the template data is the ticket's, as a notice about it would carry, over the
sample data for what only an event supplies (a reply's text, a refusal's reason); without one,
the sample data. With a customer, that customer's overrides (and its plan's) are the ones used.
With `changes` (path -> text), those texts are rendered in place of the current ones, as the
editor's text before it is saved. Serves `inbox templates preview` and the admin's pages. Reads
only; never stores a text, never queues or sends.
"""

from __future__ import annotations

import email
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from autoresponder import digest
from autoresponder.compose import compose
from autoresponder.render import FILES, KINDS, Renderer
from autoresponder.samples import sample_context, sample_digest
from autoresponder.template_source import Overlay
from inbox import tickets
from inbox.domain.msgid import make_digest_message_id, make_message_id
from inbox.store import tickets as store
from inbox.tickets import Desk

SAMPLE_TRACKING = "SUP-000123"
SAMPLE_STAFF = "lead@example.com"  # who a sample digest goes to
_DUE_OF = {"response": "first_response_due", "update": "next_update_due", "workaround": "workaround_due",
           "resolution": "resolution_due"}


@dataclass(frozen=True)
class Preview:
    kind: str
    ticket: str | None  # the tracking number whose data was used; None: sample data
    customer: str | None  # whose overrides were looked for
    headers: list[tuple[str, str]]  # as a mail program shows them: decoded
    text: str
    html: str
    files: dict[str, str] = field(default_factory=dict)  # subject/text/html -> the template file used
    raw: bytes = b""  # the exact bytes that would go out

    def as_text(self) -> str:
        """Headers, then each part under its own Content-Type line: what `templates preview` prints."""
        head = "\n".join(f"{name}: {value}" for name, value in self.headers)
        return (f"{head}\n\n--- Content-Type: text/plain; charset=utf-8 ---\n{self.text.rstrip()}\n"
                f"\n--- Content-Type: text/html; charset=utf-8 ---\n{self.html.rstrip()}\n")

    def as_json(self) -> dict[str, Any]:
        return {"name": self.kind, "ticket": self.ticket, "customer": self.customer, "email": self.as_text(),
                "headers": [list(pair) for pair in self.headers], "text": self.text, "html": self.html,
                "files": self.files}


def preview(sessions: sessionmaker[Session], desk: Desk, renderer: Renderer, kind: str, now: datetime, *,
            tracking: str | None = None, customer: str | None = None,
            changes: Mapping[str, str] | None = None) -> Preview:
    """The email `kind` would send; LookupError for an unknown kind, ticket or customer,
    `autoresponder.render.TemplateError` when the template does not render."""
    if kind not in KINDS:
        raise LookupError(f"no template {kind!r} (known: {', '.join(KINDS)})")
    if changes:  # a renderer of its own: the candidate never becomes anyone's last good version
        renderer = Renderer(renderer.directory, source=Overlay(renderer.source, changes))
    settings = desk.settings
    if kind == digest.TEMPLATE:
        return _digest(desk, renderer, now, tracking=tracking, customer=customer)
    if kind == tickets.NO_TICKET_NAMED:
        return _no_ticket(desk, renderer, now, tracking=tracking, customer=customer)
    chosen = settings.customer(customer) if customer else None
    if customer and chosen is None:
        known = ", ".join(c.id for c in settings.customers) or "none configured"
        raise LookupError(f"no customer {customer!r} (known: {known})")
    data = sample_context(kind)
    data["service"] = {"name": settings.service.name}
    recipient, number, plan, owner = "customer@example.com", SAMPLE_TRACKING, None, None
    if chosen is not None:
        owner, plan = chosen.id, chosen.plan
        data["ticket"].update(customer=chosen.name, plan=chosen.plan)
        if chosen.contacts:
            recipient = chosen.contacts[0]
            data["ticket"]["requester"] = recipient
    if tracking is not None:
        with sessions() as session:
            ticket = store.ticket_by_tracking(session, tracking)
            if ticket is None:
                raise LookupError(f"no ticket {tracking}")
            facts = tickets.view(ticket, tickets.last_public_activity(session, ticket))
        real = tickets.context(desk, facts)
        data.update(service=real["service"], ticket=real["ticket"], timezone=real["timezone"])
        if data.get("target"):
            name = data["target"]["name"]
            due = getattr(facts.dues, _DUE_OF.get(name, ""), None)
            if due is not None:
                data["target"] = tickets.target_context(desk, facts, name, due)
        recipient, number = ticket.requester, ticket.tracking
        if chosen is None:
            owner, plan = ticket.customer_id, ticket.plan
    if kind in tickets.CUSTOMER_KINDS:  # what the customer would get: no address of our people
        data = tickets.for_customer(settings, data)
    rendered = renderer.render(kind, data, plan=plan, customer=owner)
    raw = compose(rendered, from_address=settings.outbound.from_address, to=[recipient],
                  message_id=make_message_id(number, settings.own_domain, desk.secret), date=now,
                  tracking=number, loop_marker=settings.own_domain)
    return _shown(renderer, kind, raw, ticket=tracking, plan=plan, customer=owner)


def _digest(desk: Desk, renderer: Renderer, now: datetime, *, tracking: str | None, customer: str | None) -> Preview:
    """A staff digest, from sample alerts: it lists many tickets and has no per-customer overrides."""
    if tracking is not None or customer is not None:
        raise LookupError("a digest lists many tickets of many customers: preview it without a ticket or customer")
    settings = desk.settings
    data = sample_digest()
    data["service"] = {"name": settings.service.name}
    rendered = renderer.render(digest.TEMPLATE, data)
    raw = compose(rendered, from_address=settings.outbound.from_address, to=[SAMPLE_STAFF],
                  message_id=make_digest_message_id(0, settings.own_domain, desk.secret), date=now, tracking="",
                  loop_marker=settings.own_domain)
    return _shown(renderer, digest.TEMPLATE, raw, ticket=None, plan=None, customer=None)


def _no_ticket(desk: Desk, renderer: Renderer, now: datetime, *, tracking: str | None,
               customer: str | None) -> Preview:
    """What an engineer gets for a new mail that named no ticket: about no ticket and no customer."""
    if tracking is not None or customer is not None:
        raise LookupError("no_ticket_named is about a mail that reached no ticket: preview it without a ticket or customer")
    settings = desk.settings
    data = sample_context(tickets.NO_TICKET_NAMED)
    data["service"] = {"name": settings.service.name}
    data["example"] = f"{settings.service.tracking_prefix}-000123"
    rendered = renderer.render(tickets.NO_TICKET_NAMED, data)
    raw = compose(rendered, from_address=settings.outbound.from_address, to=[SAMPLE_STAFF],
                  message_id=make_digest_message_id(0, settings.own_domain, desk.secret), date=now, tracking="",
                  loop_marker=settings.own_domain)
    return _shown(renderer, tickets.NO_TICKET_NAMED, raw, ticket=None, plan=None, customer=None)


def _shown(renderer: Renderer, kind: str, raw: bytes, *, ticket: str | None, plan: str | None,
           customer: str | None) -> Preview:
    """The composed bytes as a mail program shows them, with the template file behind each part."""
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    files = {part: renderer.source_of(kind, file, plan=plan, customer=customer)
             for part, file in zip(("subject", "text", "html"), FILES)}
    return Preview(kind=kind, ticket=ticket, customer=customer,
                   headers=[(k, " ".join(str(v).split())) for k, v in message.items()],
                   text=_part(message, "plain"), html=_part(message, "html"), files=files, raw=raw)


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return str(part.get_content()) if part is not None else ""
