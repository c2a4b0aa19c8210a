"""CLI start-up benchmark (issue 23): how long an `inbox` command takes, as a person runs it.

Each command runs as a subprocess (`python -m inbox ...`, what the console script runs) --runs
times, the commands taking turns, after one untimed round that compiles each tree's modules; the
table gives the median, min and max wall time and the median's ratio to `python -c pass` measured
in the same run, so a busy or slow machine shows in the baseline too. With
--before TREE the same commands also run on another source tree (PYTHONPATH=TREE), e.g. the main
branch, in the same run, each on its own database of the same tickets.

`tickets list` and `tickets show` read a SQLite database of --tickets tickets: three real
tickets made through `inbox db upgrade` and `inbox ingest` (so they have messages and events),
the first copied with plain SQL (one INSERT ... SELECT over a counting CTE) into the rest, each
copy's subject numbered. Each tree gets its own database, made by its own `db upgrade` (a tree
whose migrations stop earlier refuses a newer schema). `--search server` matches every ticket (the
count and the ordering work on all 100,000), `--search 4711` one subject.
Commands write their stdout to /dev/null: the figure is the command's, not this process's reading.

With --pg URL this tree's commands also run on PostgreSQL, on a database of the same tickets made
the same way (URL names an empty database: `db upgrade` makes the tables, generate_series the copies).

    .venv/bin/python bench/cli.py [--runs 10] [--tickets 100000] [--before /work/main] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from bench.ingest import config_text  # noqa: E402
from bench.mailgen import generate  # noqa: E402

SHOWN = "SUP-000001"


def commands() -> list[tuple[str, list[str]]]:
    """Each command's label and arguments; the tree's --config goes in front."""
    return [
        ("--help", ["--help"]),
        ("--version", ["--version"]),
        ("tickets list --json", ["tickets", "list", "--json"]),
        ("tickets list --json --limit 50", ["tickets", "list", "--json", "--limit", "50"]),
        ("tickets list", ["tickets", "list"]),
        ("tickets list --search server", ["tickets", "list", "--search", "server"]),
        ("tickets list --search 4711 --json", ["tickets", "list", "--search", "4711", "--json"]),
        ("tickets list --open --order=-opened", ["tickets", "list", "--open", "--order=-opened"]),
        (f"tickets show {SHOWN} --json", ["tickets", "show", SHOWN, "--json"]),
        (f"tickets show {SHOWN}", ["tickets", "show", SHOWN]),
    ]


def environment(tree: Path | None, cache: Path | None = None) -> dict[str, str]:
    """The commands' environment: no INBOX_ variable, `tree` first on the path and, with `cache`,
    compiled modules kept there (PYTHONPYCACHEPREFIX, nothing written into a tree) even where
    PYTHONDONTWRITEBYTECODE is set: a tree never compiled would otherwise pay its compiling on
    every run, which an installed package never does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    if cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def inbox(tree: Path, argv: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "inbox", *argv], cwd=cwd, env=environment(tree), **kw)  # type: ignore[call-overload]


