"""The HTTP endpoint: GET /healthz and /metrics for operations, and the admin's /admin pages.

A deliberately tiny HTTP/1.1 server on the service's own event loop: a few read-only pages need
no framework. This module reads requests, routes them, checks the admin token and writes the
responses, with the admin pages' security headers; `inbox.web.admin` builds those pages. It
never changes anything, never blocks the loop (the health check and the pages reach the
database in threads), never shows an admin page without the token, and never writes the token
into a page or a log: the access log line of each request names its path, never its query.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from inbox.web import pages
from inbox.web.admin import ADMIN, AdminPages

log = logging.getLogger(__name__)
access = logging.getLogger("inbox.web.access")

Health = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
MAX_REQUEST_BYTES = 8192  # request line and headers; we take no bodies
MAX_QUERY_FIELDS = 20
READ_SECONDS = 10
COOKIE = "inbox_admin"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 section 5.6.2

# The email HTML shown in a srcdoc iframe inherits this policy (Chromium, Firefox): its inline
# styles need style-src 'unsafe-inline'; its scripts and remote images stay blocked, so a preview
# never runs a template's script nor tells a tracking pixel that an admin looked.
ADMIN_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                "frame-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),  # a preview shows a customer's ticket: no copy left in a cache
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: list[tuple[str, str]]  # in the order given; blank values kept
    headers: list[tuple[str, str]]  # names lower-cased

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpEndpoint:
    def __init__(self, host: str, port: int, health: Health, metrics: Callable[[], Awaitable[str]],
                 admin: AdminPages | None = None, signin_failed: Callable[[], None] = lambda: None) -> None:
        self._host = host
        self._signin_failed = signin_failed  # each admin request with a wrong or missing token
        self._port = port
        self._health = health
        self._metrics = metrics
        self._admin = admin
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        # The stream limit makes a head longer than MAX_REQUEST_BYTES a LimitOverrunError.
        self._server = await asyncio.start_server(self._serve, self._host, self._port, limit=MAX_REQUEST_BYTES)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=READ_SECONDS)
        except asyncio.LimitOverrunError:
            await _send(writer, Response(431, TEXT, b"request head too large\n"), with_body=True)
            return
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        started = time.monotonic()
        request = _parse(head)
        if request is None:
            await _send(writer, Response(400, TEXT, b"bad request\n"), with_body=True)
            return
        try:
            response = await self._respond(request)
        except Exception:  # noqa: BLE001 - a broken page must not take the service down
            log.exception("HTTP endpoint failed on %s %s", request.method, request.path)
            response = Response(500, TEXT, b"internal error\n")
        if _is_admin(request.path):
            response.headers.extend(ADMIN_HEADERS)
        await _send(writer, response, with_body=request.method != "HEAD")
        # The path only: a query may hold ?token=, and headers a bearer token or the cookie.
        access.info("%s %s %d %.1f ms", request.method, request.path, response.status,
                    (time.monotonic() - started) * 1000)

    async def _respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, TEXT, b"only GET\n", [("Allow", "GET, HEAD")])
        if request.path == "/healthz":
            ok, detail = await self._health()
            return Response(200 if ok else 503, "application/json", json.dumps({"ok": ok, **detail}, default=str).encode())
        if request.path == "/metrics":
            return Response(200, "text/plain; version=0.0.4", (await self._metrics()).encode())
        if _is_admin(request.path):
            return await self._admin_page(request)
        return Response(404, "text/plain", b"not found\n")

    async def _admin_page(self, request: Request) -> Response:
        admin = self._admin
        if admin is None:
            return _html(404, pages.message("Preview pages off", "the preview pages are off: set http.admin_token_env"))
        offered = request.param("token")
        if offered is not None:
            if not _is_token(offered, admin.token):
                return self._refused(request.path, "a wrong token in the address")
            return _signed_in(request, admin.token)
        presented = [*_bearer(request), *_cookies(request)]
        if not presented:
            return _refused(request.path)  # the sign-in page: not yet a failed sign-in
        if not any(_is_token(value, admin.token) for value in presented):
            return self._refused(request.path, "a wrong token")
        status, document = await admin.page(request.path, dict(request.query))
        return _html(status, document)


    def _refused(self, path: str, why: str) -> Response:
        log.warning("admin sign-in failed on %s: %s", path, why)  # never the token offered
        self._signin_failed()
        return _refused(path)


def _parse(head: bytes) -> Request | None:
    """The request line and headers; None when they are not HTTP/1.x as we take it."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[1].startswith("/") or not parts[2].startswith("HTTP/1."):
        return None
    method, target, _ = parts
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            return None  # RFC 9112 section 5.1: a field name is a token, with no space before the colon
        headers.append((name.lower(), value.strip()))
    split = urlsplit(target)
    try:
        query = parse_qsl(split.query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        return None
    return Request(method=method, path=unquote(split.path), query=query, headers=headers)


def _is_admin(path: str) -> bool:
    return path == ADMIN or path.startswith(ADMIN + "/")


def _is_token(offered: str, token: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, and a token may have some.
    return hmac.compare_digest(offered.encode("utf-8"), token.encode("utf-8"))


def _bearer(request: Request) -> list[str]:
    found = []
    for value in request.header("authorization"):
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():  # RFC 6750 section 2.1
            found.append(credentials.strip())
    return found


def _cookies(request: Request) -> list[str]:
    found = []
    for value in request.header("cookie"):
        for pair in value.split(";"):
            name, equals, content = pair.strip().partition("=")
            if equals and name == COOKIE:
                found.append(unquote(content))
    return found


def _signed_in(request: Request, token: str) -> Response:
    """The token moves into a cookie and out of the address bar (and the browser's history)."""
    rest = [(key, value) for key, value in request.query if key != "token"]
    location = quote(request.path) + (f"?{urlencode(rest)}" if rest else "")
    # Percent-encoded: a cookie value may not hold a space, a comma, a semicolon or a quote (RFC 6265).
    cookie = f"{COOKIE}={quote(token, safe='')}; HttpOnly; SameSite=Strict; Path={ADMIN}"
    return _html(303, pages.moved(location), [("Location", location), ("Set-Cookie", cookie)])


def _refused(path: str) -> Response:
    return _html(401, pages.sign_in(path), [("WWW-Authenticate", "Bearer")])


def _html(status: int, document: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, HTML, document.encode("utf-8"), list(headers or []))


async def _send(writer: asyncio.StreamWriter, response: Response, *, with_body: bool) -> None:
    phrase = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {phrase}", f"Content-Type: {response.content_type}",
             f"Content-Length: {len(response.body)}", "Connection: close",
             *(f"{name}: {value}" for name, value in response.headers)]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (response.body if with_body else b""))
    try:
        await writer.drain()
    except ConnectionError:
        pass  # the client went away: nothing to tell it
    finally:
        writer.close()
