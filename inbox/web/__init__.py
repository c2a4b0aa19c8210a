"""The HTTP endpoint of `inbox serve`: /healthz and /metrics, and the admin's template pages.

On aiohttp.web. `server` owns the application, the access log and the headers; `guard` signs
admins in and checks every POST (sessions and CSRF tokens from `sessions`); `admin` answers the
template list and previews, `editor` the editor, history, rollback and reset (HTML from `pages`
and `editor_pages`). Callers need only `HttpEndpoint`, `AdminPages` and `Admins`, which the
composition root fills. Never imports the outbound side: previews and versions arrive as
callables and the `TemplateVersions` protocol.
"""

from inbox.web.admin import AdminPages
from inbox.web.server import HttpEndpoint
from inbox.web.sessions import Admin, Admins

__all__ = ["Admin", "AdminPages", "Admins", "HttpEndpoint"]
