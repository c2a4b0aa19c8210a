"""The token source against a real OAuth server on loopback, through each provider's own library:
MSAL (client secret, certificate, refresh token), google-auth (service account, refresh token),
Authlib (generic). Tokens are reused until shortly before they run out, renewed after a refusal,
rotated refresh tokens are written back (0600), and failures carry the provider's error code."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest

from inbox.clock import FixedClock
from inbox.oauth import TokenError, token_source
from inbox.settings import OAuthSettings
from tests.oauth_kit import CLIENT_ID, CLIENT_SECRET, PUBLIC_CLIENT, generic, microsoft, service_account_key
from tests.oauth_server import JWT_GRANT, RunningTokenServer


def introspected(server: RunningTokenServer, token: str) -> dict[str, object]:
    return server.state.introspect(token)


def test_microsoft_client_credentials_token_is_reused_until_shortly_before_it_runs_out(token_server, oauth_clock):
    """MSAL's client-credentials grant, at the authority override: one request for many logins, a new
    one only within renew_before of the expiry."""
    token_server.state.app_users[CLIENT_ID] = "support@contoso.com"
    source = token_source(microsoft(token_server), oauth_clock, login="support@contoso.com", label="mailbox main")
    first = source.token()
    assert introspected(token_server, first.value)["username"] == "support@contoso.com"
    assert [source.token() for _ in range(5)] == [first] * 5
    assert token_server.state.requests["client_credentials"] == 1
    oauth_clock.set(oauth_clock.now() + timedelta(seconds=3600 - 301))
    assert source.token() == first
    oauth_clock.set(oauth_clock.now() + timedelta(seconds=2))
    second = source.token()
    assert second != first and token_server.state.requests["client_credentials"] == 2
    assert source.renew(second) != second and token_server.state.requests["client_credentials"] == 3


def test_microsoft_certificate_credential(token_server, oauth_clock, tmp_path: Path):
    """App-only with a certificate: MSAL signs a client assertion the server accepts."""
    from tests.oauth_server import self_signed

    cert, key = self_signed(tmp_path, rsa=True)
    auth = microsoft(token_server, client_secret_env=None, certificate_file=str(cert), certificate_key_file=str(key))
    token = token_source(auth, oauth_clock, login="x", label="mailbox main").token()
    assert introspected(token_server, token.value)["active"] is True


def test_microsoft_delegated_refresh_token_rotated_is_written_back_0600(token_server, oauth_clock, tmp_path: Path):
    """A rotating provider's new refresh token replaces the file's, atomically, mode 0600; the old one is dead."""
    token_server.state.rotate = True
    path = tmp_path / "secrets" / "main.refresh"
    path.parent.mkdir()
    first = token_server.state.refresh_token(PUBLIC_CLIENT, "support@contoso.com")
    path.write_text(first + "\n")
    auth = microsoft(token_server, client_id=PUBLIC_CLIENT, client_secret_env=None, refresh_token_file=str(path))
    token = token_source(auth, oauth_clock, login="support@contoso.com", label="mailbox main").token()
    assert introspected(token_server, token.value)["username"] == "support@contoso.com"
    written = path.read_text().strip()
    assert written != first and written.startswith("rt-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # No temporary file left; the lock file beside it stays (`credentials.exclusive`)
    assert sorted(p.name for p in path.parent.iterdir()) == ["main.refresh", "main.refresh.lock"]
    # The next renewal uses the new one (the old one no longer works at the server).
    token_source(auth, oauth_clock, login="support@contoso.com", label="mailbox main").token()
    assert path.read_text().strip() != written


def test_microsoft_wrong_tenant_and_wrong_client_name_the_providers_error(token_server, oauth_clock):
    """A tenant the authority does not know, and an unknown client id: TokenError with the error code."""
    with pytest.raises(TokenError) as wrong_tenant:
        token_source(microsoft(token_server, tenant="fabrikam"), oauth_clock, login="x", label="m").token()
    assert wrong_tenant.value.code == "invalid_tenant"
    with pytest.raises(TokenError) as wrong_client:
        token_source(microsoft(token_server, client_id="nobody"), oauth_clock, login="x", label="m").token()
    assert wrong_client.value.code == "unauthorized_client"
    assert CLIENT_SECRET not in str(wrong_client.value) + str(wrong_tenant.value)


def test_provider_down_and_revoked_refresh_token(token_server, oauth_clock, tmp_path: Path):
    """A server that answers 503 and one that is gone are `server_error`/`unreachable`; a revoked
    refresh token is invalid_grant; none of the messages holds the refresh token."""
    refresh = token_server.state.refresh_token(CLIENT_ID, "support@example.com")
    (tmp_path / "rt").write_text(refresh)
    source = token_source(generic(token_server, refresh_token_file=str(tmp_path / "rt")), oauth_clock,
                          login="support@example.com", label="mailbox main")
    assert source.token().value.startswith("at-")
    token_server.state.revoke_all()
    with pytest.raises(TokenError) as revoked:
        source.renew()
    assert revoked.value.code == "invalid_grant" and refresh not in str(revoked.value)
    token_server.state.failure = "down"
    with pytest.raises(TokenError) as down:
        source.renew()
    assert down.value.code == "server_error"
    token_server.stop()
    with pytest.raises(TokenError) as gone:
        source.renew()
    assert gone.value.code == "unreachable"


def test_google_service_account_impersonates_the_mailbox(token_server, oauth_clock, tmp_path: Path):
    """Domain-wide delegation: the JWT names the mailbox as subject, the token opens that mailbox."""
    auth = OAuthSettings(method="oauth2", provider="google", service_account_file=service_account_key(tmp_path, token_server),
                         token_url=f"{token_server.http}/token")
    source = token_source(auth, oauth_clock, login="support@example.com", label="mailbox main")
    token = source.token()
    assert introspected(token_server, token.value)["username"] == "support@example.com"
    assert token.expires_at == oauth_clock.now() + timedelta(seconds=3600)
    assert source.token() == token and token_server.state.requests[JWT_GRANT] == 1


def test_google_refresh_token(token_server, oauth_clock, monkeypatch):
    """An installed app's refresh token, through google-auth, at the token_url override."""
    monkeypatch.setenv("TEST_GOOGLE_REFRESH", token_server.state.refresh_token(CLIENT_ID, "desk@example.com"))
    auth = OAuthSettings(method="oauth2", provider="google", client_id=CLIENT_ID,
                         client_secret_env="TEST_OAUTH_CLIENT_SECRET", refresh_token_env="TEST_GOOGLE_REFRESH",
                         token_url=f"{token_server.http}/token")
    token = token_source(auth, oauth_clock, login="desk@example.com", label="relay").token()
    assert introspected(token_server, token.value)["username"] == "desk@example.com"


