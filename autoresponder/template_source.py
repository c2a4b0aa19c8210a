"""Where the renderer reads template texts: a folder of files, or another source with texts in place.

A source answers three questions about a file named by its path under the templates folder
("acknowledgement/body.txt.j2", "customers/acme/acknowledgement/subject.txt.j2"): its text and a
stamp that changes whenever the text does (`get`), that stamp alone, cheaply, for Jinja's
auto-reload on every render (`stamp`), and which files exist (`names`). `FileSource` reads a folder
(what a render always did); `Overlay` puts candidate texts over another source, without storing
them, for a check or a preview; `autoresponder.stored_templates.StoredSource` reads the database's
current versions over the shipped files. `SourceLoader` is the Jinja loader over any of them.

It never renders, never writes, and never resolves a name outside the folder (a `..` or an
absolute path is no file at all).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Protocol

from jinja2 import BaseLoader, Environment, TemplateNotFound
from jinja2.loaders import split_template_path

_UNKNOWN = object()
MAX_NAMES = 10_000


@dataclass(frozen=True)
class Found:
    text: str
    stamp: Hashable  # equal stamps: the same text


class TemplateSource(Protocol):
    def get(self, name: str) -> Found | None: ...  # None: no such file

    def stamp(self, name: str) -> Hashable | None: ...  # cheap; None: no such file

    def names(self) -> Iterable[str]: ...  # every override file: those under plans/ and customers/


class FileSource:
    """The files of one folder, read as they are now: an edit on disk is a new stamp."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(os.path.abspath(directory))
        self._paths: dict[str, str | None] = {}

    def get(self, name: str) -> Found | None:
        path = self._path(name)
        if path is None:
            return None
        try:
            stat = os.stat(path)
            with open(path, encoding="utf-8") as file:
                return Found(file.read(), (stat.st_mtime_ns, stat.st_size)) if S_ISREG(stat.st_mode) else None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def stamp(self, name: str) -> Hashable | None:
        """One stat: asked for each file of each email (Jinja's auto-reload)."""
        path = self._path(name)
        try:
            stat = os.stat(path) if path is not None else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat is not None and S_ISREG(stat.st_mode) else None

    def names(self) -> list[str]:
        found = []
        for top in ("plans", "customers"):
            base = self.directory / top
            for path in sorted(base.rglob("*")) if base.is_dir() else ():
                relative = path.relative_to(self.directory)
                if any(part.startswith(".") for part in relative.parts) or path.name.endswith("~"):
                    continue  # editor swap and backup files
                if path.is_file():
                    found.append(relative.as_posix())
        return found

    def _path(self, name: str) -> str | None:
        """The file's path as a string, worked out once a name; None for a name outside the folder."""
        known = self._paths.get(name, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        try:
            pieces = split_template_path(name)  # refuses ".." as Jinja's own file loader does
        except TemplateNotFound:
            pieces = []
        path = os.path.join(self.directory, *pieces) if pieces and "\0" not in name else None
        if len(self._paths) < MAX_NAMES:  # names come from the renderer's own picks: a few hundred
            self._paths[name] = path
        return path


class Overlay:
    """`changes` (path -> text; None: the file removed) in place of `base`'s texts; nothing stored.
    A candidate's stamp is its text's digest: the same text is the same stamp, at any later check."""

    def __init__(self, base: TemplateSource, changes: Mapping[str, str | None] | None = None) -> None:
        self.base = base
        self.changes = changes or {}

    @property
    def changes(self) -> dict[str, str | None]:
        return self._changes

    @changes.setter
    def changes(self, changes: Mapping[str, str | None]) -> None:
        self._changes = dict(changes)
        self._stamps = {name: ("candidate", hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
                        for name, text in self._changes.items() if text is not None}

    def get(self, name: str) -> Found | None:
        if name in self._changes:
            text = self._changes[name]
            return None if text is None else Found(text, self._stamps[name])
        return self.base.get(name)

    def stamp(self, name: str) -> Hashable | None:
        if name in self._changes:
            return self._stamps.get(name)
        return self.base.stamp(name)

    def names(self) -> list[str]:
        named = set(self.base.names()) | {n for n, t in self._changes.items() if t is not None}
        return sorted(named - {n for n, t in self._changes.items() if t is None})


class SourceLoader(BaseLoader):
    """Jinja's loader over a source. A template's file name is its path under `root`, so that a
    render error's traceback frames name the template file and line (render.Renderer._locate)."""

    def __init__(self, source: TemplateSource, root: str) -> None:
        self.source, self.root = source, root

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        found = self.source.get(template)
        if found is None:
            raise TemplateNotFound(template)
        stamp, source = found.stamp, self.source
        return found.text, os.path.join(self.root, *template.split("/")), lambda: source.stamp(template) == stamp
