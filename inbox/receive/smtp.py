"""The SMTP front door: mail for our support addresses in, a committed raw row, then "250".

Its job: speak SMTP (aiosmtpd) on the caller's event loop, accept RCPT TO only for our
own addresses, store each message's bytes and envelope through the group committer
(durable point D1), and only then answer 250. Anything that keeps the bytes from being
committed answers 451 4.3.0, so the sending server keeps the message and retries
(RFC 5321 section 4.2.1: a 4yz reply means "try again later"). This module holds the
listener and that policy; each connection is an `inbox.receive.smtp_session.SmtpSession`.

It must never: relay (any other recipient is 550 5.1.1), parse a message or touch tickets
(it never imports `inbox.ingest` or ticket storage), do blocking I/O on the event loop,
answer 250 before the commit, or answer with aiosmtpd's default "500 Error: (...)", which
is permanent and leaks internals. Every refused message gets one log line (who, to whom,
why) and a count in `inbox_messages_refused_total{source="smtp",reason=...}`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox import logs
from inbox.clock import Clock
from inbox.metrics import Metrics
from inbox.rawstore import RawItem
from inbox.receive.group_commit import BatchLimits, GroupCommitter, RawSink
from inbox.receive.smtp_session import SHUTTING_DOWN, TOO_LARGE, SmtpSession
from inbox.settings import SmtpSettings

SOURCE = "smtp"
ACCEPTED = "inbox_messages_accepted_total"
REFUSED = "inbox_messages_refused_total"
# RFC 5321 section 4.5.3.1.8: a server must accept at least 100 recipients; all must be ours anyway.
MAX_RECIPIENTS = 100

TOO_MANY_SESSIONS = "421 4.3.2 Too many connections, try again later"
TRY_LATER = "451 4.3.0 Message not stored, try again later"
INTERNAL_ERROR = "451 4.3.0 Internal error, try again later"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
NO_SUCH_MAILBOX = "550 5.1.1 No such mailbox here; this server does not relay"
BAD_SENDER = "553 5.1.7 Malformed sender address"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

log = logging.getLogger(__name__)


class ListenerError(RuntimeError):
    """The listener could not start: the address is taken, or the certificate cannot be loaded."""


class SmtpHooks(Protocol):
    """The aiosmtpd handler hooks we implement, typed.

    aiosmtpd finds hooks by their name prefix, so a misspelt hook would silently never
    run: the listener refuses a handler with any `handle_*` name not listed here.
    """

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str: ...

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str: ...

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str: ...

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]: ...

    async def handle_exception(self, error: Exception) -> str: ...


HOOK_NAMES = frozenset(name for name in vars(SmtpHooks) if name.startswith("handle_"))


class SmtpListener:
    """The SMTP server of `inbox serve`, on the running event loop.

    `accepts(address)` says whether a RCPT TO address is one of ours; `store.put_many`
    commits raw messages (RawStore fits); `on_stored()` runs on the loop after each
    commit, to wake the ingest worker: it must be cheap and never block.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        accepts: Callable[[str], bool],
        store: RawSink,
        metrics: Metrics,
        on_stored: Callable[[], None],
        clock: Clock,
        batch: BatchLimits | None = None,
        hostname: str | None = None,
        grace_seconds: float = 30.0,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._hostname = hostname
        self._grace_seconds = grace_seconds
        # A batch closes early once every open session has a message in it or in the commit
        # before it: nobody else could join, so waiting out max_wait would only add latency.
        self._committer = GroupCommitter(
            store, batch or BatchLimits(), on_committed=lambda count: on_stored(), writers=lambda: len(self._sessions)
        )
        self._handler = _Handler(self, self._committer, accepts, clock)
        unknown = {name for name in dir(self._handler) if name.startswith("handle_")} - HOOK_NAMES
        if unknown:
            raise TypeError(f"handler hooks {sorted(unknown)} are not aiosmtpd hooks we declare")
        self._server: asyncio.Server | None = None
        self._tls: ssl.SSLContext | None = None
        self._sessions: weakref.WeakSet[SmtpSession] = weakref.WeakSet()
        self._session_ended = asyncio.Event()
        self._stopping = False

    @property
    def port(self) -> int:
        """The port really bound (settings may say 0: any free port)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the SMTP listener is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def size_limit(self) -> int:
        """The largest message taken, in octets as RFC 1870 counts them (without dot-stuffing)."""
        return self._settings.max_message_bytes

    @property
    def is_stopping(self) -> bool:  # sessions refuse new transactions once stop() began
        return self._stopping

    @property
    def commits(self) -> int:
        """Raw-store transactions attempted so far (one per group of messages)."""
        return self._committer.commits

    async def start(self) -> None:
        """Listen on the configured host and port; raises ListenerError when that is impossible."""
        if self._server is not None:
            raise RuntimeError("the SMTP listener is already started")
        host, port = self._settings.host, self._settings.port
        self._tls = _tls_context(self._settings)
        self._stopping = False
        if self._hostname is None:
            # aiosmtpd would call getfqdn() (a DNS lookup) for every connection, on the loop.
            self._hostname = await asyncio.to_thread(socket.getfqdn)
        self._committer.start()
        try:
            self._server = await asyncio.get_running_loop().create_server(self._new_connection, host, port)
        except OSError as exc:
            await self._committer.close()
            raise ListenerError(f"cannot listen for SMTP on {host}:{port}: {exc.strerror or exc}") from exc
        log.info("SMTP listening on %s:%d%s", host, self.port, " (STARTTLS offered)" if self._tls else "")

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop accepting, let sessions finish the transaction they are in (bounded), then close."""
        server = self._server
        if server is None:
            return
        self._stopping = True
        server.close()
        # RFC 5321 section 3.8: a server that must shut down answers 421 and closes. An idle
        # session is told at once; one inside a transaction is told after its DATA reply.
        for session in list(self._sessions):
            if not session.is_busy:
                session.goodbye(SHUTTING_DOWN)
        grace = self._grace_seconds if grace_seconds is None else grace_seconds
        try:
            async with asyncio.timeout(grace):
                while len(self._sessions):
                    self._session_ended.clear()
                    await self._session_ended.wait()
        except TimeoutError:
            log.warning("%d SMTP sessions still open after %.1fs; closing them", len(self._sessions), grace)
            for session in list(self._sessions):
                session.goodbye(SHUTTING_DOWN)
        await self._committer.close()
        await server.wait_closed()
        self._server = None
        log.info("SMTP listener stopped")

    def accepted(self) -> None:
        """Count one committed message (called by the handler)."""
        self._metrics.inc(ACCEPTED, source=SOURCE)

    def refused(self, reason: str, reply: str, peer: Any, sender: str | None, rcpts: Sequence[str]) -> None:
        """Count a refusal and log it in one line: who, to whom, why, and what they were told."""
        self._metrics.inc(REFUSED, source=SOURCE, reason=reason)
        level = logging.WARNING if reply.startswith("451") else logging.INFO
        log.log(level, "SMTP refused (%s) from=<%s> to=%s peer=%s reply=%r", reason,
                "" if sender is None else sender[:320], ",".join(r[:320] for r in rcpts) or "-", _peer(peer), reply)

    def session_ended(self, session: SmtpSession) -> None:
        self._sessions.discard(session)
        self._session_ended.set()

    def _new_connection(self) -> asyncio.Protocol:
        if self._stopping or len(self._sessions) >= self._settings.max_sessions:
            return _Refuse(self, SHUTTING_DOWN if self._stopping else TOO_MANY_SESSIONS)
        session = SmtpSession(
            self._handler, self, idle_seconds=self._settings.timeout_seconds,
            size_limit=self._settings.max_message_bytes, enable_SMTPUTF8=True, hostname=self._hostname,
            ident="inbox ESMTP", tls_context=self._tls, require_starttls=False, loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session


class _Handler(SmtpHooks):
    """The policy: whose mail we take, and "250" only for committed bytes."""

    def __init__(
        self, listener: SmtpListener, committer: GroupCommitter, accepts: Callable[[str], bool], clock: Clock
    ) -> None:
        self._listener = listener
        self._committer = committer
        self._accepts = accepts
        self._clock = clock

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO lines, with the limit RFC 1870 counts and the extensions we honour:
        PIPELINING (RFC 2920: commands are read in order from one buffer, so a client may send a
        group at once) and ENHANCEDSTATUSCODES (RFC 2034: every reply of ours carries one)."""
        session.host_name = hostname  # what aiosmtpd does itself when no hook is given
        limit = self._listener.size_limit
        lines = [f"250-SIZE {limit}" if line.startswith("250-SIZE") else line for line in responses[:-1]]
        return [*lines, "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if _CONTROL.search(address):
            self._listener.refused("bad_sender", BAD_SENDER, session.peer, address, ())
            return BAD_SENDER
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._accepts(address):
            self._listener.refused("unknown_recipient", NO_SUCH_MAILBOX, session.peer, envelope.mail_from, [address])
            return NO_SUCH_MAILBOX
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            # 452, not 552: RFC 5321 section 4.5.3.1.10, the client sends the rest later.
            self._listener.refused("too_many_recipients", TOO_MANY_RECIPIENTS, session.peer, envelope.mail_from, [address])
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # No Received: line is prepended (RFC 5321 section 4.4 asks for one): the bytes stay as
        # sent, so a retry after a lost 250 dedupes on their hash; the trace (envelope, time,
        # the client's address, which ingest holds to smtp.trusted_peers) is kept beside them.
        data = envelope.original_content or b""
        limit = self._listener.size_limit
        if len(data) > limit:
            # RFC 1870 section 3: the size without the dot-stuffing (aiosmtpd's own bound counts it).
            reply = TOO_LARGE.format(limit=limit)
            self._listener.refused("too_large", reply, session.peer, envelope.mail_from, envelope.rcpt_tos)
            return reply
        item = RawItem(
            data=data,
            source=SOURCE,
            rcpt_tos=tuple(envelope.rcpt_tos),
            envelope_from=_reverse_path(envelope.mail_from),
            received_at=self._clock.now(),
            peer=_peer_address(session.peer),
        )
        try:
            ref = await self._committer.put(item)
        except Exception:  # noqa: BLE001 - whatever kept it from the disk, the sender must retry
            self._listener.refused("store_failed", TRY_LATER, session.peer, envelope.mail_from, envelope.rcpt_tos)
            return TRY_LATER
        self._listener.accepted()
        log.info("SMTP accepted raw #%d from=<%s> to=%s size=%d", ref.id, item.envelope_from,
                 ",".join(item.rcpt_tos), len(item.data),
                 extra={"raw_id": ref.id, "message_id": logs.message_id_of(item.data)})
        return f"250 2.0.0 OK: stored as raw #{ref.id}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session failed: %s: %s", type(error).__name__, error, exc_info=error)
        return INTERNAL_ERROR


class _Refuse(asyncio.Protocol):
    """A connection we cannot take: a 421 greeting, then close (RFC 5321 section 3.1)."""

    def __init__(self, listener: SmtpListener, reply: str) -> None:
        self._listener = listener
        self._reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        reason = "shutting_down" if self._reply == SHUTTING_DOWN else "too_many_sessions"
        self._listener.refused(reason, self._reply, transport.get_extra_info("peername"), None, ())
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._reply.encode("ascii") + b"\r\n")
        transport.close()


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    # Purpose.CLIENT_AUTH: a server context that asks no client certificate.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ListenerError(f"cannot load smtp.tls_cert {settings.tls_cert} / smtp.tls_key {settings.tls_key}: {exc}") from exc
    return context


def _reverse_path(mail_from: str | None) -> str | None:
    # aiosmtpd hands over the null reverse-path of bounces (RFC 5321 section 4.5.5) as "<>":
    # we store "", leaving None for "no envelope at all" (files, IMAP).
    return "" if mail_from == "<>" else mail_from


def _peer_address(peer: Any) -> str:
    """The client's IP address from the socket's peername: (host, port) or (host, port, flow, scope).
    Never None, which would read as "not received by SMTP" and escape smtp.trusted_peers."""
    return str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "unknown")


def _peer(peer: Any) -> str:
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)
