"""The schema as typed SQLAlchemy models. Migrations under `migrations/` create it.

Times are stored as UTC and always read back aware (SQLite has no time zones).
Indexes follow the queries the worker and the scheduler make: raw rows by
state and next attempt, tickets by status and each due time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

from inbox.store.types import BigId, UTCDateTime


class Base(DeclarativeBase):
    pass


class RawMessage(Base):
    """Bytes exactly as received, and where they are in the ingest queue."""

    __tablename__ = "raw_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(200))
    envelope_from: Mapped[str | None] = mapped_column(String(998))
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Migration 0008: the SMTP client's IP address; None for mail that did not come by our listener.
    peer: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))  # "host:pid" of the claiming process
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_raw_messages_state_next", "state", "next_attempt_at"),)


class RawData(Base):
    """The bytes of a raw message, apart from its queue state (migration 0009): SQLite rewrites a
    whole row on every UPDATE, so with the bytes in it each claim and finish wrote the mail again
    (4 ms of every 100-mail batch of 8 KB mails; 20 MB more for a 10 MB mail). Written once, with
    the row, in the transaction that stores it."""

    __tablename__ = "raw_data"
    raw_id: Mapped[int] = mapped_column(BigId, ForeignKey("raw_messages.id"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# A raw message's bytes as its attribute (read-only: `inbox.rawstore` writes them), loaded with
# the row as before 0009; the ingest queue selects them by a join (`inbox.store.rawqueue`).
RawMessage.data = column_property(  # type: ignore[attr-defined]
    select(RawData.data).where(RawData.raw_id == RawMessage.id).scalar_subquery())


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    tracking: Mapped[str] = mapped_column(String(40), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    requester: Mapped[str] = mapped_column(String(320))
    customer_id: Mapped[str | None] = mapped_column(String(200), index=True)
    plan: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(40), index=True)
    assignee: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_update_due: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    workaround_due: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    workaround_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    solved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SLA bookkeeping (migration 0004). `next_check_at` is the one instant the scheduler next has
    # something to do for this ticket, so a sweep reads only what is due, never every open ticket.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_update_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pauses: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # closed [start, end] ISO pairs
    follow_ups: Mapped[int] = mapped_column(Integer, default=0)  # updates sent while waiting on the customer
    sla_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # per target: due warned / breach level
    # Migration 0005: what a person must look at ("not a designated contact"), and how many
    # escalation levels the customer's own requests have reached.
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id", lazy="raise_on_sql"
    )


class Participant(Base):
    """An address on a ticket's thread: it may add to the ticket by replying."""

    __tablename__ = "participants"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    role: Mapped[str] = mapped_column(String(40))


class TicketLink(Base):
    __tablename__ = "ticket_links"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    linked_ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))


class TicketMessage(Base):
    """One email of a ticket, in or out. Its Message-ID is unique: that is the dedupe."""

    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    raw_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"))
    direction: Mapped[str] = mapped_column(String(3))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    from_addr: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str] = mapped_column(String(998), default="")
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    references: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    visible_text: Mapped[str] = mapped_column(Text)
    automation: Mapped[str] = mapped_column(String(20))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    flag: Mapped[str | None] = mapped_column(Text)  # why a person should look twice (an unauthenticated engineer)

    ticket: Mapped[Ticket] = relationship(back_populates="messages", lazy="raise_on_sql")


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class Event(Base):
    """The append-only log: who changed what, when, why. Rows are never updated."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    raw_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"))
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(320))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_events_ticket", "ticket_id", "id"),)


class UsedProof(Base):
    """A sender's proof that has changed a ticket (migration 0008): the key is unique, so it acts once."""

    __tablename__ = "used_proofs"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)  # "dkim:<sha256>", "message-id:<sha256>"
    raw_id: Mapped[int] = mapped_column(ForeignKey("raw_messages.id"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Counter(Base):
    """Named sequences allocated under a row lock (tracking numbers)."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class KeyValue(Base):
    """Small service state, such as the generated Message-ID secret."""

    __tablename__ = "service_state"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class TemplateVersionRow(Base):
    """One version of one template file (see autoresponder.versions); the highest `version` of a
    path is its current one; `text` None: an override removed by a reset."""

    __tablename__ = "template_versions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(300))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    origin: Mapped[str] = mapped_column(String(20))

    __table_args__ = (UniqueConstraint("path", "version", name="uq_template_versions_path_version"),)


__all__ = [
    "Attachment",
    "Base",
    "Counter",
    "Event",
    "KeyValue",
    "OutboxRow",
    "Participant",
    "RawMessage",
    "Suppression",
    "TemplateVersionRow",
    "Ticket",
    "TicketLink",
    "TicketMessage",
    "UsedProof",
]


class OutboxRow(Base):
    """One email to send, written in the transaction of the change that causes it.

    `key` makes enqueueing idempotent (`ack:<ticket>`, `update:<ticket>:<due>`): a job run
    twice, or on two instances, writes one row. The Message-ID is fixed here and the
    rendered bytes are kept after the first render, so every retry sends the same email.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    audience: Mapped[str] = mapped_column(String(20))  # customer | staff
    recipient: Mapped[str] = mapped_column(String(320))
    automatic: Mapped[bool] = mapped_column(Boolean, default=True)
    plan: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[str | None] = mapped_column(String(200))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # passed the hourly limit; sending
    last_error: Mapped[str | None] = mapped_column(Text)
    attach_raw_id: Mapped[int | None] = mapped_column(ForeignKey("raw_messages.id"))  # a relayed reply's attachments
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)  # folded into that digest

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_recipient_sent", "recipient", "sent_at"),
    )


class Suppression(Base):
    """An address whose mail bounced permanently: no automatic mail until a person writes from it."""

    __tablename__ = "suppressions"
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class MailboxState(Base):
    """Where each IMAP mailbox's poller is: its UIDVALIDITY, the last UID it is done with, and
    which poller holds it (a lease, so two instances on one database never poll it at once)."""

    __tablename__ = "mailbox_state"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
