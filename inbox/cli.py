"""The `inbox` command: parse arguments, load the config, call the app, print results.

Exit status 0 on success, 2 on a usage or config error (one line on stderr
naming file, key path and problem), 1 when the work itself failed.
Logs go to stderr; with --json stdout holds one JSON document and nothing else, a failure
included: {"error": {"kind", "message", "problems"}}, while the same lines as without
--json still go to stderr. Only this module writes to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Sequence

from inbox import cli_mailbox, cli_templates, logs
from inbox.cli_args import ErrorKind, Failure, UsageError, grammar
from inbox.cli_tickets import DIRECT_READERS, DirectReader, direct_reader, tickets_attachment, tickets_list, tickets_show
from inbox.clock import TEST_CLOCK_ENV, Clock, FixedClock, RunningClock, SystemClock, parse_instant
from inbox.heap import pace_collector

if TYPE_CHECKING:
    from inbox.app import App
    from inbox.settings import ConfigError, Settings

# Each command imports what it needs in its own function: `inbox --help` loads no more than the
# grammar, `tickets list` no ingest pipeline, Alembic, templates or backup code (a test holds
# `import inbox.cli` to that). Importing the whole service cost every command about 2 s of CPU.

DEFAULT_CONFIG = "config/inbox.yaml"
log = logging.getLogger(__name__)


def _config_failure(exc: ConfigError) -> Failure:
    more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
    return Failure(ErrorKind.CONFIG, f"{exc.problems[0]}{more}" if exc.problems else str(exc), 2,
                   problems=exc.problems, lines=exc.problems)


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Run one command line (default: this process's arguments) and return its exit status.

    `clock` is the time of a command given no --as-of or --received-at: a caller in this process
    hands one in (a test, a frozen instant); without it the time is the system's, or, for a process
    a test started, $INBOX_TEST_CLOCK's (see `_clock`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    # Every command imports a few hundred modules before it works (and `ingest`, `serve` go on to
    # storms of their own): at CPython's default pace the collector ran through them over and
    # over (`tickets list --json` of 100,000 tickets: 7 % of its time, farm-bench pairs).
    pace_collector()
    # `serve` shows operators each mail accepted, opened and sent; a one-off command only what
    # went wrong. $INBOX_LOG_LEVEL and $INBOX_LOG_FORMAT override either.
    logs.configure(default_level="INFO" if _command(argv) == "serve" else "WARNING")
    as_json = "--json" in argv  # argparse's own errors come before there is a namespace to ask
    try:
        args = grammar().parse_args(argv)
        as_json = args.json = getattr(args, "json", False)
        return _run(args, clock)
    except Failure as failure:
        for line in failure.lines:
            print(line, file=sys.stderr)
        if as_json:
            print(json.dumps(failure.document()))
        return failure.status
    except BrokenPipeError:
        # The reader went away (`inbox tickets list | head`): what it wanted was written. Nothing
        # more may reach the closed pipe, not even the interpreter's flush at exit; 141 is what a
        # shell reports for a command SIGPIPE ended (128 + 13), as for any other tool.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        # Ctrl-C before `serve` listens for it (or during any other command): one line, not a
        # traceback. 130 is what a shell reports for a command SIGINT ended (128 + 2).
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        if as_json:  # still one document on stdout; the traceback follows on stderr
            print(json.dumps(Failure(ErrorKind.INTERNAL, "unexpected error: the traceback is on stderr", 1).document()))
        raise


def _command(argv: Sequence[str]) -> str | None:
    """The command word of a command line, before argparse has read it."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _run(args: argparse.Namespace, given: Clock | None) -> int:
    from inbox.settings import ConfigError, database_url, load_settings
    from inbox.store.reader import ReadError

    config = getattr(args, "config", None) or os.environ.get("INBOX_CONFIG") or DEFAULT_CONFIG
    command = (args.command, getattr(args, "action", None))
    handler = _HANDLERS[command]
    clock = _clock(getattr(args, "received_at", None) or getattr(args, "as_of", None), given)
    try:
        # Listing and showing read stored due times: they never ask the holidays package for a date.
        settings = load_settings(config, holiday_names=command not in DIRECT_READERS)
        if command in READ_ONLY:
            _refuse_missing_database(config, settings, database_url(settings))
        app = direct_reader(settings) if command in DIRECT_READERS else _build_app(settings, clock)
    except ConfigError as exc:
        raise _config_failure(exc) from exc
    except ReadError as exc:
        raise Failure(ErrorKind.DATABASE, f"database error: {exc}", 1) from exc
    # A reader's errors are the driver's, wrapped (`ReadError`); the app's are SQLAlchemy's, whose
    # import a reader never pays.
    errors: tuple[type[Exception], ...] = (ReadError,) if command in DIRECT_READERS else _app_errors()
    try:
        # backup must work on an old schema (before an upgrade), restore on an empty database.
        # mailbox commands speak only to the mail server and the identity provider.
        if args.command not in ("db", "backup", "restore", "mailbox") and not _is_current(app):
            key = "database.url_env" if settings.database.url_env else "database.url"
            line = f"{config}: {key}: the schema is not up to date: run `inbox db upgrade`"
            raise Failure(ErrorKind.DATABASE, line, 2, lines=[line])
        return handler(app, args)
    except ConfigError as exc:
        raise _config_failure(exc) from exc
    except UsageError as exc:
        raise Failure(ErrorKind.USAGE, str(exc), 2) from exc
    except errors as exc:
        raise Failure(ErrorKind.DATABASE, f"database error: {_first_line(exc)}", 1) from exc
    finally:
        app.close()


