"""The Standard/Enterprise and Apporetum support policies, run as timelines on config/examples/standard-enterprise.yaml and apporetum.yaml, to the minute.

Each test feeds mail through the real pipeline at chosen instants, moves the clock like
`inbox jobs run-once --as-of` and checks every email sent (when, to whom, which kind, key text)
and every due time against the policy's text. Expected instants are worked out by hand and
written in UTC, with the local time beside them.
"""

from __future__ import annotations

from tests.seed_kit import Outcome, breaches, dues, log, mails, utc

# -- Standard (Central Time, 1 business day) and Enterprise (30 minutes, 24x7 including holidays) -----------


def test_standard_one_business_day_across_the_fall_dst_change_and_after_hours(seed) -> None:
    """Friday 16:00 CDT is due Monday 16:00 CST; Friday-evening mail is due a day after Monday's opening.

    "Our goal is to respond to all support requests within one business day." "Monday through Friday,
    8:00 AM to 5:00 PM Central Time, excluding holidays. Support requests received outside of these hours
    will be addressed on the next business day."
    """
    desk, peter, samir = seed("standard-enterprise"), "peter@initech.example", "samir@initech.example"
    assert desk.write(utc(2026, 10, 30, 21), peter, "VPN tunnel drops", 1) == Outcome.OPENED  # Fri 30 Oct 16:00 CDT
    assert desk.write(utc(2026, 10, 31, 1), samir, "Invoice portal question", 2) == Outcome.OPENED  # Fri 20:00 CDT
    # DST ends Sunday 1 Nov: the same local time one open day later is Monday 2 Nov 16:00 CST (22:00 UTC, not 21:00).
    assert dues(desk, "SUP-000001") == (utc(2026, 11, 2, 22), None, None, None)
    # After hours: the clock starts Monday 08:00 CST, due Tuesday 3 Nov 08:00 CST.
    assert dues(desk, "SUP-000002") == (utc(2026, 11, 3, 14), None, None, None)
    assert "Response target: 1 business day, due by Monday 2 November 2026, 16:00 CST" in mails(desk, "SUP-000001", to=peter)[0].text
    assert "Response target: 1 business day, due by Tuesday 3 November 2026, 08:00 CST" in mails(desk, "SUP-000002", to=samir)[0].text

    # Raised to high Friday 16:30 CDT: every priority is one business day from creation, so the due time stays.
    desk.change(utc(2026, 10, 30, 21, 30), "SUP-000001", "sam@vendor.example", severity="high")
    assert dues(desk, "SUP-000001") == (utc(2026, 11, 2, 22), None, None, None)
    changed = mails(desk, "SUP-000001", to=peter)[1].text
    assert "from low to high" in changed and "Response due by:   Monday 2 November 2026, 16:00 CST" in changed

    # 9 open hours each: warned at 7 h 12 min (Mon 14:12 and 15:12 CST), lead at the due time, manager at 18 h.
    # Round-robin gave the first ticket to Sam and the second to Priya: each is warned of their own.
    assert desk.run_all_until(utc(2026, 11, 4, 18), "SUP-000001", "SUP-000002") == [
        utc(2026, 11, 2, 20, 12), utc(2026, 11, 2, 21, 12), utc(2026, 11, 2, 22),
        utc(2026, 11, 3, 14), utc(2026, 11, 3, 22), utc(2026, 11, 4, 14)]
    team, lead, manager = ["sam@vendor.example", "priya@vendor.example"], "team-lead@vendor.example", "department-manager@vendor.example"
    assert log(desk, "SUP-000001") == [
        (utc(2026, 10, 30, 21), team[0], "assigned"),
        (utc(2026, 10, 30, 21), peter, "acknowledgement"),
        (utc(2026, 10, 30, 21, 30), peter, "severity_changed"),
        (utc(2026, 11, 2, 20, 12), team[0], "sla_warning"),
        (utc(2026, 11, 2, 22), lead, "breach_alert"),  # Mon 16:00 CST
        (utc(2026, 11, 3, 22), manager, "breach_alert"),  # Tue 16:00 CST
    ]
    assert log(desk, "SUP-000002") == [
        (utc(2026, 10, 31, 1), team[1], "assigned"),
        (utc(2026, 10, 31, 1), samir, "acknowledgement"),
        (utc(2026, 11, 2, 21, 12), team[1], "sla_warning"),
        (utc(2026, 11, 3, 14), lead, "breach_alert"),  # Tue 08:00 CST
        (utc(2026, 11, 4, 14), manager, "breach_alert"),  # Wed 08:00 CST
    ]
    assert [b[2:] for b in breaches(desk, "SUP-000002")] == [(1, utc(2026, 11, 3, 14), lead), (2, utc(2026, 11, 3, 14), manager)]


