"""Storm benchmark (issue 20): `inbox serve` driven over SMTP at a steady rate, relay = a local sink.

For each database and rate, in the same run:
  bare     a bare aiosmtpd (answers 250, stores nothing) in a process of its own, driven the same
           way: the acceptance rate ours is compared with;
  storm    `PYTHONPATH=<tree> python -m inbox serve` on a fresh database, new mails from distinct
           people of a customer's domain over several connections at `rate` for `duration` s,
           then waited on until every ticket's acknowledgement reached the sink (or --drain s);
  outbox   `inbox ingest` of N mails, then `inbox jobs run-once` sends their acknowledgements: the
           seconds per email between the first and the last at the sink, beside the plain path
           (Jinja2 render of the same templates, stdlib `email` compose, `smtplib` over one
           reused connection to the same sink), for the same N.
Latencies come from the client's wall clock at each 250 against raw_messages.processed_at (the
ticket exists) and the sink's arrival time of the first email answering the mail (In-Reply-To,
else the tracking number). Backlog is sampled each second (raw rows not processed, outbox rows not
sent); peak RSS is each process's VmHWM in serve's process tree.

    .venv/bin/python bench/storm.py [--tree DIR] [--db sqlite|postgresql|both] [--rates 20,100]
                                    [--duration 60] [--find-max] [--connections 8] [--instances 1|2]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from multiprocessing.connection import Connection
from pathlib import Path

import aiosmtplib
import jinja2
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import fresh_pg  # noqa: E402
from bench.smtp import AnswerOnly  # noqa: E402
from bench.storm_kit import (PLAIN_RECIPIENT, SUPPORT, Mail, PeakMemory, StormSink, arrivals, as_epoch,  # noqa: E402
                             config_text, first_reply, free_port, storm_mails)
from bench.storm_table import HEADER, Storm, row, targets  # noqa: E402

# -- the client: mails at a steady rate over several connections ------------------------------


async def drive(port: int, mails: list[Mail], rate: float, connections: int) -> tuple[dict[str, float], float]:
    """Offer mail i at start + i/rate to whichever connection is free; mail id -> wall time of its 250,
    and the wall time the first was offered. A server that cannot keep up makes the queue wait."""
    queue: asyncio.Queue[Mail | None] = asyncio.Queue()
    accepted: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def pace() -> None:
        begun, offered = loop.time(), 0
        while offered < len(mails):
            due = min(len(mails), int((loop.time() - begun) * rate) + 1)
            for mail in mails[offered:due]:
                queue.put_nowait(mail)
            offered = due
            await asyncio.sleep(max(0.0, begun + offered / rate - loop.time()))
        for _ in range(connections):
            queue.put_nowait(None)

    async def session() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=120,
                                 local_hostname="client.test")
        await client.connect()
        while (mail := await queue.get()) is not None:
            try:
                await client.sendmail(mail.sender, [SUPPORT], mail.data)
                accepted[mail.message_id] = time.time()
            except aiosmtplib.SMTPException as exc:
                print(f"  refused {mail.message_id}: {exc}", file=sys.stderr)
        await client.quit()

    started = time.time()
    await asyncio.gather(pace(), *(session() for _ in range(connections)))
    return accepted, started


def acceptance_rate(accepted: dict[str, float], started: float) -> float:
    """Mails per second from the first offer to the last 250 (n mails span n - 1 intervals)."""
    return (len(accepted) - 1) / max(max(accepted.values(), default=started) - started, 1e-9)


def _bare(conn: Connection) -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(AnswerOnly(), hostname="bare.test", loop=loop), "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, conn.recv)
        server.close()
    asyncio.run(run())


def bare_rate(mails: list[Mail], rate: float, connections: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_bare, args=(child,), daemon=True)
    process.start()
    try:
        accepted, started = asyncio.run(drive(parent.recv(), mails, rate, connections))
        parent.send("stop")
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    return acceptance_rate(accepted, started)


# -- the served tree ----------------------------------------------------------------------


@dataclass
class Served:
    tree: Path
    url: str
    tmp: Path
    relay_port: int
    instances: int = 1
    smtp_port: int = field(default_factory=free_port)

    def config(self, name: str = "inbox.yaml") -> Path:
        path = self.tmp / name  # one file an instance: each is written with a port of its own
        path.write_text(config_text(self.url, self.tree, smtp_port=self.smtp_port, http_port=free_port(),
                                    relay_port=self.relay_port))
        return path

    def command(self, *words: str, config: str = "inbox.yaml") -> list[str]:
        return [sys.executable, "-m", "inbox", "--config", str(self.config(config)), *words]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "INBOX_TEST_CLOCK"}
        return {**env, "PYTHONPATH": str(self.tree), "INBOX_LOG_LEVEL": "WARNING"}

    def run(self, *words: str) -> None:
        done = subprocess.run(self.command(*words), cwd=self.tree, env=self.env(), capture_output=True, check=False)
        if done.returncode:
            raise RuntimeError(f"inbox {' '.join(words)} failed: {done.stderr.decode()[-2000:]}")

    def start(self) -> list[subprocess.Popen[bytes]]:
        """`inbox serve` as one instance, or with `instances=2` as two splitting the roles: one
        `--roles receive` (the port the storm is sent to), one `--roles ingest,send`."""
        log = (self.tmp / "serve.log").open("ab")
        split = [["--roles", "ingest,send"], ["--roles", "receive"]] if self.instances == 2 else [[]]
        procs = [subprocess.Popen(self.command("serve", *roles, config=f"inbox-{n}.yaml"), cwd=self.tree,
                                  env=self.env(), stdout=log, stderr=log)
                 for n, roles in enumerate(split)]
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if any(proc.poll() is not None for proc in procs):
                _stop(procs)
                raise RuntimeError(f"inbox serve exited: {(self.tmp / 'serve.log').read_text()[-2000:]}")
            try:
                smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=1).quit()
                return procs
            except OSError:
                time.sleep(0.1)
        _stop(procs)
        raise RuntimeError("inbox serve did not listen")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each instance (the receiving one first, as an operator would), SIGKILL what hangs."""
    for proc in reversed(procs):
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


