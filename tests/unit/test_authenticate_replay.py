"""`inbox.ingest.authenticate` against replays of a genuine signed mail (RFC 6376 8.15).

A copy of a header on top, a header block the parser and dkimpy split differently, a signature
whose h= leaves a header the decision reads unsigned: each proves nothing, by DKIM or by a trusted
Authentication-Results. A pass carries its once-keys, the same for every spelling of one signature.
"""

from __future__ import annotations

import base64
import re

import pytest
from dkim.crypto import parse_public_key

from inbox.ingest.authenticate import SINGLE_HEADERS, authenticate
from inbox.ingest.parse import parse
from tests.dkim_kit import Key, dns_for, make_key, sign
from tests.unit.test_authenticate import mail, with_results

TRUSTED = ("mx.example.com",)
EVERY_HEADER = [b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to", b"references"]
COPIES = {"from": "Ann <ann@example.com>", "sender": "ann@example.com", "to": "support@example.com",
          "cc": "ops@example.com", "date": "Mon, 03 Mar 2025 09:00:00 +0000", "subject": "Re: [SUP-000002] other",
          "message-id": "<again@evil.test>", "in-reply-to": "<other@acme.com>", "references": "<other@acme.com>"}


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key()


def dkim_check(raw: bytes, key: Key):  # type: ignore[no-untyped-def]
    return authenticate(raw, parse(raw), dns=dns_for(key, "example.com"))


def results_check(raw: bytes):  # type: ignore[no-untyped-def]
    return authenticate(raw, parse(raw), trusted_authserv_ids=TRUSTED, verify_dkim=False)


def signed(key: Key, headers: list[bytes] | None = None, **extra: str) -> bytes:
    """A good signed mail (the kit signs the usual headers it has), with `extra` headers before signing."""
    return sign(mail(extra=[(name.replace("_", "-"), value) for name, value in extra.items()]), key, headers=headers)


@pytest.mark.parametrize("name", SINGLE_HEADERS)
@pytest.mark.parametrize("spelling", [str.title, str.upper, str.lower])
def test_a_second_copy_of_a_single_header_proves_nothing(key: Key, name: str, spelling) -> None:  # type: ignore[no-untyped-def]
    """Any header RFC 5322 3.6 allows once, copied on top of a good signature or of a trusted pass
    (its name in any case), fails, saying how many there are."""
    written = spelling(name)
    if name == "sender":  # the mail has none: a pair is needed
        base = signed(key, sender="ann@example.com")
    elif name in ("cc", "in-reply-to", "references"):
        base = signed(key, **{name.replace("-", "_"): COPIES[name]})
    else:
        base = signed(key)
    copy = f"{written}: {COPIES[name]}\r\n".encode() + base
    result = dkim_check(copy, key)
    assert not result.passed and result.once == ()
    assert "the message has 2 " in result.reason
    vouched = b"Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n" + copy
    assert not results_check(vouched).passed
    assert dkim_check(base, key).passed  # the mail itself was good


def test_a_bare_cr_in_the_header_block_proves_nothing(key: Key) -> None:
    """A CR without LF ends a line for the parser only: with one in the header block nothing passes;
    in the body it is only text."""
    good = signed(key, headers=EVERY_HEADER)
    copy = b"X-Note: 1\rIn-Reply-To: <other@acme.com>\r\n" + good
    assert parse(copy).in_reply_to == ("other@acme.com",)  # the parser sees an In-Reply-To the signature does not
    result = dkim_check(copy, key)
    assert (result.passed, result.reason) == (
        False, "the header has a CR that does not end a line (RFC 5322 2.2), which readers split differently")
    assert not results_check(b"Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=example.com\r\n"
                             + copy).passed


@pytest.mark.parametrize(("left_out", "extra", "named"), [
    (b"subject", {}, "Subject"),
    (b"message-id", {}, "Message-ID"),
    (b"in-reply-to", {"in_reply_to": "<x@acme.com>"}, "In-Reply-To"),
    (b"references", {"references": "<x@acme.com>"}, "References"),
])
def test_a_signature_must_sign_what_decides_the_ticket(key: Key, left_out: bytes, extra: dict[str, str],
                                                        named: str) -> None:
    """h= without Subject, Message-ID, or a threading header the mail has: the signature proves nothing."""
    headers = [name for name in EVERY_HEADER if name != left_out]
    result = dkim_check(signed(key, headers=headers, **extra), key)
    assert (result.passed, result.reason) == (False, f"DKIM signature of example.com does not sign {named}")


def test_a_signature_may_sign_the_absence_of_a_header(key: Key) -> None:
    """h= listing In-Reply-To and References the mail lacks signs their absence: it passes, and adding
    one afterwards breaks it."""
    good = signed(key, headers=EVERY_HEADER)
    assert dkim_check(good, key).passed
    added = good.replace(b"\r\nFrom:", b"\r\nIn-Reply-To: <other@acme.com>\r\nFrom:", 1)
    assert "did not verify" in dkim_check(added, key).reason


def _b_value(raw: bytes) -> bytes:
    found = re.search(rb"\bb=([A-Za-z0-9+/=\s]+?)(?:;|\r\n(?=\S))", raw)
    assert found is not None
    return found.group(1)


def test_one_signature_has_one_once_key_however_b_is_spelt(key: Key) -> None:
    """The key names what is signed: b= folded elsewhere, with spare base64 bits set, or as s + n
    (all verify) gives the same key; a Received line on top too; another mail another key."""
    good = signed(key, headers=EVERY_HEADER)
    value = _b_value(good)
    plain = re.sub(rb"\s+", b"", value)
    number = int.from_bytes(base64.b64decode(plain), "big")
    bigger = number + parse_public_key(base64.b64decode(key.public_b64))["modulus"]
    spellings = [
        b"\r\n ".join(plain[i:i + 40] for i in range(0, len(plain), 40)),
        base64.b64encode(bigger.to_bytes((bigger.bit_length() + 7) // 8, "big")),
        base64.b64encode((b"\0" + number.to_bytes(256, "big"))),  # a leading zero byte
    ]
    [key_of_good] = dkim_check(good, key).once
    for respelt in spellings:
        copy = good.replace(value, respelt, 1)
        result = dkim_check(copy, key)
        assert result.passed and result.once == (key_of_good,), respelt[:20]
    assert dkim_check(b"Received: from a by b\r\n" + good, key).once == (key_of_good,)
    other = signed(key, headers=EVERY_HEADER, in_reply_to="<x@acme.com>")
    assert dkim_check(other, key).once != (key_of_good,)


def test_a_trusted_pass_is_held_to_the_message_id() -> None:
    """A trusted pass for a mail with a Message-ID names it as its once-key; without one it fails."""
    raw = with_results("mx.example.com; dmarc=pass header.from=example.com")
    [once] = results_check(raw).once
    assert once.startswith("message-id:")
    without = re.sub(rb"Message-ID: [^\r]*\r\n", b"", raw)
    result = results_check(without)
    assert (result.passed, result.reason) == (
        False, "mx.example.com: dmarc=pass header.from=example.com, but the message has no Message-ID to hold it to once")


@pytest.mark.parametrize(("method", "passes"), [("dkim=pass header.d=example.com", False),
                                                ("dmarc=pass header.from=example.com", False),
                                                ("spf=pass smtp.mailfrom=example.com", True)])
def test_a_trusted_pass_does_not_rest_on_an_open_signature(key: Key, method: str, passes: bool) -> None:
    """The host could have verified a signature that leaves Message-ID unsigned (the same mail under any
    Message-ID passes again) or covers part of the body (l=): no dkim or dmarc pass is believed then;
    an spf pass does not rest on the signature."""
    results = f"Authentication-Results: mx.example.com; {method}\r\n".encode()
    no_id = signed(key, headers=[b"from", b"to", b"subject", b"date"])
    part_of_body = sign(mail(), key, length=True)
    for open_ in (no_id, part_of_body):
        result = results_check(results + open_)
        assert result.passed is passes
        if not passes:
            assert "but the DKIM signature of example.com in it" in result.reason
    assert results_check(results + signed(key)).passed  # a covering signature: believed
