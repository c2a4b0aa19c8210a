"""What the template editor (inbox.web) and the template versions (autoresponder) agree on.

Templates live in the database as versions of one file each, a file named by its path under the
templates directory ("acknowledgement/body.txt.j2", "plans/P/KIND/FILE", "customers/C/KIND/FILE").
A save is a new version; a rollback or a reset is a new version too, so history is never
rewritten. A version that does not render is never made current: `save` checks the whole set
(every severity, status, plan and customer, as `inbox templates check` does) with the new text in
place, and refuses it with its problems.

Plain data and one protocol, so the web room and the rendering room meet only here, wired by the
composition root. Every method is synchronous and may block (the web calls them in threads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class TemplateProblem:
    file: str  # the path as errors name it: "templates/acknowledgement/body.txt.j2"
    line: int | None
    reason: str


@dataclass(frozen=True)
class TemplateVersion:
    path: str  # "acknowledgement/body.txt.j2"
    version: int  # 1, 2, ... per path
    text: str
    author: str  # the named admin, "admin" for the one shared token, "disk" or "cli" otherwise
    message: str
    at: datetime  # aware, UTC
    origin: str  # "default" | "save" | "rollback" | "reset" | "import"


@dataclass(frozen=True)
class TemplateEntry:
    path: str
    kind: str
    scope: str  # "default" | "plan:P" | "customer:C"
    customised: bool  # the current text differs from the shipped file (an override always is)
    current: int | None  # the current version; None: never saved (the shipped file is used)
    author: str | None
    at: datetime | None
    problem: TemplateProblem | None  # set when the current version stopped rendering


@dataclass(frozen=True)
class SaveOutcome:
    version: TemplateVersion | None  # the new current version; None: refused
    problems: tuple[TemplateProblem, ...] = ()  # why it was refused (empty when saved)

    @property
    def saved(self) -> bool:
        return self.version is not None


class TemplateVersions(Protocol):
    def entries(self) -> list[TemplateEntry]: ...

    def current(self, path: str) -> TemplateVersion: ...  # LookupError: no such template path

    def history(self, path: str) -> list[TemplateVersion]: ...  # newest first

    def check(self, changes: Mapping[str, str]) -> tuple[TemplateProblem, ...]: ...  # path -> candidate text

    def save(self, path: str, text: str, *, author: str, message: str) -> SaveOutcome: ...

    def rollback(self, path: str, version: int, *, author: str) -> SaveOutcome: ...

    def reset(self, path: str, *, author: str) -> SaveOutcome: ...  # back to the shipped file's text
