"""The template versions (`inbox.domain.template_versions.TemplateVersions`): checked, then stored.

Every change (a save, a rollback, a reset, an import) is checked first with the candidate texts
in place: the whole `templates check`, every file against sample tickets of every severity,
status, plan and customer. It is refused when a problem names a changed file or did not exist
before the change (a file broken before, and untouched, does not block fixing another); nothing
refused is stored. A change that passes is one new version a path, in one transaction, so an
import applies all of its files or none. History is never rewritten: a rollback stores the old
text as a new version ("rollback"), a reset the shipped text ("reset"); an override the shipped
templates do not have is reset by a version that removes it (no text), so the next more general
file applies again.

Only paths `autoresponder.template_paths` accepts are read or stored. Texts are stored with LF
line ends (a browser's textarea sends CRLF).

It never sends, and never writes the disk except where `export` is asked to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from autoresponder.render import FILES, KINDS, Renderer, TemplateError
from autoresponder.samples import SampleCache, findings
from autoresponder.stored_templates import StoredSource
from autoresponder.template_paths import TemplatePath, general, parse_path
from autoresponder.template_source import Overlay
from inbox.domain.template_versions import (
    SaveOutcome,
    TemplateEntry,
    TemplateProblem,
    TemplateVersion,
)
from inbox.store import template_versions as store
from inbox.store.template_versions import StoredVersion

MAX_TEXT = 100_000  # characters of one template's text
MAX_AUTHOR, MAX_MESSAGE = 200, 1000
DEFAULT_AT = datetime(1970, 1, 1, tzinfo=UTC)  # "version 0", the file: it has no time of its own


@dataclass(frozen=True)
class Applied:
    """What a change of several files did: every new version, or the problems that refused them all."""

    versions: tuple[TemplateVersion, ...] = ()
    problems: tuple[TemplateProblem, ...] = ()


class StoredVersions:
    """The templates' versions in the database, checked with the samples of `severities`, for the
    plans and customers the config knows (`customers`: id -> its plan). Safe to share between threads;
    checks run one at a time on one instance."""

    def __init__(self, sessions: sessionmaker[Session], source: StoredSource, directory: Path, *,
                 plans: Sequence[str], customers: Mapping[str, str], severities: Sequence[str],
                 shipped: Mapping[str, str], now: Callable[[], datetime]) -> None:
        self.sessions, self.source, self.shipped, self._now = sessions, source, dict(shipped), now
        self.plans, self.customers, self.severities = list(plans), dict(customers), list(severities)
        # One checking renderer, kept: a check compiles only the texts that changed since the last.
        self._candidates = Overlay(source)
        self._checker = Renderer(directory, source=self._candidates)
        self._samples = SampleCache(severities)
        self._memo: dict[Hashable, TemplateError | None] = {}  # a file's result, by its text's stamp
        self.label = self._checker.label
        self._lock = threading.Lock()
        self._baseline: tuple[Hashable, tuple[TemplateProblem, ...]] | None = None

    # --- reading ---------------------------------------------------------------------------------

    def entries(self) -> list[TemplateEntry]:
        """Every default file, then every override there is, each with its current version and problem."""
        self.source.refresh()  # a process that runs no scheduler (the web's) reads others' saves here
        problems = {p.file: p for p in reversed(self._current_problems())}
        paths = [f"{kind}/{file}" for kind in KINDS for file in FILES]
        paths += [n for n in self.source.names() if self.valid_path(n) is not None]
        entries = []
        for path in paths:
            where = self.valid_path(path)
            assert where is not None
            stored, found = self.source.version(path), self.source.get(path)
            customised = where.is_override or found is None or found.text != self.shipped.get(path)
            entries.append(TemplateEntry(
                path=path, kind=where.kind, scope=where.scope, customised=customised,
                current=stored.version if stored else None, author=stored.author if stored else None,
                at=stored.at if stored else None, problem=problems.get(f"{self.label}/{path}")))
        return entries

    def current(self, path: str) -> TemplateVersion:
        """The version in effect. A path never saved is version 0, the file; an override with no
        text of its own (never saved, or removed) reads the text that applies in its place."""
        where = self._lookup(path)
        self.source.refresh()
        stored = self.source.version(path)
        if stored is not None and stored.text is not None:
            return _domain(stored)
        found = self.source.get(path) if stored is None else None
        if found is None:
            found = next((f for f in map(self.source.get, general(where, self._plan_of(where))) if f), None)
        if found is None:
            raise LookupError(f"{path}: no text, and no more general file applies")
        if stored is not None:  # removed by a reset: its version, the general text
            return TemplateVersion(path, stored.version, found.text, stored.author, stored.message, stored.at,
                                   stored.origin)
        return TemplateVersion(path, 0, found.text, "default", "the file", DEFAULT_AT, "default")

    def history(self, path: str) -> list[TemplateVersion]:
        """Every version, newest first, ending with version 0 (the file in the templates folder) when
        there is one; a removal reads as an empty text."""
        self._lookup(path)
        with self.sessions() as session:
            versions = [_domain(v) for v in store.history(session, path)]
        original = self.source.fallback.get(path)
        if original is not None:
            versions.append(TemplateVersion(path, 0, original.text, "default", "the file", DEFAULT_AT, "default"))
        return versions

    def audit(self, kind: str | None = None) -> list[TemplateVersion]:
        """Every stored version of every path (of `kind`'s files only, when given), newest first."""
        with self.sessions() as session:
            rows = store.every(session)
        return [_domain(v) for v in rows if kind is None or _kind_of(v.path) == kind]

    # --- checking ---------------------------------------------------------------------------------

    def check(self, changes: Mapping[str, str]) -> tuple[TemplateProblem, ...]:
        """The whole `templates check` with `changes` (path -> text) in place; nothing stored."""
        problems, candidate = self._candidate({path: _lf(text) for path, text in changes.items()})
        with self._lock:
            return problems + self._check_locked(candidate)

    # --- changing -----------------------------------------------------------------------------------

    def save(self, path: str, text: str, *, author: str, message: str) -> SaveOutcome:
        applied = self.apply({path: text}, author=author, message=message, origin="save")
        return SaveOutcome(applied.versions[0] if applied.versions else None, applied.problems)

    def rollback(self, path: str, version: int, *, author: str) -> SaveOutcome:
        """Make version `version` (0: the file) current again, as a new version."""
        try:
            where = self._lookup(path)
        except LookupError as exc:
            return _refused(path, str(exc))
        if version == 0:
            original = self.source.fallback.get(path)
            text: str | None = original.text if original is not None else None
            if original is None and not where.is_override:
                return _refused(path, "no version 0: the templates folder has no such file")
        else:
            with self.sessions() as session:
                old = store.one(session, path, version) if isinstance(version, int) and version > 0 else None
            if old is None:
                return _refused(path, f"no version {version!r} of {path}")
            text = old.text
        applied = self.apply({path: text}, author=author, message=f"rollback to version {version}", origin="rollback")
        return SaveOutcome(applied.versions[0] if applied.versions else None, applied.problems)

    def reset(self, path: str, *, author: str) -> SaveOutcome:
        """Back to the shipped text; an override with no shipped file is removed instead."""
        try:
            self._lookup(path)
        except LookupError as exc:
            return _refused(path, str(exc))
        text = self.shipped.get(path)
        message = "reset to the shipped default" if text is not None else "reset: removed, the more general file applies"
        applied = self.apply({path: text}, author=author, message=message, origin="reset")
        return SaveOutcome(applied.versions[0] if applied.versions else None, applied.problems)

    def apply(self, changes: Mapping[str, str | None], *, author: str, message: str, origin: str) -> Applied:
        """Check `changes` (path -> text; None removes an override) together and store them all as new
        versions, or none of them with the problems that refused them."""
        problems = _who(author, message)
        wrong, candidate = self._candidate({p: _lf(t) if t is not None else None for p, t in changes.items()})
        if problems or wrong or not candidate:
            return Applied(problems=problems + wrong or (TemplateProblem(self.label, None, "nothing to change"),))
        with self._lock:
            self.source.refresh()  # saved elsewhere since: check against what is current now
            before = set(self._baseline_locked())
            found = self._check_locked(candidate)
            changed = {f"{self.label}/{path}" for path in candidate}
            blocking = tuple(p for p in found if p.file in changed or p not in before)
            if blocking:
                return Applied(problems=blocking)
            seen = self.source.seen
            with self.sessions() as session, session.begin():
                stored = [store.append(session, path, text, author=author.strip(), message=message.strip(),
                                       at=self._now(), origin=origin) for path, text in sorted(candidate.items())]
            self.source.refresh()
            if set(range(seen + 1, self.source.seen + 1)) == {v.id for v in stored}:
                # Nothing but this change was stored since the check: its problems are the new
                # current ones, and the next save need not check the current texts again.
                self._baseline = (self._token(), found)
        return Applied(versions=tuple(_domain(v) for v in stored))

    # --- the parts ---------------------------------------------------------------------------------

    def _candidate(self, changes: Mapping[str, str | None]
                   ) -> tuple[tuple[TemplateProblem, ...], dict[str, str | None]]:
        """Problems with the paths, and the changes whose paths are valid."""
        wrong, valid = [], {}
        for path, text in changes.items():
            try:
                where = parse_path(path, self.plans, self.customers)
            except ValueError as exc:
                wrong.append(TemplateProblem(f"{self.label}/{path}" if isinstance(path, str) else self.label, None,
                                             str(exc)))
                continue
            reason = _unstorable(text) if text is not None else None
            if text is None and not where.is_override:
                reason = "a default file cannot be removed"
            if reason is not None:
                wrong.append(TemplateProblem(f"{self.label}/{path}", None, reason))
                continue
            valid[path] = text
        return tuple(wrong), valid

    def _check_locked(self, changes: Mapping[str, str | None]) -> tuple[TemplateProblem, ...]:
        self._candidates.changes = dict(changes)
        try:
            return tuple(_problem(e) for e in findings(self._checker, self.severities, adopt=False,
                                                       samples=self._samples, memo=self._memo))
        finally:
            self._candidates.changes = {}

    def _baseline_locked(self) -> tuple[TemplateProblem, ...]:
        """The problems of the current texts, checked again only when a text changed since."""
        token = self._token()
        if self._baseline is None or self._baseline[0] != token:
            self._baseline = (token, self._check_locked({}))
        return self._baseline[1]

    def _current_problems(self) -> tuple[TemplateProblem, ...]:
        with self._lock:
            return self._baseline_locked()

    def _token(self) -> Hashable:
        names = [f"{kind}/{file}" for kind in KINDS for file in FILES] + list(self.source.names())
        return tuple((name, self.source.stamp(name)) for name in names)

    def valid_path(self, path: str) -> TemplatePath | None:
        """The path's parts, or None when it names no template (beyond the protocol: for the CLI)."""
        try:
            return parse_path(path, self.plans, self.customers)
        except ValueError:
            return None

    def _lookup(self, path: str) -> TemplatePath:
        try:
            return parse_path(path, self.plans, self.customers)
        except ValueError as exc:
            raise LookupError(str(exc)) from None

    def _plan_of(self, where: TemplatePath) -> str | None:
        return self.customers.get(where.customer) if where.customer else None


def _domain(v: StoredVersion) -> TemplateVersion:
    return TemplateVersion(path=v.path, version=v.version, text=v.text or "", author=v.author, message=v.message,
                           at=v.at, origin=v.origin)


def _problem(error: TemplateError) -> TemplateProblem:
    return TemplateProblem(file=error.path, line=error.line, reason=error.reason)


def _refused(path: str, reason: str) -> SaveOutcome:
    return SaveOutcome(None, (TemplateProblem(f"templates/{path}", None, reason),))


def _who(author: str, message: str) -> tuple[TemplateProblem, ...]:
    if not isinstance(author, str) or not author.strip() or len(author) > MAX_AUTHOR:
        return (TemplateProblem("templates", None, f"an author is needed (at most {MAX_AUTHOR} characters)"),)
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        return (TemplateProblem("templates", None, f"the message is longer than {MAX_MESSAGE} characters"),)
    return ()


def _unstorable(text: object) -> str | None:
    """Why a text cannot be a template version, if it cannot: checked before any render or store."""
    if not isinstance(text, str):
        return "the text is not a string"
    if len(text) > MAX_TEXT:
        return f"the text is longer than {MAX_TEXT} characters"
    if "\0" in text:
        return "the text holds a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the text is not valid Unicode (a lone surrogate)"
    return None


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n") if isinstance(text, str) else text


def _kind_of(path: str) -> str:
    parts = path.split("/")
    return parts[-2] if len(parts) >= 2 else ""
