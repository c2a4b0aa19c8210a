"""`inbox.ingest.authenticate`: is the From domain proven, by DKIM or a trusted Authentication-Results?

Offline: mails are signed with an RSA key made at test time, and a fake DNS
function publishes its public key.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Iterable
from email.message import EmailMessage
from email.policy import SMTP

import dkim
import pytest
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import parse_pem_private_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.domain.message import ParsedMessage
from inbox.ingest.authenticate import Authentication, authenticate
from inbox.ingest.parse import parse
from tests.dkim_kit import Key, dns_for, make_key, sign

TRUSTED = ("mx.example.com",)


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key()


def no_network(name: bytes, timeout: float = 5) -> bytes | None:
    raise AssertionError("the DNS must not be asked")


def mail(*, sender: str = "Ann Example <ann@example.com>", extra: Iterable[tuple[str, str]] = ()) -> bytes:
    msg = EmailMessage()
    for name, value in extra:
        msg[name] = value
    msg["From"] = sender
    msg["To"] = "support@example.com"
    msg["Subject"] = "Printer on fire"
    msg["Date"] = "Mon, 03 Mar 2025 09:00:00 +0000"
    msg["Message-ID"] = "<CAF1234@mail.example.com>"
    msg.set_content("Hello,\n\n#severity high\n")
    return msg.as_bytes(policy=SMTP)


def check(raw: bytes, **kwargs: object) -> Authentication:
    return authenticate(raw, parse(raw), **kwargs)  # type: ignore[arg-type]


def with_results(*values: str, sender: str = "ann@example.com") -> bytes:
    """A mail whose topmost headers are these Authentication-Results, in order."""
    return mail(sender=sender, extra=[("Authentication-Results", value) for value in values])


# --- DKIM ---------------------------------------------------------------------


def test_good_signature_passes(key: Key) -> None:
    """A DKIM signature of the From domain that verifies proves the domain."""
    result = check(sign(mail(), key), dns=dns_for(key, "example.com"))
    assert (result.passed, result.method, result.reason) == (True, "dkim", "DKIM signature of example.com verified")
    [once] = result.once  # the signature, to be spent by the change it makes
    assert once.startswith("dkim:") and len(once) == len("dkim:") + 64


def test_body_changed_after_signing_fails(key: Key) -> None:
    """A body changed after signing fails, and dkimpy's reason is kept."""
    raw = sign(mail(), key).replace(b"#severity high", b"#severity critical")
    result = check(raw, dns=dns_for(key, "example.com"))
    assert result == Authentication(False, None, "DKIM signature of example.com did not verify (body hash mismatch)")


def test_subject_changed_after_signing_fails(key: Key) -> None:
    """A signed header changed after signing fails."""
    raw = sign(mail(), key).replace(b"Subject: Printer on fire", b"Subject: Printer on fire again")
    result = check(raw, dns=dns_for(key, "example.com"))
    assert result == Authentication(False, None, "DKIM signature of example.com did not verify (signature mismatch)")


def test_signature_of_another_domain_fails(key: Key) -> None:
    """A good signature of another domain proves nothing about the From domain."""
    result = check(sign(mail(), key, "evil.test"), dns=no_network)
    assert result == Authentication(False, None, "DKIM signature is of evil.test, not of example.com")


def test_parent_domain_signature_passes_for_subdomain_from(key: Key) -> None:
    """Relaxed alignment: From mail.example.com is proven by d=example.com."""
    raw = sign(mail(sender="ann@mail.example.com"), key, "example.com")
    assert check(raw, dns=dns_for(key, "example.com")).passed


def test_subdomain_signature_fails_for_parent_domain_from(key: Key) -> None:
    """From example.com is not proven by d=mail.example.com, nor by a look-alike d=ample.com."""
    for signer in ("mail.example.com", "ample.com"):
        result = check(sign(mail(), key, signer), dns=dns_for(key, signer))
        assert result == Authentication(False, None, f"DKIM signature is of {signer}, not of example.com")


def test_good_signature_after_a_foreign_one_passes(key: Key) -> None:
    """Each signature is tried in turn: a foreign one on top does not hide a good one."""
    raw = sign(sign(mail(), key, "example.com"), key, "relay.test")
    assert check(raw, dns=dns_for(key, "example.com", "relay.test")).reason == "DKIM signature of example.com verified"


def test_no_signature_fails() -> None:
    """A mail with neither a signature nor trusted results is not authenticated."""
    result = check(mail(), trusted_authserv_ids=TRUSTED, dns=no_network)
    assert result == Authentication(False, None, "no DKIM signature and no Authentication-Results from a trusted host")


def test_dns_without_the_key_fails(key: Key) -> None:
    """No public key in DNS fails, and says so."""
    result = check(sign(mail(), key), dns=lambda name, timeout=5: None)
    assert result == Authentication(False, None, "DKIM signature of example.com did not verify (no public key in DNS)")


