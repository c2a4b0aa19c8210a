"""Breach-storm benchmark: how soon the team lead hears of every breach when many tickets breach at once.

N tickets (each from its own customer, low severity, tests/sla_kit.py's desk: an hourly limit of
3 automatic emails per address) open on Monday 09:00 PST and all miss their response target on
Wednesday 09:00. The jobs then run every hour, as the scheduler would, until every breach alert
has reached the lead. Two configs in the same run, on the same database kind:

  digests     the shipped default (outbound.digest_over: 3): alerts of one kind to one person go as one email
  one each    outbound.digest_over: null, the behaviour before digests: one email per alert, 3 an hour

Printed per config: emails the lead got, hours from the breach until the last alert reached them,
alerts held back along the way, and the wall time of the breach turn (the sweep that records the N
breaches and the dispatch that tells the lead). Ratios: one each / digests.

    .venv/bin/python bench/alerts.py [--tickets 300] [--backend sqlite|postgresql|both] [--pg URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import fresh_pg  # noqa: E402
from inbox.store.migrate import upgrade  # noqa: E402
from inbox.store.db import make_engine  # noqa: E402
from tests.fakes import mail  # noqa: E402
from tests.sla_kit import CONFIG, T0, Desk  # noqa: E402

LEAD = "lead@example.com"
BREACH = T0 + timedelta(days=2)  # Wednesday 09:00 PST: every Monday 09:00 response is due
CONFIGS = {"digests": CONFIG, "one each": CONFIG.replace("max_auto_per_hour: 3}}", "max_auto_per_hour: 3, digest_over: null}}")}
assert CONFIGS["one each"] != CONFIG


@dataclass
class Result:
    config: str
    emails: int
    hours: int
    held_back: int
    breach_turn_ms: float


@contextmanager
def database(backend: str, admin_url: str) -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            url, drop = fresh_pg(admin_url)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        try:
            yield url, Path(tmp)
        finally:
            if backend != "sqlite":
                drop()


def storm(url: str, tmp: Path, config: str, label: str, tickets: int) -> Result:
    desk = Desk(tmp, url, config)
    try:
        desk.feed_many([mail(sender=f"user{n}@acme.com", message_id=f"<storm{n}@acme.com>", subject=f"Outage {n}")
                        for n in range(tickets)], at=T0)
        desk.run(T0)
        started = time.perf_counter()
        done = desk.run(BREACH + timedelta(minutes=1))
        breach_ms = (time.perf_counter() - started) * 1000
        if done.get("breach") != tickets:
            raise RuntimeError(f"{label}: expected {tickets} breaches, got {dict(done)}")
        held, hours = done.get("deferred", 0), 0
        while told(desk) < tickets:
            hours += 1
            held += desk.run(BREACH + timedelta(hours=hours, minutes=1)).get("deferred", 0)
        return Result(label, sum(1 for m in desk.sent() if m["To"] == LEAD), hours, held, breach_ms)
    finally:
        desk.close()


def told(desk: Desk) -> int:
    """Breach alerts that reached the lead, alone or in a digest that was sent."""
    from sqlalchemy import select

    from inbox.store.tables import OutboxRow

    with desk.app.sessions() as session:
        rows = session.execute(select(OutboxRow.id, OutboxRow.kind, OutboxRow.state, OutboxRow.digest_id)
                               .where(OutboxRow.recipient == LEAD)).all()
    sent = {r.id for r in rows if r.state == "sent"}
    return sum(1 for r in rows if r.kind == "breach_alert" and (r.id in sent or r.digest_id in sent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{args.tickets} tickets breach at once; the jobs run every hour; hourly limit 3 per address")
    print(f"| {'backend':<10} | {'config':<8} | {'emails to the lead':>18} | {'hours until all told':>20} | "
          f"{'held back':>9} | {'breach turn ms':>14} |")
    print(f"|{'-' * 12}|{'-' * 10}|{'-' * 20}|{'-' * 22}|{'-' * 11}|{'-' * 16}|")
    for backend in backends:
        results = {}
        for label, config in CONFIGS.items():
            with database(backend, args.pg) as (url, tmp):
                results[label] = r = storm(url, tmp, config, label, args.tickets)
            print(f"| {backend:<10} | {label:<8} | {r.emails:>18} | {r.hours:>20} | {r.held_back:>9} | "
                  f"{r.breach_turn_ms:>14.0f} |", flush=True)
        one, digest = results["one each"], results["digests"]
        print(f"  {backend}: one each / digests: emails {one.emails / digest.emails:.0f}x, hours until all told "
              f"{one.hours} vs {digest.hours}, breach turn {one.breach_turn_ms / digest.breach_turn_ms:.2f}x")


if __name__ == "__main__":
    main()
