"""Message-IDs this service writes, and the proof they carry.

Each id we send embeds the ticket's tracking number and an HMAC of it under a
secret kept from the environment or the database (as osTicket does), so a
reply whose In-Reply-To/References name one of our ids proves which ticket it
answers even if that id was never stored. Pure: the secret is handed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_OURS = re.compile(r"^inbox\.(?P<tracking>[A-Za-z0-9]+-\d+)\.(?P<nonce>[a-z0-9]+)\.(?P<sig>[a-z0-9]+)@")


def _signature(secret: str, tracking: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), f"{tracking}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:15]).decode().lower()


def make_message_id(tracking: str, domain: str, secret: str, nonce: str | None = None) -> str:
    """A fresh id (without angle brackets) for mail about `tracking`."""
    nonce = nonce or secrets.token_hex(8)
    return f"inbox.{tracking}.{nonce}.{_signature(secret, tracking, nonce)}@{domain}"


def verify_message_id(message_id: str, secret: str) -> str | None:
    """The tracking number a genuine id of ours names, or None for any other id."""
    match = _OURS.match(message_id.strip().strip("<>"))
    if not match:
        return None
    expected = _signature(secret, match["tracking"], match["nonce"])
    if not hmac.compare_digest(expected, match["sig"]):
        return None
    return match["tracking"].upper()


def looks_like_ours(message_id: str) -> bool:
    """Shaped like one of our ids (unverified): enough to suspect a loop, never to thread."""
    return bool(_OURS.match(message_id.strip().strip("<>")))


def stable_message_id(raw_sha256: str) -> str:
    """The id a message without Message-ID is known by: the same bytes give the same id."""
    return f"{raw_sha256[:40]}@no-message-id.invalid"
