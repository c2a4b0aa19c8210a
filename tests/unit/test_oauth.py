"""The OAuth settings' checks, the token source's cache (with the in-memory grant), the scrubbing of
secrets from error text, and the atomic 0600 write of a refresh token."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from inbox.clock import FixedClock
from inbox.oauth import FixedGrant, Issued, TokenError, TokenSource, write_private, xoauth2
from inbox.oauth.tokens import scrub
from inbox.settings import ConfigError, ImapMailbox, OAuthSettings, OutboundSettings, load_settings
from tests.fakes import write_config
from tests.instants import DEFAULT, INSTANTS


def oauth(**keys: Any) -> OAuthSettings:
    return OAuthSettings.model_validate({"method": "oauth2", **keys})


def problems(tmp_path: Path, **keys: Any) -> str:
    """The config-error lines of a file whose one mailbox has `auth: keys`."""
    auth = ", ".join(f"{key}: {value}" for key, value in {"method": "oauth2", **keys}.items())
    path = write_config(tmp_path, "sqlite:///x.db",
                        extra=f"imap:\n  - {{name: m, host: h, username: u, auth: {{{auth}}}}}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(path)
    return "\n".join(refused.value.problems)


def test_each_provider_names_what_it_needs(tmp_path: Path) -> None:
    """Missing tenant or client id, no credential, a secret in both places: one line each, naming the key."""
    assert "imap.0.auth.tenant: is required for provider microsoft" in problems(
        tmp_path, provider="microsoft", client_id="c", client_secret_env="S")
    assert "imap.0.auth.client_secret_env: app-only microsoft needs a client secret" in problems(
        tmp_path, provider="microsoft", tenant="t", client_id="c")
    assert "imap.0.auth.client_secret_file: give client_secret_env or client_secret_file, not both" in problems(
        tmp_path, provider="microsoft", tenant="t", client_id="c", client_secret_env="S", client_secret_file="/s")
    assert "imap.0.auth.certificate_key_file: is required" in problems(
        tmp_path, provider="microsoft", tenant="t", client_id="c", certificate_file="/c")
    assert "imap.0.auth.service_account_file" in problems(tmp_path, provider="google")
    assert "imap.0.auth.client_id: a google refresh token needs" in problems(
        tmp_path, provider="google", refresh_token_env="R")
    assert "imap.0.auth.token_url: is required for provider generic" in problems(
        tmp_path, provider="generic", client_id="c", client_secret_env="S")
    assert "imap.0.auth.provider" in problems(tmp_path, provider="yahoo")
    assert oauth(provider="microsoft", tenant="t", client_id="c", refresh_token_file="/r").delegated


def test_a_secret_pasted_where_a_variable_name_belongs_is_refused(tmp_path: Path) -> None:
    """client_secret_env holds a variable's name; a value with a dash or dot is a pasted secret."""
    assert "not the secret" in problems(tmp_path, provider="generic", client_id="c", token_url="http://x/t",
                                        client_secret_env="Xy7~q.s3cr3t-value")


def test_default_scopes_follow_the_provider_and_the_grant() -> None:
    app = oauth(provider="microsoft", tenant="t", client_id="c", client_secret_env="S")
    person = oauth(provider="microsoft", tenant="t", client_id="c", refresh_token_env="R")
    assert app.scopes == ["https://outlook.office365.com/.default"]
    assert person.scopes[0].endswith("IMAP.AccessAsUser.All")
    assert oauth(provider="google", service_account_file="/k.json").scopes == ["https://mail.google.com/"]


def test_a_mailbox_takes_a_password_or_oauth_exactly_one() -> None:
    base = {"name": "m", "host": "h", "username": "u"}
    auth = {"method": "oauth2", "provider": "generic", "client_id": "c", "client_secret_env": "S",
            "token_url": "http://x/t"}
    assert ImapMailbox.model_validate({**base, "auth": auth}).auth is not None
    for wrong in ({}, {"password_env": "P", "auth": auth}):
        with pytest.raises(ValidationError, match="exactly one"):
            ImapMailbox.model_validate({**base, **wrong})
    with pytest.raises(ValidationError, match="the XOAUTH2 login names the mailbox"):
        OutboundSettings.model_validate({"from_address": "a@b.c", "auth": auth})


def source(grant: FixedGrant, clock: FixedClock, lifetime: float = 3600) -> TokenSource:
    return TokenSource(grant, clock, label="mailbox main", provider="generic", renew_before=timedelta(minutes=5))


def issued(n: int) -> Issued:
    return Issued(f"token-{n}", 3600)


def test_the_token_is_reused_until_five_minutes_before_its_expiry_by_the_injected_clock() -> None:
    clock = FixedClock(INSTANTS[DEFAULT])
    grant = FixedGrant(issued)
    tokens = source(grant, clock)
    first = tokens.token()
    assert first.expires_at == INSTANTS[DEFAULT] + timedelta(hours=1)
    clock.set(INSTANTS[DEFAULT] + timedelta(minutes=54, seconds=59))
    assert tokens.token() is first and grant.calls == 1
    clock.set(INSTANTS[DEFAULT] + timedelta(minutes=55))
    assert tokens.token().value == "token-2" and tokens.due_at(tokens.token()) == clock.now() + timedelta(minutes=55)


def test_a_refused_token_is_renewed_once_even_when_two_threads_report_it() -> None:
    """Two logins refused with the same token: one request, both get the new token."""
    grant = FixedGrant(issued)
    tokens = source(grant, FixedClock(INSTANTS[DEFAULT]))
    refused = tokens.token()
    results = []
    threads = [threading.Thread(target=lambda: results.append(tokens.renew(refused))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert grant.calls == 2 and {r.value for r in results} == {"token-2"}


def test_a_failure_keeps_no_token_and_the_next_call_asks_again() -> None:
    grant = FixedGrant(issued)
    tokens = source(grant, FixedClock(INSTANTS[DEFAULT]))
    tokens.token()
    grant.failure = TokenError("invalid_grant", "revoked")
    with pytest.raises(TokenError, match="invalid_grant"):
        tokens.renew()
    grant.failure = None
    assert tokens.token().value == "token-3"


def test_scrub_cuts_every_secret_out_of_provider_text() -> None:
    text = "AADSTS9002313: refresh_token rt-ABCDEF12345 is invalid for client secret cs-XYZ987"
    assert scrub(text, ["rt-ABCDEF12345", "cs-XYZ987", ""]) == ("AADSTS9002313: refresh_token [redacted] is "
                                                                 "invalid for client secret [redacted]")


def test_reprs_hold_no_token() -> None:
    assert "secret-value" not in repr(Issued("secret-value", 10, "refresh-value"))
    assert "refresh-value" not in repr(Issued("secret-value", 10, "refresh-value"))


def test_write_private_is_atomic_and_0600(tmp_path: Path) -> None:
    """The old file stays whole until the new one replaces it; no temporary file is left."""
    path = tmp_path / "r.refresh"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    write_private(path, "new\n")
    assert path.read_text() == "new\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["r.refresh"]


def test_the_xoauth2_initial_response_is_googles_and_microsofts_format() -> None:
    from inbox.oauth import AccessToken

    token = AccessToken("ya29.abc", INSTANTS[DEFAULT])
    assert xoauth2("me@example.com", token) == "user=me@example.com\x01auth=Bearer ya29.abc\x01\x01"
