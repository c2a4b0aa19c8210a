"""The IMAP front door: one poller per configured mailbox pulls new mail into the raw store.

Each round: take (or renew) the mailbox's lease, select the folder, list the UIDs past the last
one done, fetch their bytes in batches (BODY.PEEK[]), commit them to the raw store in groups
(put_many, in a thread of its own while the next batch is fetched), and only after the commit
move or flag them on the server and record how far it got. A message that cannot be fetched,
stored or marked is reported (log, metrics, last_error), skipped this round and tried again
the next: the recorded last UID never passes it, so a restart tries it again too. Network
errors and server restarts end the round; `run` reconnects with exponential backoff (cut short by
`retry_now`, which a SIGHUP calls), and `failing` says since when rounds fail and why (/healthz).
A login made with an OAuth access token is made again before the token runs out, also out of
a long IDLE, for a server may end the session then.

It never parses mail or touches tickets (the ingest worker does, woken by `on_stored`), never
marks a message done before its raw row is committed, and never polls a mailbox whose lease
another instance holds. A lease whose holder the claimant judges dead (a crashed process of this
host, or an earlier life of this pid) is taken back at once; another host's runs out first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from inbox import logs
from inbox.claimant import Claimant
from inbox.clock import Clock
from inbox.metrics import Metrics
from inbox.rawstore import RawItem, RawRef, RawStore
from inbox.receive.mailbox import ClientFactory, MailboxClient, MailboxRefused
from inbox.settings import ImapMailbox
from inbox.store import mailboxes

log = logging.getLogger(__name__)

BATCH_SIZE = 50  # UIDs per FETCH
# Fetched mail is committed in groups of up to this many messages or bytes: a commit costs a
# disk flush, and fewer, larger ones let the commit thread (which waits on the disk without the
# GIL) overlap with fetching instead of queueing behind it for the GIL at every statement.
STORE_MESSAGES = 200
STORE_BYTES = 8 * 1024 * 1024
# Messages marked done per MOVE or STORE. A command costs the server about as much for 500
# messages as for 50 (measured on Dovecot: 40 MOVEs of 50 take 3x one MOVE of 2,000); a crash
# before the mark only means those are fetched again and deduped.
MARK_EVERY = 500
# RFC 2177: servers may drop a client idle for 30 minutes, so IDLE is renewed (after one
# round) at least this often, whatever poll_seconds says.
IDLE_MAX_SECONDS = 25 * 60
ACCEPTED = "inbox_messages_accepted_total"
LAST_SUCCESS = "inbox_imap_last_success_timestamp"
ERRORS = "inbox_imap_errors_total"
PAUSE_SLICE = 0.25  # seconds between looks at `stop` while backing off


@dataclass
class _Progress:
    """How far one round got."""

    uidvalidity: int
    listed: list[int]  # every UID above last_uid at the start of the round, ascending
    last_uid: int
    created: int = 0
    marked: int = 0  # moved or flagged this round: commands after its search


@dataclass(frozen=True)
class Failing:
    """A mailbox whose rounds fail: the latest reason, and when the first of them failed."""

    reason: str
    since: datetime


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before reconnecting: `initial`, doubled after each failure, at most `cap`."""

    initial: float = 1.0
    cap: float = 60.0

    def after(self, delay: float) -> float:
        return min(self.cap, max(self.initial, delay * 2))


