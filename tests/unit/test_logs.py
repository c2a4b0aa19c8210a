"""Log lines: one JSON object a line (or text on a terminal), naming the message they are about."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from inbox import logs

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def root() -> Iterator[logging.Logger]:
    """The root logger, put back as it was after each test (handlers and level)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n") and len(text.splitlines()) == text.count("\n")
    return [json.loads(line) for line in text.splitlines()]


def configured(**kw: Any) -> io.StringIO:
    stream = kw.pop("stream", None) or io.StringIO()
    logs.configure(stream=stream, **{"level": "DEBUG", "fmt": "json", **kw})
    return stream


def test_json_line_has_time_level_logger_message_and_the_fields_given() -> None:
    """A record is one object: UTC ms timestamp, level, logger, formatted msg, and the extra fields."""
    out = configured()
    extra = {"tracking": "SUP-1", "message_id": "a@b", "raw_id": 7}
    logging.getLogger("inbox.x").info("opened %s", "SUP-1", extra=extra)
    [line] = json_lines(out)
    assert TS.match(line.pop("ts"))
    assert line == {"level": "INFO", "logger": "inbox.x", "msg": "opened SUP-1", "tracking": "SUP-1",
                    "message_id": "a@b", "raw_id": 7}


def test_about_names_the_message_on_every_line_inside_the_block_from_any_logger() -> None:
    """Lines from any module inside `about` carry its fields; nested blocks add; after the block, none."""
    out = configured()
    with logs.about(message_id="a@b", raw_id=3):
        logging.getLogger("some.library").debug("inside")
        with logs.about(tracking="SUP-9"):
            logging.getLogger("inbox.y").warning("deeper")
        logging.getLogger("inbox.y").info("back out", extra={"tracking": "SUP-2"})
    logging.getLogger("inbox.y").info("after")
    lines = json_lines(out)
    assert [(x.get("tracking"), x.get("message_id"), x.get("raw_id")) for x in lines] == [
        (None, "a@b", 3), ("SUP-9", "a@b", 3), ("SUP-2", "a@b", 3), (None, None, None)]


def test_threads_and_tasks_each_keep_their_own_message() -> None:
    """Two threads (and two asyncio tasks) logging at once never mix their fields."""
    out = configured()
    barrier = threading.Barrier(2)

    def work(n: int) -> None:
        with logs.about(tracking=f"SUP-{n}", message_id=f"{n}@t"):
            barrier.wait()
            for _ in range(50):
                logging.getLogger("t").info("thread %d", n)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def task(n: int) -> None:
        with logs.about(tracking=f"SUP-{n}", message_id=f"{n}@t"):
            await asyncio.sleep(0)
            logging.getLogger("t").info("task %d", n)

    async def both() -> None:
        await asyncio.gather(task(3), task(4))

    asyncio.run(both())
    lines = [line for line in json_lines(out) if line["logger"] == "t"]  # asyncio logs at DEBUG too
    assert len(lines) == 102
    for line in lines:
        n = line["msg"].split()[1]
        assert (line["tracking"], line["message_id"]) == (f"SUP-{n}", f"{n}@t")


