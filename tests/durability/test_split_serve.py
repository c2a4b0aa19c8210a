"""`inbox serve` across processes: the listener in the process started, ingest and send in children.

Real subprocesses on a real database (both): what crosses between them is only wakes, so each test
checks a mail goes all the way (ticket and acknowledgement), that a child that dies is started
again, that children never outlive their parent, and that two instances can split the roles.
Waits are bounded polls of the database or /proc, never a deadline slept through.
"""

from __future__ import annotations

import json
import mailbox
import os
import re
import shutil
import signal
import smtplib
import sys
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from inbox.store.db import make_engine
from inbox.store.tables import OutboxRow, Ticket
from tests.durability.serve import ROOT, ServeProcess, free_port
from tests.fakes import mail, write_config

BOUND = 60.0  # seconds: a bound on a hang, not a deadline


def _config(tmp_path: Path, db_url: str) -> tuple[Path, int]:
    smtp_port = free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {free_port()}}}
        """)
    return config, smtp_port


def _serving(tmp_path: Path, db_url: str) -> tuple[ServeProcess, int, Path]:
    """`inbox serve` on its own ports, logging at INFO (each child's start names its pid)."""
    config, port = _config(tmp_path, db_url)
    log = tmp_path / "serve.log"
    return ServeProcess(config, port, log, env={**os.environ, "INBOX_LOG_LEVEL": "INFO"}), port, log


def _ports_moved(config: Path, to: Path) -> Path:
    """The same config with other SMTP and HTTP ports: a second instance on the same machine."""
    lines = [re.sub(r"port: \d+", lambda _: f"port: {free_port()}", line) if line.startswith(("smtp:", "http:"))
             else line for line in config.read_text().splitlines()]
    to.write_text("\n".join(lines) + "\n")
    return to


def _send(port: int, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(f"user{n}@acme.com", ["support@example.com"],
                        mail(message_id=f"<split-{n}@acme.com>", subject=f"split {n}", sender=f"user{n}@acme.com"))


def _acknowledged(engine, tmp_path: Path, n: int) -> bool:
    with engine.connect() as conn:
        tickets = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
        sent = conn.execute(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "sent")).scalar_one()
    return tickets == n and sent == n and len(mailbox.Maildir(tmp_path / "sent")) == n


def _children(server: ServeProcess) -> list[int]:
    assert server.proc is not None
    return [pid for pid in server.group() if b"inbox.child" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _started(log: Path, role: str) -> list[int]:
    return [int(line.split("(pid ")[1].split(")")[0]) for line in log.read_text().splitlines()
            if f"started the {role} process" in line]


def test_serve_splits_into_processes_and_a_mail_goes_all_the_way(db_url: str, tmp_path: Path) -> None:
    server, port, log = _serving(tmp_path, db_url)
    engine = make_engine(db_url)
    try:
        server.start()
        assert server.wait_until(lambda: len(_started(log, "ingest")) == len(_started(log, "send")) == 1, BOUND)
        assert set(_started(log, "ingest") + _started(log, "send")) <= set(_children(server))
        _send(port, 1)
        assert server.wait_until(lambda: _acknowledged(engine, tmp_path, 1), BOUND), log.read_text()[-3000:]
        assert server.terminate() == 0  # SIGTERM: the parent stops its children in order, then exits
        assert server.wait_until(lambda: not server.group(), BOUND), "a child outlived a clean stop"
    finally:
        server.kill()
        engine.dispose()


def test_a_child_that_dies_is_started_again_and_the_mail_still_goes(db_url: str, tmp_path: Path) -> None:
    server, port, log = _serving(tmp_path, db_url)
    engine = make_engine(db_url)
    try:
        server.start()
        assert server.wait_until(lambda: len(_started(log, "send")) == 1, BOUND)
        [first] = _started(log, "send")
        os.kill(first, signal.SIGKILL)
        assert server.wait_until(lambda: len(_started(log, "send")) == 2, BOUND), log.read_text()[-3000:]
        assert "the send process died (exit -9)" in log.read_text()
        _send(port, 1)
        assert server.wait_until(lambda: _acknowledged(engine, tmp_path, 1), BOUND), log.read_text()[-3000:]
        assert _started(log, "send")[1] in _children(server) and first not in server.group()
    finally:
        server.kill()
        engine.dispose()


def test_children_never_outlive_a_parent_killed_alone(db_url: str, tmp_path: Path) -> None:
    """SIGKILL to the parent only (an OOM kill picks one process): its children see their pipe
    end and stop on their own, so a restarted instance never runs beside orphans."""
    server, port, log = _serving(tmp_path, db_url)
    try:
        server.start()
        assert server.wait_until(lambda: len(_children(server)) >= 2, BOUND)
        children = _children(server)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(BOUND)
        assert server.wait_until(lambda: not set(children) & set(server.group()), BOUND), "orphans kept running"
    finally:
        server.kill()


def test_healthz_shows_the_template_the_sending_child_refused(db_url: str, tmp_path: Path) -> None:
    """The parent serves /healthz, the child renders: the child's verdicts reach the page."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "acknowledgement" / "subject.txt.j2").write_text("Received {{ ticket.subject ")
    smtp_port, http_port = free_port(), free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {http_port}}}
        templates: {{dir: "{templates}"}}
        """)
    server = ServeProcess(config, smtp_port, tmp_path / "serve.log")
    try:
        server.start()

        def refused() -> list[dict]:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10) as answer:
                return json.load(answer)["templates"]["problems"]

        assert server.wait_until(lambda: bool(refused()), BOUND)
        assert "acknowledgement/subject.txt.j2" in json.dumps(refused())
    finally:
        server.kill()


def test_two_instances_split_the_roles_between_them(db_url: str, tmp_path: Path) -> None:
    """One instance only receives (`--roles receive`), the other ingests and sends: the mail the
    first accepts becomes a ticket and an acknowledgement through the second (woken by NOTIFY on
    PostgreSQL, by its own tick on SQLite)."""
    config, port = _config(tmp_path, db_url)
    other = _ports_moved(config, tmp_path / "other.yaml")
    env = {**os.environ, "INBOX_LOG_LEVEL": "INFO"}
    receiving = ServeProcess(config, port, tmp_path / "receive.log", env=env,
                             argv=[sys.executable, "-m", "inbox", "--config", str(config), "serve", "--roles", "receive"])
    working = ServeProcess(other, None, tmp_path / "work.log", env=env,
                           argv=[sys.executable, "-m", "inbox", "--config", str(other), "serve", "--roles", "ingest,send"])
    engine = make_engine(db_url)
    try:
        working.start()
        receiving.start()
        assert not _children(receiving), "a receive-only instance starts no child"
        assert working.wait_until(lambda: len(_children(working)) >= 2, BOUND)
        _send(port, 1)
        assert working.wait_until(lambda: _acknowledged(engine, tmp_path, 1), BOUND), \
            (tmp_path / "work.log").read_text()[-3000:]
    finally:
        receiving.kill()
        working.kill()
        engine.dispose()
