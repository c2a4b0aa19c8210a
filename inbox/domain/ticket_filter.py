"""Which tickets a person asked for, and in what order: `inbox tickets list`'s question as plain data.

The command line builds a `TicketFilter` (its values already checked against the config); the
store turns it into one SQL query (inbox/store/ticket_search.py). Search text is a person's words,
never a query language: `search_words` keeps letters and digits and drops every operator, quote and
bracket, so `"a" OR b*` looks for the words a, or and b.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

NONE = "none"  # --customer/--assignee/--category none: the tickets without one
MAX_WORDS = 16  # a search longer than this is a paste, not a question; the first words decide
MAX_WORD_CHARS = 100
MAX_SEARCH_CHARS = 1000
_WORD = re.compile(r"[^\W_]+")  # letters and digits, in any script: what both indexes split on


class Order(enum.StrEnum):
    """`--order`: a leading "-" reverses it. Ties go by tracking number, in the same direction."""

    OPENED = "opened"  # when the ticket was opened (the default: oldest first)
    UPDATED = "updated"  # when it last changed
    SEVERITY = "severity"  # the config's order of severities: the most severe first
    DUE = "due"  # the earliest target still pending: soonest first, nothing due last


@dataclass(frozen=True)
class Sorting:
    order: Order = Order.OPENED
    descending: bool = False

    @classmethod
    def parse(cls, text: str) -> Sorting:
        """ "opened", "-due" ...; ValueError naming the choices."""
        name = text.strip()
        descending = name.startswith("-")
        try:
            return cls(Order(name.removeprefix("-")), descending)
        except ValueError:
            choices = ", ".join(f"{o.value}, -{o.value}" for o in Order)
            raise ValueError(f"{text!r} is not one of {choices}") from None


@dataclass(frozen=True)
class TicketFilter:
    """Every condition a ticket must meet; an empty tuple asks nothing of that field.

    `None` in customers, assignees or categories stands for "not set". Instants are aware UTC.
    """

    customers: tuple[str | None, ...] = ()
    assignees: tuple[str | None, ...] = ()
    categories: tuple[str | None, ...] = ()
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    open_only: bool = False  # neither solved nor closed
    breached: bool = False  # has missed a target (a `breach` event)
    due_before: datetime | None = None  # a target still pending falls due before this instant
    since: datetime | None = None  # opened at or after
    until: datetime | None = None  # opened before
    # Every word in the ticket's subject, or every word in one of its messages (subject and text).
    # Given but holding no word, it matches nothing.
    search: str | None = None

    @property
    def words(self) -> tuple[str, ...]:
        return search_words(self.search or "")


def search_words(text: str) -> tuple[str, ...]:
    """The words of a person's search text, lower-cased, at most MAX_WORDS, each bounded."""
    words = [w.lower()[:MAX_WORD_CHARS] for w in _WORD.findall(text[:MAX_SEARCH_CHARS])]
    return tuple(dict.fromkeys(words))[:MAX_WORDS]


def split_values(given: list[str] | None) -> tuple[str, ...]:
    """Values of an option given several times, each maybe a comma-separated list, in order, once each."""
    values = [v.strip() for item in given or [] for v in item.split(",")]
    return tuple(dict.fromkeys(v for v in values if v))