class ImapPoller:
    """Pulls one mailbox. `run` is a blocking loop meant for a thread of its own."""

    def __init__(
        self,
        mailbox: ImapMailbox,
        client_factory: ClientFactory,
        store: RawStore,
        sessions: sessionmaker[Session],
        metrics: Metrics,
        on_stored: Callable[[], None],
        clock: Clock,
        claimant: Claimant,
        *,
        batch_size: int = BATCH_SIZE,
        backoff: Backoff = Backoff(),
        lease_ttl: timedelta | None = None,
    ) -> None:
        self._mailbox = mailbox
        self._connect = client_factory
        self._rawstore = store
        self._sessions = sessions
        self._metrics = metrics
        self._on_stored = on_stored
        self._clock = clock
        self._claimant = claimant
        self._owner = claimant.owner
        self._batch_size = batch_size
        self._backoff = backoff
        # Renewed every round and at every mark; a round starts at least every poll_seconds.
        self._lease_ttl = lease_ttl or timedelta(seconds=max(120, 3 * mailbox.poll_seconds))
        self._source = f"imap:{mailbox.name}"
        self._client: MailboxClient | None = None
        self._uidvalidity: int | None = None
        # UIDs above the recorded last UID that are already stored and marked, because an
        # earlier one failed: not fetched again by this instance while that one is retried.
        self._done: set[int] = set()
        self._problems: list[str] = []  # this round's; the commit thread appends too (GIL-atomic)
        self._pulled = False  # the last round marked mail: look again before waiting
        self._stop = threading.Event()  # run()'s stop: a long round ends early, at a commit
        self._retry = threading.Event()  # cuts the back-off short (a config reload, a new token)
        self._failing: Failing | None = None  # since the first of the failed rounds in a row

    @property
    def name(self) -> str:
        return self._mailbox.name

    @property
    def failing(self) -> Failing | None:
        """Why the rounds fail and since when; None while they succeed (for /healthz)."""
        return self._failing

    def retry_now(self) -> None:
        """Try again at once instead of waiting out the back-off (after a new token is supplied)."""
        self._retry.set()

    def poll_once(self) -> int:
        """One round over every new message; returns how many new raw rows it stored.

        Raises on network errors, server restarts and database failures (the round is over;
        `run` reconnects). Problems with single messages are reported and do not raise.
        """
        self._problems, self._pulled = [], False
        if not self._renew_lease():
            log.debug("mailbox %s: another instance holds the lease", self.name)
            self._disconnect()
            return 0
        if self._client is not None and self._is_login_due(self._client):
            # Before the token runs out: a server may end the session then (Exchange Online does).
            log.info("mailbox %s: the login's access token is due for renewal; logging in again", self.name)
            self._disconnect()
        client = self._client or self._open()
        uidvalidity = client.select(self._mailbox.folder)
        last_uid = self._last_uid(uidvalidity)
        listed = client.new_uids(last_uid)
        progress = _Progress(uidvalidity, listed, last_uid)
        todo = [uid for uid in listed if uid not in self._done]
        if not todo:
            self._save(progress, renew=False)
        elif not self._pull(client, todo, progress):
            log.warning("mailbox %s: lease lost to another instance; stopping this round", self.name)
            self._disconnect()
            return progress.created
        self._pulled = progress.marked > 0
        if self._failing is not None:
            log.warning("mailbox %s: recovered; rounds had failed since %s", self.name,
                        self._failing.since.isoformat(timespec="seconds"))
            self._failing = None
        self._metrics.set(LAST_SUCCESS, self._clock.now().timestamp(), mailbox=self.name)
        return progress.created

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set: IDLE between rounds when configured and offered, else
        wait poll_seconds; after a failed round reconnect with exponential backoff."""
        self._stop = stop
        delay = 0.0
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                except Exception as exc:  # noqa: BLE001 - network, server restart, database down: retry
                    delay = self._backoff.after(delay)
                    self._round_failed(exc, delay)
                    self._pause(stop, delay)
                    continue
                delay = 0.0
                if self._pulled:
                    # Mail that came during the round was announced to one of its commands (a fetch,
                    # a move), whose answer drops the news: look again before waiting. A round that
                    # pulls nothing ends in a search with no command after it, so the NOOP before
                    # IDLE hears of whatever comes next.
                    continue
                self._wait_for_mail(stop)
        finally:
            self.close()

    def _pause(self, stop: threading.Event, delay: float) -> None:
        """Wait `delay` seconds, less when stopped or told to retry now."""
        deadline = time.monotonic() + delay
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._retry.wait(min(remaining, PAUSE_SLICE)):
                self._retry.clear()
                return

    def close(self) -> None:
        """Disconnect and give the lease up, so another instance can take over at once."""
        self._disconnect()
        try:
            with self._sessions() as session, session.begin():
                mailboxes.release_lease(session, self.name, self._owner)
        except Exception:  # noqa: BLE001 - the lease then simply runs out
            log.warning("mailbox %s: could not release the lease", self.name, exc_info=True)

    # -- one round ------------------------------------------------------------------------------

    def _pull(self, client: MailboxClient, todo: Sequence[int], progress: _Progress) -> bool:
        """Fetch `todo` batch by batch; fetched mail is committed in groups, each in a thread of
        its own while the next is fetched, and what is committed is marked done in groups.
        Returns False when the lease was lost on the way."""
        unmarked: list[int] = []
        group: dict[int, bytes] = {}
        pending: Future[dict[int, RawRef]] | None = None

        def committed(future: Future[dict[int, RawRef]]) -> None:
            refs = future.result()
            created = self._count_new(refs.values())
            if created:
                progress.created += created
                self._on_stored()
            unmarked.extend(refs)

        # Leaving this block waits for the last commit, also when the connection fails: what
        # was committed then stays unmarked, is fetched again next round and deduped.
        with ThreadPoolExecutor(1, thread_name_prefix=f"imap-{self.name}-store") as committer:
            for start in range(0, len(todo), self._batch_size):
                group.update(self._fetch(client, todo[start : start + self._batch_size]))
                is_last = start + self._batch_size >= len(todo)
                if not is_last and len(group) < STORE_MESSAGES and sum(map(len, group.values())) < STORE_BYTES:
                    continue
                if pending is not None:
                    committed(pending)
                pending, group = committer.submit(self._store, group), {}
                if len(unmarked) >= MARK_EVERY:
                    if not self._mark(client, unmarked, progress):
                        return False
                    unmarked.clear()
                if self._stop.is_set():
                    break  # shutting down: finish what is fetched; the rest waits for the next start
            if pending is not None:
                committed(pending)
        return self._mark(client, unmarked, progress)

    def _mark(self, client: MailboxClient, uids: list[int], progress: _Progress) -> bool:
        """Mark committed messages done, then record progress and renew the lease in one commit."""
        if uids:
            try:
                client.mark_done(uids, self._mailbox.processed_folder)
                self._done.update(uids)
                progress.marked += len(uids)
            except MailboxRefused as exc:
                # Stored but still in the folder: the next round fetches them again (the raw
                # store dedupes them) and tries the marking again.
                for uid in uids:
                    self._report("mark", uid, exc)
        progress.last_uid = self._done_up_to(progress.listed, progress.last_uid)
        return self._save(progress, renew=True)

    def _fetch(self, client: MailboxClient, uids: Sequence[int]) -> dict[int, bytes]:
        refused: set[int] = set()
        try:
            fetched = client.fetch_raw(uids)
        except MailboxRefused:
            # One bad message must not hold back the rest: ask for each alone.
            fetched = {}
            for uid in uids:
                try:
                    fetched.update(client.fetch_raw([uid]))
                except MailboxRefused as exc:
                    refused.add(uid)
                    self._report("fetch", uid, exc)
        for uid in uids:
            if uid not in fetched and uid not in refused:
                # Expunged by someone else meanwhile, or the server will not give it: the next
                # listing tells which.
                self._report("fetch", uid, "the server returned no body")
        return fetched

    def _store(self, fetched: dict[int, bytes]) -> dict[int, RawRef]:
        """Commit the fetched messages (one transaction; one each when that fails)."""
        if not fetched:
            return {}
        uids = list(fetched)
        try:
            refs = self._rawstore.put_many([RawItem(fetched[uid], self._source) for uid in uids])
            return dict(zip(uids, refs))
        except Exception:  # noqa: BLE001 - find the one that fails; store the others
            log.info("mailbox %s: storing %d messages at once failed; storing one at a time", self.name, len(uids),
                     exc_info=True)
        refs_by_uid: dict[int, RawRef] = {}
        for uid in uids:
            try:
                refs_by_uid[uid] = self._rawstore.put_many([RawItem(fetched[uid], self._source)])[0]
            except Exception as exc:  # noqa: BLE001 - reported; it stays on the server for next time
                self._report("store", uid, exc, message_id=logs.message_id_of(fetched[uid]))
        return refs_by_uid

    def _count_new(self, refs: Iterable[RawRef]) -> int:
        created = sum(1 for ref in refs if ref.created)
        if created:
            self._metrics.inc(ACCEPTED, created, source=self._source)
        return created

    def _done_up_to(self, listed: Sequence[int], last_uid: int) -> int:
        """The highest listed UID with every listed UID up to it done; forget those below it."""
        for uid in listed:
            if uid not in self._done:
                break
            last_uid = uid
        self._done = {uid for uid in self._done if uid > last_uid}
        return last_uid

    def _last_uid(self, uidvalidity: int) -> int:
        with self._sessions() as session:
            state = mailboxes.load_state(session, self.name)
        if self._uidvalidity != uidvalidity:
            self._done.clear()
            self._uidvalidity = uidvalidity
        if state is None or state.uidvalidity is None:
            return 0
        if state.uidvalidity != uidvalidity:
            # RFC 3501 2.3.1.1: the old UIDs mean nothing now. Start over; the raw store knows
            # every message already stored by its hash, so none becomes a second row.
            log.warning("mailbox %s: UIDVALIDITY changed from %d to %d; reading the folder again from the start",
                        self.name, state.uidvalidity, uidvalidity)
            return 0
        return state.last_uid

    # -- state, lease, connection ----------------------------------------------------------------

    def _renew_lease(self) -> bool:
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            if mailboxes.acquire_lease(session, self.name, self._owner, now, self._lease_ttl):
                return True
            # Waiting out a crashed process's lease would leave the mailbox unread for lease_ttl
            # after every restart; the raw queue and the outbox take a dead process's work back
            # at once too.
            dead = mailboxes.take_dead_lease(session, self.name, self._owner, now, self._lease_ttl,
                                             self._claimant.is_dead)
        if dead is None:
            return False
        log.warning("mailbox %s: took the lease back from %s, a process that is gone", self.name, dead,
                    extra={"mailbox": self.name})
        return True

    def _save(self, progress: _Progress, *, renew: bool) -> bool:
        """Record progress (and this round's problems); with `renew`, also renew the lease
        in the same commit. Returns whether this instance still holds the lease."""
        now = self._clock.now()
        with self._sessions() as session, session.begin():
            mailboxes.save_progress(session, self.name, progress.uidvalidity, progress.last_uid, now)
            if self._problems:
                mailboxes.record_error(session, self.name, "; ".join(self._problems))
            return mailboxes.acquire_lease(session, self.name, self._owner, now, self._lease_ttl) if renew else True

    def _open(self) -> MailboxClient:
        self._client = self._connect()
        log.info("mailbox %s: connected to %s:%d", self.name, self._mailbox.host, self._mailbox.port)
        return self._client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _wait_for_mail(self, stop: threading.Event) -> None:
        client = self._client
        if client is None or not self._mailbox.idle:
            stop.wait(self._mailbox.poll_seconds)
            return
        try:
            if client.supports_idle():
                # Leaves IDLE when the login's token falls due, so the next round logs in again.
                client.idle_wait(min(self._mailbox.poll_seconds, IDLE_MAX_SECONDS),
                                 cancelled=lambda: stop.is_set() or self._is_login_due(client))
            else:
                stop.wait(self._mailbox.poll_seconds)
        except Exception as exc:  # noqa: BLE001 - the next round reconnects (with backoff if it must)
            log.warning("mailbox %s: IDLE ended: %s", self.name, exc)
            self._metrics.inc(ERRORS, mailbox=self.name, stage="idle")
            self._disconnect()

    # -- reporting -------------------------------------------------------------------------------

    def _report(self, stage: str, uid: int, problem: object, *, message_id: str | None = None) -> None:
        reason = problem if isinstance(problem, str) else f"{type(problem).__name__}: {problem}"
        log.warning("mailbox %s: uid %d: %s failed, will try again next round: %s", self.name, uid, stage, reason,
                    extra={"mailbox": self.name, "uid": uid, "message_id": message_id})
        self._metrics.inc(ERRORS, mailbox=self.name, stage=stage)
        self._problems.append(f"uid {uid}: {stage}: {reason}")

    def _is_login_due(self, client: MailboxClient) -> bool:
        due = client.login_due_at()
        return due is not None and self._clock.now() >= due

    def _round_failed(self, exc: Exception, delay: float) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if self._failing is None:
            self._failing = Failing(reason, self._clock.now())
        elif self._failing.reason != reason:
            self._failing = Failing(reason, self._failing.since)
        log.warning("mailbox %s: round failed, reconnecting in %.1f s: %s", self.name, delay, reason)
        self._metrics.inc(ERRORS, mailbox=self.name, stage="round")
        self._disconnect()
        try:
            with self._sessions() as session, session.begin():
                mailboxes.record_error(session, self.name, reason)
        except Exception:  # noqa: BLE001 - the database may be what failed; the log has it
            log.debug("mailbox %s: could not record the error", self.name, exc_info=True)
