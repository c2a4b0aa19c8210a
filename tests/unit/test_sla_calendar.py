"""Business-time arithmetic: open time, openings and due times on real calendars, to the minute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.sla.calendar import BusinessCalendar
from inbox.sla.durations import parse_duration
from inbox.sla.hours import END_OF_DAY, parse_opening_hours

LA = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def us_holidays(year: int) -> set[date]:
    return {date(year, 11, 26), date(year, 12, 25)}


def no_holidays(year: int) -> set[date]:
    return set()


PACIFIC = BusinessCalendar(LA, parse_opening_hours({"mon-fri": "08:00-17:00"}), us_holidays)
SECPOD = BusinessCalendar(
    KOLKATA, parse_opening_hours({"mon-fri": "00:00-24:00"}), lambda year: {date(year, 1, 26), date(year, 8, 14)}
)
ALWAYS = BusinessCalendar(UTC_ZONE, parse_opening_hours("24x7"))
LUNCH = BusinessCalendar(BERLIN, parse_opening_hours({"mon-fri": "09:00-12:00, 13:00-17:00"}))
# 24x7 with a holiday source that closes nothing: open all the time, but walked day by day.
LA_AROUND_THE_CLOCK = BusinessCalendar(LA, parse_opening_hours("24x7"), no_holidays)
LONDON_AROUND_THE_CLOCK = BusinessCalendar(LONDON, parse_opening_hours("24x7"), no_holidays)
# Open on Sundays, when the US clocks change, with spans that start and end inside the changes.
EVERY_DAY = BusinessCalendar(LA, parse_opening_hours({"mon-sun": "01:00-02:30, 03:00-05:00, 08:00-17:00, 22:00-24:00"}))


def la(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LA, fold=fold)


def add(calendar: BusinessCalendar, start: datetime, text: str) -> datetime:
    return calendar.add(start, parse_duration(text))


# -- openings -------------------------------------------------------------------------------


def test_open_inside_hours_and_closed_at_the_closing_minute() -> None:
    """An instant inside a span is open; the closing instant itself, weekends and holidays are not."""
    assert PACIFIC.is_open(la(2026, 3, 2, 8, 0))
    assert PACIFIC.is_open(la(2026, 3, 2, 16, 59))
    assert not PACIFIC.is_open(la(2026, 3, 2, 17, 0))
    assert not PACIFIC.is_open(la(2026, 3, 7, 12, 0))
    assert not PACIFIC.is_open(la(2026, 11, 26, 12, 0))


def test_next_open_is_the_instant_itself_when_open() -> None:
    """next_open of an open instant is that instant, returned as aware UTC."""
    result = PACIFIC.next_open(la(2026, 3, 2, 9, 30))
    assert result == datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_next_open_skips_nights_weekends_and_holidays() -> None:
    """After Wednesday's close before Thanksgiving the next opening is Friday 08:00."""
    assert PACIFIC.next_open(la(2026, 3, 2, 6, 0)) == la(2026, 3, 2, 8, 0)
    assert PACIFIC.next_open(la(2026, 3, 6, 17, 0)) == la(2026, 3, 9, 8, 0)
    assert PACIFIC.next_open(la(2026, 11, 25, 17, 30)) == la(2026, 11, 27, 8, 0)


