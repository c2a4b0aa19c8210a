"""Drains the ingest queue: claim raw rows, run the pipeline on each, finish or fail it.

A batch is one transaction (one disk flush for many messages). A message that
fails sends its batch down the slow path, one transaction per message, where
it is rolled back alone, marked failed with its reason, and never blocks the
messages behind it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from inbox.clock import Clock
from inbox.domain.ticket import Outcome
from inbox.ingest.pipeline import IngestContext, IngestResult, PermanentError, ingest_one
from inbox.store import rawqueue
from inbox.store.tables import RawMessage

Process = Callable[[Session, RawMessage, IngestContext], IngestResult]

log = logging.getLogger(__name__)


class IngestWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        ctx: IngestContext,
        clock: Clock,
        batch_size: int = 100,
        process: Process = ingest_one,
    ) -> None:
        self._sessions = sessions
        self._process = process
        self._ctx = ctx
        self._clock = clock
        self._batch_size = batch_size

    def run_batch(self, ids: Sequence[int] | None = None) -> list[tuple[int, Outcome]]:
        """Process one batch of due rows (only `ids`, when given). Returns what each came to.

        The claim is committed first, so a message that kills the process still
        has its attempt counted. Then the whole batch runs in one transaction;
        only if something in it fails is the batch redone one message at a time,
        each in its own transaction, so the failure is pinned on its message.
        """
        now = self._clock.now()
        with self._sessions() as session:
            with session.begin():
                claimed = rawqueue.claim(session, now, self._batch_size, ids)
            if not claimed:
                return []
            claimed_ids = [raw.id for raw in claimed]  # the rows expire if the batch rolls back
            try:
                with session.begin():
                    return [self._process_one(session, raw, now) for raw in claimed]
            except Exception:  # noqa: BLE001 - retried one by one below, where it is recorded
                log.info("batch of %d failed; retrying its messages one at a time", len(claimed), exc_info=True)
        return [self._isolated(raw_id, now) for raw_id in claimed_ids]

    def _process_one(self, session: Session, raw: RawMessage, now: datetime) -> tuple[int, Outcome]:
        # Finished at once, not at the end of the batch: a later message of the
        # same batch must see this one's Message-ID as already handled.
        result = self._process(session, raw, self._ctx)
        rawqueue.finish(session, [rawqueue.Finished(raw.id, result.outcome.value, result.ticket_id, result.message_id)], now)
        return raw.id, result.outcome

    def _isolated(self, raw_id: int, now: datetime) -> tuple[int, Outcome]:
        """One message in a transaction of its own; a failure is recorded on its row."""
        with self._sessions() as session:
            try:
                with session.begin():
                    raw = session.get(RawMessage, raw_id)
                    if raw is None or raw.state != rawqueue.PROCESSING:
                        return raw_id, Outcome.DUPLICATE  # another worker finished it meanwhile
                    return self._process_one(session, raw, now)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the queue
                # An IntegrityError means another worker stored the same message first:
                # a temporary failure, and next time it is a duplicate.
                permanent = isinstance(exc, PermanentError)
                reason = f"{type(exc).__name__}: {exc}"
                log.warning("raw message %s failed: %s", raw_id, reason.splitlines()[0][:300], exc_info=True)
                with session.begin():
                    raw = session.get(RawMessage, raw_id)
                    if raw is not None:
                        rawqueue.fail(session, raw, error=reason, now=now, permanent=permanent)
                return raw_id, Outcome.FAILED

    def drain(self, ids: Sequence[int] | None = None) -> Counter[Outcome]:
        """Process until nothing due is left (of `ids`, when given); each row at most once."""
        counts: Counter[Outcome] = Counter()
        remaining = list(ids) if ids is not None else None
        while True:
            if remaining is not None:
                if not remaining:
                    break
                chunk, remaining = remaining[: self._batch_size], remaining[self._batch_size :]
                batch = self.run_batch(chunk)
            else:
                batch = self.run_batch()
                if not batch:
                    break
            counts.update(outcome for _, outcome in batch)
        return counts
