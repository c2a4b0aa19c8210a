"""What the web tests share: a real `HttpEndpoint` on a free loopback port in a thread of its own,
plain HTTP requests, and a client that signs in by the form and keeps its session cookie."""

from __future__ import annotations

import asyncio
import http.client
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from html import unescape
from typing import Any, Callable
from urllib.parse import urlencode

from inbox.web import AdminPages, HttpEndpoint

COOKIE = "inbox_admin"


@contextmanager
def running(admin: AdminPages | None, signin_failed: Callable[[], None] = lambda: None) -> Iterator[int]:
    """An endpoint serving `admin` on a free loopback port, on its own loop in a thread: the port."""

    async def health() -> tuple[bool, dict[str, Any]]:
        return True, {"database": "ok"}

    async def metrics() -> str:
        return ""

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    endpoint = HttpEndpoint("127.0.0.1", 0, health, metrics, admin=admin, signin_failed=signin_failed)
    asyncio.run_coroutine_threadsafe(endpoint.start(), loop).result(10)
    try:
        yield endpoint.port
    finally:
        asyncio.run_coroutine_threadsafe(endpoint.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass
class Reply:
    status: int
    headers: Message
    body: str

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]*)"', self.body)
        assert found, "no CSRF token on the page"
        return unescape(found[1])


def fetch(port: int, path: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
          body: bytes | None = None) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read().decode("utf-8"))
    finally:
        conn.close()


def form(fields: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    return urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Client:
    """A browser as far as the guard can tell: a session cookie, an Origin on each POST."""

    port: int
    cookie: str | None = None
    origin: str | None = None  # None: this server's own
    extra: dict[str, str] = field(default_factory=dict)

    def sign_in(self, token: str, next_page: str = "/admin/templates") -> Reply:
        reply = self.post("/admin/sign-in", {"token": token, "next": next_page}, csrf=False)
        if reply.status == 303:
            self.cookie = reply.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
        return reply

    def get(self, path: str) -> Reply:
        return fetch(self.port, path, headers=self._headers())

    def post(self, path: str, fields: Mapping[str, str], *, csrf: bool | str = True) -> Reply:
        fields = dict(fields)
        if csrf is True:
            fields["csrf"] = self.get("/admin/templates").csrf()
        elif isinstance(csrf, str):
            fields["csrf"] = csrf
        body, headers = form(fields)
        origin = self.origin or f"http://127.0.0.1:{self.port}"
        return fetch(self.port, path, method="POST", body=body, headers={**headers, **self._headers(), "Origin": origin})

    def _headers(self) -> dict[str, str]:
        headers = {"Host": f"127.0.0.1:{self.port}", **self.extra}
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        return headers
