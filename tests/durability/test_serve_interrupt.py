"""Ctrl-C on `inbox serve`: SIGINT to the whole process group, as a terminal sends it, after a mail
was parsed. The service stops as cleanly as on SIGTERM (exit 0), and no process of the group
prints a traceback: children and parser processes leave the stopping to the process started.

Real subprocesses on a real database (both); waits are bounded polls, never a deadline slept through.
"""

from __future__ import annotations

import os
import signal
import smtplib
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.roles import ALL_ROLES, layout
from inbox.store.db import make_engine
from inbox.store.tables import Ticket
from tests.durability.serve import ServeProcess, free_port
from tests.fakes import mail, write_config

BOUND = 60.0  # seconds: a bound on a hang, not a deadline


def _server(tmp_path: Path, db_url: str, *words: str) -> tuple[ServeProcess, int, Path]:
    smtp_port = free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {free_port()}}}
        """)
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "inbox", "--config", str(config), "serve", *words]
    return ServeProcess(config, smtp_port, log, argv=argv, env={**os.environ, "INBOX_LOG_LEVEL": "INFO"}), smtp_port, log


def _tickets(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
    finally:
        engine.dispose()


def _cmdlines(server: ServeProcess) -> list[bytes]:
    found = []
    for pid in server.group():
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue  # gone meanwhile
    return found


@pytest.mark.parametrize("words", [("--one-process",), ()], ids=["one-process", "split"])
def test_ctrl_c_after_a_parsed_mail_stops_every_process_cleanly(db_url: str, tmp_path: Path,
                                                                  words: tuple[str, ...]) -> None:
    """SIGINT to the group, once a ticket exists: exit 0, no Traceback or KeyboardInterrupt from any
    process (the parser pool's included), and nothing of the group left running."""
    server, port, log = _server(tmp_path, db_url, *words)
    try:
        server.start()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("alice@acme.com", ["support@example.com"], mail(message_id="<ctrl-c@acme.com>"))
        assert server.wait_until(lambda: _tickets(db_url) == 1, BOUND), log.read_text()[-3000:]
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGINT)
        assert server.proc.wait(BOUND) == 0, log.read_text()[-3000:]
        assert server.wait_until(lambda: not server.group(), BOUND), "a process outlived Ctrl-C"
        text = log.read_text()
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
        assert "inbox serve: stopped" in text
    finally:
        server.kill()


def test_split_serve_runs_the_children_it_announces(db_url: str, tmp_path: Path) -> None:
    """Split, the group holds one `inbox.child` process per group of roles the layout gives this
    machine, each announced by its pid in the log: no more, no fewer."""
    server, _, log = _server(tmp_path, db_url)
    try:
        server.start()
        _, groups = layout(ALL_ROLES, cores=os.cpu_count() or 1, split=True)
        announced = [int(line.split("(pid ")[1].split(")")[0]) for line in log.read_text().splitlines()
                     if "started the " in line and "(pid " in line]
        children = [line for line in _cmdlines(server) if b"inbox.child" in line]
        assert len(announced) == len(groups) == len(children), log.read_text()[-3000:]
        assert sorted(announced) == sorted(pid for pid in server.group()
                                           if b"inbox.child" in Path(f"/proc/{pid}/cmdline").read_bytes())
    finally:
        server.kill()


def test_ctrl_c_while_serve_starts_prints_no_traceback(db_url: str, tmp_path: Path) -> None:
    """SIGINT to the group as soon as the process logs its first line (it is importing and building
    its parts, before it listens for SIGINT): one line, exit 130 (or 0 if the start had finished),
    no traceback from any process, nothing left running."""
    server, _, log = _server(tmp_path, db_url, "--one-process")
    try:
        server.launch()
        assert server.wait_until(lambda: log.exists() and log.stat().st_size > 0, BOUND)
        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGINT)
        assert server.proc.wait(BOUND) in (0, 130), log.read_text()[-3000:]
        assert server.wait_until(lambda: not server.group(), BOUND), "a process outlived Ctrl-C"
        text = log.read_text()
        assert "Traceback" not in text and "KeyboardInterrupt" not in text, text[-3000:]
    finally:
        server.kill()