def test_naive_datetimes_are_refused() -> None:
    """A naive datetime is a ValueError, not a guess at its zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        PACIFIC.next_open(datetime(2026, 3, 2, 9, 0))


def test_always_open_needs_24x7_and_no_holidays() -> None:
    """Only 24x7 without a holiday source takes the elapsed-time fast path."""
    assert ALWAYS.always_open
    assert not LA_AROUND_THE_CLOCK.always_open
    assert not PACIFIC.always_open


def test_a_calendar_that_never_opens_gives_up_with_a_reason() -> None:
    """A calendar whose every day is a holiday raises ValueError instead of looping for ever."""
    closed = BusinessCalendar(
        LA,
        parse_opening_hours({"mon-fri": "08:00-17:00"}),
        lambda year: {date(year, 1, 1) + timedelta(n) for n in range(366)},
    )
    with pytest.raises(ValueError, match="no open time in the 3660 days"):
        closed.next_open(la(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError, match="no open time"):
        add(closed, la(2026, 3, 2, 9, 0), "2 business days")


# -- open time ------------------------------------------------------------------------------


def test_open_time_counts_only_open_spans() -> None:
    """From Friday 15:00 to Monday 10:00 Pacific there are 4 open hours; a reversed range has none."""
    assert PACIFIC.open_time(la(2026, 3, 6, 15, 0), la(2026, 3, 9, 10, 0)) == timedelta(hours=4)
    assert PACIFIC.open_time(la(2026, 3, 9, 10, 0), la(2026, 3, 6, 15, 0)) == timedelta(0)


def test_a_whole_day_on_the_spring_forward_date_is_23_hours_of_open_time() -> None:
    """00:00-24:00 on Sunday 8 March 2026 in Los Angeles holds 23 h of open time, on 1 November 25 h."""
    assert LA_AROUND_THE_CLOCK.open_time(la(2026, 3, 8, 0, 0), la(2026, 3, 9, 0, 0)) == timedelta(hours=23)
    assert LA_AROUND_THE_CLOCK.open_time(la(2026, 11, 1, 0, 0), la(2026, 11, 2, 0, 0)) == timedelta(hours=25)


def test_adjacent_spans_across_midnight_are_continuous() -> None:
    """SecPod's Monday 00:00-24:00 and Tuesday 00:00-24:00 run on without a break at midnight."""
    monday_late = datetime(2026, 3, 2, 23, 0, tzinfo=KOLKATA)
    assert SECPOD.is_open(datetime(2026, 3, 3, 0, 0, tzinfo=KOLKATA))
    assert add(SECPOD, monday_late, "2 business hours") == datetime(2026, 3, 3, 1, 0, tzinfo=KOLKATA)


# -- business hours -------------------------------------------------------------------------


def test_arrival_inside_hours_counts_from_arrival() -> None:
    """Monday 09:00 + 4 business hours is Monday 13:00."""
    assert add(PACIFIC, la(2026, 3, 2, 9, 0), "4 business hours") == la(2026, 3, 2, 13, 0)


def test_arrival_before_opening_starts_at_the_opening() -> None:
    """Monday 06:15 + 4 business hours is Monday 12:00."""
    assert add(PACIFIC, la(2026, 3, 2, 6, 15), "4 business hours") == la(2026, 3, 2, 12, 0)


def test_arrival_after_closing_starts_next_morning() -> None:
    """Monday 19:00 + 4 business hours is Tuesday 12:00."""
    assert add(PACIFIC, la(2026, 3, 2, 19, 0), "4 business hours") == la(2026, 3, 3, 12, 0)


def test_friday_evening_runs_to_monday() -> None:
    """Friday 18:00 + 4 business hours is Monday 12:00."""
    assert add(PACIFIC, la(2026, 3, 13, 18, 0), "4 business hours") == la(2026, 3, 16, 12, 0)


def test_arrival_on_a_holiday_starts_the_next_open_day() -> None:
    """Christmas (Friday) 10:00 + 4 business hours is Monday 28 December 12:00."""
    assert add(PACIFIC, la(2026, 12, 25, 10, 0), "4 business hours") == la(2026, 12, 28, 12, 0)


def test_thanksgiving_is_skipped() -> None:
    """Wednesday 25 November 16:00 + 4 business hours is Friday 27 November 11:00."""
    assert add(PACIFIC, la(2026, 11, 25, 16, 0), "4 business hours") == la(2026, 11, 27, 11, 0)


def test_a_target_used_up_at_closing_falls_due_at_closing() -> None:
    """Monday 13:00 + 4 business hours is Monday 17:00, not Tuesday's opening."""
    assert add(PACIFIC, la(2026, 3, 2, 13, 0), "4 business hours") == la(2026, 3, 2, 17, 0)


def test_business_minutes_count_open_minutes() -> None:
    """Monday 16:45 + 30 business minutes is Tuesday 08:15."""
    assert add(PACIFIC, la(2026, 3, 2, 16, 45), "30 business minutes") == la(2026, 3, 3, 8, 15)