BACKLOG = text("SELECT (SELECT count(*) FROM raw_messages WHERE state != 'processed'),"
               " (SELECT count(*) FROM outbox WHERE state IN ('pending', 'retry', 'sending'))")


def storm(served: Served, sink: StormSink, rate: float, duration: float, connections: int, drain: float) -> Storm:
    mails = storm_mails(int(rate * duration), tag=f"r{int(rate)}x{time.time_ns() % 10**8}")
    bare = bare_rate(mails, rate, connections)
    served.run("db", "upgrade")
    sink.take()
    procs = served.start()
    engine = create_engine(served.url)
    commits_before = _commits(engine)
    memories, backlog, sending = [PeakMemory(proc.pid) for proc in procs], [], threading.Event()
    stop = threading.Event()
    storm_seconds = 0

    def sample() -> None:
        nonlocal storm_seconds
        while not stop.wait(1.0):
            for memory in memories:
                memory.sample()
            with engine.connect() as conn:
                backlog.append(tuple(conn.execute(BACKLOG).one()))
            storm_seconds += sending.is_set()

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        sending.set()
        sampler.start()
        accepted, started = asyncio.run(drive(served.smtp_port, mails, rate, connections))
        sending.clear()
        end = time.monotonic() + drain
        while time.monotonic() < end and (not backlog or sum(backlog[-1]) or sink.count() < len(accepted)):
            time.sleep(0.5)
    finally:
        stop.set()
        sampler.join(5)
        _stop(procs)
    commits = _commits(engine) - commits_before
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT r.message_id, r.processed_at, t.tracking FROM raw_messages r"
                                 " LEFT JOIN tickets t ON t.id = r.ticket_id")).all()
    engine.dispose()
    processed = {str(mid).strip("<>"): (as_epoch(at), tracking) for mid, at, tracking in rows if mid}
    senders = {m.message_id: m.sender for m in mails}
    tracking_of = {mid: tr for mid, (_, tr) in processed.items() if tr}
    acked = first_reply(arrivals(sink.take()), senders, tracking_of)
    to_ticket = [at - accepted[mid] for mid, (at, _) in processed.items() if mid in accepted and at is not None]
    to_ack = [acked[mid] - t for mid, t in accepted.items() if mid in acked]
    return Storm(rate, acceptance_rate(accepted, started), bare, to_ticket, to_ack, len(accepted) - len(acked),
                 backlog, storm_seconds, sum(m.total_mib() for m in memories), [e for m in memories for e in m.each_mib()],
                 commits_per_mail=commits / max(1, len(accepted)))


