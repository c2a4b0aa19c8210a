"""OAuth bench: IMAP logins and token requests per hour over a simulated day, per provider.

The real poller (ImapPoller.poll_once, one round per poll interval, no IDLE) pulls from a
throwaway Dovecot whose oauth2 passdb checks every XOAUTH2 login by introspection at the loopback
token server of the tests (tests/oauth_server.py), with each provider's own library getting the
tokens. The clock is injected: it is moved one poll interval per round, and the token server
expires tokens by the same clock, so 24 hours take seconds. A few mails arrive every hour so
rounds do real work. Prints, per provider, the logins and token requests in each hour and for
the day, beside the one-login-per-round a client without a token cache would make.
Needs the `dovecot` binary and root (the mail processes run as nobody).

    .venv/bin/python bench/oauth.py [--hours 24] [--poll-seconds 60] [--lifetime 3600]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inbox.app import build_app  # noqa: E402
from inbox.claimant import Claimant  # noqa: E402
from inbox.clock import FixedClock  # noqa: E402
from inbox.metrics import Metrics  # noqa: E402
from inbox.receive.imap import ImapPoller  # noqa: E402
from inbox.receive.mailbox import ImapMailboxClient  # noqa: E402
from inbox.settings import load_settings  # noqa: E402
from inbox.store.migrate import upgrade  # noqa: E402
from tests.dovecot import running_dovecot  # noqa: E402
from tests.fakes import CONFIG, mail  # noqa: E402
from tests.instants import DEFAULT, INSTANTS  # noqa: E402
from tests.oauth_kit import CLIENT_ID, CLIENT_SECRET, PUBLIC_CLIENT, TENANT, service_account_key  # noqa: E402
from tests.oauth_server import RunningTokenServer, TokenServer  # noqa: E402

USER = "support@contoso.com"


def auth_of(provider: str, server: RunningTokenServer, directory: Path) -> str:
    if provider == "microsoft app-only (MSAL)":
        return (f"{{method: oauth2, provider: microsoft, tenant: {TENANT}, client_id: {CLIENT_ID}, "
                f"client_secret_env: BENCH_SECRET, authority: \"{server.https}\"}}")
    if provider == "microsoft delegated, rotating (MSAL)":
        refresh = directory / "main.refresh"
        refresh.write_text(server.state.refresh_token(PUBLIC_CLIENT, USER))
        return (f"{{method: oauth2, provider: microsoft, tenant: {TENANT}, client_id: {PUBLIC_CLIENT}, "
                f"refresh_token_file: \"{refresh}\", authority: \"{server.https}\"}}")
    if provider == "google service account (google-auth)":
        key = service_account_key(directory, server)
        return f"{{method: oauth2, provider: google, service_account_file: \"{key}\", token_url: \"{server.http}/token\"}}"
    return (f"{{method: oauth2, provider: generic, client_id: {CLIENT_ID}, client_secret_env: BENCH_SECRET, "
            f"token_url: \"{server.http}/token\"}}")


def simulate(provider: str, hours: int, poll_seconds: int, lifetime: int) -> tuple[list[Counter[str]], int]:
    """Per hour: IMAP logins and token requests; and the mails pulled."""
    clock = FixedClock(INSTANTS[DEFAULT])
    state = TokenServer(now=clock.now, tenant=TENANT, expires_in=lifetime, rotate="rotating" in provider,
                        clients={CLIENT_ID: CLIENT_SECRET, PUBLIC_CLIENT: None}, app_users={CLIENT_ID: USER})
    server = RunningTokenServer(state)
    os.environ["REQUESTS_CA_BUNDLE"] = str(server.ca_file)  # this process only: MSAL's https authority
    os.environ["BENCH_SECRET"] = CLIENT_SECRET
    hourly: list[Counter[str]] = [Counter() for _ in range(hours)]
    pulled = 0
    try:
        with running_dovecot(oauth2=f"{server.http}/introspect") as dovecot, \
                tempfile.TemporaryDirectory(prefix="inbox-bench-oauth-") as tmp:
            directory = Path(tmp)
            config = directory / "inbox.yaml"
            config.write_text(CONFIG.format(db_url=f"sqlite:///{directory}/inbox.db", tmp=directory,
                                            unknown="{plan: standard}") +
                              f"imap:\n  - {{name: main, host: 127.0.0.1, port: {dovecot.port}, tls: false, "
                              f"username: {USER}, idle: false, poll_seconds: {poll_seconds}, "
                              f"processed_folder: Processed, auth: {auth_of(provider, server, directory)}}}\n")
            app = build_app(load_settings(config), clock)
            upgrade(app.engine)
            mailbox = app.settings.imap[0]
            tokens = app.token_source(mailbox.auth, login=USER, label="mailbox main")  # type: ignore[arg-type]
            hour = 0

            def connect() -> Any:
                hourly[hour]["logins"] += 1
                return ImapMailboxClient(mailbox, tokens=tokens)

            poller = ImapPoller(mailbox, connect, app.rawstore, app.sessions, Metrics(), lambda: None, clock,
                                Claimant.of_this_process())
            start, rounds = clock.now(), hours * 3600 // poll_seconds
            for n in range(rounds):
                hour = int((clock.now() - start).total_seconds() // 3600)
                if n % (3600 // poll_seconds) == 0:
                    dovecot.append([mail(message_id=f"<h{hour}-{i}@acme.com>") for i in range(5)], user=USER)
                requests_before = state.token_requests
                pulled += poller.poll_once()
                hourly[hour]["token requests"] += state.token_requests - requests_before
                clock.set(clock.now() + timedelta(seconds=poll_seconds))
            poller.close()
            app.close()
    finally:
        server.stop()
    return hourly, pulled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--poll-seconds", type=int, default=60)
    parser.add_argument("--lifetime", type=int, default=3600, help="access token lifetime the server gives (s)")
    args = parser.parse_args()
    providers = ["microsoft app-only (MSAL)", "microsoft delegated, rotating (MSAL)",
                 "google service account (google-auth)", "generic client credentials (Authlib)"]
    rounds_per_hour = 3600 // args.poll_seconds
    print(f"{args.hours} h simulated, one round every {args.poll_seconds} s ({rounds_per_hour} rounds an hour), "
          f"tokens valid {args.lifetime} s, renewed 300 s before expiry")
    print(f"{'provider':<40} {'logins/h (min-max)':>19} {'tokens/h (min-max)':>19} {'logins':>11} "
          f"{'tokens':>11} {'no cache':>13} {'mails':>6}")
    for provider in providers:
        hourly, pulled = simulate(provider, args.hours, args.poll_seconds, args.lifetime)
        logins = [h["logins"] for h in hourly]
        tokens = [h["token requests"] for h in hourly]
        print(f"{provider:<40} {f'{min(logins)}-{max(logins)}':>19} {f'{min(tokens)}-{max(tokens)}':>19} "
              f"{sum(logins):>11} {sum(tokens):>11} {args.hours * rounds_per_hour:>13} {pulled:>6}")


if __name__ == "__main__":
    main()
