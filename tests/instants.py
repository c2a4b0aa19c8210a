"""The fixed instants the suite runs at, so that no test depends on the day or hour it runs.

Every test that computes or waits for a due time takes its clock from here: the in-process tests
hand a FixedClock one of these, and `inbox serve` subprocesses start their clock at one through
$INBOX_TEST_CLOCK (tests/durability/serve.py). Each instant is a moment that once broke, or could
break, a clock counted in business hours on the Pacific calendar of the test configs.
`start_at` (tests/conftest.py) runs a test at each of them, or at those `--clock-at` names.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")

INSTANTS: dict[str, datetime] = {
    # Issue 17: a Sunday evening in UTC is still Sunday afternoon in Pacific; three days on, every
    # business-hours target of the week's tickets had passed and a test that read the wall clock failed.
    "sunday-23utc": datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc),
    # One minute before the Pacific business day, and the week, close.
    "friday-1659pt": datetime(2026, 12, 4, 16, 59, tzinfo=PACIFIC),
    # The night the US leaves daylight saving time: 01:30 happens twice (this is the first, PDT).
    "dst-night": datetime(2026, 11, 1, 1, 30, tzinfo=PACIFIC, fold=0),
    # New Year's Eve in Pacific, a holiday and a weekend ahead (1 January 2027 is a Friday).
    "new-years-eve": datetime(2026, 12, 31, 23, 0, tzinfo=PACIFIC),
}
DEFAULT = "sunday-23utc"  # the one instant of tests whose outcome does not depend on it


def instant(name_or_iso: str) -> datetime:
    """A named instant, or any ISO 8601 instant with an offset (for `--clock-at`)."""
    if name_or_iso in INSTANTS:
        return INSTANTS[name_or_iso]
    at = datetime.fromisoformat(name_or_iso.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"--clock-at {name_or_iso}: not one of {', '.join(INSTANTS)} nor an instant with an offset")
    return at.astimezone(timezone.utc)
