"""What a ticket's clocks say is due, at chosen instants: pure, no database.

Calendar: Los Angeles, Monday to Friday 08:00-17:00, no holidays. T0 is Monday 2 March 2026
09:00 PST (17:00 UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from inbox.domain.ticket import Status
from inbox.sla.agenda import ActionKind, Facts, Policy, TargetRule, agenda, dues
from inbox.sla.calendar import BusinessCalendar
from inbox.sla.durations import parse_duration
from inbox.sla.hours import parse_opening_hours

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
PACIFIC = BusinessCalendar(ZoneInfo("America/Los_Angeles"), parse_opening_hours({"mon-fri": "08:00-17:00"}))


def policy(**targets: str) -> Policy:
    rules = {name: TargetRule(parse_duration(text), PACIFIC) for name, text in targets.items()}
    return Policy(targets=rules, calendar=PACIFIC, warn_share=0.8, escalation_levels=2,
                  auto_solve_after=parse_duration("7 days"), auto_solve_follow_ups=2,
                  close_after_solved=parse_duration("3 days"))


def kinds(plan) -> list[tuple[str, str | None, int]]:
    return [(a.kind.value, a.target, a.level) for a in plan.actions]


def test_nothing_due_before_the_warning_and_next_check_is_the_warning() -> None:
    """At arrival nothing is due; the next instant to look is the 80 % warning (Mon 12:12 PST)."""
    plan = agenda(Facts(created_at=T0, status=Status.OPEN), policy(response="4 business hours"), T0)
    assert plan.actions == () and plan.next_check_at == T0 + timedelta(hours=3, minutes=12)


def test_warning_then_breach_levels_each_once() -> None:
    """Warn once, breach at the due (level 1), level 2 one target later; state stops repeats."""
    p = policy(response="4 business hours")
    facts = Facts(created_at=T0, status=Status.OPEN)
    first = agenda(facts, p, T0 + timedelta(hours=3, minutes=12))
    assert kinds(first) == [("warn", "response", 0)]
    again = agenda(Facts(created_at=T0, status=Status.OPEN, sla_state=first.sla_state), p, T0 + timedelta(hours=3, minutes=30))
    assert again.actions == ()
    at_due = agenda(Facts(created_at=T0, status=Status.OPEN, sla_state=again.sla_state), p, T0 + timedelta(hours=4))
    assert kinds(at_due) == [("breach", "response", 1)]
    assert at_due.next_check_at == T0 + timedelta(hours=8)  # level 2 at 8 business hours: Mon 17:00 PST
    late = agenda(Facts(created_at=T0, status=Status.OPEN), p, T0 + timedelta(days=10))
    assert kinds(late) == [("breach", "response", 1), ("breach", "response", 2)]  # no warning after the due


def test_an_answered_ticket_has_nothing_due_for_its_response() -> None:
    """Once the first response is in, its clock neither warns nor breaches."""
    facts = Facts(created_at=T0, status=Status.OPEN, first_response_at=T0 + timedelta(hours=1))
    assert agenda(facts, policy(response="4 business hours"), T0 + timedelta(days=3)).actions == ()


def test_raised_severity_moves_the_due_and_forgets_work_done_for_the_old_one() -> None:
    """A warning sent for a 2-day due does not stop the warning for the new 4-hour due."""
    old = agenda(Facts(created_at=T0, status=Status.OPEN), policy(response="2 business days"),
                 datetime(2026, 3, 3, 23, 0, tzinfo=UTC))
    assert kinds(old) == [("warn", "response", 0)]
    new = agenda(Facts(created_at=T0, status=Status.OPEN, sla_state=old.sla_state), policy(response="4 business hours"),
                 T0 + timedelta(hours=3, minutes=12))
    assert kinds(new) == [("warn", "response", 0)]


def test_paused_clock_has_no_due_and_resumes_shifted() -> None:
    """While waiting on the customer the response has no due; after, it is shifted by the open time paused."""
    p = policy(response="4 business hours")
    waiting = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, paused_since=T0 + timedelta(hours=1))
    assert dues(waiting, p).first_response_due is None
    resumed = Facts(created_at=T0, status=Status.OPEN, pauses=((T0 + timedelta(hours=1), T0 + timedelta(hours=3)),))
    assert dues(resumed, p).first_response_due == T0 + timedelta(hours=6)


def test_status_update_due_once_then_retried_a_cadence_later_if_it_never_went() -> None:
    """An update is due at the cadence; if the customer was never reached it is tried one cadence later."""
    p = policy(response="4 business hours", update="24 hours")
    facts = Facts(created_at=T0, status=Status.OPEN, first_response_at=T0, last_update_sent_at=T0)
    first = agenda(facts, p, T0 + timedelta(hours=24))
    assert kinds(first) == [("status_update", "update", 0)]
    later = Facts(created_at=T0, status=Status.OPEN, first_response_at=T0, last_update_sent_at=T0, sla_state=first.sla_state)
    assert kinds(agenda(later, p, T0 + timedelta(hours=24, minutes=10))) == []
    assert ("breach", "update", 1) in kinds(agenda(later, p, T0 + timedelta(hours=24, minutes=15)))
    assert ("status_update", "update", 0) in kinds(agenda(later, p, T0 + timedelta(hours=48)))


def test_waiting_ticket_solves_after_follow_ups_or_days_whichever_first() -> None:
    """Two unanswered follow-ups: solved when a third would be due; else 7 days after waiting began."""
    p = policy(response="4 business hours", update="2 days")
    start = T0 + timedelta(hours=1)
    two = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, first_response_at=T0, paused_since=start,
                follow_ups=2, last_update_sent_at=T0 + timedelta(days=4))
    sunday = datetime(2026, 3, 8, 16, 0, tzinfo=UTC)  # Friday 09:00 PST + 2 nominal days: Sunday 09:00 PDT
    assert agenda(two, p, sunday - timedelta(minutes=1)).actions == ()
    assert kinds(agenda(two, p, sunday)) == [("auto_solve", None, 0)]
    # Without a cadence: the mean gap between follow-ups ((4 days - 1 hour) / 2 = 47.5 hours, so
    # Sunday 08:30) but at least one business day after the last (Friday 09:00 -> Monday 09:00 PDT).
    no_cadence = policy(response="4 business hours")
    solve = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert agenda(two, no_cadence, solve - timedelta(minutes=1)).actions == ()
    assert kinds(agenda(two, no_cadence, solve)) == [("auto_solve", None, 0)]
    spaced = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, first_response_at=T0, paused_since=T0,
                   follow_ups=2, last_update_sent_at=T0 + timedelta(hours=2),
                   sla_state={"follow_up": {"at": (T0 + timedelta(days=3)).isoformat()}})
    # The last follow-up, not the last email of any kind, starts the wait: Thursday + 1.5 days.
    assert kinds(agenda(spaced, no_cadence, T0 + timedelta(days=4, hours=12))) == [("auto_solve", None, 0)]
    assert agenda(spaced, no_cadence, T0 + timedelta(days=4, hours=11)).actions == ()
    one = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, first_response_at=T0, paused_since=start,
                follow_ups=1, last_update_sent_at=T0 + timedelta(days=6, hours=23))
    solve = [a for a in agenda(one, p, start + timedelta(days=7)).actions if a.kind is ActionKind.AUTO_SOLVE]
    assert solve and "7 days" in solve[0].why


def test_solved_ticket_closes_after_the_configured_time_and_sends_no_updates() -> None:
    """Solved: no update is due, and it closes 3 days after solving."""
    p = policy(response="4 business hours", update="24 hours")
    solved = Facts(created_at=T0, status=Status.SOLVED, first_response_at=T0, solved_at=T0 + timedelta(hours=2))
    assert dues(solved, p).next_update_due is None
    assert agenda(solved, p, T0 + timedelta(days=3)).next_check_at == T0 + timedelta(days=3, hours=2)
    assert kinds(agenda(solved, p, T0 + timedelta(days=3, hours=2))) == [("auto_close", None, 0)]


def test_reminders_replace_updates_while_waiting_and_count_toward_auto_solve() -> None:
    """With remind_every, a waiting ticket gets reminders (not updates) and is solved after the last one's interval."""
    import dataclasses
    p = dataclasses.replace(policy(response="4 business hours", update="24 hours"), auto_solve_after=None,
                            remind_every=parse_duration("2 business days"))
    start = T0 + timedelta(hours=1)  # Monday 10:00 PST
    waiting = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, first_response_at=T0, paused_since=start,
                    last_update_sent_at=start)
    assert dues(waiting, p).next_update_due is None  # no status update is owed while waiting on the customer
    wednesday = start + timedelta(days=2)  # two business days later, same local time
    before = agenda(waiting, p, wednesday - timedelta(minutes=1))
    assert before.actions == () and before.next_check_at == wednesday
    due = agenda(waiting, p, wednesday)
    assert kinds(due) == [("remind", "reminder", 0)]
    again = Facts(**{**waiting.__dict__, "sla_state": due.sla_state})
    assert agenda(again, p, wednesday + timedelta(minutes=5)).actions == ()  # queued once, not twice
    # Two reminders answered by nobody (auto_solve_follow_ups=2): solved one interval after the second.
    second = start + timedelta(days=4)  # Friday 10:00
    done = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, first_response_at=T0, paused_since=start,
                 last_update_sent_at=second, follow_ups=2, sla_state={"follow_up": {"at": second.isoformat()}})
    tuesday = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 2 business days after Friday 10:00 PST: Tuesday 10:00 PDT
    assert agenda(done, p, tuesday - timedelta(minutes=1)).actions == ()
    assert kinds(agenda(done, p, tuesday)) == [("auto_solve", None, 0)]
    # Back to open: no reminder, and the status update cadence is owed again.
    reopened = Facts(created_at=T0, status=Status.OPEN, first_response_at=T0, last_update_sent_at=start)
    assert "reminder" not in agenda(reopened, p, wednesday).sla_state
    assert dues(reopened, p).next_update_due == start + timedelta(hours=24)


