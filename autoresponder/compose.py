"""Compose a rendered email into the exact bytes we send: RFC 5322 headers, text and HTML parts.

Its job: build a multipart/alternative message (text first, HTML last: RFC 2046 section
5.1.4 puts the preferred form last) with the stdlib `email` package and policy SMTP (CRLF
line ends), with the headers that thread it (Message-ID, In-Reply-To, References), mark it
automatic (RFC 3834 Auto-Submitted), keep Exchange's out-of-office quiet, and carry our loop
marker. Bodies are 7-bit on the wire (quoted-printable when needed), so no relay depends
on 8BITMIME.

It never: sends, renders, reads the database, or lets a CR or LF in a value start a new
header (values are collapsed to one line). An unusable address, Message-ID or naive date
raises ValueError; a malformed In-Reply-To or References id (other people's data) is left out.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from typing import Self

from autoresponder.attachments import Attachment
from autoresponder.render import RenderedEmail
from inbox.domain.tracking import find_tracking_numbers

MAX_REFERENCES = 20
# 7-bit bodies: the heuristic in email.contentmanager then picks quoted-printable or base64
# for non-ASCII or long lines instead of raw 8-bit, which needs 8BITMIME (RFC 6152).
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_ADDRESSES = HeaderRegistry()


def compose(
    rendered: RenderedEmail,
    *,
    from_address: str,
    to: Sequence[str],
    message_id: str,
    date: datetime,
    tracking: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    automatic: bool = True,
    loop_marker: str,
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """The message as bytes with CRLF line ends, ready for `MailTransport.send`."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    if not to:
        raise ValueError("an email needs at least one recipient")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address(from_address)
    msg["To"] = [_address(one) for one in to]
    msg["Subject"] = subject_with_tracking(rendered.subject, tracking)
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = _IdHeader("Message-ID", [_msg_id(message_id)])
    parent = _usable_id(in_reply_to)
    if parent:
        msg["In-Reply-To"] = _IdHeader("In-Reply-To", [parent])
    thread = thread_references(references, parent)
    if thread:
        msg["References"] = _IdHeader("References", thread)
    if automatic:
        # RFC 3834 section 5: an automatic answer says so, so that other responders stay silent.
        msg["Auto-Submitted"] = "auto-replied"
    # Exchange and Outlook honour this instead of RFC 3834: no out-of-office replies to us.
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Inbox-Loop"] = _one_line(loop_marker)
    msg.set_content(_newlines(rendered.text), subtype="plain", charset="utf-8")
    msg.add_alternative(_newlines(rendered.html), subtype="html", charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if maintype in ("text", "message", "multipart") or not subtype:
            # Sent as bytes, exactly as the engineer's file was: no charset or MIME tree to get wrong.
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(attachment.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=attachment.filename)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # set_content adds one to each part; RFC 2045 wants it only on top
    return msg.as_bytes()


class _IdHeader(str):
    """A msg-id header that we fold ourselves: one id per line. The email package folds a long
    unstructured header into RFC 2047 encoded-words, which breaks threading in every client
    (CPython bpo-35805 fixed that for Message-ID only); RFC 5322 section 3.6.4 allows FWS between ids."""

    def __new__(cls, name: str, ids: Sequence[str]) -> Self:
        header = super().__new__(cls, " ".join(ids))
        header.name, header.ids = name, tuple(ids)
        return header

    name: str
    ids: tuple[str, ...]

    def fold(self, *, policy: email.policy.Policy) -> str:  # called by the generator (policy._fold)
        return f"{self.name}: " + f"{policy.linesep} ".join(self.ids) + policy.linesep


def subject_with_tracking(subject: str, tracking: str) -> str:
    """`subject` on one line, with `[TRACKING] ` in front unless it already names that number."""
    line = _one_line(subject)
    if not tracking or _names(line, tracking):
        return line
    return f"[{tracking}] {line}".rstrip()


def thread_references(references: Sequence[str], parent: str | None = None) -> list[str]:
    """References for a reply: the thread so far then the parent (RFC 5322 section 3.6.4),
    trimmed to the first and the newest ids; the first is the thread's root, which clients group by."""
    ids: list[str] = []
    for ref in [*references, *([parent] if parent else [])]:
        normal = _usable_id(ref)
        if normal is None:
            continue
        if normal in ids:
            ids.remove(normal)  # keep the latest position: the newest ids matter for threading
        ids.append(normal)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return ids


def _names(subject: str, tracking: str) -> bool:
    prefix, _, number = tracking.rpartition("-")
    if prefix and number.isdigit():
        # The same matcher ingest uses to thread replies: what it finds, we need not add.
        return int(number) in find_tracking_numbers(prefix, subject)
    return tracking.lower() in subject.lower()


def _one_line(value: str) -> str:
    return " ".join(_LINE_BREAKS.sub(" ", value).split())


def _newlines(text: str) -> str:
    # The generator writes CRLF for every "\n"; a bare "\r" left in would reach the wire alone.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _msg_id(value: str) -> str:
    """`<id>` from an id with or without angle brackets; refuses one that could break the header."""
    bare = value.strip().removeprefix("<").removesuffix(">")
    if not bare or any(c.isspace() or c in "<>" for c in bare) or not bare.isascii():
        raise ValueError(f"not a usable Message-ID: {value!r}")
    return f"<{bare}>"


def _usable_id(value: str | None) -> str | None:
    # Parent ids come from other people's mail: a malformed one is left out, not a reason to fail.
    try:
        return _msg_id(value) if value else None
    except ValueError:
        return None


def _address(value: str) -> Address:
    """Exactly one address from `Name <addr>` or `addr`; CR/LF in a display name become spaces."""
    header = _ADDRESSES("To", _one_line(value))
    found = header.addresses
    # Any defect means the parser guessed; an address we send to must not be a guess. A non-ASCII
    # local part would need SMTPUTF8 (RFC 6531), which this service does not speak.
    if header.defects or len(found) != 1 or not found[0].username or not found[0].domain \
            or not found[0].addr_spec.isascii():
        raise ValueError(f"not a usable email address: {value!r}")
    return found[0]
