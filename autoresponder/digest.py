"""Staff digests: when many alerts of one kind are due to one person at once, one email lists them.

An outage storm or a holiday weekend can make hundreds of tickets breach in one turn; one email
per ticket to one team lead would trickle out under the hourly limit for days, long after it
mattered. The dispatcher folds them instead (`plan`) and, when the digest is sent, lists each
alert (`context`): tracking number, customer, severity, the target, how late, the assignee, the
most late first. Customer emails are never folded. Pure: no database, clock or template here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

# The staff alerts a digest may fold: one per ticket and person, and a storm makes many at once.
KINDS = ("breach_alert", "sla_warning", "assigned")
TEMPLATE = "digest"
MAX_ENTRIES = 1000  # alerts one digest lists: an email an admin can still read, well inside the
                    # sandbox's output limit; more go in another digest
MAX_SUBJECT = 120  # characters of each ticket's subject in the list


class Alert(Protocol):
    """A due alert that may be folded: its outbox row, kind and recipient."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def recipient(self) -> str: ...


class Waiting(Alert, Protocol):
    """A digest of `kind` alerts to `recipient`, queued but not yet composed: it takes more, up to MAX_ENTRIES."""

    @property
    def members(self) -> int: ...


@dataclass(frozen=True)
class Fold:
    """Put `alerts` into digest `into`, or into a new digest when `into` is None."""

    kind: str
    recipient: str
    alerts: tuple[int, ...]
    into: int | None


def plan(due: Iterable[Alert], waiting: Iterable[Waiting], over: int | None) -> list[Fold]:
    """What to fold: each person's alerts of one kind go into their digest that is still waiting,
    if there is one with room, else into a new digest when there are more than `over` of them
    (None: never a new one). A digest lists at most MAX_ENTRIES alerts."""
    groups: dict[tuple[str, str], list[int]] = {}
    for alert in due:
        groups.setdefault((alert.recipient, alert.kind), []).append(alert.id)
    room = {(w.recipient, w.kind): (w.id, MAX_ENTRIES - w.members) for w in waiting if w.members < MAX_ENTRIES}
    folds: list[Fold] = []
    for (recipient, kind), ids in groups.items():
        into, space = room.get((recipient, kind), (None, 0))
        if into is not None:
            folds.append(Fold(kind, recipient, tuple(ids[:space]), into))
            ids = ids[space:]
        if over is None or len(ids) <= over and into is None:
            continue
        folds += [Fold(kind, recipient, tuple(ids[at:at + MAX_ENTRIES]), None) for at in range(0, len(ids), MAX_ENTRIES)]
    return folds


def context(kind: str, members: Sequence[dict[str, Any]], now: datetime, service: dict[str, Any]) -> dict[str, Any]:
    """The template data of a digest of `kind` sent at `now`, listing `members` (each alert's own
    template data, as it was queued) the most late first."""
    entries = sorted((_entry(one, now) for one in members), key=_urgency)
    for entry in entries:
        del entry["_late"]
    return {"service": service, "digest": {"kind": kind, "count": len(entries), "entries": entries}}


def _entry(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    ticket, target = data.get("ticket") or {}, data.get("target") or {}
    due_at = _instant(target.get("due_at"))
    late = now - due_at if due_at is not None else None
    subject = str(ticket.get("subject") or "")
    return {
        "tracking": ticket.get("tracking"),
        "subject": subject if len(subject) <= MAX_SUBJECT else subject[:MAX_SUBJECT - 1] + "…",
        "customer": ticket.get("customer"),
        "severity": ticket.get("severity"),
        "status": ticket.get("status"),
        "assignee": ticket.get("assignee"),
        "target": target.get("name"),
        "due": target.get("due"),
        "late": lateness(late) if late is not None else None,
        "level": data.get("level"),
        "_late": late,
    }


def _urgency(entry: dict[str, Any]) -> tuple[int, float, str]:
    """The most late first; alerts whose due time is unknown last; then by tracking number."""
    late: timedelta | None = entry["_late"]
    return (1, 0.0, str(entry["tracking"])) if late is None else (0, -late.total_seconds(), str(entry["tracking"]))


def _instant(text: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def lateness(late: timedelta) -> str:
    """How late, for a person, to the minute: "3 d 4 h 05 min late", "due in 40 min", "due now"."""
    minutes = int(abs(late).total_seconds() // 60)
    if minutes == 0:
        return "due now"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h", f"{mins:02d} min"] if hours or days else [f"{mins} min"]
    text = " ".join(parts)
    return f"{text} late" if late > timedelta(0) else f"due in {text}"