def test_lunch_gap_is_not_counted() -> None:
    """With 09:00-12:00 and 13:00-17:00, Monday 11:00 + 2 business hours is 14:00; from 12:30, 15:00."""
    assert add(LUNCH, datetime(2026, 3, 2, 11, 0, tzinfo=BERLIN), "2 business hours") == datetime(
        2026, 3, 2, 14, 0, tzinfo=BERLIN
    )
    assert add(LUNCH, datetime(2026, 3, 2, 12, 30, tzinfo=BERLIN), "2 business hours") == datetime(
        2026, 3, 2, 15, 0, tzinfo=BERLIN
    )
    assert LUNCH.next_open(datetime(2026, 3, 2, 12, 0, tzinfo=BERLIN)) == datetime(2026, 3, 2, 13, 0, tzinfo=BERLIN)


def test_secpod_friday_night_runs_to_monday_and_skips_a_holiday() -> None:
    """SecPod Friday 23 January 23:00 + 2 business hours skips the weekend and Monday's holiday: Tuesday 01:00."""
    start = datetime(2026, 1, 23, 23, 0, tzinfo=KOLKATA)
    assert add(SECPOD, start, "2 business hours") == datetime(2026, 1, 27, 1, 0, tzinfo=KOLKATA)


def test_business_hours_across_spring_forward() -> None:
    """Friday 6 March 16:00 PST + 4 business hours is Monday 9 March 11:00 PDT (18:00 UTC)."""
    assert add(PACIFIC, la(2026, 3, 6, 16, 0), "4 business hours") == datetime(2026, 3, 9, 18, 0, tzinfo=UTC)


def test_business_hours_across_fall_back() -> None:
    """Friday 30 October 16:00 PDT + 4 business hours is Monday 2 November 11:00 PST (19:00 UTC)."""
    assert add(PACIFIC, la(2026, 10, 30, 16, 0), "4 business hours") == datetime(2026, 11, 2, 19, 0, tzinfo=UTC)


def test_around_the_clock_business_hours_are_elapsed_hours_across_dst() -> None:
    """On a 24x7 Los Angeles calendar, Saturday 7 March 12:00 PST + 24 business hours is Sunday 13:00 PDT."""
    assert add(LA_AROUND_THE_CLOCK, la(2026, 3, 7, 12, 0), "24 business hours") == la(2026, 3, 8, 13, 0)


def test_sydney_easter_and_the_end_of_daylight_time() -> None:
    """Sydney Thursday 2 April 16:00 AEDT + 2 business hours skips Easter and DST's end: Tuesday 10:00 AEST."""
    sydney = BusinessCalendar(
        SYDNEY, parse_opening_hours({"mon-fri": "09:00-17:00"}), lambda y: {date(2026, 4, 3), date(2026, 4, 6)}
    )
    result = add(sydney, datetime(2026, 4, 2, 16, 0, tzinfo=SYDNEY), "2 business hours")
    assert result == datetime(2026, 4, 7, 10, 0, tzinfo=SYDNEY) == datetime(2026, 4, 7, 0, 0, tzinfo=UTC)


def test_spans_on_the_spring_forward_day_follow_the_new_offset() -> None:
    """Open every day, Sunday 8 March 06:00 PDT + 2 business hours is 10:00 PDT (17:00 UTC)."""
    assert add(EVERY_DAY, la(2026, 3, 8, 6, 0), "2 business hours") == datetime(2026, 3, 8, 17, 0, tzinfo=UTC)
    assert EVERY_DAY.open_time(la(2026, 3, 8, 8, 0), la(2026, 3, 8, 17, 0)) == timedelta(hours=9)


def test_a_span_ending_in_the_spring_gap_runs_on_to_the_next_span() -> None:
    """01:00-02:30 and 03:00-05:00 on 8 March: 02:30 reads as 03:30 PDT, so 01:00 PST to 05:00 PDT is all open (3 h)."""
    assert EVERY_DAY.open_time(la(2026, 3, 8, 0, 0), la(2026, 3, 8, 6, 0)) == timedelta(hours=3)
    assert EVERY_DAY.is_open(la(2026, 3, 8, 3, 15))


