"""`classify`: one new mail and its customer through a compiled rule set.

Precedence: the severity starts at the lowest. Rules run top to bottom; every rule
whose conditions hold applies its actions in turn, so a later rule overrides an
earlier one (`severity` sets and may lower, `raise_to` only ever raises,
`category` sets); `stop: true` ends the run at that rule. The customer's stated
severity applies last: only when the plan lets it (`stated_may_raise`), only
upwards, and never above `stated_up_to`. Every rule that matched is one RuleHit;
rules that did not match are not listed.

A pure function of its inputs: must never do I/O, read a clock, keep state
between calls, import `inbox`, or raise on any text of any mail.
"""

from __future__ import annotations

from collections.abc import Sequence

from classifiers import levels
from classifiers.conditions import explain, hold
from classifiers.inputs import CustomerView, MessageView
from classifiers.rules import RuleSet
from classifiers.stated import stated_severity
from classifiers.text import Mail
from classifiers.verdict import Classification, RuleHit, StatedSeverity

STATED = "stated-severity"


def classify(message: MessageView, customer: CustomerView, rules: RuleSet, severities: Sequence[str]) -> Classification:
    """Severity, category and the rule hits that decided them. `rules` comes from
    `compile_rules(raw, severities)`, called once at start-up with the same severities."""
    order = tuple(str(name) for name in severities)
    if not isinstance(rules, RuleSet):
        raise TypeError(f"rules must be a RuleSet from compile_rules, not {type(rules).__name__}")
    if rules.rules and rules.severities != order:
        raise ValueError(f"rules were compiled for severities {list(rules.severities)}, not {list(order)}")
    rank = {name: index for index, name in enumerate(order)}
    current = len(order) - 1
    category: str | None = None
    hits: list[RuleHit] = []
    mail = Mail(message, customer, rules.gate.prefixes)
    for position in rules.gate.candidates(mail):
        rule = rules.rules[position]
        # `hold(rule.when, mail)`, inlined: this loop is the hot path.
        for test in rule.when:
            if not test.test(mail):
                break
        else:  # every `when` condition held (`continue` and `break` here act on the rules loop)
            if rule.unless and hold(rule.unless, mail):
                continue
            hits.append(RuleHit(rule=rule.name, matched=True, why=explain(rule.when, mail)))
            if rule.severity is not None:
                current = rank[rule.severity]
            if rule.raise_to is not None:
                current = min(current, rank[rule.raise_to])  # a smaller index is a higher severity
            if rule.category is not None:
                category = rule.category
            if rule.stop:
                break
    stated = stated_severity(message, order)
    if stated is not None:
        current, hit = _apply_stated(stated, customer, order, current)
        hits.append(hit)
    return Classification(severity=order[current], category=category, hits=tuple(hits), stated=stated)


def _apply_stated(stated: StatedSeverity, customer: CustomerView, order: tuple[str, ...], current: int) -> tuple[int, RuleHit]:
    """The severity after the customer's statement, and the hit that says what it did and why."""
    wrote = f'the customer wrote "{stated.text}"'
    if stated.severity is None:
        return current, RuleHit(STATED, False, f"{wrote}, which names no severity")
    if not customer.stated_may_raise:
        return current, RuleHit(STATED, False, f"{wrote}; the plan does not let a stated severity raise the ticket")
    wanted = order.index(stated.severity)
    cap_note = ""
    if customer.stated_up_to is not None:
        cap = levels.named(customer.stated_up_to, order)
        if cap is None:
            # A cap that names no severity is a configuration slip; failing closed keeps a
            # customer from raising past what the plan meant to allow.
            return current, RuleHit(STATED, False, f'{wrote}; the plan\'s cap "{customer.stated_up_to}" names no severity')
        if wanted < order.index(cap):
            wanted, cap_note = order.index(cap), f" (the plan allows up to {cap})"
    if wanted >= current:
        return current, RuleHit(STATED, False, f"{wrote}{cap_note}; the ticket is already {order[current]}")
    return wanted, RuleHit(STATED, True, f"{wrote}{cap_note}")
