"""Staff addresses in customers' emails: no email a customer or a stranger receives shows one.

Issue 18, class 3: the shipped acknowledgement printed `Assigned to: <engineer's address>` to
customers and to strangers alike, and a severity change made by an account manager said "(by
tam@...)", against the README's promise that an engineer's address is never shown. Staff are the
config's agents, account managers, assignment teams and escalation contacts. Every seed timeline
(tests/integration/test_seed_*.py, the five example configs as shipped) is run again here, and
every email it sent to someone who is not staff is searched, headers and every part, text and
HTML, decoded, for any staff address. Then an account manager and an engineer act by DKIM-signed
mail (real signatures), and the names customers read instead are checked. SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from inbox.domain.ticket import Outcome
from inbox.settings import Settings
from tests.dkim_kit import Key, dns_for, sign
from tests.fakes import mail
from tests.integration import test_seed_akemona_secpod, test_seed_standard_apporetum, test_seed_viakoo
from tests.seed_kit import SeedDesk
from tests.sla_kit import T0, TEMPLATES, Desk, text_of
from tests.staff_kit import ENGINEER, PEOPLE, QUOTE, TAM, reply

TIMELINES = [fn for module in (test_seed_akemona_secpod, test_seed_standard_apporetum, test_seed_viakoo)
             for name, fn in vars(module).items() if name.startswith("test_") and callable(fn)]
ALICE = "alice@acme.com"


def staff(settings: Settings) -> set[str]:
    """Every address of our people the config names: agents, account managers, teams, escalation contacts."""
    plans = settings.plans.values()
    return {*settings.agents, *(a for c in settings.customers for a in c.account_managers),
            *(a for plan in plans for a in plan.breach_escalation.addresses),
            *(a for plan in plans for rule in plan.assignment for a in rule.team)}


def everything_in(raw: bytes) -> str:
    """The email as a person could read it: every header decoded, then every part's decoded text."""
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    shown = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            shown.append(str(part.get_content()))
    return "\n".join(shown).lower()


def leaks(desk: Desk, settings: Settings) -> tuple[list[str], int]:
    """(each staff address found in an email to someone not staff, how many such emails were read)."""
    ours, found, read = staff(settings), [], 0
    for sent in desk.transport.sent:
        outsiders = [r for r in sent.rcpt_tos if r.lower() not in ours]
        if not outsiders:
            continue
        read += 1
        text = everything_in(sent.message)
        found += [f"{address} in an email to {', '.join(outsiders)}: " + " | ".join(
                  line.strip() for line in text.splitlines() if address in line) for address in sorted(ours)
                  if address in text]
    return found, read


@pytest.fixture
def recorded(db_url: str, tmp_path: Path) -> Iterator[tuple[Callable[[str], SeedDesk], list[SeedDesk]]]:
    """The seed timelines' `seed` fixture, keeping each desk it makes for the test to read afterwards."""
    desks: list[SeedDesk] = []

    def make(name: str) -> SeedDesk:
        desks.append(SeedDesk(tmp_path, db_url, name))
        return desks[-1]

    yield make, desks
    for desk in desks:
        desk.close()


@pytest.mark.parametrize("timeline", TIMELINES, ids=[fn.__name__.removeprefix("test_") for fn in TIMELINES])
def test_no_email_of_a_seed_timeline_shows_a_customer_a_staff_address(recorded: Any, timeline: Any) -> None:
    """Each seed timeline, run as its test runs it: its emails to customers and strangers name no staff address."""
    make, desks = recorded
    timeline(make)
    read = 0
    for desk in desks:
        found, count = leaks(desk, desk.app.settings)
        read += count
        assert found == [], found[0]
    assert read > 0  # the timeline emailed customers: the search had something to read


# --- by DKIM-signed mail: an account manager's severity change, an engineer's reply ----------------


