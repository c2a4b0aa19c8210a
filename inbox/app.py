"""The composition root: the only place that builds concrete parts and wires them together.

`build_app` makes the engines, sessions and raw store from the settings; `App` hands out the
worker, the outbound side, template checks and previews, and builds `inbox serve` (the
listener, IMAP pollers, ingest runner, scheduler and /healthz /metrics endpoint). It makes the
two values every part shares: the `Claimant` this process claims work as, and the `CurrentDesk`
that parts read the desk from and a config reload sets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from inbox.claimant import Claimant
from inbox.clock import Clock
from inbox.domain.ticket import Outcome
from inbox.ingest.authenticate import DnsLookup
from inbox.ingest.parser_pool import InProcessParser, PoolParser
from inbox.ingest.drain import IngestWorker
from inbox.rawstore import RawStore
from inbox.reload import ConfigReload
from inbox.settings import ConfigError, Settings, read_secret
from inbox.store import outbox, rawqueue, service_state
from inbox.store.db import make_engine, make_sessionmaker
from inbox.tickets import Contracts, CurrentDesk, Desk

if TYPE_CHECKING:
    from autoresponder import Outbound
    from autoresponder.preview import Preview
    from autoresponder.render import Renderer
    from autoresponder.samples import TemplateWatch
    from autoresponder.schedule import JobScheduler
    from autoresponder.transport import MailTransport
    from inbox.metrics import Metrics
    from inbox.service import Service
    from inbox.web import HttpEndpoint
    from inbox.web.admin import AdminPages

SECRET_KEY = "message_id_secret"
HEALTH_TIMEOUT = 5.0
RECENT_TICKETS = 50  # the preview page's ticket chooser
MIN_TOKEN = 16  # an admin token guessable in an afternoon protects nothing
MAX_PARSERS = 8  # a cap: a 64-core host need not start 63 parsers for one listener
log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings  # as loaded at start; after a config reload, the desk's are the ones in effect
    clock: Clock
    durable_engine: Engine  # raw-message commits: synchronous=FULL on SQLite
    engine: Engine  # everything that can be redone from a durable row
    sessions: sessionmaker[Session]
    rawstore: RawStore
    dns: DnsLookup | None = None  # DKIM key lookups; None: the system resolver (tests bring their own)
    claimant: Claimant = field(default_factory=Claimant.of_this_process)
    _current: CurrentDesk | None = field(default=None, repr=False)
    _renderer: Renderer | None = field(default=None, repr=False)

    def current_desk(self) -> CurrentDesk:
        """Where every part reads the desk in effect, made at first use; a config reload sets it.
        One per process: one Contracts, whose calendars cache their holidays."""
        if self._current is None:
            self._current = CurrentDesk(Desk(self.settings, Contracts(self.settings), self.secret()))
        return self._current

    def desk(self) -> Desk:
        """The config, its contracts and the secret in effect: what changing tickets and telling people need."""
        return self.current_desk().get()

    def renderer(self) -> Renderer:
        """The one template renderer of this process: it remembers each file's last good version."""
        from autoresponder.render import Renderer

        if self._renderer is None:
            self._renderer = Renderer(self.settings.templates.dir)
        return self._renderer

    def template_watch(self) -> TemplateWatch:
        """Checks the templates again whenever one changes (the scheduler runs it before each turn)."""
        from autoresponder.samples import TemplateWatch

        return TemplateWatch(self.renderer(), self.settings.severities)

    def outbound(self, transport: MailTransport | None = None) -> Outbound:
        """The SLA sweep and the outbox sender, sending through `transport` (default: the configured one)."""
        from autoresponder import Outbound
        from autoresponder.dispatch import Dispatcher

        current, claimant = self.current_desk(), self.claimant
        dispatcher = Dispatcher(self.sessions, current, self.renderer(), transport or self.transport(),
                                owner=claimant.owner)
        with self.sessions() as session, session.begin():
            taken = outbox.release_orphans(session, claimant.host, claimant.is_dead)
        if taken:
            log.warning("took back %d emails a process that died was sending; each goes again", taken)
        return Outbound(self.sessions, current, dispatcher)

    def transport(self) -> MailTransport:
        from autoresponder.transport import MaildirTransport, SmtpTransport

        out = self.settings.outbound
        if out.transport == "maildir":
            return MaildirTransport(out.maildir)
        password = read_secret(out.password_env) if out.password_env else None
        return SmtpTransport(out.host, out.port, starttls=out.starttls, username=out.username, password=password)

    def check_templates(self) -> list[str]:
        """Every template rendered against sample tickets of every severity and status: one line per problem."""
        from autoresponder.samples import check

        return check(self.settings.templates.dir, self.settings.severities)

    def preview(self, kind: str, tracking: str | None = None, customer: str | None = None) -> Preview:
        """The email `kind` would send, for a ticket or for sample data, with `customer`'s overrides;
        LookupError if the kind, ticket or customer is unknown, TemplateError if it does not render."""
        from autoresponder.preview import preview

        return preview(self.sessions, self.desk(), self.renderer(), kind, self.clock.now(),
                       tracking=tracking, customer=customer)

    def secret(self) -> str:
        """The key that signs our Message-IDs: from the environment, else generated once and kept."""
        env = self.settings.service.secret_env
        if env:
            value = read_secret(env)
            if not value:
                raise ConfigError([f"{self.settings.source_path}: service.secret_env: environment variable {env} is not set"])
            return value
        with self.sessions() as session, session.begin():
            return service_state.get_or_create(session, SECRET_KEY, lambda: secrets.token_hex(32))

    def worker(
        self,
        clock: Clock | None = None,
        batch_size: int = 100,
        parse_processes: int = 0,
        on_result: Callable[[str, Outcome], None] | None = None,
        on_committed: Callable[[Sequence[tuple[int, Outcome]]], None] | None = None,
    ) -> IngestWorker:
        """An ingest worker; with `parse_processes`, parsing runs in that many worker processes."""
        parser = PoolParser(parse_processes) if parse_processes > 0 else InProcessParser()
        worker = IngestWorker(self.sessions, self.current_desk(), clock or self.clock, self.claimant,
                              batch_size=batch_size, parser=parser, on_result=on_result, dns=self.dns,
                              on_committed=on_committed)
        worker.recover()
        return worker

    def serve(self) -> int:
        """Run `inbox serve` until SIGTERM or SIGINT; 0 after a clean stop."""
        # The listener and pollers load only when serving.
        from inbox.receive.smtp import ListenerError

        service, reload = _build_service(self)

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

    def close(self) -> None:
        self.durable_engine.dispose()
        self.engine.dispose()


