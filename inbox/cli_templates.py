"""`inbox templates export | import | history | rollback | import-from-disk`: the template versions
from the command line, as the editor pages change them (autoresponder.versions).

Each handler imports what it needs when it runs: `import inbox.cli` stays light. Only this module
and inbox.cli write to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inbox.cli_args import ErrorKind, Failure, UsageError

if TYPE_CHECKING:
    from inbox.app import App


def export(app: App, args: argparse.Namespace) -> int:
    from autoresponder.template_disk import export

    written = export(app.template_versions(), args.dir)
    print(f"{args.dir}: {len(written)} templates written", file=sys.stderr)
    if args.json:
        print(json.dumps({"dir": str(args.dir), "files": written}))
    return 0


def import_(app: App, args: argparse.Namespace) -> int:
    from autoresponder.template_disk import import_folder

    if not args.dir.is_dir():
        raise UsageError(f"{args.dir}: not a directory")
    applied = import_folder(app.template_versions(), args.dir, author=args.author, message=args.message)
    _refuse_problems(applied.problems, f"{args.dir}: nothing imported")
    for version in applied.versions:
        print(f"{version.path}: version {version.version}", file=sys.stderr)
    print(f"{args.dir}: {len(applied.versions)} templates imported", file=sys.stderr)
    if args.json:
        print(json.dumps({"imported": [_version_json(v) for v in applied.versions]}))
    return 0


def history(app: App, args: argparse.Namespace) -> int:
    from autoresponder.render import KINDS

    if args.kind is not None and args.kind not in KINDS:
        raise UsageError(f"no template kind {args.kind!r} (known: {', '.join(KINDS)})")
    versions = app.template_versions().audit(args.kind)
    if args.json:
        print(json.dumps({"versions": [_version_json(v) for v in versions]}))
        return 0
    for v in versions:
        print(f"{v.at.isoformat()}  {v.path}  v{v.version}  {v.origin}  {v.author}" + (f"  {v.message}" if v.message else ""))
    return 0


def rollback(app: App, args: argparse.Namespace) -> int:
    outcome = app.template_versions().rollback(args.path, args.version, author=args.author)
    _refuse_problems(outcome.problems, f"{args.path}: not rolled back")
    assert outcome.version is not None
    print(f"{args.path}: version {args.version} is current again, as version {outcome.version.version}",
          file=sys.stderr)
    if args.json:
        print(json.dumps(_version_json(outcome.version)))
    return 0


def import_from_disk(app: App, args: argparse.Namespace) -> int:
    from autoresponder.template_disk import import_from_disk

    directory = app.settings.templates.dir
    imported = import_from_disk(app.template_versions(), directory)
    for version in imported.versions:
        print(f"{version.path}: version {version.version}", file=sys.stderr)
    _refuse_problems(imported.problems, f"{directory}: {len(imported.versions)} imported, some left out")
    print(f"{directory}: {len(imported.versions)} templates imported", file=sys.stderr)
    if args.json:
        print(json.dumps({"imported": [_version_json(v) for v in imported.versions]}))
    return 0


def _refuse_problems(problems: Sequence[Any], message: str) -> None:
    """Exit 1 with one `file[:line]: reason` line per problem (on stderr, and in --json)."""
    if problems:
        lines = [f"{p.file}:{p.line}: {p.reason}" if p.line else f"{p.file}: {p.reason}" for p in problems]
        raise Failure(ErrorKind.TEMPLATES, message, 1, problems=lines, lines=lines,
                      extra={"ok": False, "problems": lines})


def _version_json(v: Any) -> dict[str, Any]:
    return {"path": v.path, "version": v.version, "author": v.author, "at": v.at.isoformat(), "origin": v.origin,
            "message": v.message}
