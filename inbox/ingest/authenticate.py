"""Is this email really from the domain in its From header?

`authenticate` proves, or fails to prove, that the domain of the From address
sent the message: by the `Authentication-Results` of a configured trusted host
(RFC 8601), then by a DKIM signature of that domain that verifies (RFC 6376).
An account manager's keyword lines and an agent's relayed reply are honoured
only on a pass; the reason is one plain line for the event and for the person.

It never decides who may do what: an authenticated stranger is still a
stranger, and the caller checks who the sender is. It never touches the
database, never logs (dkimpy's log lines are captured for the reason, then
dropped) and never raises, whatever the bytes. Its only I/O is the DKIM key
lookup through `dns` (dkimpy's resolver when None; tests inject their own).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from email.utils import getaddresses

import authres
import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from inbox.domain.message import ParsedMessage
from inbox.domain.people import Authentication

__all__ = ["Authentication", "DnsLookup", "authenticate"]

# dkimpy's `dnsfunc`: called with a name (bytes) and maybe timeout=; the TXT record, or None.
DnsLookup = Callable[..., bytes | str | None]

# RFC 6376 6.1 lets a verifier limit the signatures it checks: each costs a DNS lookup.
MAX_SIGNATURES = 10
# authres's parser is quadratic in the text; a real MTA's header is a few hundred characters.
MAX_RESULTS_CHARS = 8192

# The authserv-id that opens an Authentication-Results value (RFC 8601 2.2),
# read without the full parser so that an unreadable header still uses up its host's turn.
_AUTHSERV_ID = re.compile(r'\s*(?:\([^()]*\)\s*)*"?([^\s;()"]+)')

# Failure reasons, ranked: the lowest is the most useful to tell.
_BAD_SIGNATURE, _HOST_SAYS_FAIL, _OTHER_DOMAIN, _NOTHING_USABLE = range(4)
_Failures = list[tuple[int, str]]


def authenticate(
    raw: bytes,
    parsed: ParsedMessage,
    *,
    trusted_authserv_ids: Collection[str] = (),
    verify_dkim: bool = True,
    dns: DnsLookup | None = None,
) -> Authentication:
    """Whether the From domain of this email is proven, and why. Never raises."""
    try:
        return _authenticate(bytes(raw), parsed, trusted_authserv_ids, verify_dkim, dns)
    except Exception as exc:  # the last line of "never raises": a bug or a new kind of hostility
        return Authentication(False, None, f"authentication could not be checked: {_describe(exc)}")


def _authenticate(
    raw: bytes, parsed: ParsedMessage, trusted: Collection[str], verify_dkim: bool, dns: DnsLookup | None
) -> Authentication:
    domain, problem = _from_domain(parsed)
    if problem:
        return Authentication(False, None, problem)
    failures: _Failures = []
    proof = _trusted_results(parsed, domain, {host.strip().lower() for host in trusted}, failures)
    if proof:
        return Authentication(True, "authentication-results", proof)
    if verify_dkim:
        proof = _dkim(raw, domain, dns, failures)
        if proof:
            return Authentication(True, "dkim", proof)
    if failures:
        return Authentication(False, None, min(failures, key=lambda failure: failure[0])[1])
    nothing = "no DKIM signature and no" if verify_dkim else "DKIM is not checked, and no"
    return Authentication(False, None, f"{nothing} Authentication-Results from a trusted host")


def _from_domain(parsed: ParsedMessage) -> tuple[str, str | None]:
    """The domain to prove, or why there is none. RFC 7489 6.6.1: a message
    with several From fields or several From mailboxes cannot be authenticated
    (whose domain would it be?). `parsed.from_addr` may come from Sender or
    Reply-To when From is unusable; only the From header counts here."""
    values = parsed.headers.get("from", ())
    if not values:
        return "", "the message has no From header"
    if len(values) > 1:
        return "", f"the message has {len(values)} From headers"
    # The value is decoded: an encoded comma in a display name splits off a
    # piece without "@", which is not counted as a mailbox.
    boxes = [addr.strip().strip("<>").lower() for _name, addr in getaddresses([values[0]]) if "@" in addr]
    if len(boxes) > 1:
        return "", f"the From header has {len(boxes)} mailboxes"
    domain = _normal(parsed.from_addr.rpartition("@")[2])
    if not parsed.from_addr or parsed.from_addr not in boxes or not domain:
        return "", "the From header has no usable address"
    return domain, None


def _trusted_results(parsed: ParsedMessage, domain: str, trusted: set[str], failures: _Failures) -> str | None:
    """A passing result for the From domain in a trusted host's own header."""
    seen: set[str] = set()
    for value in parsed.headers.get("authentication-results", ()):
        match = _AUTHSERV_ID.match(value)
        host = match.group(1).lower() if match else ""
        if not host or host not in trusted or host in seen:
            # RFC 8601 5: the trusted MTA adds its header on top and should delete
            # forged ones carrying its id; any copy below its own may be forged.
            continue
        seen.add(host)
        try:
            if len(value) > MAX_RESULTS_CHARS:
                raise ValueError("too long")
            header = authres.core_features().parse_value(value)
        except Exception:  # authres.SyntaxError and whatever else its parser trips on
            failures.append((_NOTHING_USABLE, f"the Authentication-Results of {host} could not be read"))
            continue
        verdicts = [v for v in (_judge(host, result, domain) for result in header.results) if v]
        for passed, rank, text in verdicts:
            if passed:
                return text
            failures.append((rank, text))
        if not verdicts:
            failures.append((_NOTHING_USABLE, f"{host} reports no dkim, dmarc or spf result for {domain}"))
    return None


