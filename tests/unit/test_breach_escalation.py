"""A plan's breach_escalation: the list form as before, the long form per target and severity, and its errors.

Config files are the shipped local config altered in one key (as in test_settings); the agenda
tests use the plain SLA types with the Pacific calendar, instants worked out by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from inbox.domain.ticket import Status
from inbox.settings import BreachEscalation, Settings
from inbox.sla.agenda import Facts, Policy, TargetRule, agenda
from inbox.sla.durations import Duration, Unit, parse_duration
from inbox.tickets.contracts import Contracts
from tests.unit.test_sla_agenda import PACIFIC
from tests.unit.test_settings import loaded, problems_of, write_config

UTC = timezone.utc
KEY = "plans.standard.breach_escalation"
TARGETS = ("response", "update", "workaround", "resolution")
LONG: dict[str, Any] = {
    "chain": ["lead@example.com"],
    "rules": [
        {"when": {"target": ["workaround", "resolution"], "severity": "critical"},
         "levels": ["cto@example.com", {"to": "ceo@example.com", "after": "4 hours"}]},
        {"when": {"severity": ["low", "medium"]}, "levels": []},
        {"levels": ["lead@example.com", "manager@example.com"]},  # no `when`: every other breach
    ],
}


def with_escalation(tmp_path: Path, value: Any) -> Settings:
    return loaded(tmp_path, lambda d: d["plans"]["standard"].update(breach_escalation=value))


def problems(tmp_path: Path, value: Any) -> list[str]:
    path = write_config(tmp_path, lambda d: d["plans"]["standard"].update(breach_escalation=value))
    return [line.removeprefix(f"{path}: ") for line in problems_of(path)]


def told(escalation: BreachEscalation, target: str, severity: str) -> list[tuple[str, str | None]]:
    return [(level.to, str(level.after) if level.after else None) for level in escalation.levels(target, severity)]


# -- the two forms ------------------------------------------------------------------------------


def test_the_list_form_is_the_chain_for_every_target_severity_and_request(tmp_path: Path) -> None:
    """Today's list still means one chain: every target at every severity, untimed, and customers' requests."""
    settings = with_escalation(tmp_path, ["Lead@Example.com", "manager@example.com"])
    escalation = settings.plans["standard"].breach_escalation
    assert escalation.requests == ["lead@example.com", "manager@example.com"] and escalation.rules == []
    for target in TARGETS:
        for severity in settings.severities:
            assert told(escalation, target, severity) == [("lead@example.com", None), ("manager@example.com", None)]


def test_an_absent_key_escalates_to_no_one(tmp_path: Path) -> None:
    """No breach_escalation: breaches are recorded, nobody is told, requests reach the engineers."""
    settings = loaded(tmp_path, lambda d: d["plans"]["standard"].pop("breach_escalation"))
    escalation = settings.plans["standard"].breach_escalation
    assert escalation.requests == [] and told(escalation, "response", "critical") == []


def test_the_long_form_picks_the_first_rule_for_the_target_and_severity(tmp_path: Path) -> None:
    """Rules match by target and severity (a name or a list, absent: any), first match wins, else the chain."""
    settings = with_escalation(tmp_path, LONG)
    escalation = settings.plans["standard"].breach_escalation
    assert told(escalation, "resolution", "critical") == [("cto@example.com", None), ("ceo@example.com", "4 hours")]
    assert told(escalation, "workaround", "critical") == told(escalation, "resolution", "critical")
    assert told(escalation, "response", "low") == [] and told(escalation, "resolution", "medium") == []
    assert told(escalation, "response", "critical") == [("lead@example.com", None), ("manager@example.com", None)]
    assert escalation.requests == ["lead@example.com"]  # requests climb the chain, never a rule's levels
    without_catch_all = {**LONG, "rules": LONG["rules"][:2]}
    fallback = with_escalation(tmp_path, without_catch_all).plans["standard"].breach_escalation
    assert told(fallback, "response", "high") == [("lead@example.com", None)]


def test_the_long_form_dumps_as_config_text_that_loads_back_equal(tmp_path: Path) -> None:
    """model_dump of the long form (durations as text) is a breach_escalation that loads to the same settings."""
    escalation = with_escalation(tmp_path, LONG).plans["standard"].breach_escalation
    dumped = escalation.model_dump(mode="json")
    assert dumped["rules"][0]["levels"][1] == {"to": "ceo@example.com", "after": "4 hours"}
    assert with_escalation(tmp_path, dumped).plans["standard"].breach_escalation == escalation


def test_every_address_of_the_long_form_is_staff(tmp_path: Path) -> None:
    """A rule's addresses are ours: never shown to customers."""
    settings = with_escalation(tmp_path, LONG)
    assert settings.is_staff("ceo@example.com") and settings.is_staff("cto@example.com")


