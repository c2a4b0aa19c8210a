"""The door of the admin pages: sign-in by a form, the session cookie, and the checks on every POST.

A GET of an admin page needs a session cookie (or, from a script, `Authorization: Bearer TOKEN`);
without one it answers 401 with the sign-in form. A POST needs a session cookie, the session's
CSRF token in the form, and no Origin or Referer naming another site; a Bearer header never
authorises a POST (a script changes templates with `inbox templates`). A token in an address is
refused with a pointer to the form: it would stay in the browser's history and a proxy's log.

Each refusal is logged by its reason and path, never by what was offered; a wrong token is also
counted (`signin_failed`). The handler gets the admin's name in `request["admin"]`, and the CSRF
token for its forms in `request["csrf"]`.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from inbox.web import pages
from inbox.web.sessions import LIFETIME, Admins

log = logging.getLogger(__name__)

ADMIN = "/admin"
SIGN_IN = f"{ADMIN}/sign-in"
SIGN_OUT = pages.SIGN_OUT
# Open to anyone: the form to sign in, and the editor's script (no secret in it).
PUBLIC = frozenset({SIGN_IN, pages.SCRIPT})
COOKIE = "inbox_admin"
# What the guard tells the page it lets through: who is signed in, and the CSRF token of their forms.
ADMIN_NAME = web.RequestKey("admin", str)
CSRF = web.RequestKey("csrf", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guard:
    def __init__(self, admins: Admins, signin_failed: Callable[[], None], home: str) -> None:
        self._admins = admins
        self._signin_failed = signin_failed
        self._home = home  # where a sign-in goes when it names no page

    def install(self, app: web.Application) -> None:
        app.router.add_post(SIGN_IN, self.sign_in)
        app.router.add_get(SIGN_IN, self.form)
        app.router.add_post(SIGN_OUT, self.sign_out)
        app.middlewares.append(self._checked)

    @web.middleware
    async def _checked(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not (path == ADMIN or path.startswith(ADMIN + "/")) or path in PUBLIC:
            return await handler(request)
        if "token" in request.query:
            self._failed(path, "a token in the address (refused: the sign-in form takes it)")
            return _html(400, pages.token_in_address(SIGN_IN))
        cookie = request.cookies.get(COOKIE)
        session = self._admins.session(cookie) if cookie else None
        if request.method in ("GET", "HEAD"):
            if session is not None and cookie is not None:
                _let_in(request, session.admin, self._admins.csrf(cookie))
                return await handler(request)
            bearer = _bearer(request)
            if bearer is not None:
                name = self._admins.by_token(bearer)
                if name is None:
                    self._failed(path, "a wrong token in an Authorization header")
                    return self._sign_in_page(request.path_qs)
                _let_in(request, name, "")  # a script reads; it posts no form
                return await handler(request)
            if cookie:
                log.info("admin session refused on %s: stale, signed out or not ours", path)
            return self._sign_in_page(request.path_qs)
        refusal = await self._post_refusal(request, cookie)
        if refusal is not None or session is None or cookie is None:
            log.warning("admin POST refused on %s: %s", path, refusal)
            return _html(403, pages.message("Refused", f"this form was refused: {refusal}. Open the page again "
                                                       "and send it from there.", self._home))
        _let_in(request, session.admin, self._admins.csrf(cookie))
        return await handler(request)

    async def _post_refusal(self, request: web.Request, cookie: str | None) -> str | None:
        """Why this POST may not go on, or None: another site, no live session, no CSRF token of it."""
        refusal = _other_origin(request)
        if refusal is not None:
            return refusal
        if cookie is None or self._admins.session(cookie) is None:
            return "no session (signed out, expired or forged)"
        offered = (await request.post()).get("csrf")
        if not isinstance(offered, str) or not self._admins.is_csrf(cookie, offered):
            return "a missing or wrong CSRF token"
        return None

    async def form(self, request: web.Request) -> web.Response:
        return self._sign_in_page(_next(request.query.get("next")) or self._home, status=200)

    async def sign_in(self, request: web.Request) -> web.Response:
        refusal = _other_origin(request)
        if refusal is not None:
            log.warning("admin sign-in refused: %s", refusal)
            return _html(403, pages.message("Refused", f"sign-in refused: {refusal}", SIGN_IN))
        form = await request.post()
        offered, wanted = form.get("token"), _next(form.get("next")) or self._home
        name = self._admins.by_token(offered) if isinstance(offered, str) and offered else None
        if name is None:
            self._failed(SIGN_IN, "a wrong token in the sign-in form")
            return self._sign_in_page(wanted, wrong=True)
        log.info("%s signed in to the admin pages", name)
        response = see_other(wanted)
        response.set_cookie(COOKIE, self._admins.open(name), httponly=True, samesite="Strict", path=ADMIN,
                            secure=_is_https(request), max_age=int(LIFETIME.total_seconds()))
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        cookie = request.cookies.get(COOKIE)
        if cookie:
            self._admins.close(cookie)
        log.info("%s signed out of the admin pages", request[ADMIN_NAME])
        response = see_other(SIGN_IN)
        response.del_cookie(COOKIE, path=ADMIN)
        return response

    def _failed(self, path: str, why: str) -> None:
        log.warning("admin sign-in failed on %s: %s", path, why)  # never the token offered
        self._signin_failed()

    def _sign_in_page(self, wanted: str, *, status: int = 401, wrong: bool = False) -> web.Response:
        response = _html(status, pages.sign_in(SIGN_IN, wanted, wrong=wrong))
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response


def _let_in(request: web.Request, admin: str, csrf: str) -> None:
    request[ADMIN_NAME], request[CSRF] = admin, csrf


def see_other(location: str) -> web.Response:
    """303: after a POST, the browser GETs the next page (a reload never posts twice)."""
    return web.Response(status=303, headers={"Location": location})


def _other_origin(request: web.Request) -> str | None:
    """Why this POST comes from another site, or None. A browser names the page's origin in
    Origin (and, under our same-origin referrer policy, in Referer); neither may name another
    host. "Origin: null" (a sandboxed frame, a file) is another origin too."""
    here = {request.host.lower(), *(h.lower() for h in request.headers.getall("X-Forwarded-Host", []))}
    origin = request.headers.get("Origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() not in here):
        return "Origin names another site"
    referer = request.headers.get("Referer")
    if referer is not None and urlsplit(referer).netloc.lower() not in here:
        return "Referer names another site"
    return None


def _bearer(request: web.Request) -> str | None:
    for value in request.headers.getall("Authorization", []):
        scheme, _, credentials = value.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():  # RFC 6750 section 2.1
            return credentials.strip()
    return None


def _next(value: object) -> str | None:
    """A page of ours to go to after signing in; never another site (an open redirect)."""
    if not isinstance(value, str) or not value.startswith(ADMIN + "/") or "//" in value or "\\" in value:
        return None
    return value if value not in (SIGN_IN, SIGN_OUT) else None


def _is_https(request: web.Request) -> bool:
    # Behind a proxy that ends TLS the request is plain HTTP; the proxy's header says what the browser used.
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _html(status: int, document: str) -> web.Response:
    return web.Response(status=status, text=document, content_type="text/html", charset="utf-8")
