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
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from inbox.claimant import Claimant
from inbox.clock import Clock
from inbox.domain.ticket import Outcome
from inbox.rawstore import RawStore
from inbox.settings import ConfigError, Settings, database_url, read_secret
from inbox.store.db import make_engine, make_sessionmaker

if TYPE_CHECKING:
    from datetime import datetime

    # The ticket rules load at the first desk: `inbox tickets list` builds an App and needs none.
    from inbox.tickets import CurrentDesk, Desk
    # Loaded where used: a process that only receives or only sends never loads the parser, DKIM or DNS.
    from inbox.ingest.authenticate import DnsLookup
    from inbox.ingest.drain import IngestWorker
    from autoresponder import Outbound
    from autoresponder.preview import Preview
    from autoresponder.render import Renderer
    from autoresponder.samples import TemplateWatch
    from autoresponder.stored_templates import StoredSource
    from autoresponder.transport import MailTransport
    from inbox.oauth import TokenSource
    from inbox.settings import OAuthSettings
    from autoresponder.versions import StoredVersions

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
    _templates: StoredSource | None = field(default=None, repr=False)
    _versions: StoredVersions | None = field(default=None, repr=False)

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

    def template_source(self) -> StoredSource:
        """The templates this process sends: the database's current versions over the files of the
        config's templates folder (the defaults). One per process; refreshed each scheduler turn."""
        from autoresponder.stored_templates import StoredSource
        from autoresponder.template_source import FileSource

        if self._templates is None:
            self._templates = StoredSource(self.sessions, FileSource(self.settings.templates.dir))
        return self._templates

    def renderer(self) -> Renderer:
        """The one template renderer of this process: it remembers each file's last good version."""
        from autoresponder.render import Renderer

        if self._renderer is None:
            self._renderer = Renderer(self.settings.templates.dir, source=self.template_source())
        return self._renderer

    def template_versions(self) -> StoredVersions:
        """The templates' versions (inbox.domain.template_versions.TemplateVersions): what the
        editor pages and `inbox templates` save, roll back and reset through. One per process."""
        from autoresponder.shipped import shipped_texts
        from autoresponder.versions import StoredVersions

        if self._versions is None:
            settings = self.settings
            self._versions = StoredVersions(
                self.sessions, self.template_source(), settings.templates.dir, plans=list(settings.plans),
                customers={c.id: c.plan for c in settings.customers}, severities=settings.severities,
                shipped=shipped_texts(), now=self.clock.now)
        return self._versions

    def template_watch(self) -> TemplateWatch:
        """Checks the templates again whenever one changes, on disk or saved on any instance (the
        scheduler runs it before each turn). Made once per scheduler: on the first start after the
        upgrade (migration 0011's mark), the templates edited on disk are imported as versions first."""
        from autoresponder.samples import TemplateWatch
        from autoresponder.template_disk import import_once

        try:
            import_once(self.sessions, self.template_versions(), self.settings.templates.dir)
        except Exception:  # noqa: BLE001 - the folder's files keep being read for paths never saved
            log.exception("importing the templates edited on disk failed: run `inbox templates import-from-disk`")
        return TemplateWatch(self.renderer(), self.settings.severities, refresh=self.template_source().newest)

    def outbound(self, transport: MailTransport | None = None,
                 sent_kind: Callable[[str], None] | None = None,
                 acknowledged: Callable[[datetime, datetime], None] | None = None,
                 on_login: Callable[[str | None], None] | None = None) -> Outbound:
        """The SLA sweep and the outbox sender, sending through `transport` (default: the configured
        one, whose logins to the relay `on_login` hears); `sent_kind` hears the kind of each email the
        relay accepted, `acknowledged` when each acknowledgement's mail was stored and when the relay accepted it."""
        from autoresponder import Outbound
        from autoresponder.dispatch import Dispatcher
        from inbox.store import outbox

        current, claimant = self.current_desk(), self.claimant
        dispatcher = Dispatcher(self.sessions, current, self.renderer(), transport or self.transport(on_login),
                                owner=claimant.owner, sent_kind=sent_kind, acknowledged=acknowledged)
        with self.sessions() as session, session.begin():
            taken = outbox.release_orphans(session, claimant.host, claimant.is_dead)
        if taken:
            log.warning("took back %d emails a process that died was sending; each goes again", taken)
        return Outbound(self.sessions, current, dispatcher)

    def transport(self, on_login: Callable[[str | None], None] | None = None) -> MailTransport:
        from autoresponder.transport import MaildirTransport, SmtpTransport

        out = self.settings.outbound
        if out.transport == "maildir":
            return MaildirTransport(out.maildir)
        password = read_secret(out.password_env) if out.password_env else None
        tokens = self.token_source(out.auth, login=out.username or "", label="outbound relay") if out.auth else None
        return SmtpTransport(out.host, out.port, starttls=out.starttls, username=out.username, password=password,
                             tokens=tokens, on_login=on_login)

    def token_source(self, auth: OAuthSettings, *, login: str, label: str) -> TokenSource:
        """The access tokens of one OAuth login (a mailbox, the relay), cached in memory by this clock."""
        from inbox.oauth import token_source

        return token_source(auth, self.clock, login=login, label=label)

    def check_secrets(self) -> None:
        """Stop at start, naming the key, when an OAuth secret the config names is not there."""
        from inbox.oauth import missing_secrets

        problems = missing_secrets(self.settings)
        if problems:
            raise ConfigError(problems)

    def check_templates(self) -> list[str]:
        """Every template as it is sent now (current versions, else the files) rendered against sample
        tickets of every severity and status: one line per problem."""
        from autoresponder.render import Renderer
        from autoresponder.samples import check

        source = self.template_source()
        source.refresh()
        return check(self.settings.templates.dir, self.settings.severities,
                     Renderer(self.settings.templates.dir, source=source), adopt=False)

    def preview(self, kind: str, tracking: str | None = None, customer: str | None = None,
                changes: Mapping[str, str] | None = None) -> Preview:
        """The email `kind` would send, for a ticket or for sample data, with `customer`'s overrides and
        the candidate texts `changes` (path -> text, not stored) in place; LookupError if the kind,
        ticket or customer is unknown, TemplateError if it does not render."""
        from autoresponder.preview import preview

        self.template_source().refresh()  # a save on another instance shows here at once
        return preview(self.sessions, self.desk(), self.renderer(), kind, self.clock.now(),
                       tracking=tracking, customer=customer, changes=changes)

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
        on_quarantined: Callable[[str], None] | None = None,
    ) -> IngestWorker:
        """An ingest worker; with `parse_processes`, parsing runs in that many worker processes."""
        from inbox.ingest.drain import IngestWorker
        from inbox.ingest.parser_pool import InProcessParser, PoolParser

        parser = PoolParser(parse_processes) if parse_processes > 0 else InProcessParser()
        worker = IngestWorker(self.sessions, self.current_desk(), clock or self.clock, self.claimant,
                              batch_size=batch_size, parser=parser, on_result=on_result, dns=self.dns,
                              on_committed=on_committed, on_latency=on_latency, on_quarantined=on_quarantined)
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
