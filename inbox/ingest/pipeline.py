"""One raw message through the whole pipeline, inside the caller's transaction.

The order, readable in one place: parse -> dedupe -> recognise automation (and a
customer's accepted machine notifications) -> bounces -> refuse headerless -> thread -> resolve customer -> open, append
or record (a staff mail that reaches no ticket opens none). Opening, appending and recording (a bounce of our mail, an auto-reply,
a mail without a ticket, a person writing) are the ticket rules' (`inbox.tickets`):
this module decides where a mail belongs, they decide what it changes and write
the ticket's history. Proving the sender (DKIM, a DNS lookup) happens here, at
the edge, only when they ask. Normal outcomes are return values; only failures
raise, and the worker turns them into a failed raw row without touching the
messages behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Sequence

from sqlalchemy.orm import Session

from inbox import tickets
from inbox.domain.message import Automation, ParsedMessage
from inbox.domain.msgid import is_own_message_id, verify_message_id
from inbox.domain.people import Role
from inbox.domain.ticket import Outcome, Status
from inbox.domain.tracking import find_tracking_numbers
from inbox.ingest.authenticate import DnsLookup, authenticate
from inbox.ingest.dedupe import earlier_copy, identity
from inbox.ingest.automation import AutomationVerdict, detect_automation
from inbox.ingest.notifications import as_notification
from inbox.ingest.parse import parse
from inbox.ingest.thread import Candidate, ParticipantCheck, candidates
from inbox.settings import Settings
from inbox.store import tickets as store
from inbox.store.rawqueue import Claimed
from inbox.store.tickets import TicketRow
from inbox.tickets import Arrival, Desk


class PermanentError(Exception):
    """This message can never be processed as it is: quarantine it."""


class TemporaryError(Exception):
    """Try this message again later."""


@dataclass(frozen=True)
class IngestContext:
    """What one batch is decided with: the desk in effect when it began, and how DKIM keys are looked up."""

    desk: Desk
    dns: DnsLookup | None = None  # DKIM key lookups: dkimpy's resolver when None; tests bring their own

    @property
    def settings(self) -> Settings:
        return self.desk.settings

    @property
    def secret(self) -> str:
        return self.desk.secret


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    message_id: str | None = None
    ticket_id: int | None = None
    tracking: str | None = None  # for the log line about this message




@dataclass(frozen=True)
class _Mail:
    """One message on its way through: what arrived, what it says, what it is."""

    raw: Claimed
    parsed: ParsedMessage
    message_id: str
    verdict: AutomationVerdict

    @property
    def at(self) -> datetime:
        return self.raw.received_at  # SLA clocks start when the mail arrived, not when it was processed

    def arrival(self, ctx: IngestContext) -> Arrival:
        """The mail as the ticket rules see it, with a sender proof computed at most once, on demand."""
        auth = ctx.settings.authentication
        # Anyone who reaches the SMTP listener can write an Authentication-Results: when
        # smtp.trusted_peers is set, only the listed peers' mail has its hosts believed.
        vouching = auth.trusted_authserv_ids if ctx.settings.smtp.believes_results_from(self.raw.peer) else ()
        prove = cache(lambda: authenticate(self.raw.data, self.parsed, dns=ctx.dns, trusted_authserv_ids=vouching,
                                           verify_dkim=auth.verify_dkim))
        return Arrival(self.parsed, self.message_id, self.raw.id, self.raw.source, self.at, self.verdict.kind,
                       self.verdict.reason, prove)


def ingest_one(session: Session, raw: Claimed, ctx: IngestContext, parsed: ParsedMessage | None = None) -> IngestResult:
    """Ingest one claimed message; `parsed` may come ready from a parser pool."""
    parsed = parsed if parsed is not None else parse(raw.data)
    message_id = identity(parsed, raw.sha256)
    seen, seen_ticket = earlier_copy(session, message_id, raw.id)
    if seen:
        return IngestResult(Outcome.DUPLICATE, message_id, seen_ticket)

    verdict = detect_automation(
        parsed,
        is_own_message_id=lambda mid: is_own_message_id(mid, ctx.secret),
        own_addresses=ctx.settings.addresses,
    )
    # A customer's machine the config accepts: opens or joins a ticket, never answered (RFC 3834).
    verdict = as_notification(parsed, verdict, ctx.settings)
    mail = _Mail(raw, parsed, message_id, verdict)
    # Bounces come first: many arrive From "<>" or a bare MAILER-DAEMON, with no
    # usable sender, and a bounce of our mail must still reach its ticket.
    if verdict.kind is Automation.BOUNCE:
        return _bounce(session, mail, ctx)
    if not parsed.has_usable_headers:
        why = parsed.no_sender or "no usable headers (no sender address)"
        return _record_without_ticket(session, mail, Outcome.REFUSED, why)
    if verdict.kind is Automation.OWN:
        return _record_without_ticket(session, mail, Outcome.AUTO_REPLY, f"our own mail came back: {verdict.reason}")
    if verdict.kind is Automation.PERSON:
        tickets.person_wrote(session, parsed.from_addr)

    joined, rejected = _pick(session, parsed, *_candidates(session, parsed, ctx), ctx)
    if verdict.kind is Automation.AUTO_REPLY:
        # Kept on its ticket for the engineers to see; never answered, never a ticket,
        # and like any mail it joins only a ticket its sender takes part in.
        if joined is None:
            return _record_without_ticket(session, mail, Outcome.AUTO_REPLY, verdict.reason)
        tickets.keep_auto_reply(session, joined.id, mail.arrival(ctx))
        return IngestResult(Outcome.AUTO_REPLY, message_id, joined.id, joined.tracking)
    arrival = mail.arrival(ctx)
    if joined is not None and joined.status == Status.CLOSED and _is_customer(ctx, joined, parsed.from_addr):
        # A customer's reply after closing starts afresh, linked to the old ticket.
        return _open(session, mail, arrival, ctx, links=[joined], why="reply to a closed ticket")
    if joined is not None:
        tickets.take_reply(session, ctx.desk, arrival, joined)
        return IngestResult(Outcome.APPENDED, message_id, joined.id, joined.tracking)
    if not rejected and tickets.is_staff(ctx.settings, parsed.from_addr):
        # Our own people open no tickets: a staff mail names its ticket in the subject, or is a reply.
        tickets.refuse_unaddressed(session, ctx.desk, arrival)
        return IngestResult(Outcome.REFUSED, message_id)
    if rejected and verdict.kind is not Automation.NOTIFICATION:  # a machine's command lines are no one's
        tickets.refuse_outsider(session, ctx.desk, arrival, rejected)
    why = "sender is not a participant of the ticket it names" if rejected else "named in the mail"
    return _open(session, mail, arrival, ctx, links=rejected, why=why)


def _is_customer(ctx: IngestContext, ticket: TicketRow, address: str) -> bool:
    return tickets.role_of(ctx.settings, ctx.settings.customer(ticket.customer_id), address) is Role.CUSTOMER


def _open(session: Session, mail: _Mail, arrival: Arrival, ctx: IngestContext, *, links: Sequence[TicketRow],
          why: str) -> IngestResult:
    settings = ctx.settings
    customer = settings.customer_for(mail.parsed.from_addr)
    if customer is None and settings.unknown_senders.reject:
        return _record_without_ticket(session, mail, Outcome.REFUSED, f"unknown sender {mail.parsed.from_addr}")
    plan = customer.plan if customer else settings.unknown_senders.plan
    ticket = tickets.open_ticket(session, ctx.desk, arrival, customer=customer, plan=plan, links=links, why=why)
    return IngestResult(Outcome.OPENED, mail.message_id, ticket.id, ticket.tracking)


def look_ahead_threads(session: Session, mails: Sequence[ParsedMessage], ctx: IngestContext) -> None:
    """A batch is about to be ingested in one transaction that holds its writes: the tickets its
    mails name, by number and by Message-ID, and their participants are read once for all
    (`inbox.store.ahead`), not once per mail."""
    numbers: set[int] = set()
    thread_ids: set[str] = set()
    for parsed in mails:
        found, signed = _numbers(parsed, ctx)
        numbers.update(found, signed.values())
        thread_ids.update(parsed.thread_ids)
    store.look_ahead_threads(session, numbers, thread_ids)


def _numbers(parsed: ParsedMessage, ctx: IngestContext) -> tuple[list[int], dict[str, int]]:
    """The tracking numbers the subject names, and those our own signed Message-IDs among the
    mail's thread ids carry (by Message-ID)."""
    signed_numbers: dict[str, int] = {}
    for mid in parsed.thread_ids:
        tracking = verify_message_id(mid, ctx.secret)
        if tracking is not None:
            signed_numbers[mid] = int(tracking.rpartition("-")[2])
    return find_tracking_numbers(ctx.settings.service.tracking_prefix, parsed.subject), signed_numbers


