"""The five real support policies in config/examples/ load, and say what their policy text says."""

from datetime import time
from pathlib import Path

import pytest

from inbox.settings import END_OF_DAY, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config" / "examples"
SEEDS = ROOT.parent / "shared" / "seeds"  # present in the project's workspace, not in every checkout

SEED_OF = {
    "akemona.yaml": "000_ac20ac7af9d4c450.txt",
    "secpod.yaml": "001_dfb0c2b2355a46f2.txt",
    "standard-enterprise.yaml": "002_a0346aad1bf0267a.txt",
    "apporetum.yaml": "003_004a40f2f22f709b.txt",
    "viakoo.yaml": "004_a1ef7ea83885de77.txt",
}

WEEKDAYS = range(5)
WEEKEND = (5, 6)


def example(name: str) -> Settings:
    return load_settings(EXAMPLES / name)


def targets(settings: Settings, plan: str) -> dict[str, dict[str, str]]:
    """Each severity's targets as the config prints them: {"critical": {"response": "4 business hours"}}."""
    return {
        severity: {key: str(value) for key, value in target.model_dump().items() if value is not None}
        for severity, target in settings.plans[plan].targets.items()
    }


def assert_weekdays(settings: Settings, calendar: str, opens: time, closes: time) -> None:
    weekly = settings.calendars[calendar].weekly
    for day in WEEKDAYS:
        assert weekly[day] == ((opens, closes),)
    for day in WEEKEND:
        assert weekly[day] == ()


def assert_round_the_clock(settings: Settings, calendar: str, timezone: str) -> None:
    cal = settings.calendars[calendar]
    assert cal.timezone == timezone
    assert cal.always_open  # 24x7 and closed on no holiday


