"""Issue 22's charset classes: every mail read as its writer meant (inbox/ingest/charsets.py)."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.ingest import charsets
from inbox.ingest.parse import parse
from tests.unit import charset_mails as cm


def _check(mail: cm.CharsetMail) -> tuple[str, ...]:
    parsed = parse(mail.raw)
    assert parsed.subject == mail.subject
    assert parsed.text.strip() == mail.text
    assert tuple(a.filename for a in parsed.attachments) == mail.filenames
    assert parsed.from_addr == "alice@acme.com"
    return parsed.defects


def test_single_part_iso_2022_jp_body_is_decoded() -> None:
    """A Japanese plain-text mail in ISO-2022-JP is read, not kept as escape sequences."""
    assert not [d for d in _check(cm.ISO2022JP) if "charset" in d]


def test_iso_2022_jp_with_microsoft_extensions_is_decoded() -> None:
    """CP50220's circled numbers, NEC row 13 and NEC-selected IBM characters decode."""
    assert not [d for d in _check(cm.MICROSOFT_JP) if "charset" in d]


def test_gb2312_label_reads_gbk() -> None:
    """GBK-only characters labelled gb2312 decode in subject and body (WHATWG: GB2312 is GBK)."""
    _check(cm.GB2312_IS_GBK)


def test_ks_c_5601_label_reads_cp949() -> None:
    """CP949-only Hangul labelled ks_c_5601-1987 decodes."""
    _check(cm.KS_C_5601)


def test_iso_8859_1_label_reads_windows_1252() -> None:
    """Curly quotes, dashes and the euro sign labelled iso-8859-1 are windows-1252's."""
    _check(cm.LATIN1_IS_CP1252)


def test_shift_jis_label_reads_cp932() -> None:
    """"①" and IBM kanji labelled Shift_JIS are CP932's."""
    _check(cm.SHIFT_JIS_IS_CP932)


def test_tis_620_label_reads_cp874() -> None:
    """Thai labelled tis-620 with CP874's quotes and euro decodes."""
    _check(cm.TIS620_IS_CP874)


def test_raw_8bit_gbk_subject_is_detected_and_noted() -> None:
    """An 8-bit GBK Subject with no encoded word is detected, and the guess is in `defects`."""
    assert "charset guessed: gb18030 for Subject" in _check(cm.RAW_GBK_SUBJECT)


def test_shift_jis_subject_in_iso_2022_jp_mail_is_detected() -> None:
    """Raw Shift_JIS in a mail that says ISO-2022-JP is read as CP932, the guess noted."""
    assert "charset guessed: cp932 for Subject" in _check(cm.RAW_SJIS_UNDER_ISO2022JP)


def test_raw_utf8_and_gbk_file_names_are_decoded() -> None:
    """File names in raw UTF-8, raw GBK and RFC 2231 gb2312 (GBK) come out as written."""
    assert "charset guessed: gb18030 for file name" in _check(cm.RAW_FILENAMES)


def test_encoded_word_whose_bytes_lie_is_detected() -> None:
    """An encoded word labelled ISO-2022-JP that holds Shift_JIS bytes is read as CP932."""
    raw = cm.single(b"=?ISO-2022-JP?B?" + base64.b64encode("見積書の件について".encode("cp932")) + b"?=",
                    b"x", "us-ascii")
    parsed = parse(raw)
    assert parsed.subject == "見積書の件について"
    assert "charset guessed: cp932 for Subject" in parsed.defects


def test_labels_follow_the_whatwg_table() -> None:
    """The labels mail clients treat as supersets map to the superset's codec."""
    assert charsets.codecs_for("GB2312")[0] == "gb18030"
    assert charsets.codecs_for(" ks_c_5601-1987 ")[0] == "cp949"
    assert charsets.codecs_for("ISO-8859-1")[:2] == ("cp1252", "iso8859-1")
    assert charsets.codecs_for("Shift_JIS")[0] == "cp932"
    assert charsets.codecs_for("TIS-620")[0] == "cp874"
    assert charsets.codecs_for("big5")[0] == "big5hkscs"
    assert charsets.codecs_for("us-ascii*en")[:2] == ("ascii", "utf_8")  # RFC 2231 language suffix
    for unreadable in ("x-unknown", "unknown-8bit", "base64", "rot13", "undefined", "unicode_escape", "no-such"):
        assert charsets.codecs_for(unreadable) == ()


