"""The pieces of a parsed MIME message, read defensively for `inbox.ingest.parse`.

Header words (RFC 2047, 8-bit bytes, folding), Message-IDs, and one walk of
the tree mail-parser or the standard library built: attachments, the parts of
delivery reports, and (for the fallback) the bodies. The walk is iterative and
bounded in parts and depth, because hostile mail nests thousands of parts; a
broken part is skipped and noted, never fatal.

Must never raise out of `walk`, and never write anything anywhere: attachments
are measured and hashed, not saved.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses

from inbox.domain.message import AttachmentInfo
from inbox.ingest import charsets

__all__ = [
    "QUOTED_MESSAGE_ID",
    "MimeParts",
    "clean",
    "decode_bytes",
    "decode_words",
    "desurrogate",
    "message_ids",
    "own_bodies",
    "safe_filename",
    "walk",
]

MAX_PARTS = 5_000
MAX_DEPTH = 64
MAX_FILENAME_CHARS = 200
MAX_PART_DEFECTS = 20
MAX_FLATTEN_PARTS = 200
MAX_ID_CHARS = 998  # RFC 5322 2.1.1: no line is longer, so no real id is either

_BODY_TYPES = frozenset({"text/plain", "text/html"})
# RFC 3464 2.1 / RFC 6533 3.3: the machine-readable part of a DSN.
_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# RFC 3462 / RFC 6533: the returned original, whole or headers only.
_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_HEADER_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers", "message/global-headers"})
# Machine parts of other reports (RFC 5965 ARF, RFC 8098 MDN): neither text nor files.
_REPORT_TYPES = frozenset(
    {"message/feedback-report", "message/disposition-notification", "message/global-disposition-notification"}
)
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "message/rfc822": ".eml",
}
_FOLD = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_BARE_TOKENS = re.compile(r"[\s,]+")
# Characters Windows refuses in file names; "/" and "\\" are handled as paths.
_RESERVED = re.compile(r'[<>:"|?*]')
# RFC 2045 section 5.1: a type and a subtype, each a token. Anything else (a NUL, a space, another
# slash) is stored as what a reader may assume of an unknown part (RFC 2046 section 4.5.1).
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,100}/[a-z0-9!#$&^_.+-]{1,100}")
UNKNOWN_TYPE = "application/octet-stream"
_RECIPIENT_FIELD = re.compile(r"^(?:final|original)-recipient:[^;\n]*;\s*<?([^>\s]+)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(r"[^@\s<>;]+@[^@\s<>;]+")
QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*message-id:\s*<([^<>\s]{1,998})>", re.IGNORECASE | re.MULTILINE)


@dataclass
class MimeParts:
    """What a MIME tree holds besides its top-level headers."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)  # Message-IDs of returned originals
    failed: list[str] = field(default_factory=list)  # recipients a DSN says failed
    defects: list[str] = field(default_factory=list)
    # A whole message is attached or forwarded inside this one (message/rfc822 and kin): its
    # bodies may be among `plain` and `html` (mail-parser lists them), but the sender did not
    # write them (see `own_bodies`).
    encloses_message: bool = False


def walk(root: Message, *, collect_text: bool) -> MimeParts:
    """Visit every part of `root` in document order, within the bounds.

    Bodies (text/plain and text/html parts that are not files) are decoded
    only when `collect_text`: mail-parser has already done it otherwise.
    """
    parts = MimeParts()
    stack: list[tuple[Message, int]] = [(root, 0)]
    visited = 0
    while stack:
        part, depth = stack.pop()
        visited += 1
        if visited > MAX_PARTS:
            parts.defects.append(f"MIME walk stopped after {MAX_PARTS} parts")
            break
        try:
            children = _visit(part, parts, collect_text)
        except Exception as exc:  # one broken part (charset, encoding, params) must not cost the others
            if len(parts.defects) < MAX_PART_DEFECTS:
                parts.defects.append(f"part skipped: {type(exc).__name__}: {str(exc)[:80]}")
            continue
        if children and depth >= MAX_DEPTH:
            parts.defects.append(f"MIME parts below depth {MAX_DEPTH} skipped")
            continue
        stack.extend((child, depth + 1) for child in reversed(children))
    parts.defects = list(dict.fromkeys(parts.defects))
    return parts


