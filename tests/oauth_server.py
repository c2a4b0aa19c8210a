"""A small OAuth 2.0 authorization server on loopback, for tests and the bench: no network.

It speaks what the three client libraries and Dovecot ask for:
- token endpoint (RFC 6749): client_credentials (a secret, or an RFC 7523 client assertion as
  MSAL sends for a certificate), refresh_token (rotating the refresh token when `rotate`), the
  device-code grant (RFC 8628), and Google's JWT bearer grant for service accounts;
  at /token and at MSAL's /{tenant}/oauth2/v2.0/token;
- device authorization (/device, /{tenant}/oauth2/v2.0/devicecode), approved by `approve()`;
- OpenID discovery at /{tenant}/v2.0/.well-known/openid-configuration (MSAL reads it; an
  unknown tenant gets 400 invalid_tenant, as Entra ID answers);
- introspection (RFC 7662, POST token=...) for Dovecot's oauth2 passdb, and revocation (RFC 7009).
Tokens expire by the injected clock (`now`), so a test moves time instead of sleeping.
`failure` switches it to answering every token request with that error (or 503 for "down").
It listens on plain HTTP (Dovecot, Authlib, google-auth) and HTTPS with a self-signed certificate
(MSAL refuses http:// authorities); `ca_file` is that certificate, for REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import ssl
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class _Refresh:
    client_id: str
    username: str
    active: bool = True


@dataclass
class _Access:
    username: str
    expires_at: dt.datetime
    active: bool = True


@dataclass
class _Device:
    client_id: str
    user_code: str
    username: str | None = None


@dataclass
class TokenServer:
    now: Callable[[], dt.datetime]
    tenant: str = "contoso"
    expires_in: int = 3600
    rotate: bool = False
    clients: dict[str, str | None] = field(default_factory=dict)  # client id: secret (None: public client)
    app_users: dict[str, str] = field(default_factory=dict)  # client id: the mailbox its app tokens open
    failure: str | None = None  # "down" (HTTP 503) or an RFC 6749 error code for every token request
    requests: Counter[str] = field(default_factory=Counter)  # token requests by grant type
    issued: list[str] = field(default_factory=list, repr=False)  # every access token handed out
    _refresh: dict[str, _Refresh] = field(default_factory=dict, repr=False)
    _access: dict[str, _Access] = field(default_factory=dict, repr=False)
    _devices: dict[str, _Device] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- what tests do -------------------------------------------------------------------------

    def refresh_token(self, client_id: str, username: str) -> str:
        """A refresh token for `username` (as after a consent)."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = _Refresh(client_id, username)
        return token

    def revoke_all(self) -> None:
        """Every refresh and access token revoked (a password reset, an admin's revocation)."""
        with self._lock:
            for item in (*self._refresh.values(), *self._access.values()):
                item.active = False

    def approve(self, user_code: str, username: str) -> None:
        with self._lock:
            for device in self._devices.values():
                if device.user_code == user_code:
                    device.username = username

    def pending_user_codes(self) -> list[str]:
        with self._lock:
            return [d.user_code for d in self._devices.values() if d.username is None]

    def refresh_tokens(self) -> list[str]:
        """Every refresh token it ever issued (for the tests' search for leaks)."""
        with self._lock:
            return list(self._refresh)

    @property
    def token_requests(self) -> int:
        return sum(self.requests.values())

    # -- the protocol ----------------------------------------------------------------------------

    def introspect(self, token: str) -> dict[str, object]:
        with self._lock:
            access = self._access.get(token)
            if access is None or not access.active or self.now() >= access.expires_at:
                return {"active": False}
            return {"active": True, "username": access.username, "scope": "mail",
                    "exp": int(access.expires_at.timestamp())}

    def revoke(self, token: str) -> None:
        with self._lock:
            for table in (self._refresh, self._access):
                if token in table:
                    table[token].active = False

    def device_authorization(self, form: dict[str, str], base: str) -> tuple[int, dict[str, object]]:
        client_id = form.get("client_id", "")
        if client_id not in self.clients:
            return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016: application not found"}
        device_code, user_code = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
        with self._lock:
            self._devices[device_code] = _Device(client_id, user_code)
        return 200, {"device_code": device_code, "user_code": user_code, "verification_uri": f"{base}/device/verify",
                     "expires_in": 900, "interval": 1,
                     "message": f"To sign in, open {base}/device/verify and enter the code {user_code}."}

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, object]]:
        grant = form.get("grant_type", "")
        self.requests[grant] += 1
        if self.failure == "down":
            return 503, {"error": "temporarily_unavailable"}
        if self.failure is not None:
            return 400, {"error": self.failure, "error_description": f"the test server refuses: {self.failure}"}
        client_id, secret = _client(form, authorization)
        if grant == JWT_GRANT:  # a Google service account: the assertion names the mailbox in `sub`
            claims = _jwt_claims(form.get("assertion", ""))
            return self._issue(str(claims.get("sub") or claims.get("iss")), None)
        if client_id not in self.clients:
            return 400, {"error": "unauthorized_client",
                         "error_description": f"AADSTS700016: Application with identifier '{client_id}' was not found"}
        if not self._client_ok(client_id, secret, form):
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided"}
        if grant == "client_credentials":
            return self._issue(self.app_users.get(client_id, client_id), None)
        if grant == "refresh_token":
            with self._lock:
                held = self._refresh.get(form.get("refresh_token", ""))
                if held is None or not held.active or held.client_id != client_id:
                    return 400, {"error": "invalid_grant", "error_description": "AADSTS70000: the refresh token "
                                                                                "is expired or revoked"}
                if self.rotate:
                    held.active = False
            return self._issue(held.username, client_id if self.rotate else None)
        if grant == DEVICE_GRANT:
            with self._lock:
                device = self._devices.get(form.get("device_code", ""))
            if device is None:
                return 400, {"error": "expired_token"}
            if device.username is None:
                return 400, {"error": "authorization_pending", "error_description": "waiting for the user"}
            with self._lock:
                del self._devices[form["device_code"]]
            return self._issue(device.username, client_id)
        return 400, {"error": "unsupported_grant_type"}

    def _client_ok(self, client_id: str, secret: str | None, form: dict[str, str]) -> bool:
        expected = self.clients[client_id]
        if expected is None:
            return True  # a public client (the device flow's)
        if form.get("client_assertion"):  # MSAL's certificate credential: a JWT the client signed
            return _jwt_claims(form["client_assertion"]).get("iss") == client_id
        return secret == expected

    def _issue(self, username: str, refresh_for: str | None) -> tuple[int, dict[str, object]]:
        access = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = _Access(username, self.now() + dt.timedelta(seconds=self.expires_in))
            self.issued.append(access)
        body: dict[str, object] = {"access_token": access, "token_type": "Bearer", "expires_in": self.expires_in,
                                   "scope": "mail"}
        if refresh_for is not None:
            body["refresh_token"] = self.refresh_token(refresh_for, username)
        return 200, body


