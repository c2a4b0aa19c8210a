"""Step 2 of ingest: turn the raw bytes of one email into a `ParsedMessage`.

mail-parser reads the MIME tree and decodes the bodies; when it raises on
hostile input the standard library's compat32 parser takes over, and when even
that cannot build the tree only the headers are read. One iterative walk of the
tree then collects attachments and the parts of a delivery-status report.

Where the sender's new text ends is `inbox.ingest.quoting`'s to say, on lines
as `classifiers.split_lines` defines them for every reader. A header block
broken by a line without a colon is mended first (`inbox.ingest.header_block`),
and who the From fields name is `inbox.ingest.mailboxes`' to say.

Must never raise, whatever the bytes (empty, binary, 2 MB, thousands of nested
parts, broken boundaries, unknown charsets, CR-only lines, 210 KB of headers),
and must never take seconds. Must never touch storage, the network or the
clock, and decides nothing: who wrote a mail is `inbox.ingest.automation`' job.
"""

from __future__ import annotations

import email
import itertools
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from classifiers import normalise_breaks
from inbox.domain.message import ParsedMessage
from inbox.ingest import header_block
from inbox.ingest.charsets import CharsetParser, detection_budget, header_text, message_charset
from inbox.ingest.mailboxes import addresses, author, mailboxes, return_path
from inbox.ingest.mime import (
    QUOTED_MESSAGE_ID,
    MimeParts,
    clean,
    decode_words,
    desurrogate,
    message_ids,
    own_bodies,
    walk,
)
from inbox.ingest.forwards import split
from inbox.ingest.quoting import html_text
from inbox.ingest.stubs import USED_HTML_DEFECT, stub_reason

__all__ = ["parse"]

MAX_TEXT_CHARS = 1_000_000
MAX_HTML_CHARS = 2_000_000  # inscriptis needs ~50 ms per MB: bounded, never seconds
MAX_REFERENCES = 100
MAX_SUBJECT_CHARS = 998  # RFC 5322's line limit: what we store, show and put in our own subjects
# Past these bounds (see _too_complex) the body is kept as one unparsed text.
MAX_BOUNDARIES = 300
MAX_DELIMITER_LINES = 2_000
MAX_SHORT_LINES = 200_000
MAX_HEADER_BYTES = 512 * 1024
MAX_DEFECTS = 50

# mail-parser logs a warning for every part it does not render (each DSN has
# some); those are routine here and the ones that matter land in `defects`.
logging.getLogger("mailparser").setLevel(logging.ERROR)