def test_enterprise_30_minutes_on_thanksgiving_night_escalates_three_levels(seed) -> None:
    """Enterprise mail at 02:10 CST on Thanksgiving is due 02:40; team lead, department manager, executives follow.

    "Our enterprise-level support is available 24x7, including holidays." "respond to all support requests
    within 30 minutes." "Level 1: Support team lead / Level 2: Department manager / Level 3: Executive management".
    """
    desk, tr, noc = seed("standard-enterprise"), "SUP-000001", "noc@globex.example"
    assert desk.write(utc(2026, 11, 26, 8, 10), noc, "Core switch down", 1) == Outcome.OPENED  # Thu 26 Nov 02:10 CST
    assert dues(desk, tr) == (utc(2026, 11, 26, 8, 40), None, None, None)  # 02:40 CST
    ack = mails(desk, tr, to=noc)[0].text
    assert "Severity:        low" in ack and "Response target: 30 minutes, due by Thursday 26 November 2026, 02:40 CST" in ack
    # Warned at 24 min (02:34), then one level every further 30 minutes: 02:40, 03:10, 03:40 CST.
    assert desk.run_until(utc(2026, 11, 26, 11), tr) == [
        utc(2026, 11, 26, 8, 34), utc(2026, 11, 26, 8, 40), utc(2026, 11, 26, 9, 10), utc(2026, 11, 26, 9, 40)]
    assert desk.ticket(tr).next_check_at is None  # the chain has three levels
    desk.write(utc(2026, 11, 26, 9, 50), "oncall@vendor.example", f"Re: [{tr}] Core switch down", 2, reply_to=1)
    desk.change(utc(2026, 11, 26, 10), tr, "oncall@vendor.example", severity="high")  # 04:00 CST
    assert dues(desk, tr) == (utc(2026, 11, 26, 8, 40), None, None, None)  # still 30 minutes from creation
    levels = ["team-lead@vendor.example", "department-manager@vendor.example", "executives@vendor.example"]
    assert log(desk, tr) == [
        (utc(2026, 11, 26, 8, 10), "oncall@vendor.example", "assigned"),
        (utc(2026, 11, 26, 8, 10), noc, "acknowledgement"),
        (utc(2026, 11, 26, 8, 34), "oncall@vendor.example", "sla_warning"),
        (utc(2026, 11, 26, 8, 40), levels[0], "breach_alert"),
        (utc(2026, 11, 26, 9, 10), levels[1], "breach_alert"),
        (utc(2026, 11, 26, 9, 40), levels[2], "breach_alert"),
        (utc(2026, 11, 26, 9, 50), noc, "agent_reply"),
        (utc(2026, 11, 26, 10), noc, "severity_changed"),
    ]
    assert breaches(desk, tr) == [(at, "response", n, utc(2026, 11, 26, 8, 40), levels[n - 1]) for n, at in
                                  enumerate((utc(2026, 11, 26, 8, 40), utc(2026, 11, 26, 9, 10), utc(2026, 11, 26, 9, 40)), 1)]
    for n, alert in enumerate(mails(desk, tr, kind="breach_alert"), start=1):
        assert alert.subject == f"[{tr}] SLA breach (level {n}): response target missed - Core switch down"
        assert "It was due at Thursday 26 November 2026, 02:40 CST (30 minutes for low tickets on the enterprise plan)." in alert.text
        assert f"escalation level {n}." in alert.text
    assert "Response due by:   Thursday 26 November 2026, 02:40 CST" in mails(desk, tr, kind="severity_changed")[0].text


# -- Apporetum: "Every email sent to the support mailbox ... will begin at the lowest support severity level." --


