"""An attachment's bytes, found again in the stored mail it came in.

Ingest keeps each attachment's name, type, size and SHA-256 (`inbox.ingest.mime`), not its bytes:
the mail itself is stored whole (raw_data). `find` reads that mail as ingest did (the header block
repaired, the standard library's compat32 parser under mail-parser) and returns the part whose
bytes have the recorded SHA-256, measured as ingest measured them: a part decoded from its
transfer encoding, an attached message written back whole. Matching by hash means what is handed
out is exactly what was listed, or nothing. Bounded like `mime.walk`; never raises on hostile bytes.
"""

from __future__ import annotations

import email
import hashlib
from email import policy
from email.message import Message
from typing import Iterator

from inbox.ingest import header_block
from inbox.ingest.mime import MAX_DEPTH, MAX_PARTS

__all__ = ["find"]


def find(raw: bytes, sha256: str) -> bytes | None:
    """The bytes of the part of `raw` whose SHA-256 (hex) is `sha256`, or None when no part has it."""
    repaired, _ = header_block.repair(raw)
    try:
        root = email.message_from_bytes(repaired, policy=policy.compat32)
    except Exception:  # a tree the parser cannot build (ingest then listed no attachment either)
        return None
    for data in _candidates(root):
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


def _candidates(root: Message) -> Iterator[bytes]:
    """Every part's bytes as ingest would have measured it, in document order, within the bounds."""
    stack: list[tuple[Message, int]] = [(root, 0)]
    visited = 0
    while stack and visited < MAX_PARTS:
        part, depth = stack.pop()
        visited += 1
        try:
            payload = part.get_payload()
            if isinstance(payload, list):
                children = [p for p in payload if isinstance(p, Message)]
                if part.get_content_maintype() == "message" and children:
                    yield children[0].as_bytes()  # an attached message is one file, written back whole
                if depth < MAX_DEPTH:
                    stack.extend((child, depth + 1) for child in reversed(children))
                continue
            data = part.get_payload(decode=True)
            yield data if isinstance(data, bytes) else b""
        except Exception:  # one unreadable part must not hide the others
            continue