_BOUNDARY = re.compile(rb"boundary\s*=", re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n\r?\n|\r\r")


def parse(raw: bytes) -> ParsedMessage:
    """Parse one email. Never raises: unreadable input comes back with
    ``has_usable_headers=False`` and the reason in ``defects``."""
    defects: list[str] = []
    try:
        with detection_budget():
            return _parse(bytes(raw), defects)
    except Exception as exc:  # the last line of "never raises": a bug or a new kind of hostility
        defects.append(f"unparseable: {_describe(exc)}")
        return ParsedMessage(
            message_id=None, subject="", from_addr="", defects=tuple(defects[:MAX_DEFECTS]), has_usable_headers=False
        )


def _describe(exc: BaseException) -> str:
    """A short, one-line account of an exception for `defects`."""
    return f"{type(exc).__name__}: {str(exc)[:120]}".replace("\n", " ")


@dataclass
class _Source:
    msg: Message
    parts: MimeParts = field(default_factory=MimeParts)
    date: datetime | None = None
    unparsed_body: bool = False  # the body is the raw MIME text: who wrote which line is unknown


def _parse(raw: bytes, defects: list[str]) -> ParsedMessage:
    # A header folded without its leading space would end the block early (From unread); the
    # repaired copy is the parser's alone, authentication reads the bytes as they came.
    raw, repaired = header_block.repair(raw)
    defects.extend(repaired)
    source = _read(raw, defects)
    raw_headers, headers = _read_headers(source.msg, defects)

    own_ids = message_ids(raw_headers.get("message-id", ()))
    message_id = own_ids[0] if own_ids else None
    from_name, from_addr, no_sender, from_defects = author(raw_headers.get("from", ()))
    defects.extend(from_defects)
    if no_sender:
        defects.append(no_sender)

    text, html = _text(source.parts, defects)
    report_ids = _unique(source.parts.report_ids)
    if not report_ids:
        # Non-standard bounces (qmail, Exim, many gateways) quote the original
        # in plain text instead of attaching it as RFC 3464 asks.
        report_ids = [i for i in _unique(QUOTED_MESSAGE_ID.findall(text)) if i != message_id]
    failed = source.parts.failed + [a for _n, a in mailboxes(raw_headers.get("x-failed-recipients", ()))]

    references = message_ids(raw_headers.get("references", ()))
    if len(references) > MAX_REFERENCES:
        # RFC 5322 3.6.4: the first id is the thread's root and the last the
        # parent; the middle is what may be trimmed.
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
        defects.append("references trimmed")

    subject = headers.get("subject", ("",))[0]
    # A forward keeps what it forwards in view (`forwards`); anything else shows its new text.
    visible, fresh = split(subject, text, defects)
    if source.unparsed_body:
        fresh = ""  # raw MIME lines (a soft line break, an enclosed mail) are nobody's new text
    elif source.parts.encloses_message:
        fresh = split(subject, _own_text(source.msg), [])[1]
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[:MAX_SUBJECT_CHARS]
        defects.append("subject cut")
    return ParsedMessage(
        message_id=message_id,
        subject=subject,
        from_addr=from_addr,
        from_name=from_name,
        to=addresses(raw_headers.get("to", ())),
        cc=addresses(raw_headers.get("cc", ())),
        reply_to=addresses(raw_headers.get("reply-to", ())),
        in_reply_to=tuple(message_ids(raw_headers.get("in-reply-to", ()))),
        references=tuple(references),
        return_path=return_path(raw_headers.get("return-path", ())),
        date=_date(source.date, raw_headers.get("date", ()), defects),
        content_type=_content_type(source.msg),
        headers=headers,
        text=text,
        visible_text=visible,
        fresh_text=fresh,
        html=html,
        attachments=tuple(source.parts.attachments),
        report_original_ids=tuple(report_ids),
        report_failed_recipients=tuple(_unique(failed)),
        defects=tuple(_unique(defects + source.parts.defects)[:MAX_DEFECTS]),
        has_usable_headers=bool(from_addr),
        no_sender=no_sender,
    )


# --- reading the tree ---------------------------------------------------------


def _read(raw: bytes, defects: list[str]) -> _Source:
    too_complex = _too_complex(raw)
    if too_complex:
        defects.append(f"MIME body not parsed: {too_complex}")
        return _headers_only(raw)
    try:
        mp = CharsetParser.from_bytes(raw)
    except Exception as exc:  # mail-parser has raised AttributeError on a broken epilogue
        defects.append(f"fallback parser used: {_describe(exc)}")
        return _stdlib(raw, defects)
    msg = mp.message
    parts = walk(msg, collect_text=False)
    parts.plain = list(mp.text_plain)
    parts.html = list(mp.text_html)
    defects.extend(f"mime defect: {name}" for name in sorted(mp.defects_categories))
    defects.extend(mp.charset_defects)
    return _Source(msg, parts, mp.date)


def _too_complex(raw: bytes) -> str | None:
    """Shapes on which the stdlib parser under mail-parser takes seconds or
    overflows the stack, told by counting bytes (~1 ms for 2 MB).

    It is recursive and quadratic in multipart depth (500 levels: 0.6 s;
    1,000: RecursionError), and pays ~0.6 microseconds a line and ~0.1 ms a
    part (2 MB of empty lines: 1.2 s; 10,000 tiny parts: 1.2 s). A real 25 MB
    mail of base64 lines stays well inside these bounds.
    """
    # Each boundary parameter has its "=": a mail with few of them (most) needs no search.
    boundaries = 0 if raw.count(b"=") <= MAX_BOUNDARIES else sum(
        1 for _ in itertools.islice(_BOUNDARY.finditer(raw), MAX_BOUNDARIES + 1))
    if boundaries > MAX_BOUNDARIES:
        return f"more than {MAX_BOUNDARIES} multipart boundaries"
    delimiters = raw.count(b"\n--")
    if delimiters > MAX_DELIMITER_LINES:
        return f"{delimiters} lines starting with --"
    lines = raw.count(b"\n") + raw.count(b"\r")
    if lines > MAX_SHORT_LINES and lines * 16 > len(raw):
        return f"{lines} lines of under 16 bytes on average"
    return None


def _stdlib(raw: bytes, defects: list[str]) -> _Source:
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception as exc:  # RecursionError on deeply nested multiparts
        defects.append(f"MIME body not parsed: {_describe(exc)}")
        return _headers_only(raw)
    defects.extend(f"mime defect: {type(d).__name__}" for d in msg.defects)
    return _Source(msg, walk(msg, collect_text=True))


def _headers_only(raw: bytes) -> _Source:
    """The headers, and the body as one undecoded text. Split by hand: the
    stdlib's headers-only mode still reads the body line by line."""
    end = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES)
    head, body = (raw[: end.start()], raw[end.end() :]) if end else (raw[:MAX_HEADER_BYTES], raw[MAX_HEADER_BYTES:])
    msg = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    return _Source(msg, MimeParts(plain=[body[:MAX_TEXT_CHARS].decode("utf-8", "replace")]), unparsed_body=True)


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type()
    except Exception:  # a Content-Type no parser can split
        return "text/plain"