def test_apporetum_easter_holidays_and_the_end_of_daylight_saving(seed) -> None:
    """Standard Business Service mail before Easter: Good Friday and Easter Monday (NSW) are skipped, AEDT -> AEST.

    "Every email sent to the support mailbox (support@apporetum.com.au) will begin at the lowest support
    severity level." Raised to SEVERITY ONE its (placeholder) 4 business hours count from creation.
    """
    desk, tr, idt = seed("apporetum"), "APP-000001", "identity-team@banksia-health.example"
    assert desk.write(utc(2026, 4, 2, 5), idt, "SSO login loop", 1) == Outcome.OPENED  # Thu 2 Apr 16:00 AEDT
    # Two open days later: Fri 3 (Good Friday), Sat, Sun, Mon 6 (Easter Monday) closed -> Tue 7, Wed 8 Apr 16:00 AEST.
    assert dues(desk, tr) == (utc(2026, 4, 8, 6), None, None, None)
    ack = mails(desk, tr, to=idt)[0].text
    assert "Severity:        three" in ack and "Tracking number: APP-000001" in ack
    assert "Response target: 2 business days, due by Wednesday 8 April 2026, 16:00 AEST" in ack

    desk.change(utc(2026, 4, 6, 23, 30), tr, "support-desk@apporetum.com.au", severity="one")  # Tue 7 Apr 09:30 AEST
    # 4 business hours: Thu 16:00-17:00, then 3 h from Tuesday 09:00 -> 12:00 AEST.
    assert dues(desk, tr) == (utc(2026, 4, 7, 2), None, None, None)
    changed = mails(desk, tr, to=idt)[1].text
    assert "from three to one" in changed and "Response due by:   Tuesday 7 April 2026, 12:00 AEST" in changed
    # Warned at 3 h 12 min (11:12 AEST), lead at 12:00, manager at 8 business hours (16:00 AEST).
    assert desk.run_until(utc(2026, 4, 7, 14), tr) == [utc(2026, 4, 7, 1, 12), utc(2026, 4, 7, 2), utc(2026, 4, 7, 6)]
    assert log(desk, tr) == [
        (utc(2026, 4, 2, 5), "support-desk@apporetum.com.au", "assigned"),
        (utc(2026, 4, 2, 5), idt, "acknowledgement"),
        (utc(2026, 4, 6, 23, 30), idt, "severity_changed"),
        (utc(2026, 4, 7, 1, 12), "support-desk@apporetum.com.au", "sla_warning"),
        (utc(2026, 4, 7, 2), "support-lead@apporetum.com.au", "breach_alert"),
        (utc(2026, 4, 7, 6), "support-manager@apporetum.com.au", "breach_alert"),
    ]
    assert [b[1:4] for b in breaches(desk, tr)] == [("response", 1, utc(2026, 4, 7, 2)), ("response", 2, utc(2026, 4, 7, 2))]


def test_apporetum_business_critical_one_is_24x7_across_the_spring_forward_night(seed) -> None:
    """Business Critical, Sunday 4 Oct 01:30 AEST: three waits for Tuesday (Labour Day); one is 1 elapsed hour.

    "Specialized and prioritized support team available 24/7." Clocks jump 02:00 AEST -> 03:00 AEDT that night.
    """
    desk, tr, wattle = seed("apporetum"), "APP-000001", "ict-service-desk@wattle-council.example"
    assert desk.write(utc(2026, 10, 3, 15, 30), wattle, "Provisioning halted", 1) == Outcome.OPENED
    # Sunday, then Monday 5 Oct Labour Day (NSW): clock starts Tue 6 Oct 09:00 AEDT, due Wed 7 Oct 09:00 AEDT.
    assert dues(desk, tr) == (utc(2026, 10, 6, 22), None, None, None)
    assert "Response target: 1 business day, due by Wednesday 7 October 2026, 09:00 AEDT" in mails(desk, tr, to=wattle)[0].text
    desk.change(utc(2026, 10, 3, 15, 45), tr, "priority-team@apporetum.com.au", severity="one")  # 01:45 AEST
    # One elapsed hour after 01:30 AEST is 03:30 AEDT (02:00-03:00 does not exist that night).
    assert dues(desk, tr) == (utc(2026, 10, 3, 16, 30), None, None, None)
    assert "Response due by:   Sunday 4 October 2026, 03:30 AEDT" in mails(desk, tr, to=wattle)[1].text
    # Warned at 48 min (03:18 AEDT) to the critical on-call, lead at 03:30, manager at 2 hours (04:30 AEDT).
    assert desk.run_until(utc(2026, 10, 3, 17, 40), tr) == [utc(2026, 10, 3, 16, 18), utc(2026, 10, 3, 16, 30), utc(2026, 10, 3, 17, 30)]
    desk.write(utc(2026, 10, 3, 17, 45), "critical-oncall@apporetum.com.au", f"Re: [{tr}] Provisioning halted", 2, reply_to=1)
    assert desk.ticket(tr).next_check_at is None
    # Severity one moves the ticket from the priority team to the critical on-call ("based on Ticket Type,
    # Severity and Support Package"), whose reply at 03:45 AEDT is relayed.
    assert log(desk, tr) == [
        (utc(2026, 10, 3, 15, 30), "priority-team@apporetum.com.au", "assigned"),
        (utc(2026, 10, 3, 15, 30), wattle, "acknowledgement"),
        (utc(2026, 10, 3, 15, 45), wattle, "severity_changed"),
        (utc(2026, 10, 3, 15, 45), "critical-oncall@apporetum.com.au", "assigned"),
        (utc(2026, 10, 3, 16, 18), "critical-oncall@apporetum.com.au", "sla_warning"),
        (utc(2026, 10, 3, 16, 30), "support-lead@apporetum.com.au", "breach_alert"),
        (utc(2026, 10, 3, 17, 30), "support-manager@apporetum.com.au", "breach_alert"),
        (utc(2026, 10, 3, 17, 45), wattle, "agent_reply"),
    ]
    warning = mails(desk, tr, kind="sla_warning")[0].text
    assert "falls due at Sunday 4 October 2026, 03:30 AEDT\n(1 hour for one tickets on the business-critical plan)" in warning
