"""`tickets list --json` writes the database's UTF-8 bytes straight to stdout's buffer: nothing
written before through the text layer is overtaken, and a stdout with no buffer gets the same text."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stdout

from inbox.cli_tickets import _write_json

BATCHES = [[b'{"subject":"caf\xc3\xa9"}', b'{"subject":"\xf0\x9f\x94\xa5"}'], [b'{"subject":"x"}']]
EXPECTED = '[{"subject":"café"},{"subject":"🔥"},{"subject":"x"}]\n'


def test_bytes_follow_what_the_text_layer_holds(monkeypatch) -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)
    monkeypatch.setattr(sys, "stdout", text)
    text.write("before ")  # still in the text layer's buffer when the bytes go
    assert _write_json(BATCHES) == 3
    text.flush()
    assert raw.getvalue().decode("utf-8") == "before " + EXPECTED


def test_a_stdout_without_a_buffer_gets_the_text() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert _write_json(iter([])) == 0
        assert _write_json(BATCHES) == 3
    assert out.getvalue() == "[]\n" + EXPECTED