def _judge(host: str, result: authres.AuthenticationResult, domain: str) -> tuple[bool, int, str] | None:
    """(passed, rank, reason) of one dkim, dmarc or spf result; None for other methods."""
    method, outcome = result.method, result.result
    if method == "dkim":
        signer_d = _property(result, "header", "d")
        signer = _normal(signer_d) if signer_d else _domain_of(_property(result, "header", "i"))
        label, aligned = f"header.{'d' if signer_d else 'i'}={signer}", _aligned(domain, signer)
    elif method == "dmarc":
        signer = _domain_of(_property(result, "header", "from"))
        label, aligned = f"header.from={signer}", signer == domain  # DMARC already judged alignment
    elif method == "spf":
        signer = _domain_of(_property(result, "smtp", "mailfrom"))
        label, aligned = f"smtp.mailfrom={signer}", _aligned(domain, signer)
    else:
        return None
    if not aligned:
        whose = f"for {signer}, not for {domain}" if signer else "without a domain"
        return False, _OTHER_DOMAIN, f"{host} reports {method}={outcome} {whose}"
    if outcome == "pass":
        return True, 0, f"{host}: {method}=pass {label}"
    return False, _HOST_SAYS_FAIL, f"{host} reports {method}={outcome} for {domain}"


def _property(result: authres.AuthenticationResult, ptype: str, name: str) -> str:
    """A property by the public list: authres picks typed classes by exact spelling ("DKIM=pass" has no header_d)."""
    for prop in result.properties:
        if str(prop.type).lower() == ptype and str(prop.name).lower() == name:
            return str(prop.value or "")
    return ""


def _dkim(raw: bytes, domain: str, dns: DnsLookup | None, failures: _Failures) -> str | None:
    """A DKIM signature of the From domain (or a parent of it) that verifies."""
    notes = _Notes()
    logger = logging.Logger("inbox.ingest.authenticate.dkimpy", logging.ERROR)  # unregistered: goes nowhere else
    logger.addHandler(notes)
    verifier = dkim.DKIM(raw, logger=logger)
    signatures = [value for name, value in verifier.headers if name.lower() == b"dkim-signature"]
    for idx, value in enumerate(signatures[:MAX_SIGNATURES]):
        try:
            tags = parse_tag_value(value)
        except InvalidTagValueList:
            failures.append((_NOTHING_USABLE, "a DKIM signature could not be read"))
            continue
        signer = _normal(tags.get(b"d", b"").decode("ascii", "replace"))
        if not _aligned(domain, signer):
            failures.append((_OTHER_DOMAIN, f"DKIM signature is of {signer or 'no domain'}, not of {domain}"))
            continue
        # Split as dkimpy splits h=. RFC 6376 6.1.1: a signature that does not sign
        # From MUST be ignored; dkimpy verifies it, and From could then be anything.
        if b"from" not in [name.lower() for name in re.split(rb"\s*:\s*", tags.get(b"h", b""))]:
            failures.append((_BAD_SIGNATURE, f"DKIM signature of {signer} does not sign the From header"))
            continue
        if b"l" in tags:
            # RFC 6376 8.2: with l= anyone may append to the body and keep the signature.
            failures.append((_BAD_SIGNATURE, f"DKIM signature of {signer} signs only part of the body (l=)"))
            continue
        notes.lines.clear()
        try:
            verified = verifier.verify(idx=idx) if dns is None else verifier.verify(idx=idx, dnsfunc=dns)
            why = notes.lines[-1] if notes.lines else "signature mismatch"
        except dkim.DKIMException as exc:  # body hash mismatch, malformed tags, key too small
            verified, why = False, str(exc)
        except Exception as exc:  # the DNS function failed, or a key record dkimpy chokes on
            failures.append((_BAD_SIGNATURE, f"DKIM signature of {signer} could not be checked: {_describe(exc)}"))
            continue
        if verified:
            return f"DKIM signature of {signer} verified"
        failures.append((_BAD_SIGNATURE, f"DKIM signature of {signer} did not verify ({_short(why)})"))
    return None


class _Notes(logging.Handler):
    """Keeps dkimpy's error lines: it logs why a key was refused instead of raising."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _short(why: str) -> str:
    """dkimpy's wording, cut to what a person can use."""
    if why.startswith("missing public key"):
        return "no public key in DNS"
    return why.split(" (", 1)[0].splitlines()[0][:100] if why.strip() else "unknown reason"


def _aligned(domain: str, other: str) -> bool:
    """RFC 7489 3.1 relaxed alignment, kept simple: the same domain, or the
    From domain is a subdomain of it (never of a bare top-level name)."""
    return bool(other) and (domain == other or ("." in other and domain.endswith("." + other)))


def _domain_of(value: str) -> str:
    """The domain of an address, of "@domain", or of a bare domain."""
    return _normal(value.rpartition("@")[2])


def _normal(domain: str) -> str:
    """Lower case, no trailing dot, A-labels (DKIM's d= is ASCII, RFC 6376 3.5)."""
    domain = domain.strip().strip(".").lower()
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return domain


def _describe(exc: BaseException) -> str:
    """A short, one-line account of an exception."""
    return f"{type(exc).__name__}: {str(exc)[:100]}".replace("\n", " ")
