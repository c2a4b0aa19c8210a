"""Severity names and their order: configured names, the aliases, and "the N-th".

`severities` is always the configured list, highest first; index 0 is the
highest. Pure functions over that list; must never do I/O or import `inbox`.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

ALIASES = "highest, highest-N, lowest"
_HIGHEST_MINUS = re.compile(r"highest\s*-\s*(\d{1,4})")


def named(value: str, severities: Sequence[str]) -> str | None:
    """The configured name spelt `value` (any case), or None."""
    folded = value.strip().casefold()
    return next((name for name in severities if name.casefold() == folded), None)


def nth(number: int, severities: Sequence[str]) -> str | None:
    """The `number`-th severity, 1 being the highest; None when there are not that many."""
    return severities[number - 1] if 1 <= number <= len(severities) else None


def resolve(value: Any, severities: Sequence[str]) -> str | None:
    """A configured name or an alias (highest, lowest, highest-N clamped at the lowest), as the
    configured name; None when `value` is neither. A configured name wins over an alias of the
    same spelling, so a list such as [highest, high, low] keeps its own "highest"."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    if (name := named(text, severities)) is not None:
        return name
    folded = text.strip().casefold()
    if folded == "highest":
        return severities[0]
    if folded == "lowest":
        return severities[-1]
    if match := _HIGHEST_MINUS.fullmatch(folded):
        return severities[min(int(match.group(1)), len(severities) - 1)]
    return None


def unknown(value: Any, severities: Sequence[str]) -> str:
    """The problem message for a value `resolve` did not know."""
    return f'"{value}" is not a severity (known: {", ".join(severities)}, or {ALIASES})'
