"""A reply on a ticket: who wrote it, what its command lines may change, and who hears of it.

- An engineer (agent) whose mail is authenticated has every command line applied (`#status`,
  `#workaround`, `#solve`, `#close`, `#assign`, `#severity`, `#escalate`, `#deescalate`,
  `#category`, `#internal`), and the rest of the reply relayed to the customer from the support
  address; that is the response and restarts the update cadence. Unauthenticated, nothing is
  applied or sent: the mail stays on the ticket as a flagged internal note and the engineer is told.
- An account manager of the ticket's customer, authenticated, may change the severity by keyword;
  anything else, or the same unauthenticated, is refused and the account managers are told why.
- A proof that lets a mail act (a DKIM signature, a trusted host's pass) is spent as it acts:
  a copy of the same mail, replayed later or on another instance, is refused as unauthenticated.
- Anyone else the ticket admits is the customer: their reply reopens a solved or waiting ticket;
  `#escalate` or "please escalate" is a request to the escalation chain; severity lines are refused.
  A designated contact's `#confirm` releases a ticket held for a colleague (`confirming`); an
  account manager's, authenticated, does the same.
- On a plan with designated contacts, a customer's colleague who is not one (or anyone else on
  the thread) is heard but has no say: the reply is kept, flagged and appended, and reopens
  nothing, requests no escalation, and every command line in it (`#confirm` of their own ticket
  too) is refused with the reason. Nobody is mailed for it, so a chatty colleague causes no
  backscatter; an engineer reading the thread sees the flag.
  Where the plan says `customers_may_close`, the ticket's own customer closes it with `#close` or
  "please close this ticket" (`closing`); anyone else's attempt is recorded and changes nothing.

Command lines are read only from the new text above the quoted history (`fresh_text`), so a
keyword quoted lower in the thread never counts. Takes the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from classifiers import Command, asks_to_escalate, parse_commands, strip_commands
from inbox.domain.message import Automation
from inbox.domain.people import CONFIRM, SEVERITY_VERBS, Authentication, Role, refusal, severity_target, status_named
from inbox.domain.ticket import EventKind, Status
from inbox.domain.tracking import find_tracking_numbers
from inbox.settings import CustomerSettings, Settings
from inbox.store import history
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.store.tickets import TicketRow
from inbox.tickets import audience, notices
from inbox.tickets.arrival import Arrival, keep, spend_proof, thread_roles
from inbox.tickets.closing import (NOT_THEIRS, CloseRight, close_ask, close_for_customer, close_right,
                                   customers_may_close)
from inbox.tickets.changes import set_assignee, set_category, set_severity, set_status, set_workaround
from inbox.tickets.confirming import confirm
from inbox.tickets.due_times import last_public_activity, load, responded, view
from inbox.tickets.desk import Desk
from inbox.tickets.entitlement import NOT_DESIGNATED, is_designated
from inbox.tickets.escalation import refuse, request_escalation

_REOPENED_BY_CUSTOMER = (Status.SOLVED, Status.WAITING_ON_CUSTOMER)
_BY_STATUS = {"solve": Status.SOLVED, "close": Status.CLOSED}


def role_of(settings: Settings, customer: CustomerSettings | None, address: str) -> Role:
    """What the sender is to a ticket of `customer`."""
    if settings.is_agent(address):
        return Role.AGENT
    if customer is not None and address.lower() in customer.account_managers:
        return Role.ACCOUNT_MANAGER
    return Role.CUSTOMER


def take_reply(session: Session, desk: Desk, mail: Arrival, row: TicketRow) -> None:
    """Add a reply to its ticket and carry out what it asks, as far as its sender may."""
    customer = desk.settings.customer(row.customer_id)
    if mail.automation is Automation.NOTIFICATION:
        _from_machine(session, desk, mail, row)
        return
    role = role_of(desk.settings, customer, mail.parsed.from_addr)
    commands = parse_commands(mail.parsed.fresh_text)
    if role is Role.AGENT:
        _from_agent(session, desk, mail, row, commands)
    elif role is Role.ACCOUNT_MANAGER:
        _from_account_manager(session, desk, mail, row, commands)
    elif is_designated(desk, customer, mail.parsed.from_addr):
        _from_customer(session, desk, mail, row, commands)
    else:
        _from_undesignated(session, desk, mail, row, commands, customer)
    _link_named(session, desk, mail, row)


def _from_machine(session: Session, desk: Desk, mail: Arrival, row: TicketRow) -> None:
    """A customer's machine notification on its ticket: kept for the engineers, nothing more. It
    carries no commands (a machine's "#solve" is no one's), reopens nothing, mails no one."""
    keep(session, row.id, mail)
    _appended(session, desk, mail, row)
    history.set_fields(session, row.id, updated_at=mail.at)


def _link_named(session: Session, desk: Desk, mail: Arrival, row: TicketRow) -> None:
    """Other tickets the reply names ("related to SUP-000120") are linked to its own."""
    text = f"{mail.parsed.subject}\n{mail.parsed.fresh_text}"
    named = [n for n in find_tracking_numbers(desk.settings.service.tracking_prefix, text) if n != row.number]
    if not named:
        return  # the common case, its own number only: no query
    already = set(store.linked_trackings(session, row.id))
    new = [t for t in store.rows_by_number(session, named).values() if t.id != row.id and t.tracking not in already]
    if new:
        history.link_tickets(session, row.id, [t.id for t in new], "named in the mail")
        history.add_event(session, ticket_id=row.id, kind=EventKind.LINKED, at=mail.at, actor=mail.parsed.from_addr,
                          detail={"linked": sorted(t.tracking for t in new), "why": "named in the mail"})


def _appended(session: Session, desk: Desk, mail: Arrival, row: TicketRow, **detail: object) -> None:
    history.add_participants(session, row.id, thread_roles(mail.parsed, desk.settings, requester=False))
    history.add_event(session, ticket_id=row.id, raw_id=mail.raw_id, kind=EventKind.APPENDED, at=mail.at,
                      actor=mail.parsed.from_addr,
                      detail={"message_id": mail.message_id, "automation": mail.automation.value, **detail})


@dataclass(frozen=True)
class CustomerAsks:
    """What a customer's reply asks, as far as a customer may ask it."""

    refused: list[dict[str, str]]  # {line, reason} of every command line but "#escalate", "#unsubscribe", "#confirm" (and an allowed "#close")
    confirming: bool  # "#confirm": release a ticket held for a colleague who is not a designated contact
    on_severity: bool  # a refused line is a severity keyword: the account managers hear of it
    escalating: bool  # "#escalate" or words asking to escalate: a request to the escalation chain
    wish: str | None  # what "#escalate" names ("#escalate critical"), passed on as the customer's wish
    unsubscribing: bool  # "#unsubscribe": the sender takes themselves off the ticket's mail
    only_leaving: bool  # nothing but "#unsubscribe": not a reply that reopens the ticket
    closing: str | None = None  # the "#close" line or the words that close the ticket, when they may


