"""Outbox benchmark: emails per second of `Dispatcher.run` beside the plain path, before and after.

N mails from N different people (so no hourly limit holds one back) are ingested, untimed, into a
fresh SQLite file or PostgreSQL database: each opens a ticket and queues its acknowledgement. Then
one `Dispatcher.run` is timed as it claims, decides, renders, composes, sends to a bare aiosmtpd
sink on loopback (a process of its own) and records them all. The plain path renders the same
acknowledgement templates with Jinja2 from the same contexts, composes each with the stdlib
`email` package and sends it with `smtplib` over one reused connection to the same sink.

The outbox runs as the code of this tree and as that of a git revision (`--against`, default
main; its files are exported with `git archive` into a temporary folder), each in a process of
its own, alternating, in the same run: this machine's speed moves between runs, so only ratios
within one run mean anything. Aim (issue 20): outbox / plain at most 1.5.

    .venv/bin/python bench/outbox.py [--count 1000] [--runs 2] [--backend sqlite|postgresql|both]
        [--against main] [--pg URL]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import smtplib
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CODE = Path(os.environ.get("BENCH_CODE", ROOT))  # whose inbox is measured: this tree's, or an exported revision's
sys.path.insert(0, str(CODE))

NOW = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)
AIM = 1.5


def mails(count: int) -> list[bytes]:
    """`count` first mails, each from a person of its own at a customer's domain."""
    out = []
    for i in range(count):
        msg = EmailMessage()
        msg["From"] = f"user{i}@acme.com"
        msg["To"] = "support@example.com"
        msg["Date"] = format_datetime(NOW)
        msg["Message-ID"] = f"<storm-{i}@acme.com>"
        msg["Subject"] = f"Dashboard down for team {i}"
        msg.set_content(f"Since 9:00 team {i} cannot open the dashboard.\n\n-- \nUser {i}\n")
        out.append(msg.as_bytes())
    return out


# -- one measurement, in a child process running CODE's inbox ---------------------------------


def outbox_once(backend: str, count: int, port: int, pg: str) -> dict[str, Any]:
    """Ingest `count` mails (untimed), then time one Dispatcher.run sending their emails to the sink."""
    from autoresponder.transport import SmtpTransport
    from bench.ingest import config_text, fresh_pg
    from inbox.app import build_app
    from inbox.clock import FixedClock
    from inbox.rawstore import RawItem
    from inbox.settings import load_settings
    from inbox.store.db import make_engine
    from inbox.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = (f"sqlite:///{tmp}/bench.db", None) if backend == "sqlite" else fresh_pg(pg)
        try:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            (Path(tmp) / "inbox.yaml").write_text(config_text(url, Path(tmp)))
            app = build_app(load_settings(Path(tmp) / "inbox.yaml"), FixedClock(NOW))
            try:
                app.secret()
                ids = [r.id for r in app.rawstore.put_many([RawItem(m, "bench") for m in mails(count)])]
                worker = app.worker(parse_processes=1)
                worker.drain(ids)
                worker.close()
                transport = SmtpTransport("127.0.0.1", port, timeout=30)
                dispatcher = app.outbound(transport).dispatcher
                queued = _queued(app)
                started = time.perf_counter()
                done = dispatcher.run(NOW)
                seconds = time.perf_counter() - started
                return {"emails": done["sent"], "queued": queued, "seconds": seconds, "done": dict(done),
                        "connections": getattr(transport, "connections", None)}
            finally:
                app.close()
        finally:
            if drop is not None:
                drop()


def _queued(app: Any) -> int:
    from sqlalchemy import func, select

    from inbox.store.tables import OutboxRow

    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")).scalar_one())


# -- the plain path ---------------------------------------------------------------------------


