"""Render the admins' email templates (Jinja2, sandboxed) into a subject, a text body and an HTML body.

Its job: find the template file for a kind of email (customer override, then plan override,
then the default), render it in `ImmutableSandboxedEnvironment` with `StrictUndefined`, and
turn every way that can fail into one `TemplateError` that names the file and line, so an
admin's typo reads like a compiler message. Files are re-read when they change (auto_reload):
an admin's edit applies to the next email, with no restart. `autoresponder.samples` renders every
file against sample data, for `inbox templates check`.

It never: sends, composes headers, reads the database or the config, or lets any exception
other than `TemplateError` escape `render()`. Templates are admin-owned data, not code:
the sandbox keeps them from Python's internals, and budgets stop runaway loops and
huge strings (see `_Sandbox`); these bound accidents, they are not a quota system.
"""

from __future__ import annotations

import contextvars
import functools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    nodes,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

KINDS: tuple[str, ...] = (
    "acknowledgement", "status_update", "sla_warning", "breach_alert", "severity_changed", "solved", "closed",
    "reminder", "agent_reply", "assigned", "escalation_refused", "command_refused", "escalation_request",
    "escalation_received", "not_designated",
)
SUBJECT, TEXT, HTML = "subject.txt.j2", "body.txt.j2", "body.html.j2"
FILES: tuple[str, ...] = (SUBJECT, TEXT, HTML)

MAX_OUTPUT = 1_000_000  # characters per rendered file, and per value built inside a template
MAX_NUMBER = 100_000  # largest number a template may hand to a function, filter or `*`
LOOP_BUDGET = 100_000  # items all `range()` calls of one render may yield together
MAX_SUBJECT = 998  # RFC 5322 section 2.1.1: a line is at most 998 characters

_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_loop_budget")
_BIG_FORMAT = re.compile(r"(%|\{[^{}]*:)[^a-zA-Z%{}]*?\d{6,}")  # a width/precision of 6+ digits


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


# --- limits the sandbox enforces -------------------------------------------------------------


