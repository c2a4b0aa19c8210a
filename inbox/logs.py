"""Log lines: one JSON object a line for machines, or short readable text on a terminal.

Every line about one message carries the same fields, so an operator can follow a message
from the SMTP "accepted" line through ingest to the acknowledgement's "sent" line with one
filter (`jq 'select(.tracking == "SUP-000042")'`). The fields (FIELDS) come from `extra={...}`
on a log call, or from `about(...)`, which names the message for every line logged inside the
block, by any module or library, in this thread or task only (contextvars).

  ts          UTC instant of the record, ISO 8601 with milliseconds and "Z"
  level       DEBUG, INFO, WARNING, ERROR or CRITICAL
  logger      the logger's name (`inbox.ingest.drain`)
  msg         the formatted message, never split: newlines stay escaped inside the string
  tracking    the ticket's tracking number (SUP-000042)
  message_id  the Message-ID without angle brackets: the incoming mail's, or on an outbox
              line the outgoing email's own
  raw_id      the raw row the mail's bytes were committed as
  mailbox     the IMAP mailbox's configured name
  uid         the IMAP UID of the message in that mailbox
  outbox_id   the outbox row of an email we send
  kind        the kind of email we send (acknowledgement, status_update, ...)
  exc         the traceback, when the record has one

This module is the bottom layer: standard library only, nothing from `inbox`. A formatter
must never raise, whatever a caller passes: an unprintable value becomes text that says so.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

FIELDS = ("tracking", "message_id", "raw_id", "mailbox", "uid", "outbox_id", "kind")
FORMATS = ("json", "text", "auto")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMAT_ENV = "INBOX_LOG_FORMAT"
LEVEL_ENV = "INBOX_LOG_LEVEL"
CHATTY = ("mail.log", "alembic.runtime.migration")  # libraries quiet below DEBUG
# How much of a raw message `message_id_of` reads: the header of real mail is a few KiB; a
# header larger than this is not worth a slower log line.
HEADER_SCAN_BYTES = 64 * 1024
MAX_ID_CHARS = 250  # RFC 5322 ids fit in a 998-octet line; a log field needs no more than this

_about: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("inbox_log_about", default={})
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NOT_ID = re.compile(r"[^\x21-\x7e]")  # printable ASCII only: the id comes from a stranger
# JSON leaves these unescaped, yet str.splitlines() and some log shippers break lines on them.
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@contextlib.contextmanager
def about(*, tracking: str | None = None, message_id: str | None = None, raw_id: int | None = None,
          mailbox: str | None = None, uid: int | None = None, outbox_id: int | None = None,
          kind: str | None = None) -> Iterator[None]:
    """Name the message every line logged inside the block is about; nested blocks add to the outer one."""
    given = {"tracking": tracking, "message_id": message_id, "raw_id": raw_id, "mailbox": mailbox, "uid": uid,
             "outbox_id": outbox_id, "kind": kind}
    token = _about.set({**_about.get(), **{k: v for k, v in given.items() if v is not None}})
    try:
        yield
    finally:
        _about.reset(token)


def current() -> dict[str, object]:
    """The fields `about` blocks give lines logged here and now."""
    return dict(_about.get())


def fields_of(record: logging.LogRecord) -> dict[str, object]:
    """The message fields of a record: `extra=` values first, then the enclosing `about` blocks.

    The context is read when the record is stamped (AboutFilter, at the log call); a record
    not stamped is read at format time, which is the same moment for a synchronous handler.
    """
    stamped: Mapping[str, object] | None = getattr(record, "_inbox_about", None)
    context = _about.get() if stamped is None else stamped
    found: dict[str, object] = {}
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is None:
            value = context.get(name)
        if value is not None:
            found[name] = value
    return found


def message_id_of(data: bytes) -> str | None:
    """The Message-ID of raw mail, without angle brackets, from a bounded look at its header; None if absent.

    For naming a message in a log line before anything parses it, never for threading.
    """
    head = data[:HEADER_SCAN_BYTES]
    end = _HEADER_END.search(head)
    found = _MESSAGE_ID.search(head, 0, end.start() if end else len(head))
    if not found:
        return None
    value = found.group(1).decode("latin-1")
    inner = re.search(r"<([^<>]*)>", value)
    text = _NOT_ID.sub("", inner.group(1) if inner else value)[:MAX_ID_CHARS]
    return text or None


class AboutFilter(logging.Filter):
    """Stamps each record with the `about` fields of the thread or task that logged it; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "_inbox_about"):
            setattr(record, "_inbox_about", _about.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, the known message fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            document = self._document(record)
            # ASCII only: no byte of a line can be a line break or fail to encode on any stream.
            line = json.dumps(document, ensure_ascii=True, default=_text)
        except Exception as exc:  # noqa: BLE001 - a log line must never take down its caller
            line = json.dumps({"ts": _utc(record.created), "level": record.levelname, "logger": record.name,
                               "msg": _text(record.msg), "log_error": _text(exc)}, ensure_ascii=True, default=_text)
        for char, escaped in _LINE_BREAKS.items():
            line = line.replace(char, escaped)
        return line

    def _document(self, record: logging.LogRecord) -> dict[str, object]:
        document: dict[str, object] = {"ts": _utc(record.created), "level": record.levelname,
                                       "logger": record.name, "msg": _message(record)}
        for name, value in fields_of(record).items():
            # Plain values stay as they are; anything else (a Path, a dict with odd keys, NaN) as text.
            plain = isinstance(value, (str, int, bool)) or (isinstance(value, float) and math.isfinite(value))
            document[name] = value if plain else _text(value)
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exc"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return document


class TextFormatter(logging.Formatter):
    """`09:14:03 INFO    inbox.ingest.drain: <message> [SUP-000042 <id@host>]`, local time, for a person.

    The tracking number and Message-ID are appended only when the message does not already
    name them, so the old hand-written lines read as before.
    """

    converter = time.localtime

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = _message(record)
            found = fields_of(record)
            names = [str(found["tracking"])] if "tracking" in found else []
            if "message_id" in found:
                names.append(f"<{found['message_id']}>")
            tail = " ".join(name for name in names if name.strip("<>") not in message)
            line = f"{self.formatTime(record, self.datefmt)} {record.levelname:<7} {record.name}: {message}"
            line += f" [{tail}]" if tail else ""
            if record.exc_info:
                line += "\n" + self.formatException(record.exc_info)
            elif record.exc_text:
                line += "\n" + record.exc_text
            if record.stack_info:
                line += "\n" + self.formatStack(record.stack_info)
            return line
        except Exception as exc:  # noqa: BLE001 - a log line must never take down its caller
            return f"{record.levelname} {record.name}: {_text(record.msg)} (log error: {_text(exc)})"


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is at the moment of each line (a test may swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler.__init__ assigns it; the current sys.stderr is always used


def configure(*, level: str | None = None, fmt: str | None = None, stream: TextIO | None = None,
              default_level: str = "WARNING") -> None:
    """Send every log line to `stream` (default: sys.stderr) through one handler on the root logger.

    `level` and `fmt`, when given, win; otherwise $INBOX_LOG_LEVEL (else `default_level`) and
    $INBOX_LOG_FORMAT (json, text, or auto: text on a terminal, JSON elsewhere). An unknown
    value falls back to the default with one warning line: a typo must not stop the service.
    Calling it again replaces the handler it installed before; other handlers are left alone.
    """
    problems: list[str] = []
    level_name = _choose(level, LEVEL_ENV, default_level, LEVELS, problems)
    format_name = _choose(fmt, FORMAT_ENV, "auto", FORMATS, problems)
    handler: logging.StreamHandler[TextIO] = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    if format_name == "auto":
        format_name = "text" if _is_terminal(handler.stream) else "json"
    handler.setFormatter(TextFormatter() if format_name == "text" else JsonFormatter())
    handler.addFilter(AboutFilter())
    handler._inbox_logs = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_inbox_logs", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_name)
    # aiosmtpd logs every SMTP command line (addresses included) and alembic each migration check at
    # INFO: below DEBUG, the operator reads our lines about the mail, not theirs about the protocol.
    for name in CHATTY:
        logging.getLogger(name).setLevel(level_name if level_name == "DEBUG" else "WARNING")
    for problem in problems:
        logging.getLogger(__name__).warning("%s", problem)


def _choose(given: str | None, env: str, default: str, allowed: tuple[str, ...], problems: list[str]) -> str:
    """The value to use: `given`, else the environment, else `default`; unknown ones say so."""
    source = "argument" if given is not None else env
    value = given if given is not None else os.environ.get(env)
    if value is None or not value.strip():
        return default
    chosen = value.strip().upper() if allowed is LEVELS else value.strip().lower()
    chosen = "WARNING" if chosen == "WARN" else chosen  # the old spelling logging still accepts
    if chosen in allowed:
        return chosen
    problems.append(f"{source} {value!r} is not one of {', '.join(a.lower() for a in allowed)}; using {default}")
    return default


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:  # noqa: BLE001 - a closed or odd stream is no terminal
        return False


def _message(record: logging.LogRecord) -> str:
    """The record's message with its arguments, or, when they do not fit, both shown as they are."""
    try:
        return record.getMessage()
    except Exception as exc:  # noqa: BLE001 - wrong arguments to a log call must still log
        return f"{_text(record.msg)} {_text(record.args)} (cannot format: {_text(exc)})"


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object) -> str:
    """str(value), or its repr, or a placeholder: whichever works first."""
    for convert in (str, repr):
        try:
            return convert(value)
        except Exception:  # noqa: BLE001 - a broken __str__ must not break logging
            continue
    return f"<unprintable {type(value).__name__}>"
