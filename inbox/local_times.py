"""Instants as a person reads them: in a ticket's calendar time zone, to the minute, with the zone's
abbreviation ("2026-12-07 09:14 CET"). Machines get UTC ISO 8601 instead (CONTRACT.md); this is
only for text on a terminal. Pure: no clock, no config.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

# An ISO 8601 instant with an offset, as the service writes them into event details.
_ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)")


def local(at: datetime | str | None, zone: tzinfo) -> str:
    """`at` (an aware datetime or an ISO 8601 string with an offset) in `zone`; "-" for none."""
    if at is None:
        return "-"
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return at
    if at.tzinfo is None:  # never stored so, but a person must not read a wrong hour for it
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def local_instants(text: str, zone: tzinfo) -> str:
    """`text` with every ISO 8601 instant in it rewritten by `local`."""
    return _ISO_INSTANT.sub(lambda m: local(m[0], zone), text)
