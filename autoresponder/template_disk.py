"""Template versions to and from a folder: `inbox templates export`, `import` and `import-from-disk`.

`export` writes the current texts as a templates folder; `read_folder` reads one back as path ->
text (the `*.j2` files; a README or an editor's backup is not a template). `import_from_disk` is
the upgrade's step: the files of the config's templates folder that differ from the shipped
defaults (`autoresponder.shipped`), for paths never saved, become versions by "disk",
origin "import", one file at a time, so one broken file does not keep the others out (it is
reported, and the folder's file keeps being read for it as before). `import_once` runs it on the
first start after migration 0011 marked an existing installation, exactly once over all instances.

It never changes a version except through `StoredVersions.apply`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from autoresponder.render import FILES, KINDS
from autoresponder.versions import Applied, StoredVersions
from inbox.domain.template_versions import TemplateProblem, TemplateVersion
from inbox.store.tables import KeyValue

IMPORT_PENDING = "templates_import_from_disk"  # set "pending" by migration 0011 on an existing database
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Imported:
    versions: tuple[TemplateVersion, ...] = ()
    problems: tuple[TemplateProblem, ...] = ()  # the files left out, and why


def export(versions: StoredVersions, directory: Path) -> list[str]:
    """Write every default and override file's current text under `directory`; the paths written."""
    paths = [f"{kind}/{file}" for kind in KINDS for file in FILES] + list(versions.source.names())
    written = []
    for path in paths:
        found = versions.source.get(path)
        if found is None or versions.valid_path(path) is None:  # a misspelt override on disk: not a template
            continue
        target = directory.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(found.text, encoding="utf-8")
        written.append(path)
    return written


def read_folder(directory: Path) -> dict[str, str]:
    """The `*.j2` files under `directory` as path -> text (UTF-8); dot files and backups skipped."""
    found = {}
    for file in sorted(directory.rglob("*.j2")):
        relative = file.relative_to(directory)
        if file.is_file() and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()] = file.read_text(encoding="utf-8")
    return found


def import_folder(versions: StoredVersions, directory: Path, *, author: str, message: str) -> Applied:
    """The folder's files that differ from their current text, checked together, stored all or none."""
    changes = {path: text for path, text in read_folder(directory).items() if _differs(versions, path, text)}
    if not changes:
        return Applied()
    return versions.apply(changes, author=author, message=message, origin="import")


def import_from_disk(versions: StoredVersions, directory: Path) -> Imported:
    """The files of `directory` (the config's templates folder) an admin changed from the shipped
    defaults, each stored as a version by "disk" when it checks, else reported."""
    stored, problems = [], []
    for path, text in read_folder(directory).items():
        if text == versions.shipped.get(path) or versions.source.version(path) is not None:
            continue  # a default as shipped, or a path saved since (the page's save wins over the disk)
        if versions.valid_path(path) is None:
            problems.append(TemplateProblem(f"{versions.label}/{path}", None, "not a template path: left out"))
            continue
        applied = versions.apply({path: text}, author="disk", message="imported from disk", origin="import")
        stored += applied.versions
        problems += applied.problems
    return Imported(tuple(stored), tuple(problems))


def import_once(sessions: sessionmaker[Session], versions: StoredVersions, directory: Path) -> Imported | None:
    """`import_from_disk` on the first start after the upgrade: the instance that turns the mark from
    "pending" to "done" imports; None when there was nothing to do (a new install, or done before)."""
    with sessions() as session, session.begin():
        claimed = session.execute(update(KeyValue).where(KeyValue.key == IMPORT_PENDING, KeyValue.value == "pending")
                                  .values(value="done")).rowcount
    if not claimed:
        return None
    imported = import_from_disk(versions, directory)
    for version in imported.versions:
        log.info("template %s/%s imported from disk as version %d", versions.label, version.path, version.version)
    for problem in imported.problems:
        log.warning("template %s not imported from disk: %s (run `inbox templates import-from-disk` once fixed)",
                    problem.file, problem.reason)
    return imported


def _differs(versions: StoredVersions, path: str, text: str) -> bool:
    """The text is not the one in effect for the path (its stored version, else the folder's file)."""
    found = versions.source.get(path)
    return found is None or found.text != text.replace("\r\n", "\n")
