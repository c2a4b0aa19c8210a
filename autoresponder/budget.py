"""What one render of a template may spend: steps, loop turns, memory built, time.

Its job: `RenderBudget`, one per render of one file, created by `autoresponder.render` with a
deadline, and the refusals that say which limit a template hit. The sandbox's hooks (every call,
filter, operator, slice, output and loop turn) charge it *before* they build anything, from the
sizes `autoresponder.costs` works out, so a template that would build gigabytes is refused while
it has built almost nothing. The limits bound accidents and hostile edits alike; they are far
above what an email needs (the shipped templates spend a few hundred steps and kilobytes).

How the hooks find the budget: the render makes it current with `spending(budget)` for exactly
the duration of the render, through a ContextVar. That is the one handle that also reaches the
macros of an imported template, which Jinja caches and shares between renders; no count is ever
kept at module level, and renders in other threads each see their own budget.

It never: renders, reads files, or catches what it raises.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jinja2.exceptions import SecurityError

MAX_VALUE = 1_000_000  # characters (or items) of one value a template builds, and of one rendered file
MAX_NUMBER = 100_000  # largest number a template may hand to a function or filter, or use as a format width
MAX_BITS = 4096  # largest integer a template may compute
MAX_ITERATIONS = 100_000  # loop turns of one render, all loops and nested loops together
# Arguments of one call or filter: f(*items) copies them at every layer Jinja passes them through.
MAX_ARGUMENTS = 10_000
MAX_STEPS = 1_000_000  # calls, filters, operators, outputs and loop turns of one render
MAX_BUILT = 20_000_000  # bytes (about) of values one render may build, all of them together
# Items (words, lines, list items) one filter written in Python may go through in one call: about
# 0.1 s, so that no single step can carry a render far past its deadline.
MAX_WORK = 50_000
RENDER_SECONDS = 1.0  # one render of one file
CHECK_SECONDS = 1.0  # all the samples `templates check` renders one file with, together

_current: contextvars.ContextVar[RenderBudget | None] = contextvars.ContextVar("template_render_budget", default=None)


class OverBudget(SecurityError):
    """A template asked for more than one render may have; `str()` says which limit and why."""


@dataclass(frozen=True)
class Cost:
    """What an operation would build, worked out before it runs."""

    cells: int  # bytes (about) the result and the work to build it take, at most
    length: int | None = None  # the result's exact length in characters or items, when known beforehand
    what: str = "the value"  # how a refusal names the operation: "'x' * 99999"
    work: int = 0  # items Python code goes through to build it (words, lines, list items)


@dataclass
class RenderBudget:
    """The allowance of one render. Not shared between renders or threads."""

    deadline: float  # on `clock`'s scale
    clock: Callable[[], float]
    late: str = f"the template takes longer than {RENDER_SECONDS:g} s to render"  # the refusal at the deadline
    steps: int = field(default=0, init=False)
    iterations: int = field(default=0, init=False)
    built: int = field(default=0, init=False)

    @classmethod
    def starting_now(cls, clock: Callable[[], float], seconds: float = RENDER_SECONDS) -> RenderBudget:
        return cls(deadline=clock() + seconds, clock=clock,
                   late=f"the template takes longer than {seconds:g} s to render")

    def step(self) -> None:
        """One call, filter, operator, output or loop turn: counted, and the deadline checked."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise OverBudget(f"the template takes more than {MAX_STEPS:,} steps (calls, filters, operators,"
                             " outputs and loop turns) in one render")
        if self.clock() > self.deadline:
            raise OverBudget(self.late)

    def turn(self) -> None:
        """One turn of a loop."""
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise OverBudget(f"loops turn more than {MAX_ITERATIONS:,} times in one render (nested loops"
                             " count every inner turn)")
        self.step()

    def check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Refuse a call with more arguments than any template needs, before they are copied again."""
        given = len(args) + sum(1 for name in kwargs if not name.startswith("_"))  # not Jinja's _loop_vars
        if given > MAX_ARGUMENTS:
            raise OverBudget(f"a call with {given:,} arguments (at most {MAX_ARGUMENTS:,})")
        self.pay(8 * len(args) + 100 * len(kwargs), None, "the arguments of a call")

    def check_range(self, items: int) -> None:
        """A `range()` longer than the loop turns left could never be looped over: refused when made."""
        left = MAX_ITERATIONS - self.iterations
        if items > left:
            raise OverBudget(f"loop too big: range of {items:,} items (a render may loop {MAX_ITERATIONS:,}"
                             f" times in all, {left:,} left)")

    def spend(self, cost: Cost) -> None:
        """Pay for a value before it is built; refused if it would be too long or take the render too far."""
        if cost.work > MAX_WORK:
            raise OverBudget(f"{cost.what} would go through {cost.work:,} items in one step (at most {MAX_WORK:,})")
        self.pay(cost.cells, cost.length, cost.what)

    def pay(self, cells: int, length: int | None, what: str) -> None:
        """`spend` without a Cost, for the hooks every output and loop runs through."""
        if length is not None and length > MAX_VALUE:
            raise OverBudget(f"{what} would be {length:,} characters or items long (a value may hold {MAX_VALUE:,})")
        if self.built + cells > MAX_BUILT:
            raise OverBudget(f"{what} would build about {cells:,} bytes, taking the render past"
                             f" the {MAX_BUILT:,} bytes a template may build in all")
        self.built += cells

    def room(self) -> int:
        """Bytes the render can still build: how far a measurement need count before it is over."""
        return max(MAX_BUILT - self.built, 0) + 1

    def refund(self, cells: int) -> None:
        """Give back what an estimate paid beyond the value actually built."""
        self.built -= max(0, cells)

    def counted(self, items: Iterable[Any]) -> Counted:
        """`items` for a `{% for %}`: each turn counted; its length, when it has one, unchanged."""
        return Counted(items, self)

    def materialize(self, items: Iterable[Any], what: str) -> list[Any]:
        """A lazy sequence (`|map`, `|select` ...) as a list, paid for item by item while it is built."""
        out: list[Any] = []
        for item in items:
            out.append(item)
            if len(out) % 1024 == 0:  # paid for a thousand at a time: a fresh object and its place each
                self.pay(72 * 1024, None, what)
                self.step()  # and the deadline: each item may have run a filter or a macro
        self.pay(72 * (len(out) % 1024), None, what)
        return out


class Counted:
    """An iterable whose every item is a loop turn on a budget. Jinja's `loop.length` still works."""

    __slots__ = ("_items", "_budget")

    def __init__(self, items: Iterable[Any], budget: RenderBudget) -> None:
        self._items, self._budget = items, budget

    def __iter__(self) -> Iterator[Any]:
        turn = self._budget.turn
        for item in self._items:
            turn()
            yield item

    def __len__(self) -> int:
        return len(self._items)  # type: ignore[arg-type]  # TypeError for an iterator, as Jinja expects


def current() -> RenderBudget:
    """The budget of the render under way; a template run outside `spending` is refused, never unbounded."""
    budget = _current.get()
    if budget is None:
        raise OverBudget("a template ran outside a render budget")
    return budget


@contextlib.contextmanager
def spending(budget: RenderBudget) -> Iterator[RenderBudget]:
    """Make `budget` the one the sandbox charges, for the duration of one render."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
