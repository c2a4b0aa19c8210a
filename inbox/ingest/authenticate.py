"""Is this email really from the domain in its From header?

`authenticate` proves, or fails to prove, that the domain of the From address
sent the message: by the `Authentication-Results` of a configured trusted host
(RFC 8601), then by a DKIM signature of that domain that verifies (RFC 6376).
An account manager's keyword lines and an agent's relayed reply are honoured
only on a pass; the reason is one plain line for the event and for the person.

A genuine signature can be replayed with other headers on top: DKIM verifies the
bottom-most copy of each signed header while the parser reads the topmost (RFC
6376 8.15). So a mail with two of a header RFC 5322 3.6 allows once proves
nothing, nor does one whose header block the parser and dkimpy would split
differently (a bare CR, a line without a colon), nor a signature whose h= leaves
out From, Subject, Message-ID or a threading header the mail has: those are what
decide which ticket a mail acts on. A pass names its once-keys (`Authentication.once`): what
the ticket rules spend so that one signature, or one Message-ID a trusted host
vouched for, acts once.

It never decides who may do what: an authenticated stranger is still a
stranger, and the caller checks who the sender is. It never touches the
database, never logs (dkimpy's log lines are captured for the reason, then
dropped) and never raises, whatever the bytes. Its only I/O is the DKIM key
lookup through `dns` (dkimpy's resolver when None; tests inject their own).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
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

# RFC 5322 3.6: at most one of each. A second copy on top is how a signed mail is replayed.
SINGLE_HEADERS = ("from", "sender", "to", "cc", "date", "subject", "message-id", "in-reply-to", "references")
# What decides who wrote a mail, whether it was seen before and which ticket it acts on: a
# signature must cover these (an absent one too: h= then signs its absence, RFC 6376 5.4) ...
MUST_SIGN = ("from", "subject", "message-id")
# ... and these whenever the mail has them, or anyone could add one naming another ticket.
THREADING = ("in-reply-to", "references")
_SPELLING = {"message-id": "Message-ID", "in-reply-to": "In-Reply-To"}

# Where dkimpy ends the header block (the first empty line, lines split at CRLF or LF), and a CR
# that is not part of a CRLF: the email parser splits lines there too, dkimpy does not.
_HEADER_BLOCK_END = re.compile(rb"(?:\A|(?<=\n))\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
# The b= tag of a DKIM-Signature, value and all (bh= is another tag).
_B_TAG = re.compile(rb"(^|;)\s*b\s*=[^;]*")

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
    block = _read_header_block(raw, parsed)
    if isinstance(block, str):
        return Authentication(False, None, block)
    failures: _Failures = []
    proof = _trusted_results(parsed, block, domain, {host.strip().lower() for host in trusted}, failures)
    if proof:
        # RFC 8601 says nothing of replays: the mail's Message-ID (required there) is what acts once.
        return Authentication(True, "authentication-results", proof, (_key("message-id", parsed.message_id or ""),))
    if verify_dkim:
        found = _dkim(raw, block, domain, dns, failures)
        if found:
            return Authentication(True, "dkim", found[0], (found[1],))
    if failures:
        return Authentication(False, None, min(failures, key=lambda failure: failure[0])[1])
    nothing = "no DKIM signature and no" if verify_dkim else "DKIM is not checked, and no"
    return Authentication(False, None, f"{nothing} Authentication-Results from a trusted host")


@dataclass(frozen=True)
class _HeaderBlock:
    """What the header block holds, counted so that no reader sees a copy this misses."""

    counts: Counter[str]  # lower-case field name -> how many
    signatures: tuple[bytes, ...]  # the DKIM-Signature values, top first


def _read_header_block(raw: bytes, parsed: ParsedMessage) -> _HeaderBlock | str:
    """The header block as dkimpy reads it (up to its first empty line), or why it proves nothing.

    dkimpy splits lines at CRLF and LF only, the email parser at a lone CR too: with a bare CR
    the parser can find a From, Subject or Message-ID (or the end of the block) inside what
    dkimpy verifies as one harmless header, so the two would be judging different mails.
    Fields are counted by the text before the first colon, stripped, so that a spelling only
    one reader accepts is still counted; the parser's own count is taken when it is higher.
    """
    end = _HEADER_BLOCK_END.search(raw)
    head = raw[: end.start()] if end else raw
    if _BARE_CR.search(head):
        return "the header has a CR that does not end a line (RFC 5322 2.2), which readers split differently"
    counts: Counter[str] = Counter()
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\n"):
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t"):
            if fields:  # a folded line (RFC 5322 2.2.3) belongs to the field above it
                fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
            continue
        name, colon, value = line.partition(b":")
        if colon:
            fields.append((name.strip().lower().decode("ascii", "replace"), value))
            counts[fields[-1][0]] += 1
        elif line and not line.startswith(b"From "):
            # The parser joins it to the field above (`inbox.ingest.header_block`), dkimpy refuses
            # the mail, another verifier may skip it: what one reader signs, another reads otherwise.
            return "the header has a line without a colon (RFC 5322 2.2), which readers join or split differently"
    for name in SINGLE_HEADERS:
        counts[name] = max(counts[name], len(parsed.headers.get(name, ())))
    repeated = [name for name in SINGLE_HEADERS if counts[name] > 1]
    if repeated:
        name = repeated[0]
        # RFC 6376 8.15: DKIM verifies the bottom copy, the parser reads the top one.
        return f"the message has {counts[name]} {_spelt(name)} headers (RFC 5322 3.6 allows one)"
    return _HeaderBlock(counts, tuple(value for name, value in fields if name == "dkim-signature"))


def _unsigned(h: bytes, block: _HeaderBlock) -> list[str]:
    """The headers the decision reads that a signature with this h= leaves anyone free to add or change."""
    listed = Counter(name.strip().lower().decode("ascii", "replace") for name in re.split(rb"\s*:\s*", h))
    needed = [(name, max(1, block.counts[name])) for name in MUST_SIGN]
    needed += [(name, block.counts[name]) for name in THREADING if block.counts[name]]
    return [_spelt(name) for name, times in needed if listed[name] < times]


def _spelt(name: str) -> str:
    return _SPELLING.get(name, name.title())


def _key(kind: str, value: bytes | str) -> str:
    """A once-key of fixed length, whatever the length of what it stands for."""
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return f"{kind}:{hashlib.sha256(data).hexdigest()}"


def _from_domain(parsed: ParsedMessage) -> tuple[str, str | None]:
    """The domain to prove, or why there is none. RFC 7489 6.6.1: a message
    with several From fields or several From mailboxes cannot be authenticated
    (whose domain would it be?). `parsed.from_addr` is the one mailbox the From
    fields name (`inbox.ingest.mailboxes`), which with two From fields is still
    an attribution, never a proof: only a single From header counts here."""
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


def _trusted_results(
    parsed: ParsedMessage, block: _HeaderBlock, domain: str, trusted: set[str], failures: _Failures
) -> str | None:
    """A passing result for the From domain in a trusted host's own header.

    The host verified the mail as it reached it, and cannot say which headers the signature it
    checked covers: a pass that may rest on DKIM (dkim, dmarc) is not believed while a signature
    of the From domain in the mail leaves a header the decision reads unsigned, or the body
    open (l=). Without a Message-ID there is nothing to let the pass act once by.
    """
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
        verdicts = [(result.method, v) for result in header.results if (v := _judge(host, result, domain))]
        for method, (passed, rank, text) in verdicts:
            if not passed:
                failures.append((rank, text))
            elif not parsed.message_id:
                failures.append((_BAD_SIGNATURE, f"{text}, but the message has no Message-ID to hold it to once"))
            elif method != "spf" and (gap := _open_signature(block, domain)):
                failures.append((_BAD_SIGNATURE, f"{text}, but {gap}"))
            else:
                return text
        if not verdicts:
            failures.append((_NOTHING_USABLE, f"{host} reports no dkim, dmarc or spf result for {domain}"))
    return None


def _open_signature(block: _HeaderBlock, domain: str) -> str | None:
    """How a DKIM signature of the From domain in the mail leaves it open to change, if one does."""
    for value in block.signatures[:MAX_SIGNATURES]:
        try:
            tags = parse_tag_value(value)
        except InvalidTagValueList:
            continue  # no host verified that one
        signer = _normal(tags.get(b"d", b"").decode("ascii", "replace"))
        if not _aligned(domain, signer):
            continue
        if b"l" in tags:
            return f"the DKIM signature of {signer} in it signs only part of the body (l=)"
        unsigned = _unsigned(tags.get(b"h", b""), block)
        if unsigned:
            return f"the DKIM signature of {signer} in it does not sign {' or '.join(unsigned)}"
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


def _dkim(
    raw: bytes, block: _HeaderBlock, domain: str, dns: DnsLookup | None, failures: _Failures
) -> tuple[str, str] | None:
    """(reason, once-key) of a DKIM signature of the From domain (or a parent of it) that verifies."""
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
        unsigned = _unsigned(tags.get(b"h", b""), block)
        if unsigned:
            # RFC 6376 8.15: an unsigned Subject, Message-ID or In-Reply-To could be anyone's.
            failures.append((_BAD_SIGNATURE, f"DKIM signature of {signer} does not sign {' or '.join(unsigned)}"))
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
            return f"DKIM signature of {signer} verified", _signature_key(value, verifier.signed_headers)
        failures.append((_BAD_SIGNATURE, f"DKIM signature of {signer} did not verify ({_short(why)})"))
    return None


def _signature_key(value: bytes, signed: list[tuple[bytes, bytes]]) -> str:
    """One signature's once-key: what it signs, not how its b= is spelt. Whitespace may be folded
    into b=, base64 has spare bits, and an RSA signature s verifies as s + n too (dkimpy does not
    check s < n): one signature has many spellings, but a replay cannot change what it signs.
    That is the DKIM-Signature's own tags with b= emptied (bh=, the body's hash, among them) and
    the signed headers as dkimpy canonicalized them to verify, so whitespace a relaxed
    canonicalization ignores is ignored here too."""
    data = re.sub(rb"\s+", b"", _B_TAG.sub(rb"\1b=", value))
    for name, field in signed:
        data += b"\n" + name.lower() + b":" + field
    return _key("dkim", data)


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
