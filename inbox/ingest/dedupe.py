"""Deduplication: the same Message-ID, or the same bytes when there is none, is one message.

Same bytes are caught earlier by the raw store (unique SHA-256); here a message
is known by its Message-ID, or by a stable id made from its hash.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.domain.msgid import stable_message_id
from inbox.store import tickets as store


def identity(parsed: ParsedMessage, raw_sha256: str) -> str:
    return parsed.message_id or stable_message_id(raw_sha256)


def earlier_copy(session: Session, message_id: str, raw_id: int) -> tuple[bool, int | None]:
    """Whether this message was handled before, and the ticket it went to, if any.

    Every processed raw row carries its Message-ID and ticket, so one indexed
    lookup answers for tickets and non-tickets alike. (Two workers racing on the
    same id are stopped by the unique Message-ID of ticket messages.)
    """
    return store.processed_copy(session, message_id, raw_id)


def look_ahead(session: Session, asking: Mapping[int, str]) -> None:
    """Ask `earlier_copy` for a whole batch at once (raw id -> Message-ID): one query, not one a
    mail, in a transaction that holds its writes (`inbox.store.deferred`)."""
    store.look_ahead_copies(session, asking)
