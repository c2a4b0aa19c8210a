"""An OAuth 2.0 mailbox end to end, on SQLite and PostgreSQL: `inbox serve`'s receive role pulling
from a real Dovecot whose oauth2 passdb checks each XOAUTH2 login by introspection at the loopback
token server, with MSAL getting the tokens (delegated refresh token, rotated by the server).

One run walks the life of such a mailbox: 200 mails pulled with one token; the token running out
during IDLE is renewed and the pull goes on; the refresh token revoked: nothing lost or moved,
/healthz failing with the reason and since when, the password mailbox beside it unharmed; a new
refresh token and SIGHUP's reload: the pull resumes. Then every log line and /healthz body of the
run, and the mailbox's recorded error, is searched for the secrets and tokens."""

from __future__ import annotations

import asyncio
import base64
import logging
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inbox.app import App, build_app
from inbox.clock import FixedClock
from inbox.roles import Role
from inbox.serving import build_service
from inbox.store import mailboxes
from inbox.store.tables import RawMessage
from tests.dovecot import PASSWORD, Dovecot, free_port, running_dovecot
from tests.fakes import mail, make_settings
from tests.integration.test_imap import wait_until
from tests.oauth_kit import CLIENT_SECRET, PUBLIC_CLIENT, TENANT, healthz
from tests.oauth_server import RunningTokenServer

pytestmark = pytest.mark.servers  # a real Dovecot and token server: `make quick` leaves it out

SEEN = b"\\Seen"
USER = "support@contoso.com"
OTHER = "other@contoso.com"  # a password mailbox beside it


@pytest.fixture
def oauth_dovecot(token_server: RunningTokenServer) -> Iterator[Dovecot]:
    with running_dovecot(oauth2=f"{token_server.http}/introspect") as server:
        yield server


def mails(count: int, tag: str) -> list[bytes]:
    return [mail(message_id=f"<{tag}{i}@acme.com>", subject=f"Problem {tag}{i}") for i in range(count)]


def stored(app: App, source: str = "imap:main") -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(RawMessage).where(RawMessage.source == source)))


@contextmanager
def serving(app: App) -> Iterator[Callable[[], object]]:
    """The receive role and /healthz running in a thread; yields the SIGHUP reload."""
    service, reload = build_service(app, roles=frozenset({Role.RECEIVE}))
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=lambda: loop.run_until_complete(service.run(stop)), daemon=True)
    thread.start()
    try:
        wait_until(lambda: service.listening, "the service is up")
        yield reload
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        assert not thread.is_alive()
        loop.close()