def plain(count: int, port: int) -> float:
    """Seconds to render `count` acknowledgements with Jinja2, compose them with `email` and send
    them with smtplib over one connection: what the outbox is measured against."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "templates" / "acknowledgement")),
                             autoescape=jinja2.select_autoescape(["html.j2"]), undefined=jinja2.StrictUndefined)
    subject_t, text_t, html_t = (env.get_template(f"{name}.j2") for name in ("subject.txt", "body.txt", "body.html"))
    contexts = [_context(i) for i in range(count)]
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for i, context in enumerate(contexts):
            msg = EmailMessage(policy=SMTP)  # CRLF line ends, as the wire wants them
            msg["From"] = "Support <support@example.com>"
            msg["To"] = f"user{i}@acme.com"
            msg["Subject"] = subject_t.render(context).strip()
            msg["Date"] = format_datetime(NOW)
            msg["Message-ID"] = f"<ack-{i}@example.com>"
            msg.set_content(text_t.render(context))
            msg.add_alternative(html_t.render(context), subtype="html")
            smtp.sendmail("support@example.com", [f"user{i}@acme.com"], msg.as_bytes())
    return time.perf_counter() - started


def _context(i: int) -> dict[str, Any]:
    """An acknowledgement's template data, as the outbox queues it for a customer."""
    from autoresponder.samples import sample_context

    context = sample_context("acknowledgement")
    ticket = dict(context["ticket"])
    ticket.update(tracking=f"SUP-{i + 1:06d}", subject=f"Dashboard down for team {i}")
    return {**context, "ticket": ticket}


# -- the parent: a sink, both codes, both backends ----------------------------------------------


@contextmanager
def sink() -> Iterator[int]:
    from bench.scheduler import smtp_sink

    with smtp_sink() as port:
        yield port


@contextmanager
def exported(rev: str) -> Iterator[Path]:
    """The files of `rev` of this repository, in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


def child(code: Path, backend: str, count: int, port: int, pg: str) -> dict[str, Any]:
    env = {**os.environ, "BENCH_CODE": str(code), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", backend, "--count", str(count),
                          "--port", str(port), "--pg", pg], env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2, help="best of this many runs each")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--against", default="main", help="the git revision to compare with (default main)")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--child", choices=("sqlite", "postgresql"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(outbox_once(args.child, args.count, args.port, args.pg)))
        return
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"{args.count} acknowledgements to a bare aiosmtpd sink; best of {args.runs}; this tree vs {args.against}")
    rows: list[tuple[str, str, float, str]] = []
    with sink() as port, exported(args.against) as before:
        plain_s = min(plain(args.count, port) for _ in range(args.runs))
        rows.append(("plain (Jinja2 + email + smtplib, 1 connection)", "-", args.count / plain_s, "-"))
        for backend in backends:
            best: dict[str, dict[str, Any]] = {}
            for _ in range(args.runs):
                for label, code in ((args.against, before), ("this tree", ROOT)):
                    got = child(code, backend, args.count, port, args.pg)
                    if got["emails"] != args.count or got["queued"] != args.count:
                        raise RuntimeError(f"{label} on {backend}: expected {args.count} sent, got {got}")
                    if label not in best or got["seconds"] < best[label]["seconds"]:
                        best[label] = got
            for label, got in best.items():
                rows.append((f"outbox, {label}", backend, got["emails"] / got["seconds"],
                             str(got["connections"] if got["connections"] is not None else "1 each")))
    plain_rate = rows[0][2]
    print()
    print(f"| {'path':<48} | {'backend':<10} | {'emails/s':>8} | {'ms/email':>8} | {'outbox/plain':>12} | {'SMTP connections':>16} |")
    print(f"|{'-' * 50}|{'-' * 12}|{'-' * 10}|{'-' * 10}|{'-' * 14}|{'-' * 18}|")
    for path, backend, rate, connections in rows:
        ratio = f"{plain_rate / rate:.2f}" if backend != "-" else "1.00"
        print(f"| {path:<48} | {backend:<10} | {rate:>8.0f} | {1000 / rate:>8.2f} | {ratio:>12} | {connections:>16} |")
    print(f"\noutbox/plain = time per email of the outbox / of the plain path (aim at most {AIM}).")


if __name__ == "__main__":
    main()
