"""Test kit: configs, mails and apps built for tests, on a real database."""

from __future__ import annotations

import textwrap
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from inbox.app import App, build_app
from inbox.clock import FixedClock
from inbox.settings import Settings, load_settings

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)  # Monday 09:00 in Los Angeles

CONFIG = """\
service: {{name: Example Support, tracking_prefix: SUP}}
database: {{url: "{db_url}"}}
outbound: {{transport: maildir, maildir: "{tmp}/sent", from_address: "Example Support <support@example.com>"}}
authentication: {{trusted_authserv_ids: [mx.test]}}
addresses: [support@example.com, help@example.com]
severities: [critical, high, medium, low]
calendars:
  pacific: {{timezone: America/Los_Angeles, hours: {{mon-fri: "08:00-17:00"}}, holidays: {{country: US}}}}
plans:
  standard:
    calendar: pacific
    targets:
      critical: {{response: 4 business hours, update: 24 hours}}
      low: {{response: 2 business days}}
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com],
     contacts: [alice@acme.com, bob@acme.com], account_managers: [tam@example.com]}}
  - {{id: globex, plan: standard, contacts: [hank@globex.test]}}
unknown_senders: {unknown}
agents: [engineer@example.com]
"""


def write_config(tmp: Path, db_url: str, *, unknown: str = "{plan: standard}", extra: str = "") -> Path:
    path = tmp / "inbox.yaml"
    path.write_text(CONFIG.format(db_url=db_url, tmp=tmp, unknown=unknown) + textwrap.dedent(extra))
    return path


def make_settings(tmp: Path, db_url: str, **kw: str) -> Settings:
    return load_settings(write_config(tmp, db_url, **kw))


def make_app(settings: Settings, at: datetime = T0) -> App:
    return build_app(settings, FixedClock(at))


def mail(
    *,
    sender: str = "Alice <alice@acme.com>",
    to: str = "support@example.com",
    subject: str = "Printer on fire",
    body: str = "Our printer is on fire.\n",
    message_id: str | None = "<m1@acme.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    date: datetime = T0,
    vouched: bool = False,
) -> bytes:
    """An email; `vouched` adds what a trusted MTA (mx.test) writes after DKIM passed for the sender's domain."""
    msg = EmailMessage()
    if vouched:
        msg["Authentication-Results"] = vouch(sender)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def vouch(sender: str) -> str:
    """An RFC 8601 Authentication-Results value from the trusted host mx.test: DKIM passed for the sender's domain."""
    domain = sender.rpartition("@")[2].strip(">").strip()
    return f"mx.test; dkim=pass header.d={domain}"


def dsn(
    original: bytes,
    *,
    failed: str = "alice@acme.com",
    auto_submitted: bool = True,
    sender: str = "MAILER-DAEMON@mx.acme.com (Mail Delivery System)",
) -> bytes:
    """A Postfix-shaped delivery-status report (RFC 3464) carrying the original message."""
    boundary = "BOUNDARY42"
    head = (
        f"From: {sender}\r\n"
        "To: support@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.acme.com>\r\n"
        + ("Auto-Submitted: auto-replied\r\n" if auto_submitted else "")
        + f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "MIME-Version: 1.0\r\n\r\n"
    )
    parts = (
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.acme.com\r\n\r\nFinal-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
    )
    return (head + parts).encode() + original.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + f"\r\n--{boundary}--\r\n".encode()
