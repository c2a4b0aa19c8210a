"""The duration grammar of SLA targets: "4 business hours", "2 business days", "1 week", "PT4H".

Parses text into a `Duration` (a whole amount of one unit) and prints it back in canonical
form. It never counts business time: which minutes are open is the calendar's job, so a
business duration here is only an amount and a unit. Standard library only, no I/O.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta


class Unit(enum.Enum):
    """What a duration's amount counts. Values are the canonical plural words."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    BUSINESS_MINUTES = "business minutes"
    BUSINESS_HOURS = "business hours"
    BUSINESS_DAYS = "business days"


_WALL_CLOCK_MINUTES = {Unit.MINUTES: 1, Unit.HOURS: 60, Unit.DAYS: 24 * 60, Unit.WEEKS: 7 * 24 * 60}
_BUSINESS = {Unit.BUSINESS_MINUTES, Unit.BUSINESS_HOURS, Unit.BUSINESS_DAYS}

# Far beyond any real support contract, but small enough that timedelta cannot overflow.
_MAX_AMOUNT = 1_000_000

_SPELLINGS = {
    Unit.MINUTES: ("minute", "minutes", "min", "mins", "m"),
    Unit.HOURS: ("hour", "hours", "hr", "hrs", "h"),
    Unit.DAYS: ("day", "days", "d"),
    Unit.WEEKS: ("week", "weeks", "wk", "wks", "w"),
}
_WORDS = {spelling: unit for unit, spellings in _SPELLINGS.items() for spelling in spellings}
_TO_BUSINESS = {Unit.MINUTES: Unit.BUSINESS_MINUTES, Unit.HOURS: Unit.BUSINESS_HOURS, Unit.DAYS: Unit.BUSINESS_DAYS}

_PLAIN = re.compile(r"(?P<amount>[-+]?\d+)\s*(?:(?P<business>business)\s+)?(?P<word>[a-z]+)")
_FRACTION = re.compile(r"[-+]?\d*[.,]\d+\s*(business\s+)?[a-z]+")
# ISO 8601 (4.4.3.2) with only week, day and time parts; years and months have no fixed length.
_ISO = re.compile(r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?)?")
_ISO_CALENDAR = re.compile(r"P(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T.*)?")


@dataclass(frozen=True)
class Duration:
    """A whole, positive amount of one unit, e.g. Duration(4, Unit.BUSINESS_HOURS)."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        # Fail at construction: a zero or negative target would make every ticket breach at once.
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"a duration's amount must be a whole number, not {self.amount!r}")
        if not 0 < self.amount <= _MAX_AMOUNT:
            raise ValueError(f"a duration's amount must be between 1 and {_MAX_AMOUNT}, not {self.amount}")
        if not isinstance(self.unit, Unit):
            raise ValueError(f"a duration's unit must be a Unit, not {self.unit!r}")

    @property
    def is_business(self) -> bool:
        """True when the amount counts open time on a calendar, not elapsed time."""
        return self.unit in _BUSINESS

    def wall_clock(self) -> timedelta:
        """The elapsed time this duration stands for; business durations need a calendar."""
        if self.is_business:
            raise ValueError(f"{self} is counted on a business calendar, not the wall clock")
        return timedelta(minutes=self.amount * _WALL_CLOCK_MINUTES[self.unit])

    def __str__(self) -> str:
        words = self.unit.value
        return f"{self.amount} {words[:-1] if self.amount == 1 else words}"


def parse_duration(text: str) -> Duration:
    """Parse "30 minutes", "4h", "2 business days", "1 week" or ISO 8601 "PT4H" into a Duration.

    Case and spacing do not matter. Raises ValueError whose message starts with
    '"<text>" is not a duration' and, where it helps, says why.
    """
    if not isinstance(text, str):
        raise ValueError(f'"{text}" is not a duration')
    squeezed = " ".join(text.split()).lower()
    if squeezed.startswith("p"):
        return _parse_iso(text, squeezed.upper())
    if squeezed.isdigit():
        raise ValueError(f'"{text}" is not a duration: give a unit, such as "{squeezed} minutes"')
    if _FRACTION.fullmatch(squeezed):
        raise ValueError(f'"{text}" is not a duration: the amount must be a whole number')
    match = _PLAIN.fullmatch(squeezed)
    if match is None:
        raise ValueError(f'"{text}" is not a duration')
    word = match["word"]
    if word.rstrip("s") in ("month", "year", "yr", "mo"):
        raise ValueError(f'"{text}" is not a duration: months and years vary in length; use days or weeks')
    unit = _WORDS.get(word)
    if unit is None:
        raise ValueError(f'"{text}" is not a duration')
    if match["business"]:
        if unit not in _TO_BUSINESS:
            raise ValueError(f'"{text}" is not a duration: count business time in business days')
        unit = _TO_BUSINESS[unit]
    return _build(text, int(match["amount"]), unit)


def _parse_iso(text: str, upper: str) -> Duration:
    match = _ISO.fullmatch(upper)
    if match is None or not any(match.groupdict().values()):
        if _ISO_CALENDAR.fullmatch(upper) and re.search(r"\d[YM]", upper.split("T")[0]):
            raise ValueError(f'"{text}" is not a duration: months and years vary in length; use days or weeks')
        raise ValueError(f'"{text}" is not a duration')
    parts = {Unit.WEEKS: match["w"], Unit.DAYS: match["d"], Unit.HOURS: match["h"], Unit.MINUTES: match["m"]}
    present = [unit for unit, digits in parts.items() if digits is not None]
    # A mixed value such as P1DT2H becomes one amount of its finest unit (26 hours), so
    # that printing it back gives a single canonical phrase.
    finest = present[-1]
    total = sum(int(parts[unit] or 0) * _WALL_CLOCK_MINUTES[unit] for unit in present)
    return _build(text, total // _WALL_CLOCK_MINUTES[finest], finest)


def _build(text: str, amount: int, unit: Unit) -> Duration:
    if amount <= 0:
        raise ValueError(f'"{text}" is not a duration: the amount must be a positive whole number')
    if amount > _MAX_AMOUNT:
        raise ValueError(f'"{text}" is not a duration: the amount is too large (at most {_MAX_AMOUNT})')
    return Duration(amount, unit)
