"""Consent once: the OAuth 2.0 device authorization grant (RFC 8628) for delegated logins.

`authorize` asks the provider for a device code, hands the verification address and the code to
`show` (the CLI prints them), waits while the person signs in elsewhere, and writes the refresh
token to the `refresh_token_file` the config names (atomically, mode 0600). Microsoft through MSAL;
generic through Authlib at `device_authorization_url`. Google does not offer this flow for the
mail scope, so a Google mailbox is told to use a service account or Google's installed-app flow.
It never prints, logs or returns the refresh token or the access token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox.oauth.credentials import SecretMissing, client_secret, write_private
from inbox.oauth.providers import TIMEOUT, network_errors
from inbox.oauth.tokens import TokenError
from inbox.settings import OAuthSettings
from inbox.settings.oauth import MICROSOFT_AUTHORITY

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
MAX_WAIT = 15 * 60  # seconds: device codes live about this long at every provider


@dataclass(frozen=True)
class DeviceCode:
    verification_uri: str
    user_code: str
    message: str  # the provider's own sentence, when it gives one
    expires_in: int


def authorize(auth: OAuthSettings, show: Callable[[DeviceCode], None]) -> Path:
    """Run the device flow and store the refresh token; returns the file it went to. TokenError
    when the provider refuses, the person declines or the code runs out."""
    if auth.refresh_token_file is None:
        raise TokenError("not_delegated", "the device flow stores a refresh token in refresh_token_file, "
                                          "which this auth: does not name")
    if auth.provider == "google":
        raise TokenError("unsupported", "Google does not offer the device flow for https://mail.google.com/: "
                                        "use a service account with domain-wide delegation, or make the refresh "
                                        "token with Google's installed-app flow")
    try:
        with network_errors():
            refresh = _microsoft(auth, show) if auth.provider == "microsoft" else _generic(auth, show)
    except SecretMissing as exc:
        raise TokenError("missing_secret", str(exc)) from None
    write_private(auth.refresh_token_file, refresh + "\n")
    return auth.refresh_token_file


def _microsoft(auth: OAuthSettings, show: Callable[[DeviceCode], None]) -> str:
    import msal

    authority = f"{(auth.authority or MICROSOFT_AUTHORITY).rstrip('/')}/{auth.tenant}"
    options: dict[str, Any] = {"authority": authority}
    if auth.authority is not None:
        options.update(instance_discovery=False, validate_authority=False)
    try:
        app = msal.PublicClientApplication(auth.client_id, **options)
    except ValueError as exc:
        raise TokenError("invalid_tenant", str(exc).splitlines()[0]) from None
    flow = app.initiate_device_flow(scopes=auth.scopes)
    if "user_code" not in flow:
        raise TokenError(str(flow.get("error", "bad_response")), str(flow.get("error_description", ""))[:300])
    show(DeviceCode(flow["verification_uri"], flow["user_code"], str(flow.get("message", "")),
                    int(flow.get("expires_in", MAX_WAIT))))
    result = app.acquire_token_by_device_flow(flow)
    if "refresh_token" not in result:
        raise TokenError(str(result.get("error", "no_refresh_token")),
                         str(result.get("error_description", "the provider gave no refresh token")).splitlines()[0])
    return str(result["refresh_token"])


def _generic(auth: OAuthSettings, show: Callable[[DeviceCode], None]) -> str:
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    if auth.device_authorization_url is None:
        raise TokenError("not_configured", "provider generic needs device_authorization_url for the device flow")
    secret_place = client_secret(auth)
    secret = secret_place.read() if secret_place is not None else None
    with OAuth2Session(auth.client_id, secret, scope=auth.scope,
                       token_endpoint_auth_method="client_secret_post" if secret else "none") as session:
        with network_errors():  # withhold_token: no access token yet, this asks for the right to one
            answer = session.post(auth.device_authorization_url, withhold_token=True, timeout=TIMEOUT,
                                  data={"client_id": auth.client_id, **({"scope": auth.scope} if auth.scope else {})})
        grant = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
        if "device_code" not in grant:
            raise TokenError(str(grant.get("error", f"http_{answer.status_code}")), str(grant.get("error_description", "")))
        show(DeviceCode(grant.get("verification_uri") or grant.get("verification_url", ""), grant["user_code"],
                        str(grant.get("message", "")), int(grant.get("expires_in", MAX_WAIT))))
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + min(float(grant.get("expires_in", MAX_WAIT)), MAX_WAIT)
        while time.monotonic() < deadline:
            try:
                with network_errors():
                    token = session.fetch_token(auth.token_url, grant_type=DEVICE_GRANT,
                                                device_code=grant["device_code"], timeout=TIMEOUT)
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    time.sleep(interval)  # a person is signing in: RFC 8628 3.5 says how long to wait
                    continue
                if exc.error == "slow_down":
                    interval += 5
                    continue
                raise TokenError(str(exc.error), str(exc.description or "")) from None
            if "refresh_token" not in token:
                raise TokenError("no_refresh_token", "the provider gave no refresh token (scope offline_access?)")
            return str(token["refresh_token"])
    raise TokenError("expired_token", "the device code ran out before anyone signed in")
