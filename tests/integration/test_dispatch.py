"""Who a new ticket goes to and who hears of it: dispatch, links, escalation requests, designated contacts, rules.

End to end on a frozen clock and a real database (SQLite and PostgreSQL), on the config kit of
tests/people_kit.py with the parts each test needs. T0 is Monday 2 March 2026, 09:00 PST.
"""

from __future__ import annotations

import pytest

from inbox.domain.ticket import Outcome
from inbox.settings import ConfigError, load_settings
from inbox.store import tickets as store
from tests.fakes import mail
from tests.people_kit import ALICE, CUSTOMERS, ENGINEER, config, kinds, opened, pst, reply, write
from tests.seed_kit import mails
from tests.sla_kit import T0, TEMPLATES, Desk

A, B, C, ONCALL = "a@example.com", "b@example.com", "c@example.com", "oncall@example.com"
ROUND_ROBIN = ("[{{when: {{severity: critical}}, team: [oncall@example.com]}}, "
               "{{team: [a@example.com, b@example.com, c@example.com]}}]")


def new_tickets(desk: Desk, count: int) -> None:
    """`count` new tickets from Acme at T0, ticket n saying "Words of ticket n."; the jobs run."""
    for n in range(1, count + 1):
        data = mail(subject=f"Problem {n}", body=f"Words of ticket {n}.\n", message_id=f"<n{n}@acme.com>")
        assert desk.feed(data, at=T0) == Outcome.OPENED
    desk.run(T0)


def tracking(n: int) -> str:
    return f"SUP-{n:06d}"


# -- dispatch ----------------------------------------------------------------------------------------


def test_new_tickets_go_round_the_team_and_each_engineer_gets_the_customers_words(make_desk) -> None:
    """Four new low tickets go to a, b, c, a; each gets an `assigned` email quoting the customer's mail."""
    desk = make_desk(config(assignment=ROUND_ROBIN))
    new_tickets(desk, 4)
    assert [desk.ticket(tracking(n)).assignee for n in range(1, 5)] == [A, B, C, A]
    for n, engineer in zip(range(1, 5), [A, B, C, A]):
        [brief] = mails(desk, tracking(n), kind="assigned")
        assert (brief.at, brief.to) == (T0, engineer)
        assert f"Words of ticket {n}." in brief.text and ALICE in brief.text
        [event] = desk.events(tracking(n), kind="assigned")
        assert (event.actor, event.detail["to"], event.detail["team"]) == ("system", engineer, [A, B, C])


def test_raising_to_critical_moves_the_ticket_to_oncall_unless_an_engineer_assigned_it(make_desk) -> None:
    """`#severity critical` moves a's ticket to oncall (told); a ticket `#assign`ed to c by hand stays with c."""
    desk = make_desk(config(assignment=ROUND_ROBIN))
    new_tickets(desk, 2)
    assign = mail(sender=ENGINEER, subject="Re: [SUP-000002] Problem 2", body="#assign c@example.com\n",
                  message_id="<e1@example.com>", vouched=True)
    write(desk, pst(2, 10), assign)
    assert desk.ticket(tracking(2)).assignee == C
    [by_hand] = mails(desk, tracking(2), kind="assigned")[1:]
    assert (by_hand.at, by_hand.to) == (pst(2, 10), C) and ENGINEER in by_hand.text
    assert "Words of ticket 2." in by_hand.text
    for n in (1, 2):
        raise_ = mail(sender=ENGINEER, subject=f"Re: [{tracking(n)}] Problem {n}", body="#severity critical\n",
                      message_id=f"<s{n}@example.com>", vouched=True)
        write(desk, pst(2, 11), raise_)
        assert desk.ticket(tracking(n)).severity == "critical"
    assert desk.ticket(tracking(1)).assignee == ONCALL
    assert (pst(2, 11), ONCALL, "assigned") in kinds(desk, tracking(1))
    assert desk.ticket(tracking(2)).assignee == C
    assert [m.to for m in mails(desk, tracking(2), kind="assigned")] == [B, C]
    assert [e.detail["to"] for e in desk.events(tracking(2), kind="assigned")] == [B, C]


def test_assigning_to_someone_who_is_not_an_engineer_is_refused(make_desk) -> None:
    """`#assign x@example.com` (not in agents): refused with its reason, the engineer told, the assignee unchanged."""
    desk = make_desk(config(assignment=ROUND_ROBIN))
    new_tickets(desk, 1)
    write(desk, pst(2, 10), reply("#assign x@example.com\nHanding this over.\n", 2, sender=ENGINEER,
                                  subject="Re: [SUP-000001] Problem 1"))
    assert desk.ticket().assignee == A
    [refused] = desk.events(kind="command_refused")
    [line] = refused.detail["lines"]
    assert line["line"] == "#assign x@example.com" and "not one of the engineers" in line["reason"]
    [told] = mails(desk, tracking(1), kind="command_refused")
    assert told.to == ENGINEER and "#assign x@example.com" in told.text
    assert [m.to for m in mails(desk, tracking(1), kind="assigned")] == [A]


