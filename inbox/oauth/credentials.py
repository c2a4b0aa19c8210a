"""Where an OAuth login's secrets live: the environment variables and files `auth:` names.

Reads a secret when a token is needed (never caches it: a file replaced before a retry or a
SIGHUP is read the next time), writes a rotated refresh token back to its file atomically
(a temporary file beside it, mode 0600, then os.replace), holds a refresh token file's lock
from reading it to writing its successor (`exclusive`: the mailbox and the relay, in threads or
processes of their own, may share one), and lists at start every secret that
is missing as a `file: key.path: why` line, like every other config problem.
It never logs a secret's value, never puts one into an exception, and never stores one in the
database.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from inbox.settings import OAuthSettings, read_secret

FILE_MODE = 0o600


class SecretMissing(Exception):
    """A secret the config names is not there (unset variable, unreadable or empty file).
    The message names the key and the variable or file, never a value."""


@dataclass(frozen=True)
class SecretPlace:
    """One secret: an environment variable or a file, and the config key that named it."""

    key: str  # e.g. "client_secret_env"
    env: str | None = None
    file: Path | None = None

    def read(self) -> str:
        if self.env is not None:
            value = read_secret(self.env)
            if value is None:
                raise SecretMissing(f"{self.key}: environment variable {self.env} is not set")
            return value.strip()
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretMissing(f"{self.key}: cannot read {self.file}: {exc.strerror or type(exc).__name__}") from None
        except UnicodeDecodeError:
            raise SecretMissing(f"{self.key}: {self.file} is not UTF-8 text") from None
        if not value:
            raise SecretMissing(f"{self.key}: {self.file} is empty")
        return value

    @property
    def writable(self) -> bool:
        return self.file is not None

    def write(self, value: str) -> None:
        """Replace the file's secret with `value`: a reader sees the old one or the new one, whole."""
        assert self.file is not None
        write_private(self.file, value + "\n")


@contextmanager
def exclusive(place: SecretPlace | None) -> Iterator[None]:
    """Hold `place`'s file to this one user of it, from reading the refresh token to writing the
    one a rotating provider gives back: two users of one file (an IMAP mailbox and the relay, or
    two processes of one instance) would otherwise both spend the same token, and the provider,
    which takes each only once, would refuse the second. An advisory lock on a file beside it
    (`NAME.lock`, 0600), which every inbox process takes; a variable needs none."""
    if place is None or place.file is None:
        yield
        return
    lock = place.file.with_name(place.file.name + ".lock")
    handle = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes, also if this process dies
        yield
    finally:
        os.close(handle)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by this user only (0600), flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _place(auth: OAuthSettings, name: str) -> SecretPlace | None:
    env, file = getattr(auth, f"{name}_env", None), getattr(auth, f"{name}_file", None)
    if env is not None:
        return SecretPlace(f"{name}_env", env=env)
    if file is not None:
        return SecretPlace(f"{name}_file", file=file)
    return None


def client_secret(auth: OAuthSettings) -> SecretPlace | None:
    return _place(auth, "client_secret")


def refresh_token(auth: OAuthSettings) -> SecretPlace | None:
    return _place(auth, "refresh_token")


def file_secret(key: str, path: Path | None) -> SecretPlace | None:
    return SecretPlace(key, file=path) if path is not None else None


def places(auth: OAuthSettings) -> list[SecretPlace]:
    """Every secret `auth` names."""
    found = [client_secret(auth), refresh_token(auth), file_secret("certificate_file", auth.certificate_file),
             file_secret("certificate_key_file", auth.certificate_key_file),
             file_secret("service_account_file", auth.service_account_file)]
    return [place for place in found if place is not None]


def missing(auth: OAuthSettings, source: object, key_path: str) -> list[str]:
    """One config-error line per secret of `auth` that cannot be read now:
    "file: imap.0.auth.client_secret_env: environment variable X is not set"."""
    problems = []
    for place in places(auth):
        try:
            place.read()
        except SecretMissing as exc:
            problems.append(f"{source}: {key_path}.{exc}")
    return problems
