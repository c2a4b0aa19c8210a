"""The operations endpoint and the ingest runner inside `inbox serve`."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from inbox.ingest.background import IngestRunner, outcome_counter, source_label
from inbox.metrics import Metrics
from inbox.store import tickets as store
from inbox.web import HttpEndpoint
from tests.fakes import mail, make_app, make_settings


async def _get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


async def test_healthz_and_metrics() -> None:
    """/healthz is 200 when healthy and 503 when not; /metrics serves the Prometheus text; others 404."""
    healthy = {"value": True}

    async def health():
        return healthy["value"], {"database": "ok" if healthy["value"] else "down"}

    metrics = Metrics()
    metrics.inc("inbox_messages_accepted_total", 3, source="smtp")

    async def render() -> str:
        return metrics.render()

    endpoint = HttpEndpoint("127.0.0.1", 0, health, render)
    await endpoint.start()
    try:
        assert await _get(endpoint.port, "/healthz") == (200, '{"ok": true, "database": "ok"}')
        healthy["value"] = False
        status, body = await _get(endpoint.port, "/healthz")
        assert status == 503 and '"database": "down"' in body
        status, body = await _get(endpoint.port, "/metrics")
        assert status == 200 and 'inbox_messages_accepted_total{source="smtp"} 3' in body
        assert (await _get(endpoint.port, "/nope"))[0] == 404
    finally:
        await endpoint.stop()


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


def test_runner_processes_when_woken_and_drains_on_stop(app) -> None:
    """Mail stored and a wake makes tickets; mail stored just before stop is processed by the last drain."""
    metrics = Metrics()
    runner = IngestRunner(app.worker(on_result=outcome_counter(metrics)), idle_seconds=3600)  # only a wake or stop moves it
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert runner.idle.wait(10)
        app.rawstore.put(mail(), "test")
        runner.idle.clear()
        runner.wake()
        assert runner.idle.wait(10)
        app.rawstore.put(mail(message_id="<m2@acme.com>", subject="second"), "test")
    finally:
        runner.stop()
        thread.join(30)
    assert not thread.is_alive()
    with app.sessions() as session:
        assert store.count_tickets(session) == 2
    assert metrics.value("inbox_messages_processed_total", outcome="opened", source="test") == 2


def test_source_labels_stay_bounded() -> None:
    """Metrics label a file by its kind, never its path; SMTP and each mailbox keep their names."""
    assert [source_label(s) for s in ("smtp", "imap:main", "file:/tmp/a.eml", "mbox:/x/y#3", "maildir:/m/new/1")] == [
        "smtp", "imap:main", "file", "mbox", "maildir"]
