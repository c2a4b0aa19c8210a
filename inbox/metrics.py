"""The series /metrics shows, in one table, kept by `prometheus-client` in one registry per process.

Knows nothing of where the counts come from: callers name the series (`inc`, `set`, `observe`)
where the events happen, and `read_at_scrape` adds series computed when /metrics is read (queue
depths). No process-wide registry: each `Metrics` has its own, passed in like any collaborator,
so two services in one test process never share a count. Never does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a parsed mail to a stored ticket: milliseconds usually, minutes when a queue waits.
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, float("inf"))


@dataclass(frozen=True)
class Series:
    kind: type[Counter] | type[Gauge] | type[Histogram]
    help: str
    labels: tuple[str, ...] = ()


# Counter names end in _total here as on the page; prometheus-client wants them without it.
SERIES: dict[str, Series] = {
    "inbox_messages_accepted_total": Series(Counter, "Messages committed to the raw store, by source.", ("source",)),
    "inbox_messages_refused_total": Series(Counter, "Messages or connections refused, by source and reason.",
                                           ("source", "reason")),
    "inbox_messages_processed_total": Series(Counter, "Messages ingested, by outcome and source.",
                                             ("outcome", "source")),
    "inbox_messages_failed_total": Series(Counter, "Messages whose ingest failed (retried, then quarantined), by source.",
                                          ("source",)),
    "inbox_messages_quarantined_total": Series(Counter, "Messages set aside after a permanent failure or too many "
                                                        "(`inbox ingest --retry-failed` tries them again), by source.",
                                               ("source",)),
    "inbox_emails_sent_total": Series(Counter, "Emails the relay accepted, by kind.", ("kind",)),
    "inbox_emails_dead_total": Series(Counter, "Emails given up on (permanent failure or retries spent).", ()),
    "inbox_emails_suppressed_total": Series(Counter, "Emails not sent: the recipient is suppressed or a rule skipped it.", ()),
    "inbox_template_refusals_total": Series(Counter, "Template edits refused (their last good version is used).", ()),
    "inbox_signin_failures_total": Series(Counter, "Admin pages asked for with a wrong or missing token.", ()),
    "inbox_scheduler_turns_total": Series(Counter, "Turns of the SLA sweep and outbox sender since start.", ()),
    "inbox_scheduler_failures_total": Series(Counter, "Turns that failed (logged; the next turn retries).", ()),
    "inbox_imap_errors_total": Series(Counter, "IMAP poller problems, by mailbox and stage.", ("mailbox", "stage")),
    "inbox_imap_last_success_timestamp": Series(Gauge, "Unix time of each IMAP mailbox's last completed poll.",
                                                ("mailbox",)),
    "inbox_ingest_latency_seconds": Series(Histogram, "From a message's commit to the raw store to its ticket's "
                                                      "commit, by outcome.", ("outcome",)),
    "inbox_acknowledgement_latency_seconds": Series(Histogram, "From a ticket's first mail committed to the raw store "
                                                               "(the 250) to its acknowledgement accepted by the relay.",
                                                    ()),
}


class Metrics:
    """One registry and the series of `SERIES` in it, with the process's CPU, memory and files."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        disable_created_metrics()  # no *_created series beside each counter: nothing here reads them
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._series: dict[str, Any] = {}
        for name, series in SERIES.items():
            short = name.removesuffix("_total") if series.kind is Counter else name
            extra = {"buckets": LATENCY_BUCKETS} if series.kind is Histogram else {}
            self._series[name] = series.kind(short, series.help, series.labels, registry=self.registry, **extra)
        if process:
            ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, resident memory, open fds

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        """Add to a counter."""
        self._child(name, labels).inc(amount)

    def set(self, name: str, value: float, **labels: str) -> None:
        """Set a gauge."""
        self._child(name, labels).set(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Put one observation into a histogram."""
        self._child(name, labels).observe(value)

    def value(self, name: str, **labels: str) -> float:
        """The current value of one counter or gauge series (0 when never touched): for health checks and tests."""
        found = self.registry.get_sample_value(name, labels)
        return found if found is not None else 0.0

    def read_at_scrape(self, collect: Callable[[], Iterable[Any]]) -> None:
        """Add series that `collect` makes each time /metrics is read (metric families of
        `prometheus_client.core`): values that live in the database, not in this process."""
        self.registry.register(_Scrape(collect))

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")

    def _child(self, name: str, labels: dict[str, str]) -> Any:
        metric = self._series[name]  # a KeyError names a series missing from SERIES
        return metric.labels(**labels) if labels else metric


class _Scrape(Collector):
    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Any]:
        return self._collect()

    def describe(self) -> Iterable[Any]:
        return []  # computed at each read: nothing to check against the names registered before
