"""Test kit for the people tests (account managers' keywords, engineers' replies) and the attacks on
them: Acme's ticket SUP-000001 open at low, its account manager TAM, Globex's OTHER_TAM, and an
engineer, whose mails a DKIM key published for example.com proves.

Fixtures (registered for the whole suite by tests/conftest.py's `pytest_plugins`): `key`, the
test's RSA key, and `desk`, a Desk on the PEOPLE config with SUP-000001 opened and acknowledged
at T0. A module that needs another desk defines its own `desk`, which overrides this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from inbox.domain.ticket import Outcome
from tests.dkim_kit import Key, dns_for, make_key
from tests.fakes import mail
from tests.sla_kit import CONFIG, T0, Desk

TAM, OTHER_TAM, ENGINEER = "tam@example.com", "tam2@example.com", "engineer@example.com"
PEOPLE = CONFIG.replace(
    "  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com]}}\n",
    "  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com],\n"
    f"     account_managers: [{TAM}]}}}}\n"
    f"  - {{{{id: globex, name: Globex, plan: standard, domains: [globex.test], account_managers: [{OTHER_TAM}]}}}}\n",
).replace("authentication: {{trusted_authserv_ids: [mx.test]}}\n", "authentication: {{trusted_authserv_ids: [], verify_dkim: true}}\n")
QUOTE = "\n\nOn Mon, 2 Mar 2026 at 09:00, Alice <alice@acme.com> wrote:\n> Our printer is on fire.\n"


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key()


@pytest.fixture
def desk(tmp_path: Path, db_url: str, key: Key) -> Iterator[Desk]:
    assert f"account_managers: [{TAM}]" in PEOPLE  # the replacement above found its line
    desk = Desk(tmp_path, db_url, PEOPLE, dns=dns_for(key, "example.com"))
    assert desk.feed(mail(), at=T0) == Outcome.OPENED  # Alice opens SUP-000001 at low
    desk.run(T0)
    yield desk
    desk.close()


def reply(sender: str, body: str, *, n: int = 2, subject: str = "Re: [SUP-000001] Printer on fire",
          attachment: tuple[str, bytes] | None = None) -> bytes:
    """A reply on Alice's thread, as a mail program writes it (CRLF, SMTP policy), not yet signed."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 02 Mar 2026 10:00:00 -0800"
    msg["Message-ID"] = f"<r{n}@{sender.rpartition('@')[2]}>"
    msg["In-Reply-To"] = "<m1@acme.com>"
    msg.set_content(body)
    if attachment:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream", filename=attachment[0])
    return msg.as_bytes(policy=SMTP)


def emails_to(desk: Desk, address: str) -> list[tuple[str, EmailMessage]]:
    """(kind, message) of every email sent to `address`, oldest first."""
    by_id = {m["Message-ID"].strip("<>"): m for m in desk.sent()}
    return [(e.detail["kind"], by_id[e.detail["message_id"]]) for e in desk.events(kind="notified")
            if e.detail["to"] == address]
