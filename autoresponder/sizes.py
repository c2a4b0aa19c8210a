"""How big a template's values are, and how long their text would be, without building the text.

Its job: `cells` (the bytes, about, a value just built holds itself: 1 per character of an ASCII
string, 4 at most for others, 8 per item of a list, about 64 for each new object), `text_size`
(len(str(value)) or len(repr(value)), stopping once past a limit: a list of a thousand references
to one megabyte string prints a gigabyte) and `text_cost`, what printing a value costs, HTML
escaping included. A value that cannot be measured cheaply (a namespace, an unknown object) is
refused rather than printed.

It never: builds the text it measures, or keeps anything between calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from typing import Any

from jinja2.runtime import BlockReference, LoopContext, Macro, TemplateReference, Undefined
from jinja2.utils import Cycler, Joiner, Namespace
from markupsafe import Markup

from autoresponder.budget import Cost, OverBudget

OBJECT = 64  # bytes of a new Python object's header, about
ITEM = 8  # bytes of one place in a list or tuple
ENTRY = 100  # bytes of one entry of a dict
ESCAPED = 5  # HTML escaping turns one character into at most five ("&#34;")
MAX_DEPTH = 50  # nesting of lists and dicts text_size follows
_SMALL_REPR = (LoopContext, Macro, Cycler, Joiner, TemplateReference, BlockReference, range, type)


def width(value: Any) -> int:
    """Bytes per character CPython stores `value` with (4 when it may be more than 1)."""
    if isinstance(value, bytes):
        return 1
    return 1 if isinstance(value, str) and value.isascii() else 4


def cells(value: Any) -> int:
    """Bytes (about) a value just built holds itself, its items not counted."""
    if isinstance(value, (str, bytes)):
        return OBJECT + len(value) * width(value)
    if isinstance(value, Mapping):
        return OBJECT + ENTRY * len(value)
    if isinstance(value, (list, tuple)):
        return OBJECT + ITEM * len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return OBJECT + value.bit_length() // 8
    return OBJECT


def text_size(value: Any, limit: int, *, quoted: bool = False) -> int:
    """len(str(value)) (len(repr(value)) when `quoted`) without building it; stops counting past `limit`."""
    return _Measure(limit).size(value, quoted, 0)


class _Measure:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: dict[tuple[int, bool], int] = {}  # the same list printed twice is measured once

    def size(self, value: Any, quoted: bool, depth: int) -> int:
        if isinstance(value, str):
            return _repr_size(value) if quoted else len(value)
        if isinstance(value, bool) or value is None:
            return 5
        if isinstance(value, int):
            return value.bit_length() * 3 // 10 + 2
        if isinstance(value, float):
            return 24
        if isinstance(value, bytes):
            return 4 * len(value) + 3
        if isinstance(value, (Undefined, *_SMALL_REPR)) or callable(value) or _is_lazy(value):
            return 200  # a fixed short repr; an undefined value fails when printed
        if isinstance(value, Namespace):
            raise OverBudget("a namespace cannot be printed whole: print its values (ns.name)")
        if not isinstance(value, (Mapping, Sequence, set, frozenset, type({}.keys()), type({}.values()),
                                  type({}.items()))):
            raise OverBudget(f"a {type(value).__name__} object cannot be printed")
        if depth >= MAX_DEPTH:
            raise OverBudget(f"a value nested more than {MAX_DEPTH} deep cannot be printed")
        key = (id(value), quoted)
        if key not in self.seen:
            self.seen[key] = self._container(value, depth)
        return self.seen[key]

    def _container(self, value: Any, depth: int) -> int:
        total = 64 if isinstance(value, tuple) and type(value) is not tuple else 2  # a named tuple shows names
        if isinstance(value, Mapping):
            pairs: Any = value.items()
        elif isinstance(value, type({}.items())):
            pairs = value
        else:
            pairs = None
        for item in (pairs if pairs is not None else value):
            if pairs is not None:
                total += self.size(item[0], True, depth + 1) + self.size(item[1], True, depth + 1) + 4
            else:
                total += self.size(item, True, depth + 1) + 2
            if total > self.limit:
                return total
        return total


def _repr_size(value: str) -> int:
    """len(repr(value)), or more: escapes are at most 4 characters for ASCII, 10 for others."""
    if value.isprintable():
        return len(value) + 2 + value.count("\\") + value.count("'")
    return (4 if value.isascii() else 10) * len(value) + 2


def _is_lazy(value: Any) -> bool:
    """A generator or iterator: printed as `<generator object ...>`, never its items."""
    return hasattr(value, "__next__") and not isinstance(value, Sized)


def text_cost(value: Any, limit: int, what: str, *, escaped: bool = False) -> Cost:
    """Printing `value` (HTML-escaped when `escaped`): its text, paid for before str() builds it."""
    if isinstance(value, str):
        length = escaped_length(value) if escaped and not isinstance(value, Markup) else len(value)
        return Cost(OBJECT + length * width(value), length, what)
    size = text_size(value, limit // 4 + 1)
    factor = ESCAPED if escaped and not isinstance(value, Markup) else 1
    return Cost(OBJECT + 4 * size * factor, None, what)


def escaped_length(value: str) -> int:
    """len(markupsafe.escape(value)): & < > " ' become five, four, four, five and five characters."""
    return len(value) + 4 * (value.count("&") + value.count('"') + value.count("'")) + 3 * (value.count("<")
                                                                                             + value.count(">"))


def largest_text(values: Sequence[Any], limit: int, *, quoted: bool = False) -> int:
    return max((text_size(v, limit, quoted=quoted) for v in values), default=0)
