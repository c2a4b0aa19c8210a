"""The HTTP endpoint: GET /healthz and /metrics for operations, and the admin's /admin pages.

aiohttp.web on the service's own event loop (an AppRunner and a TCPSite beside aiosmtpd's
listener). This module owns what every request shares: the routes of the operations pages, the
access log line, the size limits, the admin pages' security headers and a 500 for a page that
fails; `inbox.web.guard` decides who is signed in, `inbox.web.admin` and `inbox.web.editor` answer
the /admin paths. It never blocks the loop (the health check and the pages reach the database in
threads) and never writes a token, a cookie or a query string into a log line: the access log line
of each request names its method, path, status and time only.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from inbox.metrics import CONTENT_TYPE as METRICS_TYPE
from inbox.web import pages
from inbox.web.admin import ADMIN, AdminPages

log = logging.getLogger(__name__)
access = logging.getLogger("inbox.web.access")
# aiohttp's own reports of requests it could not parse: a filter keeps their bytes out of the log.
refusals = logging.getLogger("inbox.web.refused")

Health = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
MAX_BODY_BYTES = 256 * 1024  # a template file and its message; aiohttp answers 413 beyond
MAX_HEAD_LINE = 8190  # request line and each header field (aiohttp's own bound, stated here)
MAX_HEADERS = 64
STOP_SECONDS = 5.0  # at stop, how long a page still being answered may finish (aiohttp waits 60 s by default)
HTML = "text/html; charset=utf-8"

# The email HTML shown in a srcdoc iframe inherits this policy (Chromium, Firefox): its inline
# styles need style-src 'unsafe-inline'; its scripts and remote images stay blocked, so a preview
# never runs a template's script nor tells a tracking pixel that an admin looked. The referrer
# policy is same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on a
# form POST (Fetch, "append a request Origin header"), and the guard checks that Origin.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "frame-src 'self'; frame-ancestors 'none'; form-action 'self'")
ADMIN_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),  # a preview shows a customer's ticket: no copy left in a cache
)


class HttpEndpoint:
    def __init__(self, host: str, port: int, health: Health, metrics: Callable[[], Awaitable[str]],
                 admin: AdminPages | None = None, signin_failed: Callable[[], None] = lambda: None) -> None:
        self._host = host
        self._port = port
        self._health = health
        self._metrics = metrics
        self._admin = admin
        self._signin_failed = signin_failed  # each failed sign-in: a wrong token, by form or header
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        assert self._runner is not None and self._runner.addresses
        return int(self._runner.addresses[0][1])

    def application(self) -> web.Application:
        """The aiohttp application (for a test client or another runner)."""
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._logged])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        if self._admin is not None:
            self._admin.install(app, self._signin_failed)
        else:
            app.router.add_route("*", ADMIN, _off)
            app.router.add_route("*", ADMIN + "/{rest:.*}", _off)
        return app

    async def start(self) -> None:
        refusals.addFilter(_without_bytes)
        self._runner = web.AppRunner(self.application(), handle_signals=False, shutdown_timeout=STOP_SECONDS,
                                     access_log=None, logger=refusals,
                                     max_line_size=MAX_HEAD_LINE, max_field_size=MAX_HEAD_LINE,
                                     max_headers=MAX_HEADERS)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _logged(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
        started = time.monotonic()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # aiohttp's own answers (404, 405, 413 ...), raised on
            _finish(request, exc, started)
            raise
        except Exception:  # noqa: BLE001 - a broken page must not take the service down
            log.exception("HTTP endpoint failed on %s %s", request.method, request.path)
            response = web.Response(status=500, text="internal error\n")
        _finish(request, response, started)
        return response

    async def _healthz(self, request: web.Request) -> web.Response:
        ok, detail = await self._health()
        return web.Response(status=200 if ok else 503, content_type="application/json",
                            text=json.dumps({"ok": ok, **detail}, default=str))

    async def _metrics_page(self, request: web.Request) -> web.Response:
        # prometheus-client's exposition (generate_latest on the service's registry, inbox/metrics.py).
        return web.Response(status=200, body=(await self._metrics()).encode("utf-8"),
                            headers={"Content-Type": METRICS_TYPE})


def _finish(request: web.Request, response: web.StreamResponse, started: float) -> None:
    if _is_admin(request.path):
        for name, value in ADMIN_HEADERS:
            response.headers.setdefault(name, value)  # the editor page widens its own policy
    # The path only: a query, a header or a cookie may hold what no log should.
    access.info("%s %s %d %.1f ms", request.method, request.path, response.status,
                (time.monotonic() - started) * 1000)


async def _off(request: web.Request) -> web.Response:
    return web.Response(status=404, content_type="text/html", charset="utf-8",
                        text=pages.message("Admin pages off", "the admin pages are off: set http.admin_token_env "
                                                              "or admins: in the config"))


def _is_admin(path: str) -> bool:
    return path == ADMIN or path.startswith(ADMIN + "/")


def _without_bytes(record: logging.LogRecord) -> bool:
    """aiohttp logs a request it could not parse with the bytes it choked on (an oversized
    Authorization or Cookie header among them): keep the event, drop the bytes."""
    if record.name == refusals.name and record.exc_info:
        error = record.exc_info[1]
        record.msg, record.args = "refused a request it could not read: %s", (type(error).__name__,)
        record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.WARNING, "WARNING"
    return True