# -- links ---------------------------------------------------------------------------------------------


def test_a_new_mail_naming_another_ticket_in_its_body_is_linked_to_it(make_desk) -> None:
    """Bob's new mail saying "related to SUP-000001" opens SUP-000002, linked to SUP-000001."""
    desk = make_desk(config(customers=CUSTOMERS.replace("contacts: [alice@acme.com]",
                                                        "contacts: [alice@acme.com, bob@acme.com]")))
    opened(desk)
    related = mail(sender="bob@acme.com", subject="Scanner smells of smoke",
                   body="This looks related to SUP-000001, the printer fire.\n", message_id="<b1@acme.com>")
    write(desk, pst(2, 10), related, Outcome.OPENED)
    with desk.app.sessions() as session:
        assert store.linked_trackings(session, desk.ticket(tracking(2)).id) == ["SUP-000001"]
    [linked] = desk.events(tracking(2), kind="linked")
    assert (linked.at, linked.detail["linked"]) == (pst(2, 10), ["SUP-000001"])
    assert desk.ticket(tracking(1)).status == "open" and desk.events(tracking(1), kind="appended") == []


def test_a_reply_naming_another_ticket_links_the_two_once(make_desk) -> None:
    """Alice's reply on SUP-000002 naming SUP-000001 links them; naming it again adds no second link or event."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 9, 30), mail(subject="Scanner smells of smoke", message_id="<s1@acme.com>"), Outcome.OPENED)
    for n in (2, 3):
        again = mail(subject="Re: [SUP-000002] Scanner smells of smoke", message_id=f"<s{n}@acme.com>",
                     in_reply_to="<s1@acme.com>", body="Probably the same fault as SUP-000001.\n")
        write(desk, pst(2, 10, n), again)
    with desk.app.sessions() as session:
        assert store.linked_trackings(session, desk.ticket(tracking(2)).id) == ["SUP-000001"]
    [linked] = desk.events(tracking(2), kind="linked")
    assert (linked.at, linked.actor, linked.detail) == (pst(2, 10, 2), ALICE, {"linked": ["SUP-000001"], "why": "named in the mail"})


# -- customers asking to escalate --------------------------------------------------------------------


def test_escalation_requests_climb_the_chain_and_change_no_severity(make_desk) -> None:
    """Four requests reach lead, manager, cto, cto (levels 1, 2, 3, 3), each answered; the fourth, an hour after
    the cto heard, is recorded but emails no one of ours (the top hears once a day); a negation does nothing."""
    desk = make_desk()
    opened(desk)
    asks = ["It is still burning, please escalate.\n", "#escalate\nNobody has called us back.\n",
            "I would like to escalate this again.\n", "Please escalate, this is the fourth time.\n"]
    for n, text in enumerate(asks, start=2):
        write(desk, pst(2, 9 + n), reply(text, n))
    write(desk, pst(3, 9), reply("Never mind, no need to escalate any more.\n", 6))
    ticket = desk.ticket()
    assert (ticket.severity, ticket.escalation_level) == ("low", 3)
    assert desk.events(kind="severity_changed") == []
    requests = desk.events(kind="escalation_requested")
    assert [(e.at, e.actor, e.detail["level"], e.detail["told"]) for e in requests] == [
        (pst(2, 11), ALICE, 1, "lead@example.com"), (pst(2, 12), ALICE, 2, "manager@example.com"),
        (pst(2, 13), ALICE, 3, "cto@example.com"), (pst(2, 14), ALICE, 3, None)]
    assert [(m.at, m.to) for m in mails(desk, tracking(1), kind="escalation_request")] == [
        (pst(2, 11), "lead@example.com"), (pst(2, 12), "manager@example.com"), (pst(2, 13), "cto@example.com")]
    assert [m.at for m in mails(desk, tracking(1), kind="escalation_received", to=ALICE)] == [
        pst(2, 11), pst(2, 12), pst(2, 13), pst(2, 14)]
    first = mails(desk, tracking(1), kind="escalation_request")[0]
    assert "level 1 of 3" in first.subject and "still burning" in first.text


def test_without_an_escalation_chain_the_request_goes_to_the_tickets_engineer(make_desk) -> None:
    """A plan with no chain: "please escalate" reaches the assignee, and the customer hears it went to the engineers."""
    no_chain = config(assignment=ROUND_ROBIN).replace(
        "    breach_escalation: [lead@example.com, manager@example.com, cto@example.com]\n", "")
    desk = make_desk(no_chain)
    opened(desk)
    write(desk, pst(2, 10), reply("Please escalate, we are losing money.\n", 2))
    [request] = desk.events(kind="escalation_requested")
    assert (request.detail["level"], request.detail["levels"], request.detail["told"]) == (0, 0, None)
    [to_engineer] = mails(desk, tracking(1), kind="escalation_request")
    assert to_engineer.to == A and "names no escalation" in to_engineer.text and "level" not in to_engineer.subject
    [to_alice] = mails(desk, tracking(1), kind="escalation_received")
    assert "to the engineers of your ticket" in to_alice.text


# -- designated contacts -----------------------------------------------------------------------------

DESIGNATED = """\
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com, bob@acme.com]}}
"""


def test_mail_from_a_contact_who_is_not_designated_is_flagged_and_told_not_acknowledged(make_desk) -> None:
    """designated_contacts 2: carol's mail opens a flagged ticket, held undispatched, and gets `not_designated`; alice gets the ack."""
    desk = make_desk(config(plan="designated_contacts: 2\n", customers=DESIGNATED))
    carol = mail(sender="carol@acme.com", subject="Badge reader", message_id="<c1@acme.com>")
    assert desk.feed(carol, at=T0) == Outcome.OPENED
    assert desk.feed(mail(message_id="<a1@acme.com>"), at=T0) == Outcome.OPENED
    desk.run(T0)
    flagged = desk.ticket(tracking(1))
    assert (flagged.requester, flagged.customer_id) == ("carol@acme.com", "acme")
    assert (flagged.flags, flagged.assignee) == (["not-designated-contact", "awaiting-confirmation"], None)
    [event] = desk.events(tracking(1), kind="flagged")
    assert event.detail["flag"] == "not-designated-contact" and "carol@acme.com" in event.detail["why"]
    assert kinds(desk, tracking(1)) == [(T0, "carol@acme.com", "not_designated")]
    assert kinds(desk, tracking(2)) == [(T0, ALICE, "acknowledgement")]
    assert desk.ticket(tracking(2)).flags == [] and desk.events(tracking(2), kind="flagged") == []


