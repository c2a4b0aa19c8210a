"""Runs `inbox serve` as a real subprocess for crash tests: start, SIGKILL, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`inbox serve --config CONFIG` with this interpreter and the caller's environment (whose
    $INBOX_TEST_CLOCK, set for every test by tests/conftest.py, starts its clock at a fixed
    instant), or, given `argv` and `env`, exactly that command line and environment (a deployment's
    own words, as the compose file gives them; then `config` is only a label, the command decides
    what it reads, and the caller sets the clock in `env`)."""

    def __init__(self, config: Path, smtp_port: int | None, log: Path, *,
                 argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.smtp_port = smtp_port
        self.log = log
        self.argv = list(argv) if argv is not None else [sys.executable, "-m", "inbox", "--config", str(config), "serve"]
        self.env = dict(env) if env is not None else None  # None: the caller's, read at each launch
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        self.launch()
        self.wait_listening(timeout)

    def launch(self) -> None:
        """Start the process without waiting, so several can start at the same moment."""
        with self.log.open("ab") as out:
            env = self.env if self.env is not None else {**os.environ, "INBOX_LOG_LEVEL": "WARNING"}
            # A session of its own: `kill` reaches the child processes `serve` starts, as a crash of
            # the machine (or an OOM kill of the service's cgroup) would.
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stdout=out, stderr=out, env=env, start_new_session=True)

    def wait_listening(self, timeout: float = 30) -> None:
        """Wait until the SMTP port answers (started, signal handlers in place); raise if it exits first."""
        if self.smtp_port is not None and not self.wait_until(self._listening, timeout):
            raise RuntimeError(f"inbox serve did not listen on {self.smtp_port}: {self.log.read_text()[-2000:]}")

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"inbox serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.smtp_port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the whole instance: `serve` and every process it started."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)
        self.wait_until(lambda: not self.group(), 30)

    def group(self) -> list[int]:
        """The processes still alive in this instance's process group."""
        assert self.proc is not None
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.proc.pid and fields[0] != "Z":
                    alive.append(int(entry.name))
        return alive

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
        """Poll a condition until it holds or the time is up (a bounded wait, not a sleep for a deadline)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.05)
        return False
