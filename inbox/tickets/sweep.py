"""The scheduled sweep: for every ticket with something due, do it and queue the emails it causes.

It reads only tickets whose `next_check_at` has come (an index range), so a sweep costs what is
due, never what is open. Each ticket is handled under its row lock (FOR UPDATE SKIP LOCKED on
PostgreSQL), and every email goes through the outbox with an idempotency key, so a sweep run
twice, or on two instances at once, acts once. Warnings and breach alerts go to staff, status
updates to the customer; auto-solve and auto-close change the status. Never sends anything.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from inbox import logs
from inbox.domain.ticket import SYSTEM, EventKind, Status
from inbox.sla.agenda import Action, ActionKind, agenda
from inbox.store import history
from inbox.store import tickets as store
from inbox.store.tables import Ticket
from inbox.tickets import notices
from inbox.tickets.assignment import engineers
from inbox.tickets.changes import set_status
from inbox.tickets.due_times import facts_of, following_update, last_public_activity, refresh, view
from inbox.tickets.desk import Desk
from inbox.tickets.notices import STAFF

log = logging.getLogger(__name__)

BATCH = 200
# Something the agenda still calls due right after it was done is a bug, not a reason to spin.
RECHECK = timedelta(minutes=1)
RETRY_FAILED = timedelta(hours=1)


def sweep(sessions: sessionmaker[Session], desk: Desk, now: datetime, batch: int = BATCH) -> Counter[str]:
    """Do everything due by `now`; returns how many of each action were taken."""
    done: Counter[str] = Counter()
    seen: set[int] = set()
    while True:
        with sessions() as session, session.begin():
            found = store.tickets_due(session, now, batch)
            tickets = [t for t in found if t.id not in seen]
            for ticket in tickets:
                seen.add(ticket.id)
                with logs.about(tracking=ticket.tracking):  # every line about this ticket's actions names it
                    try:
                        with session.begin_nested():
                            for action in handle(session, desk, ticket, now):
                                done[action.kind.value] += 1
                    except Exception:  # noqa: BLE001 - one bad ticket must not stop every other ticket's clock
                        log.exception("%s: SLA sweep failed on this ticket; looking again in %s", ticket.tracking,
                                      RETRY_FAILED)
                        ticket.next_check_at = now + RETRY_FAILED
                        done["failed"] += 1
        if len(found) < batch or not tickets:
            return done


def handle(session: Session, desk: Desk, ticket: Ticket, now: datetime) -> tuple[Action, ...]:
    """Take the actions due on one ticket and set when to look at it next."""
    plan = agenda(facts_of(ticket), desk.contracts.policy(ticket.plan, ticket.severity), now)
    ticket.sla_state = plan.sla_state  # recorded first: what is done now is never done again
    for action in plan.actions:
        _ACTIONS[action.kind](session, desk, ticket, action, now)
    after = refresh(session, desk, ticket, now)
    if after.actions:
        log.error("ticket %s still has actions due after a sweep: %s", ticket.tracking, after.actions,
                  extra={"tracking": ticket.tracking})
        ticket.next_check_at = now + RECHECK
    return plan.actions


def _warn(session: Session, desk: Desk, ticket: Ticket, action: Action, now: datetime) -> None:
    assert action.target and action.due
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.SLA_WARNING, at=now, actor=SYSTEM,
                      detail={"target": action.target, "due": action.due.isoformat()})
    facts = view(ticket)
    data = notices.context(desk, facts, target=notices.target_context(desk, facts, action.target, action.due))
    notices.enqueue(session, desk, facts, kind="sla_warning", key=f"warn:{ticket.id}:{action.target}:{action.due.isoformat()}",
                    recipients=engineers(desk, facts), audience=STAFF, at=now, data=data)


def _breach(session: Session, desk: Desk, ticket: Ticket, action: Action, now: datetime) -> None:
    assert action.target and action.due
    to = desk.contracts.escalation(ticket.plan, action.level, action.target, ticket.severity)
    history.add_event(session, ticket_id=ticket.id, kind=EventKind.BREACH, at=now, actor=SYSTEM,
                      detail={"target": action.target, "due": action.due.isoformat(), "level": action.level,
                            "escalated_to": to})
    if to is None:
        return
    facts = view(ticket, last_public_activity(session, ticket))
    data = notices.context(desk, facts, level=action.level,
                           target=notices.target_context(desk, facts, action.target, action.due))
    notices.enqueue(session, desk, facts, kind="breach_alert",
                    key=f"breach:{ticket.id}:{action.target}:{action.due.isoformat()}:{action.level}",
                    recipients=[to], audience=STAFF, at=now, data=data)


def _status_update(session: Session, desk: Desk, ticket: Ticket, action: Action, now: datetime) -> None:
    assert action.due
    # The update tells when the next one is due: one cadence from this one.
    facts = following_update(desk, view(ticket, last_public_activity(session, ticket)), now)
    notices.tell_customer(session, desk, facts, kind="status_update", key=f"update:{ticket.id}:{action.due.isoformat()}",
                          at=now, data=notices.context(desk, facts))


def _remind(session: Session, desk: Desk, ticket: Ticket, action: Action, now: datetime) -> None:
    assert action.due
    facts = view(ticket, last_public_activity(session, ticket))
    notices.tell_customer(session, desk, facts, kind="reminder", key=f"remind:{ticket.id}:{action.due.isoformat()}",
                          at=now, data=notices.context(desk, facts, follow_ups=ticket.follow_ups or 0))


def _auto_solve(session: Session, desk: Desk, ticket: Ticket, action: Action, now: datetime) -> None:
    set_status(session, desk, ticket, Status.SOLVED, now, SYSTEM, why=action.why)


def _auto_close(session: Session, desk: Desk, ticket: Ticket, action: Action, now: datetime) -> None:
    set_status(session, desk, ticket, Status.CLOSED, now, SYSTEM, why=action.why)


_ACTIONS = {
    ActionKind.WARN: _warn,
    ActionKind.BREACH: _breach,
    ActionKind.STATUS_UPDATE: _status_update,
    ActionKind.AUTO_SOLVE: _auto_solve,
    ActionKind.AUTO_CLOSE: _auto_close,
    ActionKind.REMIND: _remind,
}
