"""Wires `inbox serve`'s parts for the roles one process runs: the listener and pollers
(receive), the ingest runner (ingest), the scheduler (send), and, in the process the operator
started, the /healthz /metrics /admin endpoint. Builds, never runs (`inbox.service` runs).

A role this process does not run is reached through `Elsewhere`: plain callables that wake it or
report to the process that shows /metrics, whether that is a pipe to a child (`inbox.processes`)
or nothing at all (another instance on PostgreSQL, woken by LISTEN/NOTIFY or its own tick).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlalchemy import text

from inbox.admin_wiring import admin_off, admin_pages
from inbox.app import App, parser_processes
from inbox.domain.ticket import Outcome
from inbox.reload import ConfigReload
from inbox.roles import ALL_ROLES, Role, ordered
from inbox.store import outbox, rawqueue

if TYPE_CHECKING:
    from autoresponder.relay_login import RelayLogin
    from autoresponder.transport import MailTransport
    from inbox.metrics import Metrics
    from inbox.service import Children, Service
    from inbox.web import HttpEndpoint

HEALTH_TIMEOUT = 5.0
SENT_PREFIX = "sent:"  # a turn's count of the emails of one kind the relay accepted
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
    # Each scheduler turn (True: it failed), the templates refused after it and what it did
    # ({"sent:<kind>": n, "dead": n, "skipped": n}), for /metrics and /healthz.
    turned: Callable[[bool, list[dict[str, Any]], dict[str, int]], None] | None = None
    # Seconds from a message's commit to the raw store to its ticket's, for /metrics.
    ingested: Callable[[Outcome, float], None] | None = None
    quarantined: Callable[[str], None] | None = None  # each message quarantined, by its source
    acknowledged: Callable[[float], None] | None = None  # seconds from a ticket's 250 to its acknowledgement sent
    # Each login to the outbound relay: None when it worked, else why not, for /healthz.
    relay_login: Callable[[str | None], None] | None = None


class TurnReport:
    """What /metrics and /healthz learn of the scheduler, wherever it runs: each turn (and whether
    it failed), the emails it sent by kind, gave up on or skipped, and the templates refused after
    it. A newly refused template is counted and logged; one no longer refused is logged as recovered."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()
        self.refused: list[dict[str, Any]] = []

    def count(self, failed: bool, refused: list[dict[str, Any]], done: dict[str, int]) -> None:
        metrics = self._metrics
        metrics.inc("inbox_scheduler_turns_total")
        if failed:
            metrics.inc("inbox_scheduler_failures_total")
        for key, n in done.items():
            if key.startswith(SENT_PREFIX):
                metrics.inc("inbox_emails_sent_total", n, kind=key.removeprefix(SENT_PREFIX))
        metrics.inc("inbox_emails_dead_total", done.get(outbox.DEAD, 0))
        metrics.inc("inbox_emails_suppressed_total", done.get(outbox.SKIPPED, 0))
        with self._lock:
            before, self.refused = {_refusal(r) for r in self.refused}, list(refused)
        now = {_refusal(r) for r in refused}
        for name in sorted(now - before):
            metrics.inc("inbox_template_refusals_total")
            log.warning("template %s refused; its last good version is used", name)
        for name in sorted(before - now):
            log.warning("template %s recovered: no longer refused", name)  # closes the refusal warning


def _refusal(problem: dict[str, Any]) -> str:
    return str(problem.get("file"))


