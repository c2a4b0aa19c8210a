"""Tickets as the domain sees them: statuses, outcomes and event kinds. No I/O."""

from __future__ import annotations

import enum

SYSTEM = "system"  # the actor of what the service does by itself, in events


class Status(enum.StrEnum):
    OPEN = "open"
    PENDING = "pending"
    WAITING_ON_CUSTOMER = "waiting-on-customer"
    WAITING_ON_THIRD_PARTY = "waiting-on-third-party"
    SOLVED = "solved"
    CLOSED = "closed"


class Outcome(enum.StrEnum):
    """What ingesting one message came to; the names are CONTRACT.md's."""

    OPENED = "opened"
    APPENDED = "appended"
    DUPLICATE = "duplicate"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    REFUSED = "refused"
    FAILED = "failed"


class EventKind(enum.StrEnum):
    OPENED = "opened"
    APPENDED = "appended"
    CLASSIFIED = "classified"
    SEVERITY_CHANGED = "severity_changed"
    STATUS_CHANGED = "status_changed"
    ESCALATION_REFUSED = "escalation_refused"
    COMMAND_REFUSED = "command_refused"
    NOTIFIED = "notified"
    DELIVERY_FAILED = "delivery_failed"
    BREACH = "breach"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    LINKED = "linked"
    NOTE = "note"
    REFUSED = "refused"
    REOPENED = "reopened"
    WORKAROUND = "workaround"
    SLA_WARNING = "sla_warning"
    SUPPRESSED = "suppressed"
    SKIPPED = "notice_skipped"
    ASSIGNED = "assigned"
    ESCALATION_REQUESTED = "escalation_requested"
    FLAGGED = "flagged"
    CATEGORY_CHANGED = "category_changed"
    RELAYED = "relayed"
    UNSUBSCRIBED = "unsubscribed"  # a customer took themselves off the ticket's mail
    RESUBSCRIBED = "resubscribed"  # and wrote to it again
    CONFIRMED = "confirmed"  # a non-designated contact's ticket released: confirmed, or assigned by a person
    CLOSED_BY_CUSTOMER = "closed_by_customer"


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"