def _visit(part: Message, parts: MimeParts, collect_text: bool) -> list[Message]:
    """Record what `part` holds; return the children still to visit."""
    ctype = part.get_content_type()
    payload = part.get_payload()
    if ctype in _STATUS_TYPES:
        parts.failed.extend(_failed_recipients(part, payload))
        return []
    if ctype in _HEADER_TYPES:
        parts.report_ids.extend(QUOTED_MESSAGE_ID.findall(_part_text(part)))
        return []
    if ctype.startswith("message/") and isinstance(payload, list) and any(isinstance(p, Message) for p in payload):
        parts.encloses_message = True
    if ctype in _MESSAGE_TYPES and isinstance(payload, list) and payload:
        inner = payload[0]
        if isinstance(inner, Message):
            parts.report_ids.extend(message_ids([desurrogate(str(v)) for v in inner.get_all("message-id") or []]))
            if _is_file(part):  # a forwarded .eml: one file, its insides are not ours to list
                parts.attachments.append(_attachment(part, ctype, _flatten(inner, parts)))
                return []
    if isinstance(payload, list):
        return [child for child in payload if isinstance(child, Message)]
    if ctype in _REPORT_TYPES:
        return []
    filename = _filename(part, parts.defects)
    if ctype in _BODY_TYPES and filename is None and part.get_content_disposition() != "attachment":
        if collect_text:
            (parts.plain if ctype == "text/plain" else parts.html).append(_part_text(part, parts.defects))
        return []
    data = part.get_payload(decode=True)
    parts.attachments.append(_attachment(part, ctype, data if isinstance(data, bytes) else b"", filename))
    return []


def own_bodies(root: Message) -> tuple[list[str], list[str]]:
    """The plain and HTML bodies of `root` outside any message it encloses, decoded: what its
    sender wrote. A message attached or forwarded whole (message/rfc822, inline or as a file) is
    someone else's words, and mail-parser lists its bodies with the sender's; a customer's mail
    an engineer forwards to the ticket must not speak with the engineer's authority.
    Bounded like `walk`, and never raises: a broken part is skipped."""
    plain: list[str] = []
    html: list[str] = []
    stack: list[tuple[Message, int]] = [(root, 0)]
    visited = 0
    while stack and visited < MAX_PARTS:
        part, depth = stack.pop()
        visited += 1
        try:
            ctype = part.get_content_type()
            if ctype.startswith("message/"):
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                if depth < MAX_DEPTH:
                    stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, Message))
            elif ctype in _BODY_TYPES and _filename(part) is None and part.get_content_disposition() != "attachment":
                (plain if ctype == "text/plain" else html).append(_part_text(part))
        except Exception:  # one broken part must not cost the others
            continue
    return plain, html


def _is_file(part: Message) -> bool:
    return part.get_content_disposition() == "attachment" or _filename(part) is not None


def _filename(part: Message, defects: list[str] | None = None) -> str | None:
    """The decoded file name, "" when one is declared but unreadable, None when none is.
    Read as `Message.get_filename` finds it, but decoded by `charsets`: RFC 2231's charset
    through the WHATWG labels, raw 8-bit names as UTF-8, else by detection."""
    try:
        name = charsets.filename(part, defects)
    except Exception:  # parameters no reader can split
        return ""
    if name is None:
        return None
    # Many clients put RFC 2047 words in file names, against RFC 2047 5.
    return decode_words(name, defects, "file name")


