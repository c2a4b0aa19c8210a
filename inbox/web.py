"""The operations endpoint: GET /healthz and GET /metrics on a loopback port.

A deliberately tiny HTTP/1.1 server on the service's own event loop: two
read-only pages need no framework. Never changes anything; never blocks the
loop (the health check's database probe runs in a thread).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

Health = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
MAX_REQUEST_BYTES = 8192


class HttpEndpoint:
    def __init__(self, host: str, port: int, health: Health, metrics: Callable[[], Awaitable[str]]) -> None:
        self._host = host
        self._port = port
        self._health = health
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            method, _, rest = head[:MAX_REQUEST_BYTES].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            status, content_type, body = await self._respond(method, path)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        except Exception:  # noqa: BLE001 - a broken page must not take the service down
            log.exception("operations endpoint failed")
            status, content_type, body = "500 Internal Server Error", "text/plain", b"internal error\n"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode() + body
        )
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _respond(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"only GET\n"
        if path == "/healthz":
            ok, detail = await self._health()
            body = json.dumps({"ok": ok, **detail}, default=str).encode()
            return ("200 OK" if ok else "503 Service Unavailable"), "application/json", body
        if path == "/metrics":
            return "200 OK", "text/plain; version=0.0.4", (await self._metrics()).encode()
        return "404 Not Found", "text/plain", b"not found\n"