def test_strict_decoding_wins_and_the_detector_never_runs_for_good_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Well-labelled mail is decoded without asking the detector (ingest speed)."""
    def refuse(*_args: object) -> None:
        raise AssertionError("the detector ran")

    monkeypatch.setattr(charsets, "_detect", refuse)
    for mail in (cm.ISO2022JP, cm.MICROSOFT_JP, cm.GB2312_IS_GBK, cm.KS_C_5601, cm.LATIN1_IS_CP1252,
                 cm.SHIFT_JIS_IS_CP932, cm.TIS620_IS_CP874):
        _check(mail)


def test_undecodable_bytes_give_replacement_characters_and_a_note() -> None:
    """Bytes no charset reads come back with U+FFFD, never an exception."""
    defects: list[str] = []
    text = charsets.decode(b"\xff\xfe\xff\x00\x81", "utf-8", "body", defects)
    assert isinstance(text, str)
    assert defects and defects[0].startswith("charset ")


def test_detection_is_bounded_on_large_binary_bodies() -> None:
    """A 2 MB body of binary labelled UTF-8 parses within a second: the detector reads a sample."""
    import random

    data = random.Random(22).randbytes(2_000_000)
    raw = cm.single(b"big", base64.encodebytes(data), "utf-8", "base64")
    start = time.perf_counter()
    parsed = parse(raw)
    assert time.perf_counter() - start < 1.0
    assert any(d.startswith("charset ") for d in parsed.defects)


# --- the property: text in a charset that can hold it, declared, reads back as written ----------

_SCRIPTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # script: (alphabet, [(declared label, the codec the writer's mailer encoded with)])
    "latin-1": ("".join(map(chr, range(0xA1, 0x100))) + "abcXYZ019",
                [("iso-8859-1", "latin_1"), ("ISO-8859-1", "cp1252"), ("windows-1252", "cp1252"), ("latin1", "cp1252"),
                 ("iso-8859-15", "iso8859_15"), ("utf-8", "utf_8")]),
    "cjk": ("".join(map(chr, range(0x4E00, 0x9FA6))),
            [("gb2312", "gbk"), ("GBK", "gbk"), ("gb18030", "gb18030"), ("big5", "big5"), ("shift_jis", "cp932"),
             ("euc-jp", "euc_jp"), ("iso-2022-jp", "iso2022_jp"), ("utf-8", "utf_8")]),
    "hangul": ("".join(map(chr, range(0xAC00, 0xD7A4))),
               [("ks_c_5601-1987", "cp949"), ("euc-kr", "cp949"), ("korean", "cp949"), ("utf-8", "utf_8")]),
    "cyrillic": ("".join(map(chr, range(0x410, 0x450))) + "Ёё",
                 [("koi8-r", "koi8_r"), ("windows-1251", "cp1251"), ("iso-8859-5", "iso8859_5"), ("utf-8", "utf_8")]),
    "emoji": ("".join(map(chr, range(0x1F600, 0x1F650))) + "😀🎉👍",
              [("utf-8", "utf_8"), ("gb18030", "gb18030")]),
}


def _encodable(text: str, codec: str) -> str:
    return "".join(ch for ch in text if _can(ch, codec))


def _can(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@st.composite
def _written(draw: st.DrawFn) -> tuple[str, str, str, str]:
    script = draw(st.sampled_from(sorted(_SCRIPTS)))
    alphabet, labels = _SCRIPTS[script]
    label, codec = draw(st.sampled_from(labels))
    words = draw(st.lists(st.text(st.sampled_from(alphabet), min_size=1, max_size=8), min_size=1, max_size=6))
    lines = draw(st.lists(st.lists(st.text(st.sampled_from(alphabet), min_size=1, max_size=8), min_size=1,
                                   max_size=6), min_size=1, max_size=5))
    subject = " ".join(w for w in (_encodable(w, codec) for w in words) if w)
    text = "\n".join(" ".join(w for w in (_encodable(w, codec) for w in line) if w) for line in lines).strip()
    return label, codec, subject, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_written(), st.booleans())
def test_declared_text_reads_back_as_written(written: tuple[str, str, str, str], multi: bool) -> None:
    """Text encoded in a charset that holds it and declared with that charset (or a WHATWG
    label of it), single-part or multipart, parses to the subject and text written."""
    label, codec, subject, text = written
    subject_word = b"=?" + label.encode() + b"?B?" + base64.b64encode(subject.encode(codec)) + b"?="
    body = text.replace("\n", "\r\n").encode(codec)
    if multi:
        raw = cm.multipart(subject_word, body, label, [b'Content-Disposition: attachment; filename="a.bin"'])
    elif codec == "iso2022_jp":
        raw = cm.single(subject_word, body, label, "7bit")
    else:
        raw = cm.single(subject_word, base64.encodebytes(body), label, "base64")
    parsed = parse(raw)
    assert parsed.subject == subject
    assert parsed.text.strip() == text
    assert not [d for d in parsed.defects if d.startswith("charset")]


def test_a_thousand_lying_headers_cost_a_bounded_number_of_detections() -> None:
    """Past MAX_DETECTIONS the parser gives replacement characters instead of guessing on."""
    lines = b"".join(b"X-H%d: " % i + bytes([0x80 + i % 100]) * 40 + b" \xd6\xd0\xce\xc4\r\n" for i in range(1000))
    raw = cm.single(b"s", b"x", "utf-8").replace(b"Subject:", lines + b"Subject:", 1)
    start = time.perf_counter()
    parsed = parse(raw)
    assert time.perf_counter() - start < 2.0
    assert parsed.from_addr == "alice@acme.com"
    assert 0 < sum(d.startswith("charset guessed") for d in parsed.defects) <= charsets.MAX_DETECTIONS
