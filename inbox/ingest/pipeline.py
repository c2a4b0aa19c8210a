"""One raw message through the whole pipeline, inside the caller's transaction.

The order, readable in one place: parse -> dedupe -> recognise automation ->
bounces -> refuse headerless -> thread -> resolve customer -> open, append
or record. Normal outcomes are return values; only failures raise, and the
worker turns them into a failed raw row without touching the messages behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Mapping, Sequence

from sqlalchemy.orm import Session

from classifiers import CustomerView, classify
from inbox import tickets
from inbox.domain.message import Automation, ParsedMessage
from inbox.domain.msgid import verify_message_id
from inbox.domain.ticket import Direction, EventKind, Outcome, Status
from inbox.domain.tracking import find_tracking_numbers, format_tracking
from inbox.ingest.dedupe import earlier_copy, identity
from inbox.ingest.loops import AutomationVerdict, detect_automation
from inbox.ingest.parse import parse
from inbox.ingest.thread import Candidate, ParticipantCheck, candidates
from inbox.settings import CustomerSettings, Settings
from inbox.store import outbox
from inbox.store import tickets as store
from inbox.store.rawqueue import Claimed
from inbox.store.tickets import TicketRow
from inbox.tickets import Contracts, Desk, TicketFacts


class PermanentError(Exception):
    """This message can never be processed as it is: quarantine it."""


class TemporaryError(Exception):
    """Try this message again later."""


@dataclass(frozen=True)
class IngestContext:
    settings: Settings
    secret: str
    rules: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @cached_property
    def desk(self) -> Desk:
        return Desk(self.settings, Contracts(self.settings), self.secret)


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    message_id: str | None = None
    ticket_id: int | None = None


SYSTEM = "system"


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


def ingest_one(session: Session, raw: Claimed, ctx: IngestContext, parsed: ParsedMessage | None = None) -> IngestResult:
    """Ingest one claimed message; `parsed` may come ready from a parser pool."""
    parsed = parsed if parsed is not None else parse(raw.data)
    message_id = identity(parsed, raw.sha256)
    seen, seen_ticket = earlier_copy(session, message_id, raw.id)
    if seen:
        return IngestResult(Outcome.DUPLICATE, message_id, seen_ticket)

    verdict = detect_automation(
        parsed,
        is_own_message_id=lambda mid: verify_message_id(mid, ctx.secret) is not None,
        own_addresses=ctx.settings.addresses,
    )
    mail = _Mail(raw, parsed, message_id, verdict)
    # Bounces come first: many arrive From "<>" or a bare MAILER-DAEMON, with no
    # usable sender, and a bounce of our mail must still reach its ticket.
    if verdict.kind is Automation.BOUNCE:
        return _bounce(session, mail, ctx)
    if not parsed.has_usable_headers:
        return _record_without_ticket(session, mail, Outcome.REFUSED, "no usable headers (no sender address)")
    if verdict.kind is Automation.OWN:
        return _record_without_ticket(session, mail, Outcome.AUTO_REPLY, f"our own mail came back: {verdict.reason}")
    if verdict.kind is Automation.PERSON:
        # A person wrote from this address, so it receives mail again (RFC 3463 5.x.x is not for ever).
        outbox.lift(session, parsed.from_addr)

    joined, rejected = _pick(session, parsed, _candidates(session, parsed, ctx), ctx)
    if verdict.kind is Automation.AUTO_REPLY:
        # Kept on its ticket for the engineers to see; never answered, never a ticket,
        # and like any mail it joins only a ticket its sender takes part in.
        if joined is None:
            return _record_without_ticket(session, mail, Outcome.AUTO_REPLY, verdict.reason)
        _store_message(session, joined, mail, internal=True)
        store.add_event(session, ticket_id=joined.id, raw_id=raw.id, kind=EventKind.AUTO_REPLY, at=mail.at,
                        actor=parsed.from_addr, detail={"reason": verdict.reason, "message_id": message_id})
        return IngestResult(Outcome.AUTO_REPLY, message_id, joined.id)
    if joined is not None and joined.status == Status.CLOSED:
        # A reply after closing starts afresh, linked to the old ticket.
        return _open(session, mail, ctx, links=[joined], why="reply to a closed ticket")
    if joined is not None:
        return _append(session, mail, joined, ctx)
    why = "sender is not a participant of the ticket it names" if rejected else "named in the subject"
    return _open(session, mail, ctx, links=rejected, why=why)


def _candidates(session: Session, parsed: ParsedMessage, ctx: IngestContext) -> list[Candidate]:
    thread_ids = parsed.thread_ids
    signed_numbers: dict[str, int] = {}
    for mid in thread_ids:
        tracking = verify_message_id(mid, ctx.secret)
        if tracking is not None:
            signed_numbers[mid] = int(tracking.rpartition("-")[2])
    numbers = find_tracking_numbers(ctx.settings.service.tracking_prefix, parsed.subject)
    by_number = store.rows_by_number(session, list({*numbers, *signed_numbers.values()}))
    signed = {mid: by_number[n].id for mid, n in signed_numbers.items() if n in by_number}
    known = store.tickets_for_message_ids(session, list(thread_ids)) if thread_ids else {}
    return candidates(
        thread_ids=thread_ids,
        signed=signed,
        known=known,
        subject_tickets=[by_number[n].id for n in numbers if n in by_number],
    )


def _pick(
    session: Session, parsed: ParsedMessage, found: list[Candidate], ctx: IngestContext
) -> tuple[TicketRow | None, list[TicketRow]]:
    """The first candidate the sender may add to, and the ones it may not."""
    joined: TicketRow | None = None
    rejected: list[TicketRow] = []
    rows = store.rows_by_id(session, [c.ticket_id for c in found])
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
    customer = _customer_by_id(ctx.settings, ticket.customer_id)
    return ParticipantCheck(
        thread_addresses=store.participants(session, ticket.id),
        customer_contacts=customer.contacts if customer else (),
        customer_domains=customer.domains if customer else (),
        account_managers=customer.account_managers if customer else (),
        agents=ctx.settings.agents,
    )


def _customer_by_id(settings: Settings, customer_id: str | None) -> CustomerSettings | None:
    if customer_id is None:
        return None
    return next((c for c in settings.customers if c.id == customer_id), None)


def _open(session: Session, mail: _Mail, ctx: IngestContext, *, links: Sequence[TicketRow], why: str) -> IngestResult:
    settings, parsed, raw, at = ctx.settings, mail.parsed, mail.raw, mail.at
    customer = settings.customer_for(parsed.from_addr)
    if customer is None and settings.unknown_senders.reject:
        return _record_without_ticket(session, mail, Outcome.REFUSED, f"unknown sender {parsed.from_addr}")
    plan = customer.plan if customer else settings.unknown_senders.plan
    verdict_c = classify(parsed, CustomerView(customer.id if customer else None, plan), ctx.rules, settings.severities)
    number = store.allocate_number(session)
    clocks = tickets.starting_clocks(ctx.desk, plan, verdict_c.severity, at)
    ticket = store.create_ticket(
        session,
        number=number,
        tracking=format_tracking(settings.service.tracking_prefix, number),
        at=at,
        subject=parsed.subject,
        requester=parsed.from_addr,
        customer_id=customer.id if customer else None,
        plan=plan,
        severity=verdict_c.severity,
        category=verdict_c.category,
        status=Status.OPEN.value,
        **tickets.clock_columns(clocks, at),
    )
    _store_message(session, ticket, mail)
    store.add_participants(session, ticket.id, _thread_roles(parsed, settings, requester=True))
    events = [
        {"ticket_id": ticket.id, "raw_id": raw.id, "kind": EventKind.OPENED.value, "at": at, "actor": parsed.from_addr,
         "detail": {"message_id": mail.message_id, "customer": ticket.customer_id, "plan": plan,
                    "automation": mail.verdict.kind.value, "automation_reason": mail.verdict.reason, "source": raw.source}},
        {"ticket_id": ticket.id, "kind": EventKind.CLASSIFIED.value, "at": at, "actor": SYSTEM,
         "detail": {"severity": verdict_c.severity, "category": verdict_c.category,
                    "hits": [{"rule": h.rule, "matched": h.matched, "why": h.why} for h in verdict_c.hits]}},
    ]
    # Other tickets the mail names or answers without the right to join: link, never merge.
    named = find_tracking_numbers(settings.service.tracking_prefix, parsed.subject)
    others = {t.id: t for t in links} | {t.id: t for t in store.rows_by_number(session, named).values()}
    others.pop(ticket.id, None)
    if others:
        store.link_tickets(session, ticket.id, others, why)
        events.append({"ticket_id": ticket.id, "kind": EventKind.LINKED.value, "at": at, "actor": SYSTEM,
                       "detail": {"linked": sorted(t.tracking for t in others.values()), "why": why}})
    store.add_events(session, *events)
    # Auto-replies and bounces never open a ticket; list mail does, but is never answered (RFC 3834).
    if mail.verdict.kind is Automation.PERSON:
        facts = TicketFacts(id=ticket.id, tracking=ticket.tracking, subject=parsed.subject, severity=verdict_c.severity,
                            status=Status.OPEN.value, customer_id=ticket.customer_id, plan=plan,
                            requester=parsed.from_addr, assignee=None, created_at=at, dues=clocks.dues,
                            last_public_activity=at, category=verdict_c.category)
        tickets.acknowledge(session, ctx.desk, facts, at, mail.message_id)
    return IngestResult(Outcome.OPENED, mail.message_id, ticket.id)


def _append(session: Session, mail: _Mail, ticket: TicketRow, ctx: IngestContext) -> IngestResult:
    parsed, at = mail.parsed, mail.at
    _store_message(session, ticket, mail)
    store.add_participants(session, ticket.id, _thread_roles(parsed, ctx.settings, requester=False))
    store.add_event(session, ticket_id=ticket.id, raw_id=mail.raw.id, kind=EventKind.APPENDED, at=at, actor=parsed.from_addr,
                    detail={"message_id": mail.message_id, "automation": mail.verdict.kind.value})
    if ctx.settings.is_agent(parsed.from_addr):
        # Agent commands, account-manager keywords and relaying come in later issues: this is their seam.
        # Until then an engineer's reply on the thread counts as the response and restarts the cadence.
        tickets.responded(session, ctx.desk, ticket.id, at)
    elif ticket.status in (Status.SOLVED, Status.WAITING_ON_CUSTOMER):
        full = tickets.load(session, ticket.id)
        tickets.set_status(session, ctx.desk, full, Status.OPEN, at, parsed.from_addr, why="customer replied")
    else:
        store.set_fields(session, ticket.id, updated_at=at)
    return IngestResult(Outcome.APPENDED, mail.message_id, ticket.id)


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
    _store_message(session, ticket, mail, internal=True)
    store.add_event(session, ticket_id=ticket.id, raw_id=mail.raw.id, kind=EventKind.DELIVERY_FAILED, at=mail.at,
                    actor=parsed.from_addr or SYSTEM,
                    detail={"failed_recipients": list(parsed.report_failed_recipients),
                            "original_message_ids": list(parsed.report_original_ids), "reason": mail.verdict.reason})
    for address in parsed.report_failed_recipients:
        # Our mail bounced: no more automatic mail to that address until a person writes from it.
        if outbox.suppress(session, address, f"bounced: {mail.verdict.reason}", mail.at, ticket.id):
            store.add_event(session, ticket_id=ticket.id, kind=EventKind.SUPPRESSED, at=mail.at, actor=SYSTEM,
                            detail={"address": address, "why": mail.verdict.reason})
    return IngestResult(Outcome.BOUNCE, mail.message_id, ticket.id)


def _store_message(session: Session, ticket: TicketRow, mail: _Mail, *, internal: bool = False) -> None:
    store.add_message(session, ticket_id=ticket.id, message=mail.parsed, message_id=mail.message_id,
                      direction=Direction.IN.value, at=mail.at, raw_id=mail.raw.id,
                      automation=mail.verdict.kind.value, internal=internal)


def _thread_roles(parsed: ParsedMessage, settings: Settings, *, requester: bool) -> dict[str, str]:
    """Addresses this mail puts on the thread: its sender and copies, never our own addresses."""
    roles: dict[str, str] = {parsed.from_addr: "requester" if requester else "sender"}
    for address in (*parsed.reply_to, *parsed.to, *parsed.cc):
        if address and not settings.is_support_address(address):
            roles.setdefault(address, "copied")
    return roles


def _record_without_ticket(session: Session, mail: _Mail, outcome: Outcome, reason: str) -> IngestResult:
    """No ticket, but an event that says what came and why nothing was opened."""
    store.add_event(session, raw_id=mail.raw.id, kind=outcome.value, at=mail.at, actor=SYSTEM,
                    detail={"reason": reason, "source": mail.raw.source, "message_id": mail.message_id,
                            "from": mail.parsed.from_addr, "subject": mail.parsed.subject[:200]})
    return IngestResult(outcome, mail.message_id, None)
