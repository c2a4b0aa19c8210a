"""Backups of the database into files, their retention, and the restore from one.

`backup` writes a consistent copy while the service runs: SQLite through its online backup API,
PostgreSQL through `pg_dump --format=custom` (one snapshot). The copy is written to a temporary
file in the same directory, fsynced and renamed, so a backup name only ever holds a whole
backup. It then deletes the backups of that kind which `retention.decide` lets go.
`restore` loads such a file into the configured database, refusing a file of the other kind,
an unknown schema revision, or a database that already holds mail unless told to replace it.

It never touches a file in the backup directory whose name is not exactly a backup name of the
kind it wrote (or, a day old, the temporary file of a backup killed mid-write), never leaves a
partial file under a backup name, never puts the database
password on a command line (PGPASSWORD in the tool's environment), and never migrates: a
restored older schema is reported, and `inbox db upgrade` brings it up to date.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine, inspect, text

from inbox.store import migrate
from inbox.store.retention import Policy, decide
from inbox.store.tables import Base
from inbox.store.write_lock import BUSY_TIMEOUT_MS

SQLITE, PGDUMP = "sqlite3", "pgdump"  # backup kinds, named by their file suffix
NAME = re.compile(r"inbox-(\d{8}T\d{6}Z)\.(sqlite3|pgdump)")
STAMP = "%Y%m%dT%H%M%SZ"
PART = re.compile(r"\.inbox-\d{8}T\d{6}Z\.(sqlite3|pgdump)\..+\.part")
STALE_PART_SECONDS = 24 * 3600  # no backup writes for a day: such a part is a killed backup's
MAGIC = {SQLITE: b"SQLite format 3\x00", PGDUMP: b"PGDMP"}
DIALECT = {SQLITE: "SQLite", PGDUMP: "PostgreSQL"}
# A backup is refused, or restored with --replace, when the target holds any of these.
MAIL_TABLES = ("tickets", "raw_messages")
_COPY_REVISION = re.compile(r"COPY \S*alembic_version \(version_num\) FROM stdin;\n(\S+)\n")


class BackupError(Exception):
    """The work failed (a tool missing or failing, a full disk); one line saying why."""


class RestoreRefused(Exception):
    """Restoring as asked would be wrong or lose data; nothing was changed."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    kept: list[Path] = field(default_factory=list)  # every backup of this kind left, oldest first
    deleted: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    tickets: int
    messages: int  # ticket messages, in and out
    events: int
    revision: str
    upgrade_needed: bool  # the backup's schema is older than this code's: run `inbox db upgrade`


def backup(engine: Engine, directory: Path, now: datetime, policy: Policy = Policy()) -> BackupResult:
    """Write a backup of the engine's database into `directory` (made if missing), then apply retention."""
    kind = _kind_of_engine(engine)
    final = directory / f"inbox-{now.astimezone(timezone.utc):{STAMP}}.{kind}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if final.exists():  # two backups in one second: never overwrite the first
            raise BackupError(f"{final} already exists")
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{final.name}.", suffix=".part")
        os.close(fd)  # mode 0600: a backup holds every customer's mail
    except OSError as exc:
        raise BackupError(f"{directory}: {exc.strerror or exc}") from exc
    part = Path(name)
    try:
        if kind == SQLITE:
            _copy_sqlite(_sqlite_path(engine), part)
        else:
            conninfo, env = _libpq(engine)
            _tool("pg_dump", "--format=custom", "--no-owner", f"--file={part}", f"--dbname={conninfo}", env=env)
        _fsync(part)
        os.rename(part, final)
        _fsync(directory)
    except OSError as exc:
        raise BackupError(f"{final}: {exc.strerror or exc}") from exc
    finally:
        part.unlink(missing_ok=True)
    kept, deleted = prune(directory, kind, now, policy, spare=final)
    return BackupResult(final, final.stat().st_size, kept, deleted + _clear_stale_parts(directory, kind))


