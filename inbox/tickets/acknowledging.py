"""Whether a new ticket's sender is told of it: the rules that keep our acknowledgements from
becoming backscatter, or one side of a loop with another help desk.

The acknowledgement (or, to a contact who is not designated, the note that says so) goes to the
address From names. From is easy to forge: 200 mails from 200 forged addresses at one domain
would get 200 acknowledgements, since the hourly limit (`outbound.max_auto_per_hour`) counts per
address. And some help desks answer every email with a ticket of their own, under a new subject
and without References, so each of our acknowledgements brings the next mail, for ever.

The rules run in one ordered table; the first that holds the email back wins and says why, in a
`notice_skipped` event on the ticket, so "why was this sender not acknowledged?" always has an
answer. The ticket is opened either way: nothing accepted is lost, only our email is held back.

1. desk loop (`outbound.desk_loop`, default 3 tickets within 24 hours): the mail answers an
   automatic email of ours without joining its ticket (names its Message-ID in In-Reply-To or
   References, or quotes its ticket's number while that email is the latest we sent about it; the
   ticket is flagged so), and the last N emails we sent this address that were acknowledgements or
   a person's (an engineer's reply) were all acknowledgements of tickets it opened that way, sent
   within the window. Nothing more is sent to it, so this stays true until a person writes: a mail
   from the address that answers none of our automatic emails is acknowledged, and that
   acknowledgement, like an engineer's reply to the address, ends the run.
2. unknown senders (`unknown_senders.acknowledge`): `none` acknowledges no sender that matches no
   customer; `authenticated` only one whose From domain is proven (a trusted Authentication-Results
   pass, or a DKIM signature that verifies; `Arrival.prove_sender`, asked only here).
3. new senders' budget (`outbound.new_sender_acks_per_domain_hour`, default 20): of the senders we
   have never emailed, at most this many per sender domain and clock hour (UTC) are acknowledged.
   "Never emailed" rather than "never wrote": a forged address we never answered stays new however
   often it is forged again, so repeating the same 200 forged senders an hour later gets nothing
   either; a real newcomer who was held back is acknowledged once the hour allows.

The listed people (a customer's contacts, the agents, the account managers) pass rules 2 and 3,
and anyone a customer's domain matches passes rule 3 (an outage storm is many new people of one
customer at once); rule 1 holds for everyone, since a customer's own help desk is the likeliest
other end of a loop.

Every count comes from the database, so instances sharing one see the same, and each reads an
index: the outbox by recipient, Message-ID or ticket, tickets by id, the counters by name (whose
row lock makes concurrent writers take turns, so two instances never both take the last place in
a budget). A mail that answers none of ours and comes from someone we have emailed costs one
index probe. Takes the caller's session; never commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property

from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.domain.msgid import is_own_message_id, verify_message_id
from inbox.domain.people import Authentication
from inbox.domain.tracking import count_tracking_numbers
from inbox.settings import CustomerSettings
from inbox.store import history, outbox
from inbox.store import tickets as store
from inbox.store.sent import Sent, last_sent_about, latest_sent
from inbox.tickets.arrival import Arrival
from inbox.tickets.desk import Desk
from inbox.tickets.notices import CUSTOMER

ANSWERS_OUR_MAIL = "answers-our-automatic-email"
OPENING_KINDS = ("acknowledgement", "not_designated")  # what a new ticket's sender is sent
_MAX_IDS, _MAX_NUMBERS = 20, 5  # hostile mail may name thousands; a loop names one


@dataclass(frozen=True)
class Echo:
    """Our automatic email that a new mail answers without joining its ticket, and how it shows."""

    tracking: str
    kind: str
    how: str

    @property
    def why(self) -> str:
        return (f"it answers our automatic email ({self.kind}) about {self.tracking} ({self.how}) "
                f"without joining that ticket")


@dataclass(frozen=True)
class Hold:
    """No acknowledgement for this ticket: the rule that said so, and why."""

    rule: str
    why: str


def echo_of(session: Session, desk: Desk, parsed: ParsedMessage, read: Sequence[store.TicketRow] = ()) -> Echo | None:
    """The automatic email of ours this mail answers, if it names one's Message-ID or quotes its
    ticket's number; asked only of a mail that opens a ticket (one that threads joins its ticket).
    `read`: ticket rows already read for this mail (nothing written to them since), not read again."""
    ours = [mid for mid in parsed.thread_ids[:_MAX_IDS] if is_own_message_id(mid, desk.secret)]
    for mid, (kind, automatic, audience) in outbox.kinds_of(session, ours).items():
        if automatic and audience == CUSTOMER:
            return Echo(verify_message_id(mid, desk.secret) or "?", kind, "it names its Message-ID")
    # Quoted: named more often in the whole mail than in its new text (the subject counts as
    # quoted: a desk that answers under a new subject often keeps ours inside it). Our number in the
    # new text alone is a person writing about their ticket; and a number of ours is an echo only
    # while the latest email we sent about that ticket is automatic, not an engineer's reply.
    prefix = desk.settings.service.tracking_prefix
    fresh = count_tracking_numbers(prefix, parsed.fresh_text)
    named = count_tracking_numbers(prefix, f"{parsed.subject}\n{parsed.text}")
    quoted = [number for number, times in named.items() if times > fresh[number]][:_MAX_NUMBERS]
    rows = {t.number: t for t in read if t.number in quoted}
    rows.update(store.rows_by_number(session, [n for n in quoted if n not in rows]))
    for _, row in sorted(rows.items()):  # by number, as the unique index returns them
        last = last_sent_about(session, row.id, CUSTOMER)
        if last is not None and last[1]:
            return Echo(row.tracking, last[0], "it quotes its ticket's number")
    return None


def hold_back(session: Session, desk: Desk, mail: Arrival, customer: CustomerSettings | None,
              echo: Echo | None) -> Hold | None:
    """Run the rules in order; the first that holds the acknowledgement back decides. None: send it."""
    sender = _Sender(session, desk, mail, customer, echo)
    for name, rule in _RULES:
        why = rule(sender)
        if why:
            return Hold(name, why)
    return None


class _Sender:
    """What the rules ask about the sender of a new ticket, looked up once and only when asked."""

    def __init__(self, session: Session, desk: Desk, mail: Arrival, customer: CustomerSettings | None,
                 echo: Echo | None) -> None:
        self.session, self.settings, self.mail, self.customer, self.echo = session, desk.settings, mail, customer, echo
        self.address = mail.parsed.from_addr
        self.domain = self.address.rpartition("@")[2]

    @cached_property
    def listed(self) -> bool:
        return self.settings.knows_by_name(self.address)

    @cached_property
    def emailed_before(self) -> bool:
        return outbox.has_mailed(self.session, self.address, CUSTOMER)


def _in_a_desk_loop(sender: _Sender) -> str | None:
    loop = sender.settings.outbound.desk_loop
    if loop is None or sender.echo is None:
        return None
    # Acknowledgements and engineers' replies only: status updates are neither a person writing
    # nor a new ticket, and must not end the run.
    sent = latest_sent(sender.session, sender.address, CUSTOMER, OPENING_KINDS, loop.tickets)
    if not is_run_of_acknowledgements(sent, loop.tickets, loop.within.wall_clock()):
        return None
    tickets = store.flags_of(sender.session, [email.ticket_id for email in sent if email.ticket_id is not None])
    if not each_answers_ours(sent, tickets):
        return None
    opened = ", ".join(sorted(tracking for tracking, _ in tickets.values()))
    return (f"{sender.address} opened {loop.tickets} tickets within {loop.within}, each answering an automatic "
            f"email of ours without joining its ticket ({opened}), and {sender.echo.why}: most likely a help desk "
            f"answering ours. No acknowledgement until a person writes (a mail from {sender.address} that answers "
            f"none of our automatic emails, or an engineer's reply to it)")


def is_run_of_acknowledgements(sent: Sequence[Sent], tickets: int, within: timedelta) -> bool:
    """Rule 1, first half: the latest emails we sent an address that were acknowledgements or a
    person's (`sent`, newest first) are `tickets` automatic ones, sent within `within` of each other."""
    if len(sent) < tickets or not all(email.automatic for email in sent):
        return False
    return sent[0].sent_at - sent[-1].sent_at <= within


