"""Business-time arithmetic on one calendar: which instants are open, and when a target falls due.

A `BusinessCalendar` is a time zone, weekly opening hours and an optional source of holidays.
It answers "is this instant open", "when does it next open", "how much open time lies between
two instants" and "when has this much open time passed", and adds a `Duration` the way the
contract reads it: business minutes and hours count open time only, business days end at the
same local time N open days later, plain units are elapsed time, and every clock that starts
outside open hours starts at the next opening.

It never reads a clock, never does I/O, never looks holidays up itself (the caller passes a
function) and never imports anything outside the standard library and `inbox.sla`. Every
datetime it takes must be aware; every datetime it returns is aware UTC.

Local times that a DST change makes odd are resolved the way PEP 495 does with fold=0:
a time that does not exist (the spring-forward gap) is shifted forward by the length of the
gap (02:30 on 8 March 2026 in Los Angeles is 03:30 PDT), and a time that happens twice (fall
back) means its first occurrence (01:30 on 1 November 2026 in Los Angeles is 01:30 PDT).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from inbox.sla.durations import Duration, Unit
from inbox.sla.hours import END_OF_DAY, OpeningHours

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)

SEARCH_LIMIT_DAYS = 3660
"""How many closed days in a row a walk crosses before it gives up: ten years without one open
minute is a misconfigured calendar (every day a holiday), not a long wait."""

# Each calendar remembers the open spans of the local dates it has walked; a scheduler touches
# a few years of dates at most, but a long-running process must not grow without bound.
_DAY_CACHE_LIMIT = 8192

Interval = tuple[datetime, datetime]
"""A half-open stretch [start, end) of open time, both ends aware UTC."""


def as_utc(at: datetime, name: str = "instant") -> datetime:
    """`at` as aware UTC; ValueError for a naive datetime, whose meaning would be a guess."""
    if not isinstance(at, datetime):
        raise TypeError(f"{name} must be a datetime, not {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not naive ({at.isoformat()})")
    return at.astimezone(UTC)


class BusinessCalendar:
    """Open hours in one time zone, less holidays; instants in and out are aware datetimes."""

    def __init__(
        self,
        zone: ZoneInfo,
        hours: OpeningHours,
        holidays: Callable[[int], Collection[date]] | None = None,
    ) -> None:
        self.zone = zone
        self.hours = hours
        self.holidays = holidays
        # Spans as (start, end) local times; END_OF_DAY becomes None, meaning "the next midnight".
        self._weekly = {
            day: tuple((start, None if end == END_OF_DAY else end) for start, end in hours.weekly.get(day, ()))
            for day in range(7)
        }
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        self._days: dict[date, tuple[Interval, ...]] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar({str(self.zone)!r}, always_open={self.always_open})"

    @property
    def always_open(self) -> bool:
        """True when business time is elapsed time: open around the clock, with no holidays."""
        return self.hours.always_open and self.holidays is None

    def is_open(self, at: datetime) -> bool:
        """Whether `at` lies inside an open span (spans are [start, end): the closing instant is closed)."""
        at = as_utc(at)
        if self.always_open:
            return True
        return any(start <= at < end for start, end in self._day(self._local_date(at)))

    def next_open(self, at: datetime) -> datetime:
        """`at` itself (in UTC) when it is open; else the start of the next open span."""
        at = as_utc(at)
        if self.always_open:
            return at
        start, _ = next(self._spans_from(at))
        return start

    def open_time(self, start: datetime, end: datetime) -> timedelta:
        """The open time inside [start, end); zero when end <= start."""
        start, end = as_utc(start, "start"), as_utc(end, "end")
        if end <= start:
            return ZERO
        if self.always_open:
            return end - start
        total = ZERO
        day, last = self._local_date(start), self._local_date(end)
        # Bounded by `end`, so no search limit: a long range of closed days is simply zero.
        while day <= last:
            for span_start, span_end in self._day(day):
                overlap = min(span_end, end) - max(span_start, start)
                if overlap > ZERO:
                    total += overlap
            day += ONE_DAY
        return total

    def add_open(self, start: datetime, amount: timedelta) -> datetime:
        """The instant at which `amount` of open time has passed since next_open(start).

        An amount used up exactly at a closing time gives that closing time (the earliest
        instant with that much open time behind it), not the next opening. A zero amount gives
        next_open(start). open_time(start, add_open(start, amount)) == amount.
        """
        start = as_utc(start, "start")
        if amount < ZERO:
            raise ValueError(f"an amount of open time cannot be negative ({amount})")
        try:
            if self.always_open:
                return start + amount
            remaining = amount
            for span_start, span_end in self._spans_from(start):
                length = span_end - span_start
                if remaining <= length:
                    return span_start + remaining
                remaining -= length
        except OverflowError:
            raise ValueError(f"{amount} of open time after {start.isoformat()} is beyond the year 9999") from None
        raise AssertionError("_spans_from ends only by raising")  # pragma: no cover

    def add(self, start: datetime, duration: Duration) -> datetime:
        """When `duration` has run from `start`, the clock starting at next_open(start).

        Plain units are wall-clock time, as RFC 5545 reads durations: minutes and hours are
        exact elapsed time ("24 hours" across a DST change is 24 hours), days and weeks are
        nominal ("1 day" ends at the same local time the next day, 23 or 25 hours later across
        a DST change). Business minutes and hours count open time (see add_open). Business
        days end at the same local time N open days later: a day is open when it is not a
        holiday and has some open time. Where that local time is not open on that day (its
        hours are shorter, or the time falls in a gap between spans), the target is the next
        opening after it.
        """
        clock_start = self.next_open(start)
        try:
            if not duration.is_business:
                return self.add_wall(clock_start, duration)
            if duration.unit is Unit.BUSINESS_DAYS:
                return self._add_business_days(clock_start, duration.amount)
        except OverflowError:
            raise ValueError(f"{duration} after {clock_start.isoformat()} is beyond the year 9999") from None
        return self.add_open(clock_start, business_amount(duration))

    def add_wall(self, start: datetime, duration: Duration) -> datetime:
        """`start` plus a wall-clock duration, open hours ignored: exact minutes and hours,
        nominal days and weeks (the same local time, in this calendar's zone)."""
        if duration.is_business:
            raise ValueError(f"{duration} is counted in open time: use add()")
        start = as_utc(start)
        if duration.unit in (Unit.MINUTES, Unit.HOURS):
            return start + duration.wall_clock()
        local = start.astimezone(self.zone)
        day = local.date() + duration.wall_clock() // ONE_DAY * ONE_DAY
        return self._instant(day, local.time().replace(fold=0))

    def _add_business_days(self, clock_start: datetime, days: int) -> datetime:
        local = clock_start.astimezone(self.zone)
        day = local.date()
        if self.always_open:
            day += timedelta(days=days)
        else:
            counted = closed_run = 0
            while counted < days:
                day += ONE_DAY
                if self._day(day):
                    counted, closed_run = counted + 1, 0
                else:
                    closed_run += 1
                    if closed_run > SEARCH_LIMIT_DAYS:
                        raise self._never_opens(clock_start)
        # The wall time without its fold: a start in the repeated hour maps to the first one.
        target = self._instant(day, local.time().replace(fold=0))
        return target if self.is_open(target) else self.next_open(target)

    # -- the day walk -------------------------------------------------------------------------

    def _spans_from(self, at: datetime) -> Iterator[Interval]:
        """The open spans that end after `at`, in order, the first cut to begin no earlier than `at`.

        Walks whole local dates: a day's spans all lie inside that date, so the spans of the
        dates before `at`'s own have all ended. Raises ValueError after SEARCH_LIMIT_DAYS closed
        days in a row, so a calendar that never opens cannot hang the scheduler.
        """
        day = self._local_date(at)
        closed_run = 0
        while True:
            found = False
            for start, end in self._day(day):
                if end > at:
                    found = True
                    yield max(start, at), end
            if found:
                closed_run = 0
            else:
                closed_run += 1
                if closed_run > SEARCH_LIMIT_DAYS:
                    raise self._never_opens(at)
            day += ONE_DAY

    def _never_opens(self, at: datetime) -> ValueError:
        return ValueError(
            f"the {self.zone} calendar has no open time in the {SEARCH_LIMIT_DAYS} days after "
            f"{at.isoformat()}: check its opening hours and holidays"
        )

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def _instant(self, day: date, at: time) -> datetime:
        # `at` always has fold=0, which resolves both DST oddities as the module docstring says:
        # zoneinfo reads a nonexistent time with the offset from before the gap, one gap later.
        return datetime.combine(day, at, tzinfo=self.zone).astimezone(UTC)

    def _day(self, day: date) -> tuple[Interval, ...]:
        """The open spans of one local date as UTC intervals, sorted and disjoint; () when closed."""
        spans = self._days.get(day)
        if spans is None:
            if len(self._days) >= _DAY_CACHE_LIMIT:
                self._days.clear()
            spans = self._days[day] = self._convert(day)
        return spans

    def _convert(self, day: date) -> tuple[Interval, ...]:
        local_spans = self._weekly[day.weekday()]
        if not local_spans or self._is_holiday(day):
            return ()
        floor = self._instant(day, time(0))
        ceiling = self._instant(day + ONE_DAY, time(0))
        if ceiling - floor == ONE_DAY:
            # No offset change this date (all but a couple of days a year): the spans are plain
            # offsets from midnight, which saves two zone conversions per span on a long walk.
            spans = (
                (floor + _since_midnight(start), ceiling if end is None else floor + _since_midnight(end))
                for start, end in local_spans
            )
            return tuple((start, end) for start, end in spans if end > start)
        # Clip every span to the date's own instants, and each to begin after the one before:
        # a shifted-forward gap time can otherwise run past a later span (and a zone that skips
        # a whole date, as Samoa did on 30 December 2011, would count the next date twice).
        intervals: list[Interval] = []
        for local_start, local_end in local_spans:
            start = max(self._instant(day, local_start), floor)
            end = ceiling if local_end is None else min(self._instant(day, local_end), ceiling)
            if end > start:
                intervals.append((start, end))
                floor = end
        return tuple(intervals)

    def _is_holiday(self, day: date) -> bool:
        if self.holidays is None:
            return False
        closed = self._holidays_by_year.get(day.year)
        if closed is None:
            closed = self._holidays_by_year[day.year] = frozenset(self.holidays(day.year))
        return day in closed


def _since_midnight(at: time) -> timedelta:
    return timedelta(hours=at.hour, minutes=at.minute, seconds=at.second, microseconds=at.microsecond)


def business_amount(duration: Duration) -> timedelta:
    """The open time that business minutes or hours stand for; business days have no fixed amount."""
    if duration.unit is Unit.BUSINESS_MINUTES:
        return timedelta(minutes=duration.amount)
    if duration.unit is Unit.BUSINESS_HOURS:
        return timedelta(hours=duration.amount)
    raise ValueError(f"{duration} has no fixed amount of open time; measure it on a calendar")
