"""SQL statements per ingested mail: bench/ingest.py's mails and config, one drain, every statement counted.

Each statement is a round trip on PostgreSQL (the larger part of a mail's cost there), so the count
per mail is the figure to watch beside bench/ingest.py's ratio. Prints the drain's seconds, the
statements per mail and, with --show, the most frequent statements.

    .venv/bin/python bench/ingest_statements.py [--db sqlite|postgresql] [--count 1000] [--rules] [--show 25]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import fresh_app, fresh_pg, store_all  # noqa: E402
from bench.mailgen import generate  # noqa: E402


def drain_counting(mails: list[bytes], url: str, tmp: Path, rules: bool) -> tuple[float, Counter[str]]:
    """Store the mails, then drain them in this process with every statement of the drain counted."""
    app = fresh_app(url, tmp, rules)
    ids = store_all(app, mails)
    worker = app.worker(parse_processes=0)
    seen: Counter[str] = Counter()

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        seen[" ".join(statement.split())[:110]] += 1

    event.listen(Engine, "before_cursor_execute", count)
    started = time.perf_counter()
    try:
        worker.drain(ids)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    seconds = time.perf_counter() - started
    worker.close()
    app.close()
    return seconds, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rules", action="store_true", help="classify with the default rules and dispatch to a team")
    parser.add_argument("--show", type=int, default=0, help="print this many of the most frequent statements")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    mails = generate(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "sqlite":
            seconds, seen = drain_counting(mails, f"sqlite:///{tmp}/bench.db", Path(tmp), args.rules)
        else:
            url, drop = fresh_pg(args.pg)
            try:
                seconds, seen = drain_counting(mails, url, Path(tmp), args.rules)
            finally:
                drop()
    total = sum(seen.values())
    print(f"{args.db}{', default rules and dispatch' if args.rules else ''}: {len(mails)} mails drained in "
          f"{seconds:.2f} s, {total} statements, {total / len(mails):.2f} a mail")
    for statement, n in seen.most_common(args.show):
        print(f"{n:7d} {n / len(mails):6.2f}  {statement}")


if __name__ == "__main__":
    main()
