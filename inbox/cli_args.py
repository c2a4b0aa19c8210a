"""The `inbox` command line's grammar and the failures a command reports.

`grammar()` is every command, its arguments and their help; a rejected command line raises
`Failure` (kind `usage`, exit 2) instead of exiting, so `--json` can report it as it reports
every other failure. `ErrorKind` is the `kind` of a --json error, a promise to scripts.
Imports nothing of the service: parsing a command line never loads the app.
"""

from __future__ import annotations

import argparse
import enum
from pathlib import Path
from typing import Any, NoReturn, Sequence

from inbox.clock import parse_instant
from inbox.domain.ticket import Status
from inbox.roles import ALL_ROLES, Role, parse_roles


TEXT_LIMIT = 50  # tickets a `tickets list` shows a person unless asked for more


class UsageError(Exception):
    """A bad argument: exit 2 with one line."""


class ErrorKind(enum.StrEnum):
    """What went wrong, for scripts: the `kind` of a --json error."""

    CONFIG = "config"  # the config file: fix it (exit 2)
    USAGE = "usage"  # the arguments (exit 2)
    NOT_FOUND = "not_found"  # a ticket or template that does not exist
    DATABASE = "database"  # unreachable, or a schema older than this code
    TEMPLATES = "templates"  # `templates check` found problems (exit 1)
    SERVE = "serve"  # `serve` could not start; the reason is on stderr (exit 1)
    MAILBOX = "mailbox"  # `mailbox check` could not log in or open the folder (exit 1)
    OAUTH = "oauth"  # `mailbox authorize`: the provider refused, or nobody signed in (exit 1)
    INTERNAL = "internal"  # a bug: the traceback is on stderr (exit 1)