def test_a_span_over_the_repeated_hour_holds_it_twice() -> None:
    """01:00-02:30 on 1 November runs from 01:00 PDT to 02:30 PST: 2.5 h of open time."""
    assert EVERY_DAY.open_time(la(2026, 11, 1, 0, 0), la(2026, 11, 1, 2, 45)) == timedelta(hours=2, minutes=30)
    assert EVERY_DAY.is_open(la(2026, 11, 1, 1, 30, fold=1))


# -- business days --------------------------------------------------------------------------


def test_business_days_end_at_the_same_local_time() -> None:
    """Friday 15:30 + 2 business days is Tuesday 15:30."""
    assert add(PACIFIC, la(2026, 3, 13, 15, 30), "2 business days") == la(2026, 3, 17, 15, 30)


def test_business_days_from_a_weekend_start_at_mondays_opening() -> None:
    """Saturday 10:00 + 2 business days starts at Monday 08:00 and ends two open days later, Wednesday 08:00."""
    assert add(PACIFIC, la(2026, 3, 14, 10, 0), "2 business days") == la(2026, 3, 18, 8, 0)
    assert add(SECPOD, datetime(2026, 3, 14, 10, 0, tzinfo=KOLKATA), "2 business days") == datetime(
        2026, 3, 18, 0, 0, tzinfo=KOLKATA
    )


def test_business_days_skip_holidays() -> None:
    """Wednesday 25 November 10:00 + 1 business day skips Thanksgiving: Friday 10:00."""
    assert add(PACIFIC, la(2026, 11, 25, 10, 0), "1 business day") == la(2026, 11, 27, 10, 0)


def test_business_days_across_spring_forward_keep_the_local_time() -> None:
    """Friday 6 March 10:00 PST + 1 business day is Monday 9 March 10:00 PDT (17:00 UTC)."""
    assert add(PACIFIC, la(2026, 3, 6, 10, 0), "1 business day") == datetime(2026, 3, 9, 17, 0, tzinfo=UTC)


def test_business_days_on_a_24x7_calendar_keep_the_local_time_across_dst() -> None:
    """24x7 Los Angeles: Saturday 7 March 12:00 PST + 1 business day is Sunday 12:00 PDT, 23 hours later."""
    result = add(LA_AROUND_THE_CLOCK, la(2026, 3, 7, 12, 0), "1 business day")
    assert result == datetime(2026, 3, 8, 19, 0, tzinfo=UTC)
    assert result - la(2026, 3, 7, 12, 0) == timedelta(hours=23)


def test_business_days_landing_in_the_spring_gap_shift_forward_by_the_gap() -> None:
    """London: Saturday 28 March 01:30 GMT + 1 business day lands on nonexistent 01:30, read as 02:30 BST."""
    result = add(LONDON_AROUND_THE_CLOCK, datetime(2026, 3, 28, 1, 30, tzinfo=LONDON), "1 business day")
    assert result == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert result.astimezone(LONDON).strftime("%H:%M %Z") == "02:30 BST"


def test_business_days_landing_in_the_repeated_hour_take_the_first_one() -> None:
    """Saturday 31 October 01:30 PDT + 1 business day is the first 01:30 of 1 November (PDT, 08:30 UTC)."""
    result = add(LA_AROUND_THE_CLOCK, la(2026, 10, 31, 1, 30), "1 business day")
    assert result == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    assert add(LONDON_AROUND_THE_CLOCK, datetime(2026, 10, 24, 1, 30, tzinfo=LONDON), "1 business day") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_business_days_from_the_second_repeated_hour_keep_its_wall_time() -> None:
    """The second 01:30 of 1 November (PST) + 1 business day is Monday 01:30 PST (09:30 UTC)."""
    assert add(LA_AROUND_THE_CLOCK, la(2026, 11, 1, 1, 30, fold=1), "1 business day") == datetime(
        2026, 11, 2, 9, 30, tzinfo=UTC
    )


def test_business_days_whose_time_is_closed_that_day_run_to_the_next_opening() -> None:
    """With Friday open 09:00-12:00 only, Thursday 15:00 + 1 business day is Monday 09:00."""
    short_friday = BusinessCalendar(UTC_ZONE, parse_opening_hours({"mon-thu": "09:00-17:00", "fri": "09:00-12:00"}))
    assert add(short_friday, datetime(2026, 3, 5, 15, 0, tzinfo=UTC), "1 business day") == datetime(
        2026, 3, 9, 9, 0, tzinfo=UTC
    )


