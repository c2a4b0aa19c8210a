"""`inbox templates preview`: the email a template would send, headers and parts, without sending it.

With a ticket, the template data is built from that ticket as a notice about it would be;
without one, from the renderer's sample data. Reads only; never queues or sends.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from autoresponder.compose import compose
from autoresponder.render import KINDS, Renderer
from autoresponder.samples import sample_context
from inbox import tickets
from inbox.domain.msgid import make_message_id
from inbox.tickets import Desk
from inbox.sla.agenda import RESPONSE
from inbox.store import tickets as store


def preview(sessions: sessionmaker[Session], desk: Desk, directory: Path, kind: str, tracking: str | None,
            now: datetime) -> str:
    if kind not in KINDS:
        raise LookupError(f"no template {kind!r} (known: {', '.join(KINDS)})")
    plan = customer = None
    if tracking is None:
        data, recipient, number = sample_context(kind), "customer@example.com", "SUP-000123"
    else:
        with sessions() as session:
            ticket = store.ticket_by_tracking(session, tracking)
            if ticket is None:
                raise LookupError(f"no ticket {tracking}")
            facts = tickets.view(ticket, tickets.last_public_activity(session, ticket))
            data = tickets.context(desk, facts, target=tickets.target_context(desk, facts, RESPONSE,
                                                                              ticket.first_response_due))
            recipient, number, plan, customer = ticket.requester, ticket.tracking, ticket.plan, ticket.customer_id
    rendered = Renderer(directory).render(kind, data, plan=plan, customer=customer)
    body = compose(rendered, from_address=desk.settings.outbound.from_address, to=[recipient],
                   message_id=make_message_id(number, desk.settings.own_domain, desk.secret), date=now,
                   tracking=number, loop_marker=desk.settings.own_domain)
    return body.decode("utf-8", errors="replace").replace("\r\n", "\n")
