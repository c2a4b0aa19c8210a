"""`compose` writes the very bytes the stdlib `email` package wrote before it built the header block
itself: the reference (tests/unit/compose_reference.py) and `compose` are given the same inputs
and the same random boundary tokens, and must agree byte for byte, or refuse alike."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.generator import BytesGenerator
from typing import Any

import pytest

from autoresponder import compose as fast
from autoresponder.attachments import Attachment
from autoresponder.render import RenderedEmail
from tests.unit import compose_reference as reference

AT = datetime(2026, 3, 3, 16, 30, tzinfo=UTC)

HOSTILE = ["\r\nBcc: victim@example.net", "\rX", "\nX", "\r\n\r\nbody", "\u2028Bcc: v@x", "\u2029", "\x85Bcc: v@x",
           "\x0b", "\x0c", "\x1c", "\x1e", "\t", "\x00", "\x07", "\x1b[31m", "\x7f", "\u200b", "\ufeff", "\u202e"]
NAMES = ["", "Alice", "Example Support", "Zo\u00eb \u00c5ngstr\u00f6m", "\u5c71\u7530 \u592a\u90ce", '"Quoted, Name"',
         "O'Brien", "Smith, John", "Dr. Who (Time Lord)", "\u00dcn\u00efc\u00f6d\u00e9 " * 9, "x" * 90,
         "=?utf-8?q?Caf=C3=A9?=", "back\\slash", "semi;colon", "at@sign", "emoji \U0001f389", "a.b", "<x>",
         "Support Team at Example Corporation International Limited Holdings"]
LOCALS = ["alice", "a.b", "a+tag", "first_last", "x-y", "UPPER", "a%b", "1", "x" * 70]
ODD_LOCALS = ["o'brien", "we!rd#$", '"quoted local"', "a..b", ".a", "a.", "\u7528\u6237", "=?x?=", "a=b", "a b"]
DOMAINS = ["acme.com", "mail.example.co.uk", "x", "-dash-.com", "a" * 70 + ".com", "ACME.COM", "acme"]
ODD_DOMAINS = ["sub_domain.com", "[127.0.0.1]", "ex\u00e4mple.com", "acme.com.", "a..com", "(c)acme.com"]
BROKEN = ["", " ", "no-at", "a@", "@b", "a@b, c@d", "<a@b>", " a@b ", "a@b (comment)", "a @ b", "a@b>", "<a@b",
          "Name <>", "Name <a@b> extra", "a@b\r\nBcc: victim@example.net", "\u7528@x.com"]
WORDS = ["Checkout", "fails", "since", "9:00", "Caf\u00e9", "ferm\u00e9", "\u2014", "\u65e5\u672c", "[SUP-000123]",
         "Re:", "=?utf-8?q?x?=", "=?", "?=", "x" * 80, "dashboard", "\U0001f525", "a:b", "(note)", '"q"', "\\"]
TRACKING = ["", "SUP-000123", "SUP-000124", "X-1", "weird", "sup-000123"]
GOOD_IDS = ["root@acme.com", "<mid@example.com>", "a.b.c@mail.example.com", f"{'a' * 70}@mail.example.com",
            "inbox.SUP-000123.abc.sig@example.com", "x@y"]
BAD_IDS = ["", "two words@x", "<>", "a@b\r\nBcc: v@x", "caf\u00e9@x", "<<a@b>>", "a<b@c", " "]
CONTENT_TYPES = ["application/pdf", "image/png", "text/plain", "message/rfc822", "multipart/mixed", "", "weird",
                 "application/", "/x", "APPLICATION/PDF", "application/vnd.openxmlformats-officedocument.wordprocessingml"]
FILENAMES = ["report.pdf", "r\u00e9sum\u00e9 final.pdf", "x" * 120 + ".log", 'quote"d.txt', "", "a b;c=d.txt",
             "\u65e5\u672c\u8a9e\u306e\u30d5\u30a1\u30a4\u30eb\u540d.png", "semi;colon.pdf"]


def _zone(rng: random.Random) -> tzinfo:
    return rng.choice([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)),
                       timezone(timedelta(seconds=3661)), timezone(timedelta(hours=-23, minutes=-59))])


def _text(rng: random.Random, words: list[str], lines: int) -> str:
    out = []
    for _ in range(lines):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.15:
            line += rng.choice(HOSTILE)
        if rng.random() < 0.1:
            line = rng.choice(["From here", ".", "--===============0000000000000000000==", "--x--", "=", " "]) + line
        if rng.random() < 0.1:
            line += " " * rng.randint(1, 3)
        if rng.random() < 0.003:
            line += "\udce9"  # a lone surrogate (undecodable bytes kept by surrogateescape): no UTF-8 for it
        out.append(line)
    return rng.choice(["\n", "\r\n", "\r"]).join(out) + rng.choice(["", "\n", "\r\n"])


def _address(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.03:
        return rng.choice(BROKEN)
    odd = rng.random() < 0.06
    addr = f"{rng.choice(ODD_LOCALS if odd else LOCALS)}@{rng.choice(ODD_DOMAINS if odd else DOMAINS)}"
    if pick < 0.5:
        return addr
    name = rng.choice(NAMES)
    if rng.random() < 0.2:
        name += rng.choice(HOSTILE)
    if rng.random() < 0.6 and any(c in name for c in '()<>[]:;@\\,."'):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'  # as a careful writer quotes it
    return f"{name} <{addr}>"


def _subject(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(["", " ", "\udce9 surrogate", "\t", "[SUP-000123]", "Re: [sup-000123] x"])
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25)))
    return subject + (rng.choice(HOSTILE) + "Bcc: v@x" if rng.random() < 0.2 else "")


def _attachments(rng: random.Random) -> list[Attachment]:
    count = rng.choice([0, 0, 0, 1, 2, 3])
    return [Attachment(rng.choice(FILENAMES), rng.choice(CONTENT_TYPES), rng.randbytes(rng.choice([0, 5, 57, 2000])))
            for _ in range(count)]


def cases(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Varied arguments for `compose`: hostile, long, non-ASCII and ordinary values, mixed."""
    rng = random.Random(seed)
    for _ in range(count):
        body_words = WORDS + ["\u00e9" * 40, "long" * 30, "<p>", "</p>", "&amp;", "=3D", "a=b"]
        html_words = body_words if rng.random() < 0.5 else ["<p>Hello</p>", "<b>x</b>", "&nbsp;", "plain"]
        yield {
            "rendered": RenderedEmail(_subject(rng), _text(rng, body_words, rng.choice([0, 1, 3, 9, 10, 11, 40])),
                                      _text(rng, html_words, rng.choice([0, 1, 2, 10, 11, 30]))),
            "from_address": rng.choice(["Example Support <support@example.com>", "support@example.com",
                                        _address(rng)]),
            "to": [_address(rng) for _ in range(rng.choice([1, 1, 1, 1, 2, 3]))],
            "message_id": rng.choice(GOOD_IDS) if rng.random() < 0.95 else rng.choice(BAD_IDS),
            "date": AT.astimezone(_zone(rng)) + timedelta(seconds=rng.randint(0, 10**8)),
            "tracking": rng.choice(TRACKING),
            "in_reply_to": rng.choice([None, *GOOD_IDS, *BAD_IDS]),
            "references": [rng.choice(GOOD_IDS + BAD_IDS) + (str(i) if rng.random() < 0.7 else "")
                           for i in range(rng.choice([0, 0, 1, 3, 19, 20, 21, 35]))],
            "automatic": rng.random() < 0.8,
            "loop_marker": rng.choice(["example.com", "ex\u00e4mple.com", "a\r\nBcc: v@x", "", "x" * 100]),
            "attachments": _attachments(rng),
        }


