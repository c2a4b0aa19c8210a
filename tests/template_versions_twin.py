"""An in-memory twin of `TemplateVersions` (inbox.domain.template_versions), for the editor's tests.

Versions live in a dict, the shipped files are read from a folder once; `check` writes the whole
set with the candidate texts in place into a scratch folder named "templates" and runs the real
`autoresponder.samples.check` on it (every kind, severity, status, plan and customer, about 0.2 s),
so a refusal names file, line and reason as the real store's will. `preview` renders the real
`autoresponder.preview.preview` from such a folder, so a candidate text shows as it would be sent.
The real store (autoresponder, on the database) replaces it at merge: tests take a
`TemplateVersions`, never this class.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from inbox.domain.template_versions import SaveOutcome, TemplateEntry, TemplateProblem, TemplateVersion

_LINE = re.compile(r"^(?P<file>[^:]+?)(?::(?P<line>\d+))?: (?P<reason>.*)$", re.S)


class TemplateVersionsTwin:
    def __init__(self, shipped: Path, clock: Callable[[], datetime], severities: list[str]) -> None:
        self._shipped = {p.relative_to(shipped).as_posix(): p.read_text("utf-8")
                         for p in sorted(shipped.rglob("*.j2"))}
        self._clock = clock
        self._severities = severities
        self._versions: dict[str, list[TemplateVersion]] = {}  # oldest first

    # -- the protocol --------------------------------------------------------------------------

    def entries(self) -> list[TemplateEntry]:
        found = []
        for path in sorted(self._shipped):
            kind, scope = _kind_and_scope(path)
            latest = self._latest(path)
            text = latest.text if latest else self._shipped[path]
            found.append(TemplateEntry(path, kind, scope, scope != "default" or text != self._shipped[path],
                                       latest.version if latest else None, latest.author if latest else None,
                                       latest.at if latest else None, None))
        return found

    def current(self, path: str) -> TemplateVersion:
        if path not in self._shipped:
            raise LookupError(f"no template file {path!r}")
        latest = self._latest(path)
        return latest or TemplateVersion(path, 0, self._shipped[path], "disk", "the shipped file",
                                         self._clock(), "default")

    def history(self, path: str) -> list[TemplateVersion]:
        self.current(path)
        return list(reversed(self._versions.get(path, [])))

    def check(self, changes: Mapping[str, str]) -> tuple[TemplateProblem, ...]:
        from autoresponder.samples import check

        with self.folder(changes) as folder:
            return tuple(_problem(line) for line in check(folder, self._severities))

    def save(self, path: str, text: str, *, author: str, message: str) -> SaveOutcome:
        return self._new(path, text, author, message, "save")

    def rollback(self, path: str, version: int, *, author: str) -> SaveOutcome:
        old = next((v for v in self.history(path) if v.version == version), None)
        if old is None:
            raise LookupError(f"{path} has no version {version}")
        return self._new(path, old.text, author, f"rolled back to version {version}", "rollback")

    def reset(self, path: str, *, author: str) -> SaveOutcome:
        self.current(path)
        return self._new(path, self._shipped[path], author, "reset to the shipped file", "reset")

    # -- for the tests -------------------------------------------------------------------------

    @contextmanager
    def folder(self, changes: Mapping[str, str] = {}) -> Iterator[Path]:
        """The current set, with `changes` in place, as a templates folder of its own."""
        with tempfile.TemporaryDirectory(prefix="twin-") as scratch:
            root = Path(scratch) / "templates"  # the renderer names files by the folder's name
            for path in self._shipped:
                target = root / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(changes.get(path, self.current(path).text), "utf-8")
            yield root

    def preview(self, app: Any) -> Callable[..., Any]:
        """The web's preview callable for `app`, rendering candidate texts with the real renderer."""
        from autoresponder.preview import preview
        from autoresponder.render import Renderer

        def shown(kind: str, tracking: str | None, customer: str | None, changes: Mapping[str, str]) -> Any:
            with self.folder(changes) as root:
                return preview(app.sessions, app.desk(), Renderer(root), kind, app.clock.now(),
                               tracking=tracking, customer=customer)

        return shown

    def _new(self, path: str, text: str, author: str, message: str, origin: str) -> SaveOutcome:
        self.current(path)
        problems = self.check({path: text})
        if problems:
            return SaveOutcome(None, problems)
        versions = self._versions.setdefault(path, [])
        version = TemplateVersion(path, len(versions) + 1, text, author, message, self._clock(), origin)
        versions.append(version)
        return SaveOutcome(version)

    def _latest(self, path: str) -> TemplateVersion | None:
        versions = self._versions.get(path)
        return versions[-1] if versions else None


def _kind_and_scope(path: str) -> tuple[str, str]:
    parts = path.split("/")
    if parts[0] == "plans" and len(parts) == 4:
        return parts[2], f"plan:{parts[1]}"
    if parts[0] == "customers" and len(parts) == 4:
        return parts[2], f"customer:{parts[1]}"
    return parts[0], "default"


def _problem(line: str) -> TemplateProblem:
    found = _LINE.match(line)
    if found is None:
        return TemplateProblem("templates", None, line)
    return TemplateProblem(found["file"], int(found["line"]) if found["line"] else None, found["reason"])
