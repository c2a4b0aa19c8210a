"""/metrics of a running `inbox serve` (split into processes: the children's counts cross their
pipes), scraped after one mail was ingested and acknowledged, parsed with prometheus-client's own
parser. Real subprocess, real SMTP, real database (both); waits are bounded polls."""

from __future__ import annotations

import os
import smtplib
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config

BOUND = 60.0  # seconds: a bound on a hang, not a deadline


def _scrape(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family, name: str, **labels: str) -> float | None:
    for sample in family.samples:
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


@pytest.mark.parametrize("words", [(), ("--one-process",)], ids=["split", "one-process"])
def test_metrics_after_a_mail_was_ingested_and_acknowledged(db_url: str, tmp_path: Path, words: tuple[str, ...]) -> None:
    """Counters for accepted, processed and sent (by kind), histograms of ingest and acknowledgement
    latency with one observation each, queue and outbox depth gauges, and process metrics."""
    smtp_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {http_port}}}
        """)
    log = tmp_path / "serve.log"
    server = ServeProcess(config, smtp_port, log, env={**os.environ, "INBOX_LOG_LEVEL": "WARNING"},
                          argv=[sys.executable, "-m", "inbox", "--config", str(config), "serve", *words])
    try:
        server.start()
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.sendmail("alice@acme.com", ["support@example.com"], mail(message_id="<metrics@acme.com>"))

        def acknowledged() -> bool:
            family = _scrape(http_port).get("inbox_acknowledgement_latency_seconds")
            return family is not None and _value(family, "inbox_acknowledgement_latency_seconds_count") == 1

        assert server.wait_until(acknowledged, BOUND), log.read_text()[-3000:]
        families = _scrape(http_port)
        types = {name: family.type for name, family in families.items()}
        assert types["inbox_messages_accepted"] == types["inbox_messages_processed"] == "counter"
        assert types["inbox_emails_sent"] == "counter"
        assert types["inbox_ingest_latency_seconds"] == types["inbox_acknowledgement_latency_seconds"] == "histogram"
        assert types["inbox_queue_depth"] == types["inbox_outbox_depth"] == types["inbox_oldest_waiting_seconds"] == "gauge"
        assert types["process_cpu_seconds"] == "counter" and types["process_resident_memory_bytes"] == "gauge"
        assert _value(families["inbox_messages_accepted"], "inbox_messages_accepted_total", source="smtp") == 1
        assert _value(families["inbox_messages_processed"], "inbox_messages_processed_total",
                      outcome="opened", source="smtp") == 1
        assert _value(families["inbox_emails_sent"], "inbox_emails_sent_total", kind="acknowledgement") == 1
        assert _value(families["inbox_ingest_latency_seconds"], "inbox_ingest_latency_seconds_count",
                      outcome="opened") == 1
        seconds = _value(families["inbox_acknowledgement_latency_seconds"], "inbox_acknowledgement_latency_seconds_sum")
        assert seconds is not None and 0 <= seconds < BOUND
        assert _value(families["inbox_outbox_depth"], "inbox_outbox_depth", state="pending") == 0
        assert _value(families["inbox_queue_depth"], "inbox_queue_depth", state="received") == 0
        assert server.terminate() == 0
    finally:
        server.kill()
