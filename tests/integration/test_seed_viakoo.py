"""The Viakoo support policy, run as timelines on config/examples/viakoo.yaml, to the minute.

Each test feeds mail through the real pipeline at chosen instants, moves the clock like
`inbox jobs run-once --as-of` and checks every email sent (when, to whom, which kind, key text)
and every due time against the policy's text. Expected instants are worked out by hand and
written in UTC, with the local time beside them.
"""

from __future__ import annotations

from tests.seed_kit import Outcome, breaches, dues, log, mails, utc

# -- Viakoo: "8:00 AM to 6:00 PM U.S. Pacific Time, Monday through Friday, except for official US holidays" -----


def test_viakoo_serious_updates_every_24_hours_and_escalates_to_the_cto_ciso(seed) -> None:
    """Serious: response 4 hours, updates every 24 hours, temporary resolution 48 hours, permanent one week.

    "Serious | 4 Hours | Every 24 hour | Within forty-eight (48) hours | Within one week"; "In the event a
    resolution for a Critical or Serious Error is not provided in accordance with the foregoing, Viakoo will
    immediately escalate the issue to the CTO/CISO." (a resolution, temporary or permanent: a missed response is
    recorded but told to no one). Times PST (DST ended 1 Nov).
    """
    desk, tr, it = seed("viakoo"), "VKO-000001", "facilities-it@pinecrest-hospital.example"
    senior, cto = "senior-support@viakoo.com", "cto-ciso@viakoo.com"
    assert desk.write(utc(2026, 11, 2, 15), it, "Camera fleet offline", 1) == Outcome.OPENED  # Mon 2 Nov 07:00 PST
    # Minor: response from the 08:00 opening, 24 helpdesk hours (10 a day) -> Wed 4 Nov 12:00 PST; the update
    # cadence does not wait for the opening: 30 days after the ack (Mon 07:00 PST) -> Wed 2 Dec 07:00 PST.
    assert dues(desk, tr) == (utc(2026, 11, 4, 20), None, None, utc(2026, 12, 2, 15))
    [ack] = mails(desk, tr, to=it)
    assert ack.subject == "[VKO-000001] Camera fleet offline" and "Tracking number: VKO-000001" in ack.text
    assert "Severity:        minor" in ack.text
    assert "Response target: 24 business hours, due by Wednesday 4 November 2026, 12:00 PST" in ack.text

    desk.change(utc(2026, 11, 2, 17), tr, senior, severity="serious")  # Mon 09:00 PST
    # From the 08:00 opening: response 12:00 PST, workaround 48 elapsed hours -> Wed 4 Nov 08:00 PST, resolution
    # one week (same local time 7 days on, no DST change) -> Mon 9 Nov 08:00 PST; the severity email (09:00)
    # restarts the cadence: next update Tue 3 Nov 09:00 PST.
    assert dues(desk, tr) == (utc(2026, 11, 2, 20), utc(2026, 11, 4, 16), utc(2026, 11, 9, 16), utc(2026, 11, 3, 17))
    changed = mails(desk, tr, to=it)[1].text
    assert "from minor to serious" in changed and "Response due by:   Monday 2 November 2026, 12:00 PST" in changed
    assert "Resolution due by: Monday 9 November 2026, 08:00 PST" in changed
    assert "Next update due by: Tuesday 3 November 2026, 09:00 PST" in changed

    assert desk.run_until(utc(2026, 11, 2, 20), tr) == [utc(2026, 11, 2, 19, 12), utc(2026, 11, 2, 20)]  # 11:12, 12:00
    desk.write(utc(2026, 11, 2, 21), senior, f"Re: [{tr}] Camera fleet offline", 2, reply_to=1)  # Mon 13:00 PST
    assert desk.ticket(tr).next_update_due == utc(2026, 11, 3, 21)  # the reply restarts the cadence: Tue 13:00 PST
    assert desk.run_until(utc(2026, 11, 9, 20), tr) == [
        utc(2026, 11, 3, 21),  # Tue 13:00 update
        utc(2026, 11, 4, 6, 24),  # Tue 22:24: 80 % of 48 hours
        utc(2026, 11, 4, 16),  # Wed 08:00 temporary resolution missed
        utc(2026, 11, 4, 21), utc(2026, 11, 5, 21), utc(2026, 11, 6, 21), utc(2026, 11, 7, 21),  # Wed-Sat 13:00
        utc(2026, 11, 8, 6, 24),  # Sat 22:24: 80 % of one week (134 h 24 min after Mon 08:00 PST)
        utc(2026, 11, 8, 21),  # Sun 13:00 update
        utc(2026, 11, 9, 16),  # Mon 9 Nov 08:00 permanent resolution missed
    ]
    # "Every 24 hour" is wall-clock time: the updates run through the weekend, 24 hours apart (Sat and Sun 13:00 PST
    # too), without waiting for an opening. After Sunday's, the next is Mon 9 Nov 13:00 PST.
    assert desk.ticket(tr).next_update_due == utc(2026, 11, 9, 21)
    updates = [(utc(2026, 11, d, 21), it, "status_update") for d in (4, 5, 6, 7)]
    helpdesk = "helpdesk-a@viakoo.com"  # minor mail goes to the helpdesk; serious moves it to senior support
    assert log(desk, tr) == [
        (utc(2026, 11, 2, 15), helpdesk, "assigned"),
        (utc(2026, 11, 2, 15), it, "acknowledgement"),
        (utc(2026, 11, 2, 17), it, "severity_changed"),
        (utc(2026, 11, 2, 17), helpdesk, "severity_changed"),
        (utc(2026, 11, 2, 17), senior, "assigned"),
        (utc(2026, 11, 2, 19, 12), senior, "sla_warning"),
        # 12:00 the response is missed: recorded, but the CTO/CISO hears only of a missed resolution.
        (utc(2026, 11, 2, 21), it, "agent_reply"),
        (utc(2026, 11, 3, 21), it, "status_update"),
        (utc(2026, 11, 4, 6, 24), senior, "sla_warning"),
        (utc(2026, 11, 4, 16), cto, "breach_alert"),
        *updates,
        (utc(2026, 11, 8, 6, 24), senior, "sla_warning"),
        (utc(2026, 11, 8, 21), it, "status_update"),
        (utc(2026, 11, 9, 16), cto, "breach_alert"),
    ]
    assert breaches(desk, tr) == [
        (utc(2026, 11, 2, 20), "response", 1, utc(2026, 11, 2, 20), None),
        (utc(2026, 11, 4, 16), "workaround", 1, utc(2026, 11, 4, 16), cto),
        (utc(2026, 11, 9, 16), "resolution", 1, utc(2026, 11, 9, 16), cto),
    ]
    sent, alerts = mails(desk, tr, kind="status_update"), mails(desk, tr, kind="breach_alert")
    assert sent[0].subject == f"[{tr}] Status update: Camera fleet offline"
    assert "Severity: serious" in sent[0].text and "Next update due by:   Wednesday 4 November 2026, 13:00 PST" in sent[0].text
    assert "Next update due by:   Sunday 8 November 2026, 13:00 PST" in sent[4].text  # Saturday's update
    assert "Next update due by:   Monday 9 November 2026, 13:00 PST" in sent[5].text  # Sunday's update
    assert "It was due at Wednesday 4 November 2026, 08:00 PST (48 hours for serious tickets" in alerts[0].text
    assert "It was due at Monday 9 November 2026, 08:00 PST (1 week for serious tickets" in alerts[1].text


