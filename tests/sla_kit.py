"""Test kit for the SLA and outbox tests: a desk with every kind of promise, fed at chosen instants."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from autoresponder import Outbound
from autoresponder.transport import MemoryTransport
from inbox import tickets
from inbox.app import App, build_app
from inbox.clock import FixedClock
from inbox.domain.ticket import Outcome, Status
from inbox.ingest.authenticate import DnsLookup
from inbox.rawstore import RawItem
from inbox.settings import load_settings
from inbox.store import tickets as store
from inbox.store.tables import Ticket

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
T0 = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)  # Monday 2 March 2026, 09:00 PST

CONFIG = """\
service: {{name: Example Support, tracking_prefix: SUP}}
database: {{url: "{db_url}"}}
outbound: {{transport: maildir, maildir: "{tmp}/sent", from_address: "Example Support <support@example.com>",
           max_auto_per_hour: 3}}
templates: {{dir: "{templates}"}}
authentication: {{trusted_authserv_ids: [mx.test]}}
addresses: [support@example.com]
severities: [critical, high, medium, low]
calendars:
  pacific: {{timezone: America/Los_Angeles, hours: {{mon-fri: "08:00-17:00"}}, holidays: {{country: US}}}}
  always: {{timezone: UTC, hours: 24x7}}
plans:
  standard:
    calendar: pacific
    targets:
      critical: {{response: 4 business hours, update: 24 hours, workaround: 48 hours, resolution: 1 week}}
      high: {{response: 1 hour, calendar: always}}
      low: {{response: 2 business days, update: 2 days}}
    lifecycle: {{auto_solve_after: 7 days, auto_solve_follow_ups: 2, close_after_solved: 3 days}}
    breach_escalation: [lead@example.com, manager@example.com, cto@example.com]
    assignment: [{{when: {{severity: critical}}, team: [oncall@example.com]}}]  # new low tickets stay unassigned here
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com], contacts: [alice@acme.com]}}
unknown_senders: {{plan: standard}}
agents: [engineer@example.com, oncall@example.com]
"""


class Desk:
    """An app on a frozen clock with a memory transport: feed mail, move time, run the jobs."""

    def __init__(self, tmp: Path, db_url: str, config: str = CONFIG, dns: DnsLookup | None = None) -> None:
        path = tmp / "inbox.yaml"
        path.write_text(config.format(db_url=db_url, tmp=tmp, templates=TEMPLATES))
        self.clock = FixedClock(T0)
        self.app: App = build_app(load_settings(path), self.clock)
        self.app.dns = dns  # DKIM keys: the test's own DNS, never the network
        self.transport = MemoryTransport()
        self.outbound: Outbound = self.app.outbound(self.transport)
        self._worker = self.app.worker(clock=self.clock)

    def close(self) -> None:
        self.app.close()

    def feed(self, data: bytes, at: datetime | None = None, *, peer: str | None = None) -> Outcome:
        """Store and ingest one mail; `peer` is the SMTP client it came from (None: not by SMTP)."""
        if at is not None:
            self.clock.set(at)
        ref = self.app.rawstore.put(data, "test", peer=peer)
        done = self._worker.run_batch([ref.id])
        return done[0][1] if done else Outcome.DUPLICATE

    def ingest(self, at: datetime) -> Counter[Outcome]:
        """Ingest whatever is stored and due (mail that came in by a listener), at `at`."""
        self.clock.set(at)
        return self._worker.drain()

    def feed_many(self, datas: list[bytes], at: datetime) -> Counter[Outcome]:
        """Many mails received at `at`, stored first, then ingested in batches (faster than one by one)."""
        self.clock.set(at)
        refs = self.app.rawstore.put_many([RawItem(data, "test") for data in datas])
        return self._worker.drain([ref.id for ref in refs])

    def run(self, at: datetime) -> dict[str, int]:
        self.clock.set(at)
        return dict(self.outbound.run_once(at))

    def ticket(self, tracking: str = "SUP-000001") -> Ticket:
        with self.app.sessions() as session:
            found = store.ticket_by_tracking(session, tracking)
            assert found is not None
            return found

    def events(self, tracking: str = "SUP-000001", kind: str | None = None) -> list:
        with self.app.sessions() as session:
            found = store.events_of(session, self.ticket(tracking).id)
        return [e for e in found if kind is None or e.kind == kind]

    def set(self, at: datetime, tracking: str = "SUP-000001", *, status: Status | None = None,
            severity: str | None = None) -> None:
        self.clock.set(at)
        with self.app.sessions() as session, session.begin():
            ticket = store.ticket_by_tracking(session, tracking)
            if severity:
                tickets.set_severity(session, self.app.desk(), ticket, severity, at, "engineer@example.com")
            if status:
                tickets.set_status(session, self.app.desk(), ticket, status, at, "engineer@example.com")

    def sent(self) -> list[EmailMessage]:
        """Every email sent so far, parsed back."""
        return [message_from_bytes(s.message, policy=default) for s in self.transport.sent]  # type: ignore[misc]

    def run_until(self, end: datetime, tracking: str = "SUP-000001") -> list[datetime]:
        """Run the jobs at each instant the ticket next needs them, up to `end`; the instants."""
        instants = []
        while True:
            due = self.ticket(tracking).next_check_at
            if due is None or due > end:
                return instants
            instants.append(due)
            self.run(due)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()
