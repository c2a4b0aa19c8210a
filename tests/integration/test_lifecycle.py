"""Every status an engineer, a customer or the clock gives a ticket, by email, end to end on a frozen clock.

Mail goes through the real pipeline into a real database (SQLite and PostgreSQL); the scheduled
jobs and the outbox run as `inbox jobs run-once --as-of` runs them, and what was sent is read back
from a memory transport. T0 is Monday 2 March 2026, 09:00 PST; the calendar is Los Angeles,
Monday to Friday 08:00-17:00, and daylight saving time starts on Sunday 8 March.
"""

from __future__ import annotations

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from tests.people_kit import ALICE, ENGINEER, config, inbound, kinds, opened, pst, reply, statuses, write
from tests.seed_kit import mails
from tests.sla_kit import T0


def test_waiting_on_customer_reply_pauses_the_clock_and_relays_the_words_not_the_command(make_desk) -> None:
    """An engineer's `#status waiting-on-customer`: waiting, response clock paused, words relayed, no follow-up."""
    desk = make_desk()
    opened(desk)
    assert desk.ticket().first_response_due == pst(4, 9)
    write(desk, pst(2, 10), reply("#status waiting-on-customer\nCould you send us the printer's serial number?\n", 2,
                                  sender=ENGINEER))
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_due, ticket.paused_since) == ("waiting-on-customer", None, pst(2, 10))
    assert (ticket.first_response_at, ticket.follow_ups) == (pst(2, 10), 0)
    assert statuses(desk) == [(pst(2, 10), ENGINEER, "open", "waiting-on-customer")]
    assert kinds(desk) == [(T0, ALICE, "acknowledgement"), (pst(2, 10), ALICE, "agent_reply")]
    [relayed] = mails(desk, "SUP-000001", kind="agent_reply")
    assert relayed.text.startswith("Could you send us the printer's serial number?")
    assert "#status" not in relayed.text and "Status: waiting-on-customer" in relayed.text
    [event] = desk.events(kind="relayed")
    assert (event.actor, event.detail["to"]) == (ENGINEER, [ALICE])


def test_unanswered_reminders_come_a_business_day_apart_then_solve_and_close(make_desk) -> None:
    """remind_every 1 business day: reminders Thu and Fri, solved Mon (after the weekend, now PDT), closed Thu."""
    desk = make_desk(config(lifecycle="{{remind_every: 1 business day, auto_solve_follow_ups: 2, "
                                      "auto_solve_after: 7 days, close_after_solved: 3 days}}"))
    opened(desk, pst(4, 9))  # Wednesday 4 March, 09:00 PST
    write(desk, pst(4, 14), reply("#status waiting-on-customer\nDoes it still smoke after a restart?\n", 2,
                                  sender=ENGINEER))
    assert desk.ticket().next_check_at == pst(5, 14)
    desk.run(pst(5, 13, 59))
    assert desk.ticket().follow_ups == 0
    desk.run(pst(5, 14))
    assert (desk.ticket().follow_ups, desk.ticket().next_check_at) == (1, pst(6, 14))
    # Friday 14:00 PST plus one open day is Monday 14:00 local, which is PDT by then (21:00 UTC).
    assert desk.run_until(pst(14, 0)) == [pst(6, 14), pst(9, 14), pst(12, 14)]
    ticket = desk.ticket()
    assert (ticket.status, ticket.follow_ups) == ("closed", 2)
    assert (ticket.solved_at, ticket.closed_at) == (pst(9, 14), pst(12, 14))
    assert kinds(desk) == [
        (pst(4, 9), ALICE, "acknowledgement"),
        (pst(4, 14), ALICE, "agent_reply"),
        (pst(5, 14), ALICE, "reminder"),
        (pst(6, 14), ALICE, "reminder"),
        (pst(9, 14), ALICE, "solved"),
        (pst(12, 14), ALICE, "closed"),
    ]
    assert statuses(desk)[1:] == [(pst(9, 14), "system", "waiting-on-customer", "solved"),
                                  (pst(12, 14), "system", "solved", "closed")]
    why = [e.detail["why"] for e in desk.events(kind="status_changed")][1:]
    assert "after 2 follow-ups" in why[0] and "3 days" in why[1]


