"""Mutations of real mails for the fuzz tests: hypothesis strategies that draw a corpus message and
damage it the ways mail arrives damaged (bytes flipped, inserted or dropped, truncation, headers
duplicated or dropped, the header/body break moved, NULs, one kind of line end, bogus charsets,
broken boundaries and transfer encodings, splices of two mails, huge header lines, deep nesting).
Every mail stays under MAX_MAIL; a case reads back as its list of mutations, not its bytes.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from typing import Callable

from hypothesis import strategies as st

from tests.conftest import CORPUS

MAX_MAIL = 2 * 1024 * 1024 - 1  # every generated mail stays under 2 MB
MAX_HEADER_LINE = 200 * 1024
MAX_NESTING = 1_000


class Corpus(tuple[tuple[str, bytes], ...]):
    """(where in the corpus, the bytes) of every message; short in hypothesis' reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} messages of {CORPUS}>"



# --- mutations ---------------------------------------------------------------------------------

Mutation = Callable[[bytes], bytes]
_EOL = re.compile(rb"\r\n|\r|\n")
_HEADER_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_CHARSET = re.compile(rb"""(charset\s*=\s*"?)([^";\s]+)|(=\?)([^?]+)(\?[bBqQ]\?)""", re.IGNORECASE)
_BOUNDARY = re.compile(rb"""boundary\s*=\s*"?([^";\r\n]+)""", re.IGNORECASE)
_CTE = re.compile(rb"(Content-Transfer-Encoding:[ \t]*)([^\r\n]*)", re.IGNORECASE)
BOGUS_CHARSETS = [b"x-bogus", b"utf-9", b"", b"utf-8'en'", b"iso-8859-99", b"unicode-1-1-utf-7", b"\xff\xfe",
                  b"a" * 300, b"cp65001", b"../../etc/passwd", b"utf-16", b"utf-32-be", b"idna", b"rot13",
                  b"base64", b"zlib_codec", b"undefined", b"mbcs", b"x-mac-japanese", b"%s%n"]
GARBAGE = [b"====", b"=ZZ=XY=\n=", b"QUJD*&^%$#@!", b"=?utf-8?b?####?=", b"A", b"AB=", b"\x00\xff\x80",
           b"=\r\n=\r\n=", b"begin 644 x\nM\nend\n", b"=3D=3", b"////++++" * 64]


def _split(data: bytes) -> tuple[bytes, bytes, bytes]:
    """Header block, separator and body (the separator empty when there is none)."""
    found = _HEADER_END.search(data)
    if not found:
        return data, b"", b""
    return data[: found.start()], found.group(), data[found.end():]


def _lines(block: bytes) -> list[bytes]:
    return block.splitlines(keepends=True)


def _position(data: bytes, fraction: float) -> int:
    return min(len(data), int(len(data) * fraction))


