"""What became of a mail, inbound and outbound, written into its ticket's history.

Inbound, ingest reports what a mail turned out to be once it knows where it belongs: a bounce of
our mail (`record_bounce`), an auto-reply kept on its ticket (`keep_auto_reply`), a mail kept
without a ticket and why (`record_unticketed`), a person writing from an address (`person_wrote`).
Outbound, the dispatcher reports each email's outcome (sent, skipped, failed for good, attachments
left out): an event on the ticket it was about, and a copy of what was sent. A digest lists many
tickets: each gets its own event, naming the alert it carried and the digest that carried it, so
a ticket's history tells which email told whom, and the digest's row tells which tickets it listed.

The suppression list is kept here too: a bounce of our mail or a server's refusal for good puts a
customer's address on it, with an event; a person writing from it takes it off. Others ask
`suppressed`, never the list itself. The outbox queue's own states (claimed, sent, retried, dead)
are the dispatcher's, in `inbox.store.outbox`. Takes the caller's session; never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.domain.ticket import SYSTEM, Direction, EventKind, Outcome
from inbox.store import digests, history, suppression
from inbox.store.digests import Member
from inbox.store.outbox import Outgoing
from inbox.store.suppression import Suppression
from inbox.tickets.arrival import Arrival, keep
from inbox.tickets.due_times import emailed_customer
from inbox.tickets.desk import Desk
from inbox.tickets.notices import CUSTOMER


# -- inbound ---------------------------------------------------------------------------------------


def record_bounce(session: Session, ticket_id: int, mail: Arrival) -> None:
    """A bounce of our mail about `ticket_id`: kept on the ticket for the engineers, a `delivery_failed`
    event, and each failed recipient suppressed, with an event for each address not already so."""
    parsed, why = mail.parsed, mail.automation_reason
    keep(session, ticket_id, mail, internal=True)
    history.add_event(session, ticket_id=ticket_id, raw_id=mail.raw_id, kind=EventKind.DELIVERY_FAILED, at=mail.at,
                      actor=parsed.from_addr or SYSTEM,
                      detail={"failed_recipients": list(parsed.report_failed_recipients),
                              "original_message_ids": list(parsed.report_original_ids), "reason": why})
    for address in parsed.report_failed_recipients:
        # Our mail bounced: no more automatic mail to that address until a person writes from it.
        if suppression.suppress(session, address, f"bounced: {why}", mail.at, ticket_id):
            history.add_event(session, ticket_id=ticket_id, kind=EventKind.SUPPRESSED, at=mail.at, actor=SYSTEM,
                              detail={"address": address, "why": why})


def keep_auto_reply(session: Session, ticket_id: int, mail: Arrival) -> None:
    """An auto-reply on `ticket_id`: kept for the engineers to see (internal), never answered, with
    an `auto_reply` event saying why it was taken for one."""
    keep(session, ticket_id, mail, internal=True)
    history.add_event(session, ticket_id=ticket_id, raw_id=mail.raw_id, kind=EventKind.AUTO_REPLY, at=mail.at,
                      actor=mail.parsed.from_addr,
                      detail={"reason": mail.automation_reason, "message_id": mail.message_id})


def record_unticketed(session: Session, parsed: ParsedMessage, outcome: Outcome, reason: str, *, raw_id: int,
                      source: str, message_id: str, at: datetime) -> None:
    """A mail that joins no ticket and opens none (refused, an auto-reply or bounce to nothing): an
    event of `outcome` on its raw message that says what came and why nothing was opened."""
    history.add_event(session, raw_id=raw_id, kind=outcome.value, at=at, actor=SYSTEM,
                      detail={"reason": reason, "source": source, "message_id": message_id,
                              "from": parsed.from_addr, "subject": parsed.subject[:200]})


def person_wrote(session: Session, address: str) -> bool:
    """A person wrote from `address`, so it receives automatic mail again (RFC 3463: a 5.x.x is not
    for ever). True when it was suppressed."""
    return suppression.lift(session, address)


# -- outbound --------------------------------------------------------------------------------------


def suppressed(session: Session, addresses: Iterable[str]) -> dict[str, Suppression]:
    """Which of `addresses` no automatic mail goes to, by lower-cased address, with why and since when."""
    return suppression.suppressed(session, addresses)


def record_sent(session: Session, desk: Desk, email: Outgoing, subject: str, text: str, at: datetime) -> None:
    """`email` reached its recipient's mail server: a `notified` event, a copy of it on its ticket, and
    for a customer the update cadence restarts (`subject` and `text` as sent)."""
    _outcome(session, email, EventKind.NOTIFIED, at,
             {"kind": email.kind, "to": email.recipient, "message_id": email.message_id, "outbox_id": email.id})
    if email.ticket_id is None:  # a digest keeps no copy on the tickets it lists: each has its event
        return
    history.add_message(
        session, ticket_id=email.ticket_id, direction=Direction.OUT.value, at=at, automation="own",
        message_id=email.message_id, internal=email.audience != CUSTOMER,
        message=ParsedMessage(message_id=email.message_id, subject=subject, from_addr=desk.settings.outbound.from_email,
                              to=(email.recipient,), in_reply_to=(email.in_reply_to,) if email.in_reply_to else (),
                              references=tuple(email.references), text=text, visible_text=text),
    )
    if email.audience == CUSTOMER:
        emailed_customer(session, desk, email.ticket_id, at, email.kind)


def record_skipped(session: Session, email: Outgoing, at: datetime, why: str) -> None:
    """A policy held `email` back for good (suppressed address, a rule): it is never sent."""
    _outcome(session, email, EventKind.SKIPPED, at, {"why": why})


def record_failure(session: Session, email: Outgoing, at: datetime, error: str, *, permanent: bool,
                   bounced: bool = True) -> None:
    """`email` will not be sent: refused for good (`permanent`) or too old to retry. A customer's
    address a server refused (`bounced`, not merely unusable) gets no more automatic mail."""
    _outcome(session, email, EventKind.DELIVERY_FAILED, at,
             {"to": email.recipient, "error": error[:500], "attempts": email.attempts, "permanent": permanent})
    if permanent and bounced and email.audience == CUSTOMER and email.ticket_id is not None:
        if suppression.suppress(session, email.recipient, f"rejected: {error[:200]}", at, email.ticket_id):
            _outcome(session, email, EventKind.SUPPRESSED, at, {"address": email.recipient, "why": error[:200]})


def record_attachments_left_out(session: Session, email: Outgoing, left_out: list[str]) -> None:
    """Files of the relayed mail that `email` does not carry (too big, or not allowed): a note on its
    ticket, dated when the email was queued."""
    _outcome(session, email, EventKind.NOTE, email.created_at, {"attachments_not_relayed": left_out,
                                                                "to": email.recipient})


def _outcome(session: Session, email: Outgoing, kind: EventKind, at: datetime, detail: Mapping[str, Any]) -> None:
    """What became of `email`, on its ticket (None: an email about no ticket, kept all the same); a
    digest's on the ticket of each alert it listed."""
    if email.kind != digests.DIGEST:
        history.add_event(session, ticket_id=email.ticket_id, kind=kind, at=at, actor=SYSTEM,
                          detail={"kind": email.kind, **detail})
        return
    _digest_outcome(session, digests.members(session, email.id), kind, at, digest_id=email.id, detail=detail)


def _digest_outcome(session: Session, listed: Iterable[Member], kind: EventKind, at: datetime, *, digest_id: int,
                    detail: Mapping[str, Any]) -> None:
    """The outcome of digest `digest_id`, on the ticket of each alert it listed."""
    history.add_events(session, *(
        {"ticket_id": one.ticket_id, "kind": kind, "at": at, "actor": SYSTEM,
         "detail": {**detail, "kind": one.kind, "outbox_id": one.id, "digest_outbox_id": digest_id}}
        for one in listed if one.ticket_id is not None))