def customer_asks(commands: Sequence[Command], fresh_text: str,
                  right: CloseRight = CloseRight.NOT_IN_PLAN) -> CustomerAsks:
    """Read a customer's reply: "#escalate", "#unsubscribe" and "#confirm" are the customer's to ask
    (whether this sender may confirm is the ticket rules' to say), and "#close" (or asking in words)
    where `right` allows; every other line belongs to someone else and is refused with the reason."""
    ask = close_ask(commands, fresh_text, right)
    plan_allows = right is not CloseRight.NOT_IN_PLAN
    refused = [{"line": c.line, "reason": refusal(Role.CUSTOMER, c.verb) or ""} for c in commands
               if c.verb not in ("escalate", "unsubscribe", CONFIRM) and not (c.verb == "close" and plan_allows)]
    if right is CloseRight.NOT_THEIRS and ask.line is not None:
        refused.append({"line": ask.line, "reason": NOT_THEIRS})
    wish = next((c.argument for c in commands if c.verb == "escalate"), None)
    unsubscribing = any(c.verb == "unsubscribe" for c in commands)
    return CustomerAsks(refused=refused, confirming=any(c.verb == CONFIRM for c in commands),
                        on_severity=any(c.verb in SEVERITY_VERBS - {"escalate"} for c in commands),
                        escalating=wish is not None or asks_to_escalate(fresh_text), wish=wish or None,
                        unsubscribing=unsubscribing,
                        only_leaving=unsubscribing and len(commands) == 1 and not strip_commands(fresh_text).strip(),
                        closing=ask.line if right is CloseRight.MAY else None)