def test_held_clocks_run_nothing_and_started_clocks_count_from_their_start() -> None:
    """sla_state clocks {"off"}: no due time, nothing to check; {"from": Wed 4 Mar 16:00 PST}: 4 business
    hours from then (1 h Wednesday, 3 h Thursday -> Thu 5 Mar 11:00 PST), not from T0 (Mon 13:00 PST)."""
    p = policy(response="4 business hours", update="1 day")
    held = agenda(Facts(created_at=T0, status=Status.OPEN, sla_state={"clocks": {"off": "awaiting"}}), p, T0)
    assert (held.dues, held.actions, held.next_check_at) == (dues(Facts(T0, Status.OPEN, sla_state=held.sla_state), p),
                                                             (), None)
    assert held.dues.first_response_due is None and held.dues.next_update_due is None
    start = datetime(2026, 3, 5, 0, tzinfo=UTC)
    started = Facts(created_at=T0, status=Status.OPEN, last_update_sent_at=T0,
                    sla_state={"clocks": {"from": start.isoformat()}})
    assert dues(started, p).first_response_due == datetime(2026, 3, 5, 19, tzinfo=UTC)
    # The update cadence runs from the later of the start and the last email: one day after the start.
    assert dues(started, p).next_update_due == start + timedelta(days=1)
