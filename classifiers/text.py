"""One mail prepared for the rules: its subject and body folded and tokenised once.

Every rule of a set looks at the same `Mail`; each part is computed on first use, so
500 rules cost 500 set look-ups rather than 500 scans of the text. Must never do
I/O, never import `inbox`, and never raise on any text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property

from classifiers.inputs import CustomerView, MessageView

MAX_BODY_CHARS = 64 * 1024  # rules read the first 64 KB of a text: a pasted log past that decides nothing

_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Caseless form for words and phrases: NFKC (so "ﬁle" and full-width letters read as
    typed), casefold ("ß" is "ss"), and the typographic apostrophe as "'" (mail clients
    turn "can't" into "can’t" behind the writer's back)."""
    return unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")


def words(folded: str) -> list[str]:
    return _WORD.findall(folded)


@dataclass(frozen=True)
class Prefixes:
    """Every prefix a rule set uses ("outage" of "outage*"), also grouped by length."""

    ordered: tuple[str, ...] = ()
    by_length: tuple[tuple[int, frozenset[str]], ...] = ()

    @classmethod
    def of(cls, prefixes: set[str]) -> Prefixes:
        lengths = sorted({len(p) for p in prefixes})
        return cls(tuple(sorted(prefixes)), tuple((n, frozenset(p for p in prefixes if len(p) == n)) for n in lengths))

    def found_in(self, tokens: frozenset[str]) -> frozenset[str]:
        """The prefixes that start one of `tokens`, by whichever way costs less for these sizes:
        cutting every token at each prefix length, or a binary search per prefix."""
        if not self.ordered or not tokens:
            return frozenset()
        if len(tokens) * len(self.by_length) <= 4 * len(self.ordered):
            found: set[str] = set()
            for length, group in self.by_length:
                found.update(group.intersection({token[:length] for token in tokens}))
            return frozenset(found)
        ordered = sorted(tokens)
        hits = []
        for prefix in self.ordered:
            at = bisect_left(ordered, prefix)
            if at < len(ordered) and ordered[at].startswith(prefix):
                hits.append(prefix)
        return frozenset(hits)


class Field:
    """One text (subject or body) as the conditions see it."""

    __slots__ = ("raw", "folded", "tokens", "_prefixes", "_stems")

    def __init__(self, raw: str, prefixes: Prefixes) -> None:
        self.raw = raw
        self.folded = fold(raw)
        self.tokens = frozenset(words(self.folded))
        self._prefixes = prefixes
        self._stems: frozenset[str] | None = None

    @property
    def stems(self) -> frozenset[str]:
        """Which of the rule set's prefixes start a word of this text: found once per text, so
        each rule's prefix test is one set operation."""
        if self._stems is None:
            self._stems = self._prefixes.found_in(self.tokens)
        return self._stems


class Mail:
    """One message and its customer, each part prepared on first use and then shared by every rule."""

    def __init__(self, message: MessageView, customer: CustomerView, prefixes: Prefixes = Prefixes()) -> None:
        self.message = message
        self.customer = customer
        self.prefixes = prefixes

    @cached_property
    def subject(self) -> Field:
        return Field((getattr(self.message, "subject", "") or "")[:MAX_BODY_CHARS], self.prefixes)

    @cached_property
    def body(self) -> Field:
        return Field((getattr(self.message, "visible_text", "") or "")[:MAX_BODY_CHARS], self.prefixes)

    @cached_property
    def sender(self) -> str:
        address = (getattr(self.message, "from_addr", "") or "").strip().casefold()
        if "<" in address:  # tolerate "Name <addr>" from a caller that did not parse it
            address = address.rpartition("<")[2].rstrip(">").strip()
        return address

    @cached_property
    def sender_domains(self) -> frozenset[str]:
        """The sender's domain and each parent: "eu.acme.com" gives {eu.acme.com, acme.com, com}."""
        domain = self.sender.rpartition("@")[2].strip(".")
        parts = domain.split(".") if domain else []
        return frozenset(".".join(parts[i:]) for i in range(len(parts)))

    @cached_property
    def attachments(self) -> tuple[tuple[str, str], ...]:
        """(filename, content type without parameters) of each attachment, casefolded."""
        found = []
        for item in getattr(self.message, "attachments", ()) or ():
            name = str(getattr(item, "filename", "") or "").casefold()
            ctype = str(getattr(item, "content_type", "") or "").partition(";")[0].strip().casefold()
            found.append((name, ctype))
        return tuple(found)
