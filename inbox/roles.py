"""The roles of `inbox serve`, and which process runs which.

  receive  the SMTP listener and the IMAP pollers: bytes in, raw rows committed (and the 250)
  ingest   raw rows to tickets: parse, thread, classify, persist, queue the emails they cause
  send     the SLA sweep and the outbox sender

Every role meets the others only through the database (and a wake, which only says "look"), so
any set of them can run in one process, in processes of their own, or in other instances on one
PostgreSQL. Splitting matters because of the interpreter lock: in one process an outage storm's
sending and ingesting starve the listener and each other of one core's time.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    RECEIVE = "receive"
    INGEST = "ingest"
    SEND = "send"


ALL_ROLES = frozenset(Role)
ORDER = (Role.RECEIVE, Role.INGEST, Role.SEND)  # the flow of mail; also the order of stopping


def parse_roles(text: str) -> frozenset[Role]:
    """"receive,ingest" -> those roles; ValueError naming what is not a role, or an empty list."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("name at least one role: " + ", ".join(ORDER))
    unknown = [name for name in names if name not in Role.__members__.values()]
    if unknown:
        raise ValueError(f"not a role: {', '.join(unknown)} (roles: {', '.join(ORDER)})")
    return frozenset(Role(name) for name in names)


def ordered(roles: frozenset[Role]) -> list[Role]:
    return [role for role in ORDER if role in roles]


def layout(roles: frozenset[Role], *, cores: int, split: bool) -> tuple[frozenset[Role], list[frozenset[Role]]]:
    """(the roles the started process runs itself, one set per child process). Split, on two
    cores or more, every role but receive goes to a process of its own: the listener stays in the
    process the operator started, with the operations endpoint, so a 250 never waits for a turn of
    ingest or sending. On one core another process would only fight for the same time."""
    if not split or cores < 2 or len(roles) < 2:
        return roles, []
    here = frozenset(roles & {Role.RECEIVE})
    return here, [frozenset({role}) for role in ordered(roles - here)]