def outcome(fn: Callable[..., bytes], case: dict[str, Any], seed: int) -> bytes | tuple[str, str]:
    """What `fn` makes of `case` with the boundary tokens that `seed` draws: the bytes, or its refusal."""
    random.seed(seed)
    args = dict(case)
    try:
        return fn(args.pop("rendered"), **args)
    except Exception as exc:  # noqa: BLE001 - a refusal must be the same refusal
        return type(exc).__name__, str(exc)


@pytest.fixture(autouse=True)
def _random_state() -> Iterator[None]:
    """The boundary tokens are drawn from the global `random`, seeded here: leave it as it was."""
    state = random.getstate()
    yield
    random.setstate(state)


@pytest.mark.parametrize("seed", range(8))
def test_the_same_bytes_as_the_email_package(seed: int) -> None:
    """Over many varied inputs (non-ASCII names and subjects, long subjects that fold, many references,
    attachments, hostile CR/LF/U+2028/U+0085 values, bad ids), the bytes or the refusal are the same."""
    for n, case in enumerate(cases(250, seed)):
        assert outcome(fast.compose, case, n) == outcome(reference.compose, case, n), case


def test_the_sample_is_varied() -> None:
    """The comparison above covers what it claims to: refusals, folded and encoded headers, every body
    encoding, attachments and both multipart layouts."""
    made = [outcome(fast.compose, case, n) for n, case in enumerate(cases(250, 0))]
    sent = [one for one in made if isinstance(one, bytes)]
    refused = {one[0] for one in made if isinstance(one, tuple)}
    assert len(sent) > 100 and {"ValueError", "UnicodeEncodeError"} <= refused
    heads = [one.split(b"\r\n\r\n", 1)[0] for one in sent]
    assert any(b"Subject: =?utf-8?" in head for head in heads) and any(b"=?utf-8?" in head.split(b"To:")[1] for head in heads)
    assert any(b"\r\nSubject: " in head and b"\r\n " in head.split(b"Subject: ")[1].split(b"\r\nDate:")[0] for head in heads)
    for marker in (b"base64", b"quoted-printable", b"7bit", b"multipart/mixed", b"filename*", b"References: "):
        assert any(marker in one for one in sent), marker


