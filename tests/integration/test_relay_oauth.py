"""The outbound relay with AUTH XOAUTH2, on SQLite and PostgreSQL: a real aiosmtpd relay that takes
no mail without a bearer token the loopback token server vouches for (introspection), and the
`inbox` commands that ingest a mail and send its acknowledgement through it. A token the relay
refuses is renewed once; a token the provider will not give keeps the email waiting (a temporary
failure). No secret or token reaches a log line or the --json output."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from inbox.cli import main
from inbox.clock import FixedClock
from tests.dovecot import free_port
from tests.fakes import mail, write_config
from tests.oauth_kit import CLIENT_ID, CLIENT_SECRET
from tests.oauth_server import RunningTokenServer

SENDER = "support@example.com"
# The relay is on loopback: AUTH without TLS is what this test wants, not a risk.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


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


def config(tmp_path: Path, db_url: str, token_server: RunningTokenServer, port: int) -> str:
    path = write_config(tmp_path, db_url)
    outbound = (f'outbound: {{transport: smtp, host: 127.0.0.1, port: {port}, username: {SENDER}, '
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
