"""A TCP relay for the IMAP fault tests: it forwards between a client and a server on loopback and
strikes at armed moments of the stream (a cut with FIN or RST, a lost answer to a MOVE, a black
hole, a pause while the server is restarted). Faults fire at byte offsets of the server's stream,
so they land mid-FETCH rather than at a random time; every wait is bounded by WAIT.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

WAIT = 60.0  # seconds any one condition gets before the test fails
CHUNK = 64 * 1024


# -- the relay -------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One strike of the relay. `after`: downstream bytes (server to client, counted from when
    it is armed) at which it strikes, in the middle of whatever is passing; `on_move`: strike
    at the next UID MOVE instead. Kinds: "fin" and "rst" close the connection (an RST to the
    client for "rst"); "freeze" stops forwarding it and black-holes new connections until a
    client gives up on one; "hold" stops forwarding downstream until `resume`, for the test
    to stop the server meanwhile."""

    kind: str
    after: int | None = None
    on_move: bool = False
    fired: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)

    def __str__(self) -> str:
        return f"{self.kind} at {'UID MOVE' if self.on_move else f'{self.after} bytes'}"


class Link:
    """One relayed connection."""

    def __init__(self, client: socket.socket, server: socket.socket | None) -> None:
        self.client = client
        self.server = server
        self.frozen = False
        self.on_reply: Fault | None = None  # strikes at the server's next bytes (a MOVE's answer)
        self.held: Fault | None = None  # downstream waits for its resume
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def close(self, reset: bool = False) -> None:
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        if reset:
            # SO_LINGER 0: close() sends an RST. shutdown(SHUT_RD) wakes our own reader and sends nothing.
            self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _quietly(lambda: self.client.shutdown(socket.SHUT_RD))
        else:
            _quietly(lambda: self.client.shutdown(socket.SHUT_RDWR))
        _quietly(self.client.close)
        if self.server is not None:
            server = self.server
            _quietly(lambda: server.shutdown(socket.SHUT_RDWR))
            _quietly(server.close)


class Relay:
    """A TCP relay from a free loopback port to Dovecot's, in threads, striking as armed."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.links: list[Link] = []
        self.fault: Fault | None = None
        self.counted = 0  # downstream bytes since the fault was armed
        self.black_hole = False
        self.accepted = self.refused = self.swallowed = 0  # connections; refused upstream; given up on
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="relay-accept", daemon=True)
        self._thread.start()

    def arm(self, fault: Fault) -> None:
        with self.lock:
            self.fault, self.counted = fault, 0

    def wait(self, condition: Callable[[], bool], what: str, seconds: float = WAIT) -> None:
        """Until `condition()` (read under the lock) holds; fails the test after `seconds`."""
        with self.changed:
            if not self.changed.wait_for(condition, seconds):
                pytest.fail(f"not within {seconds} s: {what}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
        with self.lock:
            links = list(self.links)
        for link in links:
            link.close()

    # -- connections --------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self.changed:
                self.accepted += 1
                hole = self.black_hole
            if hole:
                link = Link(client, None)
                link.frozen = True
                self._spawn(self._swallow, link, hole=True)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:  # Dovecot is down: the client sees its connection closed at once
                with self.changed:
                    self.refused += 1
                    self.changed.notify_all()
                _quietly(client.close)
                continue
            link = Link(client, server)
            with self.lock:
                self.links.append(link)
            self._spawn(self._up, link)
            self._spawn(self._down, link)

    def _spawn(self, target: Callable[..., None], link: Link, **kw: bool) -> None:
        threading.Thread(target=target, args=(link,), kwargs=kw, daemon=True).start()

    def _swallow(self, link: Link, hole: bool = False) -> None:
        """Read and drop what the client sends until it gives up (closes)."""
        try:
            while link.client.recv(CHUNK):
                pass
        except OSError:
            pass
        with self.changed:
            if hole and self.black_hole and not self._stop.is_set():
                self.swallowed += 1
                self.black_hole = False  # the client's timeout fired on a dead connection: enough
            self.changed.notify_all()
        link.close()

    def _up(self, link: Link) -> None:
        """Client to server: commands. A UID MOVE can be what the armed fault waits for."""
        assert link.server is not None
        try:
            while True:
                data = link.client.recv(CHUNK)
                if not data:
                    break
                if link.frozen:
                    self._swallow(link)
                    return
                fault = self._take(lambda f: f.on_move and b"UID MOVE" in data)
                if fault is not None and fault.kind == "hold":
                    link.held = fault  # its answer (if any comes) waits
                    link.server.sendall(data)
                    self._fired(fault)  # the test stops the server while it may be moving
                    continue
                if fault is not None:
                    link.on_reply = fault  # struck when the server has done it and answers
                link.server.sendall(data)
        except OSError:
            pass
        link.close()

    def _down(self, link: Link) -> None:
        """Server to client: greetings, listings, FETCH responses. Byte-counted faults strike here."""
        assert link.server is not None
        try:
            while True:
                data = link.server.recv(CHUNK)
                if not data:
                    break
                if link.held is not None:
                    link.held.resume.wait(WAIT)
                if link.on_reply is not None:  # the MOVE is done on the server; its answer is lost
                    self._strike(link.on_reply, link, b"")
                    return
                head, fault = self._count(data)
                if fault is None:
                    link.client.sendall(data)
                    continue
                link.client.sendall(head)  # part of the response reaches the client
                if not self._strike(fault, link, data[len(head):]):
                    return
        except OSError:
            pass
        if not link.frozen:
            link.close()

    def _count(self, data: bytes) -> tuple[bytes, Fault | None]:
        with self.lock:
            fault = self.fault
            if fault is not None and fault.after is not None and self.counted + len(data) >= fault.after:
                head = data[: fault.after - self.counted]
                self.fault = None
                return head, fault
            self.counted += len(data)
            return data, None

    def _take(self, matches: Callable[[Fault], bool]) -> Fault | None:
        with self.lock:
            fault = self.fault
            if fault is not None and matches(fault):
                self.fault = None
                return fault
            return None

    def _fired(self, fault: Fault) -> None:
        with self.changed:
            fault.fired.set()
            self.changed.notify_all()

    def _strike(self, fault: Fault, link: Link, rest: bytes) -> bool:
        """Do what `fault` says to `link`; True when the downstream pump should go on."""
        if fault.kind in ("fin", "rst"):
            link.close(reset=fault.kind == "rst")
            self._fired(fault)
            return False
        if fault.kind == "freeze":
            link.frozen = True  # the upstream pump swallows what the client sends from now on
            with self.changed:
                self.black_hole = True
            self._fired(fault)
            link.closed.wait(WAIT)  # the client gives up; nothing more is forwarded either way
            return False
        assert fault.kind == "hold"
        link.held = fault
        self._fired(fault)
        fault.resume.wait(WAIT)
        link.close()  # the server died meanwhile: what it had sent before is lost with it
        return False


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except OSError:
        pass
