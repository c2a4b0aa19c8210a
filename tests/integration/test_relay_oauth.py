"""The outbound relay with AUTH XOAUTH2, on SQLite and PostgreSQL: a real aiosmtpd relay that takes
no mail without a bearer token the loopback token server vouches for (introspection), and the
`inbox` commands that ingest a mail and send its acknowledgement through it. A token the relay
refuses is renewed once; a token the provider will not give keeps the email waiting (a temporary
failure). No secret or token reaches a log line or the --json output."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import smtplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from inbox.app import build_app
from inbox.cli import main
from inbox.clock import FixedClock
from inbox.roles import Role
from inbox.serving import build_service
from inbox.settings import load_settings
from inbox.store.tables import OutboxRow
from tests.dovecot import free_port
from tests.durability.serve import ServeProcess
from tests.fakes import mail, write_config
from tests.integration.test_imap import wait_until
from tests.oauth_kit import CLIENT_ID, CLIENT_SECRET, healthz
from tests.oauth_server import RunningTokenServer

SENDER = "support@example.com"
# The relay is on loopback: AUTH without TLS is what this test wants, not a risk.
pytestmark = [pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
              pytest.mark.servers]  # a real relay and token server: `make quick` leaves it out


@dataclass
class XOAuth2Relay:
    """An aiosmtpd handler that requires AUTH XOAUTH2 and checks the bearer token by introspection."""

    server: RunningTokenServer
    refuse_next: int = 0  # refuse this many valid tokens first (a relay whose clock runs ahead)
    tokens_seen: list[str] = field(default_factory=list)
    delivered: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def auth_XOAUTH2(self, smtp: Any, args: list[str]) -> AuthResult:
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in base64.b64decode(args[1]).decode().split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        self.tokens_seen.append(token)
        answer = self.server.state.introspect(token)
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return AuthResult(success=False, handled=False)
        ok = answer.get("active") is True and answer.get("username") == fields.get("user")
        return AuthResult(success=ok, handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        self.delivered.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def relay(token_server: RunningTokenServer) -> Iterator[tuple[XOAuth2Relay, int]]:
    handler = XOAuth2Relay(token_server)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), auth_required=True,
                            auth_require_tls=False, ready_timeout=10)
    controller.start()
    yield handler, controller.port
    controller.stop()


def config(tmp_path: Path, db_url: str, token_server: RunningTokenServer, port: int, extra: str = "") -> str:
    path = write_config(tmp_path, db_url, extra=extra)
    outbound = (f'outbound: {{transport: smtp, host: 127.0.0.1, port: {port}, username: {SENDER}, '
                'interval_seconds: 3600, '  # a turn when woken (the test wakes it), not on a tick
                f'auth: {{method: oauth2, provider: generic, client_id: {CLIENT_ID}, '
                f'client_secret_env: TEST_OAUTH_CLIENT_SECRET, token_url: "{token_server.http}/token"}}, '
                f'from_address: "Example Support <{SENDER}>"}}')
    lines = [outbound if line.startswith("outbound:") else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], clock: FixedClock, *argv: str) -> tuple[int, Any, str]:
    """Exit status, the --json document, and everything printed (stdout and the log lines on stderr)."""
    code = main(list(argv), clock=clock)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.out + captured.err


def test_the_relay_with_xoauth2_sends_the_acknowledgement_renewing_a_refused_token(
        db_url: str, tmp_path: Path, token_server: RunningTokenServer, relay: tuple[XOAuth2Relay, int],
        oauth_clock: FixedClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The acknowledgement goes through AUTH XOAUTH2; the relay's refusal of the first token costs one
    renewal, not the email; a provider refusing tokens keeps the next email waiting, not dead."""
    monkeypatch.setenv("INBOX_LOG_LEVEL", "DEBUG")  # every line a command logs is searched below
    handler, port = relay
    token_server.state.app_users[CLIENT_ID] = SENDER
    handler.refuse_next = 1
    path = config(tmp_path, db_url, token_server, port)
    eml = tmp_path / "in.eml"
    eml.write_bytes(mail(message_id="<r1@acme.com>"))
    outputs = []
    code, counts, out = run(capsys, oauth_clock, "ingest", str(eml), "--config", path, "--json")
    outputs.append(out)
    assert code == 0 and counts["opened"] == 1
    code, done, out = run(capsys, oauth_clock, "jobs", "run-once", "--config", path, "--json")
    outputs.append(out)
    assert code == 0 and done["sent"] == 1
    assert len(handler.delivered) == 1 and handler.delivered[0][1] == ["alice@acme.com"]
    assert b"[SUP-000001]" in handler.delivered[0][2]
    assert len(handler.tokens_seen) == 2 and handler.tokens_seen[0] != handler.tokens_seen[1]
    assert token_server.state.requests["client_credentials"] == 2

    # The provider refuses (a deleted app): the email waits for a later turn.
    token_server.state.failure = "invalid_client"
    eml.write_bytes(mail(message_id="<r2@acme.com>", subject="Another problem"))
    run(capsys, oauth_clock, "ingest", str(eml), "--config", path, "--json")
    code, done, out = run(capsys, oauth_clock, "jobs", "run-once", "--config", path, "--json")
    outputs.append(out)
    assert code == 0 and done["sent"] == 0 and done["retry"] == 1 and done["dead"] == 0
    assert "invalid_client" in out and len(handler.delivered) == 1

    text = "".join(outputs)
    for secret in [CLIENT_SECRET, *token_server.state.issued]:
        encoded = base64.b64encode(f"user={SENDER}\x01auth=Bearer {secret}\x01\x01".encode()).decode()
        assert secret not in text and encoded not in text