def test_a_customer_reply_reopens_a_waiting_ticket_and_the_clock_resumes_shifted(make_desk) -> None:
    """Waiting Mon 10:00 to Tue 10:00 (nine open hours): reopened, response due Thu 09:00 instead of Wed 09:00."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 10), reply("#internal\n#status waiting-on-customer\nAsked Alice by phone for the serial.\n", 2,
                                  sender=ENGINEER))
    assert (desk.ticket().status, desk.ticket().first_response_due) == ("waiting-on-customer", None)
    write(desk, pst(3, 10), reply("The serial number is 1234.\n", 3))
    ticket = desk.ticket()
    assert (ticket.status, ticket.paused_since, ticket.first_response_at) == ("open", None, None)
    assert ticket.first_response_due == pst(5, 9)
    assert ticket.pauses == [[pst(2, 10).isoformat(), pst(3, 10).isoformat()]]
    [reopened] = desk.events(kind="status_changed")[1:]
    assert (reopened.actor, reopened.detail["to"], reopened.detail["why"]) == (ALICE, "open", "customer replied")


def test_waiting_pauses_the_workaround_and_resolution_clocks_of_a_critical_ticket(make_desk) -> None:
    """Critical, waiting Mon 10:00 to Tue 10:00 PST: workaround (48 h) and resolution (1 week) due 24 hours later."""
    desk = make_desk()
    opened(desk)
    desk.set(T0, severity="critical")
    ticket = desk.ticket()
    assert (ticket.workaround_due, ticket.resolution_due) == (pst(4, 9), pst(9, 9))  # 1 week on is PDT
    write(desk, pst(2, 10), reply("#status waiting-on-customer\nWhich firmware is it running?\n", 2, sender=ENGINEER))
    assert (desk.ticket().workaround_due, desk.ticket().resolution_due) == (None, None)
    write(desk, pst(3, 10), reply("Firmware 2.1.\n", 3))
    ticket = desk.ticket()
    assert (ticket.status, ticket.workaround_due, ticket.resolution_due) == ("open", pst(5, 9), pst(10, 9))


# -- solving and closing -----------------------------------------------------------------------------


def test_solve_with_words_sends_one_relayed_email_and_a_customer_reply_reopens(make_desk) -> None:
    """`#solve` with words: one agent_reply saying solved, no `solved` email; Alice's answer reopens the ticket."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 11), reply("#solve\nWe replaced the fuser; it should print again.\n", 2, sender=ENGINEER))
    ticket = desk.ticket()
    assert (ticket.status, ticket.solved_at, ticket.first_response_at) == ("solved", pst(2, 11), pst(2, 11))
    assert kinds(desk) == [(T0, ALICE, "acknowledgement"), (pst(2, 11), ALICE, "agent_reply")]
    [relayed] = mails(desk, "SUP-000001", kind="agent_reply")
    assert relayed.text.startswith("We replaced the fuser") and "Status: solved" in relayed.text
    assert "#solve" not in relayed.text
    write(desk, pst(3, 9), reply("It is on fire again.\n", 3))
    ticket = desk.ticket()
    assert (ticket.status, ticket.solved_at) == ("open", None)
    assert statuses(desk) == [(pst(2, 11), ENGINEER, "open", "solved"), (pst(3, 9), ALICE, "solved", "open")]


def test_solve_without_words_sends_the_solved_email(make_desk) -> None:
    """A bare `#solve` relays nothing, so the customer gets the `solved` email instead."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 11), reply("#solve\n", 2, sender=ENGINEER))
    assert desk.ticket().status == "solved"
    assert kinds(desk) == [(T0, ALICE, "acknowledgement"), (pst(2, 11), ALICE, "solved")]
    assert desk.events(kind="relayed") == []


def test_close_with_words_sends_one_email_and_a_later_reply_opens_a_linked_ticket(make_desk) -> None:
    """`#close` with words: one agent_reply saying closed; Alice's reply after that opens SUP-000002 linked to it."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 11), reply("#close\nThe printer was replaced under warranty.\n", 2, sender=ENGINEER))
    ticket = desk.ticket()
    assert (ticket.status, ticket.closed_at) == ("closed", pst(2, 11))
    assert kinds(desk) == [(T0, ALICE, "acknowledgement"), (pst(2, 11), ALICE, "agent_reply")]
    [relayed] = mails(desk, "SUP-000001", kind="agent_reply")
    assert relayed.text.startswith("The printer was replaced") and "Status: closed" in relayed.text
    write(desk, pst(3, 9), reply("The new one is on fire too.\n", 3), Outcome.OPENED)
    assert desk.ticket().status == "closed"
    new = desk.ticket("SUP-000002")
    assert (new.status, new.requester) == ("open", ALICE)
    with desk.app.sessions() as session:
        assert store.linked_trackings(session, new.id) == ["SUP-000001"]
    [linked] = desk.events("SUP-000002", kind="linked")
    assert (linked.detail["linked"], linked.detail["why"]) == (["SUP-000001"], "reply to a closed ticket")
    assert (pst(3, 9), ALICE, "acknowledgement") in kinds(desk, "SUP-000002")


# -- the other commands ------------------------------------------------------------------------------