def _from_customer(session: Session, desk: Desk, mail: Arrival, row: TicketRow, commands: Sequence[Command]) -> None:
    sender, at = mail.parsed.from_addr, mail.at
    # Who may close is read before this mail puts its sender on the thread; most mail never says "close".
    may_ask = "close" in mail.parsed.fresh_text.casefold()
    right = close_right(session, desk, load(session, row.id), sender) if may_ask else CloseRight.NOT_IN_PLAN
    keep(session, row.id, mail)
    _appended(session, desk, mail, row)
    asks = customer_asks(commands, mail.parsed.fresh_text, right)
    audience.take_reply(session, desk.settings, ticket_id=row.id, customer=desk.settings.customer(row.customer_id),
                        parsed=mail.parsed, at=at, unsubscribing=asks.unsubscribing)
    reopens = Status(row.status) in _REOPENED_BY_CUSTOMER and not asks.only_leaving
    if not (asks.refused or asks.escalating or asks.confirming or asks.closing or reopens):
        history.set_fields(session, row.id, updated_at=at)  # the common reply: one statement, no ticket loaded
        return
    ticket = load(session, row.id)
    if asks.refused:
        # Account managers hear of attempts on the severity; a customer's "#close" is only recorded.
        refuse(session, desk, ticket,
               kind=EventKind.ESCALATION_REFUSED if asks.on_severity else EventKind.COMMAND_REFUSED,
               by=sender, at=at, key=mail.message_id, items=asks.refused, tell=asks.on_severity)
    if asks.closing:
        # Closing ends the ticket: it is neither reopened nor escalated by the mail that closes it.
        close_for_customer(session, desk, ticket, by=sender, at=at, line=asks.closing, key=mail.message_id)
        return
    if reopens:
        set_status(session, desk, ticket, Status.OPEN, at, sender, why="customer replied")
    else:
        ticket.updated_at = at
    if asks.escalating:
        request_escalation(session, desk, ticket, by=sender, at=at, key=mail.message_id,
                           words=strip_commands(mail.parsed.fresh_text), wish=asks.wish)
    if asks.confirming:  # a designated contact, known by address as customers are (see `entitlement`)
        why_not = confirm(session, desk, ticket, at, sender, role="designated contact")
        if why_not is not None:
            refuse(session, desk, ticket, kind=EventKind.COMMAND_REFUSED, by=sender, at=at, key=mail.message_id,
                   items=[{"line": c.line, "reason": why_not} for c in commands if c.verb == CONFIRM], tell=False)


def _from_undesignated(session: Session, desk: Desk, mail: Arrival, row: TicketRow, commands: Sequence[Command],
                       customer: CustomerSettings | None) -> None:
    """Someone the plan does not entitle to support: heard, never obeyed (see the module's docstring)."""
    sender, at = mail.parsed.from_addr, mail.at
    whose = customer.name if customer else "this ticket's customer"
    keep(session, row.id, mail, flag=NOT_DESIGNATED)
    _appended(session, desk, mail, row, flag=NOT_DESIGNATED)
    history.set_fields(session, row.id, updated_at=at)
    if not commands:
        return
    reason = (f"{sender} is not a designated contact of {whose}: only a designated contact or an account manager "
              "may confirm or steer the ticket")
    on_severity = any(c.verb in SEVERITY_VERBS for c in commands)
    # Account managers hear of attempts on the severity, as from any customer; the rest is only recorded.
    refuse(session, desk, load(session, row.id),
           kind=EventKind.ESCALATION_REFUSED if on_severity else EventKind.COMMAND_REFUSED, by=sender, at=at,
           key=mail.message_id, items=[{"line": c.line, "reason": reason} for c in commands], tell=on_severity)


def _from_account_manager(session: Session, desk: Desk, mail: Arrival, row: TicketRow,
                          commands: Sequence[Command]) -> None:
    sender, at = mail.parsed.from_addr, mail.at
    keep(session, row.id, mail, internal=True)  # ours, not the customer's: never quoted to them
    _appended(session, desk, mail, row)
    if not commands:
        return
    allowed = any(refusal(Role.ACCOUNT_MANAGER, c.verb) is None for c in commands)
    proof = spend_proof(session, mail) if allowed else mail.prove_sender()
    ticket = load(session, row.id)
    items = []
    # "#confirm" last: the engineer it dispatches is the one the severity the same mail sets picks.
    for command in sorted(commands, key=lambda c: c.verb == CONFIRM):
        if command.verb == CONFIRM and proof.passed:
            why_not = confirm(session, desk, ticket, at, sender, role="account manager", authentication=proof.reason)
            if why_not is not None:
                items.append({"line": command.line, "reason": why_not})
            continue
        target, reason = manager_line(command, proof, ticket.severity, desk.settings.severities)
        if target is not None:
            set_severity(session, desk, ticket, target, at, sender, why=command.line, also_tell=[sender])
            continue
        items.append({"line": command.line, "reason": reason})
    if items:
        refuse(session, desk, ticket, kind=EventKind.ESCALATION_REFUSED, by=sender, at=at, key=mail.message_id,
               items=items, authentication=proof.reason)


