"""Customers who close (issue 21, Apporetum): "The ticket is not resolved but is closed by the customer."

Timelines on config/examples/apporetum.yaml as shipped (every plan has `customers_may_close`), fed
through the real pipeline at chosen instants on SQLite and PostgreSQL. Banksia Health is on Standard
Business Service: Sydney 09:00-17:00 Mon-Fri, severity three answered in 2 business days (a
placeholder). Expected instants are worked out by hand, in UTC with Sydney time beside them (AEDT,
UTC+11, in March). The attacks: a partner copied on the thread, a colleague not on it, an outsider
naming the number, and words that only look like a request. The last test runs on the people
desk (tests/staff_kit.py), whose plan leaves closing to the engineers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.fakes import mail
from tests.seed_kit import Outcome, SeedDesk, Status, dues, log, mails, utc
from tests.sla_kit import T0, Desk
from tests.staff_kit import TAM, emails_to

IDT, CIO = "identity-team@banksia-health.example", "cio@banksia-health.example"
DESK_TEAM, BANKSIA_TAM = "support-desk@apporetum.com.au", "tam-banksia@apporetum.com.au"
TR = "APP-000001"
OPENED = utc(2026, 3, 9, 23)  # Tue 10 Mar 2026 10:00 AEDT
DUE = utc(2026, 3, 11, 23)  # two open days later: Thu 12 Mar 10:00 AEDT
NOT_THEIRS = "only the ticket's own customer (its requester, or the customer's addresses on the thread) may close it"


def send(desk: SeedDesk, at: datetime, sender: str, body: str, n: int, *, reply: bool = True,
         cc: str | None = None) -> Outcome:
    """Mail number n about "SSO login loop" (a reply to mail 1 unless `reply` is False); the jobs run then."""
    domain = sender.rpartition("@")[2]
    subject = f"Re: [{TR}] SSO login loop" if reply else "SSO login loop"
    outcome = desk.feed(mail(sender=sender, to=desk.support, subject=subject, body=body, message_id=f"<m{n}@{domain}>",
                             in_reply_to="<m1@banksia-health.example>" if reply else None, date=at,
                             headers={"Cc": cc} if cc else None, vouched=True), at=at)
    desk.run(at)
    return outcome


def opened(seed, cc: str | None = None) -> SeedDesk:
    desk = seed("apporetum")
    assert send(desk, OPENED, IDT, "Users are sent round an SSO login loop.\n", 1, reply=False, cc=cc) == Outcome.OPENED
    assert dues(desk, TR) == (DUE, None, None, None)
    return desk


def test_apporetum_customer_closes_in_words_and_the_clocks_stop(seed) -> None:
    """"Please close this ticket" from the requester at 11:00 AEDT: closed unresolved, a closed_by_customer event,
    one short confirmation (not the engineers' "closed" email), no warning or breach ever after; a later reply
    opens a new ticket that links it."""
    desk = opened(seed)
    at = utc(2026, 3, 10, 0)  # Tue 10 Mar 11:00 AEDT
    body = "It works again after we flushed our cache.\nPlease close this ticket.\n\nThanks, Identity team\n"
    assert send(desk, at, IDT, body, 2) == Outcome.APPENDED
    ticket = desk.ticket(TR)
    assert (ticket.status, ticket.closed_at, ticket.first_response_at) == ("closed", at, at)
    [closed] = desk.events(TR, kind="closed_by_customer")
    assert (closed.at, closed.actor, closed.detail["line"], closed.detail["from"]) == (
        at, IDT, "Please close this ticket", "open")
    [change] = desk.events(TR, kind="status_changed")
    assert (change.detail["to"], change.detail["why"]) == ("closed", "closed by the customer: Please close this ticket")
    assert log(desk, TR) == [(OPENED, DESK_TEAM, "assigned"), (OPENED, IDT, "acknowledgement"),
                             (at, IDT, "closed_by_customer")]
    [confirmation] = mails(desk, TR, kind="closed_by_customer")
    assert confirmation.subject == f"[{TR}] Closed at your request: SSO login loop"
    assert f"As you asked, ticket {TR} (SSO login loop) is now closed, at the request of {IDT}." in confirmation.text
    # The response would have been due Thu 12 Mar 10:00 AEDT: nothing is warned or breached, then or later.
    assert desk.run_all_until(utc(2026, 3, 31, 0), TR) == [] and desk.ticket(TR).next_check_at is None
    assert desk.events(TR, kind="breach") == [] and desk.events(TR, kind="sla_warning") == []
    assert send(desk, utc(2026, 3, 10, 22), IDT, "Sorry, it is back.\n", 3) == Outcome.OPENED  # Wed 09:00 AEDT
    assert desk.events("APP-000002", kind="linked")[0].detail["linked"] == [TR]


def test_a_colleague_on_the_thread_closes_by_hash_close_but_may_not_solve_assign_or_raise(seed) -> None:
    """The CIO, copied on the first mail, writes "#close" with "#solve", "#assign" and "#severity one": the ticket
    closes; the other lines are refused with their reasons (the TAM hears of the severity line); both the
    requester and the CIO get the confirmation."""
    desk = opened(seed, cc=CIO)
    at = utc(2026, 3, 10, 3, 30)  # Tue 14:30 AEDT
    body = f"#close\n#solve\n#assign {DESK_TEAM}\n#severity one\nWe will handle it internally.\n"
    assert send(desk, at, CIO, body, 2) == Outcome.APPENDED
    ticket = desk.ticket(TR)
    assert (ticket.status, ticket.severity, ticket.assignee) == ("closed", "three", DESK_TEAM)
    assert desk.events(TR, kind="closed_by_customer")[0].detail["line"] == "#close"
    [refused] = desk.events(TR, kind="escalation_refused")
    assert refused.detail["lines"] == [
        {"line": "#solve", "reason": "#solve is an engineer's command"},
        {"line": f"#assign {DESK_TEAM}", "reason": "#assign is an engineer's command"},
        {"line": "#severity one", "reason": "only an account manager of the ticket's customer may change its severity"}]
    assert sorted(m[1:] for m in log(desk, TR) if m[0] == at) == [
        (CIO, "closed_by_customer"), (IDT, "closed_by_customer"), (BANKSIA_TAM, "escalation_refused")]


def test_a_solved_ticket_is_closed_by_its_customer_not_reopened(seed) -> None:
    """Solved by the engineer at 12:00 AEDT, "#close" from the requester at 12:30: closed, never reopened, solved
    time kept."""
    desk = opened(seed)
    solved_at, at = utc(2026, 3, 10, 1), utc(2026, 3, 10, 1, 30)
    desk.change(solved_at, TR, DESK_TEAM, status=Status.SOLVED)
    assert send(desk, at, IDT, "#close\nThanks!\n", 2) == Outcome.APPENDED
    ticket = desk.ticket(TR)
    assert (ticket.status, ticket.solved_at, ticket.closed_at) == ("closed", solved_at, at)
    assert [(e.detail["from"], e.detail["to"]) for e in desk.events(TR, kind="status_changed")] == [
        ("open", "solved"), ("solved", "closed")]
    assert [m.kind for m in mails(desk, TR, to=IDT)] == ["acknowledgement", "solved", "closed_by_customer"]


def test_nobody_but_the_tickets_own_customer_may_close_it(seed) -> None:
    """A partner copied on the thread, a colleague at the customer's domain never on the thread, and an outsider
    naming the number each try: the ticket stays open, every attempt is recorded with its reason, nobody is
    emailed for it; the outsider's mail opens a ticket of its own (as any non-participant's does)."""
    partner = "consultant@gum-tree-partners.example"
    desk = opened(seed, cc=partner)
    t1, t2, t3 = utc(2026, 3, 10, 0), utc(2026, 3, 10, 0, 10), utc(2026, 3, 10, 0, 20)
    assert send(desk, t1, partner, "#close\n", 2) == Outcome.APPENDED
    assert send(desk, t2, "nurse@banksia-health.example", "Please close this ticket.\n", 3) == Outcome.APPENDED
    assert send(desk, t3, "mallory@evil.example", "#close\nPlease close this ticket.\n", 4) == Outcome.OPENED
    assert desk.ticket(TR).status == "open" and desk.events(TR, kind="closed_by_customer") == []
    refused = desk.events(TR, kind="command_refused")
    assert [(e.at, e.actor, e.detail["lines"]) for e in refused] == [
        (t1, partner, [{"line": "#close", "reason": NOT_THEIRS}]),
        (t2, "nurse@banksia-health.example", [{"line": "Please close this ticket", "reason": NOT_THEIRS}]),
        (t3, "mallory@evil.example", [{"line": "#close", "reason": NOT_THEIRS}])]
    assert log(desk, TR) == [(OPENED, DESK_TEAM, "assigned"), (OPENED, IDT, "acknowledgement")]
    assert desk.ticket("APP-000002").status == "open"  # the outsider's "#close" closes not even their own ticket


def test_words_that_only_look_like_a_request_close_nothing(seed) -> None:
    """"Please don't close this ticket yet" and a quoted "please close this ticket" leave it open, unrecorded."""
    desk = opened(seed)
    body = "Please don't close this ticket yet, we are still testing.\n\nOn Tue, you wrote:\n> Please close this ticket\n"
    assert send(desk, utc(2026, 3, 10, 0), IDT, body, 2) == Outcome.APPENDED
    assert desk.ticket(TR).status == "open" and desk.events(TR, kind="command_refused") == []


def test_where_the_plan_leaves_closing_to_engineers_a_customer_closes_nothing(desk: Desk) -> None:
    """The people desk's plan has no `customers_may_close`: Alice's words are words, her "#close" is refused as an
    engineer's command and only recorded, as before."""
    reply = dict(in_reply_to="<m1@acme.com>", subject="Re: [SUP-000001] Printer on fire")
    at = T0 + timedelta(minutes=30)
    desk.feed(mail(message_id="<m2@acme.com>", body="Please close this ticket.\n", **reply), at=at)
    assert desk.ticket().status == "open" and desk.events(kind="command_refused") == []
    desk.feed(mail(message_id="<m3@acme.com>", body="#close\n", **reply), at=at)
    desk.run(at)
    assert desk.ticket().status == "open"
    [refused] = desk.events(kind="command_refused")
    assert refused.detail["lines"] == [{"line": "#close", "reason": "#close is an engineer's command"}]
    assert [k for k, _ in emails_to(desk, "alice@acme.com")] == ["acknowledgement"] and emails_to(desk, TAM) == []