def _candidates(session: Session, parsed: ParsedMessage,
                ctx: IngestContext) -> tuple[list[Candidate], dict[int, TicketRow]]:
    """The tickets this mail may belong to, in order, and the rows of those it found by number
    (by id: `_pick` reads them again only for the others)."""
    thread_ids = parsed.thread_ids
    numbers, signed_numbers = _numbers(parsed, ctx)
    by_number = store.rows_by_number(session, list({*numbers, *signed_numbers.values()}))
    signed = {mid: by_number[n].id for mid, n in signed_numbers.items() if n in by_number}
    known = store.tickets_for_message_ids(session, list(thread_ids)) if thread_ids else {}
    return candidates(
        thread_ids=thread_ids,
        signed=signed,
        known=known,
        subject_tickets=[by_number[n].id for n in numbers if n in by_number],
    ), {row.id: row for row in by_number.values()}


def _pick(
    session: Session, parsed: ParsedMessage, found: list[Candidate], read: dict[int, TicketRow], ctx: IngestContext
) -> tuple[TicketRow | None, list[TicketRow]]:
    """The first candidate the sender may add to, and the ones it may not (`read`: rows already
    read for this mail, nothing written since)."""
    joined: TicketRow | None = None
    rejected: list[TicketRow] = []
    rows = {c.ticket_id: read[c.ticket_id] for c in found if c.ticket_id in read}
    rows.update(store.rows_by_id(session, [c.ticket_id for c in found if c.ticket_id not in rows]))
    for candidate in found:
        ticket = rows.get(candidate.ticket_id)
        if ticket is None:
            continue
        if joined is None and _participants(session, ticket, ctx).admits(parsed.from_addr):
            joined = ticket
        elif joined is None:
            rejected.append(ticket)
    return joined, rejected


