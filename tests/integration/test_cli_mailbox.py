"""`inbox mailbox authorize` and `inbox mailbox check` against the loopback token server and a
Dovecot with the oauth2 passdb; and a config whose OAuth secret is missing stopping at start."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from inbox.app import build_app
from inbox.cli import main
from inbox.serving import build_service
from inbox.settings import ConfigError
from tests.dovecot import Dovecot, running_dovecot
from tests.fakes import mail, make_settings, write_config
from tests.integration.test_imap import wait_until
from tests.oauth_kit import CLIENT_SECRET, PUBLIC_CLIENT, TENANT
from tests.oauth_server import RunningTokenServer

pytestmark = pytest.mark.servers  # `make quick` leaves it out: it starts a real server or tool

USER = "support@contoso.com"
SEEN = b"\\Seen"


@pytest.fixture
def oauth_dovecot(token_server: RunningTokenServer) -> Dovecot:
    with running_dovecot(oauth2=f"{token_server.http}/introspect") as server:
        yield server


def mailbox_config(tmp_path: Path, token_server: RunningTokenServer, dovecot_port: int, refresh: Path,
                   db_url: str | None = None) -> Path:
    extra = f"""
    imap:
      - name: main
        host: 127.0.0.1
        port: {dovecot_port}
        tls: false
        username: {USER}
        auth: {{method: oauth2, provider: microsoft, tenant: {TENANT}, client_id: {PUBLIC_CLIENT},
                refresh_token_file: "{refresh}", authority: "{token_server.https}"}}
    """
    return write_config(tmp_path, db_url or f"sqlite:///{tmp_path}/never-made.db", extra=extra)


def test_authorize_runs_the_device_flow_and_stores_the_refresh_token_0600(
        tmp_path: Path, token_server: RunningTokenServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The command prints the provider's URL and code, waits for the sign-in, and writes the refresh
    token (only there: never on the screen) to the file the config names, mode 0600."""
    refresh = tmp_path / "secrets" / "main.refresh"
    config = mailbox_config(tmp_path, token_server, 1, refresh)
    status: list[int] = []
    command = threading.Thread(target=lambda: status.append(main(["mailbox", "authorize", "main", "--config",
                                                                  str(config)])))
    command.start()
    wait_until(lambda: bool(token_server.state.pending_user_codes()), "a device code asked for")
    code = token_server.state.pending_user_codes()[0]
    token_server.state.approve(code, USER)
    command.join(30)
    out = capsys.readouterr().out
    assert status == [0]
    assert code in out and f"{token_server.https}/device/verify" in out and str(refresh) in out
    stored = refresh.read_text().strip()
    assert stored in token_server.state.refresh_tokens() and stored not in out
    assert stat.S_IMODE(refresh.stat().st_mode) == 0o600
    assert not (tmp_path / "never-made.db").exists()  # the command needs no database