def test_dns_that_raises_fails_without_raising(key: Key) -> None:
    """A DNS function that raises is a failure with a reason, never an exception."""

    def broken(name: bytes, timeout: float = 5) -> bytes:
        raise OSError("resolver unreachable")

    result = check(sign(mail(), key), dns=broken)
    assert result == Authentication(
        False, None, "DKIM signature of example.com could not be checked: OSError: resolver unreachable"
    )


def test_verify_dkim_off_ignores_a_good_signature(key: Key) -> None:
    """With verify_dkim=False even a good signature proves nothing, and no DNS is asked."""
    result = check(sign(mail(), key), verify_dkim=False, dns=no_network)
    reason = "DKIM is not checked, and no Authentication-Results from a trusted host"
    assert result == Authentication(False, None, reason)


def test_signature_with_body_length_is_refused(key: Key) -> None:
    """RFC 6376 8.2: a signature with l= lets anyone append to the body, so it is not accepted."""
    result = check(sign(mail(), key, length=True), dns=dns_for(key, "example.com"))
    assert result == Authentication(False, None, "DKIM signature of example.com signs only part of the body (l=)")


def test_signature_that_does_not_sign_from_is_refused(key: Key) -> None:
    """RFC 6376 6.1.1: a signature whose h= lacks From proves nothing; dkimpy itself accepts it with any From."""
    # dkim.sign refuses to leave From out, so this signs by hand with dkimpy's own parts.
    signer = dkim.DKIM(mail())
    signer.hasher = hashlib.sha256
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    body_hash = base64.b64encode(hashlib.sha256(policy.canonicalize_body(signer.body)).digest())
    fields = [(b"v", b"1"), (b"a", b"rsa-sha256"), (b"c", b"relaxed/simple"), (b"d", b"example.com"), (b"s", b"s1"),
              (b"h", b"subject : date"), (b"bh", body_hash), (b"b", b"")]  # fmt: skip
    private = parse_pem_private_key(key.private_pem)
    header = signer.gen_header(fields, (b"subject", b"date"), policy, b"DKIM-Signature", private)
    forged = (b"DKIM-Signature: " + header + mail()).replace(b"Ann Example <ann@", b"Boss <boss@")
    assert dkim.verify(forged, dnsfunc=dns_for(key, "example.com"))
    result = check(forged, dns=dns_for(key, "example.com"))
    assert result == Authentication(False, None, "DKIM signature of example.com does not sign the From header")


def test_dkimpy_logs_nothing(key: Key, caplog: pytest.LogCaptureFixture) -> None:
    """dkimpy's complaints become the reason; nothing reaches the application's logs."""
    with caplog.at_level(logging.DEBUG):
        check(sign(mail(), key), dns=lambda name, timeout=5: None)
    assert caplog.records == []


# --- Authentication-Results ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("mx.example.com; dkim=pass header.d=example.com header.s=s1", "dkim=pass header.d=example.com"),
        ("mx.example.com; dkim=pass header.i=@example.com", "dkim=pass header.i=example.com"),
        ("mx.example.com; dmarc=pass (p=reject) header.from=example.com", "dmarc=pass header.from=example.com"),
        ("mx.example.com 1; spf=pass smtp.mailfrom=bounce@example.com", "spf=pass smtp.mailfrom=example.com"),
    ],
)
def test_trusted_results_pass(value: str, reason: str) -> None:
    """A trusted host's dkim, dmarc or spf pass for the From domain proves it, with no DNS lookup."""
    result = check(with_results(value), trusted_authserv_ids=TRUSTED, dns=no_network)
    once = "message-id:" + hashlib.sha256(b"CAF1234@mail.example.com").hexdigest()  # the mail's Message-ID acts once
    assert result == Authentication(True, "authentication-results", f"mx.example.com: {reason}", (once,))


def test_untrusted_results_are_ignored() -> None:
    """Anyone can write an Authentication-Results header: an untrusted host's is ignored."""
    result = check(with_results("mx.evil.test; dmarc=pass header.from=example.com"), trusted_authserv_ids=TRUSTED)
    assert result == Authentication(False, None, "no DKIM signature and no Authentication-Results from a trusted host")


def test_trusted_results_for_another_domain_fail() -> None:
    """A trusted pass for another domain proves nothing about the From domain."""
    result = check(with_results("mx.example.com; dkim=pass header.d=evil.test"), trusted_authserv_ids=TRUSTED)
    assert result == Authentication(False, None, "mx.example.com reports dkim=pass for evil.test, not for example.com")


def test_spf_pass_for_a_misaligned_mail_from_fails() -> None:
    """SPF passing for a bounce domain that is not the From domain proves nothing."""
    value = "mx.example.com; spf=pass smtp.mailfrom=bounces@mailer.test"
    result = check(with_results(value), trusted_authserv_ids=TRUSTED, verify_dkim=False)
    assert result == Authentication(False, None, "mx.example.com reports spf=pass for mailer.test, not for example.com")


