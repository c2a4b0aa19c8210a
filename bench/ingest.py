"""Ingest benchmark: generated mails through the whole pipeline vs mail-parser alone.

Prints messages per second for a parse-only baseline (`mail-parser` on the same
mails) and for the pipeline (raw store commit, parse, dedupe, thread, persist) on
SQLite and on PostgreSQL, and the ratio pipeline / parse-only. Aim: >= 0.5 on SQLite.

    .venv/bin/python bench/ingest.py [--count 2000] [--pg URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import mailparser
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mailgen import generate  # noqa: E402
from inbox.app import build_app  # noqa: E402
from inbox.clock import SystemClock  # noqa: E402
from inbox.rawstore import RawItem  # noqa: E402
from inbox.settings import load_settings  # noqa: E402
from inbox.store.db import make_engine  # noqa: E402
from inbox.store.migrate import upgrade  # noqa: E402

CONFIG = """\
service: {{name: Bench Support, tracking_prefix: SUP}}
database: {{url: "{url}"}}
outbound: {{transport: maildir, maildir: "{tmp}/sent", from_address: "Support <support@example.com>"}}
addresses: [support@example.com]
calendars: {{always: {{timezone: UTC, hours: 24x7}}}}
plans: {{standard: {{calendar: always, targets: {{low: {{response: 1 hour}}}}}}}}
customers:
  - {{id: acme, plan: standard, domains: [acme.com]}}
  - {{id: globex, plan: standard, domains: [globex.test]}}
unknown_senders: {{plan: standard}}
"""


def parse_only(mails: list[bytes]) -> float:
    started = time.perf_counter()
    for data in mails:
        mailparser.parse_from_bytes(data)
    return time.perf_counter() - started


def pipeline(mails: list[bytes], url: str, tmp: Path) -> tuple[float, float]:
    """Seconds to store every raw mail, and seconds for the whole run, as `inbox ingest` does it."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    (tmp / "inbox.yaml").write_text(CONFIG.format(url=url, tmp=tmp))
    app = build_app(load_settings(tmp / "inbox.yaml"), SystemClock())
    worker = app.worker()
    started = time.perf_counter()
    stored = 0.0
    for start in range(0, len(mails), 200):
        t = time.perf_counter()
        refs = app.rawstore.put_many([RawItem(m, "bench") for m in mails[start : start + 200]])
        stored += time.perf_counter() - t
        worker.drain([r.id for r in refs])
    total = time.perf_counter() - started
    app.close()
    return stored, total


def fresh_pg(admin_url: str) -> tuple[str, object]:
    name = f"inbox_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return admin.url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    mails = generate(args.count)
    print(f"{len(mails)} mails, {sum(map(len, mails)) / len(mails) / 1024:.1f} KB on average")
    baseline = parse_only(mails)
    rows = [("parse-only (mail-parser)", baseline, None)]
    with tempfile.TemporaryDirectory() as tmp:
        stored, total = pipeline(mails, f"sqlite:///{tmp}/bench.db", Path(tmp))
        rows.append(("pipeline, SQLite", total, stored))
    try:
        url, drop = fresh_pg(args.pg)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so, keep the SQLite figures
        print(f"PostgreSQL skipped: {exc}".splitlines()[0])
    else:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                stored, total = pipeline(mails, url, Path(tmp))
                rows.append(("pipeline, PostgreSQL", total, stored))
        finally:
            drop()  # type: ignore[operator]
    print(f"{'run':<28}{'seconds':>9}{'msg/s':>9}{'raw store s':>13}{'ratio':>8}")
    for name, seconds, stored in rows:
        ratio = baseline / seconds
        raw = f"{stored:.2f}" if stored is not None else "-"
        print(f"{name:<28}{seconds:>9.2f}{len(mails) / seconds:>9.0f}{raw:>13}{ratio:>8.2f}")
    print("ratio = pipeline msg/s / parse-only msg/s (aim: >= 0.50 on SQLite)")


if __name__ == "__main__":
    main()
