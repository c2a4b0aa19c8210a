"""Hand composed bytes to the outside world: an SMTP relay, a Maildir folder, or memory (tests).

Its job: deliver one message to its envelope recipients and say how a failure should be
treated: `TemporarySendError` (a 4xx reply, a network error, a timeout: try again later,
RFC 5321 section 4.2.1) or `PermanentSendError` (a 5xx reply: this message will not go).
Return normally only when the receiving side accepted responsibility for the message. A
transport may keep a connection open between sends; its optional `close()` lets it go (the
dispatcher calls it at the end of each turn).

It never: composes or changes the message, retries (the outbox decides when), logs
credentials, or raises any other exception from `send()` for a delivery problem.
"""

from __future__ import annotations

import mailbox
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from inbox.oauth import AccessToken, TokenError, TokenSource, xoauth2


class SendError(Exception):
    """A delivery that did not happen. `recipients` maps each refused address to (code, reply)."""

    def __init__(self, message: str, code: int | None = None,
                 recipients: dict[str, tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.recipients = dict(recipients or {})


class TemporarySendError(SendError):
    """4xx, network trouble, timeouts: the same message may succeed later."""


class PermanentSendError(SendError):
    """5xx: sending the same message again will fail the same way."""


class RelayCannotCarry(PermanentSendError):
    """The relay lacks an extension this message needs (SMTPUTF8): the relay's shortcoming, not the
    recipient's address; no retry helps until the relay changes."""


def needs_smtputf8(message: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> bool:
    """Whether an envelope address or a header is beyond ASCII (an SMTPUTF8 address, RFC 6531):
    then only a relay that offers SMTPUTF8 may take the message. Our bodies are 7-bit: the head tells."""
    head, _, _ = message.partition(b"\r\n\r\n")
    return not (head.isascii() and mail_from.isascii() and all(rcpt.isascii() for rcpt in rcpt_tos))


class MailTransport(Protocol):
    def send(self, message: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> None: ...


def close_transport(transport: MailTransport) -> None:
    """Let go of what a transport holds between sends (an SMTP connection), when it holds anything:
    `close()` is optional, `send()` is the whole seam."""
    close = getattr(transport, "close", None)
    if callable(close):
        close()


def _envelope(mail_from: str, rcpt_tos: Sequence[str]) -> list[str]:
    """The recipients as a list, once the envelope is known to be sendable at all."""
    if isinstance(rcpt_tos, str) or not rcpt_tos:  # a bare str would be sent letter by letter
        raise PermanentSendError("no recipients: rcpt_tos must be a non-empty list of addresses")
    if any("\r" in a or "\n" in a for a in (mail_from, *rcpt_tos)):
        # A line break would end the MAIL/RCPT command and start another (RFC 5321 section 2.3.8).
        raise PermanentSendError("an envelope address contains a line break")
    return list(rcpt_tos)


def _classified(code: int | None, message: str, recipients: dict[str, tuple[int, str]] | None = None) -> SendError:
    # RFC 5321 section 4.2.1: 5yz is permanent; anything else (4yz, or no reply) may pass later.
    kind = PermanentSendError if code is not None and 500 <= code < 600 else TemporarySendError
    return kind(message, code, recipients)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _refusal(refused: dict[str, tuple[int, bytes]], accepted: int) -> SendError:
    """One error for refused recipients. Any 4xx makes the whole refusal temporary: retrying
    helps those, and a 5xx recipient refuses again. `recipients` says who to retry."""
    recipients = {rcpt: (code, _text(reply)) for rcpt, (code, reply) in refused.items()}
    temporary = [code for code, _ in recipients.values() if not 500 <= code < 600]
    code = temporary[0] if temporary else next(iter(recipients.values()))[0]
    details = "; ".join(f"{rcpt}: {code} {reply}" for rcpt, (code, reply) in recipients.items())
    what = f"{len(recipients)} recipient(s) refused" + (f", {accepted} accepted" if accepted else "")
    return _classified(code, f"{what}: {details}", recipients)


class SmtpTransport:
    """Delivers through an SMTP relay over one connection kept open across sends (`close()` ends it).

    A connection found dead when the next transaction starts (MAIL refused with 421, or the socket
    closed: the relay timed the idle connection out) is opened again once, at no cost of an attempt:
    nothing of that email had been sent. Once MAIL is accepted, a failure is the email's and the
    connection is dropped or reset, never retried here: past DATA the relay may already hold the
    message, and a second transaction would deliver it twice."""

    def __init__(self, host: str, port: int, *, starttls: bool = False, username: str | None = None,
                 password: str | None = None, timeout: float = 30.0, local_hostname: str | None = None,
                 tokens: TokenSource | None = None, on_login: Callable[[str | None], None] | None = None) -> None:
        if not host:
            raise ValueError("SMTP host is empty")
        if not 0 < port < 65536:
            raise ValueError(f"SMTP port {port} is not in 1-65535")
        if timeout <= 0:
            raise ValueError("SMTP timeout must be positive")
        if tokens is not None and (username is None or password is not None):
            raise ValueError("SMTP XOAUTH2 needs a username and no password")
        if tokens is None and (username is None) != (password is None):
            raise ValueError("SMTP username and password go together")
        self.host, self.port, self.starttls, self.timeout = host, port, starttls, timeout
        self.username, self._password, self.local_hostname = username, password, local_hostname
        self._tokens = tokens
        # Hears each login to the relay: None when it worked, else why not (never a secret: the token
        # source's errors are scrubbed, the relay's reply is its own), for /healthz.
        self._on_login = on_login or _unheard
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()  # one transaction at a time on the one connection
        self.connections = 0  # opened so far: what reuse saves, for tests and benchmarks

    def __repr__(self) -> str:  # never the password
        return f"SmtpTransport({self.host!r}, {self.port}, starttls={self.starttls}, username={self.username!r})"

    def send(self, message: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> None:
        rcpts = _envelope(mail_from, rcpt_tos)
        where = f"{self.host}:{self.port}"
        with self._lock:
            try:
                smtp = self._mail_from(mail_from, len(message), needs_smtputf8(message, mail_from, rcpts))
                refused = self._rest(smtp, rcpts, message)
            # smtplib's errors are OSError subclasses: the specific ones come first.
            except smtplib.SMTPRecipientsRefused as exc:
                raise _refusal(exc.recipients, accepted=0) from exc
            except (smtplib.SMTPConnectError, smtplib.SMTPHeloError, smtplib.SMTPAuthenticationError,
                    smtplib.SMTPNotSupportedError) as exc:
                # The relay's greeting, our credentials or its TLS: not this message. Once an admin
                # fixes it the same email goes, so retry rather than let every queued email die.
                code = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else None
                raise TemporarySendError(f"{where}: relay refused the session: {_reply(exc)}", code) from exc
            except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused
                code = exc.smtp_code if exc.smtp_code > 0 else None
                raise _classified(code, f"{where}: {_reply(exc)}") from exc
            except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused connections, timeouts, TLS
                raise TemporarySendError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if refused:
            # Some recipients took it: RFC 5321 section 3.3 makes each RCPT its own decision.
            raise _refusal(refused, accepted=len(rcpts) - len(refused))

    def close(self) -> None:
        """End the connection politely (QUIT), if one is open; the next send opens another."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _quit(smtp)

    def _mail_from(self, mail_from: str, size: int, utf8: bool = False) -> smtplib.SMTP:
        """MAIL FROM on the open connection, or on a new one when that one turns out dead."""
        smtp = self._smtp
        if smtp is not None:
            try:
                self._mail(smtp, mail_from, size, utf8)
                return smtp
            except (smtplib.SMTPServerDisconnected, OSError):
                pass  # the relay hung up while we were idle: nothing of this email was sent
            except smtplib.SMTPSenderRefused as exc:
                if exc.smtp_code != 421:  # 421: the relay is closing this connection (RFC 5321 4.2.2)
                    raise
            self._drop()
        smtp = self._connect()
        self._mail(smtp, mail_from, size, utf8)
        return smtp

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(local_hostname=self.local_hostname, timeout=self.timeout)
        self.connections += 1
        try:
            code, greeting = smtp.connect(self.host, self.port)
            if code != 220:  # smtplib checks the greeting only when the constructor connects
                raise smtplib.SMTPConnectError(code, greeting)
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username is not None:
                self._login(smtp, self.username)
            smtp.ehlo_or_helo_if_needed()
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        return smtp

    def _login(self, smtp: smtplib.SMTP, username: str) -> None:
        """AUTH with the password or XOAUTH2, telling `on_login` how it went: a relay that takes no
        login keeps every email waiting, which the operator must hear of before the customers do."""
        where = f"{self.host}:{self.port}"
        try:
            if self._tokens is not None:
                _xoauth2_login(smtp, username, self._tokens, where)
            else:
                smtp.login(username, self._password or "")
        except TemporarySendError as exc:  # the provider gave no token (its error code, scrubbed)
            self._on_login(str(exc))
            raise
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            self._on_login(f"{where}: relay refused the login: {_reply(exc)}")
            raise
        self._on_login(None)

    def _mail(self, smtp: smtplib.SMTP, mail_from: str, size: int, utf8: bool = False) -> None:
        # As smtplib's sendmail: declare the size when the relay asks for it (RFC 1870).
        options = [f"size={size}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        if utf8:  # RFC 6531 section 3.4: only to a relay that offers SMTPUTF8, and saying so at MAIL
            if not (smtp.does_esmtp and smtp.has_extn("smtputf8")):
                raise RelayCannotCarry(f"{self.host}:{self.port}: the relay does not offer SMTPUTF8, which an "
                                       "address beyond ASCII needs (RFC 6531): not sent")
            options += ["SMTPUTF8", *(["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else [])]
        code, reply = smtp.mail(mail_from, options)
        if code != 250:
            if code == 421:
                self._drop()
            else:
                self._reset(smtp)
            raise smtplib.SMTPSenderRefused(code, reply, mail_from)

    def _rest(self, smtp: smtplib.SMTP, rcpts: list[str], message: bytes) -> dict[str, tuple[int, bytes]]:
        """RCPT and DATA after an accepted MAIL, as smtplib's sendmail; the refused recipients.
        After a failure the connection is reset for the next email, or dropped when it cannot be."""
        try:
            refused: dict[str, tuple[int, bytes]] = {}
            for rcpt in rcpts:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
                if code == 421:
                    raise smtplib.SMTPRecipientsRefused(refused)
            if len(refused) == len(rcpts):
                raise smtplib.SMTPRecipientsRefused(refused)
            code, reply = smtp.data(message)
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            return refused
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self._drop()
            else:
                self._reset(smtp)
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            if any(code == 421 for code, _ in exc.recipients.values()):
                self._drop()
            else:
                self._reset(smtp)
            raise
        except (smtplib.SMTPException, OSError):
            self._drop()  # where the transaction stands is unknown: never reuse this connection
            raise

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """RSET after a refused transaction, so the next email starts clean; a connection that
        does not answer it is dropped."""
        try:
            code, _ = smtp.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._drop()

    def _drop(self) -> None:
        """Hang up without QUIT: after a failure, QUIT could wait out another timeout."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _xoauth2_login(smtp: smtplib.SMTP, user: str, tokens: TokenSource, where: str) -> None:
    """AUTH XOAUTH2 with the initial response; when the relay refuses the token, once more with a
    new one. A token the provider will not give is a temporary failure: the emails wait."""
    # EHLO first (again after STARTTLS): without it smtplib takes the relay's 503 for success.
    smtp.ehlo_or_helo_if_needed()
    token: AccessToken | None = None
    for attempt in range(2):
        try:
            token = tokens.token() if token is None else tokens.renew(token)
        except TokenError as exc:
            raise TemporarySendError(f"{where}: oauth2 {tokens.provider}: no access token: {exc}") from None
        response = xoauth2(user, token)
        try:
            # After a refusal the relay sends a 334 with its reason (base64 JSON): an empty line ends it.
            smtp.auth("XOAUTH2", lambda challenge=None: response if challenge is None else "")
            return
        except smtplib.SMTPAuthenticationError:
            if attempt:
                raise


def _unheard(reason: str | None) -> None:
    return None


def _reply(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return str(exc)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


class MaildirTransport:
    """Writes each message into a Maildir (for development, or a local delivery agent to pick up)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, message: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> None:
        rcpts = _envelope(mail_from, rcpt_tos)
        # RFC 5321 section 4.4: the final delivery records the envelope as Return-Path (and
        # Delivered-To, the Maildir convention), so the file says who it was for.
        envelope = f"Return-Path: <{mail_from}>\r\n" + "".join(f"Delivered-To: {rcpt}\r\n" for rcpt in rcpts)
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            # Maildir.add writes to tmp/, fsyncs, then moves into new/: a reader never sees half a file.
            mailbox.Maildir(self.path, create=False).add(envelope.encode("ascii", "replace") + message)
        except OSError as exc:
            raise TemporarySendError(f"maildir {self.path}: {exc}") from exc


class Sent(NamedTuple):
    message: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]


class MemoryTransport:
    """Keeps what it is given in `sent`; `fail_next(n, exc)` makes the next n sends raise exc."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._failures: list[Exception] = []
        self._lock = threading.Lock()

    def fail_next(self, count: int, error: Exception) -> None:
        with self._lock:
            self._failures.extend([error] * count)

    def send(self, message: bytes, mail_from: str, rcpt_tos: Sequence[str]) -> None:
        rcpts = _envelope(mail_from, rcpt_tos)
        with self._lock:
            if self._failures:
                raise self._failures.pop(0)
            self.sent.append(Sent(bytes(message), mail_from, tuple(rcpts)))
