"""The storm bench's parts that hold no timing loop: the relay sink, the mails, the config,
percentiles, matching the sink's emails to the mails that caused them, and peak memory read
from /proc. Nothing here imports `inbox`: the bench measures a tree it only runs as a process.

Protocol: `StormSink` is an aiosmtpd handler that stamps each email with the wall clock
(`time.time()`, the clock `inbox serve` stamps its rows with) and keeps the bytes; parsing waits
until the run is over, so the sink costs the measured run as little as it can.
"""

from __future__ import annotations

import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

SUPPORT = "support@example.com"
DOMAIN = "acme.com"
PLAIN_RECIPIENT = "plain@bench.test"  # the plain path's emails, kept apart from the service's at the sink

CONFIG = """\
service: {{name: Storm Support, tracking_prefix: SUP}}
database: {{url: "{url}"}}
outbound: {{transport: smtp, host: 127.0.0.1, port: {relay_port}, from_address: "Storm Support <support@example.com>"}}
smtp: {{host: 127.0.0.1, port: {smtp_port}}}
http: {{host: 127.0.0.1, port: {http_port}}}
templates: {{dir: "{templates}"}}
addresses: [support@example.com]
calendars: {{always: {{timezone: UTC, hours: 24x7}}}}
plans: {{standard: {{calendar: always, targets: {{low: {{response: 1 hour}}}}}}}}
customers:
  - {{id: acme, name: Acme Corp, plan: standard, domains: [acme.com]}}
unknown_senders: {{plan: standard}}
"""


def config_text(url: str, tree: Path, *, smtp_port: int, http_port: int, relay_port: int) -> str:
    """`inbox serve`'s config: the database at `url`, listening on loopback, the sink as its relay."""
    return CONFIG.format(url=url, relay_port=relay_port, smtp_port=smtp_port, http_port=http_port,
                         templates=tree / "templates")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Mail:
    message_id: str  # without angle brackets, as matched against In-Reply-To
    sender: str
    data: bytes


def storm_mails(count: int, tag: str) -> list[Mail]:
    """`count` new mails from distinct people of the customer's domain: each opens a ticket and gets
    an acknowledgement, and no address meets the hourly limit on automatic emails."""
    sent = datetime.now(timezone.utc)
    mails = []
    for i in range(count):
        sender = f"user{i}.{tag}@{DOMAIN}"
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = SUPPORT
        msg["Subject"] = f"Production down for us too #{i}"
        msg["Date"] = format_datetime(sent)
        msg["Message-ID"] = f"<storm-{tag}-{i}@{DOMAIN}>"
        msg.set_content("Since a few minutes ago every request fails with a 502.\n"
                        "Our whole team is blocked; please tell us when it is back.\n\n-- \nA Customer\nAcme Corp\n")
        mails.append(Mail(f"storm-{tag}-{i}@{DOMAIN}", sender, msg.as_bytes()))
    return mails


class StormSink:
    """The relay: answers 250 to everything, recording (arrival time, recipients, bytes)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.time()
        with self.lock:
            self.received.append((at, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 OK"

    def take(self) -> list[tuple[float, list[str], bytes]]:
        """Everything received so far, and a fresh start for the next run."""
        with self.lock:
            got, self.received = self.received, []
        return got

    def count(self) -> int:
        with self.lock:
            return len(self.received)


_TRACKING = re.compile(r"\[([A-Z]+-\d+)\]")


@dataclass(frozen=True)
class Arrival:
    at: float
    recipients: tuple[str, ...]
    in_reply_to: str | None  # without angle brackets
    tracking: str | None


def arrivals(received: Iterable[tuple[float, list[str], bytes]]) -> list[Arrival]:
    """The sink's emails with the headers that tie them to a mail: In-Reply-To, the tracking number."""
    parser = BytesHeaderParser(policy=default_policy)
    found = []
    for at, rcpts, data in received:
        headers = parser.parsebytes(data)
        reply = str(headers.get("In-Reply-To") or "").strip().strip("<>") or None
        match = _TRACKING.search(str(headers.get("Subject") or ""))
        found.append(Arrival(at, tuple(r.lower() for r in rcpts), reply, match.group(1) if match else None))
    return found


def first_reply(found: Sequence[Arrival], senders: Mapping[str, str],
                tracking_of: Mapping[str, str]) -> dict[str, float]:
    """Mail id -> arrival time of the first email back to its sender that answers it: by In-Reply-To,
    or else by the tracking number of the mail's ticket (`tracking_of`: mail id -> tracking)."""
    by_tracking = {tracking: mail_id for mail_id, tracking in tracking_of.items()}
    first: dict[str, float] = {}
    for arrival in sorted(found, key=lambda a: a.at):
        mail_id = arrival.in_reply_to if arrival.in_reply_to in senders else by_tracking.get(arrival.tracking or "")
        if mail_id is None or mail_id in first or senders[mail_id].lower() not in arrival.recipients:
            continue
        first[mail_id] = arrival.at
    return first


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..100) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def as_epoch(value: Any) -> float | None:
    """A timestamp column read with plain SQL: PostgreSQL gives aware datetimes, SQLite naive UTC text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return float(value.timestamp())


# -- memory: the peak of every process in the served tree -----------------------------------


def descendants(root: int) -> list[int]:
    """`root` and every process below it, found by each process's parent in /proc/<pid>/stat."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])  # the name may hold spaces: split after ')'
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def peak_kib(pid: int) -> int | None:
    """The process's peak resident set (VmHWM), in KiB, or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """The highest VmHWM seen for each process of a tree, sampled by the caller (each second)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peaks: dict[int, int] = {}

    def sample(self) -> None:
        for pid in descendants(self.root):
            kib = peak_kib(pid)
            if kib is not None:
                self.peaks[pid] = max(kib, self.peaks.get(pid, 0))

    def total_mib(self) -> float:
        """The sum of every process's own peak: never less than what they held together at any moment."""
        return sum(self.peaks.values()) / 1024

    def each_mib(self) -> list[float]:
        return [self.peaks[pid] / 1024 for pid in sorted(self.peaks)]
