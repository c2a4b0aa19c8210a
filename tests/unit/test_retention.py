"""Grandfather-father-son retention of backups: which backup instants are kept, decided without I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.store.retention import Decision, Policy, decide

UTC = timezone.utc
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 2, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def daily(first: datetime, last: datetime) -> list[datetime]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_a_backup_every_day_for_seven_years_keeps_30_daily_2_more_monthly_and_6_yearly() -> None:
    """Daily at 02:00 from 2019-06-15 to 2026-06-15: 30 days, the first of April and May (June's is a daily
    already) and the first of each year 2021-2026 (none of them in those windows): 38 kept of 2558."""
    stamps = daily(at(2019, 6, 15), at(2026, 6, 15))
    decision = decide(stamps, NOW)
    expected = daily(at(2026, 5, 17), at(2026, 6, 15)) + [at(2026, 4, 1), at(2026, 5, 1)] + [
        at(year, 1, 1) for year in range(2021, 2027)]
    assert decision.keep == sorted(expected) and len(decision.keep) == 30 + 2 + 6
    assert len(decision.delete) == len(stamps) - 38


def test_the_newest_backup_is_kept_however_old() -> None:
    """A cron job that stopped ten years ago still leaves its last backup, and only that one."""
    stamps = daily(at(2015, 1, 1), at(2016, 1, 31))
    assert decide(stamps, NOW).keep == [at(2016, 1, 31)]
    assert decide(stamps, NOW, Policy(0, 0, 0)).keep == [at(2016, 1, 31)]


def test_a_just_made_backup_is_kept() -> None:
    """The backup made at `now` is the newest of today: kept even with every rule off."""
    stamps = daily(at(2026, 1, 1), at(2026, 6, 14)) + [NOW]
    assert NOW in decide(stamps, NOW).keep
    assert decide(stamps, NOW, Policy(0, 0, 0)).keep == [NOW]


def test_a_backup_exactly_30_days_old_is_no_longer_a_daily() -> None:
    """The daily window is today and the 29 calendar days before: 30 days ago is past it, 29 days is not."""
    policy = Policy(keep_daily_days=30, keep_monthly_months=0, keep_yearly_years=0)
    exactly, inside = NOW - timedelta(days=30), NOW - timedelta(days=29)
    assert decide([exactly, inside, NOW], NOW, policy) == Decision(keep=[inside, NOW], delete=[exactly])
    # Calendar days, not ages: 23:59 on the 30th day back (29.5 days old) is out, 00:01 on the 29th is in.
    late, early = at(2026, 5, 16, 23, 59), at(2026, 5, 17, 0, 1)
    assert decide([late, early, NOW], NOW, policy).delete == [late]


def test_the_newest_of_a_day_is_its_daily_backup() -> None:
    """Several backups in one day keep the last one (unless it was the first of the month)."""
    morning, noon, evening = at(2026, 6, 10, 2), at(2026, 6, 10, 12), at(2026, 6, 10, 20)
    assert decide([morning, noon, evening, NOW], NOW, Policy(30, 0, 0)).delete == [morning, noon]


def test_monthly_and_yearly_keep_the_first_backup_of_their_period() -> None:
    """The first of a month is kept three calendar months (this one included), the first of a year six."""
    stamps = [at(2026, 3, 1), at(2026, 3, 31), at(2026, 1, 1), at(2026, 1, 20), at(2020, 1, 1), at(2021, 1, 1), NOW]
    decision = decide(stamps, NOW)
    assert at(2026, 3, 1) not in decision.keep  # March is past the monthly window (April, May, June)
    assert decide(stamps, at(2026, 5, 31)).keep == [at(2021, 1, 1), at(2026, 1, 1), at(2026, 3, 1), NOW]
    assert decision.keep == [at(2021, 1, 1), at(2026, 1, 1), NOW]
    assert decision.delete == [at(2020, 1, 1), at(2026, 1, 20), at(2026, 3, 1), at(2026, 3, 31)]


def test_windows_count_across_year_ends() -> None:
    """In January the monthly window holds November and December of the year before."""
    stamps = [at(2025, 10, 1), at(2025, 11, 1), at(2025, 12, 1), at(2026, 1, 5)]
    assert decide(stamps, at(2026, 1, 20), Policy(0, 3, 0)).keep == stamps[1:]


def test_a_backup_from_the_future_is_kept() -> None:
    """A clock set back must not make the backups it made before look deletable."""
    later = NOW + timedelta(days=2)
    assert decide([NOW, later], NOW, Policy(30, 0, 0)).keep == [NOW, later]


def test_bad_input_is_refused() -> None:
    """Naive datetimes and negative counts are mistakes, not edge cases."""
    with pytest.raises(ValueError, match="naive"):
        decide([datetime(2026, 1, 1)], NOW)
    with pytest.raises(ValueError, match="0 or more"):
        Policy(keep_daily_days=-1)
    assert decide([], NOW) == Decision([], [])


stamps_strategy = st.lists(st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2026, 6, 15),
                                        timezones=st.just(UTC)), min_size=1, max_size=60)
policies = st.builds(Policy, st.integers(0, 40), st.integers(0, 14), st.integers(0, 8))


@given(stamps_strategy, policies)
def test_decisions_partition_bound_and_settle(stamps: list[datetime], policy: Policy) -> None:
    """Keep and delete split the backups; the newest is kept; at most one per bucket plus the newest;
    deciding again on what was kept deletes nothing more (a second run the same day is harmless)."""
    decision = decide(stamps, NOW, policy)
    assert sorted(decision.keep + decision.delete) == sorted(set(stamps))
    assert max(stamps) in decision.keep
    assert len(decision.keep) <= policy.keep_daily_days + policy.keep_monthly_months + policy.keep_yearly_years + 1
    assert decide(decision.keep, NOW, policy) == Decision(decision.keep, [])
