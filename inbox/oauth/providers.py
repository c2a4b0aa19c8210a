"""The three providers as `Grant`s, each through its own maintained library.

- microsoft: MSAL for Python (MIT), Microsoft's own client: client credentials with a secret or
  a certificate (app-only), or a delegated refresh token.
- google: google-auth (Apache-2.0), Google's own client: a service account with domain-wide
  delegation (impersonating the mailbox), or an installed app's refresh token.
- generic: Authlib (BSD), a maintained RFC 6749 client: refresh-token or client-credentials
  grant against any token endpoint.
Each library is imported when the first token is asked for, so `import inbox.cli` stays light.
A rotated refresh token is written back to the file the config names. Every library failure
becomes a `TokenError` with the provider's error code.

It never logs or raises a secret (`TokenSource` also cuts them from error text), never keeps a
secret between requests (each fetch reads it again: a replaced file is used at the next try),
and never decodes an access token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from inbox.oauth.credentials import (SecretMissing, SecretPlace, client_secret, exclusive, file_secret,
                                     refresh_token)
from inbox.oauth.tokens import Grant, Issued, TokenError
from inbox.settings import OAuthSettings
from inbox.settings.oauth import GOOGLE_TOKEN_URI, MICROSOFT_AUTHORITY

log = logging.getLogger(__name__)
TIMEOUT = 30.0  # seconds for one token request


def grant_for(auth: OAuthSettings, login: str, label: str) -> Grant:
    """The grant `auth` describes, for the mailbox or relay login `login`."""
    if auth.provider == "microsoft":
        return MicrosoftGrant(auth, label)
    if auth.provider == "google":
        return GoogleGrant(auth, auth.subject or login, label)
    return GenericGrant(auth, label)


class _Secrets:
    """The secrets one grant read for its latest request, kept only so error text can be scrubbed
    of them (`forget` at each request: a long-running service would otherwise keep every one)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def forget(self) -> None:
        self.seen = []

    def read(self, place: SecretPlace | None) -> str | None:
        if place is None:
            return None
        try:
            value = place.read()
        except SecretMissing as exc:
            raise TokenError("missing_secret", str(exc)) from None
        self.seen.append(value)
        return value


def _write_back(place: SecretPlace | None, old: str | None, new: str | None, label: str) -> None:
    """Keep a rotated refresh token: the old one may already be dead at the provider."""
    if place is None or not new or new == old:
        return
    if not place.writable:
        log.warning("%s: the provider rotated the refresh token, but %s names an environment variable, which "
                    "cannot be written: use refresh_token_file so the new one is kept", label, place.key)
        return
    place.write(new)
    log.info("%s: the provider rotated the refresh token; the new one is in %s", label, place.file)


@contextmanager
def network_errors() -> Iterator[None]:
    """requests' failures as TokenError: the endpoint answered 5xx, or could not be reached."""
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise TokenError("server_error", f"the token endpoint answered HTTP {status}") from None
    except requests.RequestException as exc:
        raise TokenError("unreachable", f"{type(exc).__name__}: cannot reach the token endpoint") from None


class _ProviderGrant:
    """What every provider's grant shares: the secrets it read (for scrubbing error text), and one
    request at a time per refresh token file (`credentials.exclusive`) around its own `_fetch`."""

    def __init__(self, auth: OAuthSettings, label: str) -> None:
        self._auth, self._label = auth, label
        self._secrets = _Secrets()
        self._refresh = refresh_token(auth)

    def secrets(self) -> Iterable[str]:
        return self._secrets.seen

    def fetch(self) -> Issued:
        with exclusive(self._refresh):  # one user of a rotating refresh token at a time
            return self._fetch()

    def _fetch(self) -> Issued:
        raise NotImplementedError


class MicrosoftGrant(_ProviderGrant):
    def _fetch(self) -> Issued:
        import msal
        from jwt.exceptions import PyJWTError  # PyJWT: MSAL's own dependency, which signs its assertions

        self._secrets.forget()

        auth = self._auth
        authority = f"{(auth.authority or MICROSOFT_AUTHORITY).rstrip('/')}/{auth.tenant}"
        options: dict[str, Any] = {"authority": authority, "timeout": TIMEOUT}
        if auth.authority is not None:
            # An authority of one's own (a sovereign cloud, a test server) is not in Microsoft's
            # list of instances: asking login.microsoftonline.com about it would only fail.
            options.update(instance_discovery=False, validate_authority=False)
        credential = self._credential()
        refresh = self._secrets.read(self._refresh)
        with network_errors():
            try:
                # Made for each request (cheap next to the request): a fresh MSAL cache means a
                # renewal after a refused token really asks Entra ID, and a replaced secret is used.
                if credential is None:
                    app: Any = msal.PublicClientApplication(auth.client_id, **options)
                else:
                    app = msal.ConfidentialClientApplication(auth.client_id, client_credential=credential, **options)
            except ValueError as exc:  # the authority's metadata could not be had: a wrong tenant
                raise TokenError("invalid_tenant", str(exc).splitlines()[0]) from None
            try:
                if refresh is not None:
                    result = app.acquire_token_by_refresh_token(refresh, scopes=auth.scopes)
                else:
                    result = app.acquire_token_for_client(scopes=auth.scopes)
            except (ValueError, PyJWTError) as exc:  # a certificate key MSAL cannot sign with
                raise TokenError("bad_certificate", f"{type(exc).__name__}: the certificate key cannot sign "
                                                    "a client assertion") from None
        if "access_token" not in result:
            description = str(result.get("error_description", "")).splitlines()
            raise TokenError(str(result.get("error", "bad_response")), description[0] if description else "")
        _write_back(self._refresh, refresh, result.get("refresh_token"), self._label)
        return Issued(result["access_token"], float(result.get("expires_in") or 0))

    def _credential(self) -> str | dict[str, str] | None:
        auth, secrets = self._auth, self._secrets
        if auth.certificate_file is not None:
            return {"private_key": secrets.read(file_secret("certificate_key_file", auth.certificate_key_file)) or "",
                    "public_certificate": secrets.read(file_secret("certificate_file", auth.certificate_file)) or ""}
        return secrets.read(client_secret(auth))


