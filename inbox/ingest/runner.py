"""Keeps the ingest queue drained inside `inbox serve`: a thread woken by new mail.

The front doors only store and call `wake()`; parsing, threading and tickets
happen here, off the SMTP connection, so a slow rule never slows the dialogue.
Also wakes on its own every few seconds for retries that fall due. Never raises
out of its loop: a database outage is logged and retried with back-off.
"""

from __future__ import annotations

import logging
import threading

from inbox.domain.ticket import Outcome
from inbox.ingest.worker import IngestWorker
from inbox.metrics import Metrics

log = logging.getLogger(__name__)


class IngestRunner:
    def __init__(self, worker: IngestWorker, metrics: Metrics, idle_seconds: float = 5.0) -> None:
        self._worker = worker
        self._metrics = metrics
        self._idle = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.idle = threading.Event()  # set while nothing is being processed (tests and shutdown wait on it)

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        """Drain whenever woken (or every idle_seconds) until `stop`, ending with one last drain
        begun after `stop` was set, so mail stored before shutdown is processed now."""
        backoff = 1.0
        while True:
            stopping = self._stop.is_set()
            self._wake.clear()
            self.idle.clear()
            delay = self._idle
            try:
                self._drain_once()
                backoff = 1.0
            except Exception:  # noqa: BLE001 - the database may be down: keep the service up
                log.exception("ingest worker failed; retrying in %.0f s", backoff)
                delay, backoff = backoff, min(backoff * 2, 60.0)
            self.idle.set()
            if stopping:
                return
            self._wake.wait(delay)

    def stop(self) -> None:
        """Ask for one last drain and an end; `run` returns after it."""
        self._stop.set()
        self._wake.set()

    def _drain_once(self) -> None:
        counts = self._worker.drain()
        for outcome, n in counts.items():
            self._metrics.inc("inbox_messages_processed_total", n, outcome=outcome.value)
            if outcome is Outcome.FAILED:
                self._metrics.inc("inbox_messages_failed_total", n)
