"""Test kit for the seed-policy timelines: a Desk on one shipped example config, and readers of what it sent.

Each desk loads config/examples/<policy>.yaml as shipped; only the database, the outbound
transport and the templates dir are swapped for the test's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from autoresponder.transport import MemoryTransport
from inbox import tickets
from inbox.app import build_app
from inbox.clock import FixedClock
from inbox.domain.ticket import Outcome, Status
from inbox.settings import load_settings
from inbox.store import tickets as store
from tests.fakes import mail
from tests.sla_kit import T0, TEMPLATES, Desk, text_of

__all__ = ["Outcome", "SeedDesk", "Status", "breaches", "dues", "log", "mails", "seed", "utc"]

EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"


def utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


class SeedDesk(Desk):
    """A Desk on one example config, changed only where a test must: database, outbox, templates."""

    def __init__(self, tmp: Path, db_url: str, name: str, plans: dict[str, dict] | None = None) -> None:
        data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
        for plan, keys in (plans or {}).items():  # a test's variant of the shipped plan, key by key
            data["plans"][plan].update(keys)
        data["database"]["url"] = db_url
        data["outbound"] = {"transport": "maildir", "maildir": str(tmp / "sent"),
                            "from_address": data["outbound"]["from_address"], "max_auto_per_hour": 50}
        data["templates"]["dir"] = str(TEMPLATES)
        data["authentication"] = {"trusted_authserv_ids": ["mx.test"], "verify_dkim": False}  # every mail vouched for
        data.pop("imap", None)
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.clock = FixedClock(T0)
        self.app = build_app(load_settings(path), self.clock)
        self.transport = MemoryTransport()
        self.outbound = self.app.outbound(self.transport)
        self._worker = self.app.worker(clock=self.clock)
        self.support = data["addresses"][0]

    def write(self, at: datetime, sender: str, subject: str, n: int, reply_to: int | None = None,
              body: str | None = None) -> Outcome:
        """Mail number n from `sender` at `at` (a reply to mail number `reply_to` when given, saying `body`
        when given); jobs run then."""
        domain = sender.rpartition("@")[2]
        words = {"body": body} if body is not None else {}
        outcome = self.feed(mail(sender=sender, to=self.support, subject=subject, message_id=f"<m{n}@{domain}>",
                                 in_reply_to=f"<m{reply_to}@{self.first_domain}>" if reply_to else None, date=at,
                                 vouched=True, **words), at=at)
        if reply_to is None:
            self.first_domain = domain
        self.run(at)
        return outcome

    def change(self, at: datetime, tracking: str, by: str, *, severity: str | None = None,
               status: Status | None = None) -> None:
        """An engineer changes the ticket (as `inbox tickets set --by`), then the jobs run."""
        self.clock.set(at)
        with self.app.sessions() as session, session.begin():
            ticket = store.ticket_by_tracking(session, tracking)
            if severity:
                tickets.set_severity(session, self.app.desk(), ticket, severity, at, by)
            if status:
                tickets.set_status(session, self.app.desk(), ticket, status, at, by)
        self.run(at)

    def run_all_until(self, end: datetime, *trackings: str) -> list[datetime]:
        """Run the jobs at each instant any of the tickets next needs them, up to `end`."""
        instants = []
        while True:
            due = [t for t in (self.ticket(x).next_check_at for x in trackings) if t is not None and t <= end]
            if not due:
                return instants
            instants.append(min(due))
            self.run(min(due))


@dataclass
class Sent:
    at: datetime
    to: str
    kind: str
    subject: str
    text: str


def mails(desk: Desk, tracking: str, *, to: str | None = None, kind: str | None = None) -> list[Sent]:
    """Every email sent about the ticket (to `to`, of `kind`), in order, with its text read back from the transport."""
    by_id = {m["Message-ID"].strip("<>"): m for m in desk.sent()}
    out = []
    for event in desk.events(tracking, kind="notified"):
        message = by_id[event.detail["message_id"]]
        # Every automatic email says so (RFC 3834); an engineer's relayed reply is a person's.
        automatic = event.detail["kind"] != "agent_reply"
        assert message["To"] == event.detail["to"] and (message["Auto-Submitted"] == "auto-replied") == automatic
        # .strip(): a subject folded right after "Subject:" reads back with a leading space (RFC 5322 unfolding).
        out.append(Sent(event.at, event.detail["to"], event.detail["kind"], str(message["Subject"]).strip(),
                        text_of(message).replace("\r\n", "\n")))
    return [m for m in out if to in (None, m.to) and kind in (None, m.kind)]


def log(desk: Desk, tracking: str) -> list[tuple[datetime, str, str]]:
    return [(m.at, m.to, m.kind) for m in mails(desk, tracking)]


def breaches(desk: Desk, tracking: str) -> list[tuple[datetime, str, int, datetime, str]]:
    return [(e.at, e.detail["target"], e.detail["level"], datetime.fromisoformat(e.detail["due"]), e.detail["escalated_to"])
            for e in desk.events(tracking, kind="breach")]


def dues(desk: Desk, tracking: str) -> tuple:
    t = desk.ticket(tracking)
    return t.first_response_due, t.workaround_due, t.resolution_due, t.next_update_due


@pytest.fixture
def seed(db_url: str, tmp_path: Path):
    """seed("akemona") -> a SeedDesk on that example config, closed after the test; `plans` changes
    keys of its plans (seed("akemona", plans={"subscription": {...}}))."""
    desks: list[SeedDesk] = []

    def make(name: str, plans: dict[str, dict] | None = None) -> SeedDesk:
        desks.append(SeedDesk(tmp_path, db_url, name, plans))
        return desks[-1]

    yield make
    for desk in desks:
        desk.close()
