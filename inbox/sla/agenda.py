"""What a ticket's SLA clocks say at one instant: its due times, and what is due to happen now.

Given the facts of a ticket (when it was opened, answered, worked around, solved; when the
customer was last written to; when it waited on the customer) and the policy of its plan and
severity, `agenda` returns the four due times, the actions that are due (warn, breach at each
escalation level, send a status update, auto-solve, auto-close), the bookkeeping that stops an
action from being taken twice, and the next instant anything will be due. Pure: it never reads
a clock, a database or the config; the caller carries out the actions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from inbox.domain.ticket import Status
from inbox.sla.calendar import BusinessCalendar
from inbox.sla.clocks import Pause, TargetTimes, target_times
from inbox.sla.durations import Duration, Unit

RESPONSE, UPDATE, WORKAROUND, RESOLUTION = "response", "update", "workaround", "resolution"
TARGETS = (RESPONSE, UPDATE, WORKAROUND, RESOLUTION)
FOLLOW_UP = "follow_up"  # sla_state key: when the last follow-up went to a waiting customer
REMINDER = "reminder"  # sla_state key: the reminder due to a waiting customer, and whether it was queued
# sla_state key: {"off": why} while no SLA clock runs (a ticket awaiting its entitlement, or one its
# plan never clocks); {"from": ISO 8601} when they started later than the ticket (on confirmation).
CLOCKS = "clocks"

# A status update is sent when it falls due; it counts as missed only if no email reached the
# customer a little after that (the outbox retries transient failures for a while first).
UPDATE_GRACE = timedelta(minutes=15)
ONE_BUSINESS_DAY = Duration(1, Unit.BUSINESS_DAYS)


@dataclass(frozen=True)
class TargetRule:
    duration: Duration
    calendar: BusinessCalendar


@dataclass(frozen=True)
class Policy:
    """One plan's promises for one severity, with calendars resolved."""

    targets: Mapping[str, TargetRule]
    calendar: BusinessCalendar
    warn_share: float | None = 0.8
    escalation_levels: int = 0
    # Per target, a chain of its own (a plan's breach_escalation rules): the `after` of each level,
    # None where the level keeps the default (level k once k target intervals have run). A target
    # not named here has `escalation_levels` default levels.
    escalation_after: Mapping[str, tuple[Duration | None, ...]] = field(default_factory=dict)
    auto_solve_after: Duration | None = None
    auto_solve_follow_ups: int | None = None
    close_after_solved: Duration | None = None
    remind_every: Duration | None = None


@dataclass(frozen=True)
class Facts:
    created_at: datetime
    status: Status
    first_response_at: datetime | None = None
    workaround_at: datetime | None = None
    solved_at: datetime | None = None
    closed_at: datetime | None = None
    last_update_sent_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    paused_since: datetime | None = None
    follow_ups: int = 0
    sla_state: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Dues:
    first_response_due: datetime | None = None
    next_update_due: datetime | None = None
    workaround_due: datetime | None = None
    resolution_due: datetime | None = None


class ActionKind(enum.StrEnum):
    WARN = "warn"
    BREACH = "breach"
    STATUS_UPDATE = "status_update"
    AUTO_SOLVE = "auto_solve"
    AUTO_CLOSE = "auto_close"
    REMIND = "remind"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str | None = None
    due: datetime | None = None
    level: int = 0
    why: str = ""


@dataclass(frozen=True)
class Agenda:
    dues: Dues
    actions: tuple[Action, ...]
    next_check_at: datetime | None
    sla_state: dict[str, dict[str, Any]]


def _met_at(facts: Facts, target: str) -> datetime | None:
    stopped = facts.solved_at or facts.closed_at
    if target == RESPONSE:
        return facts.first_response_at or stopped
    if target == WORKAROUND:
        # A fix is also a workaround: solving stops this clock too ("workaround or fix").
        return facts.workaround_at or stopped
    if target == RESOLUTION:
        return stopped
    return stopped  # no more status updates once solved


def _pauses(facts: Facts) -> tuple[Pause, ...]:
    return facts.pauses + (((facts.paused_since, None),) if facts.paused_since else ())


def clocks_start(facts: Facts) -> datetime | None:
    """When the ticket's SLA clocks started: at its creation, unless `CLOCKS` held them (None: none run)."""
    held = facts.sla_state.get(CLOCKS, {})
    if "off" in held:
        return None
    return datetime.fromisoformat(held["from"]) if "from" in held else facts.created_at


