"""What every ticket rule is handed: the `Desk` (config, contracts, Message-ID secret) and
`TicketFacts`, the plain snapshot of a ticket that notices and templates describe.

Plain data, built once per process and shared; it never reads the database or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inbox.settings import Settings
from inbox.sla.agenda import Dues
from inbox.tickets.contracts import Contracts


@dataclass(frozen=True)
class Desk:
    """What changing tickets and telling people need: the config, its contracts, and the Message-ID secret."""

    settings: Settings
    contracts: Contracts
    secret: str


@dataclass(frozen=True)
class TicketFacts:
    """The ticket as a notice describes it."""

    id: int
    tracking: str
    subject: str
    severity: str
    status: str
    customer_id: str | None
    plan: str | None
    requester: str
    assignee: str | None
    created_at: datetime
    dues: Dues
    last_public_activity: datetime | None = None
    category: str | None = None
