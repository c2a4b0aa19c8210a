"""What /metrics counts, read back with prometheus-client's own parser: quarantined messages by
source (a worker whose message fails for good, on a real database) and the series' types."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from inbox.ingest.background import quarantine_counter
from inbox.ingest.drain import IngestWorker
from inbox.ingest.pipeline import PermanentError, ingest_one
from inbox.metrics import SERIES, Metrics
from tests.fakes import mail, make_app, make_settings


@pytest.fixture
def app(db_url: str, tmp_path: Path):
    app = make_app(make_settings(tmp_path, db_url))
    yield app
    app.close()


def _families(metrics: Metrics) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(metrics.render())}


def test_a_message_quarantined_for_good_is_counted_by_source(app) -> None:
    """A permanent failure quarantines the message and adds one to
    inbox_messages_quarantined_total{source}; a temporary failure of another adds nothing."""
    metrics = Metrics(process=False)
    poison, flaky = mail(message_id="<poison@acme.com>"), mail(message_id="<flaky@acme.com>", subject="flaky")

    def process(session, raw, ctx, parsed=None):
        if raw.data == poison:
            raise PermanentError("cannot")
        if raw.data == flaky:
            raise RuntimeError("blip")
        return ingest_one(session, raw, ctx, parsed)

    app.rawstore.put(poison, "imap:support")
    app.rawstore.put(flaky, "smtp")
    worker = IngestWorker(app.sessions, app.current_desk(), app.clock, app.claimant, process=process,
                          on_quarantined=quarantine_counter(metrics))
    worker.run_batch()
    family = _families(metrics)["inbox_messages_quarantined"]
    assert family.type == "counter"
    assert {(s.name, tuple(sorted(s.labels.items())), s.value) for s in family.samples} == {
        ("inbox_messages_quarantined_total", (("source", "imap:support"),), 1.0)}


def test_every_series_parses_with_its_type_and_help() -> None:
    """Each series of the table (counters, gauges, histograms) and the process metrics come out
    of the exposition with the right type and a HELP line, once touched."""
    metrics = Metrics()
    for name, series in SERIES.items():
        labels = {label: "x" for label in series.labels}
        kind = series.kind.__name__.lower()
        if kind == "counter":
            metrics.inc(name, **labels)
        elif kind == "gauge":
            metrics.set(name, 1, **labels)
        else:
            metrics.observe(name, 0.2, **labels)
    families = _families(metrics)
    for name, series in SERIES.items():
        family = families[name.removesuffix("_total") if series.kind.__name__ == "Counter" else name]
        assert family.type == series.kind.__name__.lower() and family.documentation
    assert families["process_cpu_seconds"].type == "counter"
    assert families["process_resident_memory_bytes"].type == "gauge"


def test_a_template_refused_is_counted_once_and_its_recovery_logged(caplog) -> None:
    """The scheduler's turns as the parent hears them: a template refused for three turns adds one to
    inbox_template_refusals_total; once fixed, one WARNING line says it recovered. Sent and dead
    emails land in their counters."""
    from inbox.serving import TurnReport

    metrics = Metrics(process=False)
    report = TurnReport(metrics)
    problem = {"file": "templates/acknowledgement/subject.txt.j2", "line": 1, "reason": "no endif"}
    with caplog.at_level("WARNING", logger="inbox.serving"):
        for _ in range(3):
            report.count(False, [problem], {"sent:acknowledgement": 1, "dead": 1})
        report.count(False, [], {})
    assert metrics.value("inbox_template_refusals_total") == 1
    assert metrics.value("inbox_emails_sent_total", kind="acknowledgement") == 3
    assert metrics.value("inbox_emails_dead_total") == 3
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["template templates/acknowledgement/subject.txt.j2 refused; its last good version is used",
                     "template templates/acknowledgement/subject.txt.j2 recovered: no longer refused"]


def test_acknowledgement_latency_is_from_the_mail_stored_to_the_acknowledgement_sent(db_url: str,
                                                                                     tmp_path: Path) -> None:
    """A mail stored at T0 and acknowledged by a turn at T0 + 90 s is one observation of 90 s;
    the status updates and alerts of later turns add none."""
    from datetime import timedelta

    from inbox.serving import _since_stored
    from tests.sla_kit import T0 as DESK_T0, Desk

    desk = Desk(tmp_path, db_url)
    try:
        seen: list[float] = []
        desk.feed(mail())
        outbound = desk.app.outbound(desk.transport, acknowledged=_since_stored(seen.append))
        assert outbound.run_once(DESK_T0 + timedelta(seconds=90))["sent"] >= 1
        outbound.run_once(DESK_T0 + timedelta(days=3))
        assert seen == [90.0]
        assert [m["Subject"] for m in desk.sent()][0].startswith("[SUP-000001]")
    finally:
        desk.close()