def _app_errors() -> tuple[type[Exception], ...]:
    from sqlalchemy.exc import OperationalError

    return (OperationalError,)


def _is_current(app: App | DirectReader) -> bool:
    if isinstance(app, DirectReader):
        return app.is_current()
    from inbox.store import migrate

    return migrate.is_current(app.engine)


def _first_line(exc: Exception) -> str:
    """The database's own words: SQLAlchemy's wrapper names the driver's error as `orig`."""
    lines = str(getattr(exc, "orig", None) or exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _build_app(settings: Settings, clock: Clock) -> App:
    from inbox.app import build_app

    return build_app(settings, clock)  # reads database.url_env


def _refuse_missing_database(config: str, settings: Settings, url: str) -> None:
    """A read-only command on a SQLite file that is not there stops with one line, instead of
    creating an empty database (and its folder) to find no schema in."""
    from inbox.store.urls import sqlite_file

    path = sqlite_file(url)
    if path is not None and not path.exists():
        key = "database.url_env" if settings.database.url_env else "database.url"
        line = f"{config}: {key}: no database at {path}: run `inbox db upgrade` to create it"
        raise Failure(ErrorKind.DATABASE, line, 2, lines=[line])


def _clock(instant: datetime | None, given: Clock | None) -> Clock:
    """The command's clock: frozen at --as-of/--received-at, else the one `main`'s caller handed in,
    else the system's, unless a test set $INBOX_TEST_CLOCK to start this process's clock at an
    instant of its choosing (the same injection, across a process boundary)."""
    if instant is not None:
        return FixedClock(instant)
    if given is not None:
        return given
    start = os.environ.get(TEST_CLOCK_ENV)
    if not start:
        return SystemClock()
    try:
        at = parse_instant(start)
    except ValueError as exc:
        raise Failure(ErrorKind.USAGE, f"${TEST_CLOCK_ENV}: {start!r} is not an ISO 8601 instant with an offset", 2
                      ) from exc
    log.warning("$%s is set: this process's clock starts at %s (for tests; never set it in production)",
                TEST_CLOCK_ENV, at.isoformat())
    return RunningClock(at)


def _db_upgrade(app: App, args: argparse.Namespace) -> int:
    from inbox.store import migrate

    done = migrate.upgrade(app.durable_engine)
    print(done, file=sys.stderr)
    if args.json:
        what = {"current": "up to date"}.get(done.what, done.what)
        print(json.dumps({"schema": what, "from": done.before, "revision": done.after or _head_revision()}))
    return 0


def _head_revision() -> str | None:
    """The newest migration's revision id, read from the migration scripts the way migrate.is_current does."""
    from inbox.store import migrate

    heads = sorted(migrate.head_revisions())
    return heads[0] if len(heads) == 1 else None


def _ingest(app: App, args: argparse.Namespace) -> int:
    from inbox.app import parser_processes
    from inbox.importing import import_files

    missing = [str(p) for p in args.files if not p.exists()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    counts = import_files(app.rawstore, app.sessions, lambda n: app.worker(parse_processes=n), args.files,
                          now=app.clock.now(), received_at=args.received_at, retry_failed=args.retry_failed,
                          processes=parser_processes(os.cpu_count()))
    if args.json:
        print(json.dumps(counts))
    else:
        for name, n in counts.items():
            print(f"{name:<10} {n}")
    return 0


def _tickets_set(app: App, args: argparse.Namespace) -> int:
    from inbox import tickets
    from inbox.domain.ticket import Status
    from inbox.present import ticket_row
    from inbox.store import tickets as store

    if args.severity is not None and args.severity not in app.settings.severities:
        raise UsageError(f"--severity: {args.severity!r} is not one of {', '.join(app.settings.severities)}")
    if args.assign is not None and not app.settings.is_agent(args.assign):
        raise UsageError(f"--assign: {args.assign!r} is not one of the engineers (agents:) in the config")
    desk, at = app.desk(), app.clock.now()
    with app.sessions() as session, session.begin():
        ticket = store.ticket_by_tracking(session, args.tracking)
        if ticket is None:
            raise Failure(ErrorKind.NOT_FOUND, f"no ticket {args.tracking}", 1)
        kinds: list[str] = []
        if args.severity and tickets.set_severity(session, desk, ticket, args.severity, at, args.by, args.note):
            kinds.append("severity_changed")
        if args.status and tickets.set_status(session, desk, ticket, Status(args.status), at, args.by, args.note):
            kinds.append("status_changed")
        if args.workaround and tickets.set_workaround(session, desk, ticket, at, args.by):
            kinds.append("workaround")
        if args.assign and tickets.set_assignee(session, desk, ticket, args.assign.lower(), at, args.by):
            kinds.append("assigned")
        if args.note and not kinds:
            tickets.add_note(session, ticket.id, args.note, at, args.by)
            kinds.append("note")
        row = ticket_row(ticket)
    print(json.dumps({**row, "events": kinds}) if args.json else f"{row['tracking']}: {', '.join(kinds) or 'no change'}")
    return 0


def _jobs_run_once(app: App, args: argparse.Namespace) -> int:
    done = app.outbound().run_once(app.clock.now())
    counts = {name: done.get(name, 0) for name in ("warn", "breach", "status_update", "auto_solve", "auto_close",
                                                    "digests", "digested", "sent", "retry", "dead", "skipped",
                                                    "deferred", "waiting", "left")}
    if args.json:
        print(json.dumps(counts))
    else:
        for name, n in counts.items():
            print(f"{name:<14} {n}")
    return 0


def _report_sla(app: App, args: argparse.Namespace) -> int:
    from inbox.sla_report import month_bounds, report_table, sla_report
    from inbox.store import report_rows

    now = app.clock.now()
    month = args.month or f"{now:%Y-%m}"
    try:
        start, end = month_bounds(month)
    except ValueError as exc:
        raise UsageError(f"--month: {exc}") from exc
    contracts = app.desk().contracts
    with app.sessions() as session:
        rows = report_rows.month_tickets(session, start, end)
        breaches = report_rows.breached_targets(session, [r["id"] for r in rows])
    document = sla_report(rows, breaches, now, month,
                          has_update=lambda plan, severity: "update" in contracts.policy(plan, severity).targets)
    print(json.dumps(document) if args.json else report_table(document))
    return 0


def _templates_check(app: App, args: argparse.Namespace) -> int:
    problems, directory = app.check_templates(), app.settings.templates.dir
    if problems:
        many = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        raise Failure(ErrorKind.TEMPLATES, f"{directory}: {many} in the templates", 1, problems=problems,
                      lines=problems, extra={"ok": False, "problems": problems})
    print(f"{directory}: every template renders", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": True, "problems": []}))
    return 0


def _templates_preview(app: App, args: argparse.Namespace) -> int:
    from autoresponder.render import TemplateError

    try:
        email = app.preview(args.name, args.ticket, args.customer)
    except LookupError as exc:  # an unknown template, ticket or customer: exit 2, as for any bad argument
        raise Failure(ErrorKind.NOT_FOUND, str(exc), 2) from exc
    except TemplateError as exc:
        raise Failure(ErrorKind.TEMPLATES, str(exc), 1, problems=[str(exc)]) from exc
    print(json.dumps(email.as_json()) if args.json else email.as_text().rstrip("\n"))
    return 0


def _serve(app: App, args: argparse.Namespace) -> int:
    from inbox import processes

    # Runs until stopped; prints nothing on stdout, so --json only shapes a failure.
    status = processes.serve(app, args.roles, split=not args.one_process)
    if status:
        raise Failure(ErrorKind.SERVE, "the service could not start: the reason is on stderr", status, lines=[])
    return status


def _backup(app: App, args: argparse.Namespace) -> int:
    from inbox.store import backup as backups

    policy = backups.Policy(**app.settings.backup.model_dump())
    try:
        done = backups.backup(app.durable_engine, args.to, app.clock.now(), policy)
    except backups.BackupError as exc:
        raise Failure(ErrorKind.DATABASE, f"backup failed: {exc}", 1) from exc
    print(f"{done.bytes} bytes; {len(done.kept)} backups kept, {len(done.deleted)} deleted", file=sys.stderr)
    print(json.dumps({"file": str(done.path), "bytes": done.bytes, "kept": [str(p) for p in done.kept],
                      "deleted": [str(p) for p in done.deleted]}) if args.json else done.path)
    return 0


def _restore(app: App, args: argparse.Namespace) -> int:
    from inbox.store import backup as backups

    try:
        done = backups.restore(app.durable_engine, args.file, replace=args.replace)
    except backups.RestoreRefused as exc:
        raise UsageError(f"restore refused: {exc}") from exc
    except backups.BackupError as exc:
        raise Failure(ErrorKind.DATABASE, f"restore failed: {exc}", 1) from exc
    counts = {"tickets": done.tickets, "messages": done.messages, "events": done.events}
    old = f"; its schema ({done.revision}) is older: run `inbox db upgrade`" if done.upgrade_needed else ""
    print(f"restored {done.path}: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + old, file=sys.stderr)
    if args.json:
        print(json.dumps({"restored": str(done.path), **counts, "upgrade_needed": done.upgrade_needed}))
    return 0


# Commands that only read: on a SQLite file that does not exist they stop rather than create it.
READ_ONLY = frozenset({("tickets", "list"), ("tickets", "show"), ("tickets", "attachment"), ("report", "sla"),
                       ("templates", "preview"), ("templates", "export"), ("templates", "history")})

_HANDLERS: dict[tuple[str, str | None], Callable[[Any, argparse.Namespace], int]] = {
    ("db", "upgrade"): _db_upgrade,
    ("serve", None): _serve,
    ("ingest", None): _ingest,
    ("tickets", "list"): tickets_list,
    ("tickets", "show"): tickets_show,
    ("tickets", "attachment"): tickets_attachment,
    ("tickets", "set"): _tickets_set,
    ("jobs", "run-once"): _jobs_run_once,
    ("report", "sla"): _report_sla,
    ("templates", "check"): _templates_check,
    ("templates", "preview"): _templates_preview,
    ("templates", "export"): cli_templates.export,
    ("templates", "import"): cli_templates.import_,
    ("templates", "history"): cli_templates.history,
    ("templates", "rollback"): cli_templates.rollback,
    ("templates", "import-from-disk"): cli_templates.import_from_disk,
    ("backup", None): _backup,
    ("restore", None): _restore,
    ("mailbox", "authorize"): cli_mailbox.authorize,
    ("mailbox", "check"): cli_mailbox.check,
}
