"""Drains the ingest queue: claim raw rows, parse them, run the pipeline on each, finish or fail it.

Claims are committed before any work, so a message that kills the process
still has its attempt counted. A batch is then one transaction (one disk
flush for many messages). A message that fails sends its batch down the slow
path, one transaction per message, where it is rolled back alone, marked
failed with its reason, and never blocks the messages behind it. With a
parser pool, the next batch is claimed and parsed while this one is stored.

Each batch is decided with the desk in effect as it starts (read from the `CurrentDesk`, so a
config reload reaches the next batch), and its rows are claimed in the name of the `Claimant`
the composition root hands in.

After each batch commits, `on_committed` is called with what each of its messages came to
(never before the commit, so whoever it wakes finds the rows the batch queued).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator, Sequence

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from inbox import logs, tickets
from inbox.claimant import Claimant
from inbox.clock import Clock
from inbox.domain.message import ParsedMessage
from inbox.domain.ticket import Outcome
from inbox.ingest.authenticate import DnsLookup
from inbox.ingest.dedupe import identity, look_ahead
from inbox.ingest.parser_pool import BatchParser, InProcessParser, Pending
from inbox.ingest.pipeline import IngestContext, IngestResult, PermanentError, ingest_one, look_ahead_threads
from inbox.store import deferred, rawqueue
from inbox.store.rawqueue import Claimed
from inbox.tickets import CurrentDesk

Process = Callable[[Session, Claimed, IngestContext, ParsedMessage | None], IngestResult]

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 3


@dataclass
class _Batch:
    claimed: list[Claimed]
    parsed: Pending


class IngestWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desk: CurrentDesk,
        clock: Clock,
        claimant: Claimant,
        batch_size: int = 100,
        process: Process = ingest_one,
        parser: BatchParser | None = None,
        on_result: Callable[[str, Outcome], None] | None = None,
        dns: DnsLookup | None = None,
        on_committed: Callable[[Sequence[tuple[int, Outcome]]], None] | None = None,
        on_latency: Callable[[Outcome, float], None] | None = None,
        on_quarantined: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._on_quarantined = on_quarantined or (lambda source: None)  # each message quarantined, by source
        self._on_latency = on_latency  # seconds from each raw row's commit to its ticket's, for /metrics
        self._on_result = on_result or (lambda source, outcome: None)
        self._on_committed = on_committed or (lambda results: None)
        self._process = process
        self._desk = desk
        self._dns = dns
        self._clock = clock
        self._claimant = claimant
        self._batch_size = batch_size
        self._parser = parser or InProcessParser()

    def run_batch(self, ids: Sequence[int] | None = None) -> list[tuple[int, Outcome]]:
        """Process one batch of due rows (only `ids`, when given). Returns what each came to."""
        batch = self._claim(ids)
        return self._run(batch) if batch else []

    def drain(self, ids: Sequence[int] | None = None) -> Counter[Outcome]:
        """Process until nothing due is left (of `ids`, when given); each row at most once."""
        counts: Counter[Outcome] = Counter()
        chunks = self._chunks(ids)
        batch = self._claim(next(chunks, []))
        while batch:
            following = self._claim(next(chunks, []))  # parsed meanwhile, when a pool parses
            counts.update(outcome for _, outcome in self._run(batch))
            batch = following
        return counts

    def release_own(self) -> int:
        """Give back this process's claims after a drain that failed midway (a database outage)."""
        with self._sessions() as session, session.begin():
            released = rawqueue.release_claims_of(session, self._claimant.owner)
        if released:
            log.warning("took back %d messages a failed batch had claimed", released)
        return released

    def recover(self) -> int:
        """Take back rows that a dead process on this host had claimed, and process them one
        at a time, parsed here: if one of them is what killed the process, it is caught
        alone and its attempts add up to quarantine. Returns how many were taken back."""
        with self._sessions() as session, session.begin():
            released = rawqueue.release_orphans(session, self._claimant.host, self._claimant.is_dead)
        if released:
            log.warning("took back %d messages claimed by a process that died", len(released))
        for raw_id in released:
            with self._sessions() as session, session.begin():
                claimed = rawqueue.claim(session, self._clock.now(), 1, [raw_id],
                                         owner=self._claimant.owner + rawqueue.SOLO)
            if claimed:
                self._run(_Batch(claimed, InProcessParser().submit([claimed[0].data])))
        return len(released)

    @property
    def parser_started(self) -> bool:
        """Whether the parser pool, if any, is up (until then batches are parsed here)."""
        return self._parser.started

    def close(self) -> None:
        self._parser.close()

    def _chunks(self, ids: Sequence[int] | None) -> Iterator[Sequence[int] | None]:
        if ids is None:
            while True:
                yield None
        for start in range(0, len(ids), self._batch_size):
            yield ids[start : start + self._batch_size]

    def _claim(self, ids: Sequence[int] | None) -> _Batch | None:
        if ids is not None and not ids:
            return None
        with self._sessions() as session, session.begin():
            claimed = rawqueue.claim(session, self._clock.now(), self._batch_size, ids, owner=self._claimant.owner)
        if not claimed:
            return None
        return _Batch(claimed, self._parser.submit([raw.data for raw in claimed]))

    def _run(self, batch: _Batch) -> list[tuple[int, Outcome]]:
        results = self._run_batch(batch)
        committed = self._clock.now()
        for raw, (_, outcome) in zip(batch.claimed, results):
            self._on_result(raw.source, outcome)
            if self._on_latency is not None and outcome is not Outcome.FAILED:
                stored = raw.received_at if raw.received_at.tzinfo else raw.received_at.replace(tzinfo=timezone.utc)
                self._on_latency(outcome, max(0.0, (committed - stored).total_seconds()))
        self._on_committed(results)
        return results

    def _run_batch(self, batch: _Batch) -> list[tuple[int, Outcome]]:
        now = self._clock.now()
        ctx = IngestContext(self._desk.get(), self._dns)  # one config for the whole batch, its retries too
        parsed = batch.parsed()
        try:
            with self._sessions() as session, session.begin(), deferred.holding(session, ids=True):
                look_ahead(session, {raw.id: identity(msg, raw.sha256) for raw, msg in zip(batch.claimed, parsed)})
                look_ahead_threads(session, parsed, ctx)
                tickets.expect(session, parsed)
                return [self._process_one(session, raw, msg, ctx, now) for raw, msg in zip(batch.claimed, parsed)]
        except Exception:  # noqa: BLE001 - retried one by one below, where it is recorded
            log.info("batch of %d failed; retrying its messages one at a time", len(batch.claimed), exc_info=True)
        return [self._isolated(raw, msg, ctx, now) for raw, msg in zip(batch.claimed, parsed)]

    def _process_one(self, session: Session, raw: Claimed, parsed: ParsedMessage, ctx: IngestContext,
                     now: datetime) -> tuple[int, Outcome]:
        # Finished at once, not at the end of the batch: a later message of the
        # same batch must see this one's Message-ID as already handled.
        with logs.about(message_id=_message_id(parsed), raw_id=raw.id):
            result = self._process(session, raw, ctx, parsed)
            rawqueue.finish(session, raw.id, outcome=result.outcome.value, ticket_id=result.ticket_id,
                            message_id=result.message_id, now=now)
            log.info("%s Message-ID <%s> (raw %s, %s): %s", result.tracking or "-", result.message_id, raw.id,
                     raw.source, result.outcome.value,
                     extra={"tracking": result.tracking, "message_id": result.message_id or None})
        return raw.id, result.outcome

    def _isolated(self, raw: Claimed, parsed: ParsedMessage, ctx: IngestContext, now: datetime) -> tuple[int, Outcome]:
        """One message in a transaction of its own; a failure is recorded on its row.

        A database conflict with another worker (a deadlock, or the same message
        stored by it first) is tried again at once: the retry usually succeeds or
        finds the message a duplicate, and only a conflict that persists counts
        as a failure.
        """
        with self._sessions() as session, logs.about(message_id=_message_id(parsed), raw_id=raw.id):
            attempt = 0
            while True:
                attempt += 1
                try:
                    with session.begin(), deferred.holding(session):  # one mail: ids ahead would cost a trip
                        if not rawqueue.is_claimed(session, raw.id):
                            return raw.id, Outcome.DUPLICATE  # another worker finished it meanwhile
                        return self._process_one(session, raw, parsed, ctx, now)
                except DBAPIError as exc:
                    if attempt < CONFLICT_RETRIES and not exc.connection_invalidated:
                        log.info("Message-ID <%s> (raw %s): database conflict, trying again: %s", parsed.message_id,
                                 raw.id, str(exc).splitlines()[0])
                        continue
                    error: Exception = exc
                except Exception as exc:  # noqa: BLE001 - one bad message must not stop the queue
                    error = exc
                reason = f"{type(error).__name__}: {error}"
                log.warning("Message-ID <%s> (raw %s) failed: %s", parsed.message_id, raw.id,
                            reason.splitlines()[0][:300], exc_info=error)
                with session.begin():
                    quarantined = rawqueue.fail(session, raw.id, error=reason, now=now,
                                                permanent=isinstance(error, PermanentError))
                if quarantined:
                    self._on_quarantined(raw.source)
                return raw.id, Outcome.FAILED


def _message_id(parsed: ParsedMessage | None) -> str | None:
    """The Message-ID a log line names a parsed message by (the parser may have found none)."""
    return (parsed.message_id or None) if parsed is not None else None
