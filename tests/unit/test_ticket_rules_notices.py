"""The ticket rules' decisions about people, on plain objects (no database).

Who works a ticket and whose turn it is, who is told of a change, an escalation or a refusal,
when a new ticket's acknowledgement is held back, and what a customer's email may show. The
rules that write (inbox.tickets.changes, escalation, assignment, acknowledging, notices, sweep)
call these same functions.
"""

from __future__ import annotations

from datetime import timedelta

from inbox.domain.people import Authentication
from inbox.sla.agenda import Dues
from inbox.store.sent import Sent
from inbox.tickets import CUSTOMER_KINDS, context, for_customer, target_context
from inbox.tickets.acknowledging import (ANSWERS_OUR_MAIL, budget_counter, each_answers_ours,
                                         is_run_of_acknowledgements, unknown_sender_hold)
from inbox.tickets.assignment import engineers, in_turn, matching_rule, rotation_counter
from inbox.tickets.changes import severity_change_staff
from inbox.tickets.due_times import following_update
from inbox.tickets.escalation import escalation_staff, next_escalation, refusal_staff
from inbox.tickets.opening import is_designated
from tests.unit.desk_kit import CHAIN, ENGINEER, OTHER_TAM, T0, TAM, TEAM, desk, facts, settings

# --- who works a ticket, and whose turn it is ---------------------------------------------------


def test_the_first_assignment_rule_that_matches_picks_the_team() -> None:
    """Rules are tried in order; a rule without `when` matches every ticket; no plan, no rule."""
    kit = desk()
    found = matching_rule(kit, "standard", "critical", "billing", "globex")
    assert found is not None and (found[0], found[1].team) == (0, ["oncall@example.com"])  # severity comes first
    found = matching_rule(kit, "standard", "low", "billing", "globex")
    assert found is not None and (found[0], found[1].team) == (1, ["billing@example.com"])
    found = matching_rule(kit, "standard", "low", "billing", "acme")  # billing is Globex's rule only
    assert found is not None and (found[0], found[1].team) == (2, TEAM)
    assert matching_rule(kit, "basic", "low", None, "initech") is None  # a plan without rules
    assert matching_rule(kit, None, "low", None, None) is None


def test_a_tickets_engineers_are_its_assignee_else_its_team_else_every_agent() -> None:
    """Who gets an SLA warning, or an escalation where the plan has no chain."""
    kit = desk()
    assert engineers(kit, facts(assignee=ENGINEER)) == [ENGINEER]
    assert engineers(kit, facts(severity="critical")) == ["oncall@example.com"]
    assert engineers(kit, facts()) == TEAM
    assert engineers(kit, facts(plan="basic", customer_id="initech")) == kit.settings.agents


def test_a_team_takes_turns_round_and_round() -> None:
    """Turn 1 is the team's first engineer, and the turns wrap round; a team of one always has the turn."""
    assert [in_turn(TEAM, turn) for turn in range(1, 8)] == [*TEAM, *TEAM, TEAM[0]]
    assert in_turn(["solo@example.com"], 41) == "solo@example.com"


def test_each_plan_and_rule_has_its_own_turn_counter_of_one_length() -> None:
    """Two rules, or two plans, never share turns; a long plan name makes no longer counter name."""
    names = {rotation_counter(plan, index) for plan in ("standard", "basic", "x" * 200, None) for index in (0, 1)}
    assert len(names) == 8
    assert {len(name) for name in names} == {len("assign:") + 16 + len(":0")}
    assert rotation_counter("standard", 2) == rotation_counter("standard", 2)  # the same counter every time


# --- who is told of a change ---------------------------------------------------------------------


def test_a_severity_change_tells_the_assignee_unless_the_change_is_theirs() -> None:
    """The account manager who asked and the assignee are told; an engineer is not told of their own change."""
    assert severity_change_staff(ENGINEER, TAM, also_tell=[TAM]) == [TAM, ENGINEER]
    assert severity_change_staff(ENGINEER, ENGINEER) == []  # the engineer's own #severity
    assert severity_change_staff(None, TAM, also_tell=[TAM]) == [TAM]
    assert severity_change_staff(None, "cli") == []


def test_each_escalation_request_reaches_one_level_further_and_the_top_again() -> None:
    """Team lead, manager, executive; a fourth request reaches the executive again (whether it is told again
    today is `request_escalation`'s call); no chain, no level."""
    levels = [None, 1, 2, 3, 3]
    assert [next_escalation(CHAIN, level) for level in levels] == [
        (1, CHAIN[0]), (2, CHAIN[1]), (3, CHAIN[2]), (3, CHAIN[2]), (3, CHAIN[2])]
    assert next_escalation([], None) == (0, None)
    assert next_escalation([], 2) == (0, None)


