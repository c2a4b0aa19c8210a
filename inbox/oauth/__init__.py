"""OAuth 2.0 access tokens for the logins that leave the service: IMAP pulling and the relay.

A low layer of its own (beside the store), because the receive room (IMAP) and the
autoresponder (the relay) are siblings that may not import each other, and both need the same
tokens, read from the same `auth:` settings. Import from `inbox.oauth`, never from its modules:
`tokens` the cache and the seam (`Grant`), `providers` the three libraries behind it,
`credentials` where the secrets live, `device` the one-time consent.

It never logs, stores or returns a secret anywhere but the refresh token file the config names.
"""

from __future__ import annotations

from datetime import timedelta

from inbox.clock import Clock
from inbox.oauth.credentials import SecretMissing, missing, write_private
from inbox.oauth.tokens import AccessToken, FixedGrant, Grant, Issued, TokenError, TokenSource
from inbox.settings import OAuthSettings, Settings


def token_source(auth: OAuthSettings, clock: Clock, *, login: str, label: str, grant: Grant | None = None
                 ) -> TokenSource:
    """The token source of one login (`login`: the mailbox's user name) as `auth` configures it."""
    from inbox.oauth.providers import grant_for

    return TokenSource(grant or grant_for(auth, login, label), clock, label=label, provider=auth.provider,
                       renew_before=timedelta(seconds=auth.renew_before_seconds))


def missing_secrets(settings: Settings) -> list[str]:
    """A config-error line for each OAuth secret the config names that is not there now."""
    problems = []
    for index, mailbox in enumerate(settings.imap):
        if mailbox.auth is not None:
            problems += missing(mailbox.auth, settings.source_path, f"imap.{index}.auth")
    if settings.outbound.auth is not None and settings.outbound.transport == "smtp":
        problems += missing(settings.outbound.auth, settings.source_path, "outbound.auth")
    return problems


def xoauth2(user: str, token: AccessToken) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Google and Microsoft define it."""
    return f"user={user}\x01auth=Bearer {token.value}\x01\x01"


__all__ = ["AccessToken", "FixedGrant", "Grant", "Issued", "SecretMissing", "TokenError", "TokenSource",
           "missing_secrets", "token_source", "write_private", "xoauth2"]