def test_viakoo_severity_email_states_when_the_next_update_really_comes(seed) -> None:
    """The email that raises to serious at Mon 09:00 PST is itself an update: the next is due 24 hours after it.

    "Serious | 4 Hours | Every 24 hour | ..."
    """
    desk, tr = seed("viakoo"), "VKO-000001"
    desk.write(utc(2026, 11, 2, 15), "facilities-it@pinecrest-hospital.example", "Camera fleet offline", 1)  # 07:00 PST
    desk.change(utc(2026, 11, 2, 17), tr, "senior-support@viakoo.com", severity="serious")  # Mon 09:00 PST
    # Mon 11:12 PST warning, 12:00 PST response breach, then the update Tue 3 Nov 09:00 PST, 24 hours after the email.
    assert desk.run_until(utc(2026, 11, 3, 17), tr) == [utc(2026, 11, 2, 19, 12), utc(2026, 11, 2, 20), utc(2026, 11, 3, 17)]
    changed = mails(desk, tr, to="facilities-it@pinecrest-hospital.example")[1]
    assert changed.kind == "severity_changed"
    assert "\n  Next update due by: Tuesday 3 November 2026, 09:00 PST\n" in changed.text
    assert [(m.at, m.kind) for m in mails(desk, tr)][-1] == (utc(2026, 11, 3, 17), "status_update")


