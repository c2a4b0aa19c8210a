"""One SMTP connection on aiosmtpd: its protocol, with our refusals of oversized mail and of
over-long lines, our idle timer and our shutdown; and the one place that names what we rely on
from aiosmtpd beyond its documented surface.

`SmtpSession` is aiosmtpd's `SMTP` class, used through its documented surface (the handler hooks,
the constructor, `smtp_<COMMAND>`, `push`, `envelope`, `_create_envelope`, `transport`, `loop`)
and the few things beyond it named below. It never decides whose mail we take or stores a byte
(the handler it is given does), and never answers in aiosmtpd's own words: each refusal it makes
is said our way and reported to its owner, the listener, which logs and counts it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, AnyStr, Protocol

from aiosmtpd.smtp import SMTP

SHUTTING_DOWN = "421 4.3.2 Service shutting down, try again later"
TOO_LARGE = "552 5.3.4 Message too big: the limit is {limit} bytes"
LINE_TOO_LONG = "500 5.5.2 Line too long: RFC 5321 section 4.5.3.1.6 allows 998 octets"

# What SmtpSession relies on from aiosmtpd beyond its documented surface (the handler hooks, SMTP's
# constructor, smtp_<COMMAND>, push, envelope, _create_envelope, transport, loop). pyproject.toml
# pins the tested range; tests/unit/test_smtp_surface.py fails, saying what to re-check, when an
# upgrade changes any of it.
# - Its own refusals inside DATA reach push() in these words, which SmtpSession says our way:
AIOSMTPD_TOO_MUCH_DATA = "552 Error: Too much mail data"
AIOSMTPD_LINE_TOO_LONG = "500 Line too long"
# - Its `data_size_limit` counts DATA as it comes over the wire, dot-stuffing included, where RFC 1870
#   section 3 counts the message without it (up to a third more for a mail of dot-leading lines): it
#   is given wire_size(limit), SmtpSession advertises and enforces `limit` itself on the message.
# - EHLO's reply lines reach the handler's handle_EHLO (its 5-argument form) as a list to amend, and
#   smtp_HELO and smtp_EHLO (one argument each) push the replies RFC 2034 leaves without enhanced codes.
# - Its `timeout` restarts at each valid command only, so it would cut a large DATA on a slow link
#   (RFC 5321 section 4.5.3.2.6 times the gap between chunks): it is set out of reach, and
#   SmtpSession closes a connection silent for timeout_seconds itself.
AIOSMTPD_TIMEOUT_OFF = 10 * 365 * 86_400.0  # seconds: ten years

# RFC 2034 section 3: every reply but the greeting and the answer to HELO or EHLO carries an enhanced
# code. aiosmtpd's own replies ("250 OK", "503 Error: need RCPT command") have none: given one here,
# by the class of the reply and RFC 3463's codes for syntax and sequence errors.
_ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}(?:\s|$)")
_ENHANCED_BY_CODE = {"500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4"}


def wire_size(limit: int) -> int:
    """The most bytes a message of `limit` octets (RFC 1870's count) can take on the wire: each line
    of at least three octets (a dot, CRLF) gains one stuffed dot, so a third more, rounded up."""
    return limit + -(-limit // 3)


_SIZE_PARAM = re.compile(r"\sSIZE=(\d{1,20})(?=\s|$)", re.IGNORECASE)

log = logging.getLogger(__name__)


class SessionOwner(Protocol):
    """What a session needs of the listener that made it."""

    @property
    def is_stopping(self) -> bool: ...  # once true, a new MAIL is told 421 and the session closes

    def refused(self, reason: str, reply: str, peer: Any, sender: str | None, rcpts: Sequence[str]) -> None: ...

    def session_ended(self, session: SmtpSession) -> None: ...


class SmtpSession(SMTP):
    """One SMTP connection: aiosmtpd's protocol with our size refusals, shutdown and idle timer."""

    def __init__(self, handler: Any, owner: SessionOwner, *, idle_seconds: float, size_limit: int,
                 **kwargs: Any) -> None:
        self._owner = owner  # set first: aiosmtpd's __init__ inspects every attribute
        self._in_data = False
        self._verbatim = False  # answering HELO or EHLO: no enhanced codes (RFC 2034 section 3)
        self._idle_seconds = idle_seconds
        self._idle: asyncio.TimerHandle | None = None
        self.size_limit = size_limit  # RFC 1870's count, without dot-stuffing: what is advertised and held to
        super().__init__(handler, timeout=AIOSMTPD_TIMEOUT_OFF, data_size_limit=wire_size(size_limit), **kwargs)

    @property
    def is_busy(self) -> bool:
        """Inside a mail transaction (from MAIL until the DATA reply): stop() lets it finish."""
        return self._in_data or (self.envelope is not None and self.envelope.mail_from is not None)

    def goodbye(self, reply: str) -> None:
        """Answer `reply` out of turn and close (a 421, RFC 5321 section 3.8)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(reply.encode("ascii") + b"\r\n")
            transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._restart_idle_timer()

    def data_received(self, data: bytes) -> None:
        # Any bytes count, a chunk of DATA as much as a command: RFC 5321 section 4.5.3.2.6
        # times the gap between chunks, so a large message on a slow link is not cut.
        self._restart_idle_timer()
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        try:
            super().connection_lost(error)
        finally:
            self._owner.session_ended(self)

    def _restart_idle_timer(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self.loop.call_later(self._idle_seconds, self._hang_up_idle)

    def _hang_up_idle(self) -> None:
        log.info("SMTP session from %r closed: silent for %ss", self.session.peer if self.session else None,
                 self._idle_seconds)
        if self.transport is not None:
            self.transport.close()

    async def smtp_MAIL(self, arg: str | None) -> None:
        with self._transaction_dropped_on_error():
            if self._owner.is_stopping:
                self.goodbye(SHUTTING_DOWN)
                return
            declared, limit = _declared_size(arg), self.size_limit
            if declared is not None and declared > limit:
                # RFC 1870 section 6.1: a declared SIZE over the limit is refused at MAIL with 552.
                # Not at RCPT: RFC 5321 section 4.5.3.1.10 tells clients to read a 552 there as temporary.
                reply = TOO_LARGE.format(limit=limit)
                self._owner.refused("too_large", reply, self.session.peer if self.session else None, _sender(arg), ())
                await self.push(reply)
                return
            await super().smtp_MAIL(arg)

    async def smtp_HELO(self, arg: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_HELO(arg)
        finally:
            self._verbatim = False

    async def smtp_EHLO(self, arg: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_EHLO(arg)
        finally:
            self._verbatim = False

    async def smtp_RCPT(self, arg: str | None) -> None:
        with self._transaction_dropped_on_error():
            await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        try:
            with self._transaction_dropped_on_error():
                await super().smtp_DATA(arg)
        finally:
            self._in_data = False
        if self._owner.is_stopping:
            self.goodbye(SHUTTING_DOWN)

    @contextmanager
    def _transaction_dropped_on_error(self) -> Iterator[None]:
        """A MAIL, RCPT or DATA that raises is answered 451 (the handler's handle_exception) and the
        client may try again at once: its half-made envelope goes, or that MAIL would get "503 nested MAIL"."""
        try:
            yield
        except Exception:
            self.envelope = self._create_envelope()
            raise

    async def push(self, status: AnyStr) -> None:
        if self._in_data and isinstance(status, str):
            status = self._refusal_in_data(status)  # type: ignore[assignment]
        if isinstance(status, str) and not self._verbatim:
            status = with_enhanced_code(status)  # type: ignore[assignment]
        await super().push(status)

    def _refusal_in_data(self, status: str) -> str:
        """aiosmtpd refuses an oversized DATA or line itself, in its own words: say it our way, and record it."""
        envelope, peer = self.envelope, self.session.peer if self.session else None
        sender, rcpts = (envelope.mail_from, envelope.rcpt_tos) if envelope else (None, [])
        if status.startswith(AIOSMTPD_TOO_MUCH_DATA):
            # Refused only after reading the whole DATA: RFC 5321 section 4.2.5 wants the reply after the final dot.
            reply = TOO_LARGE.format(limit=self.size_limit)
            self._owner.refused("too_large", reply, peer, sender, rcpts)
            return reply
        if status.startswith(AIOSMTPD_LINE_TOO_LONG):
            self._owner.refused("line_too_long", LINE_TOO_LONG, peer, sender, rcpts)
            return LINE_TOO_LONG
        return status


def with_enhanced_code(reply: str) -> str:
    """A final 2yz, 4yz or 5yz reply with an RFC 3463 enhanced code after its basic one, keeping one
    it has; 220 (the greeting, STARTTLS) and 3yz intermediate replies as they are."""
    code, sep, text = reply[:3], reply[3:4], reply[4:]
    if not code.isdigit() or code[0] not in "245" or code == "220" or sep not in (" ", "-", "") or _ENHANCED.match(text):
        return reply
    enhanced = _ENHANCED_BY_CODE.get(code, f"{code[0]}.0.0")
    return f"{code}{sep or ' '}{enhanced} {text}".rstrip()


def _declared_size(arg: str | None) -> int | None:
    """The SIZE= parameter of a MAIL command (RFC 1870), if any."""
    match = _SIZE_PARAM.search(arg or "")
    return int(match.group(1)) if match else None


def _sender(arg: str | None) -> str:
    """The reverse-path of a MAIL argument, roughly, for a log line."""
    rest = (arg or "")[5:].strip()  # after "FROM:"
    return rest.split(">", 1)[0].lstrip("<") if rest.startswith("<") else rest.split(" ", 1)[0]
