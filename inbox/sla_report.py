"""`inbox report sla`: response, update, workaround and resolution targets met and breached,
per customer and severity, for the tickets opened in one month.

A target counts as met when it was achieved by its due time, breached when it was achieved late,
is overdue now, or has a `breach` event, and pending while it still may be met. The update
cadence has no single achievement time, so it counts as breached when any update was missed
(a `breach` event), met once the customer was written to or the ticket was solved, and
pending before that. Pure aggregation over
rows the store reads; no SQL here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Callable

from inbox.sla.agenda import TARGETS

MET, BREACHED, PENDING = "met", "breached", "pending"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a "YYYY-MM" month in UTC; ValueError for anything else."""
    year, _, number = month.partition("-")
    if not (year.isdigit() and number.isdigit() and len(year) == 4 and 1 <= int(number) <= 12):
        raise ValueError(f"{month!r} is not a month such as 2026-03")
    start = datetime(int(year), int(number), 1, tzinfo=timezone.utc)
    end = datetime(int(year) + (int(number) == 12), int(number) % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def _verdict(due: datetime | None, achieved: datetime | None, breached: bool, now: datetime) -> str | None:
    if due is None and not breached:
        return None  # no such target for this ticket (or its clock is paused with nothing missed)
    if breached or (achieved is not None and due is not None and achieved > due):
        return BREACHED
    if achieved is not None:
        return MET
    return BREACHED if due is not None and due <= now else PENDING


def _targets(row: dict[str, Any], breached: set[str], has_update: bool, now: datetime) -> dict[str, str | None]:
    stopped = row["solved_at"] or row["closed_at"]
    update: str | None = None
    if has_update:
        update = BREACHED if "update" in breached else MET if stopped or row["last_update_sent_at"] else PENDING
    return {
        "response": _verdict(row["first_response_due"], row["first_response_at"] or stopped, "response" in breached, now),
        "update": update,
        "workaround": _verdict(row["workaround_due"], row["workaround_at"] or stopped, "workaround" in breached, now),
        "resolution": _verdict(row["resolution_due"], stopped, "resolution" in breached, now),
    }


def sla_report(rows: list[dict[str, Any]], breaches: dict[int, set[str]], now: datetime, month: str,
               has_update: Callable[[str | None, str], bool]) -> dict[str, Any]:
    """The report document: one line per customer and severity, counts per target."""
    table: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(
        lambda: {t: {MET: 0, BREACHED: 0, PENDING: 0} for t in TARGETS})
    tickets: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        key = (row["customer_id"] or "(unknown senders)", row["severity"])
        counts = table[key]
        verdicts = _targets(row, breaches.get(row["id"], set()), has_update(row["plan"], row["severity"]), now)
        for target, verdict in verdicts.items():
            if verdict is not None:
                counts[target][verdict] += 1
        tickets[key] += 1
    lines = [{"customer": c, "severity": s, "tickets": tickets[(c, s)], **counts} for (c, s), counts in sorted(table.items())]
    return {"month": month, "as_of": now.isoformat(), "rows": lines}


def report_table(report: dict[str, Any]) -> str:
    """The report for a person: one line per customer and severity, met/breached/pending per target."""
    out = [f"SLA report for {report['month']} (as of {report['as_of']}); each cell: met/breached/pending",
           f"{'customer':<20} {'severity':<10} {'tickets':>7}" + "".join(f" {t:>12}" for t in TARGETS)]
    for line in report["rows"]:
        cells = "".join(f" {f'{line[t][MET]}/{line[t][BREACHED]}/{line[t][PENDING]}':>12}" for t in TARGETS)
        out.append(f"{line['customer'][:20]:<20} {line['severity'][:10]:<10} {line['tickets']:>7}{cells}")
    if not report["rows"]:
        out.append("(no tickets opened that month)")
    return "\n".join(out)
