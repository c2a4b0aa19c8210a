"""Mails in the charsets issue 22 names, their bytes crafted by hand, each with what its writer
meant: shared by tests/unit/test_charsets.py and tests/integration/test_charsets_pipeline.py."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import quote

HEAD = b"From: Alice <alice@acme.com>\r\nTo: support@example.com\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\n"


@dataclass(frozen=True)
class CharsetMail:
    name: str
    raw: bytes
    subject: str
    text: str
    filenames: tuple[str, ...] = ()


def word(text: str, label: str, codec: str | None = None) -> bytes:
    """One RFC 2047 B-encoded word: `text` in `codec`, labelled `label`."""
    data = text.encode(codec or label)
    return b"=?" + label.encode() + b"?B?" + base64.b64encode(data) + b"?="


def single(subject: bytes, body: bytes, charset: str, cte: str = "8bit", message_id: str = "m1") -> bytes:
    return (
        HEAD + b"Message-ID: <" + message_id.encode() + b"@acme.com>\r\nSubject: " + subject + b"\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + body + b"\r\n"
    )


def multipart(subject: bytes, body: bytes, charset: str, files: list[bytes], message_id: str = "m1") -> bytes:
    """multipart/mixed: the text part, then one file per Content-Disposition line in `files`."""
    parts = [
        b"--BOUNDARY\r\nContent-Type: text/plain; charset=" + charset.encode() + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(body) + b"\r\n"
    ]
    for disposition in files:
        parts.append(b"--BOUNDARY\r\nContent-Type: application/octet-stream\r\n" + disposition + b"\r\n"
                     b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n")
    return (
        HEAD + b"Message-ID: <" + message_id.encode() + b"@acme.com>\r\nSubject: " + subject + b"\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BOUNDARY\r\n\r\n"
        + b"".join(parts) + b"--BOUNDARY--\r\n"
    )


def cp5022x(text: str) -> bytes:
    """`text` as Outlook's CP50220 writes it: ISO-2022-JP whose JIS X 0208 segments hold NEC
    row 13 ("①") and the NEC-selected IBM rows 89-92 ("髙"), reached from CP932."""
    out = bytearray()
    kanji = False
    for ch in text:
        data = ch.encode("cp932")
        if len(data) == 1:
            if kanji:
                out += b"\x1b(B"
                kanji = False
            out += data
            continue
        if data[0] >= 0xF0:  # an IBM extension: CP5022x writes its NEC-selected twin (rows 89-92)
            data = next(bytes((lead, trail)) for lead in (0xED, 0xEE) for trail in range(0x40, 0xFD)
                        if trail != 0x7F and bytes((lead, trail)).decode("cp932", "replace") == ch)
        if not kanji:
            out += b"\x1b$B"
            kanji = True
        out += _sjis_to_jis(data[0], data[1])
    if kanji:
        out += b"\x1b(B"
    return bytes(out)


def _sjis_to_jis(lead: int, trail: int) -> bytes:
    row = (lead - (0xC1 if lead >= 0xE0 else 0x81)) * 2 + 0x21
    if trail >= 0x9F:
        return bytes((row + 1, trail - 0x7E))
    return bytes((row, trail - 0x1F - (1 if trail > 0x7F else 0)))


ISO2022JP = CharsetMail(
    "iso-2022-jp single part",
    single(word("件名のテスト", "ISO-2022-JP", "iso2022_jp"), "日本語の本文です。\r\nよろしく".encode("iso2022_jp"),
           "ISO-2022-JP", "7bit"),
    "件名のテスト", "日本語の本文です。\nよろしく",
)
MICROSOFT_JP = CharsetMail(
    "iso-2022-jp with Microsoft's extensions",
    single(b"=?ISO-2022-JP?B?" + base64.b64encode(cp5022x("①の件 ㈱髙橋")) + b"?=",
           cp5022x("① 確認 ② ⅰ ㈱髙橋 﨑"), "iso-2022-jp", "7bit"),
    "①の件 ㈱髙橋", "① 確認 ② ⅰ ㈱髙橋 﨑",
)
GB2312_IS_GBK = CharsetMail(
    "gb2312 that is GBK",
    single(word("镕珺的报价单", "gb2312", "gbk"), "王珺：镕铸报价，谢谢。".encode("gbk"), "gb2312"),
    "镕珺的报价单", "王珺：镕铸报价，谢谢。",
)
KS_C_5601 = CharsetMail(
    "ks_c_5601-1987 that is CP949",
    single(word("똠방각하 견적서", "ks_c_5601-1987", "cp949"), "똠방각하님, 견적서를 보냅니다.".encode("cp949"),
           "ks_c_5601-1987"),
    "똠방각하 견적서", "똠방각하님, 견적서를 보냅니다.",
)
LATIN1_IS_CP1252 = CharsetMail(
    "iso-8859-1 that is windows-1252",
    single(b"=?iso-8859-1?Q?=93Angebot=94_=80_100?=", "“Preis” 100 € – danke…".encode("cp1252"), "iso-8859-1"),
    "“Angebot” € 100", "“Preis” 100 € – danke…",
)
SHIFT_JIS_IS_CP932 = CharsetMail(
    "shift_jis that is CP932",
    single(word("①番の件", "shift_jis", "cp932"), "①番 ㈱髙橋 ～".encode("cp932"), "Shift_JIS"),
    "①番の件", "①番 ㈱髙橋 ～",
)
TIS620_IS_CP874 = CharsetMail(
    "tis-620 that is CP874",
    single(word("สวัสดี “ครับ”", "tis-620", "cp874"), "ราคา 100 € …".encode("cp874"), "tis-620"),
    "สวัสดี “ครับ”", "ราคา 100 € …",
)
RAW_GBK_SUBJECT = CharsetMail(
    "an 8-bit GBK Subject, no encoded word",
    single("中文主题测试：报价单".encode("gbk"), b"See the subject.", "us-ascii"),
    "中文主题测试：报价单", "See the subject.",
)
RAW_SJIS_UNDER_ISO2022JP = CharsetMail(
    "an 8-bit Shift_JIS Subject in a mail labelled ISO-2022-JP",
    single("見積書の件について".encode("cp932"), "本文".encode("iso2022_jp"), "iso-2022-jp", "7bit"),
    "見積書の件について", "本文",
)
RAW_FILENAMES = CharsetMail(
    "file names in raw UTF-8, raw GBK and RFC 2231 gb2312",
    multipart(b"Fotos", b"Anbei die Fotos.", "utf-8", [
        b'Content-Disposition: attachment; filename="' + "Hofjägeralle Wasserschaden.jpg".encode() + b'"',
        b'Content-Disposition: attachment; filename="' + "报价单2024年.pdf".encode("gbk") + b'"',
        b"Content-Disposition: attachment; filename*=gb2312''" + quote("镕珺".encode("gbk")).encode() + b".pdf",
    ]),
    "Fotos", "Anbei die Fotos.",
    ("Hofjägeralle Wasserschaden.jpg", "报价单2024年.pdf", "镕珺.pdf"),
)
ALL = (ISO2022JP, MICROSOFT_JP, GB2312_IS_GBK, KS_C_5601, LATIN1_IS_CP1252, SHIFT_JIS_IS_CP932, TIS620_IS_CP874,
       RAW_GBK_SUBJECT, RAW_SJIS_UNDER_ISO2022JP, RAW_FILENAMES)
