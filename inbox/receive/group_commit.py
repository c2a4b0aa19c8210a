"""Group commit: many SMTP sessions' messages stored in one transaction, each told the outcome.

A durable commit costs one disk flush (SQLite `synchronous=FULL`, PostgreSQL
`synchronous_commit`), and one flush per message caps the listener at a few hundred
messages a second. So messages that arrive together wait a few milliseconds (or until a
batch is full) and go to the raw store in ONE `put_many`; every waiting session then
gets the same verdict: all stored, or all failed and told to retry.

It never answers a sender by itself and never parses: it only turns "store this" into
"stored as RawRef" or an exception. The store runs in a worker thread, never on the
event loop, so a slow disk or a locked database stalls no SMTP dialogue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from inbox.rawstore import RawItem, RawRef

log = logging.getLogger(__name__)


class RawSink(Protocol):
    """Where raw messages go: `RawStore` fits. Returns only after COMMIT, or raises."""

    def put_many(self, items: Sequence[RawItem]) -> list[RawRef]: ...


@dataclass(frozen=True)
class BatchLimits:
    """When a batch is closed: `max_wait` seconds after its first message, or when full."""

    max_wait: float = 0.002
    max_items: int = 100
    max_bytes: int = 32 * 1024 * 1024  # a single larger message still goes, alone

    def __post_init__(self) -> None:
        if self.max_wait < 0 or self.max_items < 1 or self.max_bytes < 1:
            raise ValueError(f"invalid batch limits {self}")


class StoreFailed(Exception):
    """The batch holding this message was not committed; the cause is chained."""


@dataclass
class _Waiting:
    item: RawItem
    answer: asyncio.Future[RawRef]


class GroupCommitter:
    """Collects `put` calls from concurrent sessions and commits them in batches, one at a time.

    One commit in flight at a time is deliberate: messages that arrive during a commit
    form the next batch, so batches grow with the load, and a quiet listener still
    answers within `max_wait` plus one commit. `writers()`, when given, counts the
    sessions that could add a message: once all of them have one pending or in the
    commit in flight, nobody else can join, and the batch closes without waiting.
    """

    def __init__(
        self,
        sink: RawSink,
        limits: BatchLimits | None = None,
        on_committed: Callable[[int], None] = lambda count: None,
        writers: Callable[[], int] | None = None,
    ) -> None:
        self._sink = sink
        self._limits = limits or BatchLimits()
        self._on_committed = on_committed
        self._writers = writers
        self._in_flight: list[_Waiting] = []  # the batch whose transaction runs now
        self._pending: list[_Waiting] = []
        self._pending_bytes = 0
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._closing = False
        self.commits = 0  # transactions attempted: for tests and the benchmark

    def start(self) -> None:
        """Begin committing on the running loop."""
        if self._task is not None:
            raise RuntimeError("group committer already started")
        self._closing = False
        # A thread of its own, not the loop's default executor: other work queued there
        # (health checks, pollers) must never delay a commit that senders are waiting on.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-commit")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="raw-group-commit")

    async def put(self, item: RawItem) -> RawRef:
        """Store one message with whatever else arrives meanwhile. Raises StoreFailed if not committed."""
        if self._task is None or self._task.done() or self._closing:
            raise StoreFailed("the raw store is not accepting messages (listener stopping)")
        waiting = _Waiting(item, asyncio.get_running_loop().create_future())
        self._pending.append(waiting)
        self._pending_bytes += len(item.data)
        self._arrived.set()
        if self._is_full():
            self._full.set()
        # A session that goes away while waiting cancels only its own wait: the
        # message is still committed with its batch, and a retry dedupes on the hash.
        return await waiting.answer

    async def close(self) -> None:
        """Commit what is pending, then stop. Later `put` calls fail with StoreFailed."""
        self._closing = True
        task, self._task = self._task, None
        if task is None:
            return
        self._arrived.set()
        self._full.set()
        try:
            await task
        finally:
            if self._thread is not None:
                self._thread.shutdown(wait=False)
                self._thread = None

    async def _run(self) -> None:
        try:
            while True:
                await self._arrived.wait()
                if not self._closing and not self._full.is_set():
                    try:
                        async with asyncio.timeout(self._limits.max_wait):
                            await self._full.wait()
                    except TimeoutError:
                        pass
                batch = self._take()
                if batch:
                    await self._commit(batch)
                elif self._closing:
                    return
        finally:
            # However this loop ended (a bug, a cancelled task), no sender may wait forever:
            # a 451 is always safe, even for bytes that the thread still commits.
            for waiting in self._in_flight + self._pending:
                if not waiting.answer.done():
                    waiting.answer.set_exception(StoreFailed("the raw store committer stopped"))
            self._in_flight, self._pending, self._pending_bytes = [], [], 0

    def _take(self) -> list[_Waiting]:
        """The oldest messages up to the limits; the rest stay for the next batch."""
        count, size = 0, 0
        for waiting in self._pending:
            if count and (count >= self._limits.max_items or size + len(waiting.item.data) > self._limits.max_bytes):
                break
            count += 1
            size += len(waiting.item.data)
        batch, self._pending = self._pending[:count], self._pending[count:]
        self._pending_bytes -= size
        self._in_flight = batch
        if not self._pending:
            self._arrived.clear()
        if not self._is_full() and not self._closing:
            self._full.clear()
        return batch

    def _is_full(self) -> bool:
        """Full by the limits, or because every session that could still add a message has added it."""
        if not self._pending:
            return False
        if len(self._pending) >= self._limits.max_items or self._pending_bytes >= self._limits.max_bytes:
            return True
        return self._writers is not None and len(self._pending) + len(self._in_flight) >= self._writers()

    async def _commit(self, batch: list[_Waiting]) -> None:
        self.commits += 1
        await self._store(batch)
        self._in_flight = []

    async def _store(self, batch: list[_Waiting]) -> None:
        try:
            items = [waiting.item for waiting in batch]
            refs = await asyncio.get_running_loop().run_in_executor(self._thread, self._sink.put_many, items)
            if len(refs) != len(batch):  # never risk telling one session another's outcome
                raise RuntimeError(f"put_many returned {len(refs)} refs for {len(batch)} items")
        except Exception as exc:  # noqa: BLE001 - any failure means "not stored": every sender retries
            log.warning("raw store failed for a batch of %d messages: %s", len(batch), _first_line(exc))
            for waiting in batch:
                if not waiting.answer.done():
                    failed = StoreFailed(_first_line(exc))
                    failed.__cause__ = exc
                    waiting.answer.set_exception(failed)
            return
        try:
            self._on_committed(len(batch))
        except Exception:  # noqa: BLE001 - the messages are committed; a failing observer changes nothing
            log.exception("on_committed callback failed")
        for waiting, ref in zip(batch, refs):
            if not waiting.answer.done():
                waiting.answer.set_result(ref)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"
