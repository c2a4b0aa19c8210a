"""Issue 22's body classes through the pipeline on SQLite and PostgreSQL: a forward keeps its content
on the ticket and its forwarded "#solve" never acts; a stub plain part gives way to the HTML; a
customer's machine notification opens or joins a ticket silently, and nothing is ever queued to it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inbox.domain.ticket import Outcome
from inbox.settings import ConfigError, load_settings
from inbox.store.tables import OutboxRow
from tests.fakes import mail
from tests.people_kit import (
    ALICE,
    ENGINEER,
    config,
    inbound,
    kinds,
    opened,
    pst,
    reply,
    write,
)
from tests.sla_kit import T0

MONITOR = "alerts@monitoring.acme.com"
SNOW = "instance@service-now.acme.com"
MACHINES = """\
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com],
     machine_senders: [alerts@monitoring.acme.com, "*@service-now.acme.com"]}}
  - {{id: initech, plan: standard, domains: [initech.test], accept_notifications: true}}
"""
ALERT = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All", "Precedence": "bulk"}


def _queued(desk) -> list[str]:
    """Every recipient of every email ever queued, sent or not."""
    with desk.app.sessions() as session:
        return list(session.execute(select(OutboxRow.recipient)).scalars())


# -- forwards -----------------------------------------------------------------------------------

FORWARD = ("Please check the invoice below.\n\n-----Original Nachricht-----\nVon: billing@vendor.example\n"
           "Gesendet: Montag, 1. Dezember 2026 10:00\nAn: alice@acme.com\nBetreff: Invoice\n\n"
           "Invoice 4711 is wrong: the amount is doubled.\n#solve\n#severity critical\n")


def test_forward_opens_a_ticket_with_the_forwarded_content_and_its_commands_never_act(make_desk) -> None:
    """'W.: Invoice': the ticket's first message shows the forwarded mail; its '#solve' and '#severity' do nothing."""
    desk = make_desk()
    assert desk.feed(mail(subject="W.: Invoice", body=FORWARD), at=T0) == Outcome.OPENED
    ticket = desk.ticket()
    assert (ticket.status, ticket.severity) == ("open", "low")
    [first] = inbound(desk)
    assert first.visible_text.startswith("Please check the invoice below.")
    assert "Invoice 4711 is wrong: the amount is doubled." in first.visible_text


def test_forwarded_solve_in_a_reply_never_acts(make_desk) -> None:
    """An engineer forwarding a customer mail that says '#solve' into the ticket: the ticket stays open."""
    desk = make_desk()
    opened(desk)
    body = ("FYI\n\n---------- Forwarded message ---------\nFrom: Alice <alice@acme.com>\nDate: Mon\n"
            "Subject: x\n\n#solve\n#status solved\n")
    write(desk, pst(2, 10), reply(body, 2, sender=ENGINEER, subject="Fwd: [SUP-000001] Printer on fire"))
    assert desk.ticket().status == "open"
    assert not desk.events(kind="status_changed")


# -- stub plain parts ---------------------------------------------------------------------------

def test_stub_plain_part_gives_the_ticket_the_html_text(make_desk) -> None:
    """'HTML newsletter could be read here: ...' beside a rich HTML part: the ticket shows the HTML's text."""
    desk = make_desk()
    html = ("<html><body><h1>Outage</h1><p>" + "The database cluster stopped accepting writes at 10:02 UTC. " * 4
            + "</p></body></html>")
    raw = (f"From: Alice <{ALICE}>\r\nTo: support@example.com\r\nSubject: Outage\r\nMessage-ID: <m1@acme.com>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nHTML newsletter could be read here: http://acme.example/n/1\r\n"
           f"--b\r\nContent-Type: text/html\r\n\r\n{html}\r\n--b--\r\n").encode()
    assert desk.feed(raw, at=T0) == Outcome.OPENED
    [first] = inbound(desk)
    assert "The database cluster stopped accepting writes" in first.visible_text


# -- machine notifications ----------------------------------------------------------------------