def header(path: Path) -> str:
    """The comment block at the top of a file, up to its first key."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


# -- every shipped example ------------------------------------------------------------------------


def test_the_examples_are_the_five_policies() -> None:
    """config/examples holds exactly one file per seed policy."""
    assert sorted(path.name for path in EXAMPLES.glob("*.yaml")) == sorted(SEED_OF)


@pytest.mark.parametrize("name", sorted(SEED_OF))
def test_each_example_names_its_seed_figures_and_assumptions(name: str) -> None:
    """Each file opens with a comment naming its seed file, the figures taken from it and its assumptions."""
    top = header(EXAMPLES / name)
    assert f"# Source seed: seeds/{SEED_OF[name]}" in top
    assert "Figures taken from the policy:" in top
    assert "Assumptions (not in the policy text):" in top
    if SEEDS.is_dir():
        assert (SEEDS / SEED_OF[name]).is_file()


@pytest.mark.parametrize("name", sorted(SEED_OF))
def test_each_example_keeps_its_state_and_mail_apart(name: str) -> None:
    """Each file has its own database and maildir, and sends from the address it receives on."""
    stem = name.removesuffix(".yaml")
    settings = example(name)
    assert settings.database.url == f"sqlite:///var/{stem}.db"
    assert settings.outbound.transport == "maildir"
    assert settings.outbound.maildir == Path(f"var/sent-{stem}")
    assert settings.outbound.from_email in settings.addresses
    assert settings.customers and settings.agents
    assert all(customer.contacts and customer.account_managers for customer in settings.customers)
    assert settings.unknown_senders.plan in settings.plans


# -- one test per policy --------------------------------------------------------------------------


def test_akemona() -> None:
    """Akemona: "Business Hours: 8:00 AM – 5:00 PM PST, Monday–Friday (excluding holidays)" and its goals table."""
    settings = example("akemona.yaml")
    assert settings.severities == ["critical", "high", "medium", "low"]
    assert settings.lowest_severity == "low"
    calendar = settings.calendars["pacific"]
    assert calendar.timezone == "America/Los_Angeles"
    assert_weekdays(settings, "pacific", time(8), time(17))
    assert calendar.holidays is not None and calendar.holidays.country == "US"
    plan = settings.plans["subscription"]
    assert plan.calendar == "pacific"
    assert targets(settings, "subscription") == {
        "critical": {"response": "4 business hours", "workaround": "24 hours"},
        "high": {"response": "8 business hours", "workaround": "7 business days"},
        "medium": {"response": "24 business hours", "workaround": "10 business days"},
        "low": {"response": "48 business hours"},  # "May be included in a future software release"
    }
    assert len(plan.breach_escalation.requests) == 2  # assumed lead -> manager
    # "Up to three (3) designated customer contacts": the plan enforces it, and anyone else at the
    # customer's domains is recognised, then flagged.
    assert plan.designated_contacts == 3
    assert all(1 <= len(customer.contacts) <= 3 and customer.domains for customer in settings.customers)


def test_secpod() -> None:
    """SecPod: "24 hours, Monday through Friday", critical also "Saturday/Sunday/Closed Holidays"."""
    settings = example("secpod.yaml")
    assert settings.severities == ["critical", "high", "medium", "low"]
    assert settings.lowest_severity == "low"
    calendar = settings.calendars["weekdays"]
    assert calendar.timezone == "Asia/Kolkata"
    assert_weekdays(settings, "weekdays", time(0), END_OF_DAY)
    assert calendar.holidays is not None
    assert (calendar.holidays.country, calendar.holidays.subdivision) == ("IN", "KA")
    assert_round_the_clock(settings, "always", "Asia/Kolkata")
    plan = settings.plans["sla"]
    assert plan.calendar == "weekdays"
    assert targets(settings, "sla") == {
        "critical": {"response": "2 hours", "calendar": "always"},  # "2 Hours or Less", weekends too
        "high": {"response": "6 business hours"},                   # "6 Hours or Less"
        "medium": {"response": "12 business hours"},                # "12 Hours or Less"
        "low": {"response": "2 business days"},                     # "2 Business Days or Less"
    }
    lifecycle = plan.lifecycle
    assert str(lifecycle.auto_solve_after) == "7 days"  # "more than 7 days"
    assert lifecycle.auto_solve_follow_ups == 3  # "after three follow-ups"
    assert str(lifecycle.remind_every) == "1 business day"  # the service follows up by itself (assumed interval)
    assert str(lifecycle.close_after_solved) == "3 days"  # "resolved status for more than 3 days"
    assert len(plan.breach_escalation.requests) == 2  # assumed lead -> manager


def test_standard_enterprise() -> None:
    """Standard "within one business day", 8-5 Central; Enterprise "within 30 minutes", "24x7, including holidays"."""
    settings = example("standard-enterprise.yaml")
    assert settings.severities == ["high", "medium", "low"]
    assert settings.lowest_severity == "low"
    central = settings.calendars["central"]
    assert central.timezone == "America/Chicago"
    assert_weekdays(settings, "central", time(8), time(17))
    assert central.holidays is not None and central.holidays.country == "US"
    assert_round_the_clock(settings, "always", "America/Chicago")

    standard = settings.plans["standard"]
    assert standard.calendar == "central"
    assert targets(settings, "standard") == {severity: {"response": "1 business day"} for severity in settings.severities}
    assert len(standard.breach_escalation.requests) == 2  # assumed: the first two Enterprise levels

    enterprise = settings.plans["enterprise"]
    assert enterprise.calendar == "always"
    assert targets(settings, "enterprise") == {severity: {"response": "30 minutes"} for severity in settings.severities}
    # "Level 1: Support team lead", "Level 2: Department manager", "Level 3: Executive management"
    assert len(enterprise.breach_escalation.requests) == 3
    assert {customer.plan for customer in settings.customers} == {"standard", "enterprise"}


def test_apporetum() -> None:
    """Apporetum: every email "will begin at the lowest support severity level"; the TAM escalates."""
    settings = example("apporetum.yaml")
    assert settings.severities == ["one", "two", "three"]
    assert settings.lowest_severity == "three"
    assert settings.addresses == ["support@apporetum.com.au"]
    sydney = settings.calendars["sydney"]
    assert sydney.timezone == "Australia/Sydney"
    assert_weekdays(settings, "sydney", time(9), time(17))  # assumed: the contract negotiates hours
    assert sydney.holidays is not None
    assert (sydney.holidays.country, sydney.holidays.subdivision) == ("AU", "NSW")
    assert_round_the_clock(settings, "always", "Australia/Sydney")
    assert set(settings.plans) == {"limited", "standard-business", "high-priority", "business-critical"}
    # "Dedicated support: Specialized and prioritized support team available 24/7."
    assert settings.plans["business-critical"].targets["one"].calendar == "always"
    # "Reasonable response times during business hours."
    assert all(target.calendar is None for target in settings.plans["standard-business"].targets.values())
    assert all(target.update is None for plan in settings.plans.values() for target in plan.targets.values())
    assert all(plan.lifecycle.auto_solve_after is None for plan in settings.plans.values())
    assert all(customer.account_managers for customer in settings.customers)


def test_viakoo() -> None:
    """Viakoo: "8:00 AM to 6:00 PM U.S. Pacific Time, Monday through Friday", its chart, "escalate ... to the CTO/CISO"."""
    settings = example("viakoo.yaml")
    assert settings.severities == ["serious", "major", "minor"]
    assert settings.lowest_severity == "minor"
    calendar = settings.calendars["pacific"]
    assert calendar.timezone == "America/Los_Angeles"
    assert_weekdays(settings, "pacific", time(8), time(18))
    assert calendar.holidays is not None and calendar.holidays.country == "US"
    assert calendar.holidays.subdivision is None
    plan = settings.plans["hosting-and-support"]
    assert plan.calendar == "pacific"
    assert targets(settings, "hosting-and-support") == {
        "serious": {"response": "4 business hours", "update": "24 hours",
                    "workaround": "48 hours", "resolution": "1 week"},
        # resolution: "Next Maintenance Release"
        "major": {"response": "8 business hours", "update": "1 week", "workaround": "30 days"},
        # update "Every month"; workaround and resolution "As mutually determined"
        "minor": {"response": "24 business hours", "update": "30 days"},
    }
    # "a resolution for a Critical or Serious Error ... escalate the issue to the CTO/CISO": nothing else escalates.
    escalation = plan.breach_escalation
    assert escalation.requests == []
    told = {(target, severity): [level.to for level in escalation.levels(target, severity)]
            for target in ("response", "update", "workaround", "resolution") for severity in settings.severities}
    assert {key: to for key, to in told.items() if to} == {("workaround", "serious"): ["cto-ciso@viakoo.com"],
                                                          ("resolution", "serious"): ["cto-ciso@viakoo.com"]}
    assert all(level.after is None for rule in escalation.rules for level in rule.levels)  # "immediately": at the due time
