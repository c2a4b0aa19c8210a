"""`inbox serve` across processes: the started process keeps the listener (and /healthz, /metrics,
/admin) and runs each other role in a child process of its own, so accepting mail, ingesting it
and sending never queue for one interpreter lock.

Protocol, over one pipe per child (small tuples, pickled by `multiprocessing.Connection`):
  to a child     (settings, roles, clock, parser processes)  first, what to run
                 ("wake", role)  look at your queue now
                 ("settings", values, path)  the parent's desk in effect after a SIGHUP reload
                 ("stop",)       finish as on SIGTERM: a last drain, the running turn, then exit
  from a child   ("wake", role)  a role elsewhere has work (ingest queued emails: wake send)
                 ("processed", source, outcome)  one message ingested, for /metrics
                 ("ready",)      every part of the child runs: the parent's listener may take mail
                 ("turned", failed, refused, done)  one scheduler turn, the templates refused and
                                                 what it sent by kind, gave up or skipped, for
                                                 /metrics and /healthz
                 ("ingested", outcome, seconds)  one message's time from raw store to ticket
                 ("quarantined", source)  one message set aside, for /metrics
                 ("acknowledged", seconds)  one acknowledgement's time from the 250 to its send
                 ("relay", reason)  one login to the outbound relay: None (it worked) or why
                                    not, for /healthz
A wake only says "look": the rows are in the database, already committed, so a lost wake costs
at most a tick and never a mail. A child whose pipe reaches its end (the parent died, even by
SIGKILL) stops as on SIGTERM. A child that dies is started again after a back-off; what it had
claimed is taken back by its successor, as after any crash (claims name a dead process).
Children ignore SIGINT: Ctrl-C reaches the whole group, and the parent decides the order of stopping.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from inbox.clock import Clock
from inbox.domain.ticket import Outcome
from inbox.heap import pace_collector
from inbox.roles import ALL_ROLES, ORDER, Role, layout
from inbox.spawning import ignore_sigint, sigint_held

if TYPE_CHECKING:
    from inbox.app import App
    from inbox.service import Service
    from inbox.settings import Settings

log = logging.getLogger(__name__)

JOIN_SECONDS = 60.0  # how long a child may take to stop before it is killed
BACKOFF = (1.0, 60.0)  # a child that keeps dying is started again at most this often
STEADY_SECONDS = 60.0  # a child that lived this long had not been dying in a loop
WATCH_SECONDS = 0.5  # how often the parent looks for a child that died
READY_SECONDS = 60.0  # how long the listener waits for the children to run


def serve(app: App, roles: frozenset[Role] = ALL_ROLES, *, split: bool = True) -> int:
    """Run `inbox serve` for `roles` until SIGTERM or SIGINT; 0 after a clean stop, 1 when it
    cannot start. Split, with the cores for it, every role but receive runs in a child process of
    its own (`inbox.roles.layout`)."""
    # Loaded only when serving: the CLI's other commands need none of the network parts.
    from autoresponder.relay_login import RelayLogin
    from inbox.app import parser_processes
    from inbox.ingest.background import acknowledgement_recorder, latency_recorder, outcome_counter, quarantine_counter
    from inbox.metrics import Metrics
    from inbox.receive.smtp import ListenerError
    from inbox.serving import Elsewhere, TurnReport, build_service

    cores = os.cpu_count() or 1
    here, groups = layout(roles, cores=cores, split=split)
    metrics, children, elsewhere, refused = Metrics(), None, Elsewhere(), None
    relay = RelayLogin(app.clock)  # the sender's logins to the relay, here or in its child, for /healthz
    if groups:
        report = TurnReport(metrics)  # the sending child's turns, counted here where /metrics is read
        children = Children(lambda: app.desk().settings, app.clock, groups, processed=outcome_counter(metrics),
                            turned=report.count, ingested=latency_recorder(metrics),
                            quarantined=quarantine_counter(metrics), acknowledged=acknowledgement_recorder(metrics),
                            relay_login=relay.heard,
                            parse_processes=parser_processes(cores - len(groups)))
        refused = (lambda: report.refused) if Role.SEND not in here else None
        elsewhere = Elsewhere(wake_ingest=partial(children.wake, Role.INGEST),
                              wake_send=partial(children.wake, Role.SEND))
    service, reload_here = build_service(app, roles=here, elsewhere=elsewhere, children=children,
                                         metrics=metrics,
                                         refused=refused, relay=relay)

    def reload() -> None:
        reload_here()
        if children is not None:
            children.reload()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # Reading and checking the file takes a moment: off the loop, so mail keeps flowing.
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, reload))
        await service.run(stop)

    try:
        asyncio.run(main())
    except (OSError, ListenerError) as exc:  # a port taken, a certificate unreadable
        print(f"inbox serve: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


class Link:
    """One end of a child's pipe: `send` from any thread, never raising (a peer that is gone is
    noticed by the reader at the other end); `receive` blocks, None at the pipe's end."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, *message: Any) -> None:
        with self._lock:
            try:
                self._conn.send(message)
            except (OSError, ValueError):
                pass

    def receive(self) -> tuple[Any, ...] | None:
        try:
            return tuple(self._conn.recv())
        except (EOFError, OSError):
            return None

    def close(self) -> None:
        self._conn.close()