class Failure(Exception):
    """A command that cannot do what was asked: its kind, one-line reason and exit status.

    `lines` are what a person reads on stderr (default "inbox: <message>"); `problems` every
    problem line, for config and templates; `extra` keys join the --json document.
    """

    def __init__(self, kind: ErrorKind, message: str, status: int, *, problems: Sequence[str] = (),
                 lines: Sequence[str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.status, self.problems = kind, message, status, list(problems)
        self.lines = [f"inbox: {message}"] if lines is None else list(lines)
        self.extra = extra or {}

    def document(self) -> dict[str, Any]:
        return {**self.extra, "error": {"kind": self.kind.value, "message": self.message, "problems": self.problems}}


class _Parser(argparse.ArgumentParser):
    """argparse, except that a rejected command line becomes a Failure, so --json can report it."""

    def error(self, message: str) -> NoReturn:
        # The same two stderr lines argparse prints (usage, then "prog: error: ..."), exit 2.
        usage = self.format_usage().rstrip("\n")
        raise Failure(ErrorKind.USAGE, message, 2, lines=[usage, f"{self.prog}: error: {message}"])


def grammar() -> argparse.ArgumentParser:
    """Every command, its arguments and their help."""
    # --config and --json are accepted before or after the command: the subparsers repeat them
    # with SUPPRESS so a value given before is not reset to the default by a subparser.
    common = _Parser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="config file (default $INBOX_CONFIG or config/inbox.yaml)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document on stdout (errors too)")
    parser = _Parser(prog="inbox", parents=[common], description="A support inbox.")
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", parents=[common], help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", parents=[common], help="create or migrate the schema")

    serve = commands.add_parser("serve", parents=[common], help="run the SMTP listener, IMAP pollers, ingest and sender")
    serve.add_argument("--roles", type=_roles, default=ALL_ROLES, metavar="ROLE,...",
                       help="run only these of receive (listener, pollers), ingest and send (sweep, outbox); "
                            "default all three")
    serve.add_argument("--one-process", action="store_true",
                       help="run every role in this process (default: each but receive in a process of its own)")

    ingest = commands.add_parser("ingest", parents=[common], help="feed mail files through the pipeline")
    ingest.add_argument("files", nargs="*", type=Path, help=".eml files, mbox files or maildir folders")
    ingest.add_argument("--received-at", type=_instant, help="treat the mail as received at this ISO 8601 instant")
    ingest.add_argument("--retry-failed", action="store_true", help="try failed messages again")

    _tickets(commands, common)

    jobs = commands.add_parser("jobs", parents=[common], help="scheduled jobs").add_subparsers(dest="action", required=True)
    once = jobs.add_parser("run-once", parents=[common], help="run every scheduled job once, the outbox last")
    once.add_argument("--as-of", type=_instant, help="run as if the clock read this ISO 8601 instant")

    report = commands.add_parser("report", parents=[common], help="reports").add_subparsers(dest="action", required=True)
    sla = report.add_parser("sla", parents=[common], help="SLA targets met and breached for a month")
    sla.add_argument("--month", help="YYYY-MM (default: this month)")
    sla.add_argument("--as-of", type=_instant, help="judge pending targets as of this instant")

    templates = commands.add_parser("templates", parents=[common], help="email templates").add_subparsers(
        dest="action", required=True)
    templates.add_parser("check", parents=[common], help="render every template against sample data")
    preview = templates.add_parser("preview", parents=[common], help="print the email a template would send")
    preview.add_argument("name")
    preview.add_argument("--ticket", help="a tracking number whose data to use instead of the sample")
    preview.add_argument("--customer", help="a customer id whose overrides (and plan's) to use")
    export = templates.add_parser("export", parents=[common], help="write the current versions as template files")
    export.add_argument("dir", type=Path, metavar="DIR")
    load = templates.add_parser("import", parents=[common],
                                help="check a folder of template files, then store all of them as versions, or none")
    load.add_argument("dir", type=Path, metavar="DIR")
    load.add_argument("--message", required=True, help="why: shown in the history")
    load.add_argument("--author", default="cli")
    history = templates.add_parser("history", parents=[common], help="every save, rollback, reset and import")
    history.add_argument("kind", nargs="?", metavar="KIND", help="only this kind's files")
    rollback = templates.add_parser("rollback", parents=[common], help="make an old version current again")
    rollback.add_argument("path", metavar="PATH", help="e.g. acknowledgement/subject.txt.j2")
    rollback.add_argument("version", type=int, metavar="VERSION")
    rollback.add_argument("--author", default="cli")
    templates.add_parser("import-from-disk", parents=[common],
                         help="store the template files edited on disk (unlike the shipped ones) as versions")

    boxes = commands.add_parser("mailbox", parents=[common], help="IMAP mailboxes (and the relay's OAuth login)"
                                ).add_subparsers(dest="action", required=True)
    authorize = boxes.add_parser("authorize", parents=[common],
                                 help="consent once (OAuth device code): store the refresh token the config names")
    authorize.add_argument("name", help="a mailbox's name, or outbound for the relay")
    check = boxes.add_parser("check", parents=[common],
                             help="log in, open the folder read-only, report folders, messages and token expiry")
    check.add_argument("name", help="a mailbox's name")

    backup = commands.add_parser("backup", parents=[common], help="write a consistent backup, then apply retention")
    backup.add_argument("--to", required=True, type=Path, metavar="DIR", help="the backup directory (made if missing)")
    restore = commands.add_parser("restore", parents=[common], help="load a backup into the configured database")
    restore.add_argument("file", type=Path, metavar="FILE", help="an inbox-*.sqlite3 or inbox-*.pgdump file")
    restore.add_argument("--replace", action="store_true", help="overwrite a database that already holds mail")
    return parser


