"""Where the time comes from. Everything asks a Clock; tests hand in a frozen one.

Never returns a naive datetime: every instant in this service is aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that reads one instant until moved: for `--as-of`, `--received-at` and tests."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = as_utc(at)


def as_utc(at: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused rather than guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} has no offset")
    return at.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset (a trailing Z is accepted), as aware UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return as_utc(value)