def test_a_customer_with_more_contacts_than_its_plan_designates_is_a_config_error(db_url: str, tmp_path) -> None:
    """designated_contacts 2 and a second customer listing 3 contacts: load_settings names customers.1.contacts."""
    customers = DESIGNATED + ("  - {{id: initech, plan: standard, "
                              "contacts: [peter@initech.test, samir@initech.test, milton@initech.test]}}\n")
    path = tmp_path / "inbox.yaml"
    path.write_text(config(plan="designated_contacts: 2\n", customers=customers).format(
        db_url=db_url, tmp=tmp_path, templates=TEMPLATES))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    [problem] = caught.value.problems
    assert "customers.1.contacts" in problem and "2" in problem and "3" in problem


# -- classification ------------------------------------------------------------------------------------

CLASSIFYING = dict(
    plan="stated_severity: {{may_raise: true, up_to: high}}\n",
    plans="""\
  basic:
    calendar: pacific
    targets: {{low: {{response: 2 business days}}}}
""",
    customers="""\
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com]}}
  - {{id: globex, plan: basic, domains: [globex.test]}}
""",
    rules="rules: [{{name: outage, when: {{subject: [outage]}}, severity: highest}}]\n",
)


def test_a_rule_classifies_a_new_mail_and_the_event_names_it(make_desk) -> None:
    """Rule `outage`: "Total outage" opens at critical, and the classified event names the rule."""
    desk = make_desk(config(**CLASSIFYING))
    write(desk, T0, mail(subject="Total outage", body="Nothing works.\n"), Outcome.OPENED)
    assert desk.ticket().severity == "critical"
    [classified] = desk.events(kind="classified")
    assert classified.detail["severity"] == "critical"
    assert [h["rule"] for h in classified.detail["hits"]] == ["outage"]
    assert classified.detail["stated"] is None


def test_a_stated_severity_raises_only_up_to_the_plans_cap(make_desk) -> None:
    """may_raise up to high: "Severity: 1" opens at high, not critical, and the event records what was stated."""
    desk = make_desk(config(**CLASSIFYING))
    write(desk, T0, mail(subject="Printer jam", body="Severity: 1\nThe printer jams.\n"), Outcome.OPENED)
    assert desk.ticket().severity == "high"
    [classified] = desk.events(kind="classified")
    assert classified.detail["severity"] == "high"
    assert classified.detail["stated"] == {"text": "Severity: 1", "severity": "critical"}


def test_a_stated_severity_the_plan_does_not_honour_is_still_recorded(make_desk) -> None:
    """may_raise false (plan basic): "Severity: 1" leaves the ticket at low, and the event still records it."""
    desk = make_desk(config(**CLASSIFYING))
    write(desk, T0, mail(sender="hank@globex.test", subject="Printer jam", body="Severity: 1\nThe printer jams.\n",
                         message_id="<g1@globex.test>"), Outcome.OPENED)
    ticket = desk.ticket()
    assert (ticket.plan, ticket.severity) == ("basic", "low")
    [classified] = desk.events(kind="classified")
    assert classified.detail["severity"] == "low"
    assert classified.detail["stated"] == {"text": "Severity: 1", "severity": "critical"}
