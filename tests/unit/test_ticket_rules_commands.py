"""The ticket rules' decisions about command lines and severity, on plain objects (no database).

Who a sender is to a ticket, which command lines each may use, which severity a rule, a stated
severity or a keyword sets and whether it may lower it, and what an engineer's line changes.
The rules that write (inbox.tickets.replies, opening) call these same functions.
"""

from __future__ import annotations

import pytest

from classifiers import Command, classify, parse_commands
from inbox.domain.message import ParsedMessage
from inbox.domain.people import Authentication, Role, refusal, severity_target, status_named
from inbox.domain.ticket import Status
from inbox.tickets.opening import customer_view
from inbox.tickets.closing import NOT_THEIRS, CloseRight
from inbox.tickets.replies import agent_line, customer_asks, is_relayed, manager_line, role_of
from tests.unit.desk_kit import ENGINEER, OTHER_TAM, TAM, settings

SEVERITIES = ["critical", "high", "medium", "low"]
PROVEN = Authentication(True, "dkim", "DKIM signature of example.com verified", once=("dkim:1",))
UNPROVEN = Authentication(False, None, "no DKIM signature")


def line(text: str) -> Command:
    """The one command line in `text`."""
    [command] = parse_commands(text)
    return command


# --- who the sender is, and what each may use --------------------------------------------------


def test_the_sender_is_an_agent_the_tickets_account_manager_or_else_a_customer() -> None:
    """An agent is an agent on any ticket; an account manager only on their own customer's tickets."""
    config = settings()
    acme, globex = config.customer("acme"), config.customer("globex")
    assert role_of(config, acme, ENGINEER) is Role.AGENT
    assert role_of(config, None, " Engineer@Example.com ") is Role.AGENT  # as the config's lookups compare
    assert role_of(config, acme, TAM) is Role.ACCOUNT_MANAGER
    assert role_of(config, acme, TAM.upper()) is Role.ACCOUNT_MANAGER
    assert role_of(config, acme, OTHER_TAM) is Role.CUSTOMER  # Globex's manager has no say on Acme's tickets
    assert role_of(config, globex, TAM) is Role.CUSTOMER
    assert role_of(config, None, TAM) is Role.CUSTOMER  # an unknown sender's ticket has no account manager
    assert role_of(config, acme, "alice@acme.com") is Role.CUSTOMER


@pytest.mark.parametrize("verb", ["escalate", "deescalate", "severity", "status", "workaround", "solve", "close",
                                  "assign", "internal", "category"])
def test_an_engineer_may_use_every_command(verb: str) -> None:
    """Every command line is an engineer's to use."""
    assert refusal(Role.AGENT, verb) is None


def test_an_account_manager_may_use_only_the_severity_keywords() -> None:
    """#escalate, #deescalate and #severity; every other line is refused as an engineer's."""
    for verb in ("escalate", "deescalate", "severity"):
        assert refusal(Role.ACCOUNT_MANAGER, verb) is None, verb
    for verb in ("status", "solve", "close", "assign", "workaround", "internal", "category"):
        assert refusal(Role.ACCOUNT_MANAGER, verb) == (
            f"#{verb} is an engineer's command; an account manager may use #escalate, #severity, #deescalate "
            "and #confirm")


def test_a_customer_may_use_no_command() -> None:
    """The severity keywords are an account manager's; the rest an engineer's."""
    for verb in ("escalate", "deescalate", "severity"):
        assert refusal(Role.CUSTOMER, verb) == "only an account manager of the ticket's customer may change its severity"
    assert refusal(Role.CUSTOMER, "close") == "#close is an engineer's command"


# --- which severity a keyword sets ------------------------------------------------------------


@pytest.mark.parametrize(("verb", "argument", "current", "target"), [
    ("escalate", "", "low", "medium"),  # one level up
    ("escalate", "Critical", "low", "critical"),  # straight there, any case
    ("deescalate", "", "critical", "high"),  # one level down
    ("severity", "low", "critical", "low"),  # #severity names the level, lower included
    ("severity", " HIGH ", "low", "high"),
    ("escalate", "", "unheard-of", "medium"),  # a severity no longer configured counts as the lowest
])
def test_a_severity_keyword_names_its_target(verb: str, argument: str, current: str, target: str) -> None:
    """One level up or down, or straight to a named severity; #severity may also lower it."""
    assert severity_target(verb, argument, current, SEVERITIES) == (target, "")


