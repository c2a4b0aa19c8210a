"""What the two work queues (`rawqueue`, `outbox`) share: finding the claims of dead processes.

A claim is written as `host:pid:token` in the row's `claimed_by`. After a crash or SIGKILL the
next process on that host gives those rows back at once instead of waiting out the claim
timeout; other hosts' claims wait, since from here we cannot tell whether their process lives.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session


def orphans(session: Session, table: Any, state: str, host: str, is_dead: Callable[[str], bool],
            suffix: str = "") -> list[tuple[int, str]]:
    """(id, claimed_by) of the rows in `state` claimed on `host` by a process that is gone;
    `suffix` is a marker a queue may append to the owner, left out before asking `is_dead`."""
    rows = session.execute(
        select(table.id, table.claimed_by).where(table.state == state, table.claimed_by.like(f"{host}:%"))
    ).all()
    return [(row_id, owner) for row_id, owner in rows if owner and is_dead(owner.removesuffix(suffix))]