def _times(facts: Facts, policy: Policy, target: str) -> TargetTimes | None:
    rule = policy.targets.get(target)
    start = clocks_start(facts)
    if rule is None or start is None:
        return None
    timed = policy.escalation_after.get(target)
    # Level 1 is the breach itself: it is recorded even when nobody is to be told of it.
    levels = max(1, len(timed) if timed is not None else policy.escalation_levels)
    if target == UPDATE:
        # The cadence runs from the clocks' start and restarts at every email to the customer; it
        # does not pause while waiting on the customer (only response, workaround, resolution do).
        return _timed(cadence(rule, max(facts.last_update_sent_at or start, start), levels), timed, rule.calendar, None)
    share = policy.warn_share
    times = target_times(rule.calendar, start, rule.duration, _pauses(facts), warn_share=share, levels=levels)
    return _timed(times, timed, rule.calendar, facts.paused_since)


def _timed(times: TargetTimes, timed: tuple[Duration | None, ...] | None, calendar: BusinessCalendar,
           paused_since: datetime | None) -> TargetTimes:
    """`times` with the levels that name an `after` told that long after the due time (on the
    target's calendar: elapsed time unless counted in business time). While the clock is paused
    (waiting on the customer) no further timed level falls due, as no further default level does;
    a level never falls before the one above it."""
    if not timed or all(level is None for level in timed) or times.due is None:
        return times
    instants: list[datetime] = []
    for index, level in enumerate(timed):
        if level is None:
            if index >= len(times.escalations):
                break  # held back by a pause, as target_times says
            instant = times.escalations[index]
        else:
            instant = after(calendar, times.due, level)
            if paused_since is not None and paused_since <= instant:
                break
        instants.append(max(instant, instants[-1]) if instants else instant)
    return TargetTimes(due=times.due, warn=times.warn, escalations=tuple(instants))


def cadence(rule: TargetRule, start: datetime, levels: int = 1) -> TargetTimes:
    """A status-update cadence from the last email: "every 24 hours" means every 24 hours, so a
    wall-clock cadence ignores open hours (unlike a target, it does not wait for an opening);
    a cadence in business time counts open time as targets do."""
    if rule.duration.is_business:
        return target_times(rule.calendar, start, rule.duration, levels=levels)
    due = rule.calendar.add_wall(start, rule.duration)
    return TargetTimes(due=due, warn=None, escalations=tuple(start + (due - start) * k for k in range(1, levels + 1)))


def _solving_instead(facts: Facts, policy: Policy) -> bool:
    """Waiting on the customer after the last allowed follow-up: the next step is solving, not updating."""
    limit = policy.auto_solve_follow_ups
    return facts.status == Status.WAITING_ON_CUSTOMER and limit is not None and facts.follow_ups >= limit


def _reminding(facts: Facts, policy: Policy) -> bool:
    """Waiting on the customer on a plan with reminders: they take the place of status updates."""
    return facts.status == Status.WAITING_ON_CUSTOMER and policy.remind_every is not None


def dues(facts: Facts, policy: Policy) -> Dues:
    """The four due times as they stand (None: no such target, or paused)."""
    times = {t: _times(facts, policy, t) for t in TARGETS}
    due = {t: (x.due if x else None) for t, x in times.items()}
    if facts.status in (Status.SOLVED, Status.CLOSED) or _reminding(facts, policy):
        due[UPDATE] = None
    return Dues(due[RESPONSE], due[UPDATE], due[WORKAROUND], due[RESOLUTION])


def after(calendar: BusinessCalendar, start: datetime, duration: Duration) -> datetime:
    """A lifecycle timer's end: elapsed time, unless the duration is counted in business time."""
    return calendar.add(start, duration) if duration.is_business else calendar.add_wall(start, duration)


def agenda(facts: Facts, policy: Policy, now: datetime) -> Agenda:
    """Everything due by `now` that has not been done, and when to look again."""
    state = {name: dict(value) for name, value in facts.sla_state.items()}
    actions: list[Action] = []
    upcoming: list[datetime] = []
    finished = facts.status in (Status.SOLVED, Status.CLOSED)

    for target in TARGETS:
        times = _times(facts, policy, target)
        if times is None or times.due is None or _met_at(facts, target) is not None:
            continue
        if target == UPDATE and (_solving_instead(facts, policy) or _reminding(facts, policy)):
            continue
        grace = UPDATE_GRACE if target == UPDATE else timedelta(0)
        mine = state.get(target, {})
        if mine.get("due") != times.due.isoformat():
            # The due time moved (severity changed, a pause ended): what was done was for the old one.
            mine = {"due": times.due.isoformat()}
        if target == UPDATE:
            following = cadence(policy.targets[UPDATE], now).due
            _repeat(Action(ActionKind.STATUS_UPDATE, UPDATE, times.due), following, now, mine, actions, upcoming)
        elif times.warn is not None and not mine.get("warned"):
            if times.warn <= now < times.due:
                actions.append(Action(ActionKind.WARN, target, times.due))
                mine["warned"] = True
            elif times.warn > now:
                upcoming.append(times.warn)
        # An update queued late (the service was down, or `--as-of` jumped) gets its grace from then.
        queued = datetime.fromisoformat(mine["queued_at"]) if "queued_at" in mine else None
        for level, at in enumerate(times.escalations, start=1):
            if mine.get("level", 0) >= level:
                continue
            at = max(at, queued) if queued is not None else at
            if at + grace <= now:
                actions.append(Action(ActionKind.BREACH, target, times.due, level))
                mine["level"] = level
            else:
                upcoming.append(at + grace)
                break
        state[target] = mine

    lifecycle = _lifecycle(facts, policy, now, upcoming, finished)
    if lifecycle is not None:
        actions.append(lifecycle)
    else:  # a ticket solved now needs no reminder at the same instant
        _remind(facts, policy, now, state, actions, upcoming)
    return Agenda(dues(facts, policy), tuple(actions), min(upcoming, default=None), state)