def _commits(engine) -> float:  # type: ignore[no-untyped-def]
    """Transactions committed in this database so far (PostgreSQL's statistics; NaN on SQLite). The
    statistics lag by up to half a second: the storm's drain wait is longer than that."""
    if engine.dialect.name != "postgresql":
        return math.nan
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return float(conn.execute(text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))
                     .scalar_one())


# -- the outbox beside the plain path ------------------------------------------------------


def outbox_cost(served: Served, sink: StormSink, count: int) -> float:
    """Seconds per email `inbox jobs run-once` takes to send `count` acknowledgements, first to last."""
    mails = storm_mails(count, tag=f"o{time.time_ns() % 10**8}")
    folder = served.tmp / "mails"
    folder.mkdir(exist_ok=True)
    for i, mail in enumerate(mails):
        (folder / f"{i}.eml").write_bytes(mail.data)
    served.run("db", "upgrade")
    served.run("ingest", str(folder))
    sink.take()
    served.run("jobs", "run-once")
    times = sorted(at for at, rcpts, _ in sink.take() if PLAIN_RECIPIENT not in rcpts)
    if len(times) < 2:
        raise RuntimeError(f"run-once sent {len(times)} emails of {count}")
    return (times[-1] - times[0]) / (len(times) - 1)


def plain_cost(tree: Path, relay_port: int, count: int) -> float:
    """The same templates rendered with Jinja2, composed with `email`, sent over one smtplib connection."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(tree / "templates"), autoescape=jinja2.select_autoescape(["html.j2"]))
    subject, body, html = (env.get_template(f"acknowledgement/{name}") for name in ("subject.txt.j2", "body.txt.j2", "body.html.j2"))
    with smtplib.SMTP("127.0.0.1", relay_port) as client:
        started = time.perf_counter()
        for i in range(count):
            context = {"service": {"name": "Storm Support"}, "timezone": "UTC", "target": None,
                       "ticket": {"tracking": f"SUP-{i:06d}", "subject": f"Production down for us too #{i}",
                                  "severity": "low", "assignee_name": None}}
            msg = EmailMessage()
            msg["From"] = "Storm Support <support@example.com>"
            msg["To"] = PLAIN_RECIPIENT
            msg["Subject"] = subject.render(context).strip()
            msg["Message-ID"] = make_msgid(domain="example.com")
            msg["In-Reply-To"] = f"<plain-{i}@acme.com>"
            msg.set_content(body.render(context))
            msg.add_alternative(html.render(context), subtype="html")
            client.send_message(msg)
        return (time.perf_counter() - started) / count


# -- one table ----------------------------------------------------------------------------


def measure(tree: Path, db: str, pg: str, rate: float, args: argparse.Namespace, sink: StormSink, relay_port: int) -> Storm:
    """One storm and one outbox-vs-plain measurement, each on a fresh database."""
    def once(job):  # type: ignore[no-untyped-def]
        with tempfile.TemporaryDirectory() as tmp:
            if db == "sqlite":
                return job(Served(tree, f"sqlite:///{tmp}/storm.db", Path(tmp), relay_port))
            url, drop = fresh_pg(pg)
            try:
                return job(Served(tree, url, Path(tmp), relay_port, instances=args.instances))
            finally:
                drop()
    result: Storm = once(lambda served: storm(served, sink, rate, args.duration, args.connections, args.drain))
    result.outbox_ms = 1000 * once(lambda served: outbox_cost(served, sink, args.outbox_count))
    result.plain_ms = 1000 * plain_cost(tree, relay_port, args.outbox_count)
    sink.take()
    return result


def find_max(tree: Path, db: str, pg: str, args: argparse.Namespace, sink: StormSink, relay_port: int) -> list[Storm]:
    """Double the rate from 25/s while it is sustained, then halve the gap twice: the highest sustained rate."""
    tried: list[Storm] = []
    low, high, rate = 0.0, math.inf, 25.0
    while high - low > max(5.0, low / 4) and len(tried) < 8:
        tried.append(measure(tree, db, pg, rate, args, sink, relay_port))
        print(row(db, tried[-1]), flush=True)
        if tried[-1].sustained():
            low = rate
        else:
            high = rate
        rate = rate * 2 if high == math.inf else (low + high) / 2
    print(f"{db}: highest sustained rate found {low:.0f}/s (sustained: accepted >= 0.95 of offered, "
          "backlog at storm end <= its first half's most + 2 s of mail)")
    return tried


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose `inbox serve` is measured")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--rates", default="20,100", help="mails per second, comma separated")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of storm per rate")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--drain", type=float, default=300.0, help="seconds to wait after the storm for the last ack")
    parser.add_argument("--outbox-count", type=int, default=300, help="emails for the outbox-vs-plain figure")
    parser.add_argument("--find-max", action="store_true", help="search the highest sustained rate instead")
    parser.add_argument("--instances", type=int, choices=[1, 2], default=1,
                        help="2: two instances splitting the roles (receive | ingest,send); PostgreSQL only")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.instances == 2 and args.db != "postgresql":
        parser.error("--instances 2 needs --db postgresql: SQLite is for one instance")
    tree = args.tree.resolve()
    sink, relay_port = StormSink(), free_port()
    relay = Controller(sink, hostname="127.0.0.1", port=relay_port, ready_timeout=10)
    relay.start()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"tree {tree}; {args.instances} instance(s); {args.duration:.0f} s per rate, {args.connections} connections, "
          f"outbox figure over {args.outbox_count} emails; {os.cpu_count()} cores")
    print(HEADER, flush=True)
    results: list[tuple[str, Storm]] = []
    try:
        for db in dbs:
            if args.find_max:
                results += [(db, s) for s in find_max(tree, db, args.pg, args, sink, relay_port)]
                continue
            for rate in (float(r) for r in args.rates.split(",")):
                results.append((db, measure(tree, db, args.pg, rate, args, sink, relay_port)))
                print(row(db, results[-1][1]), flush=True)
    finally:
        relay.stop()
    print("ratio = accepted/s over bare aiosmtpd's at the same offered rate; latencies from the 250's wall time;"
          " backlog = raw rows not processed / outbox rows not sent (sampled each second);"
          " outbox ms = `jobs run-once` first-to-last email at the sink / emails; RSS = sum of each process's VmHWM")
    for db, s in results:
        series = " ".join(f"{raw}/{out}" for raw, out in s.backlog[::5])
        commits = "" if math.isnan(s.commits_per_mail) else f"; {s.commits_per_mail:.1f} database commits a mail"
        print(f"{db} @ {s.rate:.0f}/s backlog every 5 s (raw/outbox): {series}; peak RSS MB each: "
              + ", ".join(f"{mib:.0f}" for mib in s.rss_each) + commits)
    for db, s in results:
        print("\n".join(targets(db, s)))


if __name__ == "__main__":
    main()