def _sized(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_OUTPUT:
        raise SecurityError(f"a value of {len(value)} items is too large (limit {MAX_OUTPUT})")
    return value


def _check_numbers(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise SecurityError(f"the number {value} is too large for a template (limit {MAX_NUMBER})")


def _check_format(spec: Any) -> None:
    # "%999999999d" or "{:>999999999}" would build a gigabyte from one character.
    if isinstance(spec, str) and _BIG_FORMAT.search(spec):
        raise SecurityError("a format width or precision is too large")


def _budgeted_range(*args: int) -> range:
    """`range` counted against the render's loop budget: nested loops share one budget."""
    items = range(*args)
    left = _budget.get([LOOP_BUDGET])
    if len(items) > left[0]:
        raise SecurityError(f"loop too big: range of {len(items)} items (a render may loop {LOOP_BUDGET} times in all)")
    left[0] -= len(items)
    return items


def _guard_filter(name: str, func: Any) -> Any:
    first = 2 if hasattr(func, "jinja_pass_arg") else 1  # the value filtered (after any context) may be big

    @functools.wraps(func)  # keeps `jinja_pass_arg`, so pass_context/pass_environment still work
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "format":
            _check_format(args[0] if args else None)
        else:
            _check_numbers(args[first:], kwargs)
        return _sized(func(*args, **kwargs))

    return guarded


class _GuardedCodeGenerator(CodeGenerator):
    # `a ~ b` is not an interceptable operator; without this, doubling a namespace value in a
    # loop would reach gigabytes before the output limit could see it.
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _budgeted_range
        self.globals.pop("lipsum", None)  # placeholder text has no place in a customer's email
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    @staticmethod
    def sized(value: Any) -> Any:
        return _sized(value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":  # "x" * 10**9: refuse before Python allocates it
            sequence = (str, list, tuple)
            if isinstance(left, sequence) or isinstance(right, sequence):
                _check_numbers((left if isinstance(left, int) else right,), {})
        elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if abs(left) > 1 and right * math.log2(abs(left)) > 4096:  # bits of the result
                raise SecurityError("a power is too large (over 4096 bits)")
        elif operator == "%":
            _check_format(left)
        return _sized(super().call_binop(context, operator, left, right))

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format at lookup
        if getattr(method, "__name__", "") in ("format", "format_map"):
            _check_format(getattr(method, "__self__", None))
        elif obj is not _budgeted_range:  # range has its own budget, with a clearer message
            _check_numbers(args, kwargs)
        return _sized(super().call(context, obj, *args, **kwargs))


# --- names in error messages ------------------------------------------------------------------


class _Named(dict):  # type: ignore[type-arg]
    """A context dict that knows its name, so errors say 'ticket' rather than 'dict object'."""

    __slots__ = ("_name",)


_Named.__name__ = _Named.__qualname__ = "dict"  # sandbox messages say "of 'dict' object", as admins expect


class _Undefined(StrictUndefined):
    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner = getattr(self._undefined_obj, "_name", None)
        if self._undefined_hint or self._undefined_obj is missing or owner is None:
            return str(super()._undefined_message)
        what = "attribute" if isinstance(self._undefined_name, str) else "element"
        return f"{owner!r} has no {what} {self._undefined_name!r}"


def _named(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        named = _Named({key: _named(item, f"{name}.{key}") for key, item in value.items()})
        named._name = name
        return named
    if isinstance(value, (list, tuple)):
        return [_named(item, f"{name}[{i}]") for i, item in enumerate(value)]
    return value


def _is_segment(name: str | None) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")  # type: ignore[operator]


class Renderer:
    """Renders the templates under one directory; safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(os.path.abspath(directory))
        self._label = self.directory.name  # errors read "templates/acknowledgement/body.txt.j2:3: ..."
        self._env = _Sandbox(
            loader=FileSystemLoader(str(self.directory)),
            auto_reload=True,  # each render checks the file's mtime: edits apply without a restart
            undefined=_Undefined,
            autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".htm.j2")),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self, kind: str, context: Mapping[str, Any], *, plan: str | None = None, customer: str | None = None,
    ) -> RenderedEmail:
        """Render the three files of `kind`, each from the most specific override that exists."""
        if not _is_segment(kind):
            raise TemplateError(f"{self._label}/{kind}", None, "not a kind of email")
        values = {key: _named(value, key) for key, value in context.items()}
        subject, text, html = (self._render(self._candidates(kind, file, plan, customer), values) for file in FILES)
        return RenderedEmail(subject=" ".join(subject.split())[:MAX_SUBJECT], text=text, html=html)

    def render_file(self, name: str, context: Mapping[str, Any]) -> str:
        """One file by its path under the directory, no override looked for (the admin's check)."""
        return self._render([name], {key: _named(value, key) for key, value in context.items()})

    @property
    def label(self) -> str:
        """How errors name the directory: "templates"."""
        return self._label

    def _candidates(self, kind: str, file: str, plan: str | None, customer: str | None) -> list[str]:
        names = []
        if _is_segment(customer):
            names.append(f"customers/{customer}/{kind}/{file}")
        if _is_segment(plan):
            names.append(f"plans/{plan}/{kind}/{file}")
        return [*names, f"{kind}/{file}"]

    def _render(self, names: list[str], values: Mapping[str, Any]) -> str:
        """Render the first of `names` that exists; every failure becomes a TemplateError."""
        name = names[-1]
        token = _budget.set([LOOP_BUDGET])
        try:
            template = None
            for name in names:
                try:
                    template = self._env.get_template(name)
                    break
                except TemplateNotFound as exc:
                    if exc.name != name:  # raised for something else than the file we asked for
                        raise
            if template is None:
                raise TemplateError(self._where(names[-1]), None, "template file not found")
            size, parts = 0, []
            for chunk in template.generate(values):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise TemplateError(self._where(name), None, f"output is larger than {MAX_OUTPUT} characters")
                parts.append(chunk)
            return "".join(parts)
        except TemplateError:
            raise
        except TemplateSyntaxError as exc:
            raise TemplateError(self._where(exc.name or name), exc.lineno, exc.message or "syntax error") from None
        except Exception as exc:  # noqa: BLE001 - the promise is: only TemplateError leaves render()
            path, line = self._locate(exc, name)
            raise TemplateError(path, line, _reason(exc)) from None
        finally:
            _budget.reset(token)

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


def _reason(exc: Exception) -> str:
    if isinstance(exc, TemplateNotFound):
        return f"included template {exc.name!r} not found"
    if isinstance(exc, RecursionError):
        return "recursion too deep"
    text = str(exc) or type(exc).__name__
    return text if type(exc).__module__.startswith("jinja2") else f"{type(exc).__name__}: {text}"
