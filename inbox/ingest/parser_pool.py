"""Where parsing runs: in this process, or in a pool of worker processes.

Parsing is pure and CPU-bound, and on a busy inbox it costs as much as all the
database work together. A pool parses the next batch while this process
stores the current one, and a mail that crashes or exhausts the parser takes
down a pool process, not the service (the batch is then parsed here). While the pool
starts (a spawned process imports the service's modules: a second or more on a busy
machine), batches are parsed here instead of waiting for it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Protocol, Sequence

from inbox.domain.message import ParsedMessage
from inbox.heap import pace_collector
from inbox.ingest.parse import parse
from inbox.spawning import ignore_sigint, sigint_held

log = logging.getLogger(__name__)

Pending = Callable[[], list[ParsedMessage]]


class BatchParser(Protocol):
    @property
    def started(self) -> bool:
        """Whether it parses where it is meant to (a pool: once its processes are up)."""
        ...

    def submit(self, datas: Sequence[bytes]) -> Pending:
        """Start parsing; the returned callable gives the results, in order."""
        ...

    def close(self) -> None: ...


class InProcessParser:
    """Parses when the results are asked for: nothing to overlap with, nothing to start."""

    started = True

    def submit(self, datas: Sequence[bytes]) -> Pending:
        return lambda: [parse(data) for data in datas]

    def close(self) -> None:
        pass


def _as_pool_process(parent: int, every: float = 1.0) -> None:
    """In each pool process: Ctrl-C is the service's to handle (it shuts the pool down), and exit
    once the service is gone. A SIGKILLed (or OOM-killed) service cannot stop its pool, and an
    idle worker waits on its queue for ever, holding its memory. Its collector keeps the service's pace."""
    ignore_sigint()
    pace_collector()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="follow-parent", daemon=True).start()


def _parse_many(datas: Sequence[bytes]) -> list[ParsedMessage]:
    return [parse(data) for data in datas]


class PoolParser:
    """Parses in `processes` spawned worker processes, a few messages per task."""

    CHUNK = 16

    def __init__(self, processes: int) -> None:
        # spawn, not fork: the parent holds database connections a child must never share.
        self._processes = processes
        self._pool, self._started = self._start()

    def _start(self) -> tuple[ProcessPoolExecutor, Future[list[ParsedMessage]]]:
        pool = ProcessPoolExecutor(self._processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_as_pool_process, initargs=(os.getpid(),))
        # Made outside the hold: creating the pool may start multiprocessing's resource tracker,
        # which unblocks SIGINT in this thread once it has started (CPython 3.11).
        with sigint_held():  # any submit may start a pool process
            return pool, pool.submit(_parse_many, [])  # starts the processes now, not at the first batch

    @property
    def started(self) -> bool:
        """Whether the pool has answered once (its processes are up and have imported the parser)."""
        return self._started.done()

    def submit(self, datas: Sequence[bytes]) -> Pending:
        if not self._started.done():
            return InProcessParser().submit(datas)  # parsed here when asked for: no wait on the pool's start
        chunks = [list(datas[i : i + self.CHUNK]) for i in range(0, len(datas), self.CHUNK)]
        try:
            with sigint_held():  # a submit may start a pool process
                futures: list[Future[list[ParsedMessage]]] = [self._pool.submit(_parse_many, c) for c in chunks]
        except (BrokenProcessPool, RuntimeError):
            self._restart()
            return InProcessParser().submit(datas)

        def results() -> list[ParsedMessage]:
            try:
                return [message for future in futures for message in future.result()]
            except BrokenProcessPool:
                log.error("a parser process died; parsing this batch in the service process")
                self._restart()
                return [parse(data) for data in datas]

        return results

    def _restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool, self._started = self._start()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
