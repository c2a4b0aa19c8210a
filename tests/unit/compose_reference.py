"""The email package's way to compose, kept as the reference `autoresponder.compose` must match byte
for byte (tests/unit/test_compose_bytes.py).

This is `compose` as it was before it built the header block itself: an `EmailMessage` with
policy SMTP (SMTPUTF8 when an address is beyond ASCII, RFC 6532), every header parsed by `HeaderRegistry` and refolded by the generator. It is slow
(half its time went to parsing headers we had just validated) but it is the stdlib's own answer,
so it stays here to hold the fast version to it. The pure-string helpers it shares with
`autoresponder.compose` (subject, references, ids, line breaks) did not change and are imported.
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from typing import Self

from autoresponder.attachments import Attachment
from autoresponder.compose import _msg_id, _newlines, _one_line, _usable_id, subject_with_tracking, thread_references
from autoresponder.render import RenderedEmail

_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_UTF8_POLICY = email.policy.SMTPUTF8.clone(cte_type="7bit")
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
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    if not to:
        raise ValueError("an email needs at least one recipient")
    sender, recipients = _address(from_address), [_address(one) for one in to]
    beyond = not all(one.addr_spec.isascii() for one in (sender, *recipients))
    msg = EmailMessage(policy=_UTF8_POLICY if beyond else _POLICY)
    msg["From"] = sender
    msg["To"] = recipients
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
        msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Inbox-Loop"] = _one_line(loop_marker)
    msg.set_content(_newlines(rendered.text), subtype="plain", charset="utf-8")
    msg.add_alternative(_newlines(rendered.html), subtype="html", charset="utf-8")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if maintype in ("text", "message", "multipart") or not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(attachment.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=attachment.filename)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
    return msg.as_bytes()


class _IdHeader(str):
    def __new__(cls, name: str, ids: Sequence[str]) -> Self:
        header = super().__new__(cls, " ".join(ids))
        header.name, header.ids = name, tuple(ids)
        return header

    name: str
    ids: tuple[str, ...]

    def fold(self, *, policy: email.policy.Policy) -> str:
        return f"{self.name}: " + f"{policy.linesep} ".join(self.ids) + policy.linesep


def _address(value: str) -> Address:
    header = _ADDRESSES("To", _one_line(value))
    found = header.addresses
    guessed = [d for d in header.defects if not isinstance(d, email.errors.NonASCIILocalPartDefect)]
    if guessed or len(found) != 1 or not found[0].username or not found[0].domain:
        raise ValueError(f"not a usable email address: {value!r}")
    return found[0]
