"""The opening-hours grammar of calendars: "24x7", or day names and ranges mapped to "HH:MM-HH:MM" spans.

Parses the config value into `OpeningHours` (the open spans of each weekday, in local time)
and prints it back in the form it parses. It never knows about time zones or holidays, never
counts business time, and never imports anything outside the standard library and `inbox.sla`:
the config models adapt its `OpeningHoursError` to their own error reporting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

END_OF_DAY = time.max
"""How "24:00" is stored as the end of an opening span: treat it as the following midnight."""

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SPAN = re.compile(r"(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)")

Span = tuple[time, time]


@dataclass(frozen=True)
class OpeningHours:
    """Open spans per weekday (0=Monday; every day present, () when closed), in local time.

    An end of END_OF_DAY means 24:00. `always_open` is True for "24x7"; the calendar's own
    `always_open` also needs it to have no holidays.
    """

    always_open: bool
    weekly: dict[int, tuple[Span, ...]]


class OpeningHoursError(ValueError):
    """Opening hours that cannot be used. `key` is the day key at fault, None for the whole value."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def parse_opening_hours(value: object) -> OpeningHours:
    """Opening hours from "24x7" or a mapping such as {"mon-fri": "08:00-17:00"}; else OpeningHoursError."""
    if isinstance(value, str) and value.strip().lower() in ("24x7", "24/7"):
        return OpeningHours(True, {day: ((time(0), END_OF_DAY),) for day in range(7)})
    if not isinstance(value, dict):
        raise OpeningHoursError('must be "24x7" or a mapping of days to hours, such as {mon-fri: "08:00-17:00"}')
    weekly: dict[int, list[Span]] = {day: [] for day in range(7)}
    for key, text in value.items():
        key = str(key)
        for day in _weekdays(key):
            for span in _spans(key, text):
                clash = next((s for s in weekly[day] if s[0] < span[1] and span[0] < s[1]), None)
                if clash:
                    raise OpeningHoursError(f"{_show(span)} overlaps {_show(clash)} on {_FULL_DAYS[day].title()}", key)
                weekly[day].append(span)
    if not any(weekly.values()):
        # Business time would never pass, and every business clock would wait forever.
        raise OpeningHoursError("opens no hours at all")
    return OpeningHours(False, {day: tuple(sorted(spans)) for day, spans in weekly.items()})


def format_opening_hours(hours: OpeningHours) -> str | dict[str, str]:
    """The config value that parses back to `hours`: "24x7", or a mapping of days to spans."""
    if hours.always_open:
        return "24x7"
    return {_DAYS[day]: ", ".join(map(_show, spans)) for day, spans in hours.weekly.items() if spans}


def _weekday(word: str, key: str) -> int:
    word = word.strip().lower()
    for names in (_DAYS, _FULL_DAYS):
        if word in names:
            return names.index(word)
    raise OpeningHoursError(f'"{word}" is not a day (use mon, tue, wed, thu, fri, sat, sun)', key)


def _weekdays(key: str) -> list[int]:
    days: list[int] = []
    for part in key.split(","):
        first, dash, last = part.partition("-")
        start = _weekday(first, key)
        stop = _weekday(last, key) if dash else start
        # Ranges may wrap the weekend ("sun-thu"), as they are written in much of the world.
        days += [(start + offset) % 7 for offset in range((stop - start) % 7 + 1)]
    return list(dict.fromkeys(days))


def _clock(hour: str, minute: str, is_end: bool) -> time | None:
    if int(minute) > 59 or int(hour) > 24 or (int(hour) == 24 and (int(minute) or not is_end)):
        return None
    return END_OF_DAY if int(hour) == 24 else time(int(hour), int(minute))


def _spans(key: str, text: object) -> list[Span]:
    if not isinstance(text, str):
        raise OpeningHoursError('must be text such as "08:00-17:00"', key)
    spans = []
    for part in text.split(","):
        match = _SPAN.fullmatch(part.strip())
        start = _clock(match[1], match[2], is_end=False) if match else None
        end = _clock(match[3], match[4], is_end=True) if match else None
        if start is None or end is None:
            raise OpeningHoursError(f'"{part.strip()}" is not a range of times such as "08:00-17:00"', key)
        if end <= start:
            raise OpeningHoursError(f'"{part.strip()}" ends before it starts', key)
        spans.append((start, end))
    return spans


def _show(span: Span) -> str:
    end = "24:00" if span[1] == END_OF_DAY else span[1].strftime("%H:%M")
    return f"{span[0].strftime('%H:%M')}-{end}"
