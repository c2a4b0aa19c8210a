"""Tracking numbers (`SUP-000123`): how they are written and found in subjects.

Pure: allocation of the number itself belongs to the ticket store.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache


def format_tracking(prefix: str, number: int) -> str:
    return f"{prefix}-{number:06d}"


@lru_cache(maxsize=16)
def _pattern(prefix: str) -> re.Pattern[str]:
    # Any position, any case, optional brackets; digits must not run on into
    # more digits or letters so "SUP-0001234x" is not read as SUP-000123. The prefix comes
    # first and the look behind it after: a look-behind tried at every position of a long
    # mail cost a third more than the prefix's own search.
    return re.compile(rf"{re.escape(prefix)}-(?<![A-Za-z0-9].{{{len(prefix) + 1}}})(\d{{1,12}})(?![0-9A-Za-z])",
                      re.IGNORECASE | re.DOTALL)


def find_tracking_numbers(prefix: str, subject: str) -> list[int]:
    """Every tracking number named in a subject, first mention first, without repeats."""
    seen: dict[int, None] = {}
    for match in _pattern(prefix).finditer(subject or ""):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)


def count_tracking_numbers(prefix: str, text: str) -> Counter[int]:
    """How many times each tracking number is named in `text`: one named more often in a whole
    mail than in its new text is named in what it quotes."""
    return Counter(int(match.group(1)) for match in _pattern(prefix).finditer(text or ""))
