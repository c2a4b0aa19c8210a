"""Compose a rendered email into the exact bytes we send: RFC 5322 headers, text and HTML parts.

Its job: build a multipart/alternative message (text first, HTML last: RFC 2046 section
5.1.4 puts the preferred form last) with CRLF line ends, with the headers that thread it
(Message-ID, In-Reply-To, References), mark it automatic (RFC 3834 Auto-Submitted), keep
Exchange's out-of-office quiet, and carry our loop marker. Bodies are 7-bit on the wire
(quoted-printable when needed), so no relay depends on 8BITMIME.

The bytes are those the stdlib `email` package writes for an `EmailMessage` with policy SMTP
(tests/unit/test_compose_bytes.py holds us to it, against that way kept in
tests/unit/compose_reference.py), built without its header registry: parsing back every header we
had just made cost half of composing. A header that needs the package's judgement (an address with
a display name, a non-ASCII or long subject, the date) is folded by it, and the few that repeat
email after email (our From, the batch's Date) are remembered; the bodies are encoded by it too.

An email to or from an address beyond ASCII (`jörg@acme.com`) is written as the email package
writes it with policy SMTPUTF8: its headers in UTF-8 (RFC 6532). It can travel only through a relay
that offers SMTPUTF8 (RFC 6531), which the transport checks (`autoresponder.transport.needs_smtputf8`).

It never: sends, renders, reads the database, or lets a CR or LF in a value start a new
header (values are collapsed to one line). An unusable address, Message-ID or naive date
raises ValueError; a malformed In-Reply-To or References id (other people's data) is left out.
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
import functools
import random
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import MIMEPart

from autoresponder.attachments import Attachment
from autoresponder.render import RenderedEmail
from inbox.domain.tracking import find_tracking_numbers

MAX_REFERENCES = 20
# 7-bit bodies: the heuristic in email.contentmanager then picks quoted-printable or base64
# for non-ASCII or long lines instead of raw 8-bit, which needs 8BITMIME (RFC 6152).
_POLICY = email.policy.SMTP.clone(cte_type="7bit")
_UTF8_POLICY = email.policy.SMTPUTF8.clone(cte_type="7bit")  # an email with an address beyond ASCII
_CRLF = _POLICY.linesep
_FOLD_AT = _POLICY.max_line_length
_LINE_BREAKS = re.compile(r"[\r\n]+")
_ANY_LINE_END = re.compile(r"\r\n|\r|\n")  # what the generator turns into CRLF
_ADDRESSES = HeaderRegistry()
# An address the email package would write back exactly as given: a dot-atom local part and domain
# of common characters, no display name, no "=?" to take for an RFC 2047 word.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))  # as email.generator pads its random token
_LF = ord("\n")


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
    policy = _policy_for((from_address, *to))
    head = [
        _address_header("From", (from_address,), policy),
        _address_header("To", tuple(to), policy),
        _unstructured_header("Subject", subject_with_tracking(rendered.subject, tracking), policy),
        _folded("Date", email.utils.format_datetime(date), policy),
        _id_header("Message-ID", [_msg_id(message_id)]),
    ]
    parent = _usable_id(in_reply_to)
    if parent:
        head.append(_id_header("In-Reply-To", [parent]))
    thread = thread_references(references, parent)
    if thread:
        head.append(_id_header("References", thread))
    if automatic:
        # RFC 3834 section 5: an automatic answer says so, so that other responders stay silent.
        head.append("Auto-Submitted: auto-replied" + _CRLF)
    # Exchange and Outlook honour this instead of RFC 3834: no out-of-office replies to us.
    head.append("X-Auto-Response-Suppress: All" + _CRLF)
    head.append(_unstructured_header("X-Inbox-Loop", _one_line(loop_marker), policy))
    head.append("MIME-Version: 1.0" + _CRLF)  # on the top part only (RFC 2045 section 4)
    body = _multipart("alternative", [_text_part("plain", rendered.text), _text_part("html", rendered.html)])
    if attachments:
        body = _multipart("mixed", [body, *(_attachment_part(one, policy) for one in attachments)])
    # UTF-8 writes ASCII as ASCII: only an address beyond ASCII (RFC 6532) makes a byte over 127 here.
    return "".join(head).encode("utf-8", "surrogateescape") + body


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


# -- headers ---------------------------------------------------------------------------------------


def _id_header(name: str, ids: Sequence[str]) -> str:
    """A msg-id header folded one id per line. The email package folds a long unstructured header
    into RFC 2047 encoded-words, which breaks threading in every client (CPython bpo-35805 fixed
    that for Message-ID only); RFC 5322 section 3.6.4 allows FWS between ids."""
    return f"{name}: " + f"{_CRLF} ".join(ids) + _CRLF


def _policy_for(addresses: Sequence[str]) -> email.policy.EmailPolicy:
    """SMTPUTF8's when an address is beyond ASCII (a display name alone is not: it is encoded), else SMTP's."""
    return _UTF8_POLICY if any(_is_beyond_ascii(one) for one in addresses) else _POLICY


def _is_beyond_ascii(address: str) -> bool:
    if address.isascii():
        return False
    try:
        return not _address(address).addr_spec.isascii()
    except ValueError:
        return False  # refused where its header is written, in the order of the headers


def _unstructured_header(name: str, value: str, policy: email.policy.EmailPolicy = _POLICY) -> str:
    """`name: value` folded as the email package folds it. Printable ASCII that fits on the line, with
    no "=?" it would decode as an RFC 2047 word, it writes as given; anything else it judges."""
    if value and value.isascii() and value.isprintable() and "=?" not in value \
            and len(name) + 2 + len(value) <= _FOLD_AT:
        return f"{name}: {value}{_CRLF}"
    return _folded(name, value, policy)


def _address_header(name: str, values: tuple[str, ...], policy: email.policy.EmailPolicy = _POLICY) -> str:
    """`name:` with these addresses, each exactly one usable address (else ValueError), folded as the
    email package folds it: a plain address is written as given, one with a display name is judged."""
    if len(values) == 1:
        line = _one_line(values[0])
        if _PLAIN_ADDRESS.fullmatch(line) and len(name) + 2 + len(line) <= _FOLD_AT:
            return f"{name}: {line}{_CRLF}"
    return _folded_addresses(name, values, policy)


@functools.lru_cache(maxsize=256)
def _folded(name: str, value: str, policy: email.policy.EmailPolicy = _POLICY) -> str:
    # Remembered: the Date of a batch is the same for each of its emails.
    return policy.header_factory(name, value).fold(policy=policy)


@functools.lru_cache(maxsize=256)
def _folded_addresses(name: str, values: tuple[str, ...], policy: email.policy.EmailPolicy = _POLICY) -> str:
    # Remembered: our From is the same in every email.
    return policy.header_factory(name, [_address(one) for one in values]).fold(policy=policy)


# -- bodies ----------------------------------------------------------------------------------------


def _text_part(subtype: str, text: str) -> bytes:
    """A text part in UTF-8, in the transfer encoding `EmailMessage.set_content` would choose."""
    body = _newlines(text)
    lines = body.encode("utf-8").splitlines()
    if body.isascii() and max((len(line) for line in lines), default=0) <= _FOLD_AT:
        # ASCII in lines the policy's length allows: set_content's first choice, 7bit, the lines as
        # they are. Building the part for it was a fifth of the sender's time (py-spy).
        cte, payload = "7bit", (b"\n".join(lines) + b"\n").decode("ascii")
    else:
        # The package's own choice (quoted-printable or base64) and encoding, through its public
        # set_content: only the body is taken from the part, the head is written here.
        part = MIMEPart(policy=_POLICY)
        part.set_content(body, subtype=subtype, charset="utf-8")
        cte, payload = str(part["Content-Transfer-Encoding"]), str(part.get_payload())
    head = f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}Content-Transfer-Encoding: {cte}{_CRLF}{_CRLF}'
    return (head + _ANY_LINE_END.sub(_CRLF, payload)).encode("ascii")


def _attachment_part(attachment: Attachment, policy: email.policy.EmailPolicy = _POLICY) -> bytes:
    """A file as the email package writes it (base64, its filename RFC 2231-encoded when it must be)."""
    maintype, _, subtype = attachment.content_type.partition("/")
    if maintype in ("text", "message", "multipart") or not subtype:
        # Sent as bytes, exactly as the engineer's file was: no charset or MIME tree to get wrong.
        maintype, subtype = "application", "octet-stream"
    part = MIMEPart(policy=policy)
    part.set_content(attachment.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                     filename=attachment.filename)
    if "Content-Disposition" not in part:
        part["Content-Disposition"] = "attachment"
    return part.as_bytes()


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    """Content-Type, a blank line and `parts` between boundaries, as `email.generator` lays them out."""
    boundary = _boundary(_CRLF.encode().join(parts))
    content_type = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(content_type) > _FOLD_AT:
        content_type = f'Content-Type: multipart/{subtype};{_CRLF} boundary="{boundary}"'
    delimiter = f"--{boundary}{_CRLF}".encode("ascii")
    return b"".join([(content_type + _CRLF + _CRLF).encode("ascii"), delimiter,
                     (_CRLF.encode() + delimiter).join(parts), f"{_CRLF}--{boundary}--{_CRLF}".encode("ascii")])


def _boundary(text: bytes) -> str:
    """A random boundary no line of `text` is, drawn as `email.generator` draws it."""
    token = random.randrange(sys.maxsize)
    boundary = "=" * 15 + f"{token:0{_BOUNDARY_DIGITS}d}" + "=="
    chosen, counter = boundary, 0
    while _is_a_line_of(text, f"--{chosen}".encode("ascii")):
        chosen = f"{boundary}.{counter}"
        counter += 1
    return chosen


def _is_a_line_of(text: bytes, delimiter: bytes) -> bool:
    """Whether `delimiter` or `delimiter--` is a line of `text`: the generator's `^--B(--)?$` in
    MULTILINE mode (a line ends at LF alone), without compiling a pattern for every random B."""
    at = text.find(delimiter)
    while at != -1:
        if at == 0 or text[at - 1] == _LF:
            after = text[at + len(delimiter):at + len(delimiter) + 3]
            if after[:1] in (b"", b"\n") or (after[:2] == b"--" and after[2:3] in (b"", b"\n")):
                return True
        at = text.find(delimiter, at + 1)
    return False


# -- values ----------------------------------------------------------------------------------------


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
    # Any defect means the parser guessed; an address we send to must not be a guess. A local part
    # beyond ASCII is no guess: it is an SMTPUTF8 address (RFC 6531), written in UTF-8.
    guessed = [d for d in header.defects if not isinstance(d, email.errors.NonASCIILocalPartDefect)]
    if guessed or len(found) != 1 or not found[0].username or not found[0].domain:
        raise ValueError(f"not a usable email address: {value!r}")
    return found[0]