def test_pending_and_waiting_on_third_party_are_applied_as_the_engineer(make_desk) -> None:
    """`#status pending` then `#status waiting-on-third-party`: both applied, each event's actor is the engineer."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 10), reply("#status pending\nWe are reproducing it.\n", 2, sender=ENGINEER))
    assert desk.ticket().status == "pending"
    write(desk, pst(2, 11), reply("#status waiting on third party\nThe vendor is looking at it.\n", 3, sender=ENGINEER))
    assert desk.ticket().status == "waiting-on-third-party"
    assert statuses(desk) == [(pst(2, 10), ENGINEER, "open", "pending"),
                              (pst(2, 11), ENGINEER, "pending", "waiting-on-third-party")]
    relayed = mails(desk, "SUP-000001", kind="agent_reply")
    assert ["Status: waiting-on-third-party" in m.text for m in relayed] == [False, True]
    assert desk.ticket().paused_since is None  # only waiting on the customer pauses the clocks


def test_workaround_stops_the_workaround_clock(make_desk) -> None:
    """`#workaround` on a critical ticket sets workaround_at; its 48-hour target then never breaches."""
    desk = make_desk()
    opened(desk)
    desk.set(T0, severity="critical")
    desk.run(T0)
    assert desk.ticket().workaround_due is not None
    write(desk, pst(2, 12), reply("#workaround\nUntil the part arrives, print from tray 2.\n", 2, sender=ENGINEER))
    ticket = desk.ticket()
    assert (ticket.workaround_at, ticket.first_response_at, ticket.status) == (pst(2, 12), pst(2, 12), "open")
    [event] = desk.events(kind="workaround")
    assert (event.at, event.actor) == (pst(2, 12), ENGINEER)
    desk.run_until(pst(12, 0))
    breached = {e.detail["target"] for e in desk.events(kind="breach")}
    assert "resolution" in breached and "workaround" not in breached  # the sweep went past both due times


def test_an_unknown_status_is_refused_and_the_rest_applied_and_relayed(make_desk) -> None:
    """`#status bogus`: command_refused event and email to the engineer; `#workaround` and the words go through."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 10), reply("#status bogus\n#workaround\nTry restarting the spooler.\n", 2, sender=ENGINEER))
    ticket = desk.ticket()
    assert (ticket.status, ticket.workaround_at) == ("open", pst(2, 10))
    [refused] = desk.events(kind="command_refused")
    assert (refused.actor, refused.detail["relayed"]) == (ENGINEER, True)
    [line] = refused.detail["lines"]
    assert line["line"] == "#status bogus" and '"bogus" is not a status' in line["reason"]
    assert sorted(kinds(desk)) == [(T0, ALICE, "acknowledgement"), (pst(2, 10), ALICE, "agent_reply"),
                                   (pst(2, 10), ENGINEER, "command_refused")]
    [told] = mails(desk, "SUP-000001", kind="command_refused")
    assert "#status bogus" in told.text and "was sent to the" in told.text
    [relayed] = mails(desk, "SUP-000001", kind="agent_reply")
    assert relayed.text.startswith("Try restarting the spooler.")
    assert "#status" not in relayed.text and "#workaround" not in relayed.text


def test_an_unauthenticated_engineer_reply_changes_nothing_and_is_kept_flagged(make_desk) -> None:
    """No Authentication-Results: nothing applied or relayed, an internal flagged note, and the engineer told."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 10), reply("#solve\nAll fixed, sorry for the trouble.\n", 2, sender=ENGINEER, vouched=False))
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_at, ticket.solved_at) == ("open", None, None)
    assert ticket.first_response_due == pst(4, 9)
    [_, note] = inbound(desk)
    assert (note.from_addr, note.internal) == (ENGINEER, True) and note.flag.startswith("not relayed")
    assert kinds(desk) == [(T0, ALICE, "acknowledgement"), (pst(2, 10), ENGINEER, "command_refused")]
    [told] = mails(desk, "SUP-000001", kind="command_refused")
    assert "NOT sent" in told.subject and "did NOT receive your reply" in told.text
    [refused] = desk.events(kind="command_refused")
    assert refused.detail["relayed"] is False and refused.detail["reason"].startswith("not authenticated")
    assert desk.events(kind="status_changed") == [] and desk.events(kind="relayed") == []


def test_internal_keeps_the_reply_from_the_customer_but_applies_its_commands(make_desk) -> None:
    """`#internal` with `#status pending`: pending, nothing relayed, and it is not the first response."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 10), reply("#internal\n#status pending\nAlice sounds upset; check the logs first.\n", 2,
                                  sender=ENGINEER))
    ticket = desk.ticket()
    assert (ticket.status, ticket.first_response_at, ticket.first_response_due) == ("pending", None, pst(4, 9))
    assert statuses(desk) == [(pst(2, 10), ENGINEER, "open", "pending")]
    assert kinds(desk) == [(T0, ALICE, "acknowledgement")]
    [_, note] = inbound(desk)
    assert (note.internal, note.flag) == (True, None)
    [appended] = desk.events(kind="appended")
    assert appended.detail["relayed"] is False


def test_a_command_only_reply_with_a_refused_line_does_not_claim_the_reply_was_refused(make_desk) -> None:
    """Authenticated `#status pending` + `#status bogus` with no words: pending applied, and the engineer is told
    only that `#status bogus` was not applied, not that the email was refused, unauthenticated or not applied."""
    desk = make_desk()
    opened(desk)
    write(desk, pst(2, 10), reply("#status pending\n#status bogus\n", 2, sender=ENGINEER))
    assert desk.ticket().status == "pending"
    [told] = mails(desk, "SUP-000001", kind="command_refused")
    assert "#status bogus" in told.text
    assert "NOT sent" not in told.subject
    assert "none of its commands were applied" not in told.text
    assert "authenticated" not in told.text
