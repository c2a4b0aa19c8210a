"""Sample data for every kind of email, and the admin's check that renders every template with it.

`sample_context(kind)` gives realistic values for every variable a kind gets (with `minimal`, every
optional one empty), for `inbox templates check` and for previews without a ticket; a kind a
customer receives gets the customer's view (`inbox.tickets.for_customer`: our people by name,
never by address, but `ticket.assignee_address`). `check()`
renders every default and override file with the sample data, with the optional values empty,
and as a ticket of every severity in every status, and returns one `path[:line]: problem` line
each; `TemplateWatch` runs it again in the service whenever a file or a saved version changes. It
never sends, never reads the database or the config.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from autoresponder import digest
from autoresponder.render import FILES, KINDS, Renderer, TemplateError
from autoresponder.template_source import FileSource
from inbox.domain.ticket import Status
from inbox.tickets import CUSTOMER_KINDS, NO_TICKET_NAMED

SAMPLE_SEVERITIES = ("critical", "high", "medium", "low")
MEMO_SIZE = 10_000  # results a checker remembers (files x texts): a few hundred in practice

_TARGETS = {
    "acknowledgement": {"name": "response", "duration": "4 business hours", "due": "Tue 3 Mar 2026, 12:30 PST"},
    "sla_warning": {"name": "update", "duration": "24 hours", "due": "Wed 4 Mar 2026, 08:30 PST"},
    "breach_alert": {"name": "resolution", "duration": "1 week", "due": "Tue 10 Mar 2026, 08:30 PDT"},
}


def sample_context(kind: str, *, minimal: bool = False) -> dict[str, Any]:
    """Realistic values for every variable `kind` gets; `minimal` empties every optional one."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of email {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == digest.TEMPLATE:
        return sample_digest(minimal=minimal)
    if kind == NO_TICKET_NAMED:
        return sample_no_ticket(minimal=minimal)
    ticket: dict[str, Any] = {
        "tracking": "SUP-000123", "subject": "Checkout fails with error 502 since this morning",
        "severity": "critical", "status": "open", "customer": "Acme Corp", "plan": "standard",
        "requester": "Alice Example <alice@acme.com>", "assignee": "oncall@example.com",
        "assignee_name": "Dana Engineer", "assignee_address": "oncall@example.com", "category": "payments",
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
    if kind in CUSTOMER_KINDS:
        ticket["assignee"] = "Dana Engineer"  # a customer reads our people's names, never their addresses
    if minimal:
        for key in ("assignee", "assignee_name", "assignee_address", "category", "first_response_due",
                    "next_update_due", "workaround_due", "resolution_due", "last_public_activity"):
            ticket[key] = None
    change = None
    if kind == "severity_changed":  # the customer's copy: the account manager by name
        change = {"from": "high", "to": "critical", "by": "Terry Manager", "why": "#escalate critical"}
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
    elif kind == "closed_by_customer":
        extra["closing"] = {"by": None if minimal else "alice@acme.com", "line": "Please close this ticket"}
    elif kind in ("escalation_request", "escalation_received"):
        extra["escalation"] = {
            "level": 2, "levels": 3, "by": "alice@acme.com",
            "text": None if minimal else "Checkout has been down for six hours and we are losing orders.\n"
                                         "Please escalate this.",
            "wish": None if minimal else "critical",
            "told_at": None,  # set only when the top of the chain already heard today (see test_render)
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


def sample_no_ticket(*, minimal: bool = False) -> dict[str, Any]:
    """An engineer's new mail that named no ticket in its subject (with `minimal`, none in its text either)."""
    return {"service": {"name": "Example Support"}, "example": "SUP-000123",
            "mail": {"subject": "Printer on fire: customer called", "from": "engineer@example.com",
                     "named": [] if minimal else ["SUP-000123"]}}


def sample_digest(kind: str = "breach_alert", *, minimal: bool = False, severity: str | None = None) -> dict[str, Any]:
    """A digest of `kind` alerts as it is sent: three tickets (with `minimal`, one with every optional
    value empty), all of `severity` when given, in several statuses."""
    entries: list[dict[str, Any]] = [
        {"tracking": "SUP-000123", "subject": "Checkout fails with error 502 since this morning",
         "customer": "Acme Corp", "severity": "critical", "status": "open", "assignee": "oncall@example.com",
         "target": "response", "due": "Tue 3 Mar 2026, 12:30 PST", "late": "3 h 05 min late", "level": 1},
        {"tracking": "SUP-000131", "subject": "Invoices show the wrong currency", "customer": "Globex",
         "severity": "low", "status": "waiting-on-third-party", "assignee": None, "target": "resolution",
         "due": "Tue 3 Mar 2026, 14:00 PST", "late": "1 h 35 min late", "level": 2},
        {"tracking": "SUP-000140", "subject": "Export to CSV times out", "customer": "Acme Corp",
         "severity": "medium", "status": "pending", "assignee": "engineer@example.com", "target": "update",
         "due": "Tue 3 Mar 2026, 15:40 PST", "late": "due in 5 min", "level": None},
    ]
    if minimal:
        entries = [{**entries[0], "assignee": None, "target": None, "due": None, "late": None, "level": None,
                    "customer": "unknown sender", "subject": ""}]
    if severity is not None:
        entries = [{**entry, "severity": severity} for entry in entries]
    return {"service": {"name": "Example Support"}, "digest": {"kind": kind, "count": len(entries), "entries": entries}}


def sample_contexts(kind: str, severities: Sequence[str] = SAMPLE_SEVERITIES,
                    plan: str | None = None, customer: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what the sample is, its data) for `kind` as it is sent, with the optional values empty, then
    as a ticket of every severity in every status would have it: what `check` renders each file with."""
    if kind == digest.TEMPLATE:  # a digest lists tickets of every customer: it has no overrides
        for alerts in digest.KINDS:
            yield f"a digest of {alerts}", sample_digest(alerts)
            yield f"a digest of {alerts}, the optional values empty", sample_digest(alerts, minimal=True)
            for severity in severities:
                yield f"a digest of {alerts}, severity {severity}", sample_digest(alerts, severity=severity)
        return
    if kind == NO_TICKET_NAMED:  # about no ticket and no customer: it has no overrides either
        yield "", sample_no_ticket()
        yield "the optional values empty", sample_no_ticket(minimal=True)
        return
    yield "", _owned(sample_context(kind), plan, customer)
    yield "the optional values empty", _owned(sample_context(kind, minimal=True), plan, customer)
    for severity in severities:
        for status in Status:
            context = _owned(sample_context(kind), plan, customer)
            context["ticket"].update(severity=severity, status=status.value)
            yield f"severity {severity}, status {status.value}", context
        context = _owned(sample_context(kind, minimal=True), plan, customer)
        context["ticket"]["severity"] = severity
        yield f"severity {severity}, the optional values empty", context


def template_files(names: Iterable[str], label: str = "templates"
                   ) -> tuple[list[tuple[str, str, str | None, str | None]], list[TemplateError]]:
    """Every file the service reads as (name, kind, plan, customer), from the defaults and the
    override files `names` (a source's `names()`), and one problem line per file or folder in an
    override tree that the service would never read (a misspelt kind or file name)."""
    files = [(f"{kind}/{file}", kind, None, None) for kind in KINDS for file in FILES]
    problems: list[TemplateError] = []
    named: set[str] = set()
    for name in sorted(names):
        parts = name.split("/")
        if len(parts) < 4 or parts[0] not in ("plans", "customers"):
            continue  # a file beside the kinds' folders: never read, as before versions
        group, owner, folder, rest = parts[0], parts[1], parts[2], "/".join(parts[3:])
        where = f"{label}/{group}/{owner}/{folder}"
        if folder not in KINDS:
            if where not in named:
                named.add(where)
                problems.append(TemplateError(where, None, f"not a kind of email (expected one of {', '.join(KINDS)})"))
            continue
        if folder == digest.TEMPLATE:
            if where not in named:
                named.add(where)
                problems.append(TemplateError(where, None, "a digest lists tickets of many customers and plans, so "
                                              f"only {label}/{digest.TEMPLATE}/ is used"))
            continue
        if rest not in FILES:
            problems.append(TemplateError(f"{where}/{rest}", None,
                                          f"not a file this service reads (expected {', '.join(FILES)})"))
            continue
        plan, customer = (owner, None) if group == "plans" else (None, owner)
        files.append((name, folder, plan, customer))
    return files, problems


def check(directory: Path, severities: Sequence[str] = SAMPLE_SEVERITIES, renderer: Renderer | None = None,
          *, adopt: bool = True) -> list[str]:
    """One `path[:line]: problem` line per template that fails against the sample data; [] when all render.
    With the service's `renderer`, each file that renders becomes its last good version; without
    `adopt`, nothing is adopted or refused: a check of candidate texts (`Renderer.trial`)."""
    renderer = renderer or Renderer(directory)
    if isinstance(renderer.source, FileSource) and not renderer.directory.is_dir():
        return [f"{renderer.label}: not a directory"]
    return [str(error) for error in findings(renderer, severities, adopt=adopt)]


def findings(renderer: Renderer, severities: Sequence[str], *, adopt: bool,
             samples: Callable[[str, str | None, str | None], Iterable[tuple[str, Mapping[str, Any]]]] | None = None,
             memo: dict[Hashable, TemplateError | None] | None = None) -> list[TemplateError]:
    """`check`'s problems as errors, with their file, line and reason apart. `samples(kind, plan,
    customer)` gives each file's samples (default: made afresh; `SampleCache` keeps them). With
    `memo` (a checker's own, kept between checks), a file that stands alone (no include, import or
    extends) and whose text has the same stamp as at an earlier check is not rendered again: a
    save's check then renders the changed files, and reports every file's problems all the same."""
    files, problems = template_files(renderer.source.names(), renderer.label)
    attempt = renderer.verify if adopt else renderer.trial
    made = samples or (lambda kind, plan, customer: sample_contexts(kind, severities, plan, customer))
    for name, kind, plan, customer in files:
        key = (name, renderer.source.stamp(name), kind, plan, customer)
        if memo is not None and not adopt and key in memo:
            error = memo[key]  # this very text rendered with these samples before: the same result
        else:
            error = attempt(name, made(kind, plan, customer))
            if memo is not None and not adopt and renderer.stands_alone(name):
                if len(memo) > MEMO_SIZE:
                    memo.clear()
                memo[key] = error
        if error is not None:
            problems.append(error)
    return problems


class SampleCache:
    """Each file's samples made once, for a checker that checks every file at each save. Shared
    read-only: rendering never changes a context (the sandbox is immutable)."""

    def __init__(self, severities: Sequence[str]) -> None:
        self.severities = tuple(severities)
        self._made: dict[tuple[str, str | None, str | None], tuple[tuple[str, dict[str, Any]], ...]] = {}

    def __call__(self, kind: str, plan: str | None, customer: str | None) -> tuple[tuple[str, dict[str, Any]], ...]:
        key = (kind, plan, customer)
        if key not in self._made:
            self._made[key] = tuple(sample_contexts(kind, self.severities, plan, customer))
        return self._made[key]


class TemplateWatch:
    """Checks the service's templates again whenever one changes (a file under the folder, or, with
    `refresh`, a version saved on any instance), so a broken edit is refused (and shown in /healthz)
    before an email needs it, and a good one is adopted."""

    def __init__(self, renderer: Renderer, severities: Sequence[str], refresh: Callable[[], int] | None = None
                 ) -> None:
        self.renderer, self.severities = renderer, list(severities)
        # Reads new versions into the renderer's source and says the newest version id it holds (a
        # save on this instance is read at once, so the id, not "anything new", says what changed).
        self._refresh = refresh
        self._seen: tuple[dict[str, float], int] | None = None
        self.problems: list[str] = []

    def scan(self) -> bool:
        """Check every file when any was added, changed or removed since the last scan; True if it did."""
        now = (_stamps(self.renderer.directory), self._refresh() if self._refresh is not None else 0)
        if now == self._seen:
            return False
        self._seen = now
        self.problems = check(self.renderer.directory, self.severities, self.renderer)
        return True


def _stamps(directory: Path) -> dict[str, float]:
    try:
        return {str(p): p.stat().st_mtime for p in directory.rglob("*") if p.is_file()}
    except OSError:  # a file removed while we walked: the next scan sees the settled tree
        return {}


def _owned(context: dict[str, Any], plan: str | None, customer: str | None) -> dict[str, Any]:
    if "ticket" not in context:
        return context
    if plan:
        context["ticket"]["plan"] = plan
    if customer:
        context["ticket"]["customer"] = customer
    return context
