"""Test kit for the people tests (lifecycle, dispatch): the sla_kit config with the parts each test
changes as arguments, a desk factory, and readers of what happened to SUP-000001.

T0 is Monday 2 March 2026, 09:00 PST; the calendar is Los Angeles, Monday to Friday 08:00-17:00,
and daylight saving time starts on Sunday 8 March.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from inbox.domain.ticket import Outcome
from inbox.store import tickets as store
from tests.fakes import mail
from tests.seed_kit import mails
from tests.sla_kit import CONFIG, T0, Desk

UTC = timezone.utc
ENGINEER, ALICE = "engineer@example.com", "alice@acme.com"
SUBJECT = "Re: [SUP-000001] Printer on fire"

# The kit's config (tests/sla_kit.CONFIG, a str.format template: literal braces are doubled) up to
# the plan's targets, with room for 50 automatic emails an hour; the parts the tests change are
# arguments of `config`, and every agent a dispatch plan names is listed.
HEAD = (CONFIG[:CONFIG.index("    lifecycle:")].replace("max_auto_per_hour: 3", "max_auto_per_hour: 50")
        + "    breach_escalation: [lead@example.com, manager@example.com, cto@example.com]\n")
TAIL = """\
unknown_senders: {{plan: standard}}
agents: [engineer@example.com, oncall@example.com, a@example.com, b@example.com, c@example.com]
"""
LIFECYCLE = "{{auto_solve_after: 7 days, auto_solve_follow_ups: 2, close_after_solved: 3 days}}"
ASSIGNMENT = "[{{when: {{severity: critical}}, team: [oncall@example.com]}}]"
CUSTOMERS = """\
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com]}}
"""


def config(*, lifecycle: str = LIFECYCLE, assignment: str = ASSIGNMENT, plan: str = "", plans: str = "",
           customers: str = CUSTOMERS, rules: str = "") -> str:
    """The kit's config with the test's own parts: `plan` adds keys to plan standard, `plans` adds
    plans (indented as under `plans:`), `customers` replaces the customers, `rules` adds rules."""
    return (HEAD + f"    lifecycle: {lifecycle}\n    assignment: {assignment}\n"
            + textwrap.indent(textwrap.dedent(plan), "    ") + plans + customers + TAIL + rules)


@pytest.fixture
def make_desk(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Desk]]:
    """make_desk(config) -> a Desk on that config (the kit's own parts by default), closed after the test."""
    desks: list[Desk] = []

    def make(text: str | None = None) -> Desk:
        desks.append(Desk(tmp_path, db_url, config=text or config()))
        return desks[-1]

    yield make
    for desk in desks:
        desk.close()


def pst(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2026 instant in Los Angeles (PST until 02:00 on the 8th, PDT from then)."""
    offset = 8 if day < 8 or (day == 8 and hour < 2) else 7
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) + timedelta(hours=offset)


def reply(body: str, n: int, *, sender: str = ALICE, vouched: bool = True, subject: str = SUBJECT) -> bytes:
    """Mail number n on the thread of SUP-000001 (its first mail is <m1@acme.com>)."""
    domain = sender.rpartition("@")[2]
    return mail(sender=sender, subject=subject, body=body, message_id=f"<r{n}@{domain}>",
                in_reply_to="<m1@acme.com>", vouched=vouched)


def opened(desk: Desk, at: datetime = T0) -> None:
    """Alice's mail opens SUP-000001 at `at`, and the acknowledgement goes out."""
    assert desk.feed(mail(), at=at) == Outcome.OPENED
    desk.run(at)


def write(desk: Desk, at: datetime, data: bytes, outcome: Outcome = Outcome.APPENDED) -> None:
    """Feed one mail at `at`, then run the jobs and the outbox then."""
    assert desk.feed(data, at=at) == outcome
    desk.run(at)


def kinds(desk: Desk, tracking: str = "SUP-000001") -> list[tuple[datetime, str, str]]:
    """Every email sent about the ticket: when, to whom, which kind."""
    return [(m.at, m.to, m.kind) for m in mails(desk, tracking)]


def statuses(desk: Desk, tracking: str = "SUP-000001") -> list[tuple[datetime, str, str, str]]:
    return [(e.at, e.actor, e.detail["from"], e.detail["to"]) for e in desk.events(tracking, kind="status_changed")]


def inbound(desk: Desk, tracking: str = "SUP-000001") -> list:
    """The mails the ticket received, in order."""
    with desk.app.sessions() as session:
        return [m for m in store.messages_of(session, desk.ticket(tracking).id) if m.direction == "in"]


# -- waiting on the customer ----------------------------------------------------------------------
