"""The `inbox tickets` commands that read: list (filters checked against the config), show, attachment.

Part of the command line (`inbox.cli` calls these with the app and the parsed arguments): each
imports what it needs in its own body, so `import inbox.cli` stays light. A list streams its rows
to stdout as the database returns them and says its total on stderr; it never loads a ticket
object. Writes nothing but stdout, stderr and the one file `tickets attachment` is asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from inbox.cli_args import TEXT_LIMIT, ErrorKind, Failure, UsageError
from inbox.domain.ticket import Status

if TYPE_CHECKING:
    from datetime import tzinfo

    from inbox.app import App
    from inbox.domain.ticket_filter import TicketFilter
    from inbox.settings import Settings
    from inbox.store.reader import Reader

# Commands that read through a `Reader` (the database driver itself): they get a `DirectReader`, not
# the whole app, and so import neither SQLAlchemy, the ORM, the raw store nor the composition root
# (SQLAlchemy alone was a third of `tickets list`'s start, the rest half of `tickets show`'s).
DIRECT_READERS = frozenset({("tickets", "list"), ("tickets", "show")})


class DirectReader:
    """The part of the app a DIRECT_READERS command uses: the settings and one read-only connection."""

    def __init__(self, settings: Settings, reader: Reader) -> None:
        self.settings, self.reader = settings, reader

    def is_current(self) -> bool:
        from inbox.store import revisions

        return revisions.is_current(self.reader)

    def close(self) -> None:
        self.reader.close()


def direct_reader(settings: Settings) -> DirectReader:
    from inbox.settings import database_url
    from inbox.store.reader import open_reader

    return DirectReader(settings, open_reader(database_url(settings)))


def tickets_list(app: DirectReader, args: argparse.Namespace) -> int:
    from inbox.domain.ticket_filter import Sorting
    from inbox.store import ticket_search

    settings = app.settings
    limit = args.limit if args.limit is not None else (0 if args.json else TEXT_LIMIT)
    reader = app.reader
    wanted = _filter(reader, settings, args)
    # Without a limit every match is shown: counting them first would find them twice (a search's
    # matches cost as much again). The count and the rows read one snapshot (the reader's).
    total = ticket_search.count(reader, wanted) if limit else None
    sorting = args.order or Sorting()
    if args.json:
        shown = _write_json(ticket_search.json_rows(reader, wanted, sorting, settings.severities, limit or None))
    else:
        shown = _write_table(ticket_search.rows(reader, wanted, sorting, settings.severities, limit or None),
                             plan_zones(settings))
    total = shown if total is None else total
    print(f"showing {shown:,} of {total:,} tickets (--limit N shows more, --limit 0 all)" if shown < total
          else f"{total:,} tickets", file=sys.stderr)
    return 0


def _filter(reader: Reader, settings: Settings, args: argparse.Namespace) -> TicketFilter:
    """The filter the options ask for; UsageError for a value the config (or, for names a person
    may type, some ticket) does not know."""
    from inbox.domain.ticket_filter import NONE, TicketFilter, split_values
    from inbox.store import ticket_search

    def checked(option: str, given: list[str] | None, allowed: Sequence[str], column: str | None = None,
                lower: bool = False) -> tuple[Any, ...]:
        values = tuple(v.lower() for v in split_values(given)) if lower else split_values(given)
        unknown = [v for v in values if v not in allowed and not (v == NONE and column is not None)]
        if unknown and column is not None:  # a value some ticket holds, though the config no longer names it
            held = ticket_search.known(reader, column)
            unknown = [v for v in unknown if v not in held]
        if unknown:
            raise UsageError(f"{option}: {unknown[0]!r} is not one of {_choices(allowed, column is not None)}")
        return tuple(None if v == NONE and column is not None else v for v in values)

    if args.since is not None and args.until is not None and args.since >= args.until:
        raise UsageError(f"--since: {args.since.isoformat()} is not before --until {args.until.isoformat()}")
    return TicketFilter(
        customers=checked("--customer", args.customer, [c.id for c in settings.customers], "customer_id"),
        assignees=checked("--assignee", args.assignee, _assignees(settings), "assignee", lower=True),
        categories=checked("--category", args.category, _categories(settings), "category"),
        statuses=checked("--status", args.status, [s.value for s in Status]),
        severities=checked("--severity", args.severity, settings.severities),
        open_only=args.open, breached=args.breached, due_before=args.due_before, since=args.since,
        until=args.until, search=args.search)


def _choices(allowed: Sequence[str], none: bool) -> str:
    from inbox.domain.ticket_filter import NONE

    names = list(allowed)[:12] + ([f"... ({len(allowed) - 12} more)"] if len(allowed) > 12 else [])
    return ", ".join(names + ([NONE] if none else [])) or NONE


def _assignees(settings: Settings) -> list[str]:
    teams = [a for plan in settings.plans.values() for rule in plan.assignment for a in rule.team]
    return list(dict.fromkeys([*settings.agents, *teams]))


def _categories(settings: Settings) -> list[str]:
    """The categories the config can give: its rules' and its assignment rules'."""
    found = [rule.category for rule in settings.rule_set.rules if rule.category]
    found += [r.when.category for plan in settings.plans.values() for r in plan.assignment if r.when and r.when.category]
    return list(dict.fromkeys(found))


def plan_zones(settings: Settings) -> dict[str | None, tzinfo]:
    """Each plan's calendar time zone: the one its tickets' times are shown in (else UTC)."""
    from zoneinfo import ZoneInfo

    return {name: ZoneInfo(settings.calendars[plan.calendar].timezone) for name, plan in settings.plans.items()}


def _write_json(batches: Iterable[list[bytes]]) -> int:
    """The tickets as one JSON list, each batch of the database's UTF-8 JSON objects written as it
    comes, as bytes (stdout's text layer flushed first, so nothing written before is overtaken); how
    many there were."""
    out, shown = sys.stdout, 0
    out.flush()
    raw = getattr(out, "buffer", None)  # a text-only stdout (a caller's StringIO) gets the text decoded
    write = raw.write if raw is not None else (lambda data: out.write(data.decode("utf-8")))
    write(b"[")
    for batch in batches:
        write((b"," if shown else b"") + b",".join(batch))
        shown += len(batch)
    write(b"]\n")
    if raw is not None:
        raw.flush()
    return shown


def _write_table(found: Iterable[Any], zones: dict[str | None, tzinfo]) -> int:
    from datetime import timezone

    from inbox.local_times import local
    from inbox.present import printable
    from inbox.store.ticket_search import iso_utc

    header = ("TRACKING", "SEVERITY", "STATUS", "CUSTOMER", "ASSIGNEE", "OPENED", "SUBJECT")
    rows = [(tracking, severity, status, customer or "-", assignee or "-",
             local(iso_utc(created), zones.get(plan, timezone.utc)), printable(subject)[:60])
            for tracking, subject, customer, severity, status, assignee, created, _flags, plan, _category in found]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)) + "  " + r[-1])
    return len(rows)


def tickets_show(app: DirectReader, args: argparse.Namespace) -> int:
    import json
    from datetime import timezone

    from inbox.present import ticket_detail, ticket_text
    from inbox.store import ticket_view

    view = ticket_view.read(app.reader, args.tracking)
    if view is None:
        raise Failure(ErrorKind.NOT_FOUND, f"no ticket {args.tracking}", 1)
    detail = ticket_detail(view.ticket, view.messages, view.events, view.links, suppressed=view.suppressed,  # type: ignore[arg-type]
                           outbox=view.outbox, attachments=view.attachments)
    zone = plan_zones(app.settings).get(detail["plan"], timezone.utc)
    print(json.dumps(detail) if args.json else ticket_text(detail, zone))
    return 0


def tickets_attachment(app: App, args: argparse.Namespace) -> int:
    """Write attachment N of a ticket to --out, or to its safe name in the current directory."""
    import json

    from inbox.attachment_out import FileExists, file_name, write
    from inbox.ingest.attachment_bytes import find
    from inbox.store import rawqueue
    from inbox.store import tickets as store

    if args.out is not None and str(args.out) == "-" and args.json:
        raise UsageError("--out -: the attachment's bytes would be mixed with the --json document")
    with app.sessions() as session:
        ticket = store.ticket_by_tracking(session, args.tracking)
        if ticket is None:
            raise Failure(ErrorKind.NOT_FOUND, f"no ticket {args.tracking}", 1)
        messages = store.messages_of(session, ticket.id)
        raw_of = {m.id: m.raw_id for m in messages}
        files = sorted(store.attachments_of(session, list(raw_of)),
                       key=lambda a: (list(raw_of).index(a.message_id), a.id))
        if args.number > len(files):
            have = f"has {len(files)}" if files else "has none"
            raise Failure(ErrorKind.NOT_FOUND, f"{ticket.tracking} has no attachment {args.number} (it {have})", 1)
        chosen = files[args.number - 1]
        raw_id = raw_of[chosen.message_id]
        raw = rawqueue.data_of(session, raw_id) if raw_id is not None else None
    data = find(raw, chosen.sha256) if raw is not None else None
    if data is None:
        raise Failure(ErrorKind.NOT_FOUND, f"{ticket.tracking} attachment {args.number}: its bytes are not in the "
                                           "stored mail", 1)
    if args.out is not None and str(args.out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    path = args.out if args.out is not None else Path.cwd() / file_name(chosen.filename, args.number)
    try:
        write(path, data, replace=args.force)
    except FileExists:
        raise Failure(ErrorKind.USAGE, f"{path} exists: give --force to replace it, or --out another file", 2) from None
    except OSError as exc:
        raise Failure(ErrorKind.USAGE, f"cannot write {path}: {exc.strerror or exc}", 1) from None
    print(f"wrote {path} ({len(data):,} bytes)", file=sys.stderr)
    if args.json:
        print(json.dumps({"file": str(path), "name": chosen.filename, "type": chosen.content_type, "size": len(data),
                          "sha256": chosen.sha256}))
    return 0
