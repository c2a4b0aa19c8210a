"""`inbox mailbox authorize | check`: an OAuth mailbox's consent, once, and a look at a mailbox
without touching its mail (inbox.oauth, inbox.receive.mailbox).

Each handler imports what it needs when it runs: `import inbox.cli` stays light (msal, google-auth
and authlib load only here, and only for an OAuth login). Never prints a secret or a token: only
where the refresh token was stored and when the access token expires.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from inbox.cli_args import ErrorKind, Failure, UsageError

if TYPE_CHECKING:
    from inbox.app import App


def _oauth_of(app: App, name: str) -> tuple[str, Any, str]:
    """The login named `name`: (user, its auth: settings or None, label); UsageError when unknown."""
    for mailbox in app.settings.imap:
        if mailbox.name == name:
            return mailbox.username, mailbox.auth, f"mailbox {name}"
    out = app.settings.outbound
    if name == "outbound" and out.transport == "smtp":
        return out.username or "", out.auth, "outbound relay"
    raise UsageError(f'no mailbox "{name}" in the config (mailboxes: {", ".join(m.name for m in app.settings.imap)})')


def authorize(app: App, args: argparse.Namespace) -> int:
    from inbox.oauth import TokenError
    from inbox.oauth.device import DeviceCode, authorize

    _, auth, label = _oauth_of(app, args.name)
    if auth is None:
        raise UsageError(f"{label} logs in with a password: authorize is for auth: {{method: oauth2}}")

    def show(code: DeviceCode) -> None:
        # Shown at once: a person has to act on it while this command waits.
        print(code.message or f"Open {code.verification_uri} and enter the code {code.user_code}",
              file=sys.stderr if args.json else sys.stdout, flush=True)

    try:
        path = authorize(auth, show)
    except TokenError as exc:
        raise Failure(ErrorKind.OAUTH, f"{label}: not authorized: {exc}", 1) from exc
    document = {"name": args.name, "stored": str(path)}
    print(json.dumps(document) if args.json else f"{label}: the refresh token is in {path} (mode 0600)")
    return 0


def check(app: App, args: argparse.Namespace) -> int:
    from inbox.receive.mailbox import (
        ImapMailboxClient,
        MailboxRefused,
        MailboxUnavailable,
    )

    mailbox = next((m for m in app.settings.imap if m.name == args.name), None)
    if mailbox is None:
        _oauth_of(app, args.name)  # raises the usage error naming the mailboxes
        raise UsageError(f'"{args.name}" is not a mailbox')
    tokens = app.token_source(mailbox.auth, login=mailbox.username, label=f"mailbox {mailbox.name}") \
        if mailbox.auth else None
    try:
        client = ImapMailboxClient(mailbox, tokens=tokens)
        try:
            folders, messages = client.survey(mailbox.folder)
        finally:
            client.close()
    except (MailboxUnavailable, MailboxRefused) as exc:
        raise Failure(ErrorKind.MAILBOX, f"mailbox {mailbox.name}: {exc}", 1) from exc
    due = client.login_due_at()
    document = {"name": mailbox.name, "host": mailbox.host, "port": mailbox.port, "username": mailbox.username,
                "auth": f"oauth2 {mailbox.auth.provider}" if mailbox.auth else "password",
                "folder": mailbox.folder, "messages": messages, "folders": folders,
                "token_expires_at": tokens.token().expires_at.isoformat() if tokens else None,
                "login_renewed_after": due.isoformat() if due else None}
    if args.json:
        print(json.dumps(document))
    else:
        for key, value in document.items():
            print(f"{key:<20} {', '.join(value) if isinstance(value, list) else value}")
    return 0
