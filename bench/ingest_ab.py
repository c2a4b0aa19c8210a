"""Ingest end to end, this tree against another revision, run after run: the ratio issue 20 asks for.

`bench/ingest.py` measures one tree; this machine's speed moves 20-70 % between runs, so two trees
measured minutes apart compare nothing. Here each round runs, in a process of its own for each tree
in turn (A B A B ...), mail-parser alone on 2,000 generated mails (best of 2), then the pipeline
with the shipped rules and a parser process started before the clock (as `inbox serve`'s ingest
role has it) on a fresh SQLite file and a fresh PostgreSQL database, and prints each round's
ratio pipeline / mail-parser; the medians at the end. Aim (issue 20): >= 0.50 on SQLite, >= 0.35
on PostgreSQL.

    .venv/bin/python bench/ingest_ab.py [--against REV] [--rounds 5] [--count 2000] [--pg URL]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(count: int, pg: str) -> None:
    """One round of this process's tree (the first entry of sys.path): prints `parse sqlite pg` seconds."""
    from bench.ingest import fresh_pg, parse_only, pipeline
    from bench.mailgen import generate

    mails = generate(count)
    base = min(parse_only(mails) for _ in range(2))
    seconds = []
    for backend in ("sqlite", "postgresql"):
        with tempfile.TemporaryDirectory() as tmp:
            url, drop = (f"sqlite:///{tmp}/bench.db", None) if backend == "sqlite" else fresh_pg(pg)
            try:
                seconds.append(pipeline(mails, url, Path(tmp), 1, rules=True)[1])
            finally:
                if drop is not None:
                    drop()
    print(base, *seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", default="main", help="the git revision to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.child))
        child(args.count, args.pg)
        return
    with tempfile.TemporaryDirectory() as other:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.against], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(other, filter="data")
        trees = {args.against: Path(other), "this tree": ROOT}
        ratios: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        print(f"{args.count} mails, default rules, one parser process started; ratio = mail-parser s / pipeline s")
        print(f"{'round':>5}  {'tree':<12}{'parse s':>9}{'SQLite s':>10}{'ratio':>7}{'PostgreSQL s':>14}{'ratio':>7}")
        for n in range(1, args.rounds + 1):
            for name, tree in trees.items():
                out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(tree),
                                      "--count", str(args.count), "--pg", args.pg],
                                     check=True, capture_output=True, text=True).stdout.split()
                base, sqlite, pg = (float(x) for x in out[-3:])
                ratios[name].append((base / sqlite, base / pg))
                print(f"{n:>5}  {name:<12}{base:>9.2f}{sqlite:>10.2f}{base / sqlite:>7.3f}{pg:>14.2f}{base / pg:>7.3f}",
                      flush=True)
        print("medians (min-max):")
        for name, found in ratios.items():
            sq, pg = [r[0] for r in found], [r[1] for r in found]
            print(f"  {name:<12} SQLite {statistics.median(sq):.3f} ({min(sq):.3f}-{max(sq):.3f})   "
                  f"PostgreSQL {statistics.median(pg):.3f} ({min(pg):.3f}-{max(pg):.3f})")


if __name__ == "__main__":
    main()
