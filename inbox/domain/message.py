"""A parsed email as the rest of the pipeline sees it: plain, immutable data.

Built by `inbox.ingest.parse`; never touches storage or the network.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Automation(enum.Enum):
    """Who or what wrote a message, as far as its headers and shape tell."""

    PERSON = "person"
    AUTO_REPLY = "auto_reply"  # RFC 3834 auto-responses, out-of-office, vacation
    BOUNCE = "bounce"  # delivery-status notifications, MAILER-DAEMON, empty return path
    LIST = "list"  # mailing-list and bulk mail
    OWN = "own"  # mail this service sent itself, come back round
    # A customer's machine (monitoring, ServiceNow) the config lets open or join tickets: read,
    # never answered, never mailed (inbox.ingest.notifications)
    NOTIFICATION = "notification"


@dataclass(frozen=True)
class AttachmentInfo:
    filename: str  # sanitised: no path, no control characters, bounded length
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ParsedMessage:
    """Everything the pipeline needs from one email.

    Addresses are lower-cased bare addresses (``alice@acme.com``). Message-IDs
    are stored without angle brackets. ``return_path`` is None when the header
    is absent and "" for the null reverse-path ``<>`` (RFC 5321 4.5.5).
    """

    message_id: str | None
    subject: str
    from_addr: str
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    return_path: str | None = None
    date: datetime | None = None
    content_type: str = "text/plain"
    # Lower-cased header name -> every value, in order of appearance.
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    text: str = ""  # the whole readable text (HTML-only mail converted to text)
    visible_text: str = ""  # quoted history and signature stripped, for display
    # The same new text, but empty when nothing stands above the quoted history (no fallback to
    # the whole text): command lines are read from here only, so a quoted "#severity" never counts.
    fresh_text: str = ""
    html: str | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    # Of a delivery-status report: the Message-IDs of the mail that bounced and
    # the recipients that failed, read from its message/rfc822 (or headers) part.
    report_original_ids: tuple[str, ...] = ()
    report_failed_recipients: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    has_usable_headers: bool = True
    # Why the mail has no sender ("From names no mailbox: ...", "From has an address that is not
    # valid: ..."): its From names no single valid mailbox, and nothing else (Sender:, Reply-To:)
    # is taken for it. "" when From names one.
    no_sender: str = ""

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Ids this message answers: In-Reply-To first, then References newest first."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)
