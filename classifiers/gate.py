"""Which rules could match a mail at all: an index from words to rules, built at compile time.

Most rules of a large set name words, and most mail contains none of a given rule's
words. A rule whose `when` has a word condition can only match a mail that holds one
of that condition's words (or prefixes), so one set intersection per text finds the
few rules worth looking at, in their order. The gate only ever skips rules that
cannot match: the result is the same as looking at every rule. Must never do I/O
or import `inbox`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from classifiers.conditions import Words
from classifiers.text import Mail, Prefixes

if TYPE_CHECKING:
    from classifiers.rules import Rule

FIELDS = ("subject", "body")


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Gate:
    """The index of one rule set. Its tables are read-only views: a gate never changes once built."""

    size: int  # rules in the set
    always: frozenset[int]  # positions of rules without a word condition: looked at for every mail
    prefixes: Prefixes = Prefixes()  # of every "word*" term of the set, for `Mail`
    # Per text ("subject", "body"): word -> positions of the rules it opens; prefix -> positions.
    words: Mapping[str, Mapping[str, tuple[int, ...]]] = field(default_factory=lambda: _EMPTY)
    stems: Mapping[str, Mapping[str, tuple[int, ...]]] = field(default_factory=lambda: _EMPTY)
    word_keys: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)
    stem_keys: Mapping[str, frozenset[str]] = field(default_factory=lambda: _EMPTY)

    def candidates(self, mail: Mail) -> list[int]:
        """Positions of the rules that may match the mail, in rule order."""
        if len(self.always) == self.size:
            return list(range(self.size))
        found = set(self.always)
        for name in FIELDS:
            if not (self.word_keys[name] or self.stem_keys[name]):
                continue
            text = getattr(mail, name)
            for key in self.word_keys[name] & text.tokens:
                found.update(self.words[name][key])
            if self.stem_keys[name]:
                for key in self.stem_keys[name] & text.stems:
                    found.update(self.stems[name][key])
        return sorted(found)


def _keys(condition: Words) -> tuple[set[str], set[str]] | None:
    """The words and prefixes of which a text must hold one for `condition` to hold; None when
    a term has neither (such as "foo-*", whose only word is a prefix inside punctuation)."""
    words: set[str] = set(condition.singles)
    stems: set[str] = set(condition.stems)
    for term in condition.others:
        if term.needed:
            words.add(min(term.needed))
        elif term.prefix is not None:
            stems.add(term.prefix)
        else:
            return None
    return words, stems


def build_gate(rules: Sequence[Rule]) -> Gate:
    always: set[int] = set()
    words: dict[str, dict[str, list[int]]] = {name: {} for name in FIELDS}
    stems: dict[str, dict[str, list[int]]] = {name: {} for name in FIELDS}
    for position, rule in enumerate(rules):
        gates = [(keys, test) for test in rule.when if isinstance(test, Words) and (keys := _keys(test)) is not None]
        if not gates:
            always.add(position)
            continue
        # The condition with the fewest keys opens the fewest rules.
        (gate_words, gate_stems), test = min(gates, key=lambda pair: len(pair[0][0]) + len(pair[0][1]))
        for name in test.fields:
            for key in gate_words:
                words[name].setdefault(key, []).append(position)
            for key in gate_stems:
                stems[name].setdefault(key, []).append(position)
    prefixes = {term.prefix for rule in rules for test in rule.when + rule.unless if isinstance(test, Words)
                for term in test.terms if term.prefix is not None}
    return Gate(
        size=len(rules),
        always=frozenset(always),
        prefixes=Prefixes.of(prefixes),
        words=_frozen({name: {k: tuple(v) for k, v in table.items()} for name, table in words.items()}),
        stems=_frozen({name: {k: tuple(v) for k, v in table.items()} for name, table in stems.items()}),
        word_keys=MappingProxyType({name: frozenset(table) for name, table in words.items()}),
        stem_keys=MappingProxyType({name: frozenset(table) for name, table in stems.items()}),
    )


def _frozen(tables: dict[str, dict[str, tuple[int, ...]]]) -> Mapping[str, Mapping[str, tuple[int, ...]]]:
    return MappingProxyType({name: MappingProxyType(table) for name, table in tables.items()})