def database_url(settings: Settings) -> str:
    """The database to use: the URL in the environment variable `database.url_env` names, else `database.url`."""
    env = settings.database.url_env
    if env is None:
        return settings.database.url
    url = read_secret(env)
    if not url:
        raise ConfigError([f"{settings.source_path}: database.url_env: environment variable {env} is not set"])
    if not url.startswith(("sqlite://", "postgresql://", "postgresql+")):
        raise ConfigError([f"{settings.source_path}: database.url_env: {env} does not hold a sqlite:// or "
                           "postgresql:// URL"])
    return url


def parser_processes(cores: int | None) -> int:
    """Parser processes for `inbox serve`: one per core but one, which stores and sends; none on one
    core, where another process would only fight the service for the CPU."""
    return max(0, min(MAX_PARSERS, (cores or 1) - 1))


def build_app(settings: Settings, clock: Clock) -> App:
    url = database_url(settings)
    durable = make_engine(url, durable=True)
    relaxed = make_engine(url, durable=False) if durable.dialect.name == "sqlite" else durable
    return App(
        settings=settings,
        clock=clock,
        durable_engine=durable,
        engine=relaxed,
        sessions=make_sessionmaker(relaxed),
        rawstore=RawStore(make_sessionmaker(durable), clock),
    )


def _build_service(app: App, transport: MailTransport | None = None) -> tuple[Service, Callable[[], object]]:
    """`inbox serve`: the listener, one poller per mailbox, the ingest runner, the scheduler and the
    operations endpoint, wired to one raw store and one metrics registry; and the SIGHUP reload
    that sets the current desk they all read. Each committed ingest batch wakes the scheduler, so
    an acknowledgement leaves without waiting for the tick. Sends through `transport` (default:
    the configured one). Builds, never runs."""
    # Loaded only when serving: the CLI's other commands need none of the network parts.
    from autoresponder.schedule import JobScheduler
    from inbox.ingest.background import IngestRunner, outcome_counter
    from inbox.metrics import Metrics
    from inbox.receive.imap import ImapPoller
    from inbox.receive.mailbox import ImapMailboxClient
    from inbox.receive.smtp import SmtpListener
    from inbox.service import Service
    from inbox.store.outbox_signal import OutboxListener

    settings, metrics = app.settings, Metrics()
    processes = parser_processes(os.cpu_count())
    # Made before the worker, whose start (taking back a dead process's mail) may already wake it.
    scheduler = JobScheduler(_turn(app, transport), settings.outbound.interval_seconds)
    worker = app.worker(parse_processes=processes, on_result=outcome_counter(metrics),
                        on_committed=_wake_on_news(scheduler.wake))
    runner = IngestRunner(worker)
    listener = SmtpListener(
        settings.smtp,
        accepts=lambda address: app.desk().settings.is_support_address(address),  # follows a reload
        store=app.rawstore,
        metrics=metrics,
        on_stored=runner.wake,
        clock=app.clock,
    )
    pollers = [
        ImapPoller(
            mailbox,
            client_factory=lambda m=mailbox: ImapMailboxClient(m),
            store=app.rawstore,
            sessions=app.sessions,
            metrics=metrics,
            on_stored=runner.wake,
            clock=app.clock,
            claimant=app.claimant,
        )
        for mailbox in settings.imap
    ]
    # On PostgreSQL, what another instance (or an `inbox` command) queues wakes this one's sender too.
    signals = [OutboxListener(app.engine, scheduler.wake)] if app.engine.dialect.name == "postgresql" else []
    service = Service(listener=listener, pollers=pollers, runner=runner, http=None, scheduler=scheduler,
                      signals=signals)
    service.http = _operations(app, metrics, service, scheduler)
    path = settings.source_path
    reload = ConfigReload(path, app.current_desk()) if path else None
    return service, (reload or (lambda: None))