def manager_line(command: Command, proof: Authentication, severity: str,
                 severities: Sequence[str]) -> tuple[str | None, str]:
    """The severity an account manager's command line sets on a ticket at `severity`, or None and
    why not: an engineer's command is refused first, then an unproven sender, then a keyword the
    severity cannot follow."""
    reason = refusal(Role.ACCOUNT_MANAGER, command.verb) or (None if proof.passed else f"not authenticated: {proof.reason}")
    if reason is not None:
        return None, reason
    return severity_target(command.verb, command.argument, severity, severities)


def _from_agent(session: Session, desk: Desk, mail: Arrival, row: TicketRow, commands: Sequence[Command]) -> None:
    sender, at = mail.parsed.from_addr, mail.at
    proof = spend_proof(session, mail)  # a relayed reply speaks for support, so it is spent too
    if not proof.passed:
        # A forged engineer must not be able to mail customers as support, nor steer the ticket.
        flag = f"not relayed: not authenticated ({proof.reason})"
        keep(session, row.id, mail, internal=True, flag=flag)
        _appended(session, desk, mail, row, flag=flag)
        items = [{"line": c.line, "reason": "not applied"} for c in commands]
        _tell_engineer(session, desk, load(session, row.id), mail, items=items, relayed=False,
                       reason=f"not authenticated: {proof.reason}")
        return
    words = strip_commands(mail.parsed.fresh_text).strip()
    relay = is_relayed(words, commands)
    keep(session, row.id, mail, internal=True)  # the customer's copy is the relayed email
    _appended(session, desk, mail, row, relayed=relay)
    if relay:
        responded(session, desk, row.id, at)  # before the commands: the reply that asks is not a follow-up
    ticket = load(session, row.id)
    before = ticket.status
    items = [item for c in commands if (item := _apply(session, desk, ticket, c, sender, at, relay)) is not None]
    if relay:
        facts = view(ticket, last_public_activity(session, ticket))
        reply = {"text": words, "author": _author(desk.settings, mail),
                 "status": ticket.status if ticket.status != before else None}
        to = audience.audience(session, desk.settings, ticket_id=row.id, requester=ticket.requester,
                               customer=desk.settings.customer(ticket.customer_id), kind="agent_reply",
                               automatic=False)
        notices.tell_customer(session, desk, facts, kind="agent_reply", key=f"reply:{row.id}:{mail.message_id}", at=at,
                              data=notices.context(desk, facts, reply=reply), automatic=False, to=to,
                              attach_raw_id=mail.raw_id if mail.parsed.attachments else None)
        history.add_event(session, ticket_id=row.id, kind=EventKind.RELAYED, at=at, actor=sender,
                          detail={"message_id": mail.message_id, "to": to.to, "not_to": to.left_out})
    if items:
        _tell_engineer(session, desk, ticket, mail, items=items, relayed=relay, reason=None)


def is_relayed(words: str, commands: Sequence[Command]) -> bool:
    """Whether an engineer's reply reaches the customer: it has words besides its command lines,
    and no "#internal" keeps it ours."""
    return bool(words) and not any(c.verb == "internal" for c in commands)


def _author(settings: Settings, mail: Arrival) -> str | None:
    """How the customer's copy is signed: the engineer's own display name, unless it is (or holds) an
    address, as mail programs often make it; then their name in `staff_names`; else nobody's."""
    name = mail.parsed.from_name
    if name and "@" not in name:
        return name
    return settings.staff_names.get(mail.parsed.from_addr.lower())