def _repeat(action: Action, following: datetime | None, now: datetime, mine: dict[str, Any],
            actions: list[Action], upcoming: list[datetime]) -> None:
    """Queue an email that comes round on a cadence (a status update, a reminder) when it is due,
    and remember when to try again if it never arrives (`following`: one cadence from now)."""
    assert action.due is not None
    due = action.due
    if mine.get("sent"):
        # Sent, yet the cadence did not restart: it never reached the customer (suppressed, rate
        # limited, bounced). Try again one cadence later rather than fall silent for good.
        retry = datetime.fromisoformat(mine["retry_at"])
        if retry > now:
            upcoming.append(retry)
            return
        due = retry
    elif due > now:
        upcoming.append(due)
        return
    actions.append(Action(action.kind, action.target, due))
    mine["sent"] = True
    mine["queued_at"] = now.isoformat()
    if following is not None:
        mine["retry_at"] = following.isoformat()
        upcoming.append(following)


def _remind(facts: Facts, policy: Policy, now: datetime, state: dict[str, dict[str, Any]],
            actions: list[Action], upcoming: list[datetime]) -> None:
    """While waiting on the customer, a reminder `remind_every` after the last email to them."""
    if not _reminding(facts, policy) or _solving_instead(facts, policy) or facts.paused_since is None:
        state.pop(REMINDER, None)  # a later wait starts afresh
        return
    assert policy.remind_every is not None
    start = max(t for t in (facts.last_update_sent_at, facts.paused_since) if t is not None)
    due = after(policy.calendar, start, policy.remind_every)
    mine = state.get(REMINDER, {})
    if mine.get("due") != due.isoformat():
        mine = {"due": due.isoformat()}
    following = after(policy.calendar, now, policy.remind_every)
    _repeat(Action(ActionKind.REMIND, REMINDER, due), following, now, mine, actions, upcoming)
    state[REMINDER] = mine


def _lifecycle(facts: Facts, policy: Policy, now: datetime, upcoming: list[datetime], finished: bool) -> Action | None:
    if facts.status == Status.SOLVED and policy.close_after_solved and facts.solved_at:
        at = after(policy.calendar, facts.solved_at, policy.close_after_solved)
        if at <= now:
            return Action(ActionKind.AUTO_CLOSE, due=at, why=f"solved for {policy.close_after_solved}")
        upcoming.append(at)
        return None
    if finished or facts.status != Status.WAITING_ON_CUSTOMER or facts.paused_since is None:
        return None
    candidates: list[tuple[datetime, str]] = []
    if policy.auto_solve_after:
        at = after(policy.calendar, facts.paused_since, policy.auto_solve_after)
        candidates.append((at, f"no answer from the customer for {policy.auto_solve_after}"))
    limit = policy.auto_solve_follow_ups
    recorded = facts.sla_state.get(FOLLOW_UP, {}).get("at")
    last = datetime.fromisoformat(recorded) if recorded else facts.last_update_sent_at
    if _solving_instead(facts, policy) and last is not None:
        # Solved when the next follow-up would have been due, so the customer has as long to answer
        # the last one as the others: one update cadence, or else the mean gap between follow-ups,
        # and never less than one business day (three quick replies in a morning are not a week's chasing).
        update = policy.targets.get(UPDATE)
        if policy.remind_every is not None:
            at = after(policy.calendar, last, policy.remind_every)
        elif update is not None:
            at = cadence(update, last).due
        else:
            gap = (last - facts.paused_since) / max(1, facts.follow_ups)
            at = max(last + gap, policy.calendar.add(last, ONE_BUSINESS_DAY))
        if at is not None:
            candidates.append((at, f"no answer from the customer after {limit} follow-ups"))
    if not candidates:
        return None
    at, why = min(candidates)
    if at <= now:
        return Action(ActionKind.AUTO_SOLVE, due=at, why=why)
    upcoming.append(at)
    return None
