"""Render the admins' email templates into a subject, a text body and an HTML body.

Its job: find the template file for a kind of email (customer override, then plan override,
then the default), render it in the sandbox (`autoresponder.sandbox`) with `StrictUndefined`,
and turn every way that can fail into one `TemplateError` that names the file and line, so an
admin's typo reads like a compiler message. Texts come from a source
(`autoresponder.template_source`: the folder's files by default; in the service, the database's
current versions over the shipped files) and are read again when their stamp changes: a new
version applies to the next email, with no restart. A file that no longer renders is refused: the last
version that rendered is kept and used, and the refusal is logged and listed by `problems()`
(shown in /healthz) until the file is fixed. An email is rendered whole or not at all.

It never: sends, composes headers, queries the database itself or reads the config, or lets any exception
other than `TemplateError` escape `render()`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError

from autoresponder.budget import CHECK_SECONDS, MAX_VALUE, RENDER_SECONDS, RenderBudget, spending
from autoresponder.sandbox import (
    NamedUndefined,
    Sandbox,
    checking_headers,
    control_characters,
    named_values,
    one_header_line,
)
from autoresponder.template_source import FileSource, SourceLoader, TemplateSource

log = logging.getLogger(__name__)
_BODY_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

KINDS: tuple[str, ...] = (
    "acknowledgement", "status_update", "sla_warning", "breach_alert", "severity_changed", "solved", "closed",
    "reminder", "agent_reply", "assigned", "escalation_refused", "command_refused", "escalation_request",
    "escalation_received", "not_designated", "closed_by_customer", "no_ticket_named", "digest",
)
SUBJECT, TEXT, HTML = "subject.txt.j2", "body.txt.j2", "body.html.j2"
FILES: tuple[str, ...] = (SUBJECT, TEXT, HTML)

MAX_SUBJECT = 998  # RFC 5322 section 2.1.1: a line is at most 998 characters
MAX_OUTPUT = MAX_VALUE  # characters of one rendered file


class TemplateError(Exception):
    """A template could not be rendered; `str()` reads `path:line: reason` (line when known)."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str  # one line, whitespace collapsed, at most MAX_SUBJECT characters
    text: str
    html: str


def _is_segment(name: str | None) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")  # type: ignore[operator]



@dataclass(frozen=True)
class Refusal:
    """A file that does not render, and whether an earlier version of it is being used instead."""

    error: TemplateError
    keeping_last_good: bool

    def as_dict(self) -> dict[str, Any]:
        e = self.error
        return {"file": e.path, "line": e.line, "reason": e.reason, "keeping_last_good": self.keeping_last_good}


