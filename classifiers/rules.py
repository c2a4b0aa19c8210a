"""The rule model, and compiling raw rule dicts (as the YAML config gives them) into a `RuleSet`.

Rules run top to bottom. Every rule whose conditions hold applies its actions in
turn, so a later rule overrides an earlier one: `severity` sets (and may lower),
`raise_to` only ever raises, `category` sets. `stop: true` ends the run at that
rule. The severity starts at the lowest; the customer's stated severity applies
after the last rule (see `classifiers.engine`). Groups `{include, rules}` are
flattened in place, in order; a group inside a group is an error.

`compile_rules` checks everything once and raises one `RuleError` listing every
problem with its key path, so an admin fixes the file in one pass. Must never do
I/O (the config loader reads included files) and never import `inbox`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from classifiers import levels
from classifiers.conditions import Condition
from classifiers.gate import Gate, build_gate
from classifiers.when import Path, compile_conditions

MAX_RULES = 5_000
MAX_NAME_CHARS = 100

RULE_KEYS = ("name", "when", "unless", "severity", "raise_to", "category", "stop")
GROUP_KEYS = ("include", "rules")
_CATEGORY = re.compile(r"[A-Za-z0-9_-]+")


class RuleError(Exception):
    """Every problem in a rule list: (key path within the list, message)."""

    def __init__(self, problems: Sequence[tuple[Path, str]]) -> None:
        self.problems: list[tuple[Path, str]] = list(problems)
        super().__init__("\n".join(f"{where(path)}: {message}" for path, message in self.problems))


def where(path: Path) -> str:
    """A key path as an admin reads it: rules[3].when.subject_regex."""
    return "rules" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _label(path: Path) -> str:
    """A rule's place for a message: "3", or "1 in group 0"."""
    return str(path[0]) if len(path) == 1 else f"{path[2]} in group {path[0]}"


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]  # all must hold; empty: every mail
    unless: tuple[Condition, ...]  # the rule does not match when all of these hold; empty: no `unless`
    severity: str | None
    raise_to: str | None
    category: str | None
    stop: bool