def test_viakoo_major_updates_every_week_across_the_spring_dst_change(seed) -> None:
    """Major: 8 helpdesk hours, an update every week (the same local time 7 days on), temporary resolution 30 days.

    "Major | 8 Hours | Every week | Within thirty (30) days | Next Maintenance Release".
    """
    desk, tr, ot = seed("viakoo"), "VKO-000001", "ot-security@riverbend-airport.example"
    assert desk.write(utc(2026, 3, 6, 18), ot, "Agent upgrade stuck", 1) == Outcome.OPENED  # Fri 6 Mar 10:00 PST
    # Minor: Fri 8 h, Mon 9 Mar 10 h (PDT), 6 h Tue -> 14:00 PDT; update 30 days after the ack, at the same local
    # time across the 8 March change -> Sun 5 Apr 10:00 PDT (719 elapsed hours).
    assert dues(desk, tr) == (utc(2026, 3, 10, 21), None, None, utc(2026, 4, 5, 17))
    desk.change(utc(2026, 3, 6, 18, 30), tr, "helpdesk-a@viakoo.com", severity="major")  # Fri 10:30 PST
    # Response 8 helpdesk hours -> Fri 18:00 PST; workaround 30 days after 10:00 PST -> Sun 5 Apr 10:00 PDT;
    # no permanent resolution time ("Next Maintenance Release"); update a week after the 10:30 PST email ->
    # Fri 13 Mar 10:30 PDT (167 elapsed hours).
    assert dues(desk, tr) == (utc(2026, 3, 7, 2), utc(2026, 4, 5, 17), None, utc(2026, 3, 13, 17, 30))
    desk.write(utc(2026, 3, 6, 23), "helpdesk-a@viakoo.com", f"Re: [{tr}] Agent upgrade stuck", 2, reply_to=1)
    # The reply (Fri 15:00 PST) restarts the cadence: a week later is Fri 13 Mar 15:00 PDT (167 elapsed hours),
    # then Fri 20 Mar 15:00 PDT and Fri 27 Mar 15:00 PDT (168 hours each).
    assert desk.ticket(tr).next_update_due == utc(2026, 3, 13, 22)
    assert desk.run_until(utc(2026, 3, 21, 7), tr) == [utc(2026, 3, 13, 22), utc(2026, 3, 20, 22)]
    assert desk.ticket(tr).next_update_due == utc(2026, 3, 27, 22)
    assert log(desk, tr) == [
        (utc(2026, 3, 6, 18), "helpdesk-a@viakoo.com", "assigned"),
        (utc(2026, 3, 6, 18), ot, "acknowledgement"),
        (utc(2026, 3, 6, 18, 30), ot, "severity_changed"),
        (utc(2026, 3, 6, 23), ot, "agent_reply"),
        (utc(2026, 3, 13, 22), ot, "status_update"),
        (utc(2026, 3, 20, 22), ot, "status_update"),
    ]
    first = mails(desk, tr, kind="status_update")[0].text
    assert "Severity: major" in first and "Next update due by:   Friday 20 March 2026, 15:00 PDT" in first


def test_viakoo_minor_on_thanksgiving_updates_every_30_days(seed) -> None:
    """Minor mail on Thanksgiving: 24 helpdesk hours from Friday's opening; the monthly update runs from the ack.

    The cadence restarts at an engineer's reply.

    "Minor | 24 Hours | Every month | As mutually determined | As mutually determined" (a month is 30 days).
    """
    desk, tr, sec = seed("viakoo"), "VKO-000001", "security@pinecrest-hospital.example"
    assert desk.write(utc(2026, 11, 26, 18), sec, "Dashboard shows stale firmware", 1) == Outcome.OPENED  # Thu 10:00 PST
    # Thanksgiving: the response clock starts Fri 27 Nov 08:00 PST. Fri 10 h, Mon 10 h, 4 h Tue -> Tue 1 Dec
    # 12:00 PST; the ack's cadence does not wait for the opening: 30 days from the ack (Thu 26 Nov 10:00 PST)
    # -> Sat 26 Dec 10:00 PST.
    assert dues(desk, tr) == (utc(2026, 12, 1, 20), None, None, utc(2026, 12, 26, 18))
    assert "Response target: 24 business hours, due by Tuesday 1 December 2026, 12:00 PST" in mails(desk, tr, to=sec)[0].text
    desk.write(utc(2026, 11, 30, 17), "helpdesk-b@viakoo.com", f"Re: [{tr}] Dashboard shows stale firmware", 2, reply_to=1)
    assert desk.ticket(tr).next_update_due == utc(2026, 12, 30, 17)  # Mon 30 Nov 09:00 + 30 days: Wed 30 Dec 09:00 PST
    assert desk.run_until(utc(2026, 12, 31, 8), tr) == [utc(2026, 12, 30, 17)]
    assert log(desk, tr) == [(utc(2026, 11, 26, 18), "helpdesk-a@viakoo.com", "assigned"),
                             (utc(2026, 11, 26, 18), sec, "acknowledgement"), (utc(2026, 11, 30, 17), sec, "agent_reply"),
                             (utc(2026, 12, 30, 17), sec, "status_update")]
    update = mails(desk, tr, kind="status_update")[0].text
    assert "Severity: minor" in update and "Next update due by:   Friday 29 January 2027, 09:00 PST" in update
    assert desk.ticket(tr).next_update_due == utc(2027, 1, 29, 17)