@contextmanager
def sending(path: str, clock: FixedClock) -> Iterator[Any]:
    """The send role and /healthz of `inbox serve` running in a thread; yields its scheduler."""
    service, _ = build_service(build_app(load_settings(path), clock), roles=frozenset({Role.SEND}))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=lambda: loop.run_until_complete(service.run(stop)), daemon=True)
    thread.start()
    try:
        yield service.scheduler
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        assert not thread.is_alive()
        loop.close()


def test_healthz_names_a_relay_whose_oauth_login_fails_and_forgets_it_once_a_login_works(
        db_url: str, tmp_path: Path, token_server: RunningTokenServer, relay: tuple[XOAuth2Relay, int],
        oauth_clock: FixedClock, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """The provider refuses tokens (a deleted app, every token revoked): the send round cannot log in
    to the relay, /healthz is 503 naming the relay, the provider's error code and since when, the
    email waits (retry, not dead); the provider back, the next round sends it and /healthz is 200."""
    caplog.set_level(logging.DEBUG)
    handler, port = relay
    token_server.state.app_users[CLIENT_ID] = SENDER
    http_port = free_port()
    path = config(tmp_path, db_url, token_server, port, extra=f"http: {{host: 127.0.0.1, port: {http_port}}}\n")
    eml = tmp_path / "in.eml"
    app = build_app(load_settings(path), oauth_clock)

    def ingest(message_id: str) -> None:
        eml.write_bytes(mail(message_id=message_id, subject=f"Problem {message_id}"))
        assert main(["ingest", str(eml), "--config", path], clock=oauth_clock) == 0

    def up() -> bool:
        try:
            return healthz(http_port)[0] > 0
        except OSError:
            return False

    def states() -> list[str]:
        with app.sessions() as session:
            return sorted(session.scalars(select(OutboxRow.state)))

    ingest("<h1@acme.com>")
    bodies: list[str] = []
    with sending(path, oauth_clock) as scheduler:
        wait_until(lambda: len(handler.delivered) == 1 and up(), "the first acknowledgement sent")
        status, health, body = healthz(http_port)
        bodies.append(body)
        assert status == 200 and health["outbound_failing"] is None and "reason" not in health

        # The provider gives no token, and every token it gave is revoked: the login fails.
        failed_at = oauth_clock.now()
        token_server.state.failure = "invalid_client"
        token_server.state.revoke_all()
        ingest("<h2@acme.com>")
        scheduler.wake()
        wait_until(lambda: healthz(http_port)[0] == 503, "/healthz failing")
        status, health, body = healthz(http_port)
        bodies.append(body)
        failing = health["outbound_failing"]
        assert health["status"] == "down" and "invalid_client" in failing["reason"]
        assert failing["since"] == failed_at.isoformat()
        assert f"outbound relay failing since {failed_at.isoformat()}: " in health["reason"]
        assert len(handler.delivered) == 1 and "dead" not in states() and states().count("sent") == 1

        # A later round still failing keeps the first failure's time.
        oauth_clock.set(failed_at + timedelta(hours=1))
        turns = scheduler.turns
        scheduler.wake()
        wait_until(lambda: scheduler.turns > turns, "a second failing round")
        assert healthz(http_port)[1]["outbound_failing"]["since"] == failed_at.isoformat()

        # The provider is back: the next round logs in, sends the waiting email, /healthz forgets it.
        token_server.state.failure = None
        oauth_clock.set(failed_at + timedelta(hours=3))  # past the email's retry back-off
        scheduler.wake()
        wait_until(lambda: len(handler.delivered) == 2, "the waiting acknowledgement sent")
        wait_until(lambda: healthz(http_port)[0] == 200, "/healthz recovered")
        status, health, body = healthz(http_port)
        bodies.append(body)
        assert health["outbound_failing"] is None and "reason" not in health
        assert states() == ["sent", "sent"]

    text = "".join(bodies) + capsys.readouterr().err + caplog.text
    assert "outbound relay: login failed" in caplog.text  # the log line was searched too
    for secret in [CLIENT_SECRET, *token_server.state.issued]:
        assert secret not in text


def test_inbox_serve_split_in_processes_shows_the_sending_childs_failing_relay_on_healthz(
        db_url: str, tmp_path: Path, token_server: RunningTokenServer, relay: tuple[XOAuth2Relay, int]) -> None:
    """`inbox serve` as an operator runs it (the sender in a child process): the child's failed login
    to the relay crosses its pipe to /healthz in the parent, and the next login that works clears it."""
    handler, port = relay
    token_server.state.app_users[CLIENT_ID] = SENDER
    smtp_port, http_port = free_port(), free_port()
    path = config(tmp_path, db_url, token_server, port,
                  extra=f"smtp: {{host: 127.0.0.1, port: {smtp_port}}}\nhttp: {{host: 127.0.0.1, port: {http_port}}}\n")
    log = tmp_path / "serve.log"
    server = ServeProcess(Path(path), smtp_port, log, env={**os.environ, "INBOX_LOG_LEVEL": "INFO"})

    def send(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.sendmail("alice@acme.com", [SENDER], mail(message_id=f"<s{n}@acme.com>", subject=f"Problem {n}"))

    def health_is(status: int) -> bool:
        try:
            return healthz(http_port)[0] == status
        except OSError:
            return False

    bodies: list[str] = []
    server.start()
    try:
        send(1)
        assert server.wait_until(lambda: len(handler.delivered) == 1 and health_is(200), 60), log.read_text()[-2000:]
        bodies.append(healthz(http_port)[2])

        token_server.state.failure = "invalid_client"
        token_server.state.revoke_all()
        send(2)
        assert server.wait_until(lambda: health_is(503), 60), log.read_text()[-2000:]
        _, health, body = healthz(http_port)
        bodies.append(body)
        assert "invalid_client" in health["outbound_failing"]["reason"] and health["outbound_failing"]["since"]
        assert "outbound relay failing since" in health["reason"] and health["imap_failing"] == {}
        assert len(handler.delivered) == 1

        token_server.state.failure = None
        send(3)
        assert server.wait_until(lambda: len(handler.delivered) == 2 and health_is(200), 60), log.read_text()[-2000:]
        _, health, body = healthz(http_port)
        bodies.append(body)
        assert health["outbound_failing"] is None and b"Problem 3" in handler.delivered[1][2]
        assert server.terminate() == 0
    finally:
        server.kill()
    written = log.read_text()
    assert "started the send process" in written and "outbound relay: login failed" in written
    text = "".join(bodies) + written
    for secret in [CLIENT_SECRET, *token_server.state.issued]:
        assert secret not in text
