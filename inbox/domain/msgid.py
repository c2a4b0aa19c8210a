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

# What a digest's id carries where a tracking number would be: longer than any tracking prefix
# (at most 10 characters), so it never names a ticket, however the desk numbers them.
DIGEST_TAG = "STAFFDIGEST"
_OURS = re.compile(r"^inbox\.(?P<tracking>[A-Za-z0-9]+-\d+)\.(?P<nonce>[a-z0-9]+)\.(?P<sig>[a-z0-9]+)@")


def _signature(secret: str, tracking: str, nonce: str) -> str:
    digest = hmac.new(secret.encode(), f"{tracking}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:15]).decode().lower()


def make_message_id(tracking: str, domain: str, secret: str, nonce: str | None = None) -> str:
    """A fresh id (without angle brackets) for mail about `tracking`."""
    nonce = nonce or secrets.token_hex(8)
    return f"inbox.{tracking}.{nonce}.{_signature(secret, tracking, nonce)}@{domain}"


def make_digest_message_id(number: int, domain: str, secret: str) -> str:
    """A fresh id for a staff digest: ours, signed, and naming no ticket."""
    return make_message_id(f"{DIGEST_TAG}-{number}", domain, secret)


def verify_message_id(message_id: str, secret: str) -> str | None:
    """The tracking number a genuine id of ours names, or None for any other id and for a digest's."""
    tag = _verified(message_id, secret)
    return None if tag is None or tag.startswith(f"{DIGEST_TAG}-") else tag


def is_own_message_id(message_id: str, secret: str) -> bool:
    """A genuine id of ours, a digest's included: mail that carries it came from us."""
    return _verified(message_id, secret) is not None


def _verified(message_id: str, secret: str) -> str | None:
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
