"""The HTTP endpoint of `inbox serve`: /healthz and /metrics, and the admin's template pages.

`server` reads requests, routes them and checks the admin token; `admin` answers the /admin
paths; `pages` builds their HTML. Callers need only `HttpEndpoint` (and `AdminPages`, which the
composition root fills). Never imports the outbound side: previews arrive as callables.
"""

from inbox.web.admin import AdminPages
from inbox.web.server import HttpEndpoint

__all__ = ["AdminPages", "HttpEndpoint"]