def test_thirty_business_days() -> None:
    """Monday 2 March 09:00 + 30 business days is Monday 13 April 09:00 PDT."""
    assert add(PACIFIC, la(2026, 3, 2, 9, 0), "30 business days") == la(2026, 4, 13, 9, 0)


# -- wall-clock units -----------------------------------------------------------------------


def test_wall_clock_hours_are_elapsed_time_across_spring_forward() -> None:
    """24x7 Los Angeles: Saturday 7 March 12:00 PST + 24 hours is Sunday 8 March 13:00 PDT."""
    assert add(LA_AROUND_THE_CLOCK, la(2026, 3, 7, 12, 0), "24 hours") == la(2026, 3, 8, 13, 0)
    assert add(ALWAYS, la(2026, 3, 7, 12, 0), "24 hours") == la(2026, 3, 8, 13, 0)


def test_wall_clock_days_across_fall_back_keep_the_local_time() -> None:
    """Pacific Friday 30 October 10:00 PDT + 7 days is Friday 6 November 10:00 PST: nominal days (169 hours)."""
    assert add(PACIFIC, la(2026, 10, 30, 10, 0), "7 days") == la(2026, 11, 6, 10, 0)
    assert add(PACIFIC, la(2026, 10, 30, 10, 0), "168 hours") == la(2026, 11, 6, 9, 0)  # exact hours


def test_wall_clock_day_onto_a_missing_local_time_moves_past_the_gap() -> None:
    """Saturday 7 March 02:30 PST + 1 day lands in the spring-forward gap: it becomes 03:30 PDT."""
    always = BusinessCalendar(ZoneInfo("America/Los_Angeles"), parse_opening_hours("24x7"))
    assert always.add_wall(la(2026, 3, 7, 2, 30), parse_duration("1 day")) == la(2026, 3, 8, 3, 30)


def test_wall_clock_targets_also_start_at_the_next_opening() -> None:
    """Pacific Saturday 7 March 12:00 + 24 hours starts at Monday 08:00 PDT: Tuesday 08:00 PDT."""
    assert add(PACIFIC, la(2026, 3, 7, 12, 0), "24 hours") == la(2026, 3, 10, 8, 0)


def test_long_targets_walk_days_not_minutes() -> None:
    """1000 business hours from Monday 2 March 09:00 Pacific is Tuesday 4 August 10:00 PDT."""
    assert add(PACIFIC, la(2026, 3, 2, 9, 0), "1000 business hours") == la(2026, 8, 4, 10, 0)


def test_add_open_of_zero_is_next_open_and_negative_is_refused() -> None:
    """add_open with no time is next_open; a negative amount is a ValueError."""
    assert PACIFIC.add_open(la(2026, 3, 7, 12, 0), timedelta(0)) == la(2026, 3, 9, 8, 0)
    assert PACIFIC.add_open(la(2026, 3, 9, 9, 0), timedelta(0)) == la(2026, 3, 9, 9, 0)
    with pytest.raises(ValueError, match="negative"):
        PACIFIC.add_open(la(2026, 3, 9, 9, 0), timedelta(minutes=-1))


# -- properties -----------------------------------------------------------------------------

CALENDARS = [PACIFIC, SECPOD, LUNCH, LA_AROUND_THE_CLOCK, ALWAYS, EVERY_DAY]
PROPERTY = settings(max_examples=150, deadline=None)

calendars = st.sampled_from(CALENDARS)
# Instants across 2026 (both DST changes and the holidays) to the second.
instants = st.integers(0, 365 * 24 * 3600).map(lambda s: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=s))
amounts = st.integers(0, 200 * 60).map(lambda m: timedelta(minutes=m))
positive_amounts = st.integers(1, 200 * 60).map(lambda m: timedelta(minutes=m))


