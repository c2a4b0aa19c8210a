"""The sandbox admins' templates run in: Jinja2's immutable sandbox, plus budgets and names.

Its job: an `ImmutableSandboxedEnvironment` (no Python internals, no mutating the data) where
every value a template builds is paid for, before it is built, from the render's
`autoresponder.budget.RenderBudget`: operators, method and function calls, filters, slices,
`~`, `str.format` and every `{{ }}` output are priced from their operands by
`autoresponder.costs`, `autoresponder.filter_costs` and `autoresponder.sizes`, each loop turn is
counted, and the deadline is checked at every step; undefined-variable errors that name the
value (`'ticket' has no attribute 'trackng'`), and a header check that refuses a line break or
control character in a `{{ }}` output while a subject is being checked.

The public Jinja2 APIs this relies on: `SandboxedEnvironment.call`, `call_binop` and
`wrap_str_format` (overridden), `Environment.finalize`, the filters dict, and `Environment.parse`
then `Environment.compile` of the parsed tree, rewritten in between with `jinja2.visitor.
NodeTransformer` so that a loop's iterable, each operand of `~`, each slice `x[a:b]` (which Jinja
compiles past `getitem`) and the template's own text reach the budget through calls of
`nodes.EnvironmentAttribute` (the node Jinja documents for extensions' callbacks).

It never: finds, caches or chooses template files (that is `autoresponder.render`), nor creates
a budget (the render does, one per render).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, missing
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from autoresponder import costs, sizes
from autoresponder.budget import MAX_VALUE, Cost, OverBudget, RenderBudget, current
from autoresponder.filter_costs import check_numbers, rule_for

# --- what every step pays -----------------------------------------------------------------------


def _settle(budget: RenderBudget, cost: Cost | None, result: Any) -> Any:
    """After a step: the estimate paid corrected to what was built, and no value over MAX_VALUE kept.
    Only a string's estimate is corrected down: a list's items, or what a lazy result (|batch, |map)
    builds later, may be new objects its own size does not show."""
    actual = sizes.cells(result)
    paid = cost.cells if cost is not None else 0
    if actual > paid:
        budget.spend(Cost(actual - paid, what=cost.what if cost is not None else "the value"))
    elif isinstance(result, (str, bytes)):
        budget.refund(paid - actual)
    if isinstance(result, (str, bytes, list, tuple)) and len(result) > MAX_VALUE:
        raise OverBudget(f"a value of {len(result):,} items is too large (limit {MAX_VALUE:,})")
    return result


def _guard_filter(name: str, func: Any) -> Any:
    rule = rule_for(name)
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # the context, eval context or environment first

    @functools.wraps(func)  # keeps `jinja_pass_arg`, so pass_context/pass_environment still work
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.step()
        head, value, rest = args[:skip], args[skip], args[skip + 1:]
        budget.check_arguments(rest, kwargs)
        check_numbers(name, rest, kwargs)
        if rule.consumes and not isinstance(value, Sized) and isinstance(value, Iterable):
            value = budget.materialize(value, f"|{name}")
        cost = rule.estimate(value, rest, kwargs, budget.room(), _autoescape(head))
        if cost is not None:
            budget.spend(cost)
        return _settle(budget, cost, func(*head, value, *rest, **kwargs))

    return guarded


def _autoescape(head: tuple[Any, ...]) -> bool:
    """Whether the filter's output is HTML-escaped, from what Jinja passed before its value."""
    if not head:
        return False
    eval_ctx = getattr(head[0], "eval_ctx", head[0])
    return bool(getattr(eval_ctx, "autoescape", False)) and not callable(getattr(eval_ctx, "autoescape", None))


# --- the parsed template, rewritten so loops, `~` and its own text reach the budget --------------


class _Guards(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _hook("turns", node.iter)
        return node

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        # Jinja compiles `x[a:b]` to a plain subscript, past the sandbox's getitem: a hook slices.
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        bounds = [part if part is not None else nodes.Const(None, lineno=node.lineno)
                  for part in (node.arg.start, node.arg.stop, node.arg.step)]
        return nodes.Call(nodes.EnvironmentAttribute("sliced", lineno=node.lineno), [node.node, *bounds], [], None,
                          None, lineno=node.lineno)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        # `a ~ b` is not an interceptable operator: each operand's text is paid for before the join.
        self.generic_visit(node)
        node.nodes = [_hook("measured", operand) for operand in node.nodes]
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node | list[nodes.Node]:
        # A template's own text, repeated by a loop into a {% set %} block or a macro, is built too:
        # a statement before the output pays for it.
        self.generic_visit(node)
        size = sum(len(child.data) for child in node.nodes if isinstance(child, nodes.TemplateData))
        if not size:
            return node
        return [nodes.ExprStmt(_hook("literal", nodes.Const(size, lineno=node.lineno)), lineno=node.lineno), node]


def _hook(name: str, argument: nodes.Expr) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name, lineno=argument.lineno), [argument], [], None, None,
                      lineno=argument.lineno)