def test_generic_client_credentials(token_server, oauth_clock: FixedClock):
    """Authlib's client-credentials grant with client_secret_post."""
    token_server.state.app_users[CLIENT_ID] = "support@example.com"
    token = token_source(generic(token_server), oauth_clock, login="support@example.com", label="m").token()
    assert introspected(token_server, token.value) == {"active": True, "username": "support@example.com",
                                                       "scope": "mail", "exp": int(token.expires_at.timestamp())}


def test_a_rotating_refresh_token_shared_by_the_mailbox_and_the_relay_is_spent_once(token_server, oauth_clock,
                                                                                     tmp_path: Path):
    """The mailbox and the relay name one refresh token file, and renew at once, in threads of their
    own, round after round: each takes the file's lock from reading the token to writing its
    successor, so neither spends a token the other already spent (the provider refuses that)."""
    import threading

    token_server.state.rotate = True
    path = tmp_path / "shared.refresh"
    path.write_text(token_server.state.refresh_token(PUBLIC_CLIENT, "support@contoso.com") + "\n")
    auth = microsoft(token_server, client_id=PUBLIC_CLIENT, client_secret_env=None, refresh_token_file=str(path))
    sources = [token_source(auth, oauth_clock, login="support@contoso.com", label=label)
               for label in ("mailbox main", "outbound relay")]
    failures: list[BaseException] = []

    def renew(source) -> None:  # noqa: ANN001
        for _ in range(6):
            try:
                source.renew(None)
            except BaseException as exc:  # noqa: BLE001 - collected, asserted below
                failures.append(exc)

    threads = [threading.Thread(target=renew, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert token_server.state.requests["refresh_token"] == 12
    # The file holds the one live token: a third user renews with it.
    token_source(auth, oauth_clock, login="support@contoso.com", label="check").renew(None)
    assert token_server.state.requests["refresh_token"] == 13