@dataclass(frozen=True)
class RuleSet:
    """An immutable compiled rule list, and the severities its actions were resolved against."""

    rules: tuple[Rule, ...] = ()
    severities: tuple[str, ...] = ()
    # Derived from `rules`: which rules a mail's words make worth looking at.
    gate: Gate = field(default_factory=lambda: build_gate(()), compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(rule.name for rule in self.rules)


def compile_rules(raw: Sequence[Mapping[str, Any]] | None, severities: Sequence[str]) -> RuleSet:
    """Check and compile a rule list; raises RuleError listing every problem found."""
    known = tuple(str(name) for name in severities)
    if not known:
        raise ValueError("severities must name at least one severity")
    if raw is None:
        return RuleSet((), known)
    if isinstance(raw, (str, bytes, Mapping)) or not isinstance(raw, Sequence):
        raise RuleError([((), "must be a list of rules")])
    if (count := _count(raw)) > MAX_RULES:
        # Past the cap nothing else is checked: the list is not one anyone wrote by hand.
        raise RuleError([((), f"too many rules: {count:,} (at most {MAX_RULES:,})")])
    problems: list[tuple[Path, str]] = []
    compiler = _Compiler(known, problems)
    rules = [rule for path, entry in _flatten(raw, problems) if (rule := compiler.rule(entry, path)) is not None]
    if problems:
        raise RuleError(problems)
    return RuleSet(tuple(rules), known, build_gate(rules))


def _count(raw: Sequence[Any]) -> int:
    """Rules in the list once groups are opened (a group whose rules are not a list counts one)."""
    def size(entry: Any) -> int:
        inner = entry.get("rules") if isinstance(entry, Mapping) and "include" in entry else None
        return len(inner) if isinstance(inner, Sequence) and not isinstance(inner, (str, bytes)) else 1
    return sum(size(entry) for entry in raw)


def _flatten(raw: Sequence[Any], problems: list[tuple[Path, str]]) -> Iterator[tuple[Path, Any]]:
    """(path, rule) of each rule, groups opened in place."""
    for index, entry in enumerate(raw):
        if not (isinstance(entry, Mapping) and "include" in entry):
            yield (index,), entry
            continue
        for key in entry:
            if key not in GROUP_KEYS:
                problems.append(((index, str(key)), f"unknown key in a group (allowed: {', '.join(GROUP_KEYS)})"))
        if not isinstance(entry["include"], str) or not entry["include"].strip():
            problems.append(((index, "include"), "must be the path of a rule file"))
        inner = entry.get("rules")
        if inner is None:
            continue  # an empty included file
        if isinstance(inner, (str, bytes, Mapping)) or not isinstance(inner, Sequence):
            problems.append(((index, "rules"), "must be a list of rules"))
            continue
        for position, rule in enumerate(inner):
            path: Path = (index, "rules", position)
            if isinstance(rule, Mapping) and "include" in rule:
                problems.append((path, "a group cannot hold a group (an included file cannot include further)"))
            else:
                yield path, rule


class _Compiler:
    """Compiles one rule at a time, collecting problems instead of stopping at the first."""

    def __init__(self, severities: tuple[str, ...], problems: list[tuple[Path, str]]) -> None:
        self.severities = severities
        self.problems = problems
        self.names: dict[str, Path] = {}

    def problem(self, path: Path, message: str) -> None:
        self.problems.append((path, message))

    def rule(self, entry: Any, path: Path) -> Rule | None:
        if not isinstance(entry, Mapping):
            self.problem(path, "must be a rule (a mapping with name, when, severity ...) or a group (include, rules)")
            return None
        before = len(self.problems)
        for key in entry:
            if key not in RULE_KEYS:
                self.problem(path + (str(key),), f"unknown key (allowed: {', '.join(RULE_KEYS)})")
        name = self.name(entry.get("name"), path + ("name",))
        when = compile_conditions(entry["when"], path + ("when",), self.problem) if "when" in entry else ()
        unless = compile_conditions(entry["unless"], path + ("unless",), self.problem) if "unless" in entry else ()
        severity = self.level(entry, "severity", path)
        raise_to = self.level(entry, "raise_to", path)
        category = self.category(entry, path)
        stop = entry.get("stop", False)
        if not isinstance(stop, bool):
            self.problem(path + ("stop",), "must be true or false")
        if "severity" in entry and "raise_to" in entry:
            self.problem(path, "a rule sets severity or raise_to, not both")
        if not any(key in entry for key in ("severity", "raise_to", "category")) and stop is not True:
            self.problem(path, "a rule needs severity, raise_to or category")
        if len(self.problems) > before or name is None:
            return None
        return Rule(name, when, unless, severity, raise_to, category, stop is True)

    def name(self, value: Any, path: Path) -> str | None:
        if value is None:
            self.problem(path, "missing: every rule needs a name, unique in the list")
            return None
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_CHARS or "\n" in value:
            self.problem(path, f"must be one line of text, at most {MAX_NAME_CHARS} characters")
            return None
        name = value.strip()
        earlier = self.names.setdefault(name.casefold(), path[:-1])
        if earlier != path[:-1]:
            self.problem(path, f'"{name}" is already the name of rule {_label(earlier)}')
        return name

    def level(self, entry: Mapping[str, Any], key: str, path: Path) -> str | None:
        if key not in entry:
            return None
        value = entry[key]
        name = levels.resolve(value, self.severities)
        if name is None:
            self.problem(path + (key,), levels.unknown(value, self.severities))
        return name

    def category(self, entry: Mapping[str, Any], path: Path) -> str | None:
        if "category" not in entry:
            return None
        value = entry["category"]
        if not isinstance(value, str) or not _CATEGORY.fullmatch(value.strip()):
            self.problem(path + ("category",), "must be one word: letters, digits, - and _")
            return None
        return value.strip()
