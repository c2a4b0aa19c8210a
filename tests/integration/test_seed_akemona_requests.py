"""What an Akemona customer asks by email, run as timelines on config/examples/akemona.yaml, to the minute.

The customer's stated severity on arrival, and `#escalate` repeated at the top of the escalation
chain. As in test_seed_akemona_secpod.py: mail goes through the real pipeline at chosen instants on
the injected clock, and every expected instant is worked out by hand, in UTC with the local time beside it.
"""

from __future__ import annotations

from tests.seed_kit import Outcome, dues, log, mails, utc

OPS, LEAD, MANAGER = "ops@harborridge.example", "support-lead@akemona.com", "support-manager@akemona.com"


def test_akemona_stated_severity_one_opens_a_critical_ticket_that_the_engineer_confirms(seed) -> None:
    """A designated contact's "Severity: 1 - production system failure" opens the ticket critical; an engineer sets another.

    Decision: the customer's stated severity sets the ticket's severity on arrival (the plan's
    `stated_severity: {may_raise: true}`), and Akemona's engineers confirm it or correct it with `#severity`.
    It rests on "Akemona provides tiered response and resolution goals based on severity of the issue",
    whose severities are told apart by what the customer sees: "1 – Critical | Production system failure
    preventing essential business functions." / "Respond within 4 business hours"; "Work continuously until
    workaround or fix; best effort within 24 hours". Before: the ticket stayed low (48 business hours).
    """
    desk, tr = seed("akemona"), "AKM-000001"
    body = "Severity: 1 - production system failure\n\nThe investor portal returns 500 for everyone.\n"
    # Monday 2 March 2026, 09:00 PST (17:00 UTC), inside business hours.
    assert desk.write(utc(2026, 3, 2, 17), OPS, "Investor portal down", 1, body=body) == Outcome.OPENED
    ticket = desk.ticket(tr)
    assert (ticket.severity, ticket.assignee) == ("critical", "oncall@akemona.com")  # the critical rule's team
    # Response: 4 business hours from 09:00 -> 13:00 PST (21:00 UTC). Workaround: 24 wall-clock hours -> Tue 09:00 PST.
    assert dues(desk, tr) == (utc(2026, 3, 2, 21), utc(2026, 3, 3, 17), None, None)
    [classified] = desk.events(tr, kind="classified")
    assert classified.detail["stated"] == {"text": "Severity: 1", "severity": "critical"}
    assert [(h["rule"], h["matched"], h["why"]) for h in classified.detail["hits"]] == [
        ("stated-severity", True, 'the customer wrote "Severity: 1"')]
    [ack] = mails(desk, tr, to=OPS)
    assert "Severity:        critical" in ack.text
    assert "Response target: 4 business hours, due by Monday 2 March 2026, 13:00 PST" in ack.text

    # The on-call engineer reads it at 09:30 PST (17:30 UTC): moderately affected, so high, not critical.
    desk.change(utc(2026, 3, 2, 17, 30), tr, "oncall@akemona.com", severity="high")
    # High from the ticket's start, 09:00 PST: 8 business hours -> 17:00 PST (Tue 01:00 UTC); 7 business days ->
    # Tue 3 .. Fri 6, Mon 9 (PDT from Sunday 8 March), Tue 10, Wed 11 Mar 09:00 PDT (16:00 UTC).
    assert dues(desk, tr) == (utc(2026, 3, 3, 1), utc(2026, 3, 11, 16), None, None)
    assert desk.ticket(tr).severity == "high"
    assert [m.kind for m in mails(desk, tr, to=OPS)] == ["acknowledgement", "severity_changed"]


def test_akemona_mail_that_states_no_severity_still_starts_low(seed) -> None:
    """Without a statement the ticket starts at the lowest severity: the plan adds no rules of its own.

    "4 – Low | General questions, enhancements, or cosmetic issues. | Respond within 48 business hours".
    """
    desk, tr = seed("akemona"), "AKM-000001"
    # Monday 2 March 2026, 09:00 PST; 48 business hours: Mon 8 h (09-17), Tue .. Fri 36 h, 4 h on Mon 9 Mar
    # (PDT from Sunday) -> 12:00 PDT, 19:00 UTC.
    desk.write(utc(2026, 3, 2, 17), OPS, "How do I export statements?", 1, body="Where is the export button?\n")
    assert desk.ticket(tr).severity == "low" and dues(desk, tr) == (utc(2026, 3, 9, 19), None, None, None)
    [classified] = desk.events(tr, kind="classified")
    assert classified.detail["stated"] is None and classified.detail["hits"] == []


