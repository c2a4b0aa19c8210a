"""Builds `inbox serve` from the settings: the listener, one poller per mailbox, the
ingest runner and the operations endpoint, wired to one raw store and one metrics
registry. Part of the composition root (only `inbox.app` calls it); builds, never runs.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from inbox.ingest.runner import IngestRunner, outcome_counter
from inbox.ingest.worker import PROCESS_OWNER
from inbox.metrics import Metrics
from inbox.receive.imap import ImapPoller
from inbox.receive.mailbox import ImapMailboxClient
from inbox.receive.smtp import SmtpListener
from inbox.service import Service
from inbox.store import outbox, rawqueue
from inbox.web import HttpEndpoint

HEALTH_TIMEOUT = 5.0

if TYPE_CHECKING:
    from inbox.app import App


def build_service(app: App) -> Service:
    settings, metrics = app.settings, Metrics()
    processes = min(1, (os.cpu_count() or 1) - 1)
    runner = IngestRunner(app.worker(parse_processes=processes, on_result=outcome_counter(metrics)))
    listener = SmtpListener(
        settings.smtp,
        accepts=settings.is_support_address,
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
            owner=PROCESS_OWNER,
        )
        for mailbox in settings.imap
    ]
    from autoresponder.schedule import JobScheduler

    outbound = app.outbound()
    scheduler = JobScheduler(lambda: outbound.run_once(app.clock.now()))
    metrics.describe("inbox_outbox_depth", "Outgoing emails not yet sent, by state.")
    metrics.describe("inbox_scheduler_turns", "Turns of the SLA sweep and outbox sender since start.")
    metrics.describe("inbox_scheduler_failures", "Turns that failed (logged; the next turn retries).")
    service = Service(listener=listener, pollers=pollers, runner=runner, http=None, scheduler=scheduler)

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
        return ok, {"database": database, "smtp": "up" if service.listening else "down", "imap_last_success": imap}

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

    service.http = HttpEndpoint(settings.http.host, settings.http.port, health, render)
    return service


def _ping(app: App) -> None:
    with app.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _depth(app: App) -> dict[str, int]:
    with app.sessions() as session:
        return {**rawqueue.depth(session), **{f"outbox:{k}": v for k, v in outbox.depth(session).items()}}


def _iso(timestamp: float) -> str | None:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat() if timestamp else None
