"""Backup benchmark: `inbox backup --to DIR` and `inbox restore FILE` over a filled database.

Fills a fresh SQLite file and a fresh PostgreSQL database with N tickets, each opened by one
mail and answered by a reply (2N mails of mixed shapes: plain, HTML alternative, attachment),
through the real CLI (`inbox db upgrade`, then `inbox ingest` of one mbox), then times:

  backup    `inbox backup --to DIR`, each run into a fresh directory (retention keeps one
            backup per day, so a second one in the same directory would delete the first)
  restore   `inbox restore FILE` of that backup into a second, empty database; the first run
            without --replace (the database is empty), the later runs with --replace (over
            the copy restored before)

After every restore the copy must hold the same counts of tickets, ticket messages, events
and raw messages as the source (asserted). On SQLite a backup is then timed once more while
another process keeps ingesting new mail through `inbox ingest` (the service running), and
that backup is restored and checked to be a whole snapshot: no fewer rows than before the
writer started, no more than after it stopped.

The commands run in this process (`inbox.cli.main`, as the console script calls it), so the
times include argument parsing, config loading and engine set-up but not interpreter start-up
(about 1 s more for a real `inbox` command). PostgreSQL is skipped with a note when it is not
reachable or pg_dump is not on PATH. Each figure is the best of --runs.

    .venv/bin/python bench/backup.py [--quick] [--tickets 2000] [--runs 3]
        [--backend sqlite|postgresql|both] [--no-load] [--pg URL]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import mailbox
import multiprocessing
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import config_text, fresh_pg  # noqa: E402
from bench.mailgen import threads  # noqa: E402
from inbox.cli import main as inbox_main  # noqa: E402

COUNTED = ("tickets", "ticket_messages", "events", "raw_messages")
LOAD_BATCH = 20  # tickets (so 40 mails) per `inbox ingest` of the writer running beside a backup
MB = 1e6


# -- mail -------------------------------------------------------------------------------------


def write_mbox(path: Path, mails: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    try:
        box.lock()
        for data in mails:
            box.add(data)
        box.flush()
    finally:
        box.unlock()
        box.close()
    return path


# -- the CLI and the databases ----------------------------------------------------------------


def inbox(config: Path, *argv: str) -> Any:
    """Run `inbox --config CONFIG --json ARGV...` in this process; its JSON document, or RuntimeError."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = inbox_main(["--config", str(config), "--json", *argv])
    if status != 0:
        raise RuntimeError(f"inbox {' '.join(argv)}: exit {status}: {err.getvalue().strip()}")
    return json.loads(out.getvalue())


def write_config(directory: Path, url: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "inbox.yaml"
    path.write_text(config_text(url, directory))
    return path


@contextlib.contextmanager
def database(backend: str, admin_url: str, directory: Path) -> Iterator[str]:
    """A URL of a new empty database: a SQLite file not made yet, or a PostgreSQL database
    with a unique name, dropped on the way out."""
    if backend == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{directory}/inbox.db"
        return
    url, drop = fresh_pg(admin_url)
    try:
        yield url
    finally:
        drop()


def postgres_missing(admin_url: str) -> str | None:
    """Why PostgreSQL cannot be measured here, or None."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        return "pg_dump or pg_restore is not on PATH"
    admin = create_engine(admin_url, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any reason at all: say it, measure the rest
        return str(exc).splitlines()[0]
    finally:
        admin.dispose()
    return None


def tally(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in COUNTED}
    finally:
        engine.dispose()


def size_of(url: str) -> int:
    """Bytes the database takes: SQLite's pages (those still in the WAL included), pg_database_size."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        uri = f"{Path(parsed.database).resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            return conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    finally:
        engine.dispose()


def timed(config: Path, *argv: str) -> tuple[float, Any]:
    started = time.perf_counter()
    document = inbox(config, *argv)
    return time.perf_counter() - started, document


# -- a writer beside the backup ---------------------------------------------------------------


def writer(config: str, directory: str, ready: Any, stop: Any) -> None:
    """Ingest fresh batches through `inbox ingest` until told to stop (in a process of its own)."""
    batch = 0
    while not stop.is_set():
        mails = threads(LOAD_BATCH, seed=1000 + batch, tag=f"load{batch}")
        mbox = write_mbox(Path(directory) / f"load-{batch}.mbox", mails)
        inbox(Path(config), "ingest", str(mbox))
        mbox.unlink()
        batch += 1
        ready.set()


@contextlib.contextmanager
def writing(config: Path, directory: Path) -> Iterator[None]:
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    process = ctx.Process(target=writer, args=(str(config), str(directory), ready, stop), daemon=True)
    process.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the writer did not ingest its first batch")
        yield
    finally:
        stop.set()
        process.join(120)
        if process.is_alive():
            process.kill()
            process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"the writer failed (exit {process.exitcode})")


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Row:
    backend: str
    tickets: int
    mails: int
    db_bytes: int
    file_bytes: int
    backup_s: float
    first_restore_s: float  # into the empty database, without --replace
    replace_s: float | None  # best of the later restores, with --replace over the first copy
    note: str = ""

    @property
    def restore_s(self) -> float:
        return min(self.first_restore_s, self.replace_s or self.first_restore_s)