def test_akemona_repeated_escalation_at_the_top_tells_the_manager_once_a_day(seed) -> None:
    """Lead, then manager; further requests inside 24 hours of the manager's email are recorded and acknowledged
    but email none of our people; the first at or after those 24 hours tells the manager again, and the day restarts.

    Akemona's chain (assumed in the example: "the policy names no escalation chain") is lead -> manager, so the
    manager is the top. "Coordinating internally before escalating issues to Akemona." The customer may still ask
    every time; the top hears of one ticket once a day.
    """
    desk, tr = seed("akemona"), "AKM-000001"
    subject, ravi = "Re: [AKM-000001] Statements page blank", "ravi@akemona.com"
    desk.write(utc(2026, 3, 2, 17), OPS, "Statements page blank", 1)  # Mon 2 Mar 09:00 PST; low, to Ravi
    asks = [
        (utc(2026, 3, 2, 18), "#escalate\nStill blank.\n"),  # Mon 10:00 PST: level 1, the lead
        (utc(2026, 3, 2, 19), "#escalate\nNobody called.\n"),  # Mon 11:00 PST: level 2, the manager; quiet until Tue 11:00
        (utc(2026, 3, 2, 21), "Please escalate this.\n"),  # Mon 13:00 PST: 2 h after, quiet
        (utc(2026, 3, 3, 18, 59), "#escalate\nA day now.\n"),  # Tue 10:59 PST: 23 h 59 min after, quiet
        (utc(2026, 3, 3, 19), "#escalate\nStill nothing.\n"),  # Tue 11:00 PST: 24 h after, the manager again
        (utc(2026, 3, 3, 23), "#escalate\nAnd again.\n"),  # Tue 15:00 PST: 4 h after the new notice, quiet
    ]
    for n, (at, words) in enumerate(asks, start=2):
        assert desk.write(at, OPS, subject, n, reply_to=1, body=words) == Outcome.APPENDED
    assert desk.ticket(tr).severity == "low"  # a customer's request changes no severity

    # Every request is recorded, at the top with who heard and, when nobody did, until when the top stays quiet.
    requests = desk.events(tr, kind="escalation_requested")
    assert [(e.at, e.detail["level"], e.detail["told"], e.detail.get("quiet_until")) for e in requests] == [
        (utc(2026, 3, 2, 18), 1, LEAD, None),
        (utc(2026, 3, 2, 19), 2, MANAGER, None),
        (utc(2026, 3, 2, 21), 2, None, "2026-03-03T19:00:00+00:00"),
        (utc(2026, 3, 3, 18, 59), 2, None, "2026-03-03T19:00:00+00:00"),
        (utc(2026, 3, 3, 19), 2, MANAGER, None),
        (utc(2026, 3, 3, 23), 2, None, "2026-03-04T19:00:00+00:00"),
    ]
    # Staff emails only for the three requests that told someone (the chain's person and the assignee, before
    # the customer's acknowledgement of the same request); the customer is acknowledged all six times.
    assert log(desk, tr) == [
        (utc(2026, 3, 2, 17), ravi, "assigned"), (utc(2026, 3, 2, 17), OPS, "acknowledgement"),
        (utc(2026, 3, 2, 18), LEAD, "escalation_request"), (utc(2026, 3, 2, 18), ravi, "escalation_request"),
        (utc(2026, 3, 2, 18), OPS, "escalation_received"),
        (utc(2026, 3, 2, 19), MANAGER, "escalation_request"), (utc(2026, 3, 2, 19), ravi, "escalation_request"),
        (utc(2026, 3, 2, 19), OPS, "escalation_received"),
        (utc(2026, 3, 2, 21), OPS, "escalation_received"),
        (utc(2026, 3, 3, 18, 59), OPS, "escalation_received"),
        (utc(2026, 3, 3, 19), MANAGER, "escalation_request"), (utc(2026, 3, 3, 19), ravi, "escalation_request"),
        (utc(2026, 3, 3, 19), OPS, "escalation_received"),
        (utc(2026, 3, 3, 23), OPS, "escalation_received"),
    ]
    assert [m.at for m in mails(desk, tr, to=MANAGER)] == [utc(2026, 3, 2, 19), utc(2026, 3, 3, 19)]
    quiet = mails(desk, tr, kind="escalation_received")[2]
    assert "already with the\nhighest level of our escalation chain, told of it on Monday 2 March 2026, 11:00 PST" in quiet.text
    assert "passed it" not in quiet.text
    assert "passed it to the next level" in mails(desk, tr, kind="escalation_received")[4].text