def test_check_logs_in_and_reports_without_touching_mail(
        tmp_path: Path, token_server: RunningTokenServer, oauth_dovecot: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--json: folders, message count, token expiry; the messages keep their flags and folder, and
    the output holds no token."""
    refresh = tmp_path / "main.refresh"
    refresh.write_text(token_server.state.refresh_token(PUBLIC_CLIENT, USER))
    oauth_dovecot.append([mail(message_id=f"<k{i}@acme.com>") for i in range(3)], user=USER)
    oauth_dovecot.append([mail(message_id="<old@acme.com>")], folder="Archive", user=USER)
    before = oauth_dovecot.uids(user=USER)
    config = mailbox_config(tmp_path, token_server, oauth_dovecot.port, refresh)
    assert main(["mailbox", "check", "main", "--config", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    document = json.loads(out)
    assert document["messages"] == 3 and document["folders"] == ["Archive", "INBOX"]
    assert document["auth"] == "oauth2 microsoft" and document["token_expires_at"].endswith("+00:00")
    assert oauth_dovecot.uids(user=USER) == before and not any(SEEN in f for f in before.values())
    for secret in [*token_server.state.issued, *token_server.state.refresh_tokens(), CLIENT_SECRET]:
        assert secret not in out


def test_check_of_a_revoked_login_fails_naming_the_providers_error(
        tmp_path: Path, token_server: RunningTokenServer, capsys: pytest.CaptureFixture[str]) -> None:
    """A revoked refresh token: exit 1, one line naming the mailbox and invalid_grant, no token."""
    refresh = tmp_path / "main.refresh"
    refresh.write_text(token_server.state.refresh_token(PUBLIC_CLIENT, USER))
    token_server.state.revoke_all()
    with running_dovecot(oauth2=f"{token_server.http}/introspect") as dovecot:
        config = mailbox_config(tmp_path, token_server, dovecot.port, refresh)
        assert main(["mailbox", "check", "main", "--config", str(config), "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["kind"] == "mailbox" and "mailbox main" in error["message"] and "invalid_grant" in error["message"]
    assert refresh.read_text() not in captured.out + captured.err


def test_a_missing_secret_stops_the_service_at_start_naming_the_key(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An unset client secret variable and an unreadable refresh token file: ConfigError lines with
    the key path, before anything runs."""
    monkeypatch.delenv("TEST_UNSET_SECRET", raising=False)
    extra = f"""
    imap:
      - name: main
        host: 127.0.0.1
        username: {USER}
        auth: {{method: oauth2, provider: microsoft, tenant: {TENANT}, client_id: x,
                client_secret_env: TEST_UNSET_SECRET}}
      - name: second
        host: 127.0.0.1
        username: {USER}
        auth: {{method: oauth2, provider: generic, client_id: x, token_url: "http://127.0.0.1:1/token",
                refresh_token_file: "{tmp_path}/absent.refresh"}}
    """
    settings = make_settings(tmp_path, db_url, extra=extra)
    app = build_app(settings, clock=None)  # type: ignore[arg-type]
    try:
        with pytest.raises(ConfigError) as stopped:
            build_service(app)
    finally:
        app.close()
    expected = [
        f"{settings.source_path}: imap.0.auth.client_secret_env: environment variable TEST_UNSET_SECRET is not set",
        f"{settings.source_path}: imap.1.auth.refresh_token_file: cannot read {tmp_path}/absent.refresh: "
        "No such file or directory"]
    assert stopped.value.problems == expected
    # `inbox serve` says the same and exits 2, as for any config error, before anything runs.
    assert main(["serve", "--config", str(settings.source_path), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["problems"] == expected


def test_check_a_google_service_account_mailbox(
        tmp_path: Path, token_server: RunningTokenServer, oauth_dovecot: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Domain-wide delegation through google-auth: the token impersonates the mailbox and Dovecot
    takes it over XOAUTH2."""
    from tests.oauth_kit import service_account_key

    key = service_account_key(tmp_path, token_server)
    oauth_dovecot.append([mail(message_id="<g1@acme.com>")], user=USER)
    extra = f"""
    imap:
      - {{name: google, host: 127.0.0.1, port: {oauth_dovecot.port}, tls: false, username: {USER},
         auth: {{method: oauth2, provider: google, service_account_file: "{key}",
                token_url: "{token_server.http}/token"}}}}
    """
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/never-made.db", extra=extra)
    assert main(["mailbox", "check", "google", "--config", str(config), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["auth"], document["messages"]) == ("oauth2 google", 1)


def test_authorize_a_generic_provider_and_refuse_google(
        tmp_path: Path, token_server: RunningTokenServer, capsys: pytest.CaptureFixture[str]) -> None:
    """The device flow through Authlib at device_authorization_url; Google, which offers no device
    flow for mail, gets a clear refusal (exit 1, kind oauth) and no file."""
    refresh = tmp_path / "generic.refresh"
    extra = f"""
    imap:
      - {{name: idp, host: 127.0.0.1, username: {USER},
         auth: {{method: oauth2, provider: generic, client_id: {PUBLIC_CLIENT}, refresh_token_file: "{refresh}",
                token_url: "{token_server.http}/token", device_authorization_url: "{token_server.http}/device"}}}}
      - {{name: google, host: 127.0.0.1, username: {USER},
         auth: {{method: oauth2, provider: google, client_id: c, client_secret_env: TEST_OAUTH_CLIENT_SECRET,
                refresh_token_file: "{tmp_path}/google.refresh"}}}}
    """
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/never-made.db", extra=extra)
    status: list[int] = []
    command = threading.Thread(target=lambda: status.append(main(["mailbox", "authorize", "idp", "--config",
                                                                  str(config), "--json"])))
    command.start()
    wait_until(lambda: bool(token_server.state.pending_user_codes()), "a device code asked for")
    token_server.state.approve(token_server.state.pending_user_codes()[0], USER)
    command.join(30)
    captured = capsys.readouterr()
    assert status == [0] and json.loads(captured.out) == {"name": "idp", "stored": str(refresh)}
    assert refresh.read_text().strip() in token_server.state.refresh_tokens()
    assert stat.S_IMODE(refresh.stat().st_mode) == 0o600
    assert main(["mailbox", "authorize", "google", "--config", str(config), "--json"]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "oauth" and "Google does not offer the device flow" in error["message"]
    assert not (tmp_path / "google.refresh").exists()