@dataclass
class _Child:
    roles: frozenset[Role]
    process: subprocess.Popen[bytes] | None = None
    link: Link | None = None
    started: float = 0.0
    backoff: float = BACKOFF[0]
    restart_at: float | None = None
    ready: threading.Event = field(default_factory=threading.Event)


@dataclass
class Children:
    """The parent's side: starts one process per group of roles, routes wakes and counts between
    them, restarts one that dies, and stops them in the order of the flow (ingest before send)."""

    settings: Callable[[], Settings]  # the parent's desk in effect: what a child starts with
    clock: Clock
    groups: list[frozenset[Role]]
    processed: Callable[[str, Outcome], None]
    turned: Callable[[bool, list[dict[str, Any]], dict[str, int]], None]
    ingested: Callable[[Outcome, float], None]
    quarantined: Callable[[str], None] = lambda source: None
    acknowledged: Callable[[float], None] = lambda seconds: None
    relay_login: Callable[[str | None], None] = lambda reason: None
    parse_processes: int = 0
    _children: list[_Child] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _watch: threading.Thread | None = None

    def wake(self, role: Role) -> None:
        for child in self._children:
            if role in child.roles and child.link is not None:
                child.link.send("wake", role)

    def reload(self) -> None:
        """Hand the parent's desk in effect to every child (after a SIGHUP reload here)."""
        values = _portable(self.settings())
        for child in self._children:
            if child.link is not None:
                child.link.send("settings", *values)

    def start(self) -> None:
        """Start every child and wait until each runs (at most READY_SECONDS: one that cannot start
        is logged and left to the watch, which starts it again)."""
        self._children = [_Child(roles) for roles in self.groups]
        for child in self._children:
            self._launch(child)
        end = time.monotonic() + READY_SECONDS
        for child in self._children:
            if not child.ready.wait(max(0.0, end - time.monotonic())):
                log.error("the %s process is not running after %.0f s", _names(child), READY_SECONDS)
        self._watch = threading.Thread(target=self._watch_loop, name="children", daemon=True)
        self._watch.start()

    def stop(self) -> None:
        """Stop every child, in the order of the flow, each after the one before has finished."""
        self._stopping.set()
        if self._watch is not None:
            self._watch.join(JOIN_SECONDS)
        by_flow = sorted(self._children, key=lambda c: min(ORDER.index(r) for r in c.roles))
        for child in by_flow:
            process, link = child.process, child.link
            if process is None or link is None:
                continue
            link.send("stop")
            try:
                process.wait(JOIN_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("the %s process did not stop within %.0f s; killing it", _names(child), JOIN_SECONDS)
                process.kill()
                process.wait(5)
            link.close()

    def _launch(self, child: _Child) -> None:
        # A plain subprocess, not multiprocessing's spawn: no resource-tracker process beside it, and
        # `ps` names its roles. The pipe's far end is handed down as a file descriptor.
        ours, theirs = multiprocessing.Pipe(duplex=True)
        with sigint_held():  # Ctrl-C is the parent's: the child never sees it, even while it imports
            process = subprocess.Popen([sys.executable, "-m", "inbox.child", _names(child), str(theirs.fileno())],
                                       pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()  # ours alone now: its end of file tells the reader the child is gone
        link = Link(ours)
        link.send(_portable(self.settings()), child.roles, self.clock, self.parse_processes)
        child.process, child.link, child.started, child.restart_at = process, link, time.monotonic(), None
        child.ready = threading.Event()
        threading.Thread(target=self._read, args=(child.link, child.ready), name=f"from-{_names(child)}",
                         daemon=True).start()
        log.info("started the %s process (pid %s)", _names(child), process.pid)

    def _read(self, link: Link, ready: threading.Event) -> None:
        while (message := link.receive()) is not None:
            match message:
                case ("wake", role):
                    self.wake(Role(role))
                case ("processed", source, outcome):
                    self.processed(source, Outcome(outcome))
                case ("ready",):
                    ready.set()
                case ("turned", failed, refused, done):
                    self.turned(bool(failed), list(refused), dict(done))
                case ("ingested", outcome, seconds):
                    self.ingested(Outcome(outcome), float(seconds))
                case ("quarantined", source):
                    self.quarantined(str(source))
                case ("acknowledged", seconds):
                    self.acknowledged(float(seconds))
                case ("relay", reason):
                    self.relay_login(None if reason is None else str(reason))
                case _:
                    log.warning("a child sent what no one asked for: %r", message[:1])

    def _watch_loop(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            now = time.monotonic()
            for child in self._children:
                if self._stopping.is_set():
                    return
                process = child.process
                if process is not None and child.restart_at is None and process.poll() is not None:
                    if now - child.started >= STEADY_SECONDS:
                        child.backoff = BACKOFF[0]
                    log.error("the %s process died (exit %s); starting it again in %.0f s",
                              _names(child), process.returncode, child.backoff)
                    if child.link is not None:
                        child.link.close()
                    child.restart_at = now + child.backoff
                    child.backoff = min(child.backoff * 2, BACKOFF[1])
                elif child.restart_at is not None and now >= child.restart_at:
                    self._launch(child)


def _names(child: _Child) -> str:
    return "+".join(role.value for role in ORDER if role in child.roles)


def _portable(settings: Settings) -> tuple[dict[str, Any], Path | None]:
    """Settings as a child can be given them: their sections (compiled rules do not pickle; the
    child compiles them again from the same sections) and the file they came from."""
    return {name: getattr(settings, name) for name in type(settings).model_fields}, settings.source_path


def run_child(conn: Connection) -> None:
    """A child process's life (`python -m inbox.child`): read its start from the pipe (the parent's
    settings in effect, never the file again: it may have changed since, even to something that
    does not load; its roles, clock and parser processes), serve its roles, stop on SIGTERM, a
    ("stop",) or the pipe's end."""
    ignore_sigint()  # and so do the parser processes it starts
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the parent reloads and hands the result on
    pace_collector()
    settings, roles, clock, parse_processes = conn.recv()
    from inbox import logs
    from inbox.reload import adopt
    from inbox.settings import Settings

    logs.configure(default_level="INFO")
    link = Link(conn)
    app, service = child_service(link, settings, roles, clock, parse_processes)
    service.on_ready = lambda: link.send("ready")

    def adopt_settings(values: dict[str, Any], path: Path | None) -> None:
        if adopt(app.current_desk(), Settings.validated(values, source_path=path)):
            log.info("the %s process took the reloaded config", "+".join(sorted(roles)))

    wakes: dict[Role, Callable[[], None]] = {}
    if service.runner is not None:
        wakes[Role.INGEST] = service.runner.wake
    if service.scheduler is not None:
        wakes[Role.SEND] = service.scheduler.wake

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)

        def listen() -> None:
            while (message := link.receive()) is not None:
                match message:
                    case ("wake", role) if Role(role) in wakes:
                        wakes[Role(role)]()
                    case ("settings", values, path):
                        adopt_settings(values, path)
                    case ("stop",):
                        break
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=listen, name="from-parent", daemon=True).start()
        await service.run(stop)

    try:
        asyncio.run(main())
    finally:
        app.close()
        link.close()


def child_service(link: Link, settings: tuple[dict[str, Any], Path | None], roles: frozenset[Role], clock: Clock,
                  parse_processes: int) -> tuple[App, Service]:
    """A child's app and service for `roles`, from the settings its parent handed down (`_portable`):
    every wake and count goes to the parent over `link`, and nothing here serves HTTP."""
    from inbox.app import build_app
    from inbox.serving import Elsewhere, build_service
    from inbox.settings import Settings

    app = build_app(Settings.validated(*settings), clock)
    elsewhere = Elsewhere(
        wake_ingest=lambda: link.send("wake", Role.INGEST.value),
        wake_send=lambda: link.send("wake", Role.SEND.value),
        processed=lambda source, outcome: link.send("processed", source, outcome.value),
        turned=lambda failed, refused, done: link.send("turned", failed, refused, done),
        ingested=lambda outcome, seconds: link.send("ingested", outcome.value, seconds),
        quarantined=lambda source: link.send("quarantined", source),
        acknowledged=lambda seconds: link.send("acknowledged", seconds),
        relay_login=lambda reason: link.send("relay", reason),
    )
    service, _ = build_service(app, roles=roles, elsewhere=elsewhere, http=False, parse_processes=parse_processes)
    return app, service
