"""Compiling the `when` and `unless` mappings of a rule: every key and value checked, conditions built.

Reports each problem through the caller's `problem(path, message)` and carries on, so
that one pass finds them all. Must never do I/O and never import `inbox`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from classifiers.conditions import (
    AttachmentLike, Condition, CustomerIs, HasAttachment, Pattern, PlanIs, Sender, Term, compile_term, words_condition,
)

MAX_REGEX_CHARS = 1_000
MAX_TERM_CHARS = 1_000

Path = tuple[str | int, ...]

WORD_KEYS = {"subject": ("subject",), "body": ("body",), "text": ("subject", "body")}
REGEX_KEYS = {"subject_regex": ("subject",), "body_regex": ("body",), "text_regex": ("subject", "body")}
CONDITION_KEYS = (*WORD_KEYS, *REGEX_KEYS, "from", "customer", "plan", "has_attachment", "attachment")
# Cheapest first: a customer or plan test ends most rules before any text is folded.
_COST = {"customer": 0, "plan": 0, "from": 1, "has_attachment": 1, "attachment": 2,
         "subject": 3, "text": 4, "body": 4, "subject_regex": 5, "text_regex": 6, "body_regex": 6}
# A group that ends in a repetition and is itself repeated: the classic shape of a pattern that
# backtracks exponentially (Python's re has no time limit), caught before it meets a long mail.
_NESTED_REPEAT = re.compile(r"[+*}]\??\)[+*{]")
_YAML_BOOLEANS = " (write it in quotes: YAML reads yes, no, on and off as true or false)"


def compile_conditions(raw: Any, path: Path, problem: Callable[[Path, str], None]) -> tuple[Condition, ...]:
    """The conditions of one `when` or `unless` mapping, cheapest first; () after a problem."""
    return _Conditions(problem).conditions(raw, path)


class _Conditions:
    def __init__(self, problem: Callable[[Path, str], None]) -> None:
        self.problem = problem

    def conditions(self, raw: Any, path: Path) -> tuple[Condition, ...]:
        if not isinstance(raw, Mapping):
            self.problem(path, f"must be a mapping of conditions ({', '.join(CONDITION_KEYS)})")
            return ()
        if not raw:
            self.problem(path, f"must hold at least one condition (leave `{path[-1]}` out instead)")
            return ()
        tests: list[tuple[int, Condition]] = []
        for key, value in raw.items():
            test = self.condition(str(key), value, path + (str(key),))
            if test is not None:
                tests.append((_COST[str(key)], test))
        tests.sort(key=lambda pair: pair[0])  # cheapest first; the sort is stable, so ties keep their order
        return tuple(test for _, test in tests)

    def condition(self, key: str, value: Any, path: Path) -> Condition | None:
        if key == "has_attachment":
            if not isinstance(value, bool):
                self.problem(path, "must be true or false")
                return None
            return HasAttachment(value)
        if key not in CONDITION_KEYS:
            self.problem(path, f"unknown key (allowed: {', '.join(CONDITION_KEYS)})")
            return None
        texts = self.texts(value, path)
        if texts is None:
            return None
        if key in WORD_KEYS:
            terms = [self.term(text, at) for at, text in texts]
            if all(term is not None for term in terms):
                return words_condition(key, WORD_KEYS[key], tuple(t for t in terms if t is not None))
            return None
        if key in REGEX_KEYS:
            patterns = [self.regex(text, at) for at, text in texts]
            if all(pattern is not None for pattern in patterns):
                return Pattern(key, REGEX_KEYS[key], tuple(p for p in patterns if p is not None))
            return None
        if key == "from":
            return self.sender(texts)
        if key == "attachment":
            return AttachmentLike(tuple((text, re.compile(fnmatch.translate(text.casefold()))) for _, text in texts))
        folded = frozenset(text.casefold() for _, text in texts)
        if key == "customer":
            return CustomerIs(folded - {"none"}, "none" in folded)
        return PlanIs(folded)

    def texts(self, value: Any, path: Path) -> list[tuple[Path, str]] | None:
        """(path, text) of each item of a list of text, or of one text; None after a problem."""
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            items: list[tuple[Path, Any]] = [(path, value)]
        elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            if not value:
                self.problem(path, "must not be empty")
                return None
            items = [(path + (index,), item) for index, item in enumerate(value)]
        else:
            self.problem(path, "must be a list of text" + (_YAML_BOOLEANS if isinstance(value, bool) else ""))
            return None
        found: list[tuple[Path, str]] = []
        for at, item in items:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                self.problem(at, "must be text" + (_YAML_BOOLEANS if isinstance(item, bool) else ""))
            elif not str(item).strip():
                self.problem(at, "must not be empty text")
            else:
                found.append((at, str(item).strip()))
        return found if len(found) == len(items) else None

    def term(self, text: str, path: Path) -> Term | None:
        if len(text) > MAX_TERM_CHARS:
            self.problem(path, f"too long: {len(text):,} characters (at most {MAX_TERM_CHARS:,})")
            return None
        term = compile_term(text)
        if term is None:
            self.problem(path, f'"{text}" has no letters or digits to look for')
        return term

    def regex(self, text: str, path: Path) -> re.Pattern[str] | None:
        if len(text) > MAX_REGEX_CHARS:
            self.problem(path, f"too long: {len(text):,} characters (at most {MAX_REGEX_CHARS:,})")
            return None
        try:
            pattern = re.compile(text, re.IGNORECASE)
        except (re.error, OverflowError, RecursionError) as exc:
            self.problem(path, f"not a valid regular expression: {exc}")
            return None
        if _NESTED_REPEAT.search(text):
            self.problem(path, "repeats a repetition, such as (a+)+ or (\\w+\\s*)*, which can take minutes on a "
                               "long mail: leave out the outer repetition")
            return None
        if pattern.search(""):
            # "error|" or "x*" matches every mail: almost always a slip, and a rule
            # meant for every mail says so by leaving `when` out.
            self.problem(path, "matches an empty text, so every mail (leave the condition out instead)")
            return None
        return pattern

    def sender(self, texts: list[tuple[Path, str]]) -> Sender | None:
        addresses: set[str] = set()
        domains: set[str] = set()
        ok = True
        for at, text in texts:
            value = text.casefold().strip("<>")
            value = value[2:] if value.startswith("*.") else value  # "*.acme.com": subdomains match anyway
            local, _, domain = value.rpartition("@")
            domain = domain.strip(".")
            if not domain or any(c.isspace() or c in "@<>,;()" for c in local + domain):
                self.problem(at, f'"{text}" is not an address or a domain')
                ok = False
            elif local:
                addresses.add(f"{local}@{domain}")
            else:
                domains.add(domain)
        return Sender(frozenset(addresses), frozenset(domains)) if ok else None