def build_service(app: App, transport: MailTransport | None = None, *, roles: frozenset[Role] = ALL_ROLES,
                  elsewhere: Elsewhere = Elsewhere(), http: bool = True, children: Children | None = None,
                  parse_processes: int | None = None,
                  metrics: Metrics | None = None, refused: Callable[[], list[dict[str, Any]]] | None = None,
                  relay: RelayLogin | None = None) -> tuple[Service, Callable[[], object]]:
    """The parts of `roles`, wired to one raw store and one metrics registry, and the SIGHUP
    reload that sets the current desk they all read. Each committed ingest batch wakes the sender
    (here or elsewhere), so an acknowledgement leaves without waiting for the tick. Sends through
    `transport` (default: the configured one). `children` runs the other roles' processes;
    `refused` is where /healthz reads the sending child's refused templates; `metrics` is the
    registry /metrics shows (the parent's counts what its children report); `relay` is where
    /healthz reads the relay's login, which the sender here (or a child) reports to."""
    # Loaded only when serving: the CLI's other commands need none of the network parts.
    from autoresponder.relay_login import RelayLogin
    from autoresponder.schedule import JobScheduler
    from inbox.ingest.background import (
        IngestRunner,
        acknowledgement_recorder,
        latency_recorder,
        outcome_counter,
        quarantine_counter,
    )
    from inbox.service import Service
    from inbox.store.outbox_signal import RAW_CHANNEL, OutboxListener

    settings, relay = app.settings, relay or RelayLogin(app.clock)

    @functools.cache
    def registry() -> Metrics:
        # Made at first need: a child process hands every count to its parent (`elsewhere`), needs
        # no registry of its own and so never loads prometheus-client (about 2 MB resident).
        from inbox.metrics import Metrics

        return metrics or Metrics()

    app.check_secrets()
    scheduler = runner = None
    if Role.SEND in roles:
        # Made before the worker, whose start (taking back a dead process's mail) may already wake it.
        turned = elsewhere.turned or TurnReport(registry()).count
        acknowledged = elsewhere.acknowledged or acknowledgement_recorder(registry())
        logins = elsewhere.relay_login or relay.heard
        scheduler = JobScheduler(_turn(app, transport, turned, acknowledged, logins), settings.outbound.interval_seconds)
    wake_send = scheduler.wake if scheduler is not None else elsewhere.wake_send
    if Role.INGEST in roles:
        processes = parser_processes(os.cpu_count()) if parse_processes is None else parse_processes
        worker = app.worker(parse_processes=processes, on_result=elsewhere.processed or outcome_counter(registry()),
                            on_committed=_wake_on_news(wake_send),
                            on_latency=elsewhere.ingested or latency_recorder(registry()),
                            on_quarantined=elsewhere.quarantined or quarantine_counter(registry()))
        runner = IngestRunner(worker)
    wake_ingest = runner.wake if runner is not None else elsewhere.wake_ingest
    listener, pollers = _front_doors(app, registry(), wake_ingest) if Role.RECEIVE in roles else (None, [])
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
        service.http = _operations(app, registry(), service,
                                   refused or (lambda: [r.as_dict() for r in app.renderer().problems()]),
                                   lambda: relay.failing)
    service.listeners = lambda: listeners(app, service, roles, children)
    path = settings.source_path
    reload = ConfigReload(path, app.current_desk()) if path else None
    return service, _and_retry(reload, pollers)


def _and_retry(reload: ConfigReload | None, pollers: Sequence[Any]) -> Callable[[], object]:
    """SIGHUP: reload the config, and have every poller that is backing off try again at once
    (an operator who has just put a new refresh token in place wants to see it work now)."""

    def on_hangup() -> object:
        done = reload() if reload is not None else None
        for poller in pollers:
            poller.retry_now()
        return done

    return on_hangup


