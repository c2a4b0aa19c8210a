"""Staff digests, the pure part: which alerts are folded where, and how a digest lists them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from autoresponder.digest import MAX_ENTRIES, Fold, context, lateness, plan
from inbox.store.digests import Foldable as Alert
from inbox.store.digests import OpenDigest as Waiting

NOW = datetime(2026, 3, 4, 20, 0, tzinfo=timezone.utc)
LEAD, ENGINEER = "lead@example.com", "engineer@example.com"


def alerts(first: int, count: int, kind: str = "breach_alert", recipient: str = LEAD) -> list[Alert]:
    return [Alert(n, kind, recipient) for n in range(first, first + count)]


def test_more_than_the_threshold_of_one_kind_to_one_person_make_a_digest() -> None:
    """Four breach alerts to the lead fold (over 3); three warnings to the engineer and one of each
    other kind stay alone; each person and kind is its own group."""
    due = alerts(1, 4) + alerts(10, 3, "sla_warning", ENGINEER) + alerts(20, 1, "assigned", ENGINEER)
    assert plan(due, [], over=3) == [Fold("breach_alert", LEAD, (1, 2, 3, 4), None)]
    assert plan(due, [], over=None) == []


def test_alerts_join_a_waiting_digest_whatever_their_number() -> None:
    """A digest held back for the hour takes every alert of its kind due to its person meanwhile,
    even one; another kind, or another person, is not its."""
    waiting = [Waiting(99, "breach_alert", LEAD, members=5)]
    due = alerts(1, 1) + alerts(2, 1, "sla_warning") + alerts(3, 1, recipient=ENGINEER)
    assert plan(due, waiting, over=3) == [Fold("breach_alert", LEAD, (1,), 99)]
    assert plan(due, waiting, over=None) == [Fold("breach_alert", LEAD, (1,), 99)]  # digests off: none new


def test_a_digest_lists_at_most_max_entries() -> None:
    """A full waiting digest takes no more; a storm larger than one digest makes several."""
    full = [Waiting(99, "breach_alert", LEAD, members=MAX_ENTRIES)]
    assert plan(alerts(1, 2), full, over=3) == []  # two alone: under the threshold, nowhere to go
    nearly = [Waiting(99, "breach_alert", LEAD, members=MAX_ENTRIES - 1)]
    folds = plan(alerts(1, 2 * MAX_ENTRIES + 1), nearly, over=3)
    assert [(len(f.alerts), f.into) for f in folds] == [(1, 99), (MAX_ENTRIES, None), (MAX_ENTRIES, None)]
    assert sorted(n for f in folds for n in f.alerts) == list(range(1, 2 * MAX_ENTRIES + 2))


def entry(tracking: str, due: datetime | None, **ticket: str) -> dict:
    return {"ticket": {"tracking": tracking, "subject": f"About {tracking}", "customer": "Acme Corp",
                       "severity": "low", "status": "open", "assignee": None, **ticket},
            "target": {"name": "response", "due": "Wed", "due_at": due.isoformat() if due else None}, "level": 1}


def test_a_digest_lists_the_most_late_first_to_the_minute() -> None:
    """Sorted by how late each alert is when the digest is sent; unknown due times last."""
    data = context("breach_alert", [entry("SUP-000003", NOW - timedelta(minutes=5)), entry("SUP-000001", None),
                                    entry("SUP-000002", NOW - timedelta(days=1, hours=2, minutes=7)),
                                    entry("SUP-000004", NOW + timedelta(minutes=40))], NOW, {"name": "Desk"})
    listed = data["digest"]["entries"]
    assert [e["tracking"] for e in listed] == ["SUP-000002", "SUP-000003", "SUP-000004", "SUP-000001"]
    assert [e["late"] for e in listed] == ["1 d 2 h 07 min late", "5 min late", "due in 40 min", None]
    assert data["digest"] == {"kind": "breach_alert", "count": 4, "entries": listed}
    assert set(listed[0]) == {"tracking", "subject", "customer", "severity", "status", "assignee", "target", "due",
                              "late", "level"}


def test_a_long_subject_is_cut_in_the_list() -> None:
    [listed] = context("assigned", [entry("SUP-000001", NOW, subject="x" * 500)], NOW, {})["digest"]["entries"]
    assert len(listed["subject"]) == 120 and listed["subject"].endswith("…")


def test_lateness_reads_to_the_minute() -> None:
    assert lateness(timedelta(seconds=59)) == "due now"
    assert lateness(timedelta(minutes=65)) == "1 h 05 min late"
    assert lateness(-timedelta(hours=25)) == "due in 1 d 1 h 00 min"
