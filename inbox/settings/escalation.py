"""A plan's `breach_escalation`: who is told when a target is missed, per target and severity.

Two forms are read. The short one is a list of addresses, the chain: level 1 hears of every
missed target at its due time, level k once k target intervals have run; customers' escalation
requests climb the same chain. The long one keeps that chain and adds rules, first match wins,
that give a target and severity a chain of its own, each level optionally told a set time
after the due time:

    breach_escalation:
      chain: [lead@example.com]                      # requests, and every breach no rule names
      rules:
        - when: {target: resolution, severity: [critical, serious]}
          levels: [cto@example.com, {to: ceo@example.com, after: 4 hours}]
        - when: {target: response, severity: low}
          levels: []                                 # recorded, nobody told

Severity names are the config's own, so `Settings` checks them once every section is read.
Never reads a file, the environment or the clock.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from inbox.settings.fields import DurationValue, EmailAddress, Located, Section, SeverityName, bare_address
from inbox.sla.durations import Duration

TargetName = Literal["response", "update", "workaround", "resolution"]


class EscalationLevel(Section):
    """One level of a chain: its address, and how long after the due time it is told (None: the
    default, level k once k target intervals have run, so level 1 at the due time)."""

    to: EmailAddress
    after: DurationValue | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        return {"to": data} if isinstance(data, str) else data  # "lead@x" is {to: lead@x}


class EscalationWhen(Section):
    """Which breaches a rule takes: the targets and severities listed (a name or a list); absent, any."""

    target: list[TargetName] | None = None
    severity: list[SeverityName] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_or_many(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value
                for key, value in data.items()}

    def takes(self, target: str, severity: str) -> bool:
        return (self.target is None or target in self.target) and (self.severity is None or severity in self.severity)


class EscalationRule(Section):
    when: EscalationWhen = EscalationWhen()  # absent: every target and severity
    levels: list[EscalationLevel]

    @model_validator(mode="after")
    def _in_order(self) -> EscalationRule:
        # A later level told before an earlier one is a typo, not a plan: the agenda tells them in order.
        # Business and elapsed time compare only on a calendar; the agenda keeps those in order itself.
        timed = [(index, level.after) for index, level in enumerate(self.levels)
                 if level.after is not None and not level.after.is_business]
        for (_, earlier), (index, later) in zip(timed, timed[1:]):
            if _elapsed(later) < _elapsed(earlier):
                raise Located([(("levels", index, "after"), f'"{later}" comes before the level above it ("{earlier}")')])
        return self


class BreachEscalation(Section):
    chain: list[EscalationLevel] = []
    rules: list[EscalationRule] = []

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, (dict, BreachEscalation)):
            return data
        if not isinstance(data, list):
            raise ValueError("must be a list of addresses, or {chain: [addresses], rules: [{when, levels}]}")
        # Checked here, so that a bad address is reported at the key the file has (breach_escalation.1).
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for index, item in enumerate(data):
            if not isinstance(item, str):
                problems.append(((index,), "must be an email address (timed levels belong in rules)"))
                continue
            try:
                bare_address(item)
            except ValueError as error:
                problems.append(((index,), str(error)))
        if problems:
            raise Located(problems)
        return {"chain": data}

    @model_validator(mode="after")
    def _chain_untimed(self) -> BreachEscalation:
        # The chain is also climbed by customers' requests, one level per request: a time means nothing there.
        timed: list[tuple[tuple[str | int, ...], str]] = [
            (("chain", index, "after"), "is allowed only in rules (requests climb the chain one level per request)")
            for index, level in enumerate(self.chain) if level.after is not None]
        if timed:
            raise Located(timed)
        return self

    def levels(self, target: str, severity: str) -> list[EscalationLevel]:
        """Who hears of a missed `target` at `severity`, level 1 first: the first rule that takes it, else the chain."""
        rule = next((rule for rule in self.rules if rule.when.takes(target, severity)), None)
        return rule.levels if rule is not None else self.chain

    @property
    def requests(self) -> list[str]:
        """The chain a customer's escalation requests climb."""
        return [level.to for level in self.chain]

    @property
    def addresses(self) -> list[str]:
        """Every address named anywhere, chain first: all of them are staff."""
        return [level.to for level in [*self.chain, *(level for rule in self.rules for level in rule.levels)]]


def _elapsed(duration: Duration) -> float:
    return duration.wall_clock().total_seconds()
