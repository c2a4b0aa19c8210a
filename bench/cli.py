"""CLI start-up benchmark (issue 23): how long an `inbox` command takes, as a person runs it.

Each command runs as a subprocess (`python -m inbox ...`, what the console script runs) --runs
times; the table gives the median, min and max wall time and the median's ratio to `python -c
pass` measured in the same run, so a busy or slow machine shows in the baseline too. With
--before TREE the same commands also run on another source tree (PYTHONPATH=TREE), e.g. the main
branch, in the same run and against the same database.

`tickets list` and `tickets show` read a SQLite database of --tickets tickets: three real
tickets made through `inbox db upgrade` and `inbox ingest` (so they have messages and events),
the first copied with plain SQL (one INSERT ... SELECT over a counting CTE) into the rest, each
copy's subject numbered. Each tree gets its own database, made by its own `db upgrade` (a tree
whose migrations stop earlier refuses a newer schema). `--search server` matches every ticket (the
count and the ordering work on all 100,000), `--search 4711` one subject.
Commands write their stdout to /dev/null: the figure is the command's, not this process's reading.

    .venv/bin/python bench/cli.py [--runs 10] [--tickets 100000] [--before /work/main]
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


def environment(tree: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    return env


def inbox(tree: Path, argv: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "inbox", *argv], cwd=cwd, env=environment(tree), **kw)  # type: ignore[call-overload]


def fill(tmp: Path, tickets: int, tree: Path = HERE) -> str:
    """A SQLite database of `tickets` tickets, migrated by `tree`, and the config that names it."""
    tmp.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp}/inbox.db"
    config = tmp / "inbox.yaml"
    config.write_text(config_text(url, tmp))
    run = dict(cwd=tmp, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    inbox(tree, ["--config", str(config), "db", "upgrade"], **run)
    mails = tmp / "mails"
    mails.mkdir()
    for i, data in enumerate(generate(3, seed=23)):
        (mails / f"{i}.eml").write_bytes(data)
    inbox(tree, ["--config", str(config), "ingest", str(mails)], **run)
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


def timed(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[list[float], int]:
    times, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
        status = status or proc.returncode
    return times, status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--before", type=Path, help="another source tree to time beside this one (e.g. /work/main)")
    args = ap.parse_args()
    trees = [("before", args.before)] if args.before else []
    trees.append(("after" if args.before else "this", HERE))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        started = time.perf_counter()
        configs = {tree: fill(tmp / name, args.tickets, tree) for name, tree in trees}
        print(f"setup: {args.tickets} tickets a tree in {time.perf_counter() - started:.1f} s; "
              f"{args.runs} runs each; python {sys.version.split()[0]}\n")
        baseline, _ = timed([sys.executable, "-c", "pass"], environment(None), tmp, args.runs)
        base = statistics.median(baseline)
        rows = [("python -c pass", "", baseline, 0)]
        for label, argv in commands():
            for tree_name, tree in trees:
                times, status = timed([sys.executable, "-m", "inbox", "--config", configs[tree], *argv],
                                      environment(tree), tmp, args.runs)
                rows.append((f"inbox {label}", tree_name, times, status))
    print(f"{'command':<44} {'tree':<7} {'median':>8} {'min':>8} {'max':>8} {'x pass':>7}  exit")
    for label, tree_name, times, status in rows:
        median = statistics.median(times)
        print(f"{label:<44} {tree_name:<7} {median:>7.3f}s {min(times):>7.3f}s {max(times):>7.3f}s "
              f"{median / base:>7.1f}  {status}")


if __name__ == "__main__":
    main()