def test_an_escalation_request_tells_the_chain_and_the_assignee_else_the_engineers() -> None:
    """The chain's person and the assignee; without a chain, whoever works the ticket."""
    kit = desk()
    assert escalation_staff(kit, facts(assignee=ENGINEER), CHAIN[1]) == [CHAIN[1], ENGINEER]
    assert escalation_staff(kit, facts(), CHAIN[0]) == [CHAIN[0]]
    assert escalation_staff(kit, facts(assignee=ENGINEER), None) == [ENGINEER]  # no chain: the engineers
    assert escalation_staff(kit, facts(severity="critical"), None) == ["oncall@example.com"]


def test_refused_keywords_are_told_to_the_tickets_own_account_managers_only() -> None:
    """Never to the stranger (or the other customer's manager) who wrote them; a customer's "#close" tells nobody."""
    config = settings()
    assert refusal_staff(config, "acme") == [TAM]
    assert refusal_staff(config, "globex") == [OTHER_TAM]
    assert refusal_staff(config, "acme", tell=False) == []
    assert refusal_staff(config, "initech") == []  # a customer without account managers
    assert refusal_staff(config, None) == []


def test_a_breach_alert_goes_one_level_up_the_plans_chain_per_breach() -> None:
    """Level n tells the chain's n-th person; beyond the chain, or without one, nobody."""
    contracts = desk().contracts
    assert [contracts.escalation("standard", level) for level in (1, 2, 3)] == CHAIN
    assert contracts.escalation("standard", 0) is None and contracts.escalation("standard", 4) is None
    assert contracts.escalation("basic", 1) is None and contracts.escalation(None, 1) is None


# --- whether a new ticket's sender is told ---------------------------------------------------------


def test_only_designated_contacts_may_open_tickets_where_the_plan_says_so() -> None:
    """On plan basic only the listed contacts (any case) are designated; elsewhere every sender is."""
    kit = desk()
    config = kit.settings
    initech, acme = config.customer("initech"), config.customer("acme")
    assert is_designated(kit, initech, "peter@initech.test") and is_designated(kit, initech, "Bill@Initech.test")
    assert not is_designated(kit, initech, "milton@initech.test")
    assert is_designated(kit, acme, "anyone@acme.com")  # plan standard designates nobody
    assert is_designated(kit, None, "stranger@elsewhere.test")


def test_an_unknown_sender_is_acknowledged_as_the_config_says() -> None:
    """`all` acknowledges everyone; `none` no unknown sender; `authenticated` an unknown sender whose
    From domain is proven. Known senders pass whatever the setting."""
    asked: list[str] = []

    def prove(passed: bool):
        def lookup() -> Authentication:
            asked.append("dns")
            return Authentication(passed, "dkim" if passed else None, "signed" if passed else "no DKIM signature")
        return lookup

    assert unknown_sender_hold("all", False, "elsewhere.test", prove(False)) is None
    assert unknown_sender_hold("none", True, "acme.com", prove(False)) is None
    assert unknown_sender_hold("authenticated", True, "acme.com", prove(False)) is None
    assert unknown_sender_hold("none", False, "elsewhere.test", prove(True)) == (
        "unknown_senders.acknowledge is none: a sender that matches no customer is not acknowledged")
    assert asked == []  # no lookup unless the answer depends on it
    assert unknown_sender_hold("authenticated", False, "elsewhere.test", prove(True)) is None
    assert unknown_sender_hold("authenticated", False, "elsewhere.test", prove(False)) == (
        "unknown_senders.acknowledge is authenticated, and the From domain elsewhere.test is not proven: "
        "no DKIM signature")
    assert asked == ["dns", "dns"]


def test_a_desk_loop_is_a_run_of_automatic_acknowledgements_within_the_window() -> None:
    """Three acknowledgements within 24 hours are a run; two, a person's email among them, or a
    run spread wider than the window are not."""
    day = timedelta(hours=24)

    def ack(ticket_id: int, hours: int) -> Sent:
        return Sent(ticket_id, "acknowledgement", True, T0 + timedelta(hours=hours))

    run = [ack(3, 2), ack(2, 1), ack(1, 0)]  # newest first, as the outbox reads them
    assert is_run_of_acknowledgements(run, 3, day)
    assert not is_run_of_acknowledgements(run[:2], 3, day)
    assert not is_run_of_acknowledgements([run[0], Sent(2, "agent_reply", False, T0 + timedelta(hours=1)), run[2]], 3, day)
    assert is_run_of_acknowledgements([ack(3, 2), ack(2, 1), ack(1, -22)], 3, day)  # 24 hours apart: inside
    assert not is_run_of_acknowledgements([ack(3, 2), ack(2, 1), ack(1, -23)], 3, day)


