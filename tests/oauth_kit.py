"""What the OAuth tests share: a running token server on the suite's clock, the settings of each
provider pointed at it, and a Google service account key of our own making.

Plain helpers and one fixture factory; MSAL needs the server's HTTPS side, so `token_server`
points REQUESTS_CA_BUNDLE (for this test only) at its self-signed certificate.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inbox.clock import FixedClock
from inbox.settings import OAuthSettings
from tests.instants import DEFAULT, INSTANTS
from tests.oauth_server import RunningTokenServer, TokenServer

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "cs-" + "S3cr3t-client-value-never-logged"
PUBLIC_CLIENT = "public-device-client"
TENANT = "contoso"


@pytest.fixture
def oauth_clock() -> FixedClock:
    return FixedClock(INSTANTS[DEFAULT])


@pytest.fixture
def token_server(oauth_clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningTokenServer]:
    state = TokenServer(now=oauth_clock.now, tenant=TENANT, clients={CLIENT_ID: CLIENT_SECRET, PUBLIC_CLIENT: None})
    server = RunningTokenServer(state)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
    monkeypatch.setenv("TEST_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    yield server
    server.stop()


def microsoft(server: RunningTokenServer, **keys: Any) -> OAuthSettings:
    """App-only Microsoft 365 (client credentials with a secret), unless `keys` say otherwise."""
    values: dict[str, Any] = {"method": "oauth2", "provider": "microsoft", "tenant": TENANT, "client_id": CLIENT_ID,
                              "client_secret_env": "TEST_OAUTH_CLIENT_SECRET", "authority": server.https}
    return OAuthSettings.model_validate({**values, **keys})


def generic(server: RunningTokenServer, **keys: Any) -> OAuthSettings:
    values: dict[str, Any] = {"method": "oauth2", "provider": "generic", "client_id": CLIENT_ID,
                              "client_secret_env": "TEST_OAUTH_CLIENT_SECRET", "token_url": f"{server.http}/token"}
    return OAuthSettings.model_validate({**values, **keys})


def service_account_key(directory: Path, server: RunningTokenServer) -> Path:
    """A Google service account key (a fresh RSA key) whose token_uri is the test server."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = directory / "service-account.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "test", "private_key_id": "k1",
                                "private_key": pem, "client_email": "inbox@test.iam.gserviceaccount.com",
                                "client_id": "1", "token_uri": f"{server.http}/token"}))
    return path


def healthz(port: int) -> tuple[int, dict[str, Any], str]:
    """GET /healthz: (status, the JSON, the body as sent, for the tests' search for secrets)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, json.loads(body), body
    finally:
        conn.close()