def test_forged_header_below_the_trusted_hosts_own_is_ignored() -> None:
    """Only the topmost header of a trusted host counts (RFC 8601 5): a forged pass below its fail is ignored."""
    raw = with_results(
        "mx.example.com; dkim=fail header.d=example.com",
        "mx.example.com; dkim=pass header.d=example.com",
    )
    result = check(raw, trusted_authserv_ids=TRUSTED, verify_dkim=False)
    assert result == Authentication(False, None, "mx.example.com reports dkim=fail for example.com")


def test_authserv_id_is_compared_case_insensitively() -> None:
    """The authserv-id matches the configured one whatever the case on either side."""
    raw = with_results("MX.Example.COM; dmarc=pass header.from=example.com")
    assert check(raw, trusted_authserv_ids=["mx.example.com"]).passed
    raw = with_results("mx.example.com; dmarc=pass header.from=example.com")
    assert check(raw, trusted_authserv_ids=["MX.EXAMPLE.COM"]).passed


def test_unparseable_results_never_raise() -> None:
    """A trusted header authres cannot parse is skipped with a reason, never an exception."""
    raw = with_results("mx.example.com; dkim=pass ((( ;;; ==")
    result = check(raw, trusted_authserv_ids=TRUSTED, verify_dkim=False)
    assert result == Authentication(False, None, "the Authentication-Results of mx.example.com could not be read")


def test_unparseable_topmost_header_still_hides_forged_ones_below() -> None:
    """An unreadable header of the trusted host still uses up its turn: the pass below it may be forged."""
    raw = with_results("mx.example.com; dkim=pass (((", "mx.example.com; dkim=pass header.d=example.com")
    assert not check(raw, trusted_authserv_ids=TRUSTED, verify_dkim=False).passed


# --- the From header ----------------------------------------------------------


def test_two_from_headers_fail(key: Key) -> None:
    """RFC 7489 6.6.1: two From headers are never authenticated, even with a good signature."""
    raw = sign(mail(), key)
    raw = raw.replace(b"To: support@example.com", b"From: boss@example.com\r\nTo: support@example.com")
    result = check(raw, dns=dns_for(key, "example.com"))
    assert result == Authentication(False, None, "the message has 2 From headers")


def test_from_with_two_mailboxes_fails() -> None:
    """A From with two mailboxes is never authenticated, even with a trusted pass."""
    raw = with_results("mx.example.com; dmarc=pass header.from=example.com", sender="ann@example.com, boss@example.com")
    result = check(raw, trusted_authserv_ids=TRUSTED)
    assert result == Authentication(False, None, "the From header has 2 mailboxes")


def test_encoded_comma_in_a_display_name_is_one_mailbox(key: Key) -> None:
    """An RFC 2047 encoded comma in a display name ("Doe, John") makes one mailbox, not two."""
    # Written by hand: EmailMessage would fold this display name as `Doe, =?utf-8?q?J=C3=B6hn?=`,
    # an unquoted comma that really does make two entries.
    unsigned = mail().replace(b"From: Ann Example <ann@", b"From: =?utf-8?q?Doe=2C_J=C3=B6hn?= <john@")
    raw = sign(unsigned, key)
    assert parse(raw).headers["from"] == ("Doe, J\u00f6hn <john@example.com>",)
    assert check(raw, dns=dns_for(key, "example.com")).passed


def test_sender_without_from_is_not_authenticated() -> None:
    """With no From header, the parser's fallback to Sender proves nothing."""
    results = b"Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n"
    raw = b"Sender: ann@example.com\r\n" + results + b"\r\nhi\r\n"
    assert check(raw, trusted_authserv_ids=TRUSTED) == Authentication(False, None, "the message has no From header")


# --- hostile input ------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=3000))
def test_any_bytes_never_raise(raw: bytes) -> None:
    """Whatever the bytes, the answer is an Authentication, and a failing DNS is never an exception."""
    result = check(raw, trusted_authserv_ids=TRUSTED, dns=lambda name, timeout=5: b"v=DKIM1; p=\xff")
    assert isinstance(result, Authentication) and isinstance(result.reason, str)


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=300))
def test_any_results_text_never_raises(value: str) -> None:
    """Whatever follows a trusted authserv-id, authres's parser never makes us raise."""
    headers = {"from": ("ann@example.com",), "authentication-results": (f"mx.example.com; {value}",)}
    parsed = ParsedMessage(message_id=None, subject="", from_addr="ann@example.com", headers=headers)
    result = authenticate(b"", parsed, trusted_authserv_ids=TRUSTED)
    assert not result.passed or result.method == "authentication-results"


@settings(max_examples=100, deadline=None)
@given(bh=st.binary(max_size=80), b=st.binary(max_size=80), extra=st.binary(max_size=80))
def test_any_signature_never_raises(bh: bytes, b: bytes, extra: bytes) -> None:
    """A DKIM-Signature of the From domain with arbitrary tag values fails with a reason, never an exception."""
    signature = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; h=from; bh=" + bh + b"; b=" + b + extra
    raw = signature + b"\r\n" + mail()
    result = check(raw, dns=lambda name, timeout=5: "v=DKIM1; k=rsa; p=AAAA")
    assert not result.passed and result.reason
