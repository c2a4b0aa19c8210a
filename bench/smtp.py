"""SMTP benchmark: our listener (store, then 250) beside a bare aiosmtpd server (250 at once).

The same 2,000 mixed mails go over 10 concurrent connections, several messages each, from
one aiosmtplib client process into a server process of each kind, in the same run:

  bare aiosmtpd   a handler that only answers 250 (nothing stored)
  ours, SQLite    SmtpListener committing into a fresh SQLite database (group commit)
  ours, PG        the same into a fresh PostgreSQL database, when one is reachable

Prints accepted messages per second for each and the ratio ours / bare (aim: >= 0.6 on
SQLite), then the seconds until every stored mail is a ticket: the queue drained by
`app.worker(parse_processes=1)` after sending. Best of `--runs` runs for each figure.

    .venv/bin/python bench/smtp.py [--count 2000] [--connections 10] [--runs 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import config_text, fresh_pg  # noqa: E402
from bench.mailgen import generate  # noqa: E402
from inbox.app import build_app  # noqa: E402
from inbox.clock import SystemClock  # noqa: E402
from inbox.metrics import Metrics  # noqa: E402
from inbox.receive.smtp import SmtpListener  # noqa: E402
from inbox.settings import load_settings  # noqa: E402
from inbox.store import rawqueue  # noqa: E402
from inbox.store.db import make_engine  # noqa: E402
from inbox.store.migrate import upgrade  # noqa: E402

SENDER = "bench@client.test"
RECIPIENT = "support@example.com"
MAX_BYTES = 26_214_400


# -- the servers, each in a process of its own ------------------------------------------------


class AnswerOnly:
    """The bare baseline: every message is answered 250 and dropped."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


def serve(kind: str, config: str | None, conn: Connection) -> None:
    """Child process: run one server until the parent says stop; report its port, then (commits, CPU seconds)."""
    asyncio.run(_serve(kind, config, conn))


async def _serve(kind: str, config: str | None, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    if kind == "bare":
        server = await loop.create_server(
            lambda: SMTP(AnswerOnly(), hostname="bench.test", data_size_limit=MAX_BYTES, enable_SMTPUTF8=True, loop=loop),
            "127.0.0.1", 0,
        )
        conn.send(server.sockets[0].getsockname()[1])
        ready = time.process_time()
        await loop.run_in_executor(None, conn.recv)
        busy = time.process_time() - ready
        server.close()
        conn.send((0, busy))
        return
    assert config is not None
    app = build_app(load_settings(Path(config)), SystemClock())
    listener = SmtpListener(
        app.settings.smtp.model_copy(update={"host": "127.0.0.1", "port": 0}),
        accepts=app.settings.is_support_address, store=app.rawstore, metrics=Metrics(),
        on_stored=lambda: None, clock=app.clock, hostname="bench.test",
    )
    await listener.start()
    conn.send(listener.port)
    ready = time.process_time()
    await loop.run_in_executor(None, conn.recv)
    busy = time.process_time() - ready
    await listener.stop()
    app.close()
    conn.send((listener.commits, busy))


# -- the client ----------------------------------------------------------------------------


async def blast(port: int, mails: list[bytes], connections: int) -> tuple[float, int]:
    """Send every mail over `connections` concurrent sessions; seconds taken and messages refused."""
    queue = iter(mails)
    refused = 0

    async def session() -> None:
        nonlocal refused
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=120,
                                   local_hostname="client.test") as smtp:
            for data in queue:  # one shared iterator: each connection takes the next mail
                try:
                    await smtp.sendmail(SENDER, [RECIPIENT], data)
                except aiosmtplib.SMTPException as exc:
                    refused += 1
                    print(f"  refused: {exc}", file=sys.stderr)

    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(connections)))
    return time.perf_counter() - started, refused


@dataclass
class Result:
    send_seconds: float
    commits: int = 0
    server_cpu: float = 0.0  # CPU seconds the server process used while the client sent
    drain_seconds: float | None = None


def run_server(kind: str, config: Path | None, mails: list[bytes], connections: int) -> Result:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=serve, args=(kind, str(config) if config else None, child), daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError(f"{kind} server did not start")
        port = parent.recv()
        seconds, refused = asyncio.run(blast(port, mails, connections))
        parent.send("stop")
        commits, cpu = parent.recv() if parent.poll(60) else (-1, -1.0)
    finally:
        process.join(60)
        if process.is_alive():
            process.kill()
    if refused:
        raise RuntimeError(f"{kind}: {refused} messages refused")
    return Result(seconds, commits, cpu)


