"""Threading: which existing ticket, if any, a message belongs to. Pure.

Evidence, strongest first: an id of ours in In-Reply-To/References whose HMAC
verifies; any other id we stored or sent; the tracking number in the subject.
Whatever the evidence, a sender who is not a participant of the ticket does
not get to add to it (no hijacking by number or by a leaked Message-ID): the
message opens a new ticket that links the old one instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Collection, Iterable


class Via(enum.StrEnum):
    SIGNED_REFERENCE = "signed-reference"
    REFERENCE = "reference"
    SUBJECT = "subject"


@dataclass(frozen=True)
class Candidate:
    """A ticket the message points at, and how."""

    ticket_id: int
    via: Via


@dataclass(frozen=True)
class ParticipantCheck:
    """Who may add to one ticket."""

    thread_addresses: Collection[str]  # every address already on the thread
    customer_contacts: Collection[str]
    customer_domains: Collection[str]
    account_managers: Collection[str]
    agents: Collection[str]

    def admits(self, address: str) -> bool:
        address = address.lower()
        if address in self.thread_addresses or address in self.customer_contacts:
            return True
        if address in self.account_managers or address in self.agents:
            return True
        domain = address.rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self.customer_domains)


def candidates(
    *,
    thread_ids: Iterable[str],
    signed: dict[str, int],
    known: dict[str, int],
    subject_tickets: Iterable[int],
) -> list[Candidate]:
    """Tickets the message points at, best evidence first, each ticket once.

    `signed` maps ids whose HMAC verified to their ticket, `known` maps ids found
    among stored and sent messages; `thread_ids` come In-Reply-To first.
    """
    found: dict[int, Candidate] = {}
    for mid in thread_ids:
        if mid in signed:
            found.setdefault(signed[mid], Candidate(signed[mid], Via.SIGNED_REFERENCE))
    for mid in thread_ids:
        if mid in known:
            found.setdefault(known[mid], Candidate(known[mid], Via.REFERENCE))
    for ticket_id in subject_tickets:
        found.setdefault(ticket_id, Candidate(ticket_id, Via.SUBJECT))
    return list(found.values())
