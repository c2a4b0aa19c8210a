"""The cost of each of Jinja's built-in filters, worked out from the value and arguments before it runs.

Its job: `FILTERS`, a table from filter name to a `Rule` saying whether the filter reads a lazy
sequence whole (`consumes`: the sandbox then makes it a list first, paying item by item) and
what its result costs (`autoresponder.costs.Cost`). A filter missing from the table costs as
if it quadrupled its value's text. Filters that only pick from their value (`first`, `default`,
`attr`) or stay lazy (`map`, `select`, `unique`: their items are paid for when read) cost nothing
up front.

It never: runs a filter, renders, or keeps anything between calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any

from autoresponder.budget import MAX_NUMBER, Cost, OverBudget
from autoresponder.costs import COPIES_PER_ITEM, joined, percent_format, short, striptags
from autoresponder.sizes import ENTRY, ESCAPED, ITEM, OBJECT, text_cost, text_size

Estimate = Callable[[Any, tuple[Any, ...], dict[str, Any], int, bool], "Cost | None"]


@dataclass(frozen=True)
class Rule:
    estimate: Estimate
    consumes: bool = False  # reads a lazy sequence whole: given a list, paid for as it is made


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _n(value: Any) -> int:
    return len(value) if isinstance(value, Sized) else 0


def _words(s: str) -> int:
    """At most how many words: one more than the whitespace characters (every character, beyond ASCII)."""
    if s.isascii():
        return sum(s.count(c) for c in " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f") + 1
    return len(s) // 2 + 1


def _lines(s: str) -> int:
    return sum(s.count(c) for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029") + 1


def _nothing(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost | None:
    return None


def _python_work(per_item: int) -> Estimate:
    """A filter that goes through its sequence in Python (sort, groupby ...), keeping a small object per item."""
    def estimate(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
        n = _n(value)
        return Cost(OBJECT + per_item * n, None, f"a filter over {n:,} items", work=n)
    return estimate


def _text_of(factor: int, work_per: Callable[[str], int] | None = None) -> Estimate:
    """A filter whose result is its value's text, up to `factor` times longer (case, escaping ...)."""
    def estimate(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
        size = text_size(value, limit)
        work = work_per(value) if work_per is not None and isinstance(value, str) else 0
        return Cost(OBJECT + 4 * factor * size, None, f"a filter on {size:,} characters", work)
    return estimate


def _string(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    return text_cost(value, limit, "|string")


def _center(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    wanted = _int(_arg(args, kw, 0, "width", 80), 0)
    length = max(text_size(value, limit), wanted)
    return Cost(OBJECT + 4 * length, length, f"|center({wanted})")


def _indent(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    by = _arg(args, kw, 0, "width", 4)
    each = len(by) if isinstance(by, str) else max(_int(by, 0), 0)
    text = value if isinstance(value, str) else ""
    lines = _lines(text)
    length = text_size(value, limit) + (lines + 1) * each
    return Cost(OBJECT + 4 * length + lines * (OBJECT + ITEM), length, f"|indent({each:,}) of {lines:,} lines", lines)


def _wordwrap(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    text = value if isinstance(value, str) else ""
    at = max(_int(_arg(args, kw, 0, "width", 79), 79), 1)
    between = _arg(args, kw, 2, "wrapstring", None)
    joint = len(between) if isinstance(between, str) else 1
    words = _words(text)
    breaks = len(text) // at + _lines(text)
    # textwrap cuts a word longer than the width one line at a time, copying the rest each time.
    copies = sum((m.end() - m.start()) ** 2 // at for m in re.finditer(rf"\S{{{at + 1},}}", text))
    length = len(text) + breaks * joint
    work = 2 * words + text.count("-") + breaks + copies // COPIES_PER_ITEM
    return Cost(OBJECT + 4 * length + 2 * words * (OBJECT + ITEM), None, f"|wordwrap({at}) of {len(text):,} characters", work)


def _truncate(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    keep = max(_int(_arg(args, kw, 0, "length", 255), 255), 0)
    end = _arg(args, kw, 2, "end", "...")
    length = min(text_size(value, limit), keep) + (len(end) if isinstance(end, str) else 0)
    return Cost(OBJECT + 4 * length, None, "|truncate")


def _replace(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    text = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else ""
    old, new = _arg(args, kw, 0, "old", ""), _arg(args, kw, 1, "new", "")
    count = _int(_arg(args, kw, 2, "count", -1), -1)
    factor = ESCAPED if escape else 1
    old_s, new_s = (str(old), str(new)) if isinstance(old, (str, int, float)) and isinstance(new, (str, int, float)) else ("", "")
    found = text.count(old_s) if old_s else len(text) + 1
    if count >= 0:
        found = min(found, count)
    length = len(text) * factor + found * len(new_s) * factor
    return Cost(OBJECT + 4 * length, None if escape else length, f"|replace(..., <{len(new_s):,} characters>, {count})")


def _join(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    sep = _arg(args, kw, 0, "d", "")
    attribute = _arg(args, kw, 1, "attribute", None)
    if attribute is not None:  # the attribute of each item is joined: bounded by the items' text
        cost = joined([value], sep, limit, escape=escape)
        return Cost(cost.cells + 4 * len(str(sep)) * _n(value), None, "|join", _n(value))
    cost = joined(value, sep, limit, escape=escape)
    return Cost(cost.cells, cost.length, cost.what, _n(value) if escape else 0)


def _list(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    n = _n(value)
    fresh = OBJECT if isinstance(value, (str, range)) and not (isinstance(value, str) and value.isascii()) else 0
    return Cost(OBJECT + (ITEM + fresh) * n, n, "|list")


def _batch(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    n, each = _n(value), _int(_arg(args, kw, 0, "linecount", 1), 1)
    groups = n // max(each, 1) + 2
    return Cost(OBJECT + ITEM * (n + max(each, 0)) + OBJECT * groups, None, f"|batch({each}) of {n:,} items", n + max(each, 0))


def _slice(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    n, slices = _n(value), max(_int(_arg(args, kw, 0, "slices", 1), 1), 0)
    return Cost(OBJECT + ITEM * (n + slices) + OBJECT * slices, None, f"|slice({slices}) of {n:,} items", n + slices)


def _sum(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    start = _arg(args, kw, 1, "start", 0)
    if not isinstance(start, (int, float)):
        raise OverBudget(f"|sum adds numbers, not from a start of {type(start).__name__}: to put lists or"
                         " texts together use |join, or + on two of them")
    n = _n(value)
    return Cost(OBJECT, None, "|sum", n)


def _format(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    fmt = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else ""
    return percent_format(fmt, kw if kw else tuple(args), limit, what="|format")


def _pprint(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    size = text_size(value, limit, quoted=True)
    return Cost(OBJECT + 4 * 2 * size, None, f"|pprint of {size:,} characters", size // 8)


def _tojson(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    size = text_size(value, limit, quoted=True)
    indent = _arg(args, kw, 0, "indent", None)
    step = max(_int(indent, 0), len(indent) if isinstance(indent, str) else 0)
    lines = size // 2 + 1 if indent is not None else 0  # the encoder in Python, one line per item
    length = 6 * size + lines * (step * 50 + 1)  # "\u003c" for each "<"; items up to 50 deep
    return Cost(OBJECT + 4 * length, None, "|tojson", lines)


def _urlencode(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    size = text_size(value, limit)
    return Cost(OBJECT + 4 * 12 * size, None, "|urlencode", _n(value) if not isinstance(value, str) else 0)


def _urlize(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    text = value if isinstance(value, str) else ""
    words = _words(text)
    extra = sum(len(x) for x in (_arg(args, kw, 3, "target", None), _arg(args, kw, 4, "rel", None))
                if isinstance(x, str))
    length = ESCAPED * 2 * len(text) + words * (80 + extra)
    return Cost(OBJECT + 4 * length, None, f"|urlize of {len(text):,} characters", words)


def _xmlattr(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    size = text_size(value, limit)
    return Cost(OBJECT + 4 * ESCAPED * size, None, "|xmlattr", _n(value))


def _escape(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    return text_cost(value, limit, "|escape", escaped=True)


def _striptags(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    if not isinstance(value, str):
        text_size(value, limit)  # refuses what cannot be printed
    return striptags(value if isinstance(value, str) else "")


def _dictsort(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    n = _n(value)
    return Cost(OBJECT + (ENTRY + ITEM) * n, None, "|dictsort", 2 * n)


def _wordcount(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int, escape: bool) -> Cost:
    words = _words(value) if isinstance(value, str) else text_size(value, limit) // 2 + 1
    return Cost(OBJECT + words * (OBJECT + ITEM), None, "|wordcount")


FILTERS: dict[str, Rule] = {
    "abs": Rule(_nothing), "attr": Rule(_nothing), "count": Rule(_nothing), "length": Rule(_nothing),
    "d": Rule(_nothing), "default": Rule(_nothing), "first": Rule(_nothing), "last": Rule(_nothing),
    "random": Rule(_nothing), "float": Rule(_nothing), "int": Rule(_nothing), "round": Rule(_nothing),
    "filesizeformat": Rule(_nothing), "items": Rule(_nothing), "map": Rule(_nothing), "select": Rule(_nothing),
    "reject": Rule(_nothing), "selectattr": Rule(_nothing), "rejectattr": Rule(_nothing),
    "unique": Rule(_nothing),
    "min": Rule(_python_work(0), consumes=True), "max": Rule(_python_work(0), consumes=True),
    "sort": Rule(_python_work(ITEM + OBJECT), consumes=True),
    "groupby": Rule(_python_work(ENTRY + ITEM + OBJECT), consumes=True),
    "reverse": Rule(_python_work(ITEM), consumes=True),
    "dictsort": Rule(_dictsort),
    "batch": Rule(_batch, consumes=True), "slice": Rule(_slice, consumes=True),
    "list": Rule(_list, consumes=True), "join": Rule(_join, consumes=True), "sum": Rule(_sum, consumes=True),
    "capitalize": Rule(_text_of(3)), "lower": Rule(_text_of(3)), "upper": Rule(_text_of(3)),
    "title": Rule(_text_of(3, _words)), "trim": Rule(_text_of(1)), "safe": Rule(_text_of(1)),
    "e": Rule(_escape), "escape": Rule(_escape), "forceescape": Rule(_escape), "string": Rule(_string),
    "center": Rule(_center), "indent": Rule(_indent), "wordwrap": Rule(_wordwrap),
    "truncate": Rule(_truncate), "replace": Rule(_replace), "format": Rule(_format),
    "pprint": Rule(_pprint), "tojson": Rule(_tojson), "urlencode": Rule(_urlencode), "urlize": Rule(_urlize),
    "xmlattr": Rule(_xmlattr), "striptags": Rule(_striptags), "wordcount": Rule(_wordcount),
}
UNKNOWN = Rule(_text_of(4))


def rule_for(name: str) -> Rule:
    """The rule for filter `name`; one that quadruples its value's text for a filter the table does not know."""
    return FILTERS.get(name, UNKNOWN)


def check_numbers(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """No number above MAX_NUMBER is handed to a filter (|format's arguments are its values, not sizes)."""
    if name == "format":
        return
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise OverBudget(f"the number {short(value)} is too large for a template (limit {MAX_NUMBER:,})")

