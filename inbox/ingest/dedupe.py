"""Deduplication: the same Message-ID, or the same bytes when there is none, is one message.

Same bytes are caught earlier by the raw store (unique SHA-256); here a message
is known by its Message-ID, or by a stable id made from its hash.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from inbox.domain.message import ParsedMessage
from inbox.domain.msgid import stable_message_id
from inbox.store import tickets as store


def identity(parsed: ParsedMessage, raw_sha256: str) -> str:
    return parsed.message_id or stable_message_id(raw_sha256)


def earlier_copy(session: Session, message_id: str, raw_id: int) -> tuple[bool, int | None]:
    """Whether this message was handled before, and the ticket it went to, if any."""
    ticket_id = store.tickets_for_message_ids(session, [message_id]).get(message_id)
    if ticket_id is not None:
        return True, ticket_id
    return store.is_processed_raw(session, message_id, raw_id), None
