"""Drain the outbox: fold many staff alerts into digests, then claim a batch of due rows; decide,
render and compose them together, send each, report each.

A claim is committed before anything is sent, and the composed bytes are committed before the
first attempt (one transaction for the batch, which also reads its recipients' suppressions and
hourly counts in one query each, holding those addresses against other instances until it
commits), so a retry sends the very same email (same Message-ID, same text even if a
template changed meanwhile). 4xx and network errors are retried with exponential back-off
counted on the caller's clock, for up to five days; a 5xx or that age mark the row dead. The
queue's own states are `inbox.store.outbox`'s; what became of each email is reported to the
ticket rules (`inbox.tickets`), which write it into the ticket's history (sent, with a copy;
skipped; `delivery_failed`) and put a customer's address a 5xx refused on the suppression list,
which is read through them too before mailing a customer. A crash between the send and its
record sends the email again after the claim times out: the same Message-ID lets mail programs
show it once. Each run first folds the staff alerts of one kind due to one person into a digest
when there are more than `outbound.digest_over` of them (`autoresponder.digest`); a digest is
rendered from the alerts it lists when it is first sent. Never changes a ticket's status or
severity.
"""

from __future__ import annotations

import email
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.policy import default as default_policy
from typing import Callable, ContextManager, Mapping, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from autoresponder import digest
from autoresponder.attachments import Attachment, attachments_of
from autoresponder.compose import compose
from autoresponder.policy import should_send
from autoresponder.render import RenderedEmail, Renderer, TemplateError
from autoresponder.transport import (MailTransport, PermanentSendError, RelayCannotCarry, SendError, TemporarySendError,
                                     close_transport)
from inbox import logs, tickets
from inbox.domain.msgid import make_digest_message_id
from inbox.store import deferred, digests, outbox, rawqueue
from inbox.store.outbox import Outgoing
from inbox.tickets import CUSTOMER, STAFF, CurrentDesk, Desk

log = logging.getLogger(__name__)

BATCH = 50
# Emails sent before their record is written in one transaction: a SIGKILL in the middle sends
# those already handed to the relay again (same Message-ID and bytes). One at a time, the record
# was a third of the sender's time and the sender fell behind at 100 mails/s (bench/outbox.py).
RECORD_GROUP = 10
FOLD_BATCH = 2000  # due alerts looked at per fold transaction
HOUR = timedelta(hours=1)
DEFER = timedelta(minutes=10)


@dataclass(frozen=True)
class Ready:
    """A claimed email cleared to go, with the bytes committed for it (and this turn's render, if any)."""

    item: Outgoing
    body: bytes
    rendered: RenderedEmail | None


ACKNOWLEDGEMENT = "acknowledgement"  # the kind whose time from the 250 /metrics shows
W = TypeVar("W")
R = TypeVar("R")


