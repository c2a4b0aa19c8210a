"""SLA target times: when a target falls due, warns and escalates, given the pauses of its clock.

A target is a `Duration` on a `BusinessCalendar`, started at an instant. `measure` turns it into
a `Meter` (an amount of open or elapsed time), `advance` runs a meter past a list of pauses, and
`target_times` puts both together into the due time, the warning time and the escalation levels.

It never reads a clock, never does I/O and never decides when a clock pauses (the caller passes
the pauses it has recorded); it imports only the standard library and `inbox.sla`. Every
datetime it takes must be aware; every datetime it returns is aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from inbox.sla.calendar import ZERO, BusinessCalendar, as_utc, business_amount
from inbox.sla.durations import Duration, Unit

Pause = tuple[datetime, datetime | None]
"""A stretch [start, end) in which a clock does not run; an end of None means "still paused"."""


@dataclass(frozen=True)
class Meter:
    """How long a target is, in the measure it is counted in."""

    amount: timedelta
    business: bool
    """True: counted in open time of the calendar; False: in elapsed time."""


@dataclass(frozen=True)
class TargetTimes:
    """The instants of one target, aware UTC; None where a pause holds the clock for good."""

    due: datetime | None
    warn: datetime | None
    """When the warning share of the target has run; None when no share was asked for, or paused."""
    escalations: tuple[datetime, ...]
    """Level k (1-based) at index k-1, when k times the target has run: level 1 is the due time.
    Levels that an open-ended pause holds back are left off, so the tuple may be short."""


def measure(calendar: BusinessCalendar, start: datetime, duration: Duration) -> Meter:
    """The amount of time `duration` stands for, for a clock started at `start`.

    Business days have no fixed length (holidays, DST, shorter days), so they are measured on
    the calendar: the open time from the clock's start to calendar.add(start, duration).
    """
    if not duration.is_business:
        # Nominal days and weeks vary in elapsed length across a DST change: measure them.
        return Meter(calendar.add(start, duration) - calendar.next_open(start), business=False)
    if duration.unit is Unit.BUSINESS_DAYS:
        return Meter(calendar.open_time(calendar.next_open(start), calendar.add(start, duration)), business=True)
    return Meter(business_amount(duration), business=True)


def advance(
    calendar: BusinessCalendar,
    start: datetime,
    meter_amount: timedelta,
    business: bool,
    pauses: Sequence[Pause] = (),
) -> datetime | None:
    """The instant at which `meter_amount` of time has run since next_open(start), outside pauses.

    Business meters count open time, others elapsed time. After a pause the count resumes at its
    end (for a business meter, at the next opening after it). None when an open-ended pause
    begins before the amount is used up: the clock will not get there unless the pause ends.
    An amount used up exactly when a pause begins is reached. Pauses may be unsorted, overlap,
    or begin before the start.
    """
    if meter_amount < ZERO:
        raise ValueError(f"a clock cannot run a negative amount ({meter_amount})")
    # Elapsed meters also begin at an opening: the contract starts every clock that way.
    cursor = calendar.next_open(start)
    remaining = meter_amount
    for pause_start, pause_end in _normalise(pauses):
        if pause_end is not None and pause_end <= cursor:
            continue  # over before the clock started, or inside an earlier pause that overlapped it
        if pause_start >= cursor:
            # Finishing before the pause needs no counting of what lies before it; ">=" so that
            # a zero amount is reached by a pause that begins at the very start of the clock.
            finish = _run(calendar, cursor, remaining, business)
            if finish <= pause_start:
                return finish
            remaining -= calendar.open_time(cursor, pause_start) if business else pause_start - cursor
        if pause_end is None:
            return None
        cursor = pause_end
    return _run(calendar, cursor, remaining, business)


def target_times(
    calendar: BusinessCalendar,
    start: datetime,
    duration: Duration,
    pauses: Sequence[Pause] = (),
    *,
    warn_share: float | None = None,
    levels: int = 0,
) -> TargetTimes:
    """The due, warning and escalation instants of `duration` started at `start`, given `pauses`.

    The warning falls when `warn_share` (0 to 1) of the target has run, rounded to a whole
    second; escalation level k when k times the target has run. A business-days target that
    runs out exactly at a closing time falls due at the next opening instead, so that with no
    pauses its due time is calendar.add(start, duration): "the same local time N open days
    later" (a clock started at Monday's 08:00 opening is due at 08:00, not at 17:00 the day before).
    """
    if warn_share is not None and not 0 <= warn_share <= 1:
        raise ValueError(f"a warning share must be between 0 and 1, not {warn_share}")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        raise ValueError(f"escalation levels must be a whole number of 0 or more, not {levels!r}")
    meter = measure(calendar, start, duration)

    def due_after(amount: timedelta) -> datetime | None:
        instant = advance(calendar, start, amount, meter.business, pauses)
        if instant is not None and duration.unit is Unit.BUSINESS_DAYS:
            return calendar.next_open(instant)
        return instant

    due = due_after(meter.amount)
    warn = None
    if warn_share is not None:
        share = timedelta(seconds=round((meter.amount * warn_share).total_seconds()))
        warn = advance(calendar, start, share, meter.business, pauses)
    escalations: list[datetime] = []
    for level in range(1, levels + 1):
        instant = due if level == 1 else due_after(meter.amount * level)
        if instant is None:
            break
        escalations.append(instant)
    return TargetTimes(due=due, warn=warn, escalations=tuple(escalations))


def _run(calendar: BusinessCalendar, cursor: datetime, amount: timedelta, business: bool) -> datetime:
    return calendar.add_open(cursor, amount) if business else cursor + amount


def _normalise(pauses: Sequence[Pause]) -> list[Pause]:
    """Pauses in UTC, sorted by start, empty ones dropped.

    Overlaps need no merging: `advance` skips whatever part of a pause its cursor has passed.
    """
    cleaned: list[Pause] = []
    for pause_start, pause_end in pauses:
        pause_start = as_utc(pause_start, "a pause's start")
        if pause_end is not None:
            pause_end = as_utc(pause_end, "a pause's end")
            if pause_end < pause_start:
                raise ValueError(f"a pause ends ({pause_end.isoformat()}) before it starts ({pause_start.isoformat()})")
            if pause_end == pause_start:
                continue
        cleaned.append((pause_start, pause_end))
    return sorted(cleaned, key=lambda pause: pause[0])