def ours(url: str, tmp: Path, mails: list[bytes], connections: int) -> Result:
    """Our listener into a fresh database at `url`, then the queue drained into tickets."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    config = tmp / "inbox.yaml"
    config.write_text(config_text(url, tmp))
    app = build_app(load_settings(config), SystemClock())
    app.secret()  # made once here, not inside the timed drain
    try:
        result = run_server("ours", config, mails, connections)
        started = time.perf_counter()
        worker = app.worker(parse_processes=1)
        try:
            counts = worker.drain()
        finally:
            worker.close()
        with app.sessions() as session:
            depth = rawqueue.depth(session)
        result.drain_seconds = time.perf_counter() - started
    finally:
        app.close()
    pending = {s: n for s, n in depth.items() if s not in (rawqueue.PROCESSED,)}
    if sum(depth.values()) != len(mails) or pending or sum(counts.values()) != len(mails):
        raise RuntimeError(f"expected {len(mails)} processed rows, got {depth}, outcomes {dict(counts)}")
    return result


def best(runs: list[Result], key: Callable[[Result], float]) -> Result:
    return min(runs, key=key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    mails = generate(args.count)
    print(f"{len(mails)} mails, {sum(map(len, mails)) / len(mails) / 1024:.1f} KB on average, "
          f"{args.connections} connections, best of {args.runs} runs")

    def sqlite() -> Result:
        with tempfile.TemporaryDirectory() as tmp:
            return ours(f"sqlite:///{tmp}/bench.db", Path(tmp), mails, args.connections)

    def postgres() -> Result:
        url, drop = fresh_pg(args.pg)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return ours(url, Path(tmp), mails, args.connections)
        finally:
            drop()

    kinds: dict[str, Callable[[], Result]] = {
        "bare aiosmtpd (250 only)": lambda: run_server("bare", None, mails, args.connections),
        "ours, SQLite": sqlite,
        "ours, PostgreSQL": postgres,
    }
    results: dict[str, list[Result]] = {name: [] for name in kinds}
    for _run in range(args.runs):  # interleaved, so a noisy neighbour hurts every kind alike
        for name, measure in list(kinds.items()):
            try:
                results[name].append(measure())
            except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: say so, keep the rest
                if name != "ours, PostgreSQL":
                    raise
                print(f"{name} skipped: {str(exc).splitlines()[0]}")
                del kinds[name], results[name]
    bare = best(results.pop("bare aiosmtpd (250 only)"), key=lambda r: r.send_seconds)
    bare_rate = len(mails) / bare.send_seconds
    print(f"{'server':<26}{'send s':>8}{'msg/s':>7}{'ratio':>7}{'cpu s':>7}{'commits':>9}{'msg/commit':>11}"
          f"{'drain s':>9}{'tickets/s':>10}{'to tickets s':>14}")
    print(f"{'bare aiosmtpd (250 only)':<26}{bare.send_seconds:>8.2f}{bare_rate:>7.0f}{1:>7.2f}{bare.server_cpu:>7.2f}")
    for name, runs in results.items():
        sent = best(runs, key=lambda r: r.send_seconds)
        whole = best(runs, key=lambda r: r.send_seconds + (r.drain_seconds or 0.0))
        rate, drain = len(mails) / sent.send_seconds, whole.drain_seconds or 0.0
        print(f"{name:<26}{sent.send_seconds:>8.2f}{rate:>7.0f}{rate / bare_rate:>7.2f}{sent.server_cpu:>7.2f}{sent.commits:>9}"
              f"{len(mails) / max(sent.commits, 1):>11.1f}{drain:>9.2f}{len(mails) / drain:>10.0f}"
              f"{whole.send_seconds + drain:>14.2f}")
    print("ratio = accepted msg/s / bare msg/s (aim: >= 0.60 on SQLite); cpu s = server CPU while the client sent;")
    print("drain s = seconds from the last 250 until no row is pending (app.worker(parse_processes=1).drain());")
    print("to tickets s = first connection to the last ticket (send s + drain s of the fastest such run)")


if __name__ == "__main__":
    main()
