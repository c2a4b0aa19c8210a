"""The files an engineer attached to a reply, taken from its stored bytes to go on with the relay.

Reads the message with the standard library (the ingest parser is another room's), takes every
part that is an attachment, and gives each a safe name: no path, no control characters, bounded
length. Never raises on hostile bytes (an unreadable part is left out, and said so), and never
carries more than `MAX_TOTAL` bytes in all: what does not fit is named in the note, not sent.
"""

from __future__ import annotations

import email
import re
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy

MAX_TOTAL = 20 * 1024 * 1024  # most relays refuse 25 MB; base64 adds a third
MAX_NAME = 150
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def safe_name(name: str | None, index: int) -> str:
    """A file name that is only a name: "../../etc/passwd" -> "passwd", control characters gone."""
    text = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    # Format characters (U+202E turns "invoice\u202efdp.exe" into "invoiceexe.pdf" on screen) and
    # C1 controls go too, as on the ingest side.
    text = "".join(c for c in text if c < " " or c == "\x7f" or not unicodedata.category(c).startswith("C"))
    text = _UNSAFE.sub("_", text).strip(" .")
    return text[-MAX_NAME:] or f"attachment-{index}"


def attachments_of(raw: bytes) -> tuple[list[Attachment], list[str]]:
    """The attachments of a message, and the names of those left out (too big, unreadable)."""
    kept: list[Attachment] = []
    left_out: list[str] = []
    try:
        message = email.message_from_bytes(raw, policy=default_policy)
        parts = list(message.iter_attachments()) if isinstance(message, EmailMessage) else []
    except Exception:  # noqa: BLE001 - a broken tree: relay the words without the files
        return [], ["(the attachments could not be read)"]
    total = 0
    for index, part in enumerate(parts, start=1):
        name = safe_name(part.get_filename(), index)
        try:
            # A forwarded message (message/rfc822) is carried whole; other parts decoded from base64/QP.
            inner = part.get_payload(0) if part.get_content_maintype() == "message" else None
            data = inner.as_bytes() if inner is not None else part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001 - one unreadable part must not lose the others
            left_out.append(name)
            continue
        if total + len(data) > MAX_TOTAL:
            left_out.append(name)
            continue
        total += len(data)
        kept.append(Attachment(name, part.get_content_type(), data))
    return kept, left_out
