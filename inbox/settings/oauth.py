"""The `auth:` key of an IMAP mailbox and of the outbound relay: OAuth 2.0 (XOAUTH2) logins.

One frozen model, `OAuthSettings`, says which provider issues the tokens and where each secret
lives: in an environment variable (`*_env`) or a file (`*_file`), never in the config itself.
Which keys a provider needs is checked here, at load; whether the variables are set and the
files readable is checked at start by `inbox.oauth.credentials`, which names the same key path.
It never reads a secret, a file or the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from inbox.settings.fields import EnvName, Located, Section

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
# App-only tokens for Exchange Online name the resource, not a permission (IMAP.AccessAsApp and
# SMTP.SendAsApp are granted to the app in Entra ID and arrive inside the token).
MICROSOFT_APP_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_DELEGATED_SCOPES = ("https://outlook.office365.com/IMAP.AccessAsUser.All",
                              "https://outlook.office365.com/SMTP.Send")
GOOGLE_SCOPE = "https://mail.google.com/"


class OAuthSettings(Section):
    method: Literal["oauth2"]
    provider: Literal["microsoft", "google", "generic"]
    # microsoft: the directory (tenant) id; generic and google: unused.
    tenant: str | None = Field(default=None, min_length=1)
    client_id: str | None = Field(default=None, min_length=1)
    client_secret_env: EnvName | None = None
    client_secret_file: Path | None = None
    # microsoft app-only with a certificate instead of a secret: the PEM private key and its
    # certificate (Entra ID knows the certificate by its SHA-1 thumbprint, computed from it).
    certificate_file: Path | None = None
    certificate_key_file: Path | None = None
    # Delegated (a person consented once, `inbox mailbox authorize`): the refresh token. A file
    # is written back when the provider hands out a new one; a variable cannot be.
    refresh_token_env: EnvName | None = None
    refresh_token_file: Path | None = None
    # google with domain-wide delegation: the service account's JSON key.
    service_account_file: Path | None = None
    # Who the token is for when it is not the login name (google impersonation; default: the login).
    subject: str | None = Field(default=None, min_length=1)
    # Overrides, for sovereign clouds, self-hosted identity servers and tests on loopback.
    authority: str | None = Field(default=None, pattern=r"^https?://")  # microsoft
    token_url: str | None = Field(default=None, pattern=r"^https?://")  # google (token_uri) and generic
    device_authorization_url: str | None = Field(default=None, pattern=r"^https?://")  # generic authorize
    scope: str | None = Field(default=None, min_length=1)
    # Renew this long before the access token runs out (also cuts a long IDLE short).
    renew_before_seconds: int = Field(default=300, ge=0)

    @model_validator(mode="after")
    def _what_the_provider_needs(self) -> OAuthSettings:
        problems = [((key,), message) for key, message in _problems(self)]
        if problems:
            raise Located(problems)
        return self

    @property
    def delegated(self) -> bool:
        """True when a person's refresh token (not the app's own credential) gets the tokens."""
        return self.refresh_token_env is not None or self.refresh_token_file is not None

    @property
    def scopes(self) -> list[str]:
        if self.scope:
            return self.scope.split()
        if self.provider == "microsoft":
            return list(MICROSOFT_DELEGATED_SCOPES) if self.delegated else [MICROSOFT_APP_SCOPE]
        return [GOOGLE_SCOPE] if self.provider == "google" else []


def _problems(auth: OAuthSettings) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    secret = auth.client_secret_env is not None or auth.client_secret_file is not None
    if auth.client_secret_env is not None and auth.client_secret_file is not None:
        problems.append(("client_secret_file", "give client_secret_env or client_secret_file, not both"))
    if auth.refresh_token_env is not None and auth.refresh_token_file is not None:
        problems.append(("refresh_token_file", "give refresh_token_env or refresh_token_file, not both"))
    if (auth.certificate_file is None) != (auth.certificate_key_file is None):
        missing = "certificate_key_file" if auth.certificate_key_file is None else "certificate_file"
        problems.append((missing, "is required when the other of certificate_file and certificate_key_file is set"))
    if auth.provider == "microsoft":
        for key in ("tenant", "client_id"):
            if getattr(auth, key) is None:
                problems.append((key, "is required for provider microsoft"))
        certificate = auth.certificate_file is not None
        if not auth.delegated and secret == certificate:
            problems.append(("client_secret_env", "app-only microsoft needs a client secret (client_secret_env or "
                                                  "client_secret_file) or a certificate, exactly one"))
    elif auth.provider == "google":
        if auth.service_account_file is None and not auth.delegated:
            problems.append(("service_account_file", "provider google needs a service account key "
                                                     "(service_account_file) or a refresh token"))
        if auth.service_account_file is not None and auth.delegated:
            problems.append(("service_account_file", "give a service account or a refresh token, not both"))
        if auth.delegated and (auth.client_id is None or not secret):
            problems.append(("client_id", "a google refresh token needs client_id and the client secret"))
    else:
        if auth.token_url is None:
            problems.append(("token_url", "is required for provider generic"))
        if auth.client_id is None:
            problems.append(("client_id", "is required for provider generic"))
        if not auth.delegated and not secret:
            problems.append(("client_secret_env", "provider generic needs a refresh token or a client secret"))
    return problems