@PROPERTY
@given(calendars, instants, positive_amounts)
def test_open_time_undoes_add_open(calendar: BusinessCalendar, start: datetime, amount: timedelta) -> None:
    """open_time(s, add_open(s, a)) == a for any start and positive amount."""
    assert calendar.open_time(start, calendar.add_open(start, amount)) == amount


@PROPERTY
@given(calendars, instants, instants, amounts, amounts)
def test_add_open_is_monotone(
    calendar: BusinessCalendar, s1: datetime, s2: datetime, a1: timedelta, a2: timedelta
) -> None:
    """A later start or a larger amount never gives an earlier instant."""
    s1, s2 = sorted((s1, s2))
    a1, a2 = sorted((a1, a2))
    assert calendar.add_open(s1, a1) <= calendar.add_open(s1, a2)
    assert calendar.add_open(s1, a1) <= calendar.add_open(s2, a1)


@PROPERTY
@given(calendars, instants, amounts, positive_amounts)
def test_add_open_is_additive(calendar: BusinessCalendar, start: datetime, a: timedelta, b: timedelta) -> None:
    """Adding a then b to an open start equals adding a + b."""
    start = calendar.next_open(start)
    assert calendar.add_open(calendar.add_open(start, a), b) == calendar.add_open(start, a + b)


@PROPERTY
@given(calendars, instants, instants, instants)
def test_open_time_is_additive(calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime) -> None:
    """open_time(a, c) == open_time(a, b) + open_time(b, c) for a <= b <= c."""
    a, b, c = sorted((a, b, c))
    assert calendar.open_time(a, c) == calendar.open_time(a, b) + calendar.open_time(b, c)


@PROPERTY
@given(st.sampled_from([ALWAYS, LA_AROUND_THE_CLOCK]), instants, instants, amounts)
def test_around_the_clock_is_elapsed_arithmetic(
    calendar: BusinessCalendar, a: datetime, b: datetime, amount: timedelta
) -> None:
    """On a 24x7 calendar without holidays, open time is elapsed time, walked or not."""
    assert calendar.is_open(a)
    assert calendar.next_open(a) == a
    assert calendar.open_time(a, b) == max(b - a, timedelta(0))
    assert calendar.add_open(a, amount) == a + amount


@PROPERTY
@given(calendars, instants)
def test_next_open_is_open_and_nothing_before_it_is(calendar: BusinessCalendar, at: datetime) -> None:
    """next_open is an open instant, and no open time lies between `at` and it."""
    opening = calendar.next_open(at)
    assert calendar.is_open(opening)
    assert calendar.open_time(at, opening) == timedelta(0)


def is_open_by_the_book(calendar: BusinessCalendar, at: datetime) -> bool:
    """A reference reading of the hours, minute by minute, sharing no code with the calendar."""
    local = at.astimezone(calendar.zone)
    if calendar.holidays is not None and local.date() in calendar.holidays(local.year):
        return False
    return any(
        start <= local.time() and (end == END_OF_DAY or local.time() < end)
        for start, end in calendar.hours.weekly[local.weekday()]
    )


# Half the examples start within two days of a 2026 DST change in Los Angeles or London.
near_dst = st.tuples(
    st.sampled_from([la(2026, 3, 7, 0, 0), la(2026, 10, 31, 0, 0), datetime(2026, 3, 28, tzinfo=LONDON)]),
    st.integers(0, 2 * 24 * 60),
).map(lambda pair: pair[0].astimezone(UTC) + timedelta(minutes=pair[1]))
minute_instants = st.one_of(near_dst, instants.map(lambda at: at.replace(second=0)))


@settings(max_examples=60, deadline=None)
@given(calendars, minute_instants, st.integers(0, 2 * 24 * 60))
def test_open_time_matches_a_minute_by_minute_count(calendar: BusinessCalendar, start: datetime, minutes: int) -> None:
    """Open time over up to two days equals the open minutes counted one by one from the hours."""
    steps = [start + timedelta(minutes=n) for n in range(minutes)]
    assert [calendar.is_open(at) for at in steps] == [is_open_by_the_book(calendar, at) for at in steps]
    assert calendar.open_time(start, start + timedelta(minutes=minutes)) == timedelta(
        minutes=sum(map(calendar.is_open, steps))
    )