class Renderer:
    """Renders the templates of one source (default: the files under `directory`, which also names
    them in errors); safe to share between threads."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic,
                 source: TemplateSource | None = None) -> None:
        self.directory = Path(os.path.abspath(directory))
        self.source: TemplateSource = source or FileSource(self.directory)
        self._clock = clock  # for the render deadline only: seconds, on any steady scale
        self._label = self.directory.name  # errors read "templates/acknowledgement/body.txt.j2:3: ..."
        self._env = Sandbox(
            loader=SourceLoader(self.source, str(self.directory)),
            auto_reload=True,  # each render compares the text's stamp: a new version applies without a restart
            undefined=NamedUndefined,
            autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".htm.j2")),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._lock = threading.Lock()
        self._good: dict[str, Template] = {}  # name -> the last version that rendered
        self._refused: dict[str, tuple[Template | None, TemplateError]] = {}  # name -> (version, why); None: no version loads

    def render(
        self, kind: str, context: Mapping[str, Any], *, plan: str | None = None, customer: str | None = None,
    ) -> RenderedEmail:
        """Render the three files of `kind`, each from the most specific override that exists."""
        if not _is_segment(kind):
            raise TemplateError(f"{self._label}/{kind}", None, "not a kind of email")
        values = named_values(context)
        subject, text, html = (self._render_live(self._pick(kind, file, plan, customer), values) for file in FILES)
        return RenderedEmail(subject=one_header_line(subject)[:MAX_SUBJECT], text=_body(text), html=_body(html))

    def render_file(self, name: str, context: Mapping[str, Any]) -> str:
        """One file by its path under the directory, as it is now: no override, no earlier version."""
        return self._generate(self._load(name), name, named_values(context))

    def verify(self, name: str, samples: Iterable[tuple[str, Mapping[str, Any]]]) -> TemplateError | None:
        """Render the file as it is now with each (label, context): adopted as the good version when
        all render, refused (the last good version kept) at the first error, which is returned with
        " (with LABEL)" after its reason. A subject must render to one line: line breaks and control
        characters are errors here."""
        template, error = self._trial(name, samples)
        if error is not None:
            self._refuse(name, template, error)
            return error
        assert template is not None
        self._adopt(name, template)
        return None

    def trial(self, name: str, samples: Iterable[tuple[str, Mapping[str, Any]]]) -> TemplateError | None:
        """`verify` for a candidate text: the same renders and errors, but nothing adopted, refused or
        logged (what is being sent does not change)."""
        return self._trial(name, samples)[1]

    def _trial(self, name: str, samples: Iterable[tuple[str, Mapping[str, Any]]]
               ) -> tuple[Template | None, TemplateError | None]:
        try:
            template = self._load(name)
        except TemplateError as error:
            return None, error
        # One deadline for all the samples: checking one file takes CHECK_SECONDS at most, however
        # many samples there are; each sample still gets a budget of its own for memory and steps.
        deadline = self._clock() + CHECK_SECONDS
        for label, context in samples:
            try:
                if name.endswith(SUBJECT):
                    with checking_headers():
                        self._one_line(name, template, self._generate(template, name, named_values(context), deadline))
                else:
                    self._generate(template, name, named_values(context), deadline)
            except TemplateError as error:
                return template, TemplateError(error.path, error.line,
                                               f"{error.reason} (with {label})" if label else error.reason)
        return template, None

    def stands_alone(self, name: str) -> bool:
        """The file's text includes, imports or extends no other file: how it renders depends on its
        own text only (a checker may then remember its result for that text)."""
        found = self.source.get(name)
        if found is None:
            return False
        try:
            tree = self._env.parse(found.text)
        except Exception:  # noqa: BLE001 - a text that does not parse: its error comes from _load
            return True
        return next(tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)), None) is None

    def source_of(self, kind: str, file: str, *, plan: str | None = None, customer: str | None = None) -> str:
        """The file `render` would use for one part, as errors name it."""
        return self._where(self._pick(kind, file, plan, customer))

    def problems(self) -> list[Refusal]:
        """Every file refused now, by path; overrides deleted since are forgotten."""
        with self._lock:
            refused = dict(self._refused)
            good = dict(self._good)
        return [Refusal(error, good.get(name) not in (None, version)) for name, (version, error) in sorted(refused.items())
                if name.count("/") == 1 or self.source.stamp(name) is not None]

    @property
    def label(self) -> str:
        """How errors name the directory: "templates"."""
        return self._label

    def _pick(self, kind: str, file: str, plan: str | None, customer: str | None) -> str:
        names = []
        if _is_segment(customer):
            names.append(f"customers/{customer}/{kind}/{file}")
        if _is_segment(plan):
            names.append(f"plans/{plan}/{kind}/{file}")
        return next((n for n in names if self.source.stamp(n) is not None), f"{kind}/{file}")

    def _render_live(self, name: str, values: Mapping[str, Any]) -> str:
        """The file as it is now, or, when it no longer renders, the last version that did."""
        with self._lock:
            good, refused = self._good.get(name), self._refused.get(name)
        try:
            template = self._load(name)
        except TemplateError as error:
            self._refuse(name, None, error)
            if good is None:
                raise
            return self._generate(good, name, values)
        if good is not None and good is not template and refused is not None and refused[0] is template:
            try:
                return self._generate(good, name, values)  # this version is known not to render
            except TemplateError:
                pass  # nor does the old one, with this email's data: try the new one after all
        try:
            output = self._generate(template, name, values)
        except TemplateError as error:
            self._refuse(name, template, error)
            if good is None or good is template:
                raise
            try:
                return self._generate(good, name, values)
            except TemplateError:
                raise error from None
        if refused is None or refused[0] is not template or good is template:
            self._adopt(name, template)
        return output

    def _load(self, name: str) -> Template:
        try:
            return self._env.get_template(name)
        except TemplateNotFound as exc:
            reason = "template file not found" if exc.name == name else _reason(exc)
            raise TemplateError(self._where(name), None, reason) from None
        except TemplateSyntaxError as exc:
            raise TemplateError(self._where(exc.name or name), exc.lineno, exc.message or "syntax error") from None
        except Exception as exc:  # noqa: BLE001 - an unreadable file, bad UTF-8: the promise is TemplateError
            raise TemplateError(self._where(name), None, _reason(exc)) from None

    def _generate(self, template: Template, name: str, values: Mapping[str, Any], deadline: float | None = None) -> str:
        """One render of one file, on a budget of its own (`autoresponder.budget`)."""
        if deadline is None:
            budget = RenderBudget.starting_now(self._clock, RENDER_SECONDS)
        else:
            budget = RenderBudget(deadline=deadline, clock=self._clock,
                                  late=f"the template takes longer than {CHECK_SECONDS:g} s to render all the samples")
        with spending(budget):
            try:
                size, parts = 0, []
                for chunk in template.generate(values):
                    size += len(chunk)
                    if size > MAX_OUTPUT:
                        raise TemplateError(self._where(name), None, f"output is larger than {MAX_OUTPUT} characters")
                    parts.append(chunk)
                return "".join(parts)
            except TemplateError:
                raise
            except TemplateSyntaxError as exc:  # in an included file
                raise TemplateError(self._where(exc.name or name), exc.lineno, exc.message or "syntax error") from None
            except Exception as exc:  # noqa: BLE001 - the promise is: only TemplateError leaves render()
                path, line = self._locate(exc, name)
                raise TemplateError(path, line, _reason(exc)) from None

    def _one_line(self, name: str, template: Template, output: str) -> None:
        """A subject whose own text (not a value: the sandbox checks those) spans lines is refused."""
        found = control_characters(output.strip())
        if found:
            found_text = self.source.get(name)
            lines = [i for i, text in enumerate((found_text.text if found_text else "").splitlines(), 1) if text.strip()]
            raise TemplateError(self._where(name), lines[1] if len(lines) > 1 else None,
                                f"the subject is not one line ({', '.join(found)}): a line break or control"
                                " character in a header could start a new header")

    def _adopt(self, name: str, template: Template) -> None:
        with self._lock:
            self._good[name] = template
            was = self._refused.pop(name, None)
        if was is not None:
            log.info("template %s renders again; using it", self._where(name))

    def _refuse(self, name: str, template: Template | None, error: TemplateError) -> None:
        with self._lock:
            was = self._refused.get(name)
            self._refused[name] = (template, error)
            kept = name in self._good and self._good[name] is not template
        if was is None or str(was[1]) != str(error):  # once per new error, not once per email
            log.error("template refused: %s (%s)", error,
                      "the last version that rendered is used until it is fixed" if kept
                      else "no earlier version: emails that need it wait")

    def _where(self, name: str) -> str:
        return f"{self._label}/{name}"

    def _locate(self, exc: BaseException, fallback: str) -> tuple[str, int | None]:
        """The innermost template frame of the traceback: Jinja rewrites frames to template lines."""
        found: tuple[str, int | None] = (self._where(fallback), None)
        tb = exc.__traceback__
        root = str(self.directory) + os.sep
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.startswith(root):
                found = (self._where(Path(filename[len(root):]).as_posix()), tb.tb_lineno)
            tb = tb.tb_next
        return found


def _body(text: str) -> str:
    """NUL and other control characters (not tab or line ends) have no place in an email body."""
    return _BODY_CONTROLS.sub("", text)


def _reason(exc: Exception) -> str:
    if isinstance(exc, TemplateNotFound):
        return f"included template {exc.name!r} not found"
    if isinstance(exc, RecursionError):
        return "recursion too deep"
    text = str(exc) or type(exc).__name__
    # The sandbox's refusals (SecurityError and its OverBudget) read as sentences, like Jinja's own errors.
    return text if isinstance(exc, SecurityError) or type(exc).__module__.startswith("jinja2") \
        else f"{type(exc).__name__}: {text}"