def backups(config: Path, directory: Path, runs: int, url: str | None = None) -> tuple[float, Path, int, int]:
    """Best of `runs` backups, each into a directory of its own: (seconds, a backup file, its bytes,
    raw messages the writer added during the timed backups when `url` is given)."""
    best = float("inf")
    file = None
    added = 0
    for k in range(runs):
        before = tally(url)["raw_messages"] if url else 0
        seconds, done = timed(config, "backup", "--to", str(directory / f"run-{k}"))
        added += (tally(url)["raw_messages"] - before) if url else 0
        assert not done["deleted"] and len(done["kept"]) == 1, done
        file = Path(done["file"])
        best = min(best, seconds)
    assert file is not None
    return best, file, file.stat().st_size, added


def restores(config: Path, url: str, file: Path, runs: int, want: dict[str, int]) -> tuple[float, float | None]:
    """First restore into the empty database, then runs-1 more with --replace;
    (seconds of the first, best seconds of the others or None).
    Every restored copy must hold the counts `want`."""
    times = []
    for k in range(max(runs, 1)):
        seconds, done = timed(config, "restore", str(file), *(("--replace",) if k else ()))
        got = tally(url)
        assert got == want, f"restored {got}, the source holds {want}"
        assert (done["tickets"], done["messages"], done["events"]) == (
            want["tickets"], want["ticket_messages"], want["events"]), done
        times.append(seconds)
    return times[0], min(times[1:], default=None)


def measure(backend: str, args: argparse.Namespace, mbox: Path, tmp: Path) -> list[Row]:
    label = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[backend]
    root = tmp / backend
    with database(backend, args.pg, root / "source") as source, database(backend, args.pg, root / "copy") as copy:
        config, copy_config = write_config(root / "source", source), write_config(root / "copy", copy)
        inbox(config, "db", "upgrade")
        started = time.perf_counter()
        counts = inbox(config, "ingest", str(mbox))
        filled = time.perf_counter() - started
        want = tally(source)
        assert counts.get("failed", 0) == 0 and want["tickets"] == args.tickets and \
            want["raw_messages"] == 2 * args.tickets and want["ticket_messages"] >= 2 * args.tickets, (counts, want)
        db_bytes = size_of(source)
        print(f"  {label}: ingested {want['raw_messages']:,} mails in {filled:.1f} s, "
              f"{db_bytes / MB:.1f} MB", flush=True)
        backup_s, file, file_bytes, _ = backups(config, root / "backups", args.runs)
        first, replace = restores(copy_config, copy, file, args.runs, want)
        rows = [Row(label, want["tickets"], want["raw_messages"], db_bytes, file_bytes, backup_s, first, replace)]
        print(f"  {label}: backup {backup_s:.2f} s, restore {rows[0].restore_s:.2f} s", flush=True)
        if backend == "sqlite" and not args.no_load:
            rows.append(under_load(args, config, source, root, want))
    return rows