def _apply(session: Session, desk: Desk, ticket: Ticket, command: Command, actor: str, at: datetime,
           relayed: bool) -> dict[str, str] | None:
    """Carry out one engineer's command line; the refusal ({line, reason}) when it cannot be."""
    verb = command.verb
    value, reason = agent_line(desk.settings, ticket.severity, command)
    if reason is not None:
        return {"line": command.line, "reason": reason}
    if verb == "workaround":
        set_workaround(session, desk, ticket, at, actor)
    elif value is None:
        pass  # "#internal" only keeps the reply from the customer
    elif verb in SEVERITY_VERBS:
        set_severity(session, desk, ticket, value, at, actor, why=command.line)
    elif verb == "assign":
        set_assignee(session, desk, ticket, value, at, actor)
    elif verb == "category":
        set_category(session, ticket, value, at, actor)
    else:  # "#status", "#solve", "#close"; a relayed reply already tells the customer of solved and closed
        set_status(session, desk, ticket, Status(value), at, actor, why=command.line, tell_customer=not relayed)
    return None


def agent_line(settings: Settings, severity: str, command: Command) -> tuple[str | None, str | None]:
    """What an engineer's command line on a ticket at `severity` sets, or why it cannot: (value,
    None) or (None, reason). The value is the severity, the `Status`, the engineer's address or the
    category name the line names; None for "#workaround" and "#internal", which name nothing."""
    verb, argument = command.verb, command.argument
    if verb == CONFIRM:
        return None, refusal(Role.AGENT, verb)
    if verb in SEVERITY_VERBS:
        target, reason = severity_target(verb, argument, severity, settings.severities)
        return (target, None) if target is not None else (None, reason)
    if verb in ("status", *_BY_STATUS):
        to = _BY_STATUS.get(verb) or status_named(argument)
        if to is None:
            return None, f'"{argument}" is not a status (one of {", ".join(Status)})'
        return to, None
    if verb == "assign":
        address = argument.strip().strip("<>").lower()
        if not settings.is_agent(address):
            return None, f'"{argument}" is not one of the engineers (agents) in the config'
        return address, None
    if verb == "category":
        name = "-".join(argument.lower().split())
        return (name, None) if name else (None, "#category needs a name, such as billing")
    if verb == "unsubscribe":
        return None, refusal(Role.AGENT, verb)
    return None, None


def _tell_engineer(session: Session, desk: Desk, ticket: Ticket, mail: Arrival, *, items: list[dict[str, str]],
                   relayed: bool, reason: str | None) -> None:
    """Record what was not done and tell the engineer, so nobody believes the customer was answered."""
    sender = mail.parsed.from_addr
    refusal_ = {"by": sender, "lines": items, "reason": reason, "relayed": relayed}
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.COMMAND_REFUSED, at=mail.at, actor=sender,
                      detail=refusal_)
    facts = view(ticket, last_public_activity(session, ticket))
    notices.tell_staff(session, desk, facts, kind="command_refused", key=f"command-refused:{ticket.id}:{mail.message_id}",
                       at=mail.at, recipients=[sender], data=notices.context(desk, facts, refusal=refusal_))


def refuse_outsider(session: Session, desk: Desk, mail: Arrival, rows: Sequence[TicketRow]) -> None:
    """Severity lines in a mail from someone a ticket does not admit (an account manager of another
    customer, a stranger naming its number): refused on that ticket, its account managers told. Where
    the plan lets customers close, a stranger's "#close" (or "please close this ticket") is recorded
    there too, and nobody told: nothing changed."""
    commands = parse_commands(mail.parsed.fresh_text)
    lines = [c for c in commands if c.verb in SEVERITY_VERBS]
    closing = close_ask(commands, mail.parsed.fresh_text, CloseRight.NOT_THEIRS).line
    if not lines and closing is None:
        return
    sender = mail.parsed.from_addr
    for row in rows:
        customer = desk.settings.customer(row.customer_id)
        whose = customer.name if customer else "this ticket's customer"
        reason = f"{sender} is not an account manager of {whose}, nor on the ticket's thread"
        ticket = load(session, row.id)
        if lines:
            refuse(session, desk, ticket, kind=EventKind.ESCALATION_REFUSED, by=sender, at=mail.at,
                   key=mail.message_id, items=[{"line": c.line, "reason": reason} for c in lines])
        if closing is not None and customers_may_close(desk, ticket.plan):
            refuse(session, desk, ticket, kind=EventKind.COMMAND_REFUSED, by=sender, at=mail.at, key=mail.message_id,
                   items=[{"line": closing, "reason": NOT_THEIRS}], tell=False)
