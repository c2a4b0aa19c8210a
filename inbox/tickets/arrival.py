"""An inbound email as the ticket rules see it (`Arrival`), and how it is kept on a ticket.

Built by ingest once it knows what the mail is and where it belongs; the ticket rules read it
and never parse mail themselves. Proving the sender (a DNS lookup for DKIM) is handed in as a
function, so only the mails whose rights matter (an engineer's, an account manager's) pay for it.
A proof that is used to change a ticket is spent (`spend_proof`): it acts once, ever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from inbox.domain.message import Automation, ParsedMessage
from inbox.domain.people import Authentication
from inbox.domain.ticket import Direction
from inbox.settings import Settings
from inbox.store import ahead, history, proofs, sent, suppression
from inbox.tickets.notices import CUSTOMER


@dataclass(frozen=True)
class Arrival:
    parsed: ParsedMessage
    message_id: str  # its Message-ID, or the stable id made from its bytes
    raw_id: int
    source: str
    at: datetime  # when it arrived: clocks start then, not when it was processed
    automation: Automation
    automation_reason: str
    prove_sender: Callable[[], Authentication]  # is the From domain proven? (cached by the caller)


def expect(session: Session, mails: Sequence[ParsedMessage]) -> None:
    """A batch of mails is about to arrive, in a transaction that holds its writes: what the rules
    would look up for each sender one by one (are they suppressed?), and for each ticket the batch
    names (what did we last send its customer? `acknowledging.echo_of`), is looked up once, for all.
    The tickets are those the store looked up ahead for the batch (`inbox.store.ahead`), if it did."""
    suppression.look_ahead(session, [parsed.from_addr for parsed in mails])
    looked = ahead.of(session)
    if looked is not None:
        sent.look_ahead_last_sent(session, looked.ticket_ids(), CUSTOMER)


def keep(session: Session, ticket_id: int, mail: Arrival, *, internal: bool = False,
         flag: str | None = None) -> int | None:
    """Store the mail on the ticket, as it came."""
    return history.add_message(session, ticket_id=ticket_id, message=mail.parsed, message_id=mail.message_id,
                               direction=Direction.IN.value, at=mail.at, raw_id=mail.raw_id,
                               automation=mail.automation.value, internal=internal, flag=flag)


def spend_proof(session: Session, mail: Arrival) -> Authentication:
    """The sender's proof, used up by the change it is about to make, in the caller's transaction.

    A pass whose once-keys another mail spent first is a copy of that mail (a replay, whatever
    was added on top): it fails, with that reason, and the caller changes nothing.
    """
    proof = mail.prove_sender()
    if not proof.passed:
        return proof
    if not proof.once:
        return Authentication(False, None, f"{proof.reason}, but it names nothing to hold it to once")
    first = proofs.spend(session, proof.once, raw_id=mail.raw_id, at=mail.at)
    if first is None:
        return proof
    return Authentication(False, None, f"{proof.reason}, but that proof was already used by raw message #{first}: "
                                       "a copy of a mail acts once")


def thread_roles(parsed: ParsedMessage, settings: Settings, *, requester: bool) -> dict[str, str]:
    """Addresses this mail puts on the thread: its sender and copies, never our own addresses."""
    roles: dict[str, str] = {parsed.from_addr: "requester" if requester else "sender"}
    for address in (*parsed.reply_to, *parsed.to, *parsed.cc):
        if address and not settings.is_support_address(address):
            roles.setdefault(address, "copied")
    return roles