def _front_doors(app: App, metrics: Metrics, wake_ingest: Callable[[], None]) -> tuple[Any, list[Any]]:
    """The SMTP listener and one IMAP poller per mailbox: each stores, then wakes ingest."""
    from inbox.receive.smtp import SmtpListener

    listener = SmtpListener(
        app.settings.smtp,
        accepts=lambda address: app.desk().settings.is_support_address(address),  # follows a reload
        store=app.rawstore,
        metrics=metrics,
        on_stored=wake_ingest,
        clock=app.clock,
        hostname=app.settings.service.hostname,  # None: the machine's fully qualified name
    )
    if not app.settings.imap:  # the pollers are made once, at start: without a mailbox no IMAP client loads
        return listener, []
    from inbox.receive.imap import ImapPoller
    from inbox.receive.mailbox import ImapMailboxClient
    from inbox.settings import ImapMailbox

    def connect(mailbox: ImapMailbox) -> Callable[[], ImapMailboxClient]:
        tokens = None
        if mailbox.auth is not None:  # one source per mailbox: its token lives across rounds
            tokens = app.token_source(mailbox.auth, login=mailbox.username, label=f"mailbox {mailbox.name}")
        return lambda: ImapMailboxClient(mailbox, tokens=tokens)

    pollers = [
        ImapPoller(
            mailbox,
            client_factory=connect(mailbox),
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


def _turn(app: App, transport: MailTransport | None,
          turned: Callable[[bool, list[dict[str, Any]], dict[str, int]], None],
          acknowledged: Callable[[float], None], on_login: Callable[[str | None], None]) -> Callable[[], None]:
    """The scheduler's turn: check edited templates, then the SLA sweep and the outbox; `turned`
    hears how each went, `on_login` each login to the relay (a child's scheduler reports to the
    process that shows /metrics and /healthz)."""
    kinds: Counter[str] = Counter()
    outbound = app.outbound(transport, sent_kind=lambda kind: kinds.update([SENT_PREFIX + kind]),
                            acknowledged=_since_stored(acknowledged), on_login=on_login)
    watch = app.template_watch()

    def turn() -> None:
        kinds.clear()
        try:
            watch.scan()  # an edited template is checked (and refused or adopted) before an email needs it
        except Exception:  # noqa: BLE001 - an unreadable template folder must not stop the emails
            log.exception("checking the templates failed; sending with the versions known")
        try:
            done = outbound.run_once(app.clock.now())
        except Exception:
            report(True, {})
            raise
        report(False, {key: done[key] for key in (outbox.DEAD, outbox.SKIPPED) if done[key]})

    def report(failed: bool, done: dict[str, int]) -> None:
        turned(failed, [r.as_dict() for r in app.renderer().problems()], {**done, **kinds})

    return turn


def _since_stored(record: Callable[[float], None]) -> Callable[[datetime, datetime], None]:
    """What the sender calls for each acknowledgement sent: `record` hears the seconds since the mail
    that opened its ticket was stored (the listener's 250, the poller's fetch). The acknowledgement's
    outbox row carries that instant: no read of the database for each email (on SQLite every
    transaction takes the one write lock, and a second one per email left the sender behind a storm)."""

    def timed(stored: datetime, sent: datetime) -> None:
        record(max(0.0, (sent - stored).total_seconds()))

    return timed


def _operations(app: App, metrics: Metrics, service: Service,
                refused_now: Callable[[], list[dict[str, Any]]],
                relay_failing: Callable[[], dict[str, str] | None]) -> HttpEndpoint:
    """/healthz, /metrics and the admin pages, reading the running parts."""
    from inbox.web import HttpEndpoint

    pollers = service.pollers
    metrics.read_at_scrape(lambda: _queues(app))

    async def health() -> tuple[bool, dict[str, Any]]:
        try:
            await asyncio.wait_for(asyncio.to_thread(_ping, app), HEALTH_TIMEOUT)
            database = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            database = f"down: {type(exc).__name__}"
        imap = {
            p.name: _iso(metrics.value("inbox_imap_last_success_timestamp", mailbox=p.name)) for p in pollers
        }
        # A mailbox whose rounds fail (a revoked token, a server down) fails the check: mail
        # waits there unseen, and a team should hear of it before its customers do.
        failing = {p.name: {"reason": f.reason, "since": f.since.isoformat()} for p in pollers
                   if (f := p.failing) is not None}
        # A relay that takes no login keeps every email waiting (they retry, none is lost): the
        # same signal, before the customers notice the silence.
        outbound = relay_failing()
        receiving = service.listener is None or service.listening
        ok = database == "ok" and receiving and not failing and outbound is None
        # A refused template does not make the service unhealthy (its last good version is used, or
        # the emails wait): /healthz stays 200 and says "degraded", with the reason, for the admin.
        refused = refused_now()
        smtp = "off" if service.listener is None else "up" if service.listening else "down"
        status = "down" if not ok else "degraded" if refused else "ok"
        detail: dict[str, Any] = {"status": status}
        reasons = [f"mailbox {name} failing since {f['since']}: {f['reason']}" for name, f in failing.items()]
        if outbound is not None:
            reasons.append(f"outbound relay failing since {outbound['since']}: {outbound['reason']}")
        reasons += [_reason(r) for r in refused]
        if reasons:
            detail["reason"] = "; ".join(reasons)
        return ok, {**detail, "database": database, "smtp": smtp, "imap_last_success": imap,
                    "imap_failing": failing, "outbound_failing": outbound, "templates": {"ok": not refused, "problems": refused}}

    async def render() -> str:
        # The depth queries run off the loop, in prometheus-client's collect.
        return await asyncio.to_thread(metrics.render)

    http = app.settings.http
    return HttpEndpoint(http.host, http.port, health, render, admin=admin_pages(app, editor=True),
                        signin_failed=lambda: metrics.inc("inbox_signin_failures_total"))


def listeners(app: App, service: Service, roles: frozenset[Role], children: Children | None) -> str:
    """Where this process can be reached and what it runs, for the ready line: the SMTP address,
    the HTTP URL with its /admin page (or why it is off), each IMAP mailbox by name and server
    (never its username or password), and the roles here and in child processes."""
    settings, parts = app.settings, []
    if service.listener is not None:
        parts.append(f"SMTP on {_address(settings.smtp.host, service.listener.port)}")
    if service.http is not None:
        base = f"http://{_address(settings.http.host, getattr(service.http, 'port', settings.http.port))}"
        off = admin_off(app)
        admin = f"admin pages off: {off}" if off else f"admin at {base}/admin"
        parts.append(f"HTTP on {base} (/healthz, /metrics; {admin})")
    if service.pollers:
        boxes = {m.name: m for m in settings.imap}
        parts.append("IMAP " + ", ".join(
            f"{p.name} ({boxes[p.name].host}:{boxes[p.name].port} {boxes[p.name].folder})" if p.name in boxes
            else p.name for p in service.pollers))
    here = [role.value for role in ordered(roles)]
    parts.append("roles here: " + (", ".join(here) or "none"))
    if children is not None:
        parts.append("in child processes: " + ", ".join(
            "+".join(role.value for role in ordered(group)) for group in children.groups))
    return "; ".join(parts)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # an IPv6 address in brackets (RFC 3986)


def _reason(problem: dict[str, Any]) -> str:
    line = f" line {problem['line']}" if problem.get("line") else ""
    return f"template {problem.get('file')}{line} refused: {problem.get('reason')}"


def _queues(app: App) -> list[Any]:
    """Queue and outbox depth by state and the age of the oldest waiting item, read at each scrape."""
    from prometheus_client.core import GaugeMetricFamily

    raw = GaugeMetricFamily("inbox_queue_depth", "Raw messages by state.", labels=["state"])
    out = GaugeMetricFamily("inbox_outbox_depth", "Outgoing emails not yet sent, by state.", labels=["state"])
    age = GaugeMetricFamily("inbox_oldest_waiting_seconds", "Age of the oldest message not yet ingested (queue) "
                                                            "and of the oldest email not yet sent (outbox).",
                            labels=["queue"])
    try:
        with app.sessions() as session:
            depth = {**rawqueue.depth(session), **{f"outbox:{k}": v for k, v in outbox.depth(session).items()}}
            oldest = {"queue": rawqueue.oldest_waiting(session), "outbox": outbox.oldest_waiting(session)}
    except Exception:  # noqa: BLE001 - the page still shows the counters
        log.warning("/metrics could not read the queue depths", exc_info=True)
        return []
    for state in (rawqueue.RECEIVED, rawqueue.PROCESSING, rawqueue.FAILED, rawqueue.QUARANTINED):
        raw.add_metric([state], depth.get(state, 0))
    for state in (outbox.PENDING, outbox.SENDING, outbox.RETRY, outbox.DEAD, outbox.SKIPPED):
        out.add_metric([state], depth.get(f"outbox:{state}", 0))
    now = app.clock.now()
    for name, since in oldest.items():
        age.add_metric([name], max(0.0, (now - since).total_seconds()) if since is not None else 0.0)
    return [raw, out, age]


def _ping(app: App) -> None:
    with app.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat() if timestamp else None