def test_odd_data_never_raises_and_still_gives_one_json_line(root: logging.Logger) -> None:
    """Wrong arguments, unprintable objects, NaN and non-JSON values each still log one parseable line."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

        __repr__ = __str__

    out = configured()
    # pytest's capture handlers re-raise a record they cannot format; only ours is on trial here.
    root.handlers[:] = [h for h in root.handlers if getattr(h, "_inbox_logs", False)]
    log = logging.getLogger("odd")
    log.info("%d widgets", "many")
    log.info(Unprintable())
    log.info("fields", extra={"tracking": Unprintable(), "uid": float("nan"), "raw_id": {1: object()},
                              "mailbox": b"bytes"})
    with logs.about(kind=object()):  # type: ignore[arg-type]
        log.info("context")
    lines = json_lines(out)
    assert len(lines) == 4
    assert "many" in lines[0]["msg"] and "cannot format" in lines[0]["msg"]
    assert lines[1]["msg"].startswith("<unprintable Unprintable>")
    assert lines[2]["tracking"] == "<unprintable Unprintable>" and lines[2]["uid"] == "nan"
    assert lines[2]["mailbox"] == "b'bytes'" and isinstance(lines[2]["raw_id"], str)
    assert lines[3]["kind"].startswith("<object object")


def test_one_line_per_record_whatever_the_message_holds() -> None:
    """Newlines, Unicode line separators and tracebacks stay escaped inside the one line."""
    out = configured()
    log = logging.getLogger("lines")
    log.warning("a\nb\r\nc\u2028d\u2029e\x85f\x00g")
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("failed")
    text = out.getvalue()
    assert text.isascii() and text.count("\n") == 2 and len(text.splitlines()) == 2
    first, second = json_lines(out)
    assert first["msg"] == "a\nb\r\nc\u2028d\u2029e\x85f\x00g"
    assert "ValueError: bad\nvalue" in second["exc"] and second["exc"].startswith("Traceback")


def test_auto_writes_text_on_a_terminal_and_json_elsewhere() -> None:
    """Format auto (the default): a terminal gets `HH:MM:SS LEVEL logger: msg [SUP-1 <id>]`, a pipe JSON."""
    tty = Tty()
    logs.configure(stream=tty, level="INFO")
    with logs.about(tracking="SUP-1", message_id="a@b"):
        logging.getLogger("inbox.z").info("opened")
        logging.getLogger("inbox.z").info("SUP-1 Message-ID <a@b>: opened")  # already named: not repeated
    first, second = tty.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    inbox\.z: opened \[SUP-1 <a@b>\]", first)
    assert second.endswith("inbox.z: SUP-1 Message-ID <a@b>: opened")
    pipe = io.StringIO()
    logs.configure(stream=pipe, level="INFO")
    logging.getLogger("inbox.z").info("opened")
    assert json_lines(pipe)[0]["msg"] == "opened"


def test_environment_sets_level_and_format_and_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    """$INBOX_LOG_LEVEL and $INBOX_LOG_FORMAT are used when no argument is given; default_level otherwise."""
    monkeypatch.setenv(logs.LEVEL_ENV, "debug")
    monkeypatch.setenv(logs.FORMAT_ENV, "TEXT")
    out = io.StringIO()
    logs.configure(stream=out)
    assert logging.getLogger().level == logging.DEBUG
    logging.getLogger("e").debug("shown")
    assert out.getvalue().split(" ", 2)[1:] == ["DEBUG", "  e: shown\n"]
    logs.configure(stream=io.StringIO(), level="ERROR", fmt="json")
    assert logging.getLogger().level == logging.ERROR
    monkeypatch.delenv(logs.LEVEL_ENV)
    logs.configure(stream=io.StringIO(), default_level="INFO")
    assert logging.getLogger().level == logging.INFO
    logs.configure(stream=io.StringIO())
    assert logging.getLogger().level == logging.WARNING


def test_unknown_values_fall_back_with_one_warning_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in either variable never crashes: the default is used and one line says so, per variable."""
    monkeypatch.setenv(logs.LEVEL_ENV, "LOUD")
    monkeypatch.setenv(logs.FORMAT_ENV, "xml")
    out = io.StringIO()
    logs.configure(stream=out, default_level="INFO")
    assert logging.getLogger().level == logging.INFO
    lines = json_lines(out)  # xml fell back to auto, and a StringIO is no terminal
    assert [(x["level"], x["logger"]) for x in lines] == [("WARNING", "inbox.logs")] * 2
    assert "INBOX_LOG_LEVEL 'LOUD'" in lines[0]["msg"] and "using INFO" in lines[0]["msg"]
    assert "INBOX_LOG_FORMAT 'xml'" in lines[1]["msg"] and "using auto" in lines[1]["msg"]


def test_configuring_twice_keeps_one_handler_and_leaves_others_alone(root: logging.Logger) -> None:
    """configure replaces only the handler it installed; a second call does not double every line."""
    other = logging.StreamHandler(io.StringIO())
    root.addHandler(other)
    first = configured()
    second = configured()
    logging.getLogger("twice").warning("once")
    assert first.getvalue() == "" and len(json_lines(second)) == 1
    assert other in root.handlers
    assert sum(1 for h in root.handlers if getattr(h, "_inbox_logs", False)) == 1


def test_default_stream_is_whatever_stderr_is_now(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stream, lines go to the current sys.stderr, so a swapped stderr never gets a closed file."""
    logs.configure(level="INFO", fmt="json")
    logging.getLogger("err").info("to stderr")
    assert json.loads(capsys.readouterr().err)["msg"] == "to stderr"


def test_message_id_of_reads_only_the_header_and_strips_what_a_stranger_could_inject() -> None:
    """The header's Message-ID (folded or not), without brackets; none in the body; control bytes dropped."""
    assert logs.message_id_of(b"From: a@b\r\nMessage-ID: <m1@acme.com>\r\n\r\nbody") == "m1@acme.com"
    assert logs.message_id_of(b"message-id:\r\n  <folded@x>\r\nSubject: s\r\n\r\n") == "folded@x"
    assert logs.message_id_of(b"From: a@b\n\nMessage-ID: <in-body@x>\n") is None
    assert logs.message_id_of(b"Message-ID: <a\x1b[31m\r@x>\r\n\r\n") == "a[31m@x"
    assert logs.message_id_of(b"X: " + b"y" * logs.HEADER_SCAN_BYTES + b"\r\nMessage-ID: <late@x>\r\n\r\n") is None
    assert logs.message_id_of(b"") is None


def test_the_libraries_protocol_chatter_stays_out_at_info() -> None:
    """aiosmtpd's line per SMTP command and alembic's per migration check drown the mail's own lines."""
    stream = io.StringIO()
    logs.configure(level="INFO", fmt="json", stream=stream)
    logging.getLogger("mail.log").info("('127.0.0.1', 4242) >> b'RCPT TO:<a@b>'")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("inbox.ingest.drain").info("SUP-1 opened")
    assert [json.loads(line)["msg"] for line in stream.getvalue().splitlines()] == ["SUP-1 opened"]
    logs.configure(level="DEBUG", fmt="json", stream=stream)
    logging.getLogger("mail.log").debug("now it shows")
    assert "now it shows" in stream.getvalue()