def test_signed_mails_of_a_manager_and_an_engineer_show_the_customer_no_staff_address(desk: Desk, key: Key) -> None:
    """A TAM's signed #severity, an engineer's signed reply from "engineer@..." <engineer@...>, the customer's
    escalation and the daily updates: every email to the customer names our people, never their addresses."""
    at = T0 + timedelta(hours=1)
    assert desk.feed(sign(reply(TAM, "#severity critical\n\nProduction is down." + QUOTE), key), at=at) == Outcome.APPENDED
    desk.run(at)
    assert desk.ticket().severity == "critical" and desk.ticket().assignee == "oncall@example.com"
    at += timedelta(minutes=30)
    raw = reply(f'"{ENGINEER}" <{ENGINEER}>', "We are on it: the fuser is replaced this afternoon." + QUOTE, n=3)
    assert desk.feed(sign(raw, key), at=at) == Outcome.APPENDED
    desk.run(at)
    at += timedelta(minutes=30)
    assert desk.feed(mail(subject="Re: [SUP-000001] Printer on fire", body="Please escalate this, we lose money.\n",
                          message_id="<m4@acme.com>", in_reply_to="<m1@acme.com>", date=at), at=at) == Outcome.APPENDED
    desk.run(at)
    desk.run(at + timedelta(days=2))  # the daily updates of a critical ticket
    kinds = [e.detail["kind"] for e in desk.events(kind="notified") if e.detail["to"] == ALICE]
    assert {"acknowledgement", "severity_changed", "agent_reply", "escalation_received", "status_update"} <= set(kinds)
    found, read = leaks(desk, desk.app.settings)
    assert found == [], found[0]
    assert read == len(kinds)
    texts = {e.detail["kind"]: e.detail["message_id"] for e in desk.events(kind="notified") if e.detail["to"] == ALICE}
    by_id = {m["Message-ID"].strip("<>"): m for m in desk.sent()}
    assert "(by Example Support)" in text_of(by_id[texts["severity_changed"]])
    assert text_of(by_id[texts["agent_reply"]]).rstrip().endswith("\nExample Support")


# --- the names customers read instead ------------------------------------------------------------

NAMES = """\
staff_names:
  oncall@example.com: Olivia On-Call
  tam@example.com: Terry Manager
"""


@pytest.fixture
def named(tmp_path: Path, db_url: str, key: Key) -> Iterator[Desk]:
    """The people desk, every new ticket dispatched to the on-call engineer, names for our people, and an
    acknowledgement override for Acme that prints the three assignee variables."""
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    override = templates / "customers" / "acme" / "acknowledgement" / "body.txt.j2"
    override.parent.mkdir(parents=True)
    override.write_text("[{{ ticket.assignee }}] [{{ ticket.assignee_name }}] [{{ ticket.assignee_address }}]\n")
    config = (PEOPLE.replace('"{templates}"', f'"{templates}"')
              .replace("assignment: [{{when: {{severity: critical}}, team: [oncall@example.com]}}]",
                       "assignment: [{{team: [oncall@example.com]}}]") + NAMES.replace("{", "{{").replace("}", "}}"))
    assert "assignment: [{{team: [oncall@example.com]}}]" in config
    desk = Desk(tmp_path, db_url, config, dns=dns_for(key, "example.com"))
    yield desk
    desk.close()


def test_customers_read_the_names_in_staff_names_and_an_address_only_where_an_admin_writes_it(named: Desk,
                                                                                               key: Key) -> None:
    """`{{ ticket.assignee }}` in a customer's template is the engineer's name; `assignee_address` shows the address."""
    assert named.feed(mail(), at=T0) == Outcome.OPENED
    named.run(T0)
    [(_, ack)] = [(k, m) for k, m in emails(named, ALICE)]
    assert text_of(ack).strip() == "[Olivia On-Call] [Olivia On-Call] [oncall@example.com]"
    at = T0 + timedelta(hours=1)
    assert named.feed(sign(reply(TAM, "#severity high" + QUOTE), key), at=at) == Outcome.APPENDED
    named.run(at)
    changed = [m for k, m in emails(named, ALICE) if k == "severity_changed"]
    assert "(by Terry Manager)" in text_of(changed[0]) and TAM not in everything_in(changed[0].as_bytes())


def emails(desk: Desk, address: str) -> list[tuple[str, EmailMessage]]:
    by_id = {m["Message-ID"].strip("<>"): m for m in desk.sent()}
    return [(e.detail["kind"], by_id[e.detail["message_id"]]) for e in desk.events(kind="notified")
            if e.detail["to"] == address]
