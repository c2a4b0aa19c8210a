"""The life of `inbox serve`: start every part, wait for SIGTERM, stop them in the safe order.

Parts are built by `inbox.serving`; this module only starts and stops them. The
order of stopping is the point: first the front doors stop taking mail (the
SMTP listener finishes its in-flight sessions, the pollers finish their
round), then the ingest runner drains what they stored, then the child processes
stop (ingest's before send's), then the scheduled jobs finish their turn, then the
operations endpoint goes. Whatever is stored but not processed when the process dies
anyway is processed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from inbox.roles import Role

if TYPE_CHECKING:  # a child process serves no HTTP: aiohttp stays out of it
    from inbox.ingest.background import IngestRunner
    from inbox.web import HttpEndpoint

log = logging.getLogger(__name__)
JOIN_SECONDS = 60


class Listener(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Poller(Protocol):
    name: str

    def run(self, stop: threading.Event) -> None: ...


class Scheduler(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class Children(Protocol):
    """The roles this process runs in other processes (`inbox.processes`)."""

    groups: list[frozenset[Role]]  # one set of roles per child process

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Service:
    def __init__(
        self,
        *,
        listener: Listener | None,
        pollers: Sequence[Poller],
        runner: IngestRunner | None,
        http: HttpEndpoint | None,
        scheduler: Scheduler | None = None,
        signals: Sequence[Poller] = (),
        children: Children | None = None,
        on_ready: Callable[[], None] | None = None,
        listeners: Callable[[], str] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.signals = list(signals)  # what wakes the scheduler from outside (PostgreSQL's LISTEN)
        self.listener = listener
        self.pollers = list(pollers)
        self.runner = runner
        self.http = http
        self.children = children
        self.on_ready = on_ready  # told once every part runs (a child tells its parent)
        # Where this process can be reached, read once every part listens (a port may be 0 in the config).
        self.listeners = listeners
        self.listening = False
        self._poller_stop = threading.Event()
        self._threads: list[threading.Thread] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down cleanly."""
        if self.children is not None:
            # First, and waited for: the listener takes no mail before ingest and send are running.
            await asyncio.to_thread(self.children.start)
        runners = [threading.Thread(target=self.runner.run, name="ingest", daemon=True)] if self.runner else []
        for thread in runners:
            thread.start()
        pollers = [
            threading.Thread(target=p.run, args=(self._poller_stop,), name=f"imap:{p.name}", daemon=True)
            for p in self.pollers
        ] + [threading.Thread(target=s.run, args=(self._poller_stop,), name=s.name, daemon=True) for s in self.signals]
        for thread in pollers:
            thread.start()
        if self.scheduler is not None:
            self.scheduler.start()
        try:
            if self.http is not None:
                await self.http.start()
            if self.listener is not None:
                await self.listener.start()
                self.listening = True
            # INFO, as `serve` shows by default: the line that tells an operator where everything is.
            where = self.listeners() if self.listeners is not None else ""
            log.info("inbox serve: ready%s", f": {where}" if where else "")
            if self.on_ready is not None:
                self.on_ready()
            await stop.wait()
            log.info("inbox serve: stopping")
        finally:
            if self.listener is not None and self.listening:
                await self.listener.stop()
                self.listening = False
            self._poller_stop.set()
            await asyncio.to_thread(_join, pollers)
            if self.runner is not None:
                self.runner.stop()
            await asyncio.to_thread(_join, runners)
            if self.children is not None:
                await asyncio.to_thread(self.children.stop)
            if self.scheduler is not None:
                await asyncio.to_thread(self.scheduler.stop)
            if self.http is not None:
                await self.http.stop()
            log.info("inbox serve: stopped")


def _join(threads: Sequence[threading.Thread]) -> None:
    for thread in threads:
        thread.join(JOIN_SECONDS)
        if thread.is_alive():
            log.error("%s did not stop within %d s", thread.name, JOIN_SECONDS)
