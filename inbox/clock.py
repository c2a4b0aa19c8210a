"""Where the time comes from. Everything asks a Clock; tests hand in a frozen one.

Never returns a naive datetime: every instant in this service is aware UTC.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol

# Tests only: a process started with this variable runs on a RunningClock from the instant it
# holds, so a test of `inbox serve` gives the same due times on any day it runs. Production never
# sets it; the CLI logs a warning whenever it is set.
TEST_CLOCK_ENV = "INBOX_TEST_CLOCK"


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


class RunningClock:
    """A clock that reads `start` when made and then runs at the pace of the machine's monotonic
    clock: the time of a subprocess that a test started at a chosen instant (TEST_CLOCK_ENV)."""

    def __init__(self, start: datetime, elapsed: Callable[[], float] = time.monotonic) -> None:
        self._start, self._elapsed = as_utc(start), elapsed
        self._origin = elapsed()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed() - self._origin)


def as_utc(at: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused rather than guessed."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} has no offset")
    return at.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset (a trailing Z is accepted), as aware UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return as_utc(value)
