"""A throwaway Dovecot IMAP server on a free loopback port, for tests and benchmarks, and a
client for tests that records what it fetched.

Writes its own config (static passdb: any user, password "secret"; one maildir per user)
into a fresh directory, starts `dovecot -c DIR/dovecot.conf`, waits until the port answers,
and can stop and restart it on the same port and mail. It never touches the system's Dovecot
service or /etc/dovecot. Without a `dovecot` binary (or without root, which it needs to run
mail as nobody) it calls tests.conftest.missing_service: a skip on a laptop, a failure in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from imapclient import IMAPClient

from inbox.receive.mailbox import ImapMailboxClient, MailboxRefused
from inbox.settings import ImapMailbox

PASSWORD = "secret"
START_TIMEOUT = 15.0

CONFIG = """\
instance_name = {instance}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:{dir}/mail/%u/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
first_valid_gid = 1
{capability}
passdb {{
  driver = static
  args = password={password}
{static_mechanisms}}}
{oauth2}userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""

# What Dovecot 2.3 offers after login, minus the extensions a test wants to be without.
FULL_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY"
)


# With `oauth2=`: logins by XOAUTH2/OAUTHBEARER are checked by RFC 7662 introspection at the
# test's token server (the real SASL exchange), while PLAIN (the tests' own client) keeps the
# static password. No auth cache: a revoked token is refused at the next login.
OAUTH2_PASSDB = """\
auth_cache_size = 0
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {dir}/dovecot-oauth2.conf.ext
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""


def is_available() -> bool:
    return shutil.which("dovecot") is not None and os.geteuid() == 0


def require() -> None:
    """Skip (laptop) or fail (CI) unless a Dovecot can be started here."""
    if not is_available():
        from tests.conftest import missing_service

        missing_service("Dovecot (the dovecot binary, run as root)")


class Dovecot:
    """One Dovecot instance in its own directory. Use `running_dovecot()` to get one."""

    def __init__(self, root: Path, *, without: tuple[str, ...] = (), oauth2: str | None = None) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = free_port()
        capability = ""
        if without:
            # imap_capability replaces the CAPABILITY list (it is what the client sees, so a
            # client that trusts it takes its fallback paths, as on a server without them).
            kept = [c for c in FULL_CAPABILITIES.split() if c not in without]
            capability = "imap_capability = " + " ".join(kept)
        self.config = root / "dovecot.conf"
        extra = {"mechanisms": "plain", "static_mechanisms": "", "oauth2": ""}
        if oauth2 is not None:  # the introspection URL of the token server
            (root / "dovecot-oauth2.conf.ext").write_text(OAUTH2_CONF.format(url=oauth2))
            extra = {"mechanisms": "plain xoauth2 oauthbearer", "static_mechanisms": "  mechanisms = plain\n",
                     "oauth2": OAUTH2_PASSDB.format(dir=root)}
        self.config.write_text(
            CONFIG.format(dir=root, port=self.port, password=PASSWORD, capability=capability,
                          instance=f"inbox-test-{uuid.uuid4().hex[:8]}", **extra)
        )
        # The mail processes run as nobody: they must traverse the directory and own the mail.
        root.chmod(0o755)
        (root / "mail").mkdir(exist_ok=True)
        shutil.chown(root / "mail", "nobody", "nogroup")

    def start(self) -> None:
        # Not capture_output: the daemon inherits the pipes and run() would wait for it to exit.
        with open(self.root / "start.err", "w+") as err:
            proc = subprocess.run(["dovecot", "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err)
            if proc.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"dovecot did not start: {err.read().strip()} {self.log()}")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not answer on port {self.port} within {START_TIMEOUT} s: {self.log()}")

    def stop(self) -> None:
        """Stop the instance as a service manager would: the master (`kill $(cat run/master.pid)`)
        and every process of its session, for Dovecot leaves running IMAP sessions behind.
        Waits until they are gone; the mail stays."""
        pid_file = self.root / "run" / "master.pid"
        if not pid_file.exists():
            return
        master = int(pid_file.read_text().strip())
        processes = [master] + [pid for pid in _session_members(master) if pid != master]
        for pid in processes:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and any(_is_alive(pid) for pid in processes):
            time.sleep(0.02)
        for pid in processes:
            if _is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def client(self, user: str = "support") -> IMAPClient:
        """A logged-in imapclient connection of our own, to set the scene and check it."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, PASSWORD)
        return client

    def append(self, messages: list[bytes], folder: str = "INBOX", user: str = "support") -> None:
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for data in messages:
                client.append(folder, data)

    def uids(self, folder: str = "INBOX", user: str = "support") -> dict[int, tuple[bytes, ...]]:
        """Every message's UID in `folder` with its flags (nothing when the folder is missing)."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(client.search("ALL"), ["FLAGS"]).items()}


@contextmanager
def running_dovecot(*, without: tuple[str, ...] = (), oauth2: str | None = None) -> Iterator[Dovecot]:
    """A started Dovecot in a fresh directory, stopped and removed afterwards; with `oauth2` (an
    RFC 7662 introspection URL), XOAUTH2 logins are checked there."""
    require()
    # Not pytest's tmp_path: its parents are 0700, and the mail user must traverse them.
    root = Path(tempfile.mkdtemp(prefix="inbox-dovecot-"))
    server = Dovecot(root, without=without, oauth2=oauth2)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _session_members(session: int) -> list[int]:
    """The processes whose session id is `session` (the master calls setsid; its children inherit it)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # Fields after the ")" that closes the command name: state, ppid, pgrp, session.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == session:
                members.append(int(entry.name))
    return members


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not ours to reap (dovecot daemonised), but it holds no port either.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Recording(ImapMailboxClient):
    """The real client, remembering the UIDs it fetched and when it waits in IDLE; `refuse`
    makes the server's NO to a FETCH happen on demand."""

    def __init__(self, mailbox: ImapMailbox, refuse: Callable[[Sequence[int]], bool] = lambda uids: False) -> None:
        super().__init__(mailbox, timeout=5)
        self.refuse = refuse
        self.fetched: list[int] = []
        self.idling = threading.Event()

    def fetch_raw(self, uids: Sequence[int]) -> dict[int, bytes]:
        if self.refuse(uids):
            raise MailboxRefused("fetch: NO [SERVERBUG] refused for this test")
        self.fetched += uids
        return super().fetch_raw(uids)

    def idle_wait(self, timeout: float, cancelled: Callable[[], bool] = lambda: False) -> bool:
        self.idling.set()
        try:
            return super().idle_wait(timeout, cancelled)
        finally:
            self.idling.clear()


def recorded(mailbox: ImapMailbox, into: list[Recording], **kw: Callable[[Sequence[int]], bool]
             ) -> Callable[[], Recording]:
    """A client factory whose every connection is a Recording appended to `into`."""

    def connect() -> Recording:
        into.append(Recording(mailbox, **kw))
        return into[-1]

    return connect
