"""SLA target times: due, warning and escalation instants, with the pauses of the clock, to the minute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.sla.calendar import BusinessCalendar
from inbox.sla.clocks import Meter, TargetTimes, advance, measure, target_times
from inbox.sla.durations import Duration, Unit, parse_duration
from inbox.sla.hours import parse_opening_hours

LA = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
BERLIN = ZoneInfo("Europe/Berlin")

PACIFIC = BusinessCalendar(
    LA, parse_opening_hours({"mon-fri": "08:00-17:00"}), lambda year: {date(year, 11, 26), date(year, 12, 25)}
)
SECPOD = BusinessCalendar(KOLKATA, parse_opening_hours({"mon-fri": "00:00-24:00"}), lambda year: {date(year, 1, 26)})
ALWAYS = BusinessCalendar(ZoneInfo("UTC"), parse_opening_hours("24x7"))
LUNCH = BusinessCalendar(BERLIN, parse_opening_hours({"mon-fri": "09:00-12:00, 13:00-17:00"}))

FOUR_BUSINESS_HOURS = parse_duration("4 business hours")


def la(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA)


def due(calendar: BusinessCalendar, start: datetime, text: str, pauses=()) -> datetime | None:
    return target_times(calendar, start, parse_duration(text), pauses).due


# -- measure --------------------------------------------------------------------------------


def test_business_hours_measure_their_own_amount() -> None:
    """4 business hours is a business meter of 4 hours."""
    assert measure(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS) == Meter(timedelta(hours=4), business=True)


def test_business_days_measure_the_open_time_they_span() -> None:
    """2 business days from Friday 15:30 span 18 open hours; across Thanksgiving, 1 day from Wednesday is 9."""
    assert measure(PACIFIC, la(2026, 3, 13, 15, 30), parse_duration("2 business days")) == Meter(
        timedelta(hours=18), True
    )
    assert measure(PACIFIC, la(2026, 11, 25, 10, 0), parse_duration("1 business day")) == Meter(
        timedelta(hours=9), True
    )


def test_wall_clock_units_measure_elapsed_time() -> None:
    """1 week is an elapsed meter of 168 hours, and of 167 across the spring-forward night."""
    assert measure(PACIFIC, la(2026, 2, 23, 9, 0), parse_duration("1 week")) == Meter(
        timedelta(hours=168), business=False
    )
    assert measure(PACIFIC, la(2026, 3, 2, 9, 0), parse_duration("1 week")) == Meter(
        timedelta(hours=167), business=False
    )


# -- due times and pauses -------------------------------------------------------------------


def test_due_without_pauses_is_the_calendar_sum() -> None:
    """Monday 09:00 + 4 business hours is due Monday 13:00, as aware UTC."""
    result = due(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours")
    assert result == la(2026, 3, 2, 13, 0)
    assert result.tzinfo is UTC


def test_a_pause_in_open_hours_shifts_the_due_by_its_length() -> None:
    """Monday 09:00 + 4 business hours, paused 10:00-11:30, is due 14:30."""
    pauses = [(la(2026, 3, 2, 10, 0), la(2026, 3, 2, 11, 30))]
    assert due(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours", pauses) == la(2026, 3, 2, 14, 30)


def test_a_pause_overnight_shifts_the_due_by_the_open_time_inside_it() -> None:
    """Monday 15:00 + 4 business hours, paused Monday 16:00 to Tuesday 09:00 (2 open hours), is due Tuesday 12:00."""
    start = la(2026, 3, 2, 15, 0)
    assert due(PACIFIC, start, "4 business hours") == la(2026, 3, 3, 10, 0)
    pauses = [(la(2026, 3, 2, 16, 0), la(2026, 3, 3, 9, 0))]
    assert due(PACIFIC, start, "4 business hours", pauses) == la(2026, 3, 3, 12, 0)


def test_a_pause_outside_open_hours_does_not_move_a_business_due() -> None:
    """Monday 15:00 + 4 business hours, paused Monday 18:00 to Tuesday 07:00, is still due Tuesday 10:00."""
    pauses = [(la(2026, 3, 2, 18, 0), la(2026, 3, 3, 7, 0))]
    assert due(PACIFIC, la(2026, 3, 2, 15, 0), "4 business hours", pauses) == la(2026, 3, 3, 10, 0)


def test_a_pause_ending_after_closing_resumes_at_the_next_opening() -> None:
    """Monday 15:00 + 4 business hours, paused 16:00-20:00, resumes Tuesday 08:00: due Tuesday 11:00."""
    pauses = [(la(2026, 3, 2, 16, 0), la(2026, 3, 2, 20, 0))]
    assert due(PACIFIC, la(2026, 3, 2, 15, 0), "4 business hours", pauses) == la(2026, 3, 3, 11, 0)


def test_a_pause_during_lunch_changes_nothing_and_one_across_it_counts_only_open_time() -> None:
    """Two spans a day: 11:00 + 2 business hours is due 14:00; paused 11:30-13:30 it is due 15:00."""
    start = datetime(2026, 3, 2, 11, 0, tzinfo=BERLIN)
    lunch_pause = [(datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN), datetime(2026, 3, 2, 13, 0, tzinfo=BERLIN))]
    longer_pause = [(datetime(2026, 3, 2, 11, 30, tzinfo=BERLIN), datetime(2026, 3, 2, 13, 30, tzinfo=BERLIN))]
    assert due(LUNCH, start, "2 business hours", lunch_pause) == datetime(2026, 3, 2, 14, 0, tzinfo=BERLIN)
    assert due(LUNCH, start, "2 business hours", longer_pause) == datetime(2026, 3, 2, 15, 0, tzinfo=BERLIN)


def test_an_open_ended_pause_before_the_due_gives_no_due() -> None:
    """Paused for good since Monday 10:00, 4 business hours from 09:00 have no due or escalations; a 25% warning is 10:00."""
    pauses = [(la(2026, 3, 2, 10, 0), None)]
    times = target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, pauses, warn_share=0.25, levels=2)
    assert times == TargetTimes(due=None, warn=la(2026, 3, 2, 10, 0), escalations=())
    assert target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, pauses, warn_share=0.5).warn is None


def test_an_open_ended_pause_after_the_due_keeps_it_and_holds_later_levels() -> None:
    """Paused for good from Monday 15:00, a target due 13:00 keeps its due and level 1 but not level 2."""
    times = target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, [(la(2026, 3, 2, 15, 0), None)], levels=2)
    assert times.due == la(2026, 3, 2, 13, 0)
    assert times.escalations == (la(2026, 3, 2, 13, 0),)


def test_a_target_used_up_as_a_pause_begins_is_reached() -> None:
    """Paused for good from exactly 13:00, a target due 13:00 is still due 13:00."""
    assert due(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours", [(la(2026, 3, 2, 13, 0), None)]) == la(
        2026, 3, 2, 13, 0
    )


def test_unsorted_overlapping_pauses_and_one_from_before_the_start_are_normalised() -> None:
    """Pauses Sunday-09:30, 10:30-10:45, 10:00-11:00 and 11:00-11:30 leave 09:30-10:00 and 11:30 on: due 15:00."""
    pauses = [
        (la(2026, 3, 2, 11, 0), la(2026, 3, 2, 11, 30)),
        (la(2026, 3, 2, 10, 30), la(2026, 3, 2, 10, 45)),
        (la(2026, 3, 1, 12, 0), la(2026, 3, 2, 9, 30)),
        (la(2026, 3, 2, 10, 0), la(2026, 3, 2, 11, 0)),
        (la(2026, 3, 2, 12, 0), la(2026, 3, 2, 12, 0)),
    ]
    assert due(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours", pauses) == la(2026, 3, 2, 15, 0)


def test_an_open_ended_pause_swallows_later_pauses() -> None:
    """An open-ended pause from 10:00 and a closed one after it still give no due."""
    pauses = [(la(2026, 3, 2, 12, 0), la(2026, 3, 2, 14, 0)), (la(2026, 3, 2, 10, 0), None)]
    assert due(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours", pauses) is None


def test_a_pause_that_ends_before_it_starts_is_refused() -> None:
    """A pause whose end precedes its start is a ValueError naming both ends."""
    with pytest.raises(ValueError, match="before it starts"):
        due(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours", [(la(2026, 3, 2, 11, 0), la(2026, 3, 2, 10, 0))])


def test_a_wall_clock_target_is_paused_in_elapsed_time() -> None:
    """24x7: Monday 09:00 + 24 hours, paused 2 hours at night, is due Tuesday 11:00."""
    pauses = [(datetime(2026, 3, 2, 22, 0, tzinfo=UTC), datetime(2026, 3, 3, 0, 0, tzinfo=UTC))]
    assert due(ALWAYS, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "24 hours", pauses) == datetime(
        2026, 3, 3, 11, 0, tzinfo=UTC
    )


def test_a_wall_clock_target_on_a_business_calendar_counts_closed_time_once_started() -> None:
    """Pacific Friday 16:00 + 24 hours is due Saturday 16:00; paused Friday 17:00-18:00, Saturday 17:00."""
    start = la(2026, 3, 6, 16, 0)
    assert due(PACIFIC, start, "24 hours") == la(2026, 3, 7, 16, 0)
    assert due(PACIFIC, start, "24 hours", [(la(2026, 3, 6, 17, 0), la(2026, 3, 6, 18, 0))]) == la(2026, 3, 7, 17, 0)


def test_a_paused_business_target_across_spring_forward() -> None:
    """Friday 6 March 15:00 PST + 4 business hours, paused 15:30-16:30, is due Monday 9 March 11:00 PDT."""
    pauses = [(la(2026, 3, 6, 15, 30), la(2026, 3, 6, 16, 30))]
    assert due(PACIFIC, la(2026, 3, 6, 15, 0), "4 business hours", pauses) == datetime(2026, 3, 9, 18, 0, tzinfo=UTC)


def test_a_business_days_target_from_a_weekend_is_due_at_the_opening() -> None:
    """Saturday + 2 business days is due Wednesday 08:00 (the calendar's sum), not Tuesday's 17:00 close."""
    start = la(2026, 3, 14, 10, 0)
    assert (
        due(PACIFIC, start, "2 business days")
        == la(2026, 3, 18, 8, 0)
        == PACIFIC.add(start, parse_duration("2 business days"))
    )


def test_a_paused_business_days_target_shifts_by_the_open_time_paused() -> None:
    """Friday 15:30 + 2 business days, paused Monday 10:00-11:00, is due Tuesday 16:30 rather than 15:30."""
    pauses = [(la(2026, 3, 16, 10, 0), la(2026, 3, 16, 11, 0))]
    assert due(PACIFIC, la(2026, 3, 13, 15, 30), "2 business days", pauses) == la(2026, 3, 17, 16, 30)


# -- warnings and escalations ---------------------------------------------------------------


def test_warning_at_a_share_of_the_target() -> None:
    """80% of 4 business hours from Monday 09:00 warns at Monday 12:12."""
    times = target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, warn_share=0.8)
    assert times.warn == la(2026, 3, 2, 12, 12)
    assert times.escalations == ()


def test_warning_counts_business_time_across_the_night() -> None:
    """80% of 4 business hours from Monday 15:00 warns at Tuesday 09:12; with no share there is no warning."""
    assert target_times(PACIFIC, la(2026, 3, 2, 15, 0), FOUR_BUSINESS_HOURS, warn_share=0.8).warn == la(
        2026, 3, 3, 9, 12
    )
    assert target_times(PACIFIC, la(2026, 3, 2, 15, 0), FOUR_BUSINESS_HOURS).warn is None


def test_warning_share_is_rounded_to_whole_seconds() -> None:
    """A third of 1 business minute from Monday 09:00 warns at 09:00:20."""
    times = target_times(PACIFIC, la(2026, 3, 2, 9, 0), parse_duration("1 business minute"), warn_share=1 / 3)
    assert times.warn == la(2026, 3, 2, 9, 0) + timedelta(seconds=20)


def test_escalation_levels_are_multiples_of_the_target() -> None:
    """4 business hours from Monday 09:00 escalates at 13:00, 17:00 and Tuesday 12:00."""
    times = target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, levels=3)
    assert times.escalations == (la(2026, 3, 2, 13, 0), la(2026, 3, 2, 17, 0), la(2026, 3, 3, 12, 0))


def test_escalations_of_business_days_fall_at_openings() -> None:
    """1 business day from Saturday escalates Tuesday 08:00 and Wednesday 08:00 (SecPod: Tuesday and Wednesday 00:00)."""
    times = target_times(PACIFIC, la(2026, 3, 14, 10, 0), parse_duration("1 business day"), levels=2)
    assert times.escalations == (la(2026, 3, 17, 8, 0), la(2026, 3, 18, 8, 0))
    secpod = target_times(
        SECPOD, datetime(2026, 3, 14, 10, 0, tzinfo=KOLKATA), parse_duration("1 business day"), levels=2
    )
    assert secpod.escalations == (
        datetime(2026, 3, 17, 0, 0, tzinfo=KOLKATA),
        datetime(2026, 3, 18, 0, 0, tzinfo=KOLKATA),
    )


def test_escalations_of_wall_clock_targets_are_elapsed_multiples() -> None:
    """24 hours from Monday 09:00 on 24x7 escalates at Tuesday 09:00 and Wednesday 09:00, the warning at 50% at 21:00."""
    times = target_times(
        ALWAYS, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), parse_duration("24 hours"), warn_share=0.5, levels=2
    )
    assert times == TargetTimes(
        due=datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        warn=datetime(2026, 3, 2, 21, 0, tzinfo=UTC),
        escalations=(datetime(2026, 3, 3, 9, 0, tzinfo=UTC), datetime(2026, 3, 4, 9, 0, tzinfo=UTC)),
    )


def test_bad_warning_shares_and_levels_are_refused() -> None:
    """A share outside 0..1 or negative levels is a ValueError."""
    with pytest.raises(ValueError, match="share"):
        target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, warn_share=1.5)
    with pytest.raises(ValueError, match="levels"):
        target_times(PACIFIC, la(2026, 3, 2, 9, 0), FOUR_BUSINESS_HOURS, levels=-1)


# -- properties -----------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None)
calendars = st.sampled_from([PACIFIC, SECPOD, LUNCH, ALWAYS])
instants = st.integers(0, 365 * 24 * 3600).map(lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s))
amounts = st.integers(0, 100 * 60).map(lambda m: timedelta(minutes=m))
durations = st.builds(Duration, st.integers(1, 40), st.sampled_from(list(Unit)))


@PROPERTY
@given(calendars, instants, amounts)
def test_advance_without_pauses_is_add_open_or_elapsed(
    calendar: BusinessCalendar, start: datetime, amount: timedelta
) -> None:
    """With no pauses a business meter is add_open and an elapsed one is next_open plus the amount."""
    assert advance(calendar, start, amount, True) == calendar.add_open(start, amount)
    assert advance(calendar, start, amount, False) == calendar.next_open(start) + amount


@PROPERTY
@given(calendars, instants, durations)
def test_due_without_pauses_is_calendar_add(calendar: BusinessCalendar, start: datetime, duration: Duration) -> None:
    """With no pauses every unit falls due at calendar.add(start, duration)."""
    assert target_times(calendar, start, duration, levels=1).escalations == (calendar.add(start, duration),)


@PROPERTY
@given(calendars, instants, amounts, instants)
def test_a_closed_pause_does_not_move_a_business_meter(
    calendar: BusinessCalendar, start: datetime, amount: timedelta, at: datetime
) -> None:
    """A pause over closed time only (up to the next opening) leaves a business meter where it was."""
    pause = (at, calendar.next_open(at))
    assert advance(calendar, start, amount, True, [pause]) == advance(calendar, start, amount, True)


@PROPERTY
@given(calendars, instants, st.integers(1, 100 * 60), instants, st.integers(1, 3 * 24 * 60))
def test_a_pause_adds_exactly_the_open_time_inside_it(
    calendar: BusinessCalendar, start: datetime, minutes: int, pause_start: datetime, pause_minutes: int
) -> None:
    """A business meter paused once runs exactly its amount plus the open time inside the pause before it."""
    amount = timedelta(minutes=minutes)
    pause = (pause_start, pause_start + timedelta(minutes=pause_minutes))
    finish = advance(calendar, start, amount, True, [pause])
    assert finish is not None
    clock_start = calendar.next_open(start)
    paused = calendar.open_time(max(pause[0], clock_start), min(pause[1], finish))
    assert calendar.open_time(clock_start, finish) == amount + paused


@PROPERTY
@given(calendars, instants, amounts, instants)
def test_an_open_ended_pause_holds_only_targets_not_yet_reached(
    calendar: BusinessCalendar, start: datetime, amount: timedelta, at: datetime
) -> None:
    """Paused for good from `at`, a meter is reached when it would be by `at`, and is None otherwise."""
    unpaused = advance(calendar, start, amount, True)
    paused = advance(calendar, start, amount, True, [(at, None)])
    assert paused == (unpaused if unpaused <= at else None)


@PROPERTY
@given(
    calendars, instants, amounts, instants, st.lists(st.integers(0, 3 * 24 * 60), min_size=3, max_size=3), st.booleans()
)
def test_overlapping_pieces_of_a_pause_act_as_the_whole_pause(
    calendar: BusinessCalendar, start: datetime, amount: timedelta, at: datetime, cuts: list[int], business: bool
) -> None:
    """A pause given as overlapping and nested pieces, out of order, moves a meter exactly as the whole pause does."""
    low, middle, high = (at + timedelta(minutes=cut) for cut in sorted(cuts))
    pieces = [(middle, high), (low, middle + (high - middle) / 2), (low + (middle - low) / 3, middle)]
    whole = advance(calendar, start, amount, business, [(low, high)])
    assert advance(calendar, start, amount, business, pieces) == whole