def fill(tmp: Path, tickets: int, tree: Path = HERE, pg: str | None = None) -> str:
    """A database of `tickets` tickets (SQLite, or the empty PostgreSQL database `pg`), migrated by
    `tree`, and the config that names it."""
    tmp.mkdir(parents=True, exist_ok=True)
    url = pg or f"sqlite:///{tmp}/inbox.db"
    config = tmp / "inbox.yaml"
    config.write_text(config_text(url, tmp))
    run = dict(cwd=tmp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inbox(tree, ["--config", str(config), "db", "upgrade"], **run)
    mails = tmp / "mails"
    mails.mkdir()
    for i, data in enumerate(generate(3, seed=23)):
        (mails / f"{i}.eml").write_bytes(data)
    inbox(tree, ["--config", str(config), "ingest", str(mails)], **run)
    if pg:
        copy_pg(pg, tickets)
        return str(config)
    with sqlite3.connect(tmp / "inbox.db") as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(tickets)") if row[1] not in ("id",)]
        have = db.execute("SELECT max(number) FROM tickets").fetchone()[0]
        prefix = db.execute("SELECT tracking FROM tickets WHERE number = 1").fetchone()[0].rsplit("-", 1)[0]
        made = {"number": "n", "tracking": f"'{prefix}-' || printf('%06d', n)", "subject": "subject || ' ' || n"}
        select = ", ".join(made.get(c, c) for c in columns)
        db.execute(f"""
            WITH RECURSIVE counter(n) AS (SELECT {have + 1} UNION ALL SELECT n + 1 FROM counter WHERE n < {tickets})
            INSERT INTO tickets ({", ".join(columns)})
            SELECT {select} FROM counter, (SELECT * FROM tickets WHERE number = 1)""")
    return str(config)


def copy_pg(url: str, tickets: int) -> None:
    """Ticket 1 copied into numbers up to `tickets`, as `fill` does on SQLite (generated columns left to the database)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as db:
        columns = list(db.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'tickets' AND column_name <> 'id' "
            "AND is_generated = 'NEVER' ORDER BY ordinal_position")).scalars())
        have = db.execute(text("SELECT max(number) FROM tickets")).scalar_one()
        prefix = db.execute(text("SELECT tracking FROM tickets WHERE number = 1")).scalar_one().rsplit("-", 1)[0]
        made = {"number": "n", "tracking": f"'{prefix}-' || lpad(n::text, 6, '0')", "subject": "subject || ' ' || n"}
        select = ", ".join(made.get(c, c) for c in columns)
        db.execute(text(f"INSERT INTO tickets ({', '.join(columns)}) SELECT {select} "
                        f"FROM generate_series({have + 1}, {tickets}) AS n, (SELECT * FROM tickets WHERE number = 1) t"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
        db.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed(tasks: list[tuple[list[str], dict[str, str]]], cwd: Path, runs: int) -> list[tuple[list[float], int]]:
    """Each task's wall times and first non-zero exit status. The tasks take turns, run after run,
    so a change in the machine's load during the bench touches every command alike."""
    times: list[list[float]] = [[] for _ in tasks]
    status = [0] * len(tasks)
    for _ in range(runs):
        for i, (argv, env) in enumerate(tasks):
            started = time.perf_counter()
            proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[i].append(time.perf_counter() - started)
            status[i] = status[i] or proc.returncode
    return list(zip(times, status))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--before", type=Path, help="another source tree to time beside this one (e.g. /work/main)")
    ap.add_argument("--pg", metavar="URL", help="an empty PostgreSQL database to time this tree on as well")
    args = ap.parse_args()
    trees = [("before", args.before)] if args.before else []
    trees.append(("after" if args.before else "this", HERE))
    if args.pg:
        trees.append(("pg", HERE))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        started = time.perf_counter()
        configs = {name: fill(tmp / name, args.tickets, tree, args.pg if name == "pg" else None) for name, tree in trees}
        print(f"setup: {args.tickets} tickets a tree in {time.perf_counter() - started:.1f} s; "
              f"{args.runs} runs each; python {sys.version.split()[0]}\n")
        labels = [("python -c pass", "")]
        cache = tmp / "pycache"
        tasks = [([sys.executable, "-c", "pass"], environment(None, cache))]
        for label, argv in commands():
            for tree_name, tree in trees:
                labels.append((f"inbox {label}", tree_name))
                tasks.append(([sys.executable, "-m", "inbox", "--config", configs[tree_name], *argv],
                              environment(tree, cache / tree_name)))
        timed(tasks, tmp, 1)  # untimed: each tree's modules compiled once, into `cache`
        results = timed(tasks, tmp, args.runs)
        base = statistics.median(results[0][0])
        rows = [(label, tree_name, times, status) for (label, tree_name), (times, status) in zip(labels, results)]
    print(f"{'command':<44} {'tree':<7} {'median':>8} {'min':>8} {'max':>8} {'x pass':>7}  exit")
    for label, tree_name, times, status in rows:
        median = statistics.median(times)
        print(f"{label:<44} {tree_name:<7} {median:>7.3f}s {min(times):>7.3f}s {max(times):>7.3f}s "
              f"{median / base:>7.1f}  {status}")


if __name__ == "__main__":
    main()
