"""Wires `inbox serve`'s parts for the roles one process runs: the listener and pollers
(receive), the ingest runner (ingest), the scheduler (send), and, in the process the operator
started, the /healthz /metrics /admin endpoint. Builds, never runs (`inbox.service` runs).

A role this process does not run is reached through `Elsewhere`: plain callables that wake it or
report to the process that shows /metrics, whether that is a pipe to a child (`inbox.processes`)
or nothing at all (another instance on PostgreSQL, woken by LISTEN/NOTIFY or its own tick).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from sqlalchemy import text

from inbox.app import MIN_TOKEN, App, parser_processes
from inbox.domain.ticket import Outcome
from inbox.reload import ConfigReload
from inbox.roles import ALL_ROLES, Role
from inbox.settings import read_secret
from inbox.store import outbox, rawqueue

if TYPE_CHECKING:
    from autoresponder.transport import MailTransport
    from inbox.metrics import Metrics
    from inbox.service import Children, Service
    from inbox.web import HttpEndpoint
    from inbox.web.admin import AdminPages

HEALTH_TIMEOUT = 5.0
RECENT_TICKETS = 50  # the preview page's ticket chooser
log = logging.getLogger(__name__)


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Elsewhere:
    """How this process reaches the roles it does not run. The defaults suit roles run by other
    instances: no wake (their own LISTEN or tick finds the rows), counts kept where they happen."""

    wake_ingest: Callable[[], None] = _nothing
    wake_send: Callable[[], None] = _nothing
    processed: Callable[[str, Outcome], None] | None = None  # each ingested message, for /metrics
    # Each scheduler turn (True: it failed) and the templates refused after it, for /metrics and /healthz.
    turned: Callable[[bool, list[dict[str, Any]]], None] | None = None


class Turns(Protocol):
    """What /metrics reads of the scheduler, wherever it runs."""

    turns: int
    failures: int


def build_service(app: App, transport: MailTransport | None = None, *, roles: frozenset[Role] = ALL_ROLES,
                  elsewhere: Elsewhere = Elsewhere(), http: bool = True, children: Children | None = None,
                  turns: Turns | None = None, parse_processes: int | None = None,
                  metrics: Metrics | None = None, refused: Callable[[], list[dict[str, Any]]] | None = None,
                  ) -> tuple[Service, Callable[[], object]]:
    """The parts of `roles`, wired to one raw store and one metrics registry, and the SIGHUP
    reload that sets the current desk they all read. Each committed ingest batch wakes the sender
    (here or elsewhere), so an acknowledgement leaves without waiting for the tick. Sends through
    `transport` (default: the configured one). `children` runs the other roles' processes;
    `turns` and `refused` are where /metrics and /healthz read the sending child's turns and
    refused templates; `metrics` is the registry /metrics shows."""
    # Loaded only when serving: the CLI's other commands need none of the network parts.
    from autoresponder.schedule import JobScheduler
    from inbox.ingest.background import IngestRunner, outcome_counter
    from inbox.metrics import Metrics
    from inbox.service import Service
    from inbox.store.outbox_signal import RAW_CHANNEL, OutboxListener

    settings, metrics = app.settings, metrics or Metrics()
    scheduler = runner = None
    if Role.SEND in roles:
        # Made before the worker, whose start (taking back a dead process's mail) may already wake it.
        scheduler = JobScheduler(_turn(app, transport, elsewhere.turned), settings.outbound.interval_seconds)
    wake_send = scheduler.wake if scheduler is not None else elsewhere.wake_send
    if Role.INGEST in roles:
        processes = parser_processes(os.cpu_count()) if parse_processes is None else parse_processes
        worker = app.worker(parse_processes=processes, on_result=elsewhere.processed or outcome_counter(metrics),
                            on_committed=_wake_on_news(wake_send))
        runner = IngestRunner(worker)
    wake_ingest = runner.wake if runner is not None else elsewhere.wake_ingest
    listener, pollers = _front_doors(app, metrics, wake_ingest) if Role.RECEIVE in roles else (None, [])
    # On PostgreSQL, what another instance (or an `inbox` command) queues wakes this one's sender
    # too, and mail another instance's (or process's) listener stored wakes this one's ingest.
    signals = []
    if app.engine.dialect.name == "postgresql":
        if scheduler is not None:
            signals.append(OutboxListener(app.engine, scheduler.wake))
        if runner is not None and Role.RECEIVE not in roles:
            signals.append(OutboxListener(app.engine, runner.wake, channel=RAW_CHANNEL))
    service = Service(listener=listener, pollers=pollers, runner=runner, http=None, scheduler=scheduler,
                      signals=signals, children=children)
    if http:
        service.http = _operations(app, metrics, service, turns or scheduler,
                                   refused or (lambda: [r.as_dict() for r in app.renderer().problems()]))
    path = settings.source_path
    reload = ConfigReload(path, app.current_desk()) if path else None
    return service, (reload or (lambda: None))


def _front_doors(app: App, metrics: Metrics, wake_ingest: Callable[[], None]) -> tuple[Any, list[Any]]:
    """The SMTP listener and one IMAP poller per mailbox: each stores, then wakes ingest."""
    from inbox.receive.imap import ImapPoller
    from inbox.receive.mailbox import ImapMailboxClient
    from inbox.receive.smtp import SmtpListener

    listener = SmtpListener(
        app.settings.smtp,
        accepts=lambda address: app.desk().settings.is_support_address(address),  # follows a reload
        store=app.rawstore,
        metrics=metrics,
        on_stored=wake_ingest,
        clock=app.clock,
    )
    pollers = [
        ImapPoller(
            mailbox,
            client_factory=lambda m=mailbox: ImapMailboxClient(m),
            store=app.rawstore,
            sessions=app.sessions,
            metrics=metrics,
            on_stored=wake_ingest,
            clock=app.clock,
            claimant=app.claimant,
        )
        for mailbox in app.settings.imap
    ]
    return listener, pollers


def _wake_on_news(wake: Callable[[], None]) -> Callable[[Sequence[tuple[int, Outcome]]], None]:
    """What the ingest worker calls after each committed batch: wake the sender when a message of
    it may have queued an email (a duplicate or a failure changed nothing)."""
    quiet = {Outcome.DUPLICATE, Outcome.FAILED}

    def committed(results: Sequence[tuple[int, Outcome]]) -> None:
        if any(outcome not in quiet for _, outcome in results):
            wake()

    return committed


def _turn(app: App, transport: MailTransport | None = None,
          turned: Callable[[bool], None] | None = None) -> Callable[[], None]:
    """The scheduler's turn: check edited templates, then the SLA sweep and the outbox; `turned`
    hears how each went (a child's scheduler reports to the process that shows /metrics)."""
    outbound, watch = app.outbound(transport), app.template_watch()

    def turn() -> None:
        try:
            watch.scan()  # an edited template is checked (and refused or adopted) before an email needs it
        except Exception:  # noqa: BLE001 - an unreadable template folder must not stop the emails
            log.exception("checking the templates failed; sending with the versions known")
        try:
            outbound.run_once(app.clock.now())
        except Exception:
            report(failed=True)
            raise
        report(failed=False)

    def report(failed: bool) -> None:
        if turned is not None:
            turned(failed, [r.as_dict() for r in app.renderer().problems()])

    return turn


def _operations(app: App, metrics: Metrics, service: Service, turns: Turns | None,
                refused_now: Callable[[], list[dict[str, Any]]]) -> HttpEndpoint:
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
        receiving = service.listener is None or service.listening
        ok = database == "ok" and receiving
        # A refused template does not make the service unhealthy (its last good version is used, or
        # the emails wait): it is shown here for the admin, and /healthz stays 200.
        refused = refused_now()
        smtp = "off" if service.listener is None else "up" if service.listening else "down"
        return ok, {"database": database, "smtp": smtp, "imap_last_success": imap,
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
        if turns is not None:
            metrics.set("inbox_scheduler_turns", turns.turns)
            metrics.set("inbox_scheduler_failures", turns.failures)
        return metrics.render()

    http = app.settings.http
    return HttpEndpoint(http.host, http.port, health, render, admin=admin_pages(app))


def admin_pages(app: App) -> AdminPages | None:
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