def test_viakoo_only_a_missed_serious_resolution_reaches_the_cto_ciso(seed) -> None:
    """A missed minor response, even a missed serious one, tells no one; a missed serious resolution tells the CTO/CISO.

    "In the event a resolution for a Critical or Serious Error is not provided in accordance with the foregoing,
    Viakoo will immediately escalate the issue to the CTO/CISO." (the chart has no Critical row: a critical error is
    filed as serious; "a resolution" is the temporary one, the workaround, and the permanent one). Thanksgiving
    (Thu 26 Nov 2026) is an official US holiday; times PST, UTC-8.
    """
    desk, cto = seed("viakoo"), "cto-ciso@viakoo.com"
    minor, serious = "VKO-000001", "VKO-000002"
    it, ot = "facilities-it@pinecrest-hospital.example", "ot-security@riverbend-airport.example"
    assert desk.write(utc(2026, 11, 25, 23), it, "Report export is slow", 1) == Outcome.OPENED  # Wed 25 Nov 15:00 PST
    assert desk.write(utc(2026, 11, 26, 0), ot, "All cameras unreachable", 2) == Outcome.OPENED  # Wed 16:00 PST
    desk.change(utc(2026, 11, 26, 0, 30), serious, "senior-support@viakoo.com", severity="serious")  # Wed 16:30 PST
    # Minor, "24 Hours" of helpdesk time from Wed 15:00 PST: Wed 3 h, Thanksgiving closed, Fri 27 Nov 10 h (13),
    # Mon 30 Nov 10 h (23), 1 h on Tue -> Tue 1 Dec 09:00 PST (17:00 UTC); the engineer's warning at 80 %
    # (19 h 12 min: 6 h 12 min into Monday) -> Mon 30 Nov 14:12 PST (22:12 UTC).
    assert desk.ticket(minor).first_response_due == utc(2026, 12, 1, 17)
    # Serious, from its start (Wed 16:00 PST): "4 Hours" -> Wed 2 h, Thanksgiving closed, 2 h on Fri -> Fri 27 Nov
    # 10:00 PST; "Within forty-eight (48) hours" is elapsed time, holiday or not -> Fri 27 Nov 16:00 PST; "Within one
    # week" -> Wed 2 Dec 16:00 PST. The severity email at 16:30 PST restarts the daily cadence -> Thu 16:30 PST.
    assert dues(desk, serious) == (utc(2026, 11, 27, 18), utc(2026, 11, 28, 0), utc(2026, 12, 3, 0), utc(2026, 11, 27, 0, 30))

    desk.run_all_until(utc(2026, 12, 3, 0), minor, serious)  # to Wed 2 Dec 16:00 PST; nobody answers either ticket
    # The minor response is missed at Tue 1 Dec 09:00 PST: recorded, told to no one; its engineer was warned.
    assert breaches(desk, minor) == [(utc(2026, 12, 1, 17), "response", 1, utc(2026, 12, 1, 17), None)]
    assert log(desk, minor) == [
        (utc(2026, 11, 25, 23), "helpdesk-a@viakoo.com", "assigned"),
        (utc(2026, 11, 25, 23), it, "acknowledgement"),
        (utc(2026, 11, 30, 22, 12), "helpdesk-a@viakoo.com", "sla_warning"),
    ]
    # Serious: the response (Fri 10:00 PST) is missed and told to no one; the temporary resolution (Fri 16:00 PST)
    # and the permanent one (Wed 2 Dec 16:00 PST) go "immediately" to the CTO/CISO, at their due times.
    assert breaches(desk, serious) == [
        (utc(2026, 11, 27, 18), "response", 1, utc(2026, 11, 27, 18), None),
        (utc(2026, 11, 28, 0), "workaround", 1, utc(2026, 11, 28, 0), cto),
        (utc(2026, 12, 3, 0), "resolution", 1, utc(2026, 12, 3, 0), cto),
    ]
    assert mails(desk, minor, to=cto) == []
    alerts = mails(desk, serious, to=cto)
    assert [(m.at, m.kind) for m in alerts] == [(utc(2026, 11, 28, 0), "breach_alert"), (utc(2026, 12, 3, 0), "breach_alert")]
    assert "It was due at Friday 27 November 2026, 16:00 PST (48 hours for serious tickets" in alerts[0].text
    assert "It was due at Wednesday 2 December 2026, 16:00 PST (1 week for serious tickets" in alerts[1].text
