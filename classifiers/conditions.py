"""The compiled conditions of a rule (`when` and `unless` keys), each tested against a prepared `Mail`.

Each condition has a fast `test` that every rule takes, and a `why` (a short text
for the rule hit) asked only of a rule that matched. Must never do I/O, never
import `inbox`, and never raise on any text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from classifiers.text import Field, Mail, fold, words

MAX_QUOTED = 60  # characters of matched text quoted in a rule hit


def quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 1] + "…"


class Condition(Protocol):
    """`test` is the fast path every rule takes; `why` runs only for a rule that matched."""

    def test(self, mail: Mail) -> bool: ...
    def why(self, mail: Mail) -> str: ...


@dataclass(frozen=True)
class Term:
    """One word or phrase. `needed` words must all be tokens of the text; a trailing `*` makes the
    last word a `prefix`; `confirm` checks order and adjacency, and is None when the token test is
    already exact (a single whole word)."""

    text: str
    needed: frozenset[str]
    prefix: str | None
    confirm: re.Pattern[str] | None

    def found_in(self, field: Field) -> bool:
        if not self.needed <= field.tokens:
            return False
        if self.prefix is not None and self.prefix not in field.stems:
            return False
        return self.confirm is None or self.confirm.search(field.folded) is not None


def compile_term(text: str) -> Term | None:
    """A term from its written form; None when it has no letters or digits to look for."""
    prefix_term = text.rstrip().endswith("*")
    pieces = fold(text.strip().rstrip("*")).split()
    tokens = words(" ".join(pieces))
    if not tokens:
        return None
    prefix = tokens.pop() if prefix_term else None
    exact = len(pieces) == 1 and (tokens == [pieces[0]] or (prefix is not None and not tokens and prefix == pieces[0]))
    confirm = None
    if not exact:
        # Word boundaries as lookarounds, so a piece that starts or ends with "+" or "#" still works.
        body = r"\s+".join(re.escape(piece) for piece in pieces)
        confirm = re.compile(r"(?<!\w)" + body + ("" if prefix_term else r"(?!\w)"))
    return Term(text=text.strip(), needed=frozenset(tokens), prefix=prefix, confirm=confirm)


@dataclass(frozen=True)
class Words:
    """Any of `terms` in any of `fields` ("subject", "body"). The terms are sorted by shape at
    compile time so that most rules are answered by C-level set operations alone."""

    key: str
    fields: tuple[str, ...]
    terms: tuple[Term, ...]  # as written, for `why`
    singles: frozenset[str]  # terms that are one whole word
    stems: frozenset[str]  # terms that are one prefix ("outage*")
    others: tuple[Term, ...]  # phrases, words with punctuation
    # One needed word of each of `others`: none in the text, none of them can match.
    anchors: frozenset[str] | None

    def test(self, mail: Mail) -> bool:
        for name in self.fields:
            field: Field = getattr(mail, name)
            tokens = field.tokens
            if not self.singles.isdisjoint(tokens):
                return True
            if self.stems and not self.stems.isdisjoint(field.stems):
                return True
            if self.others and (self.anchors is None or not self.anchors.isdisjoint(tokens)):
                for term in self.others:
                    if term.found_in(field):
                        return True
        return False

    def why(self, mail: Mail) -> str:
        for name in self.fields:
            field: Field = getattr(mail, name)
            for term in self.terms:
                if term.found_in(field):
                    return f'{name} has "{term.text}"'
        return f"{self.key} has one of its words"  # unreachable after a true `test`


def words_condition(key: str, fields: tuple[str, ...], terms: tuple[Term, ...]) -> Words:
    singles = frozenset(next(iter(t.needed)) for t in terms if t.confirm is None and t.prefix is None)
    stems = frozenset(t.prefix for t in terms if t.confirm is None and t.prefix is not None)
    others = tuple(t for t in terms if t.confirm is not None)
    anchors = frozenset(min(t.needed) for t in others) if all(t.needed for t in others) else None
    return Words(key, fields, terms, singles, stems, others, anchors)


@dataclass(frozen=True)
class Pattern:
    """Any of `patterns` (case-insensitive) searched in any of `fields`."""

    key: str
    fields: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    def test(self, mail: Mail) -> bool:
        for name in self.fields:
            raw = getattr(mail, name).raw
            for pattern in self.patterns:
                if pattern.search(raw):
                    return True
        return False

    def why(self, mail: Mail) -> str:
        for name in self.fields:
            for pattern in self.patterns:
                if found := pattern.search(getattr(mail, name).raw):
                    return f'{name} matches /{quoted(pattern.pattern)}/ ("{quoted(found.group(0))}")'
        return f"{self.key} matches"


@dataclass(frozen=True)
class Sender:
    addresses: frozenset[str]
    domains: frozenset[str]  # each also matches its subdomains

    def test(self, mail: Mail) -> bool:
        return mail.sender in self.addresses or not self.domains.isdisjoint(mail.sender_domains)

    def why(self, mail: Mail) -> str:
        if mail.sender in self.addresses:
            return f"from {mail.sender}"
        return f"from {mail.sender} (domain {max(self.domains & mail.sender_domains, key=len)})"


@dataclass(frozen=True)
class CustomerIs:
    ids: frozenset[str]  # casefolded
    or_none: bool  # the word `none`: mail from no known customer

    def test(self, mail: Mail) -> bool:
        customer = mail.customer.id
        return self.or_none if customer is None else str(customer).casefold() in self.ids

    def why(self, mail: Mail) -> str:
        return "from no known customer" if mail.customer.id is None else f"customer is {mail.customer.id}"


@dataclass(frozen=True)
class PlanIs:
    plans: frozenset[str]  # casefolded

    def test(self, mail: Mail) -> bool:
        plan = mail.customer.plan
        return plan is not None and str(plan).casefold() in self.plans

    def why(self, mail: Mail) -> str:
        return f"plan is {mail.customer.plan}"


@dataclass(frozen=True)
class HasAttachment:
    wanted: bool

    def test(self, mail: Mail) -> bool:
        return bool(mail.attachments) == self.wanted

    def why(self, mail: Mail) -> str:
        return "has an attachment" if self.wanted else "has no attachment"


@dataclass(frozen=True)
class AttachmentLike:
    globs: tuple[tuple[str, re.Pattern[str]], ...]  # (as written, compiled fnmatch pattern)

    def _first(self, mail: Mail) -> str | None:
        for name, ctype in mail.attachments:
            for written, pattern in self.globs:
                if pattern.match(name) or pattern.match(ctype):
                    return f'attachment "{quoted(name or ctype)}" matches "{written}"'
        return None

    def test(self, mail: Mail) -> bool:
        return self._first(mail) is not None

    def why(self, mail: Mail) -> str:
        return self._first(mail) or "an attachment matches"


def hold(tests: tuple[Condition, ...], mail: Mail) -> bool:
    """All of `tests` hold (compiled cheapest first, so a customer or plan test ends most rules
    before any text is folded)."""
    for test in tests:
        if not test.test(mail):
            return False
    return True


def explain(tests: tuple[Condition, ...], mail: Mail) -> str:
    """Why `tests`, which all hold, hold: each condition's reason."""
    return " and ".join(test.why(mail) for test in tests) if tests else "no conditions: every mail"
