"""Pure decisions about a new ticket: severity and category from rules.

Imports nothing from `inbox` and does no I/O. The rule language arrives with
a later issue; until then every ticket starts at the lowest severity, and this
module is the seam where rules will plug in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence


class MessageView(Protocol):
    @property
    def subject(self) -> str: ...
    @property
    def visible_text(self) -> str: ...
    @property
    def from_addr(self) -> str: ...


@dataclass(frozen=True)
class CustomerView:
    id: str | None
    plan: str | None


@dataclass(frozen=True)
class RuleHit:
    rule: str
    matched: bool
    why: str


@dataclass(frozen=True)
class Classification:
    severity: str
    category: str | None = None
    hits: tuple[RuleHit, ...] = field(default_factory=tuple)


def classify(
    message: MessageView,
    customer: CustomerView,
    rules: Sequence[Mapping[str, Any]],
    severities: Sequence[str],
) -> Classification:
    """New mail starts at the lowest severity (the last of `severities`, highest first)."""
    return Classification(severity=severities[-1])