def _participants(session: Session, ticket: TicketRow, ctx: IngestContext) -> ParticipantCheck:
    customer = ctx.settings.customer(ticket.customer_id)
    return ParticipantCheck(
        thread_addresses=store.participants(session, ticket.id),
        customer_contacts=customer.contacts if customer else (),
        customer_domains=customer.domains if customer else (),
        account_managers=customer.account_managers if customer else (),
        agents=ctx.settings.agents,
    )


def _bounce(session: Session, mail: _Mail, ctx: IngestContext) -> IngestResult:
    """A bounce of our mail is a delivery failure on its ticket; any other bounce is only recorded."""
    parsed = mail.parsed
    ours = [*parsed.report_original_ids, *parsed.thread_ids]
    ticket: TicketRow | None = None
    for mid in ours:
        tracking = verify_message_id(mid, ctx.secret)
        ticket = store.row_by_tracking(session, tracking) if tracking else None
        if ticket is None:
            known = store.tickets_for_message_ids(session, [mid])
            ticket = store.rows_by_id(session, [known[mid]]).get(known[mid]) if mid in known else None
        if ticket is not None:
            break
    if ticket is None:
        return _record_without_ticket(session, mail, Outcome.BOUNCE, mail.verdict.reason)
    tickets.record_bounce(session, ticket.id, mail.arrival(ctx))
    return IngestResult(Outcome.BOUNCE, mail.message_id, ticket.id, ticket.tracking)


def _record_without_ticket(session: Session, mail: _Mail, outcome: Outcome, reason: str) -> IngestResult:
    """No ticket, but an event that says what came and why nothing was opened."""
    tickets.record_unticketed(session, mail.parsed, outcome, reason, raw_id=mail.raw.id, source=mail.raw.source,
                              message_id=mail.message_id, at=mail.at)
    return IngestResult(outcome, mail.message_id, None)
