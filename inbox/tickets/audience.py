"""Who on a ticket's thread hears from us: the requester and the customer's people copied on it.

The ticket's customer list is kept on its participants (`role`):

- `requester`: who opened it; `requester-unsubscribed` once they wrote `#unsubscribe`.
- `customer`: a person of the ticket's customer (an address of one of its domains or a listed
  contact, never one of our staff or support addresses) who wrote to the ticket as the customer
  or was in To or Cc of a mail that did; `unsubscribed` once they wrote `#unsubscribe`.
- `machine`: a customer's machine whose notification opened the ticket: on the thread, never mailed.
- anything else (`sender`, `copied`): on the thread, so their replies join the ticket, but mailed
  nothing. Strangers, vendors, our staff copied on the thread stay here.

Only a mail whose sender is the customer's own person adds anyone: a stranger on the thread who
copies an address of the customer's domain adds nobody, and a ticket with no customer (an unknown
sender) mails its requester only. The people copied by a mail from our side (an engineer's, an
account manager's) are never added either: customer-facing copies go where the customer put them.

Unsubscribing (a `#unsubscribe` line from the address itself):
- a copied person gets nothing more from the ticket;
- the requester gets no more automatic email about it (status updates, reminders, solved, closed,
  severity changes), but still every engineer's reply, which a person wrote to answer them;
- it is recorded as an `unsubscribed` event and answered with nothing: they asked for less mail,
  and an answer to a mail whose From anyone can write would go to whoever was named there;
- it holds while others reply-all with the address in Cc; the address comes back only when it
  writes to the ticket itself again (recorded as `resubscribed`), as a bounced address comes off
  the suppression list when a person writes from it.

Each recipient gets an email of its own (an outbox row, its key ending in the address), so the
hourly limit, the suppression list and the loop rules judge each address alone. Copies of an
engineer's reply (not automatic, so the dispatcher passes them) skip suppressed addresses here:
a copy is a courtesy, and an address that bounced for good would only bounce it again.
Takes the caller's session; never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.domain.ticket import EventKind
from inbox.settings import CustomerSettings, Settings
from inbox.store import history, suppression
from inbox.store import tickets as store

REQUESTER, REQUESTER_OFF = "requester", "requester-unsubscribed"
# The customer's machine whose notification opened the ticket (inbox.ingest.notifications): on
# the thread so its further notifications join it, but never mailed, not even an engineer's reply.
MACHINE = "machine"
CUSTOMER, CUSTOMER_OFF = "customer", "unsubscribed"
_OFF = {REQUESTER: REQUESTER_OFF, CUSTOMER: CUSTOMER_OFF}
_ON = {off: on for on, off in _OFF.items()}
# The emails about the ticket that every person on its customer list gets; the rest (an
# acknowledgement, an answer to an escalation request) answer one mail and go to its sender.
THREAD_KINDS = frozenset({"agent_reply", "status_update", "reminder", "solved", "closed", "severity_changed"})


@dataclass(frozen=True)
class Audience:
    to: list[str]  # the requester first, then the copied people in the order they joined
    left_out: dict[str, str]  # address: why a person on the list gets no copy of this one


def is_customers(settings: Settings, customer: CustomerSettings | None, address: str) -> bool:
    """Whether `address` is a person of `customer`: one of its domains or contacts, never ours."""
    if customer is None or not address:
        return False
    if settings.is_staff(address) or settings.is_support_address(address):
        return False  # a TAM at the customer's own domain is still ours: no customer-facing copy
    found = settings.customer_for(address)
    return found is not None and found.id == customer.id


def copied_people(settings: Settings, customer: CustomerSettings | None, parsed: ParsedMessage) -> list[str]:
    """The customer's people in To and Cc of a mail its sender wrote as the customer; [] otherwise.
    Reply-To is never read: it names where answers go, not who was copied."""
    if not is_customers(settings, customer, parsed.from_addr):
        return []
    sender = parsed.from_addr.lower()
    found = (a.lower() for a in (*parsed.to, *parsed.cc) if a)
    return [a for a in dict.fromkeys(found) if a != sender and is_customers(settings, customer, a)]


def opened_with(settings: Settings, customer: CustomerSettings | None, parsed: ParsedMessage) -> dict[str, str]:
    """The roles a new ticket's first mail gives the customer's people it copies (its sender is the requester)."""
    return {address: CUSTOMER for address in copied_people(settings, customer, parsed)}


def take_reply(session: Session, settings: Settings, *, ticket_id: int, customer: CustomerSettings | None,
               parsed: ParsedMessage, at: datetime, unsubscribing: bool) -> None:
    """Put the customer's people a reply copies on the list, and its sender on or off it.
    Anyone may take themselves off (it only stops mail: the requester of a ticket without a
    customer too); only the customer's own person puts anyone on."""
    sender = parsed.from_addr.lower()
    ours = is_customers(settings, customer, sender)
    if not (ours or unsubscribing):
        return  # a stranger on the thread (or a forged From of one) adds nobody: no query
    roles = store.participant_roles(session, ticket_id)  # after the reply's own participants: they are there
    changed: dict[str, str] = {}
    for address in copied_people(settings, customer, parsed):
        if roles.get(address) not in (REQUESTER, REQUESTER_OFF, CUSTOMER, CUSTOMER_OFF):
            changed[address] = CUSTOMER  # new, or on the thread until now without mail: a reply-all keeps the off
    mine = roles.get(sender)
    if unsubscribing:
        off = _OFF.get(mine or "", CUSTOMER_OFF) if mine not in _ON else mine
        if off != mine:
            changed[sender] = off
            history.add_event(session, ticket_id=ticket_id, kind=EventKind.UNSUBSCRIBED, at=at, actor=sender,
                              detail={"address": sender, "stops": "automatic email" if off == REQUESTER_OFF
                                      else "every email about the ticket"})
    elif mine in _ON and ours:
        changed[sender] = _ON[mine]
        history.add_event(session, ticket_id=ticket_id, kind=EventKind.RESUBSCRIBED, at=at, actor=sender,
                          detail={"address": sender, "why": "wrote to the ticket again"})
    elif ours and mine not in (REQUESTER, CUSTOMER):
        changed[sender] = CUSTOMER
    if changed:
        history.set_participant_roles(session, ticket_id, changed)


def audience(session: Session, settings: Settings, *, ticket_id: int, requester: str,
             customer: CustomerSettings | None, kind: str, automatic: bool) -> Audience:
    """Who gets email `kind` about the ticket, each on their own, and who on the list does not, and why."""
    requester = requester.lower()
    roles = store.participant_roles(session, ticket_id)
    left_out: dict[str, str] = {}
    to = [requester]
    if roles.get(requester) == MACHINE:  # RFC 3834: a machine's mail is never answered, by anything
        to, left_out[requester] = [], "a machine of the customer (notification): never mailed"
    if kind not in THREAD_KINDS:
        return Audience(to, left_out)
    if roles.get(requester) == REQUESTER_OFF and automatic:
        to, left_out[requester] = [], "unsubscribed: no automatic email"
    # Without a customer nobody is copied: only its own person could have put anyone on the list.
    copies = [a for a, role in roles.items() if role == CUSTOMER and a != requester] if customer else []
    for address in copies:
        if not is_customers(settings, customer, address):
            left_out[address] = "no longer a person of the ticket's customer in the config"
        else:
            to.append(address)
    if not automatic:  # the dispatcher checks suppression for automatic email only
        for address, row in suppression.suppressed(session, [a for a in to if a != requester]).items():
            to.remove(address)
            left_out[address] = f"suppressed: {row.reason}"
    return Audience(to, left_out)
