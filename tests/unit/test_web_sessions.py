"""The admins' session cookies and CSRF tokens (inbox.web.sessions), with a frozen clock."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from inbox.clock import FixedClock
from inbox.web.sessions import LIFETIME, Admin, Admins

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
ANNA = Admin("anna", "anna-token-0123456789")
BEN = Admin("ben", "ben-token-0123456789ab")


def admins(clock: FixedClock, *people: Admin) -> Admins:
    return Admins(list(people or (ANNA, BEN)), clock.now)


def test_a_token_names_its_admin_and_nothing_else_does() -> None:
    """by_token answers the admin of that exact token; a prefix, a longer one, an empty one: nobody."""
    door = admins(FixedClock(T0), ANNA, BEN, Admin("zoë", "tök€n-with-non-ascii"))
    assert door.by_token(ANNA.token) == "anna" and door.by_token(BEN.token) == "ben"
    assert door.by_token("tök€n-with-non-ascii") == "zoë"
    for wrong in ("", ANNA.token[:-1], ANNA.token + "x", ANNA.token.upper(), "ben"):
        assert door.by_token(wrong) is None, wrong


def test_a_session_lasts_its_lifetime_and_not_a_second_more() -> None:
    """A cookie opens a session of its admin until LIFETIME has passed; at the expiry it is refused."""
    clock = FixedClock(T0)
    door = admins(clock)
    cookie = door.open("anna")
    session = door.session(cookie)
    assert session is not None and session.admin == "anna" and session.expires == T0 + LIFETIME
    clock.set(T0 + LIFETIME - timedelta(seconds=1))
    assert door.session(cookie) is not None
    clock.set(T0 + LIFETIME)
    assert door.session(cookie) is None
    assert "anna-token" not in cookie and "0123456789" not in cookie


def test_a_forged_or_altered_cookie_is_refused() -> None:
    """Another name, a later expiry, another signature, a cookie signed under another token: refused."""
    clock = FixedClock(T0)
    door = admins(clock)
    cookie = door.open("ben")
    version, name, expires, nonce, signature = cookie.split(".")
    anna = base64.urlsafe_b64encode(b"anna").rstrip(b"=").decode()
    forged = [
        f"{version}.{anna}.{expires}.{nonce}.{signature}",  # ben's signature on anna's name
        f"{version}.{name}.{int(expires) + 86400}.{nonce}.{signature}",  # a longer life
        f"{version}.{name}.{expires}.{nonce}.{signature[:-2]}AA",
        f"{version}.{name}.{expires}.{nonce}x.{signature}",
        f"v2.{name}.{expires}.{nonce}.{signature}",
        cookie + ".", "", "....", "v1.!!.1.x.y", BEN.token,
        Admins([Admin("ben", "another-token-0123456789")], clock.now).open("ben"),  # ben's old token
    ]
    for value in forged:
        assert door.session(value) is None, value
    assert door.session(cookie) is not None


def test_two_instances_with_the_same_tokens_accept_each_others_sessions() -> None:
    """Stateless: an instance behind the same proxy, started apart, reads the same cookie and CSRF token."""
    clock = FixedClock(T0)
    one, two = admins(clock), admins(clock, BEN, ANNA)
    cookie = one.open("anna")
    assert two.session(cookie) is not None and two.is_csrf(cookie, one.csrf(cookie))


def test_a_csrf_token_belongs_to_one_session() -> None:
    """The CSRF token of one session is refused with another, even of the same admin; a session's own passes."""
    door = admins(FixedClock(T0))
    first, second = door.open("anna"), door.open("anna")
    assert door.is_csrf(first, door.csrf(first))
    assert not door.is_csrf(second, door.csrf(first))
    assert not door.is_csrf(first, "") and not door.is_csrf(first, ANNA.token)
    assert not door.is_csrf("forged", door.csrf(first))


def test_signing_out_ends_the_session_here() -> None:
    """After close, the cookie and its CSRF token are refused; the admin's other sessions go on."""
    door = admins(FixedClock(T0))
    kept, ended = door.open("anna"), door.open("anna")
    token = door.csrf(ended)
    door.close(ended)
    assert door.session(ended) is None and not door.is_csrf(ended, token)
    assert door.session(kept) is not None
    with pytest.raises(ValueError):
        door.csrf(ended)


def test_admins_never_print_a_token() -> None:
    """repr of an admin or of the door names people, never tokens."""
    door = admins(FixedClock(T0))
    assert ANNA.token not in repr(ANNA) and ANNA.token not in repr(door) and "anna" in repr(door)
    with pytest.raises(ValueError):
        Admins([ANNA, Admin("anna", "x" * 20)], FixedClock(T0).now)
