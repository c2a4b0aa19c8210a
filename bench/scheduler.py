"""Scheduler benchmark: one turn of the SLA jobs (`Outbound.run_once`) over many open tickets.

Seeds N open tickets (with one inbound message and one sent acknowledgement each, as a desk of
that size has) into a fresh SQLite file and a fresh PostgreSQL database, then times run_once on
the clock reading NOW (Wednesday 09:00 in Los Angeles):

  nothing due   every ticket's next_check_at is in the future: run_once must not look at them
  1,000 due     1,000 tickets (spread over the table, critical and low) whose status update fell
                due 5 minutes ago: the sweep queues one customer email each, the dispatcher
                renders, composes, sends and records each one

Each run_once is split into the sweep (inbox.tickets.sweep) and the dispatch
(Dispatcher.run, timed inside the same call); the due tickets are put back between repeats.
Sending goes to a MemoryTransport (so "sending" is our own render + compose + bookkeeping),
and, at the largest N, once more to a bare aiosmtpd sink on loopback in a process of its own
(SmtpTransport, one connection per email, as `outbound.transport: smtp` does it). On SQLite the
nothing-due case is timed again after ANALYZE (the service never runs it; `PRAGMA optimize` would).

Aims (the issue): nothing due under 50 ms; 1,000 due bounded by the sending, not by the count
of open tickets: the 1,000-due time at the largest N / at the smallest N is about 1.0.
Takes about 4-5 minutes with the defaults; --quick about a minute and a half.

    .venv/bin/python bench/scheduler.py [--quick] [--backend sqlite|postgresql|both]
        [--sizes 10000,100000] [--due 1000] [--runs 2] [--no-smtp] [--profile] [--pg URL]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoresponder import Outbound  # noqa: E402
from bench.ingest import fresh_pg  # noqa: E402
from inbox.tickets import sweep  # noqa: E402
from autoresponder.transport import MemoryTransport, SmtpTransport  # noqa: E402
from inbox.app import App, build_app  # noqa: E402
from inbox.clock import FixedClock  # noqa: E402
from inbox.domain.ticket import Status  # noqa: E402
from inbox.settings import load_settings  # noqa: E402
from inbox.sla.agenda import ActionKind, Facts, agenda  # noqa: E402
from inbox.store.db import make_engine  # noqa: E402
from inbox.store.migrate import upgrade  # noqa: E402
from inbox.store.tables import Counter as CounterRow  # noqa: E402
from inbox.store.tables import Event, OutboxRow, Ticket, TicketMessage  # noqa: E402
from tests.sla_kit import CONFIG as SLA_KIT_CONFIG  # noqa: E402

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
NOW = datetime(2026, 3, 4, 17, 0, tzinfo=timezone.utc)  # Wednesday 4 March 2026, 09:00 PST
CREATED = NOW - timedelta(days=2, hours=1)  # Monday 08:00 PST: an opening of the pacific calendar
AIM_NOTHING_DUE_MS = 50.0
CHUNK = 5_000

# tests/sla_kit.py's desk, with an hourly limit that 1,000 different requesters never reach.
CONFIG = SLA_KIT_CONFIG.replace("max_auto_per_hour: 3", "max_auto_per_hour: 1000").replace("{db_url}", "{url}")
assert "max_auto_per_hour: 1000" in CONFIG

# The update cadence of each severity: a due ticket's last update was this long (plus 5 minutes)
# before NOW, so its update fell due at NOW - 5 min, inside the 15-minute grace before a breach:
# the sweep queues exactly one email for it, to the customer.
CADENCE = {"critical": timedelta(hours=24), "low": timedelta(days=2)}


def severity_of(i: int) -> str:
    return "critical" if i % 5 == 0 else "low"


# -- the tickets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """The SLA columns of one kind of ticket, as the agenda computes them at NOW."""

    values: dict[str, Any]
    next_check_at: datetime | None


def shape(app: App, severity: str, due: bool) -> Shape:
    """Columns for an open ticket of `severity`: answered, worked around, its update due or not."""
    last_update = NOW - CADENCE[severity] - timedelta(minutes=5) if due else NOW - timedelta(hours=1)
    facts = Facts(created_at=CREATED, status=Status.OPEN, first_response_at=CREATED + timedelta(minutes=30),
                  workaround_at=CREATED + timedelta(hours=1) if severity == "critical" else None,
                  last_update_sent_at=last_update)
    plan = agenda(facts, app.desk().contracts.policy("standard", severity), NOW)
    kinds = [a.kind for a in plan.actions]
    assert kinds == ([ActionKind.STATUS_UPDATE] if due else []), (severity, due, plan.actions)
    d = plan.dues
    return Shape(
        {"first_response_at": facts.first_response_at, "workaround_at": facts.workaround_at,
         "last_update_sent_at": last_update, "first_response_due": d.first_response_due,
         "next_update_due": d.next_update_due, "workaround_due": d.workaround_due,
         "resolution_due": d.resolution_due, "sla_state": {}, "follow_ups": 0, "pauses": [],
         "paused_since": None, "updated_at": last_update},
        NOW - timedelta(minutes=5) if due else plan.next_check_at,
    )


def chunks(n: int, make: Callable[[int], dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, n, CHUNK):
        yield [make(i) for i in range(start, min(n, start + CHUNK))]


def seed(app: App, n: int) -> int:
    """N open tickets, none due: Core executemany in chunks. Returns the last outbox id seeded."""
    idle = {s: shape(app, s, due=False) for s in CADENCE}
    stagger = 3600  # next checks spread over an hour after the computed one, as real ones are

    def ticket(i: int) -> dict[str, Any]:
        s = idle[severity_of(i)]
        assert s.next_check_at is not None
        return {"id": i + 1, "number": i + 1, "tracking": f"SUP-{i + 1:06d}", "subject": f"Printer {i} is on fire",
                "requester": f"user{i}@acme.com", "customer_id": "acme", "plan": "standard",
                "severity": severity_of(i), "category": None, "status": Status.OPEN.value, "assignee": None,
                "created_at": CREATED, "solved_at": None, "closed_at": None,
                **s.values, "next_check_at": s.next_check_at + timedelta(seconds=i % stagger)}

    def message(i: int) -> dict[str, Any]:
        return {"ticket_id": i + 1, "raw_id": None, "direction": "in", "message_id": f"<m{i}@acme.com>",
                "from_addr": f"user{i}@acme.com", "from_name": f"User {i}", "to_addrs": ["support@example.com"],
                "cc_addrs": [], "subject": f"Printer {i} is on fire", "in_reply_to": None, "references": None,
                "text": "Our printer is on fire.\n", "visible_text": "Our printer is on fire.\n",
                "automation": "person", "internal": False, "at": CREATED}

    def ack(i: int) -> dict[str, Any]:
        return {"key": f"ack:{i + 1}:user{i}@acme.com", "ticket_id": i + 1, "kind": "acknowledgement",
                "audience": "customer", "recipient": f"user{i}@acme.com", "automatic": True, "plan": "standard",
                "customer_id": "acme", "context": {}, "message_id": f"<ack{i}@example.com>",
                "in_reply_to": f"<m{i}@acme.com>", "references": [f"<m{i}@acme.com>"], "body": b"x" * 200,
                "state": "sent", "attempts": 1, "next_attempt_at": CREATED, "claimed_at": None, "claimed_by": None,
                "created_at": CREATED, "sent_at": CREATED + timedelta(seconds=1), "last_error": None}

    with app.engine.begin() as conn:
        for rows in chunks(n, ticket):
            conn.execute(insert(Ticket.__table__), rows)
        for rows in chunks(n, message):
            conn.execute(insert(TicketMessage.__table__), rows)
        for rows in chunks(n, ack):
            conn.execute(insert(OutboxRow.__table__), rows)
        conn.execute(update(CounterRow.__table__).where(CounterRow.name == "tracking").values(value=n))
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n)"), {"n": n})
        last_outbox = int(conn.execute(select(func.max(OutboxRow.id))).scalar_one())
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))  # what autovacuum has done by now on a live database
    # SQLite never analyzes by itself and the service never runs ANALYZE: its planner has no
    # statistics. `analyze_sqlite` adds the row measured with them (as after `PRAGMA optimize`).
    return last_outbox


def due_ids(n: int, due: int) -> dict[str, list[int]]:
    """`due` ticket ids spread evenly over the table, by severity (about one in five critical)."""
    step = n // due
    assert step >= 5, "need at least 5 open tickets per due one"
    ids: dict[str, list[int]] = {s: [] for s in CADENCE}
    for k in range(due):
        i = k * step + k % 5
        ids[severity_of(i)].append(i + 1)
    return ids


def make_due(app: App, ids: dict[str, list[int]], last_outbox: int) -> None:
    """Put the due tickets (back) as they were before a sweep: update due, nothing queued or sent."""
    with app.engine.begin() as conn:
        conn.execute(delete(OutboxRow.__table__).where(OutboxRow.id > last_outbox))
        conn.execute(delete(Event.__table__))
        conn.execute(delete(TicketMessage.__table__).where(TicketMessage.direction == "out"))
        for severity, chosen in ids.items():
            s = shape(app, severity, due=True)
            conn.execute(update(Ticket.__table__).where(Ticket.id.in_(chosen))
                         .values(**s.values, next_check_at=s.next_check_at))


# -- timing -----------------------------------------------------------------------------------


def timed(call: Callable[[], Counter[str]]) -> tuple[float, Counter[str]]:
    started = time.perf_counter()
    done = call()
    return (time.perf_counter() - started) * 1000, done


@dataclass
class Row:
    backend: str
    open: int
    due: int
    transport: str
    sweep_ms: float
    dispatch_ms: float
    run_once_ms: float
    emails: int


@dataclass
class Bench:
    app: App
    outbound: Outbound
    transport: MemoryTransport
    last_outbox: int


def open_bench(url: str, tmp: Path, n: int) -> tuple[Bench, float]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    (tmp / "inbox.yaml").write_text(CONFIG.format(url=url, tmp=tmp, templates=TEMPLATES))
    app = build_app(load_settings(tmp / "inbox.yaml"), FixedClock(NOW))
    app.desk()  # the secret is made once, outside every timing
    started = time.perf_counter()
    last_outbox = seed(app, n)
    seeding = time.perf_counter() - started
    transport = MemoryTransport()
    return Bench(app, app.outbound(transport), transport, last_outbox), seeding


def nothing_due(bench: Bench, runs: int) -> tuple[float, float, float]:
    """Best of `runs` ms for the sweep alone, the dispatch alone and run_once, with nothing due."""
    app, outbound = bench.app, bench.outbound
    results = []
    for _ in range(runs):
        s, a = timed(lambda: sweep(app.sessions, outbound.current.get(), NOW))
        d, b = timed(lambda: outbound.dispatcher.run(NOW))
        r, c = timed(lambda: outbound.run_once(NOW))
        assert not (a or b or c), (a, b, c)
        results.append((s, d, r))
    return min(x[0] for x in results), min(x[1] for x in results), min(x[2] for x in results)


def check(done: Counter[str], due: int, sent: int) -> None:
    if done.get("status_update") != due or done.get("sent") != due or sent != due or (
            set(done) - {"status_update", "sent"}):
        raise RuntimeError(f"expected {due} status updates queued and sent, got {dict(done)}, {sent} handed over")


def split_run_once(outbound: Outbound) -> tuple[float, float, float, Counter[str]]:
    """One run_once; ms in the sweep, in the dispatch, in all, and what it did.

    The dispatcher's `run` is timed inside the very call (an attribute on this instance only),
    so the sweep is run_once less the dispatch: jobs.sweep, as run_once calls it."""
    dispatcher = outbound.dispatcher
    inner = dispatcher.run
    spent: list[float] = []

    def run(now: datetime, limit: int | None = None) -> Counter[str]:
        started = time.perf_counter()
        try:
            return inner(now, limit)
        finally:
            spent.append((time.perf_counter() - started) * 1000)

    dispatcher.run = run  # type: ignore[method-assign]
    try:
        total, done = timed(lambda: outbound.run_once(NOW))
    finally:
        del dispatcher.run
    return total - sum(spent), sum(spent), total, done


def due_case(bench: Bench, ids: dict[str, list[int]], due: int, runs: int,
             outbound: Outbound | None = None, sent: Callable[[], int] | None = None) -> tuple[float, float, float]:
    """Best of `runs` ms for the sweep, the dispatch and the whole run_once, `due` emails each time."""
    outbound = outbound or bench.outbound
    count = sent or (lambda: len(bench.transport.sent))
    # Untimed, on a few tickets: templates compiled, statements cached, connections open.
    make_due(bench.app, {severity: chosen[:10] for severity, chosen in ids.items()}, bench.last_outbox)
    outbound.run_once(NOW)
    results = []
    for _ in range(runs):
        make_due(bench.app, ids, bench.last_outbox)
        bench.transport.sent.clear()
        before = count()
        s, d, r, done = split_run_once(outbound)
        check(done, due, count() - before)
        results.append((s, d, r))
    return min(x[0] for x in results), min(x[1] for x in results), min(x[2] for x in results)


def profile_once(bench: Bench, ids: dict[str, list[int]], label: str, top: int = 30) -> None:
    make_due(bench.app, ids, bench.last_outbox)
    bench.transport.sent.clear()
    profiler = cProfile.Profile()
    profiler.enable()
    bench.outbound.run_once(NOW)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # Our code and the stdlib email package, by cumulative time (the profiler about doubles times).
    stats.sort_stats("cumulative").print_stats(r"/(inbox|autoresponder)/|/email/(message|generator|feedparser|parser)\.py", top)
    print(f"\n--- cProfile, one run_once with {sum(map(len, ids.values()))} due, {label}: top {top} by cumulative time ---")
    print("\n".join(line for line in out.getvalue().splitlines()
                    if line.strip() and not line.strip().startswith(("Ordered by", "List reduced"))))


def analyze_sqlite(bench: Bench, runs: int) -> tuple[float, float, float]:
    """Nothing due again, once SQLite has statistics (ANALYZE): the outbox is nearly all 'sent'."""
    with bench.app.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return nothing_due(bench, runs)


# -- an SMTP sink in a process of its own (bench/smtp.py's bare aiosmtpd server) ---------------


@contextmanager
def smtp_sink() -> Iterator[int]:
    from bench.smtp import serve

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=serve, args=("bare", None, child), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("SMTP sink did not start")
        yield parent.recv()
        parent.send("stop")
        parent.poll(30)
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()


class CountingSmtp(SmtpTransport):
    """The SMTP transport as app.transport() builds it, counting what the relay accepted."""

    accepted = 0

    def send(self, message: bytes, mail_from: str, rcpt_tos: Any) -> None:
        super().send(message, mail_from, rcpt_tos)
        self.accepted += 1


# -- databases --------------------------------------------------------------------------------


@contextmanager
def database(backend: str, admin_url: str) -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            yield f"sqlite:///{tmp}/bench.db", Path(tmp)
            return
        url, drop = fresh_pg(admin_url)
        try:
            yield url, Path(tmp)
        finally:
            drop()


def measure(backend: str, args: argparse.Namespace, sizes: list[int]) -> list[Row]:
    label = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[backend]
    rows: list[Row] = []
    for n in sizes:
        with database(backend, args.pg) as (url, tmp):
            bench, seeding = open_bench(url, tmp, n)
            try:
                print(f"  {label}, {n:,} open: seeded in {seeding:.1f} s", flush=True)
                s, d, r = nothing_due(bench, args.idle_runs)
                rows.append(Row(label, n, 0, "memory", s, d, r, 0))
                ids = due_ids(n, args.due)
                s, d, r = due_case(bench, ids, args.due, args.runs)
                rows.append(Row(label, n, args.due, "memory", s, d, r, args.due))
                print(f"  {label}, {n:,} open: {args.due} due in {r:.0f} ms (memory transport)", flush=True)
                if not args.no_smtp and n == max(sizes):
                    with smtp_sink() as port:
                        smtp = CountingSmtp("127.0.0.1", port)
                        outbound = bench.app.outbound(smtp)
                        s, d, r = due_case(bench, ids, args.due, min(args.runs, 2), outbound, lambda smtp=smtp: smtp.accepted)
                    rows.append(Row(label, n, args.due, "smtp sink", s, d, r, args.due))
                    print(f"  {label}, {n:,} open: {args.due} due in {r:.0f} ms (SMTP sink)", flush=True)
                if args.profile and n == max(sizes):
                    profile_once(bench, ids, f"{label}, {n:,} open, memory transport")
                if backend == "sqlite" and n == max(sizes):
                    s, d, r = analyze_sqlite(bench, args.idle_runs)
                    rows.append(Row(f"{label} ANALYZEd", n, 0, "memory", s, d, r, 0))
            finally:
                bench.app.close()
    return rows


def report(rows: list[Row], sizes: list[int], due: int) -> None:
    print()
    print(f"| {'backend':<17} | {'open tickets':>12} | {'due':>5} | {'transport':<9} | {'sweep ms':>9} | "
          f"{'dispatch ms':>11} | {'run_once ms':>11} | {'emails':>6} | {'ms/email':>8} | {'dispatch share':>14} |")
    print(f"|{'-' * 19}|{'-' * 14}|{'-' * 7}|{'-' * 11}|{'-' * 11}|{'-' * 13}|{'-' * 13}|{'-' * 8}|{'-' * 10}|{'-' * 16}|")
    for r in rows:
        per = f"{r.run_once_ms / r.emails:.2f}" if r.emails else "-"
        share = f"{r.dispatch_ms / (r.sweep_ms + r.dispatch_ms):.0%}" if r.emails else "-"
        print(f"| {r.backend:<17} | {r.open:>12,} | {r.due:>5} | {r.transport:<9} | {r.sweep_ms:>9.1f} | "
              f"{r.dispatch_ms:>11.1f} | {r.run_once_ms:>11.1f} | {r.emails:>6} | {per:>8} | {share:>14} |")
    print()
    small, large = min(sizes), max(sizes)
    for backend in dict.fromkeys(r.backend for r in rows):
        mine = {(r.open, r.due, r.transport): r for r in rows if r.backend == backend}
        for n in sizes:
            idle = mine.get((n, 0, "memory"))
            if idle:
                print(f"{backend}, {n:,} open, nothing due: run_once {idle.run_once_ms:.1f} ms = "
                      f"{idle.run_once_ms / AIM_NOTHING_DUE_MS:.2f} x the {AIM_NOTHING_DUE_MS:.0f} ms aim "
                      f"({'met' if idle.run_once_ms < AIM_NOTHING_DUE_MS else 'MISSED'})")
        a, b = mine.get((small, due, "memory")), mine.get((large, due, "memory"))
        if a and b and small != large:
            print(f"{backend}, {due} due: run_once at {large:,} / at {small:,} open = {b.run_once_ms / a.run_once_ms:.2f} "
                  f"(sweep {b.sweep_ms / a.sweep_ms:.2f}, dispatch {b.dispatch_ms / a.dispatch_ms:.2f}; aim about 1.0)")
        smtp = mine.get((large, due, "smtp sink"))
        if smtp and b:
            print(f"{backend}, {due} due at {large:,} open: SMTP sink / memory transport run_once = "
                  f"{smtp.run_once_ms / b.run_once_ms:.2f} ({(smtp.dispatch_ms - b.dispatch_ms) / due:.1f} ms more "
                  f"dispatch per email: one SMTP session each)")
    print("sweep = inbox.tickets.sweep (queues the emails); dispatch = Dispatcher.run (claim, render, compose,")
    print("send, record), timed inside the same run_once; dispatch share = dispatch / (sweep + dispatch).")
    print("Each column is the best of its runs (so sweep + dispatch need not add up to run_once); nothing-due")
    print("rows time the sweep, the dispatch and run_once each on its own.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default=None, help="open ticket counts, comma-separated (default 10000,100000)")
    parser.add_argument("--due", type=int, default=None, help="tickets due in the busy case (default 1000)")
    parser.add_argument("--runs", type=int, default=None,
                        help="best of this many runs of the busy case (default 2; SMTP sink: at most 2)")
    parser.add_argument("--idle-runs", type=int, default=5, help="best of this many runs with nothing due")
    parser.add_argument("--quick", action="store_true", help="2,000 and 10,000 open, 200 due, best of 2")
    parser.add_argument("--no-smtp", action="store_true", help="skip the SMTP sink figure")
    parser.add_argument("--profile", action="store_true", help="cProfile one busy run_once at the largest size")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("2000,10000" if args.quick else "10000,100000")).split(",")]
    args.due = args.due or (200 if args.quick else 1000)
    args.runs = args.runs or 2
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"open tickets {', '.join(f'{n:,}' for n in sizes)}; {args.due} due; best of {args.runs} "
          f"(nothing due: best of {args.idle_runs}); clock at {NOW.isoformat()}")
    started = time.perf_counter()
    rows: list[Row] = []
    for backend in backends:
        try:
            rows += measure(backend, args, sizes)
        except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so, keep the rest
            if backend != "postgresql" or args.backend == "postgresql":
                raise
            print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
    report(rows, sizes, args.due)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