def _clear_stale_parts(directory: Path, kind: str) -> list[Path]:
    """Delete what backups killed mid-write (SIGKILL, a power cut) left: their temporary files, by
    wall-clock age, since one being written right now by another backup must stay."""
    stale = []
    for entry in directory.iterdir():
        match = PART.fullmatch(entry.name)
        try:
            if match and match[1] == kind and time.time() - entry.stat().st_mtime > STALE_PART_SECONDS:
                entry.unlink()
                stale.append(entry)
        except OSError:  # gone meanwhile, or not ours to delete: the next backup tries again
            continue
    return stale


def prune(directory: Path, kind: str, now: datetime, policy: Policy, *, spare: Path | None = None
          ) -> tuple[list[Path], list[Path]]:
    """Delete the `kind` backups in `directory` the policy lets go (never `spare`); (kept, deleted)."""
    found: dict[datetime, Path] = {}
    for entry in directory.iterdir():
        match = NAME.fullmatch(entry.name)
        if match and match[2] == kind and entry.is_file():
            try:
                found[datetime.strptime(match[1], STAMP).replace(tzinfo=timezone.utc)] = entry
            except ValueError:  # inbox-20261399T... is not a date, so not one of ours
                continue
    decision = decide(found, now, policy)
    kept = [found[stamp] for stamp in decision.keep]
    deleted = [found[stamp] for stamp in decision.delete if found[stamp] != spare]
    if spare in found.values() and spare not in kept:
        kept = sorted([*kept, spare])  # only a clock set back can get here: the file just made stays
    for path in deleted:
        path.unlink(missing_ok=True)
    if deleted:
        _fsync(directory)
    return kept, deleted


def restore(engine: Engine, file: Path, *, replace: bool = False) -> RestoreResult:
    """Load a backup file into the engine's database; see the module docstring for the refusals."""
    kind, want = _kind_of_file(file), _kind_of_engine(engine)
    if kind != want:
        raise RestoreRefused(f"{file} is a {DIALECT[kind]} backup and the database is {DIALECT[want]}: "
                             f"restore it into a {DIALECT[kind]} database")
    revision = _sqlite_revision(file) if kind == SQLITE else _pgdump_revision(file)
    upgrade_needed = _check_revision(file, revision)
    current, held = _target_state(engine)
    if held and not replace:
        counts = " and ".join(f"{n} {table.replace('_', ' ')}" for table, n in held.items())
        raise RestoreRefused(f"the database already holds {counts}: restoring would replace them "
                             "(give --replace to do so)")
    engine.dispose()  # pooled connections would keep reading the old pages
    if kind == SQLITE:
        _copy_sqlite(file, _sqlite_path(engine), to_backup=False)
    else:
        if current is not None and current != revision:
            # pg_restore --clean drops only what the dump holds: tables of another revision
            # would survive and break `db upgrade`. Dropping first is not atomic with the
            # restore, so only a database without mail may be dropped.
            if held:
                raise RestoreRefused(f"the database is at schema revision {current} and the backup at "
                                     f"{revision}: restore into an empty database instead")
            _drop_tables(engine)
        conninfo, env = _libpq(engine)
        _tool("pg_restore", "--no-owner", "--clean", "--if-exists", "--single-transaction",
              f"--dbname={conninfo}", str(file), env=env)
    engine.dispose()
    with engine.connect() as conn:
        tickets, messages, events = (conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                                     for table in ("tickets", "ticket_messages", "events"))
    return RestoreResult(file, tickets, messages, events, revision, upgrade_needed)


# -- SQLite ---------------------------------------------------------------------------------------


