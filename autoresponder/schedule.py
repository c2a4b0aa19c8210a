"""Runs the scheduled work inside `inbox serve`: one turn when woken, and at least every interval.

One turn rather than one job per kind: the sweep must run before the outbox so what it queues
goes out in the same turn. The turn runs on a thread of its own, one at a time. `wake()` (called
when ingest commits a batch that may have queued emails) asks for a turn soon; the interval is
only the safety net for what no wake announces (retries falling due, SLA clocks, another
process's rows). Wakes coalesce: any number of them during a running turn lead to exactly one
more turn after it, never a pile. A failing turn is logged and the next one tries again; it
never stops the service. Two instances on one PostgreSQL may both run it: the row locks and
idempotency keys below make that safe.

Not APScheduler (used here before): its one interval job cannot be asked for a run now that
coalesces with the running one; with `max_instances=1` a run asked for during a turn is dropped
with a warning, and the wake with it. One thread and an Event say exactly what is meant.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0
STOP_SECONDS = 60.0  # how long `stop` waits for a running turn


class JobScheduler:
    def __init__(self, turn: Callable[[], object], interval_seconds: float = INTERVAL_SECONDS) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"the interval must be positive, not {interval_seconds}")
        self._turn = turn
        self._interval = interval_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set while waiting with no turn asked for (tests and benchmarks wait on it).
        self.idle = threading.Event()
        self.turns = 0
        self.failures = 0

    def wake(self) -> None:
        """Ask for a turn as soon as the running one (if any) ends. Cheap; safe from any thread."""
        self._wake.set()

    def start(self) -> None:
        """Start the thread; its first turn runs at once (what a previous process left is sent now)."""
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name="jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop turning and wait for a running turn to finish; no turn starts after this."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
            if self._thread.is_alive():
                log.error("the scheduled turn did not finish within %.0f s", STOP_SECONDS)

    def _run(self) -> None:
        # The tick is counted from each turn's start, as a fixed-rate timer would, so a slow turn
        # is followed at once by the next rather than a whole interval later.
        due = time.monotonic()
        while not self._stop.is_set():
            if not self._wake.is_set():
                self.idle.set()
            self._wake.wait(max(0.0, due - time.monotonic()))
            if self._stop.is_set():
                return
            # Cleared before the turn: a wake that arrives while it runs asks for the next one.
            self._wake.clear()
            self.idle.clear()
            due = time.monotonic() + self._interval
            self._safe_turn()

    def _safe_turn(self) -> None:
        try:
            self._turn()
        except Exception:  # noqa: BLE001 - logged; the next turn retries, the service stays up
            self.failures += 1
            log.exception("scheduled jobs failed; trying again next turn")
        finally:
            self.turns += 1
