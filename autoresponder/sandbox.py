"""The sandbox admins' templates run in: Jinja2's immutable sandbox, plus budgets and names.

Its job: an `ImmutableSandboxedEnvironment` (no Python internals, no mutating the data) with
budgets that stop runaway loops and huge strings or numbers, undefined-variable errors that name
the value (`'ticket' has no attribute 'trackng'`), and a header check that refuses a line break
or control character in a `{{ }}` output while a subject is being checked. The budgets bound
accidents; they are not a quota system.

It never: finds, caches or chooses template files (that is `autoresponder.render`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

MAX_OUTPUT = 1_000_000  # characters per rendered file, and per value built inside a template
MAX_NUMBER = 100_000  # largest number a template may hand to a function, filter or `*`
LOOP_BUDGET = 100_000  # items all `range()` calls of one render may yield together

_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_loop_budget")
_BIG_FORMAT = re.compile(r"(%|\{[^{}]*:)[^a-zA-Z%{}]*?\d{6,}")  # a width/precision of 6+ digits


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


class Sandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _budgeted_range
        self.globals.pop("lipsum", None)  # placeholder text has no place in a customer's email
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.finalize = _finalize

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


class NamedUndefined(StrictUndefined):
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


# --- headers ------------------------------------------------------------------------------------

_header_check: contextvars.ContextVar[bool] = contextvars.ContextVar("template_header_check", default=False)
# C0 and C1 controls (CR, LF and NUL among them) and Unicode's line and paragraph separators.
_HEADER_BREAKERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def control_characters(value: str) -> list[str]:
    """The line breaks and control characters in `value`, as `U+000A` names, in order, once each."""
    return [f"U+{ord(c):04X}" for c in dict.fromkeys(_HEADER_BREAKERS.findall(value))]


def one_header_line(value: str) -> str:
    """`value` with every line break and control character a space, runs of spaces one: a header can't be split."""
    return " ".join(_HEADER_BREAKERS.sub(" ", value).split())


@pass_eval_context  # needs the runtime: Jinja then never folds an output at compile time
def _finalize(_eval_ctx: Any, value: Any) -> Any:
    if _header_check.get() and isinstance(value, str) and control_characters(value.strip()):
        names = ", ".join(control_characters(value.strip()))
        raise SecurityError(f"a line break or control character ({names}) in a header line"
                            " could start a new header")
    return value


@contextlib.contextmanager
def checking_headers() -> Iterator[None]:
    """While open, every `{{ }}` output with a line break or control character is an error (subject checks)."""
    token = _header_check.set(True)
    try:
        yield
    finally:
        _header_check.reset(token)


@contextlib.contextmanager
def loop_budget() -> Iterator[None]:
    """One render's budget of `range()` items, shared by nested loops and includes."""
    token = _budget.set([LOOP_BUDGET])
    try:
        yield
    finally:
        _budget.reset(token)


def named_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """The template data with every mapping named, so errors say 'ticket' rather than 'dict object'."""
    return {key: _named(value, key) for key, value in context.items()}