def test_an_oauth_mailbox_pulls_renews_survives_revocation_and_resumes_after_reload(
        db_url: str, tmp_path: Path, token_server: RunningTokenServer, oauth_dovecot: Dovecot,
        oauth_clock: FixedClock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pull 200 with one token; renew in IDLE; revoked: nothing lost or moved, /healthz 503 naming the
    mailbox, the reason and since when, the other mailbox unharmed; new token + reload: resumed."""
    caplog.set_level(logging.DEBUG)
    server = token_server.state
    server.rotate = True
    refresh_file = tmp_path / "secrets" / "main.refresh"
    refresh_file.parent.mkdir()
    refresh_file.write_text(server.refresh_token(PUBLIC_CLIENT, USER))
    refresh_file.chmod(0o600)
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)
    http_port = free_port()
    extra = f"""
    smtp: {{host: 127.0.0.1, port: {free_port()}}}
    http: {{host: 127.0.0.1, port: {http_port}}}
    imap:
      - name: main
        host: {oauth_dovecot.host}
        port: {oauth_dovecot.port}
        tls: false
        username: {USER}
        auth: {{method: oauth2, provider: microsoft, tenant: {TENANT}, client_id: {PUBLIC_CLIENT},
                refresh_token_file: "{refresh_file}", authority: "{token_server.https}"}}
        processed_folder: Processed
        idle: true
        poll_seconds: 600
      - {{name: other, host: {oauth_dovecot.host}, port: {oauth_dovecot.port}, tls: false, username: {OTHER},
         password_env: TEST_IMAP_PASSWORD, processed_folder: Processed, idle: false, poll_seconds: 1}}
    """
    app = build_app(make_settings(tmp_path, db_url, extra=extra), oauth_clock)
    oauth_dovecot.append(mails(200, "a"), user=USER)
    bodies: list[str] = []
    try:
        with serving(app) as reload:
            # 1. 200 mails, one token.
            wait_until(lambda: stored(app) == 200, "200 mails pulled", 60)
            wait_until(lambda: not oauth_dovecot.uids(user=USER), "INBOX emptied into Processed")
            assert len(oauth_dovecot.uids("Processed", user=USER)) == 200
            assert server.requests["refresh_token"] == 1
            rotated = refresh_file.read_text().strip()
            assert stat.S_IMODE(refresh_file.stat().st_mode) == 0o600

            # 2. The token runs out during IDLE (the server's clock and ours): renewed, the pull goes on.
            oauth_clock.set(oauth_clock.now() + timedelta(seconds=3601))
            # The request is counted when it arrives; the rotated refresh token is written after the answer.
            wait_until(lambda: refresh_file.read_text().strip() != rotated, "the token renewed during IDLE")
            assert server.requests["refresh_token"] == 2
            oauth_dovecot.append(mails(10, "b"), user=USER)
            wait_until(lambda: stored(app) == 210, "mail after the renewal pulled")

            # 3. Revoked: the next login fails; nothing lost, nothing moved, /healthz says why.
            # (A session already logged in lives on, at Dovecot as at Exchange: the revocation bites at
            # the next login, which the token's running out brings.)
            server.revoke_all()
            failed_at = oauth_clock.now() + timedelta(seconds=3601)
            oauth_clock.set(failed_at)
            wait_until(lambda: healthz(http_port)[0] == 503, "/healthz failing")
            oauth_dovecot.append(mails(5, "c"), user=USER)
            tries = server.requests["refresh_token"]
            wait_until(lambda: server.requests["refresh_token"] >= tries + 2, "two more failed rounds (back-off)")
            status, health, body = healthz(http_port)
            bodies.append(body)
            failing = health["imap_failing"]["main"]
            assert "invalid_grant" in failing["reason"] and failing["since"] == failed_at.isoformat()
            assert "mailbox main failing since" in health["reason"] and "other" not in health["imap_failing"]
            assert "round failed" in caplog.text and "mailbox main" in caplog.text
            assert stored(app) == 210
            with app.sessions() as session:
                last_error = mailboxes.load_state(session, "main").last_error  # type: ignore[union-attr]
            assert last_error is not None and "invalid_grant" in last_error
            bodies.append(last_error)  # what the database (and so a backup) holds is searched too
            inbox = oauth_dovecot.uids(user=USER)
            assert len(inbox) == 5 and not any(SEEN in flags for flags in inbox.values())
            oauth_dovecot.append(mails(3, "o"), user=OTHER)  # the other mailbox goes on
            wait_until(lambda: stored(app, "imap:other") == 3, "the password mailbox still pulled")

            # 4. A new refresh token, SIGHUP: the pull resumes, /healthz recovers.
            refresh_file.write_text(server.refresh_token(PUBLIC_CLIENT, USER))
            reload()
            wait_until(lambda: stored(app) == 215, "the pull resumed after the reload", 30)
            wait_until(lambda: healthz(http_port)[0] == 200, "/healthz recovered")
            bodies.append(healthz(http_port)[2])
    finally:
        app.close()

    # 5. No secret, refresh token or access token in any log line or /healthz body of the run.
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + "".join(bodies)
    secrets = [CLIENT_SECRET, *server.issued, *server.refresh_tokens(), refresh_file.read_text().strip()]
    assert len(server.issued) >= 3
    for secret in secrets:
        encoded = base64.b64encode(f"user={USER}\x01auth=Bearer {secret}\x01\x01".encode()).decode()
        assert secret not in text and encoded not in text


def test_a_token_the_server_refuses_is_renewed_once_before_the_login_fails(
        token_server: RunningTokenServer, oauth_dovecot: Dovecot, oauth_clock: FixedClock) -> None:
    """The token in memory is still valid by our clock but revoked at the server: the XOAUTH2 login
    is refused, a new token is asked for once, and the second login succeeds; when the provider
    will not give one either, the login fails as MailboxUnavailable naming the provider's code."""
    from inbox.oauth import token_source
    from inbox.receive.mailbox import ImapMailboxClient, MailboxUnavailable
    from inbox.settings import ImapMailbox
    from tests.oauth_kit import CLIENT_ID, generic

    token_server.state.app_users[CLIENT_ID] = USER
    auth = generic(token_server)
    mailbox = ImapMailbox(name="main", host=oauth_dovecot.host, port=oauth_dovecot.port, tls=False, username=USER,
                          auth=auth)
    tokens = token_source(auth, oauth_clock, login=USER, label="mailbox main")
    token_server.state.revoke(tokens.token().value)
    client = ImapMailboxClient(mailbox, tokens=tokens, timeout=10)
    try:
        assert client.survey("INBOX")[1] == 0
    finally:
        client.close()
    assert token_server.state.requests["client_credentials"] == 2
    token_server.state.revoke(tokens.token().value)
    token_server.state.failure = "invalid_client"
    with pytest.raises(MailboxUnavailable, match="oauth2 generic: no access token: invalid_client"):
        ImapMailboxClient(mailbox, tokens=tokens, timeout=10)
