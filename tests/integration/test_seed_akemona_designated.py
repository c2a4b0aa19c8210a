"""Akemona's designated contacts, all the way: a colleague's ticket is held until someone entitled vouches for it.

"Up to three (3) designated customer contacts may access technical support services." Harbor
Ridge's designated contacts are ops@, cfo@ and it@harborridge.example; analyst@ works there but is
not one; tam@akemona.com is its account manager. Each test feeds mail through the real pipeline on
config/examples/akemona.yaml (plan subscription: undesignated_clocks from_confirmation) at chosen
instants, on an injected clock, and checks every email sent and every due time, worked out by hand
(UTC, with Pacific local time beside it; 8 March 2026 is the switch from PST to PDT).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

from inbox.settings import ConfigError, load_settings
from tests.fakes import mail
from tests.seed_kit import EXAMPLES, Outcome, SeedDesk, Status, dues, log, mails, utc
from tests.sla_kit import TEMPLATES

TR = "AKM-000001"
OPS, ANALYST, TAM = "ops@harborridge.example", "analyst@harborridge.example", "tam@akemona.com"
RAVI, JENNA, ONCALL = "ravi@akemona.com", "jenna@akemona.com", "oncall@akemona.com"
HELD = ["not-designated-contact", "awaiting-confirmation"]


def post(desk: SeedDesk, at: datetime, sender: str, subject: str, n: int, body: str, *,
         vouched: bool) -> tuple[Outcome, bytes]:
    """Mail number n from `sender` at `at` (`vouched`: mx.test says DKIM passed for its domain); jobs run then."""
    data = mail(sender=sender, to=desk.support, subject=subject, body=body, date=at, vouched=vouched,
                message_id=f"<m{n}@{sender.rpartition('@')[2]}>")
    outcome = desk.feed(data, at=at)
    desk.run(at)
    return outcome, data


def refused(desk: SeedDesk, kind: str = "command_refused") -> list[tuple[datetime, str, str]]:
    return [(e.at, e.actor, item["reason"]) for e in desk.events(TR, kind=kind) for item in e.detail["lines"]]


def test_akemona_colleagues_ticket_waits_for_a_designated_contacts_confirm_then_its_clocks_start(seed) -> None:
    """Held: no engineer, no clocks; the colleague cannot confirm it; ops's #confirm (by address) dispatches it once.

    "Up to three (3) designated customer contacts may access technical support services."
    "4 – Low ... Respond within 48 business hours"; "Business Hours: 8:00 AM – 5:00 PM PST, Monday–Friday".
    """
    desk, subject = seed("akemona"), "Cannot download statements"
    # Mon 2 Mar 09:00 PST: the colleague writes. Kept and flagged, no engineer, no clock (from_confirmation).
    assert post(desk, utc(2026, 3, 2, 17), ANALYST, subject, 1, "Statements fail.\n", vouched=True)[0] == Outcome.OPENED
    ticket = desk.ticket(TR)
    assert (ticket.flags, ticket.assignee, ticket.next_check_at) == (HELD, None, None)
    assert dues(desk, TR) == (None, None, None, None)
    [note] = mails(desk, TR, to=ANALYST)
    assert note.kind == "not_designated" and f"#confirm on a line of its own and [{TR}]" in note.text
    # Mon 10:00 PST: the colleague's own "#confirm" is refused; nothing else happens, nobody is mailed.
    post(desk, utc(2026, 3, 2, 18), ANALYST, f"Re: [{TR}] {subject}", 2, "#confirm\nPlease look.\n", vouched=True)
    assert refused(desk) == [(utc(2026, 3, 2, 18), ANALYST, f"{ANALYST} is not a designated contact of Harbor Ridge "
                              "Capital: only a designated contact or an account manager may confirm or steer the ticket")]
    assert (desk.ticket(TR).flags, desk.ticket(TR).assignee) == (HELD, None)

    # Wed 4 Mar 16:00 PST: ops confirms, unsigned: customers are known by address (a forged From of
    # ops could as well open a ticket of its own, dispatched at once), so no proof is asked of them.
    confirmed_at = utc(2026, 3, 5, 0)
    outcome, data = post(desk, confirmed_at, OPS, f"Re: [{TR}] {subject}", 3, "#confirm\nSam works with us.\n",
                         vouched=False)
    assert outcome == Outcome.APPENDED
    ticket = desk.ticket(TR)
    # Dispatched as opening would have: the general team's first turn (the held ticket used none).
    assert (ticket.flags, ticket.assignee, ticket.status) == (["not-designated-contact"], RAVI, Status.OPEN)
    [event] = desk.events(TR, kind="confirmed")
    assert (event.at, event.actor, event.detail["how"], event.detail["clocks"]) == (
        confirmed_at, OPS, "#confirm", "from_confirmation")
    # 48 business hours from Wed 16:00 PST: Wed 1, Thu 9, Fri 9, Mon 9 (PDT from Sunday), Tue 9, Wed 9
    # (46), then 2 h on Thu 12 Mar -> 10:00 PDT.
    assert dues(desk, TR) == (utc(2026, 3, 12, 17), None, None, None)
    ack = mails(desk, TR, to=ANALYST, kind="acknowledgement")[0]
    assert "Response target: 48 business hours, due by Thursday 12 March 2026, 10:00 PDT" in ack.text
    assert log(desk, TR) == [
        (utc(2026, 3, 2, 17), ANALYST, "not_designated"),
        (confirmed_at, RAVI, "assigned"),
        (confirmed_at, ANALYST, "acknowledgement"),
    ]

    # The same mail again is a duplicate; a second "#confirm" (Thu 5 Mar 09:00 PST) is refused: it acts once.
    assert desk.feed(data, at=utc(2026, 3, 5, 16)) == Outcome.DUPLICATE
    post(desk, utc(2026, 3, 5, 17), OPS, f"Re: [{TR}] {subject}", 4, "#confirm\n", vouched=True)
    assert refused(desk)[-1][1:] == (OPS, "the ticket is not awaiting confirmation (confirmed or assigned already, "
                                          "or opened by a designated contact)")
    assert len(desk.events(TR, kind="confirmed")) == 1 and desk.ticket(TR).assignee == RAVI
    assert dues(desk, TR) == (utc(2026, 3, 12, 17), None, None, None) and len(log(desk, TR)) == 3


def test_akemona_account_manager_confirms_only_when_authenticated_and_sets_severity_first(seed) -> None:
    """An unsigned #confirm from the account manager is refused; signed, with #severity critical, on-call gets it.

    "1 – Critical ... Respond within 4 business hours | Work continuously until workaround or fix; best
    effort within 24 hours".
    """
    desk, subject = seed("akemona"), "Portal down"
    assert post(desk, utc(2026, 3, 6, 23), ANALYST, subject, 1, "Down.\n", vouched=True)[0] == Outcome.OPENED  # Fri 15:00 PST
    # Fri 15:30 PST: a forged (unauthenticated) account manager changes nothing; the manager hears why.
    post(desk, utc(2026, 3, 6, 23, 30), TAM, f"Re: [{TR}] {subject}", 2, "#confirm\n", vouched=False)
    [(at, by, reason)] = refused(desk, "escalation_refused")
    assert (at, by) == (utc(2026, 3, 6, 23, 30), TAM) and reason.startswith("not authenticated")
    assert (desk.ticket(TR).flags, desk.ticket(TR).assignee) == (HELD, None)

    # Fri 16:00 PST, signed: the severity first (a held ticket is not dispatched by it), then the confirmation.
    confirmed_at = utc(2026, 3, 7, 0)
    outcome, data = post(desk, confirmed_at, TAM, f"Re: [{TR}] {subject}", 3, "#confirm\n#severity critical\n",
                         vouched=True)
    ticket = desk.ticket(TR)
    assert (ticket.severity, ticket.assignee, ticket.flags) == ("critical", ONCALL, ["not-designated-contact"])
    assert desk.events(TR, kind="confirmed")[0].detail["role"] == "account manager"
    # From Fri 16:00 PST: response 1 h Friday + 3 h Monday 9 Mar -> 11:00 PDT; workaround 24 hours -> Sat 16:00 PST.
    assert dues(desk, TR) == (utc(2026, 3, 9, 18), utc(2026, 3, 8, 0), None, None)
    # A replay of the signed mail is a duplicate and changes nothing.
    assert desk.feed(data, at=utc(2026, 3, 7, 1)) == Outcome.DUPLICATE
    # Workaround warned at 80 % (19 h 12 min: Sat 11:12 PST), the lead told at Sat 16:00 PST.
    assert desk.run_until(utc(2026, 3, 8, 1), TR) == [utc(2026, 3, 7, 19, 12), utc(2026, 3, 8, 0)]
    assert log(desk, TR) == [
        (utc(2026, 3, 6, 23), ANALYST, "not_designated"),
        (utc(2026, 3, 6, 23, 30), TAM, "escalation_refused"),
        (confirmed_at, ANALYST, "severity_changed"),
        (confirmed_at, TAM, "severity_changed"),  # the manager who asked; no engineer yet to tell
        (confirmed_at, ONCALL, "assigned"),
        (confirmed_at, ANALYST, "acknowledgement"),
        (utc(2026, 3, 7, 19, 12), ONCALL, "sla_warning"),
        (utc(2026, 3, 8, 0), "support-lead@akemona.com", "breach_alert"),
    ]


@pytest.mark.parametrize(("clocks", "response_due"), [
    # From arrival, Mon 2 Mar 09:00 PST: Mon 8, Tue-Fri 36 (44), 4 h on Mon 9 Mar -> 12:00 PDT.
    ("from_arrival", utc(2026, 3, 9, 19)),
    ("none", None),
])
def test_akemona_variants_an_engineers_assign_releases_the_held_ticket(seed, clocks: str, response_due) -> None:
    """undesignated_clocks from_arrival: due from the colleague's mail; none: never clocked. `#assign` releases it."""
    desk, subject = seed("akemona", plans={"subscription": {"undesignated_clocks": clocks}}), "Export slow"
    post(desk, utc(2026, 3, 2, 17), ANALYST, subject, 1, "Slow.\n", vouched=True)
    assert (desk.ticket(TR).flags, desk.ticket(TR).assignee) == (HELD, None)
    assert dues(desk, TR) == (response_due, None, None, None)
    # Tue 3 Mar 10:00 PST: Jenna takes it by hand (signed); the hold ends, the clocks stay as the plan says.
    post(desk, utc(2026, 3, 3, 18), JENNA, f"Re: [{TR}] {subject}", 2, "#assign jenna@akemona.com\n#internal\n",
         vouched=True)
    ticket = desk.ticket(TR)
    assert (ticket.flags, ticket.assignee) == (["not-designated-contact"], JENNA)
    [event] = desk.events(TR, kind="confirmed")
    assert (event.actor, event.detail["how"], event.detail["to"], event.detail["clocks"]) == (JENNA, "assigned", JENNA, clocks)
    assert dues(desk, TR) == (response_due, None, None, None)
    assert log(desk, TR) == [(utc(2026, 3, 2, 17), ANALYST, "not_designated"),
                             (utc(2026, 3, 3, 18), JENNA, "assigned"),
                             (utc(2026, 3, 3, 18), ANALYST, "acknowledgement")]