def _client(form: dict[str, str], authorization: str | None) -> tuple[str, str | None]:
    if authorization and authorization.startswith("Basic "):
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return user, password
    return form.get("client_id", ""), form.get("client_secret")


def _jwt_claims(jwt: str) -> dict[str, object]:
    """The claims of a JWT, unverified: the test server trusts its clients' signatures."""
    try:
        payload = jwt.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    except (IndexError, ValueError):
        return {}


class _Handler(BaseHTTPRequestHandler):
    server_version = "TestOAuth/1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests grep the logs
        pass

    @property
    def state(self) -> TokenServer:
        return self.server.state  # type: ignore[attr-defined]

    def _base(self) -> str:
        return self.server.base  # type: ignore[attr-defined]

    def _send(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path.endswith("/.well-known/openid-configuration"):
            tenant = path.strip("/").split("/")[0]
            if tenant != self.state.tenant:
                self._send(400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' "
                                                                                 "not found"})
                return
            base = f"{self._base()}/{tenant}"
            self._send(200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                             "token_endpoint": f"{base}/oauth2/v2.0/token",
                             "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"})
            return
        self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        form = {key: values[-1] for key, values in parse_qs(raw).items()}
        path = urlparse(self.path).path
        if path.endswith("/introspect"):
            self._send(200, self.state.introspect(form.get("token", "")))
        elif path.endswith("/revoke"):
            self.state.revoke(form.get("token", ""))
            self._send(200, {})
        elif path.endswith("/devicecode") or path.endswith("/device"):
            self._send(*self.state.device_authorization(form, self._base()))
        elif path.endswith("/token"):
            self._send(*self.state.token(form, self.headers.get("Authorization")))
        else:
            self._send(404, {"error": "not_found"})


class RunningTokenServer:
    """The token server listening on loopback: `http` (plain) and `https` base URLs."""

    def __init__(self, state: TokenServer) -> None:
        self.state = state
        self._dir = Path(tempfile.mkdtemp(prefix="inbox-oauth-"))
        self.ca_file, key_file = self_signed(self._dir)
        self._servers = [self._serve(None), self._serve((self.ca_file, key_file))]
        self.http, self.https = (s.base for s in self._servers)  # type: ignore[attr-defined]

    def _serve(self, tls: tuple[Path, Path] | None) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.state = self.state  # type: ignore[attr-defined]
        server.base = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def self_signed(directory: Path, *, rsa: bool = False) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, its own CA, and its key (RSA: what Entra ID
    takes for an app's certificate credential)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    from cryptography.x509.oid import NameOID

    key: Any = rsa_keys.generate_private_key(65537, 2048) if rsa else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * 30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file