def _tickets(commands: Any, common: argparse.ArgumentParser) -> None:
    tickets = commands.add_parser("tickets", parents=[common], help="find, read and change tickets",
                                  description="Find, read and change tickets.")
    actions = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help="the tickets that match every filter given, with their total",
        description="The tickets that match every filter given. Each filter taking values takes several, "
                    "repeated or comma-separated (--status open,pending), and matches any of them. "
                    "The total of matches goes to stderr (\"showing 50 of 1,234 tickets\").")
    many = {"action": "append", "metavar": "VALUE"}
    listing.add_argument("--customer", **many, help="customer ids of the config; none: no customer")
    listing.add_argument("--assignee", **many, help="engineers' addresses; none: not assigned")
    listing.add_argument("--category", **many, help="categories of the config's rules or of some ticket; "
                                                    "none: no category")
    listing.add_argument("--status", **many, help=f"statuses: {', '.join(s.value for s in Status)}")
    listing.add_argument("--severity", **many, help="severities of the config")
    listing.add_argument("--open", action="store_true", help="only tickets neither solved nor closed")
    listing.add_argument("--breached", action="store_true", help="only tickets that missed an SLA target")
    listing.add_argument("--due-before", type=_instant, metavar="ISO8601",
                         help="only open tickets with a target still pending that falls due before this instant")
    listing.add_argument("--since", type=_instant, metavar="ISO8601", help="only tickets opened at or after this instant")
    listing.add_argument("--until", type=_instant, metavar="ISO8601", help="only tickets opened before this instant")
    listing.add_argument("--search", metavar="TEXT",
                         help="only tickets with every word of TEXT in their subject or in one of their messages "
                              "(plain words: quotes and operators are ignored; a TEXT starting with - is written "
                              "--search=-TEXT)")
    listing.add_argument("--limit", type=_limit, metavar="N",
                         help=f"show at most N tickets; 0: all (default {TEXT_LIMIT} in text, all with --json)")
    listing.add_argument("--order", type=_sorting, metavar="ORDER",
                         help="opened (the default), updated, severity (most severe first) or due (the earliest "
                              "pending target first); a leading - reverses it: --order=-opened is newest first")
    show = actions.add_parser("show", parents=[common], help="one ticket: fields, due times, messages, attachments, "
                                                             "outbox and events",
                              description="One ticket. Times are in the ticket's calendar time zone (UTC in --json).")
    show.add_argument("tracking", help="the tracking number, such as SUP-000123 (any case)")
    attachment = actions.add_parser(
        "attachment", parents=[common], help="write one attachment of a ticket to a file",
        description="Write attachment N of a ticket (numbered as `tickets show` lists them) to --out, or to a "
                    "file in the current directory named after the attachment, made safe. "
                    "An existing file is never overwritten without --force.")
    attachment.add_argument("tracking", help="the tracking number, such as SUP-000123")
    attachment.add_argument("number", type=_positive, metavar="N", help="the attachment's number in `tickets show`")
    attachment.add_argument("--out", type=Path, metavar="FILE", help="the file to write (- for stdout)")
    attachment.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    change = actions.add_parser("set", parents=[common], help="change a ticket by hand (recorded as events)",
                                description="Change a ticket by hand; every change is recorded as an event.")
    change.add_argument("tracking", help="the tracking number, such as SUP-000123")
    change.add_argument("--status", choices=[s.value for s in Status], help="the new status")
    change.add_argument("--severity", help="the new severity (one of the config's)")
    change.add_argument("--by", default="cli", metavar="ADDR", help="who made the change (default: cli)")
    change.add_argument("--note", help="why: kept on the change's event, or as a note of its own")
    change.add_argument("--workaround", action="store_true", help="a temporary resolution was given")
    change.add_argument("--assign", metavar="ADDR", help="give the ticket to this engineer (one of agents:)")


class _Version(argparse.Action):
    """`--version`: the version of the installed package, read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> NoReturn:
        print(f"inbox {installed_version()}")
        parser.exit()


def installed_version() -> str:
    """The version in the installed package's metadata ("unknown" when run from a tree never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inbox")
    except PackageNotFoundError:
        return "unknown"


def _instant(text: str) -> Any:
    # One line a person can act on; Python's own words ("Invalid isoformat string") say nothing more.
    try:
        return parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 instant with an offset, such as 2026-03-04T17:00:00Z") from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of 1 or more")
    return int(text)


def _sorting(text: str) -> Any:
    # Here, not at the top: `inbox --help` need not load dataclasses (and inspect, ast, dis).
    from inbox.domain.ticket_filter import Sorting

    try:
        return Sorting.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _roles(text: str) -> frozenset[Role]:
    try:
        return parse_roles(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