def test_contracts_tell_each_level_of_the_rule_for_the_target_and_severity(tmp_path: Path) -> None:
    """Who the sweep tells at each level, and the policy's timed levels, follow the rule; no target: the chain."""
    contracts = Contracts(with_escalation(tmp_path, LONG))
    assert [contracts.escalation("standard", n, "resolution", "critical") for n in (1, 2, 3)] == [
        "cto@example.com", "ceo@example.com", None]
    assert contracts.escalation("standard", 1, "response", "low") is None
    assert contracts.escalation("standard", 1) == "lead@example.com"  # a request: the chain
    after = contracts.policy("standard", "critical").escalation_after
    assert after["resolution"] == (None, Duration(4, Unit.HOURS)) and after["response"] == (None, None)
    assert contracts.policy("standard", "low").escalation_after["response"] == ()


# -- errors: one line each, at the key the file has ---------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ({"rules": [{"when": {"target": "resolve"}, "levels": []}]},
     [f'{KEY}.rules.0.when.target.0: must be "response", "update", "workaround" or "resolution", not "resolve"']),
    ({"rules": [{"when": {"severity": ["critical", "urgent"]}, "levels": []}]},
     [f'{KEY}.rules.0.when.severity.1: unknown severity "urgent" (known: critical, high, medium, low)']),
    ({"rules": [{"levels": [{"to": "cto@example.com", "after": "4 hors"}]}]},
     [f'{KEY}.rules.0.levels.0.after: "4 hors" is not a duration']),
    ({"rules": [{"levels": [{"to": "a@example.com", "after": "4 hours"}, {"to": "b@example.com", "after": "1 hour"}]}]},
     [f'{KEY}.rules.0.levels.1.after: "1 hour" comes before the level above it ("4 hours")']),
    ({"chain": [{"to": "lead@example.com", "after": "1 hour"}]},
     [f"{KEY}.chain.0.after: is allowed only in rules (requests climb the chain one level per request)"]),
    ({"rules": [{"when": {"targets": "response"}, "levels": []}]},
     [f'{KEY}.rules.0.when.targets: unknown key (did you mean "target"?)']),
    (["lead@example.com", "not an address"],
     [f'{KEY}.1: "not an address" is not an email address (write it bare: name@example.com)']),
    ("lead@example.com", [f"{KEY}: must be a list of addresses, or {{chain: [addresses], rules: [{{when, levels}}]}}"]),
])
def test_a_bad_long_form_is_a_config_error_naming_its_path(tmp_path: Path, value: Any, expected: list[str]) -> None:
    """Unknown targets and severities, bad durations and addresses, levels out of order: one clear line each."""
    assert problems(tmp_path, value) == expected


# -- the agenda's timed levels ------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # Mon 2 Mar 09:00 PST


def timed_policy() -> Policy:
    rules = {"response": TargetRule(parse_duration("4 business hours"), PACIFIC)}
    return Policy(targets=rules, calendar=PACIFIC, warn_share=None,
                  escalation_after={"response": (None, parse_duration("30 minutes"), None)})


def test_a_timed_level_falls_its_after_past_the_due_time_and_default_levels_keep_their_multiple() -> None:
    """Level 1 at the due time (Mon 13:00 PST), level 2 30 minutes later, level 3 at 3 x 4 open hours (Tue 12:00 PST).

    From Mon 09:00 PST on a 08:00-17:00 calendar: 4 open hours end Mon 13:00 PST (21:00 UTC); 12 end Tue 12:00
    PST (Mon 8 h, Tue 4 h) = Tue 20:00 UTC.
    """
    facts = Facts(created_at=T0, status=Status.OPEN)
    plan = agenda(facts, timed_policy(), T0 + timedelta(hours=4, minutes=30))
    assert [(a.target, a.level) for a in plan.actions] == [("response", 1), ("response", 2)]
    assert plan.next_check_at == datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
    early = agenda(facts, timed_policy(), T0 + timedelta(hours=4, minutes=10))
    assert [a.level for a in early.actions] == [1] and early.next_check_at == T0 + timedelta(hours=4, minutes=30)


def test_a_timed_level_waits_while_the_clock_is_paused() -> None:
    """Waiting on the customer from Mon 13:10 PST: the breach at 13:00 stands, the 13:30 level is held back."""
    facts = Facts(created_at=T0, status=Status.WAITING_ON_CUSTOMER, paused_since=T0 + timedelta(hours=4, minutes=10))
    plan = agenda(facts, timed_policy(), T0 + timedelta(hours=5))
    assert [a.level for a in plan.actions] == [1] and plan.next_check_at is None
