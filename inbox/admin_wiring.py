"""The admin pages wired for `inbox serve`: who may sign in (http.admin_token_env's holder as
"admin", and each of `admins:`), why the pages are off when no one may, and the pages themselves
with the template versions and the preview that takes candidate texts.

Builds, never serves (`inbox.web` serves); reads tokens from the environment and never logs one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from inbox.app import MIN_TOKEN, App
from inbox.settings import Settings, read_secret

if TYPE_CHECKING:
    from inbox.domain.template_versions import TemplateVersions
    from inbox.web.admin import AdminPages
    from inbox.web.sessions import Admin

RECENT_TICKETS = 50  # the preview page's ticket chooser
log = logging.getLogger(__name__)


def admin_pages(app: App, versions: TemplateVersions | None = None, *, editor: bool = False) -> AdminPages | None:
    """The admin pages, on when the config names at least one admin whose token is set: the
    template previews, and with `versions` (or `editor`: the app's) the template editor."""
    admins = admins_of(app.settings)
    if not admins:
        return None
    # Loaded only for pages that are on: the renderer and the versions bring Jinja2 and the templates.
    from autoresponder.render import KINDS, TemplateError
    from inbox.store.tickets import recent_tickets
    from inbox.web.admin import AdminPages
    from inbox.web.sessions import Admins

    if versions is None and editor:
        versions = app.template_versions()

    def tickets() -> list[tuple[str, str]]:
        with app.sessions() as session:
            return recent_tickets(session, RECENT_TICKETS)

    return AdminPages(
        admins=Admins(admins, app.clock.now),
        kinds=list(KINDS),
        preview=app.preview,
        template_error=TemplateError,
        tickets=tickets,
        customers=[(c.id, c.name) for c in app.settings.customers],
        problems=lambda: [r.as_dict() for r in app.renderer().problems()],
        versions=versions,
    )


def admins_of(settings: Settings) -> list[Admin]:
    """Who may sign in: http.admin_token_env's holder as "admin", and each of `admins:`. One whose
    variable is unset, or holds a token too short to protect anything, is left out (and logged)."""
    from inbox.web.sessions import Admin

    named = [("admin", settings.http.admin_token_env)] if settings.http.admin_token_env else []
    named += [(admin.name, admin.token_env) for admin in settings.admins]
    found: list[Admin] = []
    for name, env in named:
        token = read_secret(env)
        if not token:
            if name != "admin":  # http.admin_token_env unset is how the pages stay off; a named admin is meant
                log.warning("admin %s is off: the environment variable %s is not set", name, env)
            continue
        if len(token) < MIN_TOKEN:
            log.warning("admin %s is off: %s holds %d characters, fewer than %d", name, env, len(token), MIN_TOKEN)
        elif any(token == other.token for other in found):
            log.warning("admin %s is off: %s holds the token of another admin (a token names one person)", name, env)
        else:
            found.append(Admin(name, token))
    return found


def admin_off(app: App) -> str | None:
    """Why the admin pages are off, in words for an operator; None when they are on."""
    settings = app.settings
    named = [settings.http.admin_token_env] if settings.http.admin_token_env else []
    named += [admin.token_env for admin in settings.admins]
    if not named:
        return "no admin in the config (http.admin_token_env or admins:)"
    if admins_of(settings):
        return None
    return "; ".join(f"${env} is not set" if not read_secret(env) else f"${env} holds fewer than {MIN_TOKEN} characters"
                     for env in named)