def test_listed_machine_opens_a_ticket_silently_and_is_never_mailed(make_desk) -> None:
    """A monitoring alert (Auto-Submitted: auto-generated) from a listed machine opens a flagged ticket,
    dispatched as any; no acknowledgement, no status update, no reply ever queued to the machine."""
    desk = make_desk(config(customers=MACHINES))
    alert = mail(sender=MONITOR, subject="CRITICAL: db1 down", body="db1 is down since 09:00\n#solve\n", headers=ALERT)
    assert desk.feed(alert, at=T0) == Outcome.OPENED
    desk.run(T0)
    ticket = desk.ticket()
    assert ticket.requester == MONITOR and ticket.customer_id == "acme" and "notification" in ticket.flags
    assert ticket.status == "open"  # a machine's "#solve" is no one's
    [opened_event] = desk.events(kind="opened")
    assert opened_event.detail["automation"] == "notification"
    assert [e.detail["flag"] for e in desk.events(kind="flagged")] == ["notification"]
    # Its next alert joins by threading, still silent; an engineer's reply and the clocks mail nobody.
    again = mail(sender=MONITOR, subject="Re: CRITICAL: db1 down", message_id="<m2@acme.com>",
                 in_reply_to="<m1@acme.com>", headers=ALERT)
    write(desk, pst(2, 10), again)
    write(desk, pst(2, 11), reply("We are on it.\n", 3, sender=ENGINEER, subject="Re: [SUP-000001] CRITICAL: db1 down"))
    desk.set(pst(2, 12), severity="critical")
    desk.run(pst(9, 12))  # a week of clocks: any status update would be queued by now
    assert MONITOR not in _queued(desk)
    assert all(to != MONITOR for _at, to, _kind in kinds(desk))
    [relayed] = desk.events(kind="relayed")
    assert relayed.detail["to"] == [] and MONITOR in relayed.detail["not_to"]


def test_service_now_pattern_and_domain_wide_acceptance(make_desk) -> None:
    """'*@service-now.acme.com' matches any address there; a customer with accept_notifications takes
    auto-generated mail from any of its addresses; neither is acknowledged."""
    desk = make_desk(config(customers=MACHINES))
    snow = mail(sender=SNOW, subject="INC0012345 assigned to Acme Support", headers={"Auto-Submitted": "auto-generated"})
    nagios = mail(sender="nagios@initech.test", subject="PROBLEM: disk full", message_id="<n1@initech.test>",
                  headers={"Auto-Submitted": "auto-generated"})
    assert desk.feed(snow, at=T0) == Outcome.OPENED
    assert desk.feed(nagios, at=T0) == Outcome.OPENED
    desk.run(T0)
    assert "notification" in desk.ticket("SUP-000002").flags
    assert not set(_queued(desk)) & {SNOW, "nagios@initech.test"}


def test_strangers_and_out_of_office_still_open_nothing(make_desk) -> None:
    """Auto-generated mail from a domain no customer accepts, and an out-of-office from a listed machine's
    domain, keep their handling: no ticket, nothing queued."""
    desk = make_desk(config(customers=MACHINES))
    stranger = mail(sender="alerts@evil.test", subject="CRITICAL: pay now", message_id="<e1@evil.test>", headers=ALERT)
    unlisted = mail(sender="cron@acme.com", subject="cron output", message_id="<c1@acme.com>",
                    headers={"Auto-Submitted": "auto-generated"})
    oof = mail(sender=SNOW, subject="Out of office: back Monday", message_id="<o1@acme.com>",
               headers={"Auto-Submitted": "auto-replied"})
    assert [desk.feed(m, at=T0) for m in (stranger, unlisted, oof)] == [Outcome.AUTO_REPLY] * 3
    desk.run(T0)
    assert _queued(desk) == []


def test_machine_notification_joins_a_person_ticket_without_acting(make_desk) -> None:
    """A listed machine's mail naming a person's ticket joins it; it reopens nothing and nobody is mailed for it."""
    desk = make_desk(config(customers=MACHINES))
    opened(desk)
    before = len(_queued(desk))
    note = mail(sender=MONITOR, subject="[SUP-000001] db1 recovered", message_id="<a2@acme.com>",
                body="#close\nrecovered\n", headers=ALERT)
    write(desk, pst(2, 10), note)
    assert len(inbound(desk)) == 2 and desk.ticket().status == "open"
    assert len(_queued(desk)) == before
    [appended] = desk.events(kind="appended")
    assert appended.detail["automation"] == "notification"


def test_machine_senders_outside_the_customers_domains_are_refused_at_load(tmp_path, db_url) -> None:
    """A machine sender at no domain of its customer is a config error naming the key."""
    text = config(customers=MACHINES.replace("\"*@service-now.acme.com\"", "\"*@service-now.com\""))
    path = tmp_path / "inbox.yaml"
    path.write_text(text.format(db_url=db_url, tmp=tmp_path, templates=tmp_path))
    with pytest.raises(ConfigError, match=r"machine_senders.*service-now\.com.*not at one of the customer's domains"):
        load_settings(path)