class GoogleGrant(_ProviderGrant):
    def __init__(self, auth: OAuthSettings, subject: str, label: str) -> None:
        super().__init__(auth, label)
        self._subject = subject  # the mailbox a service account acts as (domain-wide delegation)

    def _fetch(self) -> Issued:
        from google.auth import exceptions

        self._secrets.forget()
        credentials, refresh = self._credentials()
        request = _ExpiresIn()
        try:
            credentials.refresh(request)
        except exceptions.RefreshError as exc:
            data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
            code = str(data.get("error") or "refresh_error")
            raise TokenError(code, str(data.get("error_description") or exc.args[0]).splitlines()[0]) from None
        except exceptions.TransportError as exc:
            raise TokenError("unreachable", f"cannot reach the token endpoint: {type(exc).__name__}") from None
        if refresh is not None:
            _write_back(self._refresh, refresh, credentials.refresh_token, self._label)
        return Issued(credentials.token, request.expires_in)

    def _credentials(self) -> tuple[Any, str | None]:
        from google.oauth2 import credentials, service_account

        auth, secrets = self._auth, self._secrets
        token_uri = auth.token_url or GOOGLE_TOKEN_URI
        key = secrets.read(file_secret("service_account_file", auth.service_account_file))
        if key is not None:
            try:
                info = json.loads(key)
                info["token_uri"] = token_uri if auth.token_url else info.get("token_uri", token_uri)
                made = service_account.Credentials.from_service_account_info(info, scopes=auth.scopes,
                                                                             subject=self._subject)
            except (ValueError, KeyError, TypeError) as exc:
                raise TokenError("bad_service_account", f"service_account_file is not a service account key: "
                                                        f"{type(exc).__name__}") from None
            return made, None
        refresh = secrets.read(self._refresh)
        made = credentials.Credentials(None, refresh_token=refresh, client_id=auth.client_id,
                                       client_secret=secrets.read(client_secret(auth)), token_uri=token_uri,
                                       scopes=auth.scopes)
        return made, refresh


def _google_request() -> Any:
    from google.auth.transport.requests import Request

    return Request()


class _ExpiresIn:
    """google-auth's requests transport, keeping the `expires_in` of the token response: the
    library keeps only a wall-clock expiry, and ours counts on the injected clock."""

    def __init__(self) -> None:
        self._inner = _google_request()
        self.expires_in = 0.0

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = TIMEOUT, **kwargs: Any) -> Any:
        response = self._inner(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        try:
            self.expires_in = float(json.loads(response.data).get("expires_in") or 0)
        except (ValueError, TypeError, AttributeError):
            pass
        return response


class GenericGrant(_ProviderGrant):
    def _fetch(self) -> Issued:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session

        self._secrets.forget()

        auth = self._auth
        secret = self._secrets.read(client_secret(auth))
        refresh = self._secrets.read(self._refresh)
        session = OAuth2Session(auth.client_id, secret, scope=auth.scope,
                                token_endpoint_auth_method="client_secret_post" if secret else "none")
        with session, network_errors():
            try:
                if refresh is not None:
                    token = session.refresh_token(auth.token_url, refresh_token=refresh, timeout=TIMEOUT)
                else:
                    token = session.fetch_token(auth.token_url, grant_type="client_credentials", timeout=TIMEOUT)
            except OAuthError as exc:
                raise TokenError(str(exc.error), str(exc.description or "").splitlines()[0] if exc.description
                                 else "") from None
            except ValueError as exc:
                raise TokenError("bad_response", str(exc)) from None
        if "access_token" not in token:
            raise TokenError("bad_response", "the token endpoint's answer holds no access_token")
        _write_back(self._refresh, refresh, token.get("refresh_token"), self._label)
        return Issued(str(token["access_token"]), float(token.get("expires_in") or 0))