@pytest.mark.parametrize(("verb", "argument", "current", "reason"), [
    ("escalate", "low", "high", "#escalate low would lower the severity from high; use #severity low"),
    ("escalate", "", "critical", "already at the highest severity, critical"),
    ("deescalate", "", "low", "already at the lowest severity, low"),
    ("severity", "", "low", "#severity needs a severity (one of critical, high, medium, low)"),
    ("severity", "urgent", "low", '"urgent" is not a severity (known: critical, high, medium, low)'),
    ("severity", "high", "high", "the severity is already high"),
    ("escalate", "high", "high", "the severity is already high"),
])
def test_a_severity_keyword_that_cannot_be_followed_says_why(verb: str, argument: str, current: str,
                                                             reason: str) -> None:
    """#escalate never lowers; the ends of the scale, unknown names and no change are refused."""
    assert severity_target(verb, argument, current, SEVERITIES) == (None, reason)


def test_an_account_managers_line_needs_the_right_then_the_proof_then_a_severity_it_can_follow() -> None:
    """The right to the command is checked before the proof, so an engineer's command from a manager
    is refused as such, signed or not; a severity keyword needs a proven sender."""
    assert manager_line(line("#escalate"), PROVEN, "low", SEVERITIES) == ("medium", "")
    assert manager_line(line("#severity low"), PROVEN, "critical", SEVERITIES) == ("low", "")
    assert manager_line(line("#escalate"), UNPROVEN, "low", SEVERITIES) == (
        None, "not authenticated: no DKIM signature")
    for proof in (PROVEN, UNPROVEN):
        target, reason = manager_line(line("#solve"), proof, "low", SEVERITIES)
        assert target is None and reason.startswith("#solve is an engineer's command")
    assert manager_line(line("#escalate"), PROVEN, "critical", SEVERITIES) == (
        None, "already at the highest severity, critical")


def test_a_plans_stated_severity_rule_reaches_the_classifier() -> None:
    """On plan standard a customer's "Severity: 1" raises the ticket, but only up to high; an
    unknown sender's plan lets it raise nothing; the rules' own severity is not capped."""
    config = settings()
    acme, initech = config.customer("acme"), config.customer("initech")
    view = customer_view(config, acme, "standard")
    assert (view.id, view.plan, view.stated_may_raise, view.stated_up_to) == ("acme", "standard", True, "high")
    assert customer_view(config, None, None).stated_may_raise is False
    stated = ParsedMessage(message_id=None, subject="Severity: 1 - printer", from_addr="alice@acme.com")
    assert classify(stated, view, config.rule_set, config.severities).severity == "high"
    assert classify(stated, customer_view(config, initech, "basic"), config.rule_set, config.severities).severity == "low"
    outage = ParsedMessage(message_id=None, subject="outage", from_addr="alice@acme.com")
    verdict = classify(outage, view, config.rule_set, config.severities)
    assert verdict.severity == "critical" and [h.rule for h in verdict.hits] == ["outage"]


# --- what a customer's reply asks ---------------------------------------------------------------


def test_a_customers_escalate_is_a_request_and_every_other_line_is_refused() -> None:
    """"#escalate critical" asks, with "critical" as the wish; "#close" is refused and only recorded;
    "#severity" is refused and the account managers hear of it."""
    asks = customer_asks(parse_commands("#escalate critical\n#close\n"), "#escalate critical\n#close\n")
    assert (asks.escalating, asks.wish, asks.on_severity) == (True, "critical", False)
    assert asks.refused == [{"line": "#close", "reason": "#close is an engineer's command"}]
    asks = customer_asks(parse_commands("#severity critical\n"), "#severity critical\n")
    assert (asks.escalating, asks.wish, asks.on_severity) == (False, None, True)
    assert asks.refused == [{"line": "#severity critical",
                             "reason": "only an account manager of the ticket's customer may change its severity"}]