def test_akemona_engineer_cannot_confirm_and_unsigned_assign_does_not_release(seed) -> None:
    """"#confirm" is not an engineer's command (they assign); an unsigned "#assign" is a flagged note."""
    desk, subject = seed("akemona"), "Export slow"
    post(desk, utc(2026, 3, 2, 17), ANALYST, subject, 1, "Slow.\n", vouched=True)
    post(desk, utc(2026, 3, 2, 18), RAVI, f"Re: [{TR}] {subject}", 2, "#confirm\n#internal\n", vouched=True)
    post(desk, utc(2026, 3, 2, 19), RAVI, f"Re: [{TR}] {subject}", 3, f"#assign {RAVI}\n#internal\n", vouched=False)
    assert (desk.ticket(TR).flags, desk.ticket(TR).assignee) == (HELD, None)
    reasons = [item["reason"] for e in desk.events(TR, kind="command_refused") for item in e.detail["lines"]]
    assert reasons == ["#confirm is for a designated contact or an account manager; an engineer releases the "
                       "ticket with #assign", "not applied", "not applied"]  # the unsigned mail's two lines


def test_akemona_colleagues_reply_on_a_designated_contacts_ticket_is_kept_flagged_and_steers_nothing(seed) -> None:
    """A non-designated reply does not reopen a waiting ticket, escalate or command; ops's reply does reopen it.

    "Ensuring designated contacts are available for problem determination when needed."
    """
    desk, subject = seed("akemona"), "Report export fails"
    post(desk, utc(2026, 3, 2, 17), OPS, subject, 1, "Fails.\n", vouched=True)  # Mon 2 Mar 09:00 PST
    desk.change(utc(2026, 3, 2, 18), TR, RAVI, status=Status.WAITING_ON_CUSTOMER)  # 10:00 PST, 1 open hour used
    post(desk, utc(2026, 3, 2, 19), ANALYST, f"Re: [{TR}] {subject}", 2,  # 11:00 PST
         "#severity critical\n#close\nPlease escalate this, it is urgent.\n", vouched=True)
    ticket = desk.ticket(TR)
    assert (ticket.status, ticket.severity, ticket.first_response_due, ticket.flags) == (
        "waiting-on-customer", "low", None, [])
    [appended] = [e for e in desk.events(TR, kind="appended") if e.actor == ANALYST]
    assert appended.detail["flag"] == "not-designated-contact"
    assert desk.events(TR, kind="escalation_requested") == []
    assert [r[2].startswith(f"{ANALYST} is not a designated contact") for r in refused(desk, "escalation_refused")] == [
        True, True]
    assert log(desk, TR)[-1] == (utc(2026, 3, 2, 19), TAM, "escalation_refused")  # the manager hears of it
    # Mon 12:00 PST ops answers: reopened. 48 business hours from Mon 09:00 PST, plus the 2 paused open
    # hours: Mon 9 Mar 12:00 PDT + 2 h -> 14:00 PDT.
    post(desk, utc(2026, 3, 2, 20), OPS, f"Re: [{TR}] {subject}", 3, "Here are the logs.\n", vouched=False)
    assert desk.ticket(TR).status == "open" and dues(desk, TR) == (utc(2026, 3, 9, 21), None, None, None)


def _write(tmp_path: Path, plan: dict) -> Path:
    data = yaml.safe_load((EXAMPLES / "akemona.yaml").read_text())
    data["plans"]["subscription"].update(plan)
    data["templates"]["dir"] = str(TEMPLATES)
    path = tmp_path / "akemona.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("plan", "problem"), [
    ({"undesignated_clocks": "later"}, "plans.subscription.undesignated_clocks"),
    ({"designated_contacts": None, "undesignated_clocks": "none"},
     "plans.subscription.undesignated_clocks: has no effect without designated_contacts"),
])
def test_undesignated_clocks_is_validated(tmp_path: Path, plan: dict, problem: str) -> None:
    """An unknown choice, or a choice on a plan that designates nobody, stops the service naming the key."""
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, plan))
    assert any(problem in line for line in caught.value.problems), caught.value.problems
