"""Sample data for every kind of email, and the admin's check that renders every template with it.

`sample_context(kind)` gives realistic values for every variable a kind gets (with `minimal`, every
optional one empty), for `inbox templates check` and for previews without a ticket. `check()`
renders every default and override file twice, once with the optional values empty, and returns
one `path[:line]: problem` line each. It never sends, never reads the database or the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoresponder.render import FILES, KINDS, Renderer, TemplateError

_TARGETS = {
    "acknowledgement": {"name": "response", "duration": "4 business hours", "due": "Tue 3 Mar 2026, 12:30 PST"},
    "sla_warning": {"name": "update", "duration": "24 hours", "due": "Wed 4 Mar 2026, 08:30 PST"},
    "breach_alert": {"name": "resolution", "duration": "1 week", "due": "Tue 10 Mar 2026, 08:30 PDT"},
}


def sample_context(kind: str, *, minimal: bool = False) -> dict[str, Any]:
    """Realistic values for every variable `kind` gets; `minimal` empties every optional one."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of email {kind!r}; expected one of {', '.join(KINDS)}")
    ticket: dict[str, Any] = {
        "tracking": "SUP-000123", "subject": "Checkout fails with error 502 since this morning",
        "severity": "critical", "status": "open", "customer": "Acme Corp", "plan": "standard",
        "requester": "Alice Example <alice@acme.com>", "assignee": "oncall@example.com", "category": "payments",
        "created_at": "Tue 3 Mar 2026, 08:30 PST", "first_response_due": "Tue 3 Mar 2026, 12:30 PST",
        "next_update_due": "Wed 4 Mar 2026, 08:30 PST", "workaround_due": "Thu 5 Mar 2026, 08:30 PST",
        "resolution_due": "Tue 10 Mar 2026, 08:30 PDT", "last_public_activity": "Tue 3 Mar 2026, 09:05 PST",
    }
    if kind in ("solved", "closed"):
        ticket["status"] = kind
    elif kind == "status_update":
        ticket["status"] = "waiting-on-third-party"
    elif kind in ("reminder", "agent_reply"):
        ticket["status"] = "waiting-on-customer"
    elif kind in ("escalation_refused", "escalation_request", "escalation_received"):
        ticket["severity"] = "high"  # the keyword or the customer asked for more
    elif kind == "not_designated":
        ticket["requester"] = "Dave Example <dave@acme.com>"  # at acme.com, but not a designated contact
    if minimal:
        for key in ("assignee", "category", "first_response_due", "next_update_due", "workaround_due",
                    "resolution_due", "last_public_activity"):
            ticket[key] = None
    change = None
    if kind == "severity_changed":
        change = {"from": "high", "to": "critical", "by": "tam@example.com", "why": "#escalate critical"}
    extra: dict[str, Any] = {}
    if kind == "reminder":
        extra["follow_ups"] = 0 if minimal else 1
    elif kind == "agent_reply":
        extra["reply"] = {
            "text": "Hello Alice,\n\nWe found the cause: a certificate on one of the payment gateways expired\n"
                    "at 07:45 PST. We renewed it, and checkout works again on our side.\n\n"
                    "Could you confirm that your customers can pay again?\n\nBest regards,\nDana",
            "author": None if minimal else "Dana Engineer",
            "status": None if minimal else "waiting-on-customer",
        }
    elif kind == "assigned":
        extra["assignment"] = {"by": "the assignment rules",
                               "team": [] if minimal else ["oncall@example.com", "engineer@example.com"]}
        extra["message"] = {
            "from": "Alice Example <alice@acme.com>",
            "text": "Since 07:50 this morning every checkout on shop.acme.com fails with\n"
                    "\"502 Bad Gateway\". Our customers cannot pay. Please help urgently.",
        }
    elif kind == "escalation_refused":
        extra["refusal"] = {"by": "tam@example.com",
                            "lines": [{"line": "#escalate critical", "reason": "not authenticated: no DKIM signature"}]}
    elif kind == "command_refused":
        extra["refusal"] = {
            "by": "oncall@example.com",
            "reason": None if minimal else "not authenticated: no DKIM signature",
            "lines": [] if minimal else [{"line": "#status waiting-on-customer",
                                          "reason": "not applied: the email is not authenticated"}],
            "relayed": False,
        }
    elif kind in ("escalation_request", "escalation_received"):
        extra["escalation"] = {
            "level": 2, "levels": 3, "by": "alice@acme.com",
            "text": None if minimal else "Checkout has been down for six hours and we are losing orders.\n"
                                         "Please escalate this.",
            "wish": None if minimal else "critical",
        }
    return {
        "service": {"name": "Example Support"},
        "ticket": ticket,
        "target": dict(_TARGETS[kind]) if kind in _TARGETS else None,
        "level": 2 if kind == "breach_alert" else None,
        "change": change,
        "timezone": "America/Los_Angeles",
        **extra,
    }


def check(directory: Path) -> list[str]:
    """One `path[:line]: problem` line per template that fails against the sample data; [] when all render."""
    renderer = Renderer(directory)
    label = renderer.label
    if not renderer.directory.is_dir():
        return [f"{label}: not a directory"]
    problems: list[str] = []

    def check_file(name: str, kind: str) -> None:
        for minimal in (False, True):
            try:
                renderer.render_file(name, sample_context(kind, minimal=minimal))
            except TemplateError as exc:
                problems.append(f"{exc} (with the optional values empty)" if minimal else str(exc))
                return

    for kind in KINDS:
        for file in FILES:
            check_file(f"{kind}/{file}", kind)
    for group in ("plans", "customers"):
        for owner in _subdirs(renderer.directory / group):
            for folder in _subdirs(owner):
                where = f"{label}/{group}/{owner.name}/{folder.name}"
                if folder.name not in KINDS:
                    problems.append(f"{where}: not a kind of email (expected one of {', '.join(KINDS)})")
                    continue
                for file in sorted(folder.iterdir()):
                    if file.name.startswith(".") or file.name.endswith("~"):
                        continue  # editor swap and backup files
                    if file.name not in FILES:
                        problems.append(f"{where}/{file.name}: not a file this service reads"
                                        f" (expected {', '.join(FILES)})")
                        continue
                    check_file(f"{group}/{owner.name}/{folder.name}/{file.name}", folder.name)
    return problems


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")) if path.is_dir() else []