def test_a_customer_asking_in_words_escalates_without_a_wish() -> None:
    """"Please escalate" in words is a request too, with no severity wished for; thanks are not."""
    text = "This is the third time. Please escalate this to your manager."
    asks = customer_asks((), text)
    assert (asks.escalating, asks.wish, asks.refused, asks.on_severity) == (True, None, [], False)
    bare = customer_asks(parse_commands("#escalate\n"), "#escalate\n")
    assert (bare.escalating, bare.wish) == (True, None)  # a bare #escalate names no wish
    assert customer_asks((), "Thanks, that fixed it.").escalating is False


def test_a_customer_closes_only_where_the_plan_lets_them_and_only_their_own_ticket() -> None:
    """"#close" or "please close this ticket" closes for the ticket's own customer; a stranger's is refused
    with the reason; where the plan does not allow it "#close" stays an engineer's line and words are words."""
    text = "#close\n#solve\n"
    own = customer_asks(parse_commands(text), text, CloseRight.MAY)
    assert own.closing == "#close"
    assert own.refused == [{"line": "#solve", "reason": "#solve is an engineer's command"}]  # still not theirs
    words = "It works again. Please close this ticket."
    assert customer_asks((), words, CloseRight.MAY).closing == "Please close this ticket"
    stranger = customer_asks((), words, CloseRight.NOT_THEIRS)
    assert stranger.closing is None and stranger.refused == [{"line": "Please close this ticket", "reason": NOT_THEIRS}]
    assert customer_asks((), words, CloseRight.NOT_IN_PLAN) == customer_asks((), words)  # the default: no right
    assert customer_asks((), words).refused == [] and customer_asks((), words).closing is None
    assert customer_asks((), "Please do not close this ticket yet.", CloseRight.MAY).closing is None


# --- what an engineer's line changes ------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("#escalate", "medium"),
    ("#severity critical", "critical"),
    ("#solve", Status.SOLVED),
    ("#close", Status.CLOSED),
    ("#status Waiting on customer", Status.WAITING_ON_CUSTOMER),
    ("#assign <B@Example.com>", "b@example.com"),
    ("#category Billing   Issue", "billing-issue"),
    ("#workaround restart nightly", None),
    ("#internal customer is on 2.1", None),
])
def test_an_engineers_line_names_what_it_sets(text: str, value: str | None) -> None:
    """Each engineer's line names a severity, a status, an agent's address or a category; some name nothing."""
    assert agent_line(settings(), "low", line(text)) == (value, None)


@pytest.mark.parametrize(("text", "reason"), [
    ("#status sleeping", '"sleeping" is not a status (one of open, pending, '
                         'waiting-on-customer, waiting-on-third-party, solved, closed)'),
    ("#assign alice@acme.com", '"alice@acme.com" is not one of the engineers (agents) in the config'),
    ("#assign tam@example.com", '"tam@example.com" is not one of the engineers (agents) in the config'),
    ("#category", "#category needs a name, such as billing"),
    ("#deescalate", "already at the lowest severity, low"),
])
def test_an_engineers_line_that_cannot_be_carried_out_says_why(text: str, reason: str) -> None:
    """An unknown status, a non-agent assignee, an empty category or an impossible severity is refused with its reason."""
    assert agent_line(settings(), "low", line(text)) == (None, reason)


def test_status_names_are_read_as_people_write_them() -> None:
    """Any case, spaces or underscores for hyphens; an unknown name is no status."""
    assert status_named("waiting-on-customer") is Status.WAITING_ON_CUSTOMER
    assert status_named(" Waiting_On  Customer ") is Status.WAITING_ON_CUSTOMER
    assert status_named("Solved") is Status.SOLVED
    assert status_named("done") is None


def test_an_engineers_reply_is_relayed_only_with_words_and_without_internal() -> None:
    """The customer gets the reply when words stand beside its command lines and no #internal keeps it ours."""
    assert is_relayed("We found the cause.", parse_commands("#status pending\n")) is True
    assert is_relayed("", parse_commands("#solve\n")) is False  # commands only: nothing to relay
    assert is_relayed("Customer is on 2.1.", parse_commands("#internal\n#solve\n")) is False
