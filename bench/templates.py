"""Template benchmark: what rendering an email costs, with live reload's bookkeeping, and how long
`inbox templates check` takes over every file with sample tickets of every severity and status.

Renders each kind of the shipped templates from sample data through one `Renderer` (as the
service does: a stat per file for auto-reload, the last-good bookkeeping), then the same kinds
with a refused file that falls back to its last good version, then `check()` with 4 and with 8
severities.

    .venv/bin/python bench/templates.py [--count 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autoresponder.render import KINDS, Renderer  # noqa: E402
from autoresponder.samples import check, sample_context  # noqa: E402


def _renders_per_second(renderer: Renderer, count: int, runs: int) -> float:
    contexts = [(kind, sample_context(kind)) for kind in KINDS]
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for i in range(count):
            kind, context = contexts[i % len(contexts)]
            renderer.render(kind, context)
        best = min(best, time.perf_counter() - start)
    return count / best


def _check_seconds(directory: Path, severities: list[str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        assert check(directory, severities) == []
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.ERROR)  # the refused file is logged once; the table is the output
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(shutil.copytree(ROOT / "templates", Path(tmp) / "templates"))
        renderer = Renderer(directory)
        healthy = _renders_per_second(renderer, args.count, args.runs)
        broken = directory / "acknowledgement" / "body.txt.j2"
        broken.write_text("{{ ticket.nope }}")
        stamp = broken.stat().st_mtime + 2
        os.utime(broken, (stamp, stamp))
        refused = _renders_per_second(renderer, args.count, args.runs)
        files = sum(1 for _ in (ROOT / "templates").rglob("*.j2"))
        shipped = ROOT / "templates"
        four = _check_seconds(shipped, ["critical", "high", "medium", "low"], args.runs)
        eight = _check_seconds(shipped, [f"s{i}" for i in range(8)], args.runs)
    print("| what | figure |\n|---|---:|")
    print(f"| emails rendered per second (subject, text, HTML; {len(KINDS)} kinds) | {healthy:,.0f} |")
    print(f"| the same with one file refused, its last good version used | {refused:,.0f} |")
    print(f"| `templates check`, {files} files, 4 severities x 6 statuses (+4 samples) | {four * 1000:,.0f} ms |")
    print(f"| `templates check`, {files} files, 8 severities | {eight * 1000:,.0f} ms |")
    print(f"\nratio refused/healthy: {refused / healthy:.2f}")


if __name__ == "__main__":
    main()
