"""Runs the scheduled work inside `inbox serve` on APScheduler 3: one job, every few seconds.

One job rather than one per kind: the sweep must run before the outbox so what it queues goes
out in the same turn, and APScheduler's `max_instances=1` with `coalesce` keeps a slow turn from
piling up runs behind it. A failing turn is logged and the next one tries again; it never stops
the service. Two instances on one PostgreSQL may both run it: the row locks and idempotency keys
below make that safe.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 5.0


class JobScheduler:
    def __init__(self, turn: Callable[[], object], interval_seconds: float = INTERVAL_SECONDS) -> None:
        self._turn = turn
        self._scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._scheduler.add_job(self._safe_turn, "interval", seconds=interval_seconds, id="sla-and-outbox",
                                next_run_time=datetime.now(timezone.utc))
        self.turns = 0
        self.failures = 0

    def _safe_turn(self) -> None:
        try:
            self._turn()
        except Exception:  # noqa: BLE001 - logged; the next turn retries, the service stays up
            self.failures += 1
            log.exception("scheduled jobs failed; trying again next turn")
        finally:
            self.turns += 1

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        """Stop scheduling and wait for a running turn to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
