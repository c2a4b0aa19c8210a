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

import os
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jinja2 import BaseLoader, Environment, TemplateNotFound
from jinja2.loaders import split_template_path


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

    def get(self, name: str) -> Found | None:
        path = self._path(name)
        if path is None:
            return None
        try:
            stat = path.stat()
            return Found(path.read_text(encoding="utf-8"), (stat.st_mtime_ns, stat.st_size))
        except FileNotFoundError:
            return None

    def stamp(self, name: str) -> Hashable | None:
        path = self._path(name)
        try:
            stat = path.stat() if path is not None else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat is not None and path is not None and path.is_file() else None

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

    def _path(self, name: str) -> Path | None:
        try:
            pieces = split_template_path(name)  # refuses ".." as Jinja's own file loader does
        except TemplateNotFound:
            return None
        return self.directory.joinpath(*pieces) if pieces and "\0" not in name else None


class Overlay:
    """`changes` (path -> text; None: the file removed) in place of `base`'s texts; nothing stored."""

    def __init__(self, base: TemplateSource, changes: Mapping[str, str | None] | None = None) -> None:
        self.base, self.changes = base, dict(changes or {})

    def get(self, name: str) -> Found | None:
        if name in self.changes:
            text = self.changes[name]
            return None if text is None else Found(text, ("candidate", text))
        return self.base.get(name)

    def stamp(self, name: str) -> Hashable | None:
        if name in self.changes:
            text = self.changes[name]
            return None if text is None else ("candidate", text)
        return self.base.stamp(name)

    def names(self) -> list[str]:
        named = set(self.base.names()) | {n for n, t in self.changes.items() if t is not None}
        return sorted(named - {n for n, t in self.changes.items() if t is None})


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
