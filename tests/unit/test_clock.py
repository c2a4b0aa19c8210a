"""Clocks: frozen for --as-of, running from a chosen instant for tests of `inbox serve`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from inbox.clock import RunningClock
from tests.instants import INSTANTS, instant


def test_a_running_clock_starts_at_its_instant_and_keeps_pace() -> None:
    """It reads the start instant when made, then moves exactly as its elapsed-time source does."""
    seconds = [1000.0]
    clock = RunningClock(INSTANTS["friday-1659pt"], elapsed=lambda: seconds[0])
    assert clock.now() == datetime(2026, 12, 5, 0, 59, tzinfo=timezone.utc)
    seconds[0] += 61.5
    assert clock.now() == datetime(2026, 12, 5, 1, 0, 1, 500000, tzinfo=timezone.utc)
    assert clock.now().tzinfo == timezone.utc


def test_a_running_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="no offset"):
        RunningClock(datetime(2026, 12, 6, 23, 0))


def test_clock_at_takes_a_name_or_an_instant_with_an_offset() -> None:
    """`--clock-at` names one of the suite's instants or gives its own; a local time without offset is refused."""
    assert instant("new-years-eve") == INSTANTS["new-years-eve"]
    assert instant("2027-03-14T09:59:00Z") == datetime(2027, 3, 14, 9, 59, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="offset"):
        instant("2027-03-14T01:59")


def test_the_suites_instants_are_the_moments_the_issue_names() -> None:
    """A Sunday 23:00 UTC, a Friday 16:59 Pacific, the night of a DST change, New Year's Eve."""
    local = {name: at.astimezone(INSTANTS["friday-1659pt"].tzinfo) for name, at in INSTANTS.items()}
    assert INSTANTS["sunday-23utc"].astimezone(timezone.utc).strftime("%A %H:%M") == "Sunday 23:00"
    assert local["friday-1659pt"].strftime("%A %H:%M") == "Friday 16:59"
    dst = INSTANTS["dst-night"]
    assert dst.utcoffset() != (dst + timedelta(hours=2)).astimezone(dst.tzinfo).utcoffset()  # the offset changes
    assert local["new-years-eve"].strftime("%d %B") == "31 December"
