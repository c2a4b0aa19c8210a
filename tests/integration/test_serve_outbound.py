"""`inbox serve` end to end: a mail in over SMTP, its acknowledgement out to a real SMTP relay.

The service runs as a subprocess on the system clock with its scheduled jobs; the relay is an
aiosmtpd sink on loopback. Waiting polls for the ack to arrive; no deadline is slept through.
"""

from __future__ import annotations

import smtplib
import threading
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from tests.durability.serve import ROOT, ServeProcess, free_port
from tests.fakes import mail, write_config


class Sink:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 OK"


@dataclass
class Setup:
    config: Path
    smtp_port: int
    http_port: int
    sink: Sink
    relay: Controller


def serve_through_a_relay(tmp_path: Path, db_url: str, templates: Path = ROOT / "templates") -> Setup:
    """A config for `inbox serve` on free loopback ports, sending through a started aiosmtpd sink."""
    sink, relay_port = Sink(), free_port()
    relay = Controller(sink, hostname="127.0.0.1", port=relay_port, ready_timeout=10)
    relay.start()
    smtp_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {http_port}}}
        templates: {{dir: "{templates}"}}
        """)
    text = config.read_text()
    start = text.index("outbound:")
    end = text.index("\n", start)
    config.write_text(text[:start] + "outbound: {transport: smtp, host: 127.0.0.1, port: " + str(relay_port)
                      + ", from_address: \"Example Support <support@example.com>\"}" + text[end:])
    return Setup(config, smtp_port, http_port, sink, relay)


def test_serve_acknowledges_a_new_mail_through_the_relay(db_url: str, tmp_path: Path) -> None:
    """A mail accepted by the listener is acknowledged through the configured SMTP relay, once."""
    setup = serve_through_a_relay(tmp_path, db_url)
    config, smtp_port, http_port, sink, relay = (setup.config, setup.smtp_port, setup.http_port, setup.sink,
                                                 setup.relay)
    server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.sendmail("alice@acme.com", ["support@example.com"], mail())
        assert server.wait_until(lambda: len(sink.received) >= 1, 60), (tmp_path / "serve.log").read_text()[-2000:]
        def page() -> str:
            return urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10).read().decode()

        # The relay has the email a moment before the turn that sent it reports.
        assert server.wait_until(lambda: "inbox_emails_sent_total{kind=" in page(), 30), page()
        families = {f.name: f for f in text_string_to_metric_families(page())}
        assert all(f.documentation for f in families.values())
        assert families["inbox_scheduler_failures"].type == "counter"
        assert [(s.labels, s.value) for s in families["inbox_emails_sent"].samples] == [({"kind": "acknowledgement"}, 1)]
        assert families["inbox_ingest_latency_seconds"].type == "histogram"
        assert {s.labels["state"]: s.value for s in families["inbox_outbox_depth"].samples}["pending"] == 0
        assert server.terminate() == 0
    finally:
        server.kill()
        relay.stop()
    [(mail_from, rcpt_tos, data)] = sink.received
    ack = message_from_bytes(data, policy=default)
    assert (mail_from, rcpt_tos) == ("support@example.com", ["alice@acme.com"])
    assert "[SUP-000001]" in ack["Subject"] and ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<m1@acme.com>"