def _attachment(part: Message, ctype: str, data: bytes, filename: str | None = None) -> AttachmentInfo:
    name = _filename(part) if filename is None else filename
    ctype = ctype if _MEDIA_TYPE.fullmatch(ctype) else UNKNOWN_TYPE  # PostgreSQL stores no NUL in text
    return AttachmentInfo(
        filename=safe_filename(name, ctype),
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _flatten(inner: Message, parts: MimeParts) -> bytes:
    """The attached message as bytes, to measure and hash it. The generator
    is recursive and slow on deep nesting, so a message of more than
    MAX_FLATTEN_PARTS parts is not written back and measures as empty."""
    stack, seen = [inner], 0
    while stack:
        seen += 1
        if seen > MAX_FLATTEN_PARTS:
            parts.defects.append("attached message too nested to measure")
            return b""
        payload = stack.pop().get_payload()
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
    try:
        return inner.as_bytes()
    except Exception:  # a message the generator cannot write back: measure nothing rather than fail
        parts.defects.append("attached message could not be measured")
        return b""


def safe_filename(name: str | None, content_type: str) -> str:
    """A file name safe to show and to store: the base name only, no control
    or format characters (bidi overrides disguise extensions), at most 200
    characters with the extension kept, never empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = base, ""
    stem, ext = _printable(stem[:1000]), _printable(ext)
    if ext:
        stem = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(" .")
        safe = f"{stem}.{ext}" if stem else ""
    else:
        safe = stem[:MAX_FILENAME_CHARS].rstrip(" .")
    return safe or "attachment" + _EXTENSIONS.get(content_type, ".bin")


def _printable(text: str) -> str:
    kept = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    return _RESERVED.sub("_", kept).strip(" .")


def _failed_recipients(part: Message, payload: object) -> list[str]:
    """Final- and Original-Recipient of every recipient whose Action is failed."""
    found: list[str] = []
    if isinstance(payload, list):  # the parser split the fields into blocks (RFC 3464 2.1)
        for block in payload:
            if not isinstance(block, Message):
                continue
            action = desurrogate(str(block.get("action", ""))).strip().lower()
            # RFC 3464 2.3.3: delayed, delivered, relayed and expanded are not failures.
            if action not in ("", "failed"):
                continue
            for name in ("final-recipient", "original-recipient"):
                found.extend(_typed_address(desurrogate(str(v))) for v in block.get_all(name) or [])
    else:
        found.extend(m.lower() for m in _RECIPIENT_FIELD.findall(_part_text(part)))
    return [addr for addr in found if addr and _ADDRESS.fullmatch(addr)]


def _typed_address(value: str) -> str:
    """ "rfc822; <Bob@Example.com>" -> "bob@example.com" (RFC 3464 2.3.2)."""
    _kind, _sep, address = value.rpartition(";")
    address = address.strip().strip("<>").strip()
    if not address:
        return ""
    boxes = getaddresses([address])
    return boxes[0][1].lower() if boxes and boxes[0][1] else address.lower()


def decode_words(text: str, defects: list[str] | None = None, where: str = "header") -> str:
    """RFC 2047 encoded words decoded, folding undone, one line; each word's charset read
    by `charsets` (guesses noted in `defects` as for `where`)."""
    # Unfold first (RFC 5322 2.2.3): decode_header drops a line break that
    # follows an encoded word, and the space with it.
    if "\n" in text or "\r" in text:
        text = _FOLD.sub(" ", text)
    if "=?" in text:
        try:
            chunks = decode_header(text)
        except Exception:  # HeaderParseError, binascii.Error: keep the text as sent
            chunks = [(text, None)]
        text = "".join(_chunk(data, charset, defects, where) for data, charset in chunks)
        if "\n" in text or "\r" in text:  # an encoded word may carry a line break
            text = _FOLD.sub(" ", text)
    return clean(text.strip())


def _chunk(data: bytes | str, charset: str | None, defects: list[str] | None, where: str) -> str:
    if isinstance(data, str):
        return data
    if charset is None:  # decode_header hands unencoded runs back as raw-unicode-escape
        return data.decode("raw-unicode-escape", "replace")
    return clean(charsets.decode(data, charset, where, defects))


def message_ids(values: list[str] | tuple[str, ...]) -> list[str]:
    """Message-IDs in header values, without <> or whitespace, in order, once each."""
    found: list[str] = []
    for value in values:
        bracketed = _ANGLE_ID.findall(value)
        # Without brackets only id-left@id-right tokens count (RFC 5322 3.6.4):
        # "In-Reply-To: your message of Monday" names no message.
        tokens = bracketed or [t for t in _BARE_TOKENS.split(value) if "@" in t]
        for token in tokens:
            mid = clean("".join(token.split()))  # folding may have split an id
            if mid and len(mid) <= MAX_ID_CHARS:
                found.append(mid)
    return list(dict.fromkeys(found))


def _part_text(part: Message, defects: list[str] | None = None) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return decode_bytes(data, part.get_content_charset(), defects)


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    """Bytes of a body in its declared charset, as `charsets.decode` reads them."""
    return clean(charsets.decode(data, charset, "body", defects))


def desurrogate(text: str) -> str:
    """compat32 keeps 8-bit header bytes as surrogate escapes: read them as
    UTF-8, else as `charsets` detects them."""
    if text.isascii():
        return text
    return clean(charsets.header_text(text, "header"))


def clean(text: str) -> str:
    """No NULs (PostgreSQL text refuses them) and no lone surrogates (nothing
    can encode them)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text