@dataclass
class Dispatcher:
    sessions: sessionmaker[Session]
    current: CurrentDesk | Desk  # where each run reads the desk in effect (a Desk: always that one)
    renderer: Renderer
    transport: MailTransport
    owner: str | None = None
    sent_kind: Callable[[str], None] | None = None  # each email the relay accepted, by kind: for /metrics
    # Each acknowledgement the relay accepted: when its mail was stored (its outbox row's created_at,
    # the arrival that opened the ticket) and when it was sent, for /metrics' time from the 250.
    acknowledged: Callable[[datetime, datetime], None] | None = None
    # The desk of this run: read as it starts, so a config reload reaches the next turn whole.
    desk: Desk = field(init=False, repr=False)
    _stranded: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.desk = self._desk_in_effect()

    def _desk_in_effect(self) -> Desk:
        return self.current.get() if isinstance(self.current, CurrentDesk) else self.current

    def run(self, now: datetime, limit: int | None = None) -> Counter[str]:
        """Send or attempt every row due by `now`; returns counts of sent, retry, dead, skipped, deferred,
        digests made and alerts digested, and of what is still due when the queue has nothing more
        to claim: `waiting` behind an earlier email, `left` for no known reason (outbox.left_due)."""
        if self._stranded and self.owner is not None:  # the last run failed midway: its claims come back first
            with self.sessions() as session, session.begin():
                taken = outbox.release_claims_of(session, self.owner)
            if taken:
                log.warning("took back %d emails a failed turn had claimed", taken)
        self._stranded = True  # until this run returns: an exception leaves claims behind
        self.desk = self._desk_in_effect()
        try:
            done = self._run(now, limit)
        finally:
            close_transport(self.transport)  # one connection per turn: none held open between turns
        self._stranded = False
        return done

    def _run(self, now: datetime, limit: int | None) -> Counter[str]:
        done: Counter[str] = Counter()
        while limit is None or sum(done.values()) < limit:
            # Before each claim, so alerts another instance queued meanwhile are folded, not sent one
            # by one; folding, claiming and the final account share a transaction: an idle turn costs one.
            with self.sessions() as session, session.begin():
                done.update(self._fold(session, now))
                items = outbox.claim(session, now, BATCH, self.owner)
                if not items:
                    done.update(self._left(session, now))
            if not items:
                break
            done.update(self._batch(items, now))
        return done

    def _batch(self, items: list[Outgoing], now: datetime) -> Counter[str]:
        """The emails of one claim: rendered before, decided in one transaction (their bytes committed
        before the first attempt), then sent in claim order over the transport's one connection and
        recorded RECORD_GROUP at a time, each group as soon as the relay answered its last: a crash
        between a send and its group's record sends the group's emails handed over so far again (same
        Message-ID and bytes), never more than RECORD_GROUP, never none."""
        drafts = self._drafts(items, now)
        ready, done = self._together(items, lambda item: item,
                                     lambda session, work, now: self._prepare(session, work, now, drafts), now)
        for start in range(0, len(ready), RECORD_GROUP):
            results = []
            for one in ready[start : start + RECORD_GROUP]:
                with _fields(one.item):  # every line about this email, from any module, names it
                    results.append((one, self._send(one)))
            sent, reported = self._together(results, lambda result: result[0].item, self._report, now)
            done += reported
            for item in sent:
                with _fields(item):
                    log.info("%s: sent", _about(item))
                if self.sent_kind is not None:
                    self.sent_kind(item.kind)
                if self.acknowledged is not None and item.kind == ACKNOWLEDGEMENT:
                    self.acknowledged(item.created_at, now)
        return done

    def _together(self, work: list[W], item_of: Callable[[W], Outgoing],
                  step: Callable[[Session, list[W], datetime], tuple[list[R], Counter[str]]],
                  now: datetime) -> tuple[list[R], Counter[str]]:
        """`step` over all of `work` in one transaction; when that fails, over each alone, so that one
        email's trouble does not hold up the others (an email whose step fails waits for a retry)."""
        if len(work) > 1:
            try:
                with self.sessions() as session, session.begin():
                    return step(session, work, now)
            except Exception:  # noqa: BLE001 - each is tried alone below, and any failure logged there
                log.warning("a batch of %d emails failed together; trying each alone", len(work), exc_info=True)
        made: list[R] = []
        done: Counter[str] = Counter()
        for one in work:
            item = item_of(one)
            with _fields(item):
                try:
                    with self.sessions() as session, session.begin():
                        got, counts = step(session, [one], now)
                except Exception as exc:  # noqa: BLE001 - one email must not hold up the others
                    log.exception("%s failed unexpectedly", _about(item))
                    with self.sessions() as session, session.begin():
                        done[self._failed(session, item, now, f"{type(exc).__name__}: {exc}", permanent=False)] += 1
                    continue
            made += got
            done += counts
        return made, done

    def _left(self, session: Session, now: datetime) -> Counter[str]:
        """What the drain left due and unclaimed, by reason, zeros left out."""
        counts = outbox.left_due(session, now)
        if counts["left"]:
            log.warning("%d emails due by %s were left unclaimed (another instance may be sending them)",
                        counts["left"], now.isoformat())
        return Counter({reason: n for reason, n in counts.items() if n})

    def _fold(self, session: Session, now: datetime) -> Counter[str]:
        """Fold the due staff alerts into digests: into each person's digest still waiting, or a new one
        when more than `digest_over` of one kind are due to them (counts `digests` made, alerts `digested`)."""
        done: Counter[str] = Counter()
        over = self.desk.settings.outbound.digest_over
        while True:
            due = digests.foldable(session, now, digest.KINDS, FOLD_BATCH)
            waiting = digests.open_digests(session, {alert.recipient for alert in due}) if due else []
            folded = 0
            for fold in digest.plan(due, waiting, over):
                into = fold.into
                if into is None:
                    into = self._new_digest(session, fold, now)
                    done["digests"] += 1
                folded += digests.fold(session, fold.alerts, into)
            if folded:
                done["digested"] += folded
            if len(due) < FOLD_BATCH or not folded:
                return done

    def _new_digest(self, session: Session, fold: digest.Fold, now: datetime) -> int:
        """Queue a digest of `fold.kind` to `fold.recipient`; its id."""
        settings, first = self.desk.settings, fold.alerts[0]
        key = f"digest:{fold.kind}:{first}:{fold.recipient}"[:300]
        outbox.enqueue(session, key=key, ticket_id=None, kind=digests.DIGEST, audience=STAFF, recipient=fold.recipient,
                       automatic=True, plan=None, customer_id=None,
                       context={"service": {"name": settings.service.name}, "digest": {"kind": fold.kind}},
                       message_id=make_digest_message_id(first, settings.own_domain, self.desk.secret), created_at=now)
        return digests.row_id(session, key)

    def _drafts(self, items: list[Outgoing], now: datetime) -> dict[int, tuple[bytes, RenderedEmail]]:
        """The bytes of the claimed emails that need a render, made outside the transaction that
        decides them: rendering and composing are most of an email's cost, and on SQLite every
        transaction holds the one write lock that ingest and the listener's commits queue for. Only
        what a short read gives everything for; an email left out here (a relayed reply's files, a
        template that fails) is rendered in `_prepare` as before, where a failure is recorded."""
        todo = [item for item in items if item.body is None and item.attach_raw_id is None]
        if not todo:
            return {}
        try:
            if any(item.kind == digests.DIGEST for item in todo):  # its alerts are read; no other email reads
                with self.sessions() as session, session.begin():
                    inputs = [(item, self._context(session, item, now)) for item in todo]
            else:
                inputs = [(item, self._context(None, item, now)) for item in todo]
        except Exception:  # noqa: BLE001 - each is rendered in _prepare instead, and a failure recorded there
            log.debug("reading the templates' data for %d emails failed", len(todo), exc_info=True)
            return {}
        drafts: dict[int, tuple[bytes, RenderedEmail]] = {}
        for item, context in inputs:
            with _fields(item):
                try:
                    rendered = self.renderer.render(item.kind, context, plan=item.plan, customer=item.customer_id)
                    drafts[item.id] = (self._compose(item, rendered, now, []), rendered)
                except (TemplateError, ValueError):
                    continue  # rendered again in _prepare, which records why it cannot be
        return drafts

    def _prepare(self, session: Session, items: list[Outgoing], now: datetime,
                 drafts: Mapping[int, tuple[bytes, RenderedEmail]]) -> tuple[list[Ready], Counter[str]]:
        """Decide and render (once: a retry sends the stored bytes; `drafts` are renders made before)
        each claimed email: those to send
        now, and counts of what became of the others. One query reads the suppressions of all their
        recipients, one the hourly counts; the counts include the emails admitted before them here."""
        done: Counter[str] = Counter()
        customers = [item.recipient for item in items if item.audience == CUSTOMER]
        blocked = tickets.suppressed(session, customers) if customers else {}
        automatic = [item.recipient for item in items if item.automatic]
        outbox.hold_recipients(session, automatic)  # count and admit in one turn per address
        recent = outbox.automatic_sent_since(session, automatic, now - HOUR, but=[item.id for item in items])
        ready: list[Ready] = []
        for item in items:
            with _fields(item):
                reason = blocked[item.recipient].reason if item.recipient in blocked else None
                held = self._decide(session, item, now, reason, recent[item.recipient])
                if held is not None:
                    done[held] += 1
                    continue
                body, rendered = item.body, None
                if body is None:
                    made = drafts.get(item.id) or self._render(session, item, now)
                    if isinstance(made, str):
                        done[made] += 1
                        continue
                    body, rendered = made
                if item.automatic:
                    recent[item.recipient] += 1
                ready.append(Ready(item, body, rendered))
        outbox.save_bodies(session, {one.item.id: one.body for one in ready if one.rendered is not None})
        outbox.admit(session, [one.item.id for one in ready if one.item.automatic], now)
        return ready, done

    def _decide(self, session: Session, item: Outgoing, now: datetime, suppressed_because: str | None,
                recent: int) -> str | None:
        """Whether `item` goes now, given why its address is suppressed (if it is) and its automatic
        emails in the last hour: None to send it, else what became of it (deferred or skipped)."""
        to_customer = item.audience == CUSTOMER
        verdict = should_send(automatic=item.automatic, to_customer=to_customer,
                              suppressed_because=suppressed_because if to_customer else None,
                              sent_last_hour=recent if item.automatic else 0,
                              max_per_hour=self.desk.settings.outbound.max_auto_per_hour)
        if not verdict.send and verdict.later:
            outbox.defer(session, item.id, now + DEFER, verdict.reason)
            return outbox.DEFERRED
        if not verdict.send:
            outbox.mark_skipped(session, item.id, verdict.reason)
            tickets.record_skipped(session, item, now, verdict.reason)
            return outbox.SKIPPED
        return None

    def _render(self, session: Session, item: Outgoing, now: datetime) -> tuple[bytes, RenderedEmail] | str:
        """Render and compose `item` (the caller stores its bytes before the commit); or what became of it
        when it cannot be (a template an admin can fix: retried; an address no server takes: dead)."""
        try:
            rendered = self.renderer.render(item.kind, self._context(session, item, now), plan=item.plan,
                                            customer=item.customer_id)
            body = self._compose(item, rendered, now, self._attachments(session, item))
        except TemplateError as exc:
            # An admin can fix the template; until then the email waits, and says why.
            log.error("%s: %s", _about(item), exc)
            return self._failed(session, item, now, f"template: {exc}", permanent=False)
        except ValueError as exc:
            # An address no mail server would take: no retry will help, nor is it a bounce.
            log.error("%s: cannot compose: %s", _about(item), exc)
            return self._failed(session, item, now, f"cannot compose: {exc}", permanent=True, bounced=False)
        return body, rendered

    def _send(self, one: Ready) -> SendError | None:
        """Hand the stored bytes to the relay: None when it took them, else why not."""
        try:
            self.transport.send(one.body, self.desk.settings.outbound.from_email, [one.item.recipient])
        except SendError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - one email must not hold up the others
            log.exception("%s failed unexpectedly", _about(one.item))
            return TemporarySendError(f"{type(exc).__name__}: {exc}")
        return None

    def _report(self, session: Session, results: list[tuple[Ready, SendError | None]],
                now: datetime) -> tuple[list[Outgoing], Counter[str]]:
        """What became of the emails sent, to the queue and to the ticket rules: the emails sent, and counts.
        Its rows and events are held to the end and written together (`inbox.store.deferred`): on
        PostgreSQL three statements an email in one round trip."""
        with deferred.holding(session):
            done: Counter[str] = Counter()
            sent = [one.item for one, error in results if error is None]
            outbox.mark_sent(session, [item.id for item in sent], now)
            for one, error in results:
                with _fields(one.item):
                    if error is not None:
                        # A relay that cannot carry the email says nothing of the address: no suppression.
                        done[self._failed(session, one.item, now, str(error),
                                          permanent=isinstance(error, PermanentSendError),
                                          bounced=not isinstance(error, RelayCannotCarry))] += 1
                        continue
                    # Subject and text to keep: from this render, or read back from a retry's stored bytes.
                    rendered = one.rendered
                    subject, text = (rendered.subject, rendered.text) if rendered is not None else _read_back(one.body)
                    tickets.record_sent(session, self.desk, one.item, subject, text, now)
            done[outbox.SENT] += len(sent)
            return sent, done

    def _context(self, session: Session | None, item: Outgoing, now: datetime) -> dict[str, object]:
        """The template data: as queued (a customer's as a customer may see it, also when it was queued
        by an older version), or for a digest the alerts it lists, as late as they are now (the only
        one that reads: `session` may be None for the others)."""
        if item.audience == CUSTOMER:
            return tickets.for_customer(self.desk.settings, item.context)
        if item.kind != digests.DIGEST:
            return item.context
        assert session is not None
        listed = [member.context for member in digests.members(session, item.id)]
        return digest.context(str(item.context["digest"]["kind"]), listed, now, dict(item.context["service"]))

    def _attachments(self, session: Session, item: Outgoing) -> list[Attachment]:
        """The files of the mail this email relays (an engineer's reply), if any."""
        raw = rawqueue.data_of(session, item.attach_raw_id) if item.attach_raw_id is not None else None
        if raw is None:
            return []
        kept, left_out = attachments_of(raw)
        if left_out:
            log.warning("%s: attachments not relayed: %s", _about(item), ", ".join(left_out))
            tickets.record_attachments_left_out(session, item, left_out)
        return kept

    def _compose(self, item: Outgoing, rendered: RenderedEmail, now: datetime,
                 attachments: list[Attachment]) -> bytes:
        ticket = item.context.get("ticket") or {}
        return compose(
            rendered,
            from_address=self.desk.settings.outbound.from_address,
            to=[item.recipient],
            message_id=item.message_id,
            date=now,
            tracking=str(ticket.get("tracking", "")),
            in_reply_to=item.in_reply_to,
            references=item.references,
            automatic=item.automatic,
            loop_marker=self.desk.settings.own_domain,
            attachments=attachments,
        )

    def _failed(self, session: Session, item: Outgoing, now: datetime, error: str, *, permanent: bool,
                bounced: bool = True) -> str:
        if not permanent and outbox.mark_retry(session, item.id, now, error, item.attempts, item.created_at):
            return outbox.RETRY
        if permanent:
            outbox.mark_dead(session, item.id, error)
        tickets.record_failure(session, item, now, error, permanent=permanent, bounced=bounced)
        return outbox.DEAD


def _tracking(item: Outgoing) -> str | None:
    return (item.context.get("ticket") or {}).get("tracking")


def _about(item: Outgoing) -> str:
    """How a log line names an email: its ticket's tracking number, Message-ID, outbox row and kind."""
    tracking = _tracking(item) or "-"
    return f"{tracking} Message-ID <{item.message_id}> (outbox {item.id}, {item.kind} to {item.recipient})"


def _fields(item: Outgoing) -> ContextManager[None]:
    """The same, as log fields: the Message-ID is this email's own, the tracking number its ticket's."""
    return logs.about(tracking=_tracking(item), message_id=item.message_id or None, outbox_id=item.id, kind=item.kind)


def _read_back(body: bytes) -> tuple[str, str]:
    """The subject and text part of an email we composed, to keep on the ticket."""
    message = email.message_from_bytes(body, policy=default_policy)
    part = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(message["subject"] or ""), part.get_content() if part is not None else ""
