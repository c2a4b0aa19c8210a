"""A new mail from our own people (an engineer, an account manager) that reaches no ticket.

Staff steer a ticket by replying to it, or by a new mail with its tracking number in the subject
(`[SUP-000123]`), which ingest threads to the ticket like a reply and `replies` treats as one:
the same proof of the sender, spent once. A staff mail that names no ticket that way must not
open one: a ticket in a colleague's name would go to no customer, start clocks for nobody, and
acknowledge our own people. It is recorded (a `refused` event on its raw message) and, when a
person wrote it, the sender is told how to address a ticket (`no_ticket_named`). A tracking number
in the text but not the subject is only mentioned in that email, never acted on: engineers name
other tickets in passing ("same as SUP-000120"), and the subject is where the contract says a
ticket is named. Takes the caller's session; never commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from inbox.domain.message import Automation
from inbox.domain.msgid import make_digest_message_id
from inbox.domain.ticket import Outcome
from inbox.domain.tracking import find_tracking_numbers, format_tracking
from inbox.settings import Settings
from inbox.store import outbox
from inbox.tickets.arrival import Arrival
from inbox.tickets.delivery import record_unticketed
from inbox.tickets.desk import Desk
from inbox.tickets.notices import STAFF

NO_TICKET_NAMED = "no_ticket_named"


def is_staff(settings: Settings, address: str) -> bool:
    """One of our people: an engineer, or an account manager of any customer."""
    return settings.is_agent(address) or settings.is_account_manager(address)


def refuse_unaddressed(session: Session, desk: Desk, mail: Arrival) -> str:
    """Record a staff mail that names no ticket, and tell its sender how to name one; the reason."""
    settings, parsed = desk.settings, mail.parsed
    prefix = settings.service.tracking_prefix
    named = [format_tracking(prefix, n) for n in find_tracking_numbers(prefix, parsed.fresh_text)]
    reason = (f"mail from {parsed.from_addr} (staff) names no ticket in its subject"
              + (f" (its text names {', '.join(named)}, which does not count)" if named else "")
              + ": staff mail opens no ticket")
    record_unticketed(session, parsed, Outcome.REFUSED, reason, raw_id=mail.raw_id, source=mail.source,
                      message_id=mail.message_id, at=mail.at)
    if mail.automation is not Automation.PERSON:
        return reason  # list mail and the like are never answered (RFC 3834)
    context = {"service": {"name": settings.service.name}, "example": format_tracking(prefix, 123),
               "mail": {"subject": parsed.subject[:200], "from": parsed.from_addr, "named": named}}
    # An id of ours that names no ticket (as a digest's): a reply to this email joins nothing by it.
    outbox.enqueue(session, key=f"no-ticket:{mail.raw_id}:{parsed.from_addr}"[:300], ticket_id=None,
                   kind=NO_TICKET_NAMED, audience=STAFF, recipient=parsed.from_addr.lower(), automatic=True,
                   plan=None, customer_id=None, context=context,
                   message_id=make_digest_message_id(mail.raw_id, settings.own_domain, desk.secret), created_at=mail.at)
    return reason