@st.composite
def _mutation(draw: st.DrawFn, corpus: Corpus) -> tuple[str, Mutation]:
    """One named mutation, its parameters drawn here so that hypothesis can shrink and replay them."""
    kind = draw(st.sampled_from([
        "flip", "insert", "delete", "truncate", "dup_header", "drop_header", "separator", "nul", "line_ends",
        "charset", "boundary", "splice", "encoding_garbage", "huge_header", "nesting",
    ]))
    where = draw(st.floats(0, 1))

    if kind == "flip":
        spots = draw(st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=32))

        def flip(data: bytes) -> bytes:
            out = bytearray(data)
            for at, mask in spots:
                if out:
                    out[min(len(out) - 1, int(len(out) * at))] ^= mask
            return bytes(out)
        return f"flip {len(spots)} bytes", flip

    if kind == "insert":
        blob = draw(st.binary(min_size=1, max_size=256))
        return f"insert {blob!r} at {where:.3f}", lambda d: d[: _position(d, where)] + blob + d[_position(d, where):]

    if kind == "delete":
        size = draw(st.integers(1, 4096))
        return f"delete {size} bytes at {where:.3f}", lambda d: d[: _position(d, where)] + d[_position(d, where) + size:]

    if kind == "truncate":
        return f"truncate at {where:.3f}", lambda d: d[: _position(d, where)]

    if kind in ("dup_header", "drop_header"):
        times = draw(st.integers(1, 50 if kind == "dup_header" else 5))

        def headers(data: bytes) -> bytes:
            head, sep, body = _split(data)
            lines = _lines(head)
            if not lines:
                return data
            index = min(len(lines) - 1, int(len(lines) * where))
            if kind == "dup_header":
                lines[index:index] = [lines[index]] * times
            else:
                del lines[index : index + times]
            return b"".join(lines) + sep + body
        return f"{kind} x{times} at {where:.3f}", headers

    if kind == "separator":
        how = draw(st.sampled_from(["remove", "lf", "crlf", "cr", "space", "early", "double"]))
        new = {"remove": b"\n", "lf": b"\n\n", "crlf": b"\r\n\r\n", "cr": b"\r\r", "space": b"\n \n",
               "double": b"\n\n\n\n"}.get(how, b"")

        def separator(data: bytes) -> bytes:
            head, sep, body = _split(data)
            if how == "early":  # a blank line inside the headers: the rest of them becomes body
                lines = _lines(head)
                index = min(len(lines), int(len(lines) * where))
                return b"".join(lines[:index]) + b"\n" + b"".join(lines[index:]) + sep + body
            return head + new + body
        return f"separator {how}", separator

    if kind == "nul":
        spots_ = draw(st.lists(st.floats(0, 1), min_size=1, max_size=16))

        def nul(data: bytes) -> bytes:
            out = bytearray(data)
            for at in sorted(spots_, reverse=True):
                out[_position(out, at):_position(out, at)] = b"\x00"
            return bytes(out)
        return f"{len(spots_)} NULs", nul

    if kind == "line_ends":
        eol = draw(st.sampled_from([b"\r", b"\n", b"\r\n", b"\n\r", b"mixed"]))

        def line_ends(data: bytes) -> bytes:
            if eol == b"mixed":
                cycle = iter([b"\r", b"\n", b"\r\n"] * (len(data) + 1))
                return _EOL.sub(lambda _: next(cycle), data)
            return _EOL.sub(eol, data)
        return f"line ends {eol!r}", line_ends

    if kind == "charset":
        bogus = draw(st.sampled_from(BOGUS_CHARSETS))
        every = draw(st.booleans())

        def charset(data: bytes) -> bytes:
            def swap(m: re.Match[bytes]) -> bytes:
                return m.group(1) + bogus if m.group(1) is not None else m.group(3) + bogus + m.group(5)
            if not _CHARSET.search(data):  # no charset to replace: declare one
                head, sep, body = _split(data)
                return head + b"\nContent-Type: text/plain; charset=" + bogus + (sep or b"\n\n") + body
            return _CHARSET.sub(swap, data, count=0 if every else 1)
        return f"charset {bogus[:40]!r} (every: {every})", charset

    if kind == "boundary":
        how_ = draw(st.sampled_from(["rename", "empty", "drop_close", "mangle_delimiters", "quote", "long"]))

        def boundary(data: bytes) -> bytes:
            found = _BOUNDARY.search(data)
            if not found:
                return data
            name = found.group(1).strip(b'"').strip()
            if not name:
                return data
            if how_ == "rename":
                return data[: found.start(1)] + b"other-" + data[found.start(1):]
            if how_ == "empty":
                return data[: found.start(1)] + b'"' + data[found.end(1):]
            if how_ == "drop_close":
                return data.replace(b"--" + name + b"--", b"")
            if how_ == "mangle_delimiters":
                return data.replace(b"--" + name, b"--" + name[: len(name) // 2] + b"\x00-")
            if how_ == "quote":
                return data[: found.start(1)] + b'"' + name + b'\\"' + data[found.end(1):]
            return data[: found.start(1)] + name * 50 + data[found.end(1):]
        return f"boundary {how_}", boundary

    if kind == "splice":
        source, other = corpus[draw(st.integers(0, len(corpus) - 1))]
        cut = draw(st.floats(0, 1))
        how__ = draw(st.sampled_from(["bytes", "head_of_a_body_of_b"]))

        def splice(data: bytes) -> bytes:
            if how__ == "bytes":
                return data[: _position(data, where)] + other[_position(other, cut):]
            head, sep, _ = _split(data)
            return head + (sep or b"\n\n") + _split(other)[2]
        return f"splice {how__} with {source}", splice

    if kind == "encoding_garbage":
        cte = draw(st.sampled_from([b"base64", b"quoted-printable", b"x-uuencode", b"8bit", b"bogus", b"base64 base64"]))
        garbage = draw(st.sampled_from(GARBAGE)) * draw(st.integers(1, 200))
        noise = base64.b64encode(draw(st.binary(max_size=512)))[: draw(st.integers(0, 700))] + garbage

        def encoding_garbage(data: bytes) -> bytes:
            if _CTE.search(data):
                data = _CTE.sub(lambda m: m.group(1) + cte, data, count=1)
                head, sep, body = _split(data)
                at = _position(body, where)
                return head + sep + body[:at] + noise + body[at:]
            head, sep, body = _split(data)
            part = (b"\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
                    + cte)
            return head + part + (sep or b"\n\n") + noise + body
        return f"{cte.decode()} garbage ({len(noise)} bytes)", encoding_garbage

    if kind == "huge_header":
        size = draw(st.integers(1_000, MAX_HEADER_LINE))
        name = draw(st.sampled_from([b"Subject", b"X-Fuzz", b"From", b"To", b"References", b"Content-Type", b"Received"]))
        unit = draw(st.sampled_from([b"a", b"=?utf-8?q?=C3=A9?= ", b"<x@y> ", b"b@c.d, ", b"; x=y", b"\xc3\xa9"]))

        def huge_header(data: bytes) -> bytes:
            line = name + b": " + (unit * (size // len(unit) + 1))[:size] + b"\n"
            head, sep, body = _split(data)
            lines = _lines(head)
            index = min(len(lines), int(len(lines) * where))
            return b"".join(lines[:index]) + line + b"".join(lines[index:]) + sep + body
        return f"{name.decode()} header of {size} bytes", huge_header

    depth = draw(st.integers(1, MAX_NESTING))
    rfc822 = draw(st.booleans())

    def nesting(data: bytes) -> bytes:
        if rfc822:  # message/rfc822 inside message/rfc822 ...
            prefix = b"From: a@b.test\nContent-Type: message/rfc822\n\n" * depth
            return prefix + data
        opening = b"".join(
            b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth)
        )
        return b"From: a@b.test\nContent-Type: multipart/mixed; boundary=b0\n\n" + opening + b"--b%d\n" % depth + data
    return f"nested {depth} deep ({'rfc822' if rfc822 else 'multipart'})", nesting


_MESSAGE_ID = re.compile(rb"^(message-id:[ \t]*<?)", re.IGNORECASE | re.MULTILINE)
_FRESH = itertools.count(1)


def fresh_message_id(data: bytes) -> bytes:
    """The mail with a Message-ID of its own, so that a second case from the same corpus mail is not
    just a duplicate of the first (without a Message-ID the pipeline makes one from the bytes)."""
    return _MESSAGE_ID.sub(lambda m: m.group(1) + b"fuzz%d." % next(_FRESH), data, count=1)


class Mutated:
    """A mutated mail; its repr (what hypothesis prints for a failing case) names, not shows, the bytes."""

    def __init__(self, data: bytes, source: str, done: tuple[str, ...]) -> None:
        self.data, self.source, self.done = data, source, done

    def __repr__(self) -> str:
        digest = hashlib.sha256(self.data).hexdigest()[:16]
        return f"<{len(self.data)} bytes, sha256 {digest}..., from {self.source} after {list(self.done)}>"


@st.composite
def mutated_mail(draw: st.DrawFn, corpus: Corpus, prepare: Callable[[bytes], bytes] = bytes) -> Mutated:
    """A corpus message (`prepare`d) after one to five mutations, and what was done to it."""
    source, data = corpus[draw(st.integers(0, len(corpus) - 1))]
    data = prepare(data)
    done = []
    for name, mutate in draw(st.lists(_mutation(corpus), min_size=1, max_size=5)):
        data = mutate(data)[:MAX_MAIL]
        done.append(name)
    return Mutated(data, source, tuple(done))
