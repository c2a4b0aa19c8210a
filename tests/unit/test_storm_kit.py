"""The storm bench's pure parts: its config loads, percentiles are nearest-rank, and each email
at the sink is tied to the mail it answers (by In-Reply-To, else by the ticket's tracking number),
only the first one counting, only when it went back to the mail's sender."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

from bench.storm_table import Storm
from bench.storm_kit import (
    Arrival,
    arrivals,
    as_epoch,
    config_text,
    first_reply,
    percentile,
    storm_mails,
)
from inbox.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_storm_config_loads_with_the_sink_as_relay(tmp_path: Path) -> None:
    """A bench that cannot start measures nothing: its config is a valid config."""
    path = tmp_path / "inbox.yaml"
    path.write_text(config_text(f"sqlite:///{tmp_path}/s.db", ROOT, smtp_port=2525, http_port=8025, relay_port=2600))
    settings = load_settings(path)
    assert (settings.outbound.transport, settings.outbound.port, settings.smtp.port) == ("smtp", 2600, 2525)


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5, p99 is the largest; nothing measured is NaN, not zero."""
    values = [float(v) for v in range(10, 0, -1)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (5.0, 10.0, 10.0)
    assert percentile([3.0], 99) == 3.0
    assert math.isnan(percentile([], 50))


def test_first_reply_matches_by_in_reply_to_then_tracking() -> None:
    """The first email back to the sender wins; a later one, or one to someone else, does not."""
    senders = {"m1@acme.com": "u1@acme.com", "m2@acme.com": "u2@acme.com", "m3@acme.com": "u3@acme.com"}
    found = [
        Arrival(5.0, ("u1@acme.com",), "m1@acme.com", "SUP-000001"),  # a second email to u1: too late
        Arrival(3.0, ("u1@acme.com",), "m1@acme.com", "SUP-000001"),
        Arrival(2.0, ("tam@example.com",), "m2@acme.com", "SUP-000002"),  # not to the sender
        Arrival(4.0, ("u2@acme.com",), None, "SUP-000002"),  # no In-Reply-To: by tracking number
        Arrival(1.0, ("u3@acme.com",), "other@x.test", None),  # answers nothing of ours
    ]
    tracking = {"m1@acme.com": "SUP-000001", "m2@acme.com": "SUP-000002"}
    assert first_reply(found, senders, tracking) == {"m1@acme.com": 3.0, "m2@acme.com": 4.0}


def test_arrivals_read_in_reply_to_and_tracking_from_the_sink() -> None:
    """The headers an acknowledgement carries are read without the angle brackets."""
    data = (b"From: s@example.com\r\nTo: u1@acme.com\r\nSubject: [SUP-000042] Production down\r\n"
            b"In-Reply-To: <m1@acme.com>\r\n\r\nbody\r\n")
    assert arrivals([(7.0, ["U1@acme.com"], data)]) == [Arrival(7.0, ("u1@acme.com",), "m1@acme.com", "SUP-000042")]


def test_timestamps_from_either_database_are_utc_epochs() -> None:
    """SQLite's naive text and PostgreSQL's aware datetime name the same instant."""
    aware = datetime(2026, 3, 2, 17, 0, 0, 250000, tzinfo=timezone.utc)
    assert as_epoch("2026-03-02 17:00:00.250000") == as_epoch(aware) == aware.timestamp()
    assert as_epoch(None) is None


def test_storm_mails_come_from_distinct_senders() -> None:
    """Each mail opens its own ticket: one sender and one Message-ID each."""
    mails = storm_mails(50, tag="t")
    assert len({m.sender for m in mails}) == len({m.message_id for m in mails}) == 50
    assert all(f"<{m.message_id}>".encode() in m.data for m in mails)


def _storm(rate: float, achieved: float, backlog: list[tuple[int, int]], seconds: int) -> Storm:
    return Storm(rate, achieved, rate, [], [], 0, backlog, seconds, 0.0, [])


def test_a_steady_tick_is_sustained_and_falling_behind_is_not() -> None:
    """A fixed send tick's saw-tooth outbox is steady; a backlog that ends above its first half's
    most by more than two seconds of mail is growing; accepting too slowly is not sustained either."""
    saw = [(0, 20 * (i % 5)) for i in range(20)]  # 20/s, the outbox emptied every 5 s
    assert _storm(20, 19.8, saw, 20).sustained()
    growing = [(0, 100 * i) for i in range(20)]
    assert not _storm(100, 100, growing, 20).sustained()
    assert _storm(100, 100, growing, 3).sustained()  # drained after the storm: only its seconds count
    assert not _storm(20, 15, saw, 20).sustained()
