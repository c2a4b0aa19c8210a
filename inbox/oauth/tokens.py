"""Access tokens for one login, kept in memory until shortly before they run out.

`TokenSource.token()` answers from memory while the token has more than `renew_before` left
(by the injected clock), and asks its `Grant` for a new one otherwise; `renew()` asks at once
(after the server refused the token: revoked, or its clock is ahead of ours). A `Grant` is the
one-method seam to a provider (`inbox.oauth.providers`; `FixedGrant` is the in-memory twin).
Failures come out as `TokenError`, holding the provider's error code and a description from
which every secret of the login has been cut.

It never logs, prints or raises a token or a secret, never writes one anywhere but the refresh
token file (the grant does that), and never decodes a token: providers' tokens are opaque, the
expiry is what `expires_in` said.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from inbox.clock import Clock

log = logging.getLogger(__name__)
DEFAULT_LIFETIME = 3600  # seconds, when a provider leaves expires_in out (RFC 6749 5.1 makes it optional)


@dataclass(frozen=True)
class Issued:
    """What a provider handed out. `refresh_token` only when it issued a new one."""

    access_token: str = field(repr=False)
    expires_in: float
    refresh_token: str | None = field(default=None, repr=False)


class TokenError(Exception):
    """No access token: `code` is the provider's error (RFC 6749 5.2: invalid_grant,
    invalid_client, ...) or one of ours (unreachable, missing_secret, bad_response)."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description


class Grant(Protocol):
    def fetch(self) -> Issued:
        """A new access token from the provider; raises TokenError."""
        ...

    def secrets(self) -> Iterable[str]:
        """The secret values this grant uses (to cut them out of any error text)."""
        ...


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: datetime


class TokenSource:
    """The access token of one login (a mailbox, the relay), shared by the threads that log in."""

    def __init__(self, grant: Grant, clock: Clock, *, label: str, provider: str,
                 renew_before: timedelta = timedelta(minutes=5)) -> None:
        self._grant = grant
        self._clock = clock
        self.label = label  # "mailbox main", "outbound relay": for log lines
        self.provider = provider
        self.renew_before = renew_before
        self._current: AccessToken | None = None
        self._lock = threading.Lock()
        self.requests = 0  # token requests made: the cost the cache saves

    def token(self) -> AccessToken:
        """A token with more than `renew_before` left, from memory when there is one."""
        with self._lock:
            current = self._current
            if current is not None and not self._is_due(current):
                return current
            return self._fetch()

    def renew(self, refused: AccessToken | None = None) -> AccessToken:
        """A new token, the one in memory having been refused. When another thread already
        replaced `refused`, its replacement is returned instead of asking again."""
        with self._lock:
            if refused is not None and self._current is not None and self._current != refused:
                return self._current
            self._current = None
            return self._fetch()

    def forget(self) -> None:
        """Drop the token in memory (a reload: the next login asks the provider)."""
        with self._lock:
            self._current = None

    def due_at(self, token: AccessToken) -> datetime:
        """When a connection logged in with `token` should log in again."""
        return token.expires_at - self.renew_before

    def _is_due(self, token: AccessToken) -> bool:
        return self._clock.now() >= self.due_at(token)

    def _fetch(self) -> AccessToken:
        self.requests += 1
        try:
            issued = self._grant.fetch()
        except TokenError as exc:
            failure = TokenError(exc.code, scrub(exc.description, self._grant.secrets()))
            log.warning("%s: no %s access token: %s", self.label, self.provider, failure)
            raise failure from None
        lifetime = issued.expires_in if issued.expires_in > 0 else DEFAULT_LIFETIME
        self._current = AccessToken(issued.access_token, self._clock.now() + timedelta(seconds=lifetime))
        log.info("%s: new %s access token, valid until %s", self.label, self.provider,
                 self._current.expires_at.isoformat(timespec="seconds"))
        return self._current


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret in it replaced: providers have echoed a refresh token back."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text[:500]


class FixedGrant:
    """The in-memory twin of a provider, for tests: hands out tokens from `make`, or fails with
    `failure` when set."""

    def __init__(self, make: Callable[[int], Issued]) -> None:
        self._make = make
        self.calls = 0
        self.failure: TokenError | None = None

    def fetch(self) -> Issued:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        return self._make(self.calls)

    def secrets(self) -> Iterable[str]:
        return ()