def test_a_desk_loop_needs_every_ticket_of_the_run_opened_by_an_answer_to_ours() -> None:
    """One ticket of the run not flagged, not found, or no ticket at all: no loop."""
    run = [Sent(n, "acknowledgement", True, T0) for n in (3, 2, 1)]
    flagged = {n: (f"SUP-00000{n}", [ANSWERS_OUR_MAIL]) for n in (1, 2, 3)}
    assert each_answers_ours(run, flagged)
    assert not each_answers_ours(run, {**flagged, 2: ("SUP-000002", ["not-designated-contact"])})
    assert not each_answers_ours(run, {n: flagged[n] for n in (1, 3)})  # a ticket not found
    assert not each_answers_ours([*run[:2], Sent(None, "acknowledgement", True, T0)], flagged)


def test_new_senders_are_counted_per_domain_and_clock_hour() -> None:
    """The budget's counter: one per sender domain and UTC hour, its name of one length."""
    hour = T0.replace(minute=0)
    assert budget_counter("acme.com", hour) != budget_counter("acme.com", hour + timedelta(hours=1))
    assert budget_counter("acme.com", hour) != budget_counter("globex.test", hour)
    assert budget_counter("acme.com", hour).startswith("new:2026030217:")
    assert len(budget_counter("x" * 250 + ".test", hour)) == len(budget_counter("acme.com", hour))


# --- what a customer's email may show -----------------------------------------------------------


def test_a_customers_email_names_our_people_never_shows_their_addresses() -> None:
    """Every value that is one of our people's addresses (bare or with a display name) becomes the
    name customers read for them; `ticket.assignee_address` alone keeps it; free text and the
    customer's own addresses are left as written."""
    kit = desk()
    data = context(kit, facts(assignee=ENGINEER), change={"by": TAM, "why": "#severity high"},
                   escalation={"told": [f"Lead <{CHAIN[0]}>", "alice@acme.com"], "text": f"ask {TAM} please"})
    shown = for_customer(kit.settings, data)
    assert shown["ticket"]["assignee"] == "Jane Doe" and shown["ticket"]["assignee_name"] == "Jane Doe"
    assert shown["ticket"]["assignee_address"] == ENGINEER
    assert shown["change"]["by"] == "Example Support"  # no name given for the account manager
    assert shown["escalation"]["told"] == ["Example Support", "alice@acme.com"]
    assert shown["escalation"]["text"] == f"ask {TAM} please"
    assert shown["ticket"]["requester"] == "alice@acme.com"
    assert data["change"]["by"] == TAM  # the staff copy is untouched


def test_data_queued_before_names_existed_gets_them_too() -> None:
    """An outbox row's old context has `assignee` but no `assignee_address` or `assignee_name`."""
    old = {"ticket": {"assignee": ENGINEER, "tracking": "SUP-000001"}}
    shown = for_customer(settings(), old)
    assert shown["ticket"] == {"assignee": "Jane Doe", "tracking": "SUP-000001", "assignee_address": ENGINEER,
                               "assignee_name": "Jane Doe"}


def test_staff_only_kinds_of_email_never_go_to_a_customer() -> None:
    """The kinds written for our people are not customer kinds, so they are never given the customer's view."""
    staff_only = {"assigned", "sla_warning", "breach_alert", "escalation_request", "escalation_refused",
                  "command_refused"}
    assert not staff_only & CUSTOMER_KINDS
    assert {"acknowledgement", "not_designated", "agent_reply", "escalation_received", "solved", "closed"} <= CUSTOMER_KINDS


def test_times_in_an_email_are_written_in_the_plans_time_zone() -> None:
    """Due times read as people in the plan's zone read them; without a plan, in UTC."""
    kit = desk()
    data = context(kit, facts(dues=Dues(first_response_due=T0 + timedelta(hours=4))))
    assert data["timezone"] == "America/Los_Angeles"
    assert data["ticket"]["created_at"] == "Monday 2 March 2026, 09:00 PST"
    assert data["ticket"]["first_response_due"] == "Monday 2 March 2026, 13:00 PST"
    assert data["ticket"]["customer"] == "Acme Corp"
    assert context(kit, facts(customer_id=None, plan=None))["ticket"]["customer"] == "unknown sender"
    assert context(kit, facts(customer_id=None, plan=None))["timezone"] == "UTC"
    target = target_context(kit, facts(severity="critical"), "response", T0 + timedelta(hours=4))
    assert target == {"name": "response", "duration": "4 business hours", "due": "Monday 2 March 2026, 13:00 PST",
                      "due_at": "2026-03-02T21:00:00+00:00"}


def test_an_email_to_the_customer_restarts_the_update_cadence_it_announces() -> None:
    """A critical ticket's next update is due 24 hours after this email; a ticket without an update
    target, or solved, keeps its due times."""
    kit = desk()
    at = T0 + timedelta(hours=5)
    due = Dues(next_update_due=T0 + timedelta(hours=24))
    assert following_update(kit, facts(severity="critical", dues=due), at).dues.next_update_due == at + timedelta(hours=24)
    assert following_update(kit, facts(severity="low", dues=due), at).dues == due
    assert following_update(kit, facts(severity="critical", status="solved", dues=due), at).dues == due
