"""Which backups to keep: grandfather-father-son retention over backup times, decided without I/O.

Given the instants backups were made, `now` and a `Policy` (by default Akemona's "daily kept 30
days, monthly kept 3 months, yearly kept 6 years"), `decide` splits them into keep and delete.
Days, months and years are UTC calendar ones, as in the backup file names. A backup is kept
when any rule picks it:

- daily: the newest backup of each of the last `keep_daily_days` calendar days, today included. The
  newest of a day holds the most of that day's work. A backup made exactly 30 days ago (on the
  day 30 days before today) is past the window: each day's backup is kept by 30 daily runs.
- monthly: the FIRST backup of each of the last `keep_monthly_months` calendar months, this one
  included; yearly: the FIRST backup of each of the last `keep_yearly_years` calendar years.
  The first, not the newest, because the first is chosen once and never changes: a monthly made
  on 1 March lives until the first backup of June replaces it in the window, so "kept 3 months"
  holds literally (the newest of March would be picked on 31 March and gone by 1 June, two
  months). The same makes a yearly live six years.
- the newest backup overall, whatever its age: a cron job that stopped long ago must never
  leave the directory empty.

Backups dated after `now` (a clock that moved back) fall in the current windows and are kept.
It never reads the clock, lists a directory or deletes a file; `inbox.store.backup` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class Policy:
    """How many calendar days, months and years keep one backup each; 0 turns a rule off."""

    # Named as the config's `backup:` keys, so the section maps onto a Policy as it is.
    keep_daily_days: int = 30
    keep_monthly_months: int = 3
    keep_yearly_years: int = 6

    def __post_init__(self) -> None:
        if min(self.keep_daily_days, self.keep_monthly_months, self.keep_yearly_years) < 0:
            raise ValueError(f"retention counts must be 0 or more: {self}")


@dataclass(frozen=True)
class Decision:
    keep: list[datetime]  # oldest first
    delete: list[datetime]  # oldest first


def decide(stamps: Iterable[datetime], now: datetime, policy: Policy = Policy()) -> Decision:
    """Split backup instants into those the policy keeps and those it lets go."""
    times = sorted(set(_utc(stamp) for stamp in stamps))
    if not times:
        return Decision([], [])
    now = _utc(now)
    keep = {times[-1]}
    for bucket, count, newest in ((_day, policy.keep_daily_days, True), (_month, policy.keep_monthly_months, False),
                                  (_year, policy.keep_yearly_years, False)):
        if count:
            keep |= _pick(times, bucket, oldest=bucket(now) - count + 1, newest=newest)
    return Decision([t for t in times if t in keep], [t for t in times if t not in keep])


def _pick(times: list[datetime], bucket: Callable[[datetime], int], *, oldest: int, newest: bool) -> set[datetime]:
    """One instant per bucket from `oldest` on: the newest or the first of each (`times` is sorted)."""
    chosen: dict[int, datetime] = {}
    for stamp in times:
        key = bucket(stamp)
        if key >= oldest and (newest or key not in chosen):
            chosen[key] = stamp
    return set(chosen.values())


# Buckets are numbered so that "the last N" is a subtraction, across month and year ends too.
def _day(stamp: datetime) -> int:
    return stamp.date().toordinal()


def _month(stamp: datetime) -> int:
    return stamp.year * 12 + stamp.month - 1


def _year(stamp: datetime) -> int:
    return stamp.year


def _utc(stamp: datetime) -> datetime:
    if stamp.tzinfo is None:
        raise ValueError(f"naive datetime {stamp.isoformat()}: backup times must be aware")
    return stamp.astimezone(timezone.utc)