def each_answers_ours(sent: Sequence[Sent], flags: Mapping[int, tuple[str, list[str]]]) -> bool:
    """Rule 1, second half: every one of those emails was about a ticket flagged as opened by a
    mail answering ours (`flags`: tracking number and flags by ticket id)."""
    return all(email.ticket_id in flags and ANSWERS_OUR_MAIL in flags[email.ticket_id][1] for email in sent)


def _unknown_sender_not_acknowledged(sender: _Sender) -> str | None:
    return unknown_sender_hold(sender.settings.unknown_senders.acknowledge,
                               sender.customer is not None or sender.listed, sender.domain, sender.mail.prove_sender)


def unknown_sender_hold(policy: str, known: bool, domain: str, prove: Callable[[], Authentication]) -> str | None:
    """Rule 2: why a sender's acknowledgement is held back under `unknown_senders.acknowledge`
    (`policy`), or None. `known`: the sender matches a customer or is listed. `prove` (a DNS
    lookup, perhaps) is asked only of an unknown sender under `authenticated`."""
    if known or policy == "all":
        return None
    if policy == "none":
        return "unknown_senders.acknowledge is none: a sender that matches no customer is not acknowledged"
    proof = prove()
    if proof.passed:
        return None
    return f"unknown_senders.acknowledge is authenticated, and the From domain {domain} is not proven: {proof.reason}"


def _over_new_sender_budget(sender: _Sender) -> str | None:
    budget = sender.settings.outbound.new_sender_acks_per_domain_hour
    # A customer's people pass: when their production is down, hundreds of them write at once, and
    # that is the moment every one must hear from us. Forging them sends our mail only to the
    # customer's own domain, whose refusals come back as bounces and suppress the address.
    if budget is None or sender.listed or sender.customer is not None or sender.emailed_before:
        return None
    hour = sender.mail.at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    turn = history.next_in_rotation(sender.session, budget_counter(sender.domain, hour))
    if turn <= budget:
        return None
    return (f"{sender.address} is the {_ordinal(turn)} sender we have never emailed to write from {sender.domain} "
            f"in the hour from {hour:%Y-%m-%d %H:%M} UTC, over outbound.new_sender_acks_per_domain_hour ({budget}): "
            f"forged senders, most likely")


def budget_counter(domain: str, hour: datetime) -> str:
    """The counter of new senders at `domain` in `hour`: fixed in length (counter names are short)."""
    return f"new:{hour:%Y%m%d%H}:{hashlib.sha1(domain.encode()).hexdigest()[:24]}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_Rule = Callable[[_Sender], "str | None"]

_RULES: tuple[tuple[str, _Rule], ...] = (
    ("desk-loop", _in_a_desk_loop),
    ("unknown-senders", _unknown_sender_not_acknowledged),
    ("new-sender-budget", _over_new_sender_budget),
)
