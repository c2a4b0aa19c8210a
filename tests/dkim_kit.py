"""Test kit for DKIM: an RSA key made at test time, signing, and a DNS that publishes its public key.

Offline by design: the service's DNS lookup is injected (`App.dns`, `authenticate(dns=)`), and
this kit's lookup answers only for the domains a test names.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass

import dkim
import pytest

from inbox.ingest.authenticate import DnsLookup

# What mail programs sign (Gmail, Microsoft 365, Fastmail ...), each only when the mail has it.
SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"in-reply-to", b"references"]


@dataclass(frozen=True)
class Key:
    private_pem: bytes
    public_b64: str


def make_key() -> Key:
    """A fresh 2048-bit RSA key (openssl); the test is skipped where openssl is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test key")
    private = subprocess.run(["openssl", "genrsa", "2048"], capture_output=True, check=True).stdout
    der = ["openssl", "rsa", "-pubout", "-outform", "DER"]
    public = subprocess.run(der, input=private, capture_output=True, check=True).stdout
    return Key(private, base64.b64encode(public).decode("ascii"))


def dns_for(key: Key, *domains: str, selector: str = "s1") -> DnsLookup:
    """A DNS that publishes `key` for `selector` at each domain, and nothing else."""
    records = {f"{selector}._domainkey.{domain}.": f"v=DKIM1; k=rsa; p={key.public_b64}" for domain in domains}

    def lookup(name: bytes, timeout: float = 5) -> str | None:
        return records.get(name.decode("ascii"))

    return lookup


def sign(raw: bytes, key: Key, domain: str = "example.com", *, length: bool = False,
         headers: list[bytes] | None = None) -> bytes:
    """`raw` with a DKIM-Signature of `domain` (selector s1) on top, signing `headers` (h=): by
    default those of SIGNED_HEADERS the mail has, as a mail program does. A name listed for a
    header the mail lacks signs its absence (RFC 6376 5.4): adding one later breaks the signature."""
    if headers is None:
        present = {name.lower() for name, _value in dkim.rfc822_parse(raw)[0]}
        headers = [name for name in SIGNED_HEADERS if name in present]
    return dkim.sign(raw, b"s1", domain.encode(), key.private_pem, include_headers=headers, length=length) + raw
