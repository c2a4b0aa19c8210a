"""Who may use the admin pages: the admins' tokens, signed session cookies and CSRF tokens.

An admin signs in once with a token and holds a session cookie: "v1.NAME.EXPIRES.NONCE.SIGNATURE",
signed with HMAC-SHA256 under a key derived from that admin's own token. Stateless, so two
instances behind one proxy accept each other's sessions (they read the same tokens), and a new
token ends every session of its admin. A CSRF token is an HMAC of the session under the same key:
bound to it, so a token of another session, or of an ended one, is refused. Signing out ends the
session on this instance at once (the cookie is dropped by the browser; a copy kept elsewhere
stays valid on another instance until it expires, at most LIFETIME).

Pure: no I/O, no logging, time from the clock handed in. Never returns or keeps a token in a
value a caller could print (`Admin.token` is left out of its repr); compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

LIFETIME = timedelta(hours=12)
_VERSION = "v1"
_SESSION_KEY = b"inbox admin session v1"


@dataclass(frozen=True)
class Admin:
    name: str  # "admin" for http.admin_token_env's holder; history and the audit log show it
    token: str = field(repr=False)


@dataclass(frozen=True)
class Session:
    admin: str
    expires: datetime
    nonce: str


class Admins:
    """The admins who may sign in, and the sessions they hold."""

    def __init__(self, admins: Sequence[Admin], now: Callable[[], datetime], lifetime: timedelta = LIFETIME) -> None:
        names = [a.name for a in admins]
        if len(set(names)) != len(names):
            raise ValueError(f"admin names must be distinct: {names}")
        # The key never leaves this object; derived so that the cookie's signature says nothing of the token.
        self._keys = {a.name: hmac.new(a.token.encode("utf-8"), _SESSION_KEY, hashlib.sha256).digest() for a in admins}
        self._tokens = [(a.name, a.token.encode("utf-8")) for a in admins]
        self._now = now
        self._lifetime = lifetime
        self._ended: dict[str, datetime] = {}  # nonce -> expiry, for the sessions signed out here

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._tokens]

    def __repr__(self) -> str:
        return f"Admins({self.names})"

    def by_token(self, offered: str) -> str | None:
        """The admin whose token this is, or None. Compares with every token, in constant time each."""
        found = None
        given = offered.encode("utf-8")  # bytes: compare_digest refuses str with non-ASCII characters
        for name, token in self._tokens:
            if hmac.compare_digest(given, token) and found is None:
                found = name
        return found

    def open(self, admin: str) -> str:
        """A new session cookie's value for `admin` (a known name)."""
        expires = int((self._now() + self._lifetime).timestamp())
        payload = f"{_VERSION}.{_b64(admin.encode('utf-8'))}.{expires}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._sign(admin, payload)}"

    def session(self, cookie: str) -> Session | None:
        """The session this cookie holds; None when it is malformed, forged, expired or signed out."""
        parts = cookie.split(".")
        if len(parts) != 5 or parts[0] != _VERSION or not parts[2].isdigit():
            return None
        try:
            admin = _unb64(parts[1]).decode("utf-8")
        except ValueError:
            return None
        if admin not in self._keys:
            return None
        payload = ".".join(parts[:4])
        if not hmac.compare_digest(self._sign(admin, payload).encode(), parts[4].encode()):
            return None
        expires = datetime.fromtimestamp(int(parts[2]), self._now().tzinfo)
        now = self._now()
        if expires <= now or parts[3] in self._ended:
            return None
        return Session(admin, expires, parts[3])

    def csrf(self, cookie: str) -> str:
        """The CSRF token that the forms of this session carry."""
        session = self.session(cookie)
        if session is None:
            raise ValueError("no session")
        return self._sign(session.admin, f"csrf.{cookie}")

    def is_csrf(self, cookie: str, offered: str) -> bool:
        session = self.session(cookie)
        if session is None:
            return False
        return hmac.compare_digest(self._sign(session.admin, f"csrf.{cookie}").encode(), offered.encode("utf-8"))

    def close(self, cookie: str) -> None:
        """Sign out: this session is refused from now on, here."""
        session = self.session(cookie)
        now = self._now()
        self._ended = {nonce: until for nonce, until in self._ended.items() if until > now}  # bounded by LIFETIME
        if session is not None:
            self._ended[session.nonce] = session.expires

    def _sign(self, admin: str, payload: str) -> str:
        return _b64(hmac.new(self._keys[admin], payload.encode("utf-8"), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