def _copy_sqlite(source: Path, target: Path, *, to_backup: bool = True) -> None:
    """Copy a whole SQLite database with the online backup API (either file may be in use)."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    # Never mode=rwc: a wrong path must fail, not create an empty database to copy.
    mode = "rw" if to_backup else "ro"
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        with closing(src), closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000)) as dst:
            # All pages in one step, so one read transaction: a snapshot. In WAL mode the service
            # keeps writing meanwhile; copying in steps would restart after each of its commits.
            src.backup(dst)
            if to_backup:
                # A backup file stays one file (no -wal beside it), and is checked once here.
                dst.execute("PRAGMA journal_mode=DELETE")
                verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise BackupError(f"the copy of {source} fails its integrity check: {verdict}")
    except sqlite3.Error as exc:
        raise BackupError(f"copying {source} to {target}: {exc}") from exc


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"the database {engine.url} is not a SQLite file")
    return Path(database)


def _sqlite_revision(file: Path) -> str | None:
    try:
        with closing(sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise RestoreRefused(f"{file} is damaged: {verdict}")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None  # no alembic_version: _check_revision says it is no inbox backup
    return row[0] if row else None


# -- PostgreSQL -----------------------------------------------------------------------------------


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """The connection string the PostgreSQL tools take, and their environment with the password."""
    url = engine.url
    options = {key: value if isinstance(value, str) else value[-1] for key, value in url.query.items()}
    conninfo = make_conninfo("", host=url.host, port=url.port, user=url.username, dbname=url.database, **options)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def _pgdump_revision(file: Path) -> str | None:
    """The alembic revision a custom-format dump holds, read without restoring it."""
    script = _tool("pg_restore", "--data-only", "--table=alembic_version", "--file=-", str(file))
    match = _COPY_REVISION.search(script)
    return match[1] if match else None


def _drop_tables(engine: Engine) -> None:
    """Drop this schema's tables (any revision's) from a database that holds no mail."""
    ours = set(Base.metadata.tables) | {"alembic_version"}
    with engine.begin() as conn:
        for name in ours & set(inspect(conn).get_table_names()):
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))


def _tool(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run a PostgreSQL client tool; its stdout, or BackupError with its first error line."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools "
                          "(the server's major version or newer)")
    done = subprocess.run([path, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        first = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no message")
        raise BackupError(f"{name} failed (exit {done.returncode}): {first.strip()}")
    return done.stdout


# -- both -----------------------------------------------------------------------------------------


def _kind_of_engine(engine: Engine) -> str:
    name = engine.dialect.name
    if name == "sqlite":
        return SQLITE
    if name == "postgresql":
        return PGDUMP
    raise BackupError(f"cannot back up a {name} database")


def _kind_of_file(file: Path) -> str:
    """The kind a file holds, by its first bytes, not its name (a renamed backup still restores)."""
    try:
        with file.open("rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise RestoreRefused(f"{file}: {exc.strerror or exc}") from exc
    for kind, magic in MAGIC.items():
        if head.startswith(magic):
            return kind
    raise RestoreRefused(f"{file} is not a backup made by `inbox backup` (neither SQLite nor a pg_dump archive)")


def _check_revision(file: Path, revision: str | None) -> bool:
    """Refuse a backup without a schema revision or with one this code does not know; True if older."""
    if revision is None:
        raise RestoreRefused(f"{file} is not an inbox backup: it has no schema revision")
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    try:
        scripts.get_revision(revision)
    except CommandError:
        raise RestoreRefused(f"{file} is at schema revision {revision}, which this version of inbox does not "
                             "know: restore it with the version that made it") from None
    return revision not in scripts.get_heads()


def _target_state(engine: Engine) -> tuple[str | None, dict[str, int]]:
    """The target's schema revision (None without one) and its non-empty mail tables' row counts."""
    if engine.dialect.name == "sqlite" and not _sqlite_path(engine).exists():
        return None, {}  # a brand new database: nothing to look at, and nothing to create yet
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        revision = MigrationContext.configure(conn).get_current_revision()
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                  for table in MAIL_TABLES if table in tables}
    return revision, {table: n for table, n in counts.items() if n}


def _fsync(path: Path) -> None:
    """Flush a file, or a directory's entries (a rename is durable only once its directory is)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
