"""The `ready` line of `inbox serve`: logged at INFO, shown with no log settings at all, and naming
where everything is (SMTP, the HTTP endpoint with its /admin page, each IMAP mailbox), never a
password or token. A real `inbox serve` subprocess on a real database (both)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tests.durability.serve import ServeProcess, free_port
from tests.fakes import write_config

BOUND = 60.0  # seconds: a bound on a hang, not a deadline
PASSWORD = "imap-secret-Zq81"
TOKEN = "admin-token-" + "x" * 40


def _ready_lines(log: Path) -> list[dict]:
    lines = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if str(record.get("msg", "")).startswith("inbox serve: ready"):
            lines.append(record)
    return lines


def _parent_ready(log: Path) -> list[dict]:
    # The children say "ready" first, each with its own line; the parent's, which names the SMTP
    # listener, comes only once they all have, so it is the one to wait for.
    return [r for r in _ready_lines(log) if "SMTP on" in r["msg"]]


def _serve(tmp_path: Path, db_url: str, admin: bool) -> tuple[ServeProcess, int, int, Path]:
    smtp_port, http_port, closed = free_port(), free_port(), free_port()
    config = write_config(tmp_path, db_url, extra=f"""
        smtp: {{host: 127.0.0.1, port: {smtp_port}}}
        http: {{host: 127.0.0.1, port: {http_port}, admin_token_env: TEST_READY_TOKEN}}
        imap:
          - {{name: support-box, host: 127.0.0.1, port: {closed}, tls: false, username: support@example.com,
             password_env: TEST_READY_PASSWORD, idle: false, poll_seconds: 3600}}
        """)
    env = {k: v for k, v in os.environ.items() if k not in ("INBOX_LOG_LEVEL", "TEST_READY_TOKEN")}
    env.update({"INBOX_LOG_FORMAT": "json", "TEST_READY_PASSWORD": PASSWORD})
    if admin:
        env["TEST_READY_TOKEN"] = TOKEN
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "inbox", "--config", str(config), "serve"]
    return ServeProcess(config, smtp_port, log, argv=argv, env=env), smtp_port, http_port, log


def test_ready_line_is_info_by_default_and_names_every_listener(db_url: str, tmp_path: Path) -> None:
    """With no $INBOX_LOG_LEVEL, the process's own ready line is an INFO record naming the SMTP
    address, the HTTP URL and its /admin URL, and the IMAP mailbox; no secret appears in the log."""
    server, smtp_port, http_port, log = _serve(tmp_path, db_url, admin=True)
    try:
        server.start()
        assert server.wait_until(lambda: bool(_parent_ready(log)), BOUND), log.read_text()[-3000:]
        [ready] = _parent_ready(log)
        assert ready["level"] == "INFO" and ready["logger"] == "inbox.service"
        msg = ready["msg"]
        assert f"SMTP on 127.0.0.1:{smtp_port}" in msg
        assert f"HTTP on http://127.0.0.1:{http_port}" in msg
        assert f"admin at http://127.0.0.1:{http_port}/admin" in msg
        assert "IMAP support-box (127.0.0.1:" in msg
        assert server.terminate() == 0
        text = log.read_text()
        assert PASSWORD not in text and TOKEN not in text
    finally:
        server.kill()


def test_ready_line_says_why_the_admin_pages_are_off(db_url: str, tmp_path: Path) -> None:
    """Without the token in the environment, the ready line says the admin pages are off and why."""
    server, _, http_port, log = _serve(tmp_path, db_url, admin=False)
    try:
        server.start()
        assert server.wait_until(lambda: bool(_parent_ready(log)), BOUND), log.read_text()[-3000:]
        [ready] = _parent_ready(log)
        assert "admin pages off: $TEST_READY_TOKEN is not set" in ready["msg"]
        assert "admin at" not in ready["msg"] and f"HTTP on http://127.0.0.1:{http_port}" in ready["msg"]
    finally:
        server.kill()