def _wake_on_news(wake: Callable[[], None]) -> Callable[[Sequence[tuple[int, Outcome]]], None]:
    """What the ingest worker calls after each committed batch: wake the sender when a message of
    it may have queued an email (a duplicate or a failure changed nothing)."""
    quiet = {Outcome.DUPLICATE, Outcome.FAILED}

    def committed(results: Sequence[tuple[int, Outcome]]) -> None:
        if any(outcome not in quiet for _, outcome in results):
            wake()

    return committed


def _turn(app: App, transport: MailTransport | None = None) -> Callable[[], None]:
    """The scheduler's turn: check edited templates, then the SLA sweep and the outbox."""
    outbound, watch = app.outbound(transport), app.template_watch()

    def turn() -> None:
        try:
            watch.scan()  # an edited template is checked (and refused or adopted) before an email needs it
        except Exception:  # noqa: BLE001 - an unreadable template folder must not stop the emails
            log.exception("checking the templates failed; sending with the versions known")
        outbound.run_once(app.clock.now())

    return turn


def _operations(app: App, metrics: Metrics, service: Service, scheduler: JobScheduler) -> HttpEndpoint:
    """/healthz, /metrics and the admin pages, reading the running parts."""
    from inbox.web import HttpEndpoint

    metrics.describe("inbox_outbox_depth", "Outgoing emails not yet sent, by state.")
    metrics.describe("inbox_scheduler_turns", "Turns of the SLA sweep and outbox sender since start.")
    metrics.describe("inbox_scheduler_failures", "Turns that failed (logged; the next turn retries).")
    pollers = service.pollers

    async def health() -> tuple[bool, dict[str, Any]]:
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping, app), HEALTH_TIMEOUT)
            database = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            database = f"down: {type(exc).__name__}"
        imap = {
            p.name: _iso(metrics.value("inbox_imap_last_success_timestamp", mailbox=p.name)) for p in pollers
        }
        ok = database == "ok" and service.listening
        # A refused template does not make the service unhealthy (its last good version is used, or
        # the emails wait): it is shown here for the admin, and /healthz stays 200.
        refused = [r.as_dict() for r in app.renderer().problems()]
        return ok, {"database": database, "smtp": "up" if service.listening else "down", "imap_last_success": imap,
                    "templates": {"ok": not refused, "problems": refused}}

    async def render() -> str:
        try:
            depth = await asyncio.wait_for(asyncio.to_thread(_depth, app), HEALTH_TIMEOUT)
        except Exception:  # noqa: BLE001 - the page still shows the counters
            depth = {}
        for state in (rawqueue.RECEIVED, rawqueue.PROCESSING, rawqueue.FAILED, rawqueue.QUARANTINED):
            metrics.set("inbox_queue_depth", depth.get(state, 0), state=state)
        for state in (outbox.PENDING, outbox.SENDING, outbox.RETRY, outbox.DEAD, outbox.SKIPPED):
            metrics.set("inbox_outbox_depth", depth.get(f"outbox:{state}", 0), state=state)
        metrics.set("inbox_scheduler_turns", scheduler.turns)
        metrics.set("inbox_scheduler_failures", scheduler.failures)
        return metrics.render()

    http = app.settings.http
    return HttpEndpoint(http.host, http.port, health, render, admin=_admin_pages(app))


def _admin_pages(app: App) -> AdminPages | None:
    """The template preview pages, on when the config names an admin token that is set."""
    env = app.settings.http.admin_token_env
    token = read_secret(env) if env else None
    if not token:
        return None
    if len(token) < MIN_TOKEN:
        log.warning("the preview pages are off: %s holds %d characters, fewer than %d", env, len(token), MIN_TOKEN)
        return None
    from autoresponder.render import KINDS, TemplateError
    from inbox.store.tickets import recent_tickets
    from inbox.web.admin import AdminPages

    def tickets() -> list[tuple[str, str]]:
        with app.sessions() as session:
            return recent_tickets(session, RECENT_TICKETS)

    return AdminPages(
        token=token,
        kinds=list(KINDS),
        preview=app.preview,
        template_error=TemplateError,
        tickets=tickets,
        customers=[(c.id, c.name) for c in app.settings.customers],
        problems=lambda: [r.as_dict() for r in app.renderer().problems()],
    )


def _ping(app: App) -> None:
    with app.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _depth(app: App) -> dict[str, int]:
    with app.sessions() as session:
        return {**rawqueue.depth(session), **{f"outbox:{k}": v for k, v in outbox.depth(session).items()}}


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat() if timestamp else None
