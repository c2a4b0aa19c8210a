"""What `classify` returns: the severity, the category, and why.

Plain frozen data. Must never import from `inbox` and never does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleHit:
    rule: str  # a rule's name, or "stated-severity"
    matched: bool
    why: str  # which condition held, e.g. 'subject has "outage"'


@dataclass(frozen=True)
class StatedSeverity:
    text: str  # as the customer wrote it, e.g. "Severity: 1"
    severity: str | None  # the configured name it means; None when it names none


@dataclass(frozen=True)
class Classification:
    severity: str
    category: str | None = None
    hits: tuple[RuleHit, ...] = ()
    stated: StatedSeverity | None = None
