"""Bytes to text for `inbox.ingest`: every body, header and file name read as its writer meant.

A declared charset is read through the labels of the WHATWG Encoding Standard, as browsers and
mail clients read it ("gb2312" is GBK is GB18030, "iso-8859-1" is windows-1252,
"ks_c_5601-1987" is CP949, "shift_jis" is CP932, "tis-620" is CP874). The order is fixed:

1. the declared charset (through the labels), when it reads the bytes strictly;
2. UTF-8, strictly (RFC 6532 allows it raw in headers, and mailers send it mislabelled);
3. a hint (for raw 8-bit headers: the charset the message's body declares), strictly;
4. detection by charset-normalizer, among the charsets mail is written in, noted in
   `defects` as "charset guessed: gbk for Subject";
5. UTF-8 with replacement characters, noted too.

Detection runs only when strict decoding failed, on a bounded sample, so well-labelled mail
(nearly all of it) pays nothing. Must never raise, and never touch anything but its arguments.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
from collections.abc import Iterator
from contextvars import ContextVar
from email.message import Message
from typing import Any

import mailparser
from charset_normalizer import from_bytes

__all__ = ["CharsetParser", "detection_budget", "WHATWG_LABELS", "codecs_for", "decode", "filename", "header_text", "message_charset"]

MAX_SAMPLE = 32 * 1024  # bytes the detector reads: enough to tell, bounded in time
MAX_DEFECT_WHERE = 40
# Detections one mail may cost (~3 ms each at most): a mail of a thousand lying headers or
# parts gets replacement characters past these, not seconds of guessing.
MAX_DETECTIONS = 32

# The labels of the WHATWG Encoding Standard (https://encoding.spec.whatwg.org/#names-and-labels,
# section 4.2 "Names and labels") for its legacy single- and multi-byte encodings, each mapped
# to the Python codec that decodes as the standard's decoder does. Where Python has no exact
# twin the nearest superset is named: Big5 is Big5-HKSCS and GBK is read by the GB18030 decoder
# (the standard's own choice for both).
_WHATWG: tuple[tuple[str, str], ...] = (
    ("utf_8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8"),
    ("cp866", "866 cp866 csibm866 ibm866"),
    ("iso8859_2", "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2"),
    ("iso8859_3", "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3"),
    ("iso8859_4", "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4"),
    ("iso8859_5", "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988"),
    ("iso8859_6", "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e "
                  "iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987"),
    ("iso8859_7", "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 "
                  "iso_8859-7 iso_8859-7:1987 sun_eu_greek"),
    ("iso8859_8", "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 "
                  "iso_8859-8 iso_8859-8:1988 visual csiso88598i iso-8859-8-i logical"),
    ("iso8859_10", "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6"),
    ("iso8859_13", "iso-8859-13 iso8859-13 iso885913"),
    ("iso8859_14", "iso-8859-14 iso8859-14 iso885914"),
    ("iso8859_15", "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9"),
    ("iso8859_16", "iso-8859-16"),
    ("koi8_r", "cskoi8r koi koi8 koi8-r koi8_r"),
    ("koi8_u", "koi8-ru koi8-u"),
    ("mac_roman", "csmacintosh mac macintosh x-mac-roman"),
    ("cp874", "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874"),
    ("cp1250", "cp1250 windows-1250 x-cp1250"),
    ("cp1251", "cp1251 windows-1251 x-cp1251"),
    ("cp1252", "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 "
               "iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252"),
    ("cp1253", "cp1253 windows-1253 x-cp1253"),
    ("cp1254", "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5 "
               "windows-1254 x-cp1254"),
    ("cp1255", "cp1255 windows-1255 x-cp1255"),
    ("cp1256", "cp1256 windows-1256 x-cp1256"),
    ("cp1257", "cp1257 windows-1257 x-cp1257"),
    ("cp1258", "cp1258 windows-1258 x-cp1258"),
    ("mac_cyrillic", "x-mac-cyrillic x-mac-ukrainian"),
    ("gb18030", "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk gb18030"),
    ("big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5"),
    ("euc_jp", "cseucpkdfmtjapanese euc-jp x-euc-jp"),
    ("iso2022_jp", "csiso2022jp iso-2022-jp"),
    ("cp932", "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis"),
    ("cp949", "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 "
              "windows-949"),
    ("utf_16_be", "unicodefffe utf-16be"),
    ("utf_16_le", "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16le"),
)
# Mail is not the web: these differ from the standard on purpose. Its "replacement" encodings
# guard pages against script smuggling; stored mail text is escaped wherever it is shown, so
# ISO-2022-KR and HZ are read. RFC 2781's "utf-16" honours a byte-order mark. Microsoft's
# names for its ISO-2022-JP variants are read like ISO-2022-JP (see `_iso2022_jp`).
_MAIL: tuple[tuple[str, str], ...] = (
    ("iso2022_kr", "csiso2022kr iso-2022-kr"),
    ("hz", "hz-gb-2312"),
    ("utf_16", "utf-16"),
    ("iso2022_jp", "cp50220 cp50221 cp50222 iso-2022-jp-ms x-iso-2022-jp-ms"),
)
WHATWG_LABELS: dict[str, str] = {label: codec for codec, labels in _WHATWG + _MAIL for label in labels.split()}

# ISO-2022-JP as mailers write it: the strict codec, then the extensions Python knows, then
# Microsoft's CP5022x (NEC row 13 "①", NEC-selected IBM rows 89-92), which Python lacks.
_ISO2022_JP = ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", "iso2022_jp_2004", "iso2022_jp_3")
# Codecs Python lists that are no charset a mail can declare.
_NOT_CHARSETS = frozenset({"undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode", "mbcs", "oem"})
_ASCII = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "us", "iso646-us"})
_UNDECLARED = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "default", "x-user-defined"})
# What the detector chooses among, in the order that settles a tie (short texts often fit
# several): roughly how often mail is written in each.
_DETECTABLE = (
    "utf_8", "gb18030", "cp932", "cp949", "big5hkscs", "euc_jp", "cp1252", "cp1251", "cp1250", "koi8_r",
    "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp874", "cp1258",
)
# The 8-bit charsets a mailer that declared a 7-bit one most likely wrote instead.
_KIN = {"iso2022_jp": ("cp932", "euc_jp"), "iso2022_kr": ("cp949",), "hz": ("gb18030",)}
_TIE = 0.1  # chaos (charset-normalizer's mess ratio) within which candidates count as equal
_detections_left: ContextVar[list[int] | None] = ContextVar("detections_left", default=None)
_JIS_ESCAPE = re.compile(rb"(\x1b\$[@B]|\x1b\([BJI])")


@functools.lru_cache(maxsize=256)
def codecs_for(label: str | None) -> tuple[str, ...]:
    """The Python codecs to try, in order, for a declared charset label; () when it names
    none we can read ("x-unknown", "base64", "rot13")."""
    name = (label or "").strip().strip("\"'").lower().split("*", 1)[0]  # RFC 2231 5: "us-ascii*en"
    if name in _UNDECLARED:
        return ()
    codec = WHATWG_LABELS.get(name)
    found: list[str] = []
    if codec == "iso2022_jp":
        return _ISO2022_JP + ("cp5022x",)
    if name in _ASCII:  # 8-bit bytes under a 7-bit label: mailers that wrote UTF-8 and said nothing
        return ("ascii", "utf_8", codec or "cp1252")
    if codec:
        found.append(codec)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return tuple(found)
    if getattr(info, "_is_text_encoding", True) and info.name.replace("-", "_") not in _NOT_CHARSETS \
            and info.name.replace("-", "_") not in found:
        found.append(info.name)  # the label's own codec: latin-1 reads the 5 bytes cp1252 lacks
    return tuple(found)


def decode(data: bytes, declared: str | None, where: str, defects: list[str] | None = None,
           hint: str | None = None) -> str:
    """`data` as text, read in the order the module's docstring gives. Never raises; the
    text may hold NULs (`mime.clean` removes them)."""
    if not declared and data.isascii():
        return data.decode("ascii")
    labelled = codecs_for(declared)
    for codec in labelled:
        text = _strict(data, codec)
        if text is not None:
            return text
    for codec in ("utf_8", *codecs_for(hint)):
        text = _strict(data, codec)
        if text is not None:
            if labelled or codec != "utf_8":  # the declared charset lied, or the hint spoke
                _note(defects, f"charset guessed: {codec.replace('_', '-')} for {where}")
            return text
    guess = _detect(data, (*labelled, *codecs_for(hint)))
    if guess:
        _note(defects, f"charset guessed: {guess.replace('_', '-')} for {where}")
        return data.decode(guess, "replace")
    _note(defects, f"charset unknown: replacement characters for {where}")
    return data.decode("utf-8", "replace")


@contextlib.contextmanager
def detection_budget(count: int = MAX_DETECTIONS) -> Iterator[None]:
    """Within this block (one mail's parse) the detector runs at most `count` times."""
    token = _detections_left.set([count])
    try:
        yield
    finally:
        _detections_left.reset(token)


def header_text(value: str, where: str, defects: list[str] | None = None, hint: str | None = None) -> str:
    """A header value as compat32 keeps it (8-bit bytes as surrogate escapes) read as text."""
    if value.isascii():
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that stand for no byte
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return decode(data, None, where, defects, hint)


def filename(part: Message, defects: list[str] | None = None) -> str | None:
    """The file name a part declares (filename=, else name=, as `Message.get_filename` looks),
    None when it declares none. RFC 2231's charset is read through the labels; raw 8-bit bytes
    (no RFC 2231, no encoded word) as UTF-8, else by detection. RFC 2047 words are the caller's."""
    for param, header in (("filename", "content-disposition"), ("name", "content-type")):
        value = _param(part, param, header)
        if value is None:
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            # decode_params unquoted the %XX as latin-1: one character a byte
            return decode(_latin1_bytes(text), charset, "file name", defects).strip()
        return decode(_latin1_bytes(value), None, "file name", defects).strip()
    return None


def _param(part: Message, param: str, header: str) -> str | tuple[str | None, str | None, str] | None:
    """`part.get_param`, but with 8-bit bytes kept: compat32 turns them into U+FFFD when it
    reads a header, so a header holding them is read again from its raw bytes, one
    latin-1 character a byte."""
    raw = next((value for name, value in part.raw_items() if name.lower() == header), None)
    if raw is None:
        return None
    if isinstance(raw, str) and not raw.isascii():
        holder = Message()
        holder[header] = raw.encode("utf-8", "surrogateescape").decode("latin-1")
        part = holder
    return part.get_param(param, None, header)


def _latin1_bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # a character past U+00FF came from elsewhere: keep it
        return text.encode("utf-8", "surrogateescape")


def message_charset(msg: Message) -> str | None:
    """The charset the message's first text part declares: the likeliest one for its raw headers."""
    try:
        for index, part in enumerate(msg.walk()):
            charset = part.get_content_charset() if part.get_content_maintype() == "text" else None
            # A 7-bit or UTF-8 body says nothing of how 8-bit headers were written.
            if charset and codecs_for(charset) and codecs_for(charset)[0] not in ("ascii", "utf_8"):
                return charset
            if index >= 10:
                break
    except Exception:  # a broken tree: no hint, detection decides
        return None
    return None


class CharsetParser(mailparser.MailParser):
    """mail-parser, reading each body through `decode` (mail-parser keeps a 7-bit body as
    its raw bytes, so ISO-2022-JP stayed escape sequences, and knows no WHATWG labels).
    What it guessed is in `charset_defects`. Its `mail`, `mail_json` and `mail_partial` are empty
    (`_make_mail`), and so are its header attributes (`_build_header_index`): read the message, the
    bodies, the date and the defects."""

    def __init__(self, message: Message | None = None) -> None:
        self.charset_defects: list[str] = []  # before parse(), which the base __init__ calls
        super().__init__(message)

    def _build_header_index(self) -> dict[str, list[Any]]:
        """Nothing: mail-parser's index serves its header attributes (`from_`, `subject`, `headers`)
        and its own reading of every address header at the start of a parse (11 % of a parse), and
        nothing here reads them: `parse` reads the headers from the message, and who the addresses
        are is `inbox.ingest.mailboxes`' to say. So `defects_categories` never holds mail-parser's
        AddressHeaderDefect; what the From fields came to is in our own defects."""
        return {}

    def _make_mail(self, complete: bool = True) -> dict[str, Any]:
        """Nothing: mail-parser builds its `mail` dict (every header read and decoded again, twice,
        for its JSON output) at the end of each parse, and nothing here reads it (8 % of a parse)."""
        return {}

    def _decode_body_payload(self, part: Message, charset: str, part_index: int) -> str:
        stored = part.get_payload()  # not decoded: the body as parsed (a list for a multipart)
        if isinstance(stored, str) and stored.isascii() and "\x1b" not in stored and "\x0e" not in stored \
                and str(part.get("content-transfer-encoding", "7bit")).strip().lower() in ("7bit", "8bit", "binary") \
                and _reads_ascii_as_ascii(charset):
            return stored  # ASCII in an ASCII-compatible charset: nothing to decode (most mail)
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            return ""
        # `charset` is the part's, "utf-8" when it declares none (mail-parser's default, and ours)
        return decode(data, charset, "body", self.charset_defects)


_PROBE = bytes(range(0x20, 0x7F)) + b"\t\r\n"


@functools.lru_cache(maxsize=256)
def _reads_ascii_as_ascii(label: str | None) -> bool:
    """Whether text without ESC reads as ASCII in this charset (not UTF-7, HZ, UTF-16, EBCDIC)."""
    codec = (codecs_for(label) or ("ascii",))[0]
    return _strict(_PROBE, codec) == _PROBE.decode("ascii")


def _strict(data: bytes, codec: str) -> str | None:
    try:
        text = _cp5022x(data) if codec == "cp5022x" else data.decode(codec)
        text.encode("utf-8")  # some codecs produce lone surrogates: not text
    except (LookupError, UnicodeError, ValueError):
        return None
    return text


def _cp5022x(data: bytes) -> str:
    """ISO-2022-JP with Microsoft's extensions (CP50220/CP50221): each JIS X 0208 pair turned
    into its Shift_JIS bytes and the whole read as CP932, whose table has NEC row 13 ("①",
    "㈱") and the NEC-selected IBM rows 89-92 ("髙", "ⅰ") that the JIS codecs refuse."""
    out = bytearray()
    mode = b"\x1b(B"
    for chunk in _JIS_ESCAPE.split(data):
        if _JIS_ESCAPE.fullmatch(chunk):
            mode = chunk
            continue
        if mode in (b"\x1b$B", b"\x1b$@"):
            if len(chunk) % 2 or any(not 0x21 <= b <= 0x7E for b in chunk):
                raise UnicodeDecodeError("cp5022x", data, 0, len(data), "not JIS X 0208 pairs")
            for high, low in zip(chunk[::2], chunk[1::2]):
                out += _jis_to_sjis(high, low)
        elif mode == b"\x1b(I":  # JIS X 0201 katakana: Shift_JIS keeps them at 0xA1-0xDF
            if any(not 0x21 <= b <= 0x5F for b in chunk):
                raise UnicodeDecodeError("cp5022x", data, 0, len(data), "not half-width katakana")
            out += bytes(b + 0x80 for b in chunk)
        else:
            if not chunk.isascii() or b"\x1b" in chunk:
                raise UnicodeDecodeError("cp5022x", data, 0, len(data), "8-bit or unknown escape")
            out += chunk
    return bytes(out).decode("cp932")


def _jis_to_sjis(high: int, low: int) -> bytes:
    lead = ((high - 0x21) >> 1) + 0x81
    if lead > 0x9F:
        lead += 0x40
    if high & 1:
        trail = low + 0x1F + (1 if low >= 0x60 else 0)
    else:
        trail = low + 0x7E
    return bytes((lead, trail))


def _detect(data: bytes, preferred: tuple[str, ...]) -> str | None:
    """The charset charset-normalizer finds likeliest among `_DETECTABLE`; on a tie, the
    family of what was declared or hinted first (Shift_JIS for a lying ISO-2022-JP), then
    `_DETECTABLE`'s order. None when none reads the sample."""
    left = _detections_left.get()
    if left is not None:
        if left[0] <= 0:
            return None
        left[0] -= 1
    sample = data[:MAX_SAMPLE]
    kin = [c for codec in preferred for c in (codec, *_KIN.get(codec, ()))]
    order = [c for c in (*kin, *_DETECTABLE) if c in _DETECTABLE]
    try:
        matches = list(from_bytes(sample, cp_isolation=list(_DETECTABLE)))
    except Exception:  # the detector is a library: its failure is no reason to lose the mail
        return None
    if not matches:
        return None
    least = min(m.chaos for m in matches)
    # A match stands for every codec that reads the sample alike ("café": cp1250 and cp1252).
    tied = [codec for m in matches if m.chaos <= least + _TIE for codec in (m.encoding, *m.could_be_from_charset)]
    return min(tied, key=lambda codec: order.index(codec) if codec in order else len(order))


def _note(defects: list[str] | None, defect: str) -> None:
    if defects is not None:
        defects.append(defect[: 60 + MAX_DEFECT_WHERE])