# --- the environment ----------------------------------------------------------------------------


def _budgeted_range(*args: int) -> range:
    """`range`, refused when longer than the loop turns the render has left."""
    items = range(*args)
    current().check_range(len(items))
    return items


class Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.globals["range"] = _budgeted_range
        self.globals.pop("lipsum", None)  # placeholder text has no place in a customer's email
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.finalize = _finalize

    def compile(self, source: Any, name: str | None = None, filename: str | None = None, raw: bool = False,
                defer_init: bool = False) -> Any:
        if isinstance(source, str):
            source = self.parse(source, name, filename)
            _Guards().visit(source)
            source.set_environment(self)
        return super().compile(source, name, filename, raw, defer_init)

    # The hooks the rewritten template calls (`environment.turns(...)`): they pay for themselves.

    @staticmethod
    def turns(items: Iterable[Any]) -> Iterable[Any]:
        return current().counted(items)

    @staticmethod
    @pass_eval_context
    def measured(eval_ctx: Any, value: Any) -> Any:
        budget = current()
        budget.step()
        budget.spend(sizes.text_cost(value, budget.room(), "an operand of ~", escaped=eval_ctx.autoescape))
        return value

    @staticmethod
    def sliced(obj: Any, start: Any, stop: Any, step: Any) -> Any:
        part = slice(start, stop, step)
        if isinstance(obj, (str, bytes, list, tuple)):
            budget = current()
            budget.step()
            length = len(range(*part.indices(len(obj))))
            unit = sizes.ITEM if isinstance(obj, (list, tuple)) else sizes.width(obj)
            budget.spend(Cost(sizes.OBJECT + length * unit, length, "a slice"))
        return obj[part]

    @staticmethod
    def literal(size: int) -> None:
        current().pay(size, None, "the template's own text")

    # The sandbox's own hooks.

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.step()
        cost = costs.binop(operator, left, right, budget.room())
        budget.spend(cost)
        return _settle(budget, cost, super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Any:
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        fmt, by_name = value.__self__, value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> Any:
            budget = current()
            positional, named = ((), args[0] if args else {}) if by_name else (args, kwargs)
            cost = costs.brace_format(fmt, positional, named if isinstance(named, Mapping) else {}, budget.room(),
                                      escape=isinstance(fmt, Markup))
            budget.spend(cost)
            return _settle(budget, cost, sandboxed(*args, **kwargs))

        functools.update_wrapper(bounded, sandboxed)
        bounded._priced = True  # type: ignore[attr-defined]  # `call` leaves its arguments alone
        return bounded

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if obj is self.literal or obj is self.turns or obj is self.sliced:  # hooks the compile step placed
            return obj(*args)
        if obj is self.measured:
            return obj(context.eval_ctx, *args)
        budget = current()
        budget.step()
        budget.check_arguments(args, kwargs)  # f(*items) copies them again at each layer; cycler() keeps them
        cost = None
        if isinstance(obj, LoopContext) and args:  # loop(children) in a recursive loop: its turns count
            args = (budget.counted(args[0]), *args[1:])
        elif obj is dict or obj is Namespace:  # both copy what they are given
            if args and not isinstance(args[0], (Sized, Mapping)) and isinstance(args[0], Iterable):
                args = (budget.materialize(args[0], "dict()"), *args[1:])
            named = sum(1 for name in kwargs if not name.startswith("_"))  # not Jinja's _loop_vars
            entries = named + (len(args[0]) if args and isinstance(args[0], Sized) else 0)
            cost = Cost(sizes.OBJECT + sizes.ENTRY * entries, entries, f"{getattr(obj, '__name__', 'dict')}()")
        elif not getattr(obj, "_priced", False) and obj is not _budgeted_range and not isinstance(obj, Macro):
            check_numbers("", args, kwargs)
            cost = costs.method(getattr(obj, "__self__", None), getattr(obj, "__name__", ""), args, kwargs,
                                budget.room())
        if cost is not None:
            budget.spend(cost)
        return _settle(budget, cost, super().call(context, obj, *args, **kwargs))


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
def _finalize(eval_ctx: Any, value: Any) -> Any:
    """Every `{{ }}` output: its text paid for before Jinja turns it into a string, then the header check."""
    budget = current()
    budget.step()
    if type(value) is str and not eval_ctx.autoescape:  # the common case, paid for without a Cost
        budget.pay(sizes.OBJECT + len(value) * (1 if value.isascii() else 4), len(value), "the output")
    else:
        budget.spend(sizes.text_cost(value, budget.room(), "the output", escaped=eval_ctx.autoescape))
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


def named_values(context: Mapping[str, Any]) -> dict[str, Any]:
    """The template data with every mapping named, so errors say 'ticket' rather than 'dict object'."""
    return {key: _named(value, key) for key, value in context.items()}