def under_load(args: argparse.Namespace, config: Path, source: str, root: Path, start: dict[str, int]) -> Row:
    """Backups while another process keeps ingesting; the last one restored and checked as a snapshot."""
    (root / "load").mkdir()
    with writing(config, root / "load"):
        at = tally(source)
        db_bytes = size_of(source)
        backup_s, file, file_bytes, added = backups(config, root / "load-backups", args.runs, source)
    end = tally(source)
    with database("sqlite", args.pg, root / "load-copy") as copy:
        seconds, done = timed(write_config(root / "load-copy", copy), "restore", str(file))
        got = tally(copy)
    assert all(start[t] <= got[t] <= end[t] for t in COUNTED), (start, got, end)
    assert got["raw_messages"] > start["raw_messages"], "the backup holds none of the writer's mail"
    return Row("SQLite + writer", at["tickets"], at["raw_messages"], db_bytes, file_bytes, backup_s, seconds, None,
               note=f"the writer stored {added} mails during the {args.runs} timed backups "
                    f"({end['raw_messages'] - start['raw_messages']} in all); the restored backup held "
                    f"{got['tickets']:,} tickets, {got['raw_messages']:,} mails")


# -- report -----------------------------------------------------------------------------------


def report(rows: list[Row]) -> None:
    print()
    print(f"| {'backend':<16} | {'tickets':>7} | {'mails':>7} | {'database MB':>11} | {'backup file MB':>14} | "
          f"{'backup s':>8} | {'backup MB/s':>11} | {'restore s':>9} |")
    print(f"|{'-' * 18}|{'-' * 9}|{'-' * 9}|{'-' * 13}|{'-' * 16}|{'-' * 10}|{'-' * 13}|{'-' * 11}|")
    for r in rows:
        print(f"| {r.backend:<16} | {r.tickets:>7,} | {r.mails:>7,} | {r.db_bytes / MB:>11.1f} | "
              f"{r.file_bytes / MB:>14.1f} | {r.backup_s:>8.2f} | {r.db_bytes / MB / r.backup_s:>11.1f} | "
              f"{r.restore_s:>9.2f} |")
    print()
    for r in rows:
        replace = f", with --replace over it {r.replace_s:.2f} s" if r.replace_s is not None else ""
        print(f"{r.backend}: {r.backup_s / (r.tickets / 1000):.3f} backup s per 1,000 tickets; "
              f"restore into the empty database {r.first_restore_s:.2f} s{replace}")
        if r.note:
            print(f"  {r.note}")
    print("backup MB/s = database MB / backup s; database MB = SQLite pages (WAL included) or pg_database_size;")
    print("restore s = best of the first restore (empty database) and the later ones (--replace); counts checked.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=None, help="tickets, each with a reply (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="best of this many backups and restores")
    parser.add_argument("--quick", action="store_true", help="200 tickets")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-load", action="store_true", help="skip the SQLite backup beside a writer")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    args.tickets = args.tickets or (200 if args.quick else 2000)
    args.runs = max(args.runs, 1)
    mails = threads(args.tickets)
    print(f"{args.tickets:,} tickets, each with a reply: {len(mails):,} mails, "
          f"{sum(map(len, mails)) / len(mails) / 1024:.1f} KB on average; best of {args.runs} runs")
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="inbox-bench-backup-") as tmp:
        mbox = write_mbox(Path(tmp) / "mail.mbox", mails)
        for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
            if backend == "postgresql":
                missing = postgres_missing(args.pg)
                if missing:
                    print(f"PostgreSQL skipped: {missing}")
                    continue
            rows += measure(backend, args, mbox, Path(tmp))
    report(rows)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
