"""What every ticket rule is handed: the `Desk` (config, contracts, Message-ID secret) and
`TicketFacts`, the plain snapshot of a ticket that notices and templates describe; and
`CurrentDesk`, the one place a running process keeps the desk in effect.

A Desk is plain data, built once per config and shared; it never reads the database or the
clock. A config reload builds a new Desk and sets it in the CurrentDesk; each part (the ingest
worker, the outbound side, the listener, the previews) gets the desk from there at the start of
each batch, turn or request, and keeps that one desk to its end.
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


class CurrentDesk:
    """The desk in effect: `get()` it at the start of a batch, turn or request; `set()` replaces it whole.

    Swapping one attribute is atomic in CPython, so readers on other threads need no lock: each
    gets the old desk or the new one, never half of each.
    """

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    def get(self) -> Desk:
        return self._desk

    def set(self, desk: Desk) -> None:
        self._desk = desk


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
