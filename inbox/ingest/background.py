"""Keeps the ingest queue drained inside `inbox serve`: a thread woken by new mail.

The front doors only store and call `wake()`; parsing, threading and tickets
happen here, off the SMTP connection, so a slow rule never slows the dialogue.
Also wakes on its own every few seconds for retries that fall due. Never raises
out of its loop: a database outage is logged and retried with back-off.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Callable

from inbox.domain.ticket import Outcome

# Only named: the parent of split processes counts outcomes here and never loads the pipeline; a
# child process reports its counts to the parent and loads no prometheus-client.
if TYPE_CHECKING:
    from inbox.ingest.drain import IngestWorker
    from inbox.metrics import Metrics

log = logging.getLogger(__name__)


class IngestRunner:
    def __init__(self, worker: IngestWorker, idle_seconds: float = 5.0) -> None:
        self._worker = worker
        self._idle = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.idle = threading.Event()  # set while nothing is being processed (tests and shutdown wait on it)

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        """Drain whenever woken (or every idle_seconds) until `stop`, ending with one last drain
        begun after `stop` was set, so mail stored before shutdown is processed now."""
        backoff, stranded = 1.0, False
        while True:
            stopping = self._stop.is_set()
            self._wake.clear()
            self.idle.clear()
            delay = self._idle
            try:
                if stranded:  # a failed drain left its claims behind: take them back first
                    self._worker.release_own()
                    stranded = False
                self._drain_once()
                backoff = 1.0
            except Exception:  # noqa: BLE001 - the database may be down: keep the service up
                log.exception("ingest worker failed; retrying in %.0f s", backoff)
                delay, backoff, stranded = backoff, min(backoff * 2, 60.0), True
            self.idle.set()
            if stopping:
                return
            self._wake.wait(delay)

    def stop(self) -> None:
        """Ask for one last drain and an end; `run` returns after it."""
        self._stop.set()
        self._wake.set()

    def _drain_once(self) -> None:
        self._worker.drain()


def outcome_counter(metrics: Metrics) -> Callable[[str, Outcome], None]:
    """What the worker calls for each processed message (`on_result`): the metrics, per source."""

    def count(source: str, outcome: Outcome) -> None:
        label = source_label(source)
        metrics.inc("inbox_messages_processed_total", outcome=outcome.value, source=label)
        if outcome is Outcome.FAILED:
            metrics.inc("inbox_messages_failed_total", source=label)

    return count


def quarantine_counter(metrics: Metrics) -> Callable[[str], None]:
    """What the worker calls for each message it quarantines (`on_quarantined`), per source."""
    return lambda source: metrics.inc("inbox_messages_quarantined_total", source=source_label(source))


def acknowledgement_recorder(metrics: Metrics) -> Callable[[float], None]:
    """What the sender calls with each acknowledgement's seconds from the 250 to its send."""
    return lambda seconds: metrics.observe("inbox_acknowledgement_latency_seconds", seconds)


def latency_recorder(metrics: Metrics) -> Callable[[Outcome, float], None]:
    """What the worker calls with each message's seconds from raw store to ticket (`on_latency`)."""

    def record(outcome: Outcome, seconds: float) -> None:
        metrics.observe("inbox_ingest_latency_seconds", seconds, outcome=outcome.value)

    return record


def source_label(source: str) -> str:
    """A bounded label: "smtp", "imap:<mailbox>", or the kind of file ("file", "mbox", "maildir")
    without its path, which would make a new time series for every file ever ingested."""
    kind, _, rest = source.partition(":")
    return f"imap:{rest}" if kind == "imap" else kind
