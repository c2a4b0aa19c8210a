"""Template benchmark: what rendering an email costs, with live reload's bookkeeping, and how long
`inbox templates check` takes over every file with sample tickets of every severity and status.

Renders each kind of the shipped templates from sample data through one `Renderer` (as the
service does: a stat per file for auto-reload, the last-good bookkeeping), then the same kinds
with a refused file that falls back to its last good version, then `check()` with 4 and with 8
severities. Then the same renders through the database's versions (`StoredSource` on SQLite, as
`inbox serve` renders), and with `--save-check`, what a save costs: the whole check with the
candidate text in place, with the shipped templates and five customer overrides saved.

    .venv/bin/python bench/templates.py [--count 2000] [--runs 3] [--save-check]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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


def _versions(tmp: Path) -> tuple[Any, Any]:
    """Template versions on a new SQLite database, for the shipped templates and customers c1..c5."""
    from autoresponder.shipped import shipped_texts
    from autoresponder.stored_templates import StoredSource
    from autoresponder.template_source import FileSource
    from autoresponder.versions import StoredVersions
    from inbox.store.db import make_engine, make_sessionmaker
    from inbox.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp}/bench-{time.perf_counter_ns()}.db")
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    source = StoredSource(sessions, FileSource(ROOT / "templates"))
    versions = StoredVersions(sessions, source, ROOT / "templates", plans=["standard"],
                              customers={f"c{i}": "standard" for i in range(1, 6)},
                              severities=["critical", "high", "medium", "low"], shipped=shipped_texts(),
                              now=lambda: datetime.now(timezone.utc))
    return versions, source


def _stored_renders_per_second(tmp: Path, count: int, runs: int) -> float:
    versions, source = _versions(tmp)
    assert versions.save("acknowledgement/subject.txt.j2", "Got it: {{ ticket.subject }}", author="bench",
                         message="").saved
    return _renders_per_second(Renderer(ROOT / "templates", source=source), count, runs)


def _save_check_ms(tmp: Path, saves: int) -> tuple[float, list[float], list[float]]:
    versions, _ = _versions(tmp)
    start = time.perf_counter()  # the first check of an instance: every file rendered
    assert versions.check({}) == ()
    cold = (time.perf_counter() - start) * 1000
    for i in range(1, 6):  # five customer overrides, each checked and saved
        assert versions.save(f"customers/c{i}/acknowledgement/body.txt.j2", f"Dear customer {i},\n"
                             "{{ ticket.subject }} ({{ ticket.severity }}, {{ ticket.status }})\n", author="bench",
                             message="").saved
    check_ms, save_ms = [], []
    for n in range(saves):
        text = f"Got it ({n}): {{{{ ticket.subject }}}}"
        start = time.perf_counter()
        assert versions.check({"acknowledgement/subject.txt.j2": text}) == ()
        check_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        assert versions.save("acknowledgement/subject.txt.j2", text + " ", author="bench", message="").saved
        save_ms.append((time.perf_counter() - start) * 1000)
    return cold, check_ms, save_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save-check", action="store_true", help="also time a save's check (SQLite)")
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
        stored = _stored_renders_per_second(Path(tmp), args.count, args.runs)
        saves = _save_check_ms(Path(tmp), max(args.runs, 5)) if args.save_check else None
    print("| what | figure |\n|---|---:|")
    print(f"| emails rendered per second (subject, text, HTML; {len(KINDS)} kinds) | {healthy:,.0f} |")
    print(f"| the same with one file refused, its last good version used | {refused:,.0f} |")
    print(f"| `templates check`, {files} files, 4 severities x 6 statuses (+4 samples) | {four * 1000:,.0f} ms |")
    print(f"| `templates check`, {files} files, 8 severities | {eight * 1000:,.0f} ms |")
    print(f"| emails rendered per second through the database's versions (one saved) | {stored:,.0f} |")
    if saves is not None:
        cold, check_ms, save_ms = saves
        print(f"| the first check of an instance ({files} files, nothing remembered yet) | {cold:,.0f} ms |")
        print(f"| a save's check, {files} files + 5 customer overrides (median of {len(save_ms)}) | "
              f"{statistics.median(check_ms):,.0f} ms |")
        print(f"| a save: check, store, refresh (median of {len(save_ms)}; slowest {max(save_ms):,.0f} ms) | "
              f"{statistics.median(save_ms):,.0f} ms |")
    print(f"\nratio refused/healthy: {refused / healthy:.2f}")


if __name__ == "__main__":
    main()