# --- headers ------------------------------------------------------------------


def _read_headers(msg: Message, defects: list[str]) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]]]:
    """Every header once: as wire text (for addresses and ids, which must be
    split before RFC 2047 decoding) and decoded (for people). Raw 8-bit bytes are
    read by `charsets`, the body's charset their likeliest."""
    raw: dict[str, list[str]] = {}
    decoded: dict[str, list[str]] = {}
    items = list(msg.raw_items())
    # Only 8-bit headers need the hint: most mail has none, and walks no part for it.
    hint = message_charset(msg) if any(not str(value).isascii() for _name, value in items) else None
    for name, value in items:
        key = desurrogate(str(name)).strip().lower()
        where = key.title()[:40]
        text = clean(header_text(value if isinstance(value, str) else str(value), where, defects, hint))
        raw.setdefault(key, []).append(text)
        decoded.setdefault(key, []).append(decode_words(text, defects, where))
    return raw, {key: tuple(values) for key, values in decoded.items()}


def _date(parsed: datetime | None, values: list[str] | tuple[str, ...], defects: list[str]) -> datetime | None:
    if parsed is not None:
        return parsed.astimezone(timezone.utc)
    if not values:
        return None
    try:
        when = parsedate_to_datetime(values[0])
        if when.tzinfo is None:  # RFC 5322 3.3: "-0000" means the zone is unknown; read it as UTC
            when = when.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("Date header unparseable")
        return None


# --- text ---------------------------------------------------------------------


def _text(parts: MimeParts, defects: list[str]) -> tuple[str, str | None]:
    html = clean("\n".join(parts.html)) if parts.html else None
    if html is not None and len(html) > MAX_HTML_CHARS:
        html = html[:MAX_HTML_CHARS]
        defects.append(f"html truncated at {MAX_HTML_CHARS} characters")
    return _readable(parts.plain, html, defects), html


def _own_text(msg: Message) -> str:
    """The text of the bodies the sender wrote, without those of a message it encloses."""
    plain, html = own_bodies(msg)
    return _readable(plain, clean("\n".join(html))[:MAX_HTML_CHARS] if html else None, [])


def _readable(plain: list[str], html: str | None, defects: list[str]) -> str:
    """The plain bodies as one text, or the HTML as text when they say nothing or are a stub of it."""
    # CRLF and CR-only mail read the same as LF mail; each part is its own text, CR-only or not.
    text = "\n".join(normalise_breaks(part) for part in plain)
    converted: list[str] = []  # the HTML converted at most once (up to ~100 ms for 2 MB)

    def to_text(markup: str) -> str:
        if not converted:
            converted.append(html_text(markup))
        return converted[0]

    stub = stub_reason(text, html, to_text) if text.strip() and html else None
    if stub:  # "HTML newsletter could be read here: http://...": the content is the HTML's
        defects.append(f"{USED_HTML_DEFECT} ({stub})")
    if (stub or not text.strip()) and html:
        try:
            text = normalise_breaks(to_text(html))
        except Exception as exc:  # lxml refuses some byte soups
            defects.append(f"html not converted: {_describe(exc)}")
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        defects.append(f"text truncated at {MAX_TEXT_CHARS} characters")
    return clean(text)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
