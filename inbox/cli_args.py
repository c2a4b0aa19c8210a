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

    ticket_cmds = commands.add_parser("tickets", parents=[common], help="look at and change tickets")
    actions = ticket_cmds.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common])
    listing.add_argument("--status")
    listing.add_argument("--severity")
    show = actions.add_parser("show", parents=[common])
    show.add_argument("tracking")
    change = actions.add_parser("set", parents=[common])
    change.add_argument("tracking")
    change.add_argument("--status", choices=[s.value for s in Status])
    change.add_argument("--severity")
    change.add_argument("--by", default="cli")
    change.add_argument("--note")
    change.add_argument("--workaround", action="store_true", help="a temporary resolution was given")
    change.add_argument("--assign", metavar="ADDR", help="give the ticket to this engineer (one of agents:)")

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


def _roles(text: str) -> frozenset[Role]:
    try:
        return parse_roles(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
