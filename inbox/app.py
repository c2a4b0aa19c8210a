"""The composition root: the only place that builds concrete parts and wires them together.

`build_app` makes the engines, sessions and raw store from the settings; `App` hands out the
worker, the outbound side, template checks and previews: every part `inbox serve` runs
(`inbox.serving` wires them for the roles of one process, `inbox.processes` runs them). It makes the
two values every part shares: the `Claimant` this process claims work as, and the `CurrentDesk`
that parts read the desk from and a config reload sets.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from inbox.claimant import Claimant
from inbox.clock import Clock
from inbox.domain.ticket import Outcome
from inbox.rawstore import RawStore
from inbox.settings import ConfigError, Settings, database_url, read_secret
from inbox.store.db import make_engine, make_sessionmaker

if TYPE_CHECKING:
    # The ticket rules load at the first desk: `inbox tickets list` builds an App and needs none.
    from inbox.tickets import CurrentDesk, Desk
    # Loaded where used: a process that only receives or only sends never loads the parser, DKIM or DNS.
    from inbox.ingest.authenticate import DnsLookup
    from inbox.ingest.drain import IngestWorker
    from autoresponder import Outbound
    from autoresponder.preview import Preview
    from autoresponder.render import Renderer
    from autoresponder.samples import TemplateWatch
    from autoresponder.transport import MailTransport

SECRET_KEY = "message_id_secret"
MIN_TOKEN = 16  # an admin token guessable in an afternoon protects nothing
MAX_PARSERS = 8  # a cap: a 64-core host need not start 63 parsers for one listener
log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings  # as loaded at start; after a config reload, the desk's are the ones in effect
    clock: Clock
    durable_engine: Engine  # raw-message commits: synchronous=FULL on SQLite
    engine: Engine  # everything that can be redone from a durable row
    sessions: sessionmaker[Session]
    rawstore: RawStore
    dns: DnsLookup | None = None  # DKIM key lookups; None: the system resolver (tests bring their own)
    claimant: Claimant = field(default_factory=Claimant.of_this_process)
    _current: CurrentDesk | None = field(default=None, repr=False)
    _renderer: Renderer | None = field(default=None, repr=False)

    def current_desk(self) -> CurrentDesk:
        """Where every part reads the desk in effect, made at first use; a config reload sets it.
        One per process: one Contracts, whose calendars cache their holidays."""
        from inbox.tickets import Contracts, CurrentDesk, Desk

        if self._current is None:
            self._current = CurrentDesk(Desk(self.settings, Contracts(self.settings), self.secret()))
        return self._current

    def desk(self) -> Desk:
        """The config, its contracts and the secret in effect: what changing tickets and telling people need."""
        return self.current_desk().get()

    def renderer(self) -> Renderer:
        """The one template renderer of this process: it remembers each file's last good version."""
        from autoresponder.render import Renderer

        if self._renderer is None:
            self._renderer = Renderer(self.settings.templates.dir)
        return self._renderer

    def template_watch(self) -> TemplateWatch:
        """Checks the templates again whenever one changes (the scheduler runs it before each turn)."""
        from autoresponder.samples import TemplateWatch

        return TemplateWatch(self.renderer(), self.settings.severities)

    def outbound(self, transport: MailTransport | None = None,
                 sent_kind: Callable[[str], None] | None = None) -> Outbound:
        """The SLA sweep and the outbox sender, sending through `transport` (default: the configured
        one); `sent_kind` hears the kind of each email the relay accepted."""
        from autoresponder import Outbound
        from autoresponder.dispatch import Dispatcher
        from inbox.store import outbox

        current, claimant = self.current_desk(), self.claimant
        dispatcher = Dispatcher(self.sessions, current, self.renderer(), transport or self.transport(),
                                owner=claimant.owner, sent_kind=sent_kind)
        with self.sessions() as session, session.begin():
            taken = outbox.release_orphans(session, claimant.host, claimant.is_dead)
        if taken:
            log.warning("took back %d emails a process that died was sending; each goes again", taken)
        return Outbound(self.sessions, current, dispatcher)

    def transport(self) -> MailTransport:
        from autoresponder.transport import MaildirTransport, SmtpTransport

        out = self.settings.outbound
        if out.transport == "maildir":
            return MaildirTransport(out.maildir)
        password = read_secret(out.password_env) if out.password_env else None
        return SmtpTransport(out.host, out.port, starttls=out.starttls, username=out.username, password=password)

    def check_templates(self) -> list[str]:
        """Every template rendered against sample tickets of every severity and status: one line per problem."""
        from autoresponder.samples import check

        return check(self.settings.templates.dir, self.settings.severities)

    def preview(self, kind: str, tracking: str | None = None, customer: str | None = None) -> Preview:
        """The email `kind` would send, for a ticket or for sample data, with `customer`'s overrides;
        LookupError if the kind, ticket or customer is unknown, TemplateError if it does not render."""
        from autoresponder.preview import preview

        return preview(self.sessions, self.desk(), self.renderer(), kind, self.clock.now(),
                       tracking=tracking, customer=customer)

    def secret(self) -> str:
        """The key that signs our Message-IDs: from the environment, else generated once and kept."""
        from inbox.store import service_state

        env = self.settings.service.secret_env
        if env:
            value = read_secret(env)
            if not value:
                raise ConfigError([f"{self.settings.source_path}: service.secret_env: environment variable {env} is not set"])
            return value
        with self.sessions() as session, session.begin():
            return service_state.get_or_create(session, SECRET_KEY, lambda: secrets.token_hex(32))

    def worker(
        self,
        clock: Clock | None = None,
        batch_size: int = 100,
        parse_processes: int = 0,
        on_result: Callable[[str, Outcome], None] | None = None,
        on_committed: Callable[[Sequence[tuple[int, Outcome]]], None] | None = None,
        on_latency: Callable[[Outcome, float], None] | None = None,
    ) -> IngestWorker:
        """An ingest worker; with `parse_processes`, parsing runs in that many worker processes."""
        from inbox.ingest.drain import IngestWorker
        from inbox.ingest.parser_pool import InProcessParser, PoolParser

        parser = PoolParser(parse_processes) if parse_processes > 0 else InProcessParser()
        worker = IngestWorker(self.sessions, self.current_desk(), clock or self.clock, self.claimant,
                              batch_size=batch_size, parser=parser, on_result=on_result, dns=self.dns,
                              on_committed=on_committed, on_latency=on_latency)
        worker.recover()
        return worker

    def close(self) -> None:
        self.durable_engine.dispose()
        self.engine.dispose()


def parser_processes(cores: int | None) -> int:
    """Parser processes for `inbox serve`: one per core but one, which stores and sends; none on one
    core, where another process would only fight the service for the CPU."""
    return max(0, min(MAX_PARSERS, (cores or 1) - 1))


def build_app(settings: Settings, clock: Clock) -> App:
    url = database_url(settings)
    durable = make_engine(url, durable=True)
    relaxed = make_engine(url, durable=False)
    return App(
        settings=settings,
        clock=clock,
        durable_engine=durable,
        engine=relaxed,
        sessions=make_sessionmaker(relaxed),
        rawstore=RawStore(make_sessionmaker(durable), clock),
    )
