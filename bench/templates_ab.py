"""Rendered emails per second, before and after a change, in one run: two source trees, alternated.

Each round starts one process per tree that renders every kind of the shipped templates from
sample data through one `Renderer` (as bench/templates.py does, with the storage modules loaded
in both, as in the service, so that both heaps are alike) and reports emails per CPU-second
of its own (process time: on a shared machine, wall time measures the neighbours); after the
rounds, the median of each. With `--stored`, the "after" tree renders as `inbox serve` does since
issue 25: through the database's current versions (SQLite), one of them saved.

    .venv/bin/python bench/templates_ab.py BEFORE_TREE [AFTER_TREE] [--rounds 7] [--count 2000] [--stored]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys, tempfile, time
from pathlib import Path
from autoresponder.render import KINDS, Renderer
from autoresponder.samples import sample_context
tree, count, stored = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
import inbox.store.migrate, inbox.store.db, sqlalchemy.orm  # both trees: as loaded as in `inbox serve`
renderer = Renderer(tree / "templates")
if stored:
    from autoresponder.stored_templates import StoredSource
    from autoresponder.template_source import FileSource
    from inbox.store.db import make_engine, make_sessionmaker
    from inbox.store.migrate import upgrade
    from inbox.store import template_versions as store
    from datetime import datetime, timezone
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/ab.db")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as s, s.begin():
        store.append(s, "acknowledgement/subject.txt.j2", "Got it: {{ ticket.subject }}", author="ab", message="",
                     at=datetime.now(timezone.utc), origin="save")
    renderer = Renderer(tree / "templates", source=StoredSource(sessions, FileSource(tree / "templates")))
contexts = [(kind, sample_context(kind)) for kind in KINDS]
for kind, context in contexts:
    renderer.render(kind, context)
start = time.process_time()
for i in range(count):
    kind, context = contexts[i % len(contexts)]
    renderer.render(kind, context)
print(count / (time.process_time() - start))
"""


def _probe(tree: Path, count: int, stored: bool) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, str(tree), str(count), "1" if stored else "0"], cwd=tree,
                         env={"PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--stored", action="store_true")
    args = parser.parse_args()
    before, after = [], []
    for _ in range(args.rounds):
        before.append(_probe(args.before, args.count, False))
        after.append(_probe(args.after, args.count, args.stored))
    b, a = statistics.median(before), statistics.median(after)
    print("| tree | emails rendered per CPU-second (median of %d) |\n|---|---:|" % args.rounds)
    print(f"| before ({args.before}) | {b:,.0f} |")
    print(f"| after ({args.after}{', through the database' if args.stored else ''}) | {a:,.0f} |")
    print(f"\nratio after/before: {a / b:.2f}")


if __name__ == "__main__":
    main()