def test_a_storm_of_plain_emails_is_the_same() -> None:
    """The common case the fast paths serve (a plain address, a short ASCII subject, our From) is exact."""
    for n in range(200):
        case = {"rendered": RenderedEmail(f"Dashboard down for team {n}", f"Hello {n},\nWe are on it.\n",
                                          f"<p>Hello {n},</p><p>We are on it. Caf\u00e9</p>"),
                "from_address": "Example Support <support@example.com>", "to": [f"user{n}@acme{n % 7}.com"],
                "message_id": f"ack-{n}@example.com", "date": AT, "tracking": f"SUP-{n:06d}",
                "loop_marker": "example.com", "in_reply_to": f"storm-{n}@acme.com", "references": [f"storm-{n}@acme.com"]}
        made = outcome(fast.compose, case, n)
        assert isinstance(made, bytes) and made == outcome(reference.compose, case, n)


def test_the_short_cuts_agree_with_the_email_package() -> None:
    """A header written as given (printable ASCII that fits, a plain address) is what the email
    package folds it to: random printable values, dense in the characters its parser treats apart."""
    rng = random.Random(20)
    alphabet = "ab =?:;,.<>()[]@\\\"'-_%+\t~!#$&*{}|^`"
    for _ in range(3000):
        value = fast._one_line("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))))
        assert fast._unstructured_header("Subject", value) == fast._folded.__wrapped__("Subject", value), value
        local = "".join(rng.choice("aZ9._%+-") for _ in range(rng.randint(1, 40)))
        domain = "".join(rng.choice("aZ9.-") for _ in range(rng.randint(1, 40)))
        address = f"{local}@{domain}"
        try:
            expected = fast._folded_addresses.__wrapped__("To", (address,))
        except ValueError:
            assert not fast._PLAIN_ADDRESS.fullmatch(address), address
            continue
        assert fast._address_header("To", (address,)) == expected, address


def test_the_seven_bit_short_cut_agrees_with_set_content_at_its_edges() -> None:
    """A text part written without building a MIME part (ASCII in lines of at most 78 bytes) is what
    set_content makes of it, at the edges of that rule and past them (79 bytes, one non-ASCII
    character, empty texts, every line end)."""
    from email.message import MIMEPart

    def by_the_package(subtype: str, text: str) -> bytes:
        part = MIMEPart(policy=fast._POLICY)
        part.set_content(fast._newlines(text), subtype=subtype, charset="utf-8")
        head = (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
                f'Content-Transfer-Encoding: {part["Content-Transfer-Encoding"]}\r\n\r\n')
        return (head + fast._ANY_LINE_END.sub("\r\n", str(part.get_payload()))).encode("ascii")

    rng = random.Random(7)
    texts = ["", "\n", "\r", "\r\n\r\n", "x" * 78, "x" * 79, "y" * 78 + "\n" + "z" * 78, "a\rb\r\nc\nd",
             "caf\u00e9", "x" * 78 + "\u00e9", "tab\there\x0b\x0cform\x1cfeed\u2028line", "no end"]
    texts += ["".join(rng.choice("ab \n\r\t.=-") for _ in range(rng.randint(0, 300))) for _ in range(300)]
    texts += ["\n".join("w" * rng.randint(70, 82) for _ in range(rng.randint(1, 4))) for _ in range(100)]
    encodings = set()
    for text in texts:
        for subtype in ("plain", "html"):
            made = fast._text_part(subtype, text)
            assert made == by_the_package(subtype, text), (subtype, text)
            encodings.add(made.split(b"Content-Transfer-Encoding: ")[1].split(b"\r\n")[0])
    assert {b"7bit", b"quoted-printable"} <= encodings  # both sides of the short cut were compared


def test_a_boundary_avoids_the_lines_the_generator_avoids() -> None:
    """When the random boundary is a line of the parts (as `--B` or `--B--`, a line ending at LF),
    the next is tried, exactly as `email.generator` does; elsewhere in a line it is no clash."""
    chosen = set()
    for seed in range(40):
        random.seed(seed)
        token = "=" * 15 + f"{random.randrange(sys.maxsize):0{len(repr(sys.maxsize - 1))}d}" + "=="
        d = f"--{token}".encode()
        for text in (d, d + b"--", b"x\n" + d + b"\n", b"x\r\n" + d + b"\r\n", d + b"--\n", d + b"x", b" " + d,
                     d + b"\n" + d + b".0\n", d + b"-", d + b"---", b"a" + d, d + b"--\r\n", b"\n" + d + b"\n" + d,
                     b"", b"--" + d, d[:-1], b"x\n" + d + b"--"):
            random.seed(seed)
            expected = BytesGenerator._make_boundary(text)
            random.seed(seed)
            assert fast._boundary(text) == expected, text
            chosen.add(expected.rpartition("==")[2])
    assert chosen == {"", ".0", ".1"}  # the clashes happened: tried again once, and twice
