"""`inbox ingest FILES`: every message's raw bytes committed first, in chunks (after that nothing
is lost), then the queue drained; a big import parses in other processes while this one stores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from inbox.domain.ticket import Outcome
from inbox.ingest.drain import IngestWorker
from inbox.rawstore import RawItem, RawStore
from inbox.receive.files import read_messages
from inbox.store import rawqueue

STORE_CHUNK = 200
STORE_CHUNK_BYTES = 64 * 1024 * 1024
POOL_FROM = 500  # below this, starting parser processes costs more than it saves


def import_files(
    rawstore: RawStore,
    sessions: sessionmaker[Session],
    worker: Callable[[int], IngestWorker],
    files: Sequence[Path],
    *,
    now: datetime,
    received_at: datetime | None = None,
    retry_failed: bool = False,
    processes: int = 0,
) -> dict[str, int]:
    """Store and process the messages in `files` (and, with `retry_failed`, the failed ones again);
    a count of each outcome. `worker(n)` makes an ingest worker parsing in n processes."""
    counts = {o.value: 0 for o in Outcome}
    todo: list[int] = []
    if retry_failed:
        with sessions() as session, session.begin():
            todo = rawqueue.failed_ids(session)
            rawqueue.release_failed(session, now)
    _store(rawstore, sessions, files, received_at, counts, todo)
    draining = worker(processes if len(todo) >= POOL_FROM else 0)
    try:
        for outcome, n in draining.drain(todo).items():
            counts[outcome.value] += n
    finally:
        draining.close()
    return counts


def _store(rawstore: RawStore, sessions: sessionmaker[Session], files: Sequence[Path], received_at: datetime | None,
           counts: dict[str, int], todo: list[int]) -> None:
    """Commit every message's raw bytes; add the ids to process to `todo`."""
    chunk: list[RawItem] = []
    size = 0
    queued = set(todo)

    def flush(items: list[RawItem]) -> None:
        if not items:
            return
        refs = rawstore.put_many(items)
        known = [r.id for r in refs if not r.created and r.id not in queued]
        with sessions() as session:
            states = rawqueue.states_of(session, known)
        for ref in refs:
            if ref.id in queued or (not ref.created and states[ref.id][0] == rawqueue.PROCESSED):
                counts[Outcome.DUPLICATE.value] += 1  # the same bytes again, in this run or before
            else:
                todo.append(ref.id)  # new, or stored before but never finished
                queued.add(ref.id)

    for source, data in read_messages(list(files)):
        chunk.append(RawItem(data=data, source=source, received_at=received_at))
        size += len(data)
        if len(chunk) >= STORE_CHUNK or size >= STORE_CHUNK_BYTES:
            flush(chunk)
            chunk, size = [], 0
    flush(chunk)
