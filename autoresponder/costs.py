"""How much an operation a template asks for would build, worked out from its operands before it runs.

Its job: one rule per operator and string or container method that can build something larger than
its operands (repetition, joining, padding, formatting, replacing, wrapping, indenting ...), each
giving a `Cost`: the bytes the result takes at most (`autoresponder.sizes`), and its exact length
when that is known before it is built. The sandbox charges these costs to the render's budget;
an operation whose cost is over the budget never runs. Estimates are upper bounds; where the
exact size is cheap to know (repetition, `replace`, `join`, padding) it is exact.

It never: runs the operation, renders, or keeps anything between calls.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence, Sized
from typing import Any

from markupsafe import Markup

from autoresponder.budget import MAX_BITS, MAX_NUMBER, Cost, OverBudget
from autoresponder.sizes import ENTRY, ESCAPED, ITEM, OBJECT, cells, largest_text, text_size, width

COPIES_PER_ITEM = 10_000  # character copies (memcpy) that take about as long as one item of Python work
_NUMERIC = frozenset("bcdeEfFgGnoxX%iu")


# --- operators ----------------------------------------------------------------------------------


def binop(operator: str, left: Any, right: Any, limit: int) -> Cost:
    """`left OP right` for the operators the sandbox intercepts."""
    what = f"{short(left)} {operator} {short(right)}"
    if operator == "*":
        return _times(left, right, what)
    if operator == "+":
        if isinstance(left, (str, list, tuple, bytes)) and isinstance(right, (str, list, tuple, bytes)):
            length = len(left) + len(right)
            unit = ITEM if isinstance(left, (list, tuple)) else max(width(left), width(right))
            factor = ESCAPED if isinstance(left, Markup) != isinstance(right, Markup) else 1
            return Cost(OBJECT + length * unit * factor, length if factor == 1 else None, what)
        return Cost(OBJECT, None, what)
    if operator == "%" and isinstance(left, str):
        return percent_format(left, right, limit, escape=isinstance(left, Markup), what=what)
    if operator == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
        bits = abs(left).bit_length() * right
        if bits > MAX_BITS:
            raise OverBudget(f"{what} is a number over {MAX_BITS} bits")
        return Cost(OBJECT + bits // 8, None, what)
    return Cost(OBJECT, None, what)


def _times(left: Any, right: Any, what: str) -> Cost:
    sequence, times = (left, right) if _is_int(right) or isinstance(right, bool) else (right, left)
    if isinstance(sequence, (str, bytes, list, tuple)) and isinstance(times, int):
        length = len(sequence) * max(times, 0)
        unit = ITEM if isinstance(sequence, (list, tuple)) else width(sequence)
        return Cost(OBJECT + length * unit, length, what)
    if _is_int(left) and _is_int(right):
        bits = abs(left).bit_length() + abs(right).bit_length()
        if bits > MAX_BITS:
            raise OverBudget(f"{what} is a number over {MAX_BITS} bits")
        return Cost(OBJECT + bits // 8, None, what)
    return Cost(OBJECT, None, what)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def short(value: Any) -> str:
    """How a refusal shows an operand: short values as written, long ones by their type and length."""
    if isinstance(value, (str, bytes)) and len(value) <= 20:
        return repr(value)
    if isinstance(value, (str, bytes, list, tuple, dict)):
        return f"<{type(value).__name__} of {len(value):,}>"
    if _is_int(value) and value.bit_length() <= 64:
        return str(value)
    return f"<{type(value).__name__}>"


# --- formatting: '%s' % x, '{}'.format(x), |format -------------------------------------------------

_PERCENT = re.compile(r"%(?:\((?P<key>[^)]*)\))?(?P<flags>[-#0 +]*)(?P<width>\*|\d+)?"
                      r"(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<type>.?)", re.DOTALL)


def percent_format(fmt: str, args: Any, limit: int, *, escape: bool = False, what: str = "a % format") -> Cost:
    """`fmt % args`: the format's own text plus, per field, its width or its argument's text."""
    if isinstance(args, tuple):
        values: Sequence[Any] = args
    elif isinstance(args, Mapping):
        values = list(args.values())
    else:
        values = [args]
    total, position = len(fmt), 0
    for match in _PERCENT.finditer(fmt):
        if match["type"] == "%" and not match["key"]:
            continue
        if "*" in (match["width"] or "") + (match["precision"] or ""):
            raise OverBudget(f"{what}: a width or precision taken from a value (*) is not allowed in a"
                             " template; write the number in the format")
        pad, precision = _numbers(f"{match['width'] or ''} {match['precision'] or ''}", what)
        if match["key"] is not None and isinstance(args, Mapping):
            field = [args.get(match["key"])]
        elif isinstance(args, tuple) and position < len(args):
            field = [args[position]]
        else:
            field = list(values)
        position += 1
        total += _field_size(field, match["type"] or "s", precision, pad, limit, escape)
        if total > limit:
            break
    return Cost(OBJECT + 4 * total, None, what)


def brace_format(fmt: str, args: Sequence[Any], kwargs: Mapping[str, Any], limit: int, *,
                 escape: bool = False) -> Cost:
    """`fmt.format(*args, **kwargs)`: the same sum; a width taken from a value ("{:{}}") is refused."""
    what = f"{short(fmt)}.format(...)"
    total, auto = 0, 0
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return Cost(OBJECT + len(fmt), None, what)  # format() will raise the same error, building nothing
    for literal, name, spec, conversion in parsed:
        total += len(literal)
        if name is None:
            continue
        if "{" in (spec or ""):
            raise OverBudget(f"{what}: a width or precision taken from a value ({{:{{}}}}) is not allowed in a"
                             " template; write the number in the format")
        pad, precision = _numbers(spec or "", what)
        head = re.split(r"[.\[]", name, maxsplit=1)[0]
        if head == "":
            head, auto = str(auto), auto + 1
        if head.isdigit() and int(head) < len(args):
            field = [args[int(head)]]
        elif head in kwargs:
            field = [kwargs[head]]
        else:
            field = []  # format() raises IndexError or KeyError: nothing is built
        kind = "r" if conversion in ("r", "a") else (spec or "s")[-1:]
        total += _field_size(field, kind, precision, pad, limit, escape)
        if total > limit:
            break
    return Cost(OBJECT + 4 * total, None, what)


def _numbers(spec: str, what: str) -> tuple[int, int]:
    """The width and the precision of a format field (any digits in it bound both)."""
    found = [int(digits) for digits in re.findall(r"\d+", spec)]
    if any(n > MAX_NUMBER for n in found):
        raise OverBudget(f"{what}: a format width or precision over {MAX_NUMBER:,}")
    largest = max(found, default=0)
    return largest, largest


def _field_size(values: Sequence[Any], kind: str, precision: int, pad: int, limit: int, escape: bool) -> int:
    if kind in ("r", "a"):
        size = largest_text(values, limit, quoted=True)
    elif kind in _NUMERIC:
        numbers = [v for v in values if isinstance(v, (int, float))]
        size = 4 * largest_text(numbers, limit) + 330 + precision  # binary digits; a float's 308-digit exponent
    else:
        size = largest_text(values, limit)
    return max(pad, size * (ESCAPED if escape else 1)) + pad + 8


# --- string and container methods --------------------------------------------------------------

Rule = Callable[[Any, tuple[Any, ...], dict[str, Any], int], Cost]


def _same(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    return Cost(cells(s), len(s), "the text")


def _cased(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    return Cost(OBJECT + 3 * 4 * len(s), None, "the text")  # Unicode case mapping: "ﬃ".upper() == "FFI"


def _padded(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    wanted = args[0] if args else kw.get("width", 0)
    length = max(len(s), wanted if _is_int(wanted) else 0)
    return Cost(OBJECT + length * 4, length, f"padding to {wanted}")


def _expandtabs(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    size = args[0] if args else kw.get("tabsize", 8)
    tab = "\t" if isinstance(s, str) else b"\t"
    length = len(s) + s.count(tab) * max(size if _is_int(size) else 8, 0)
    return Cost(OBJECT + length * width(s), None, f"expandtabs({size})")


def _replace(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    old = args[0] if args else kw.get("old", "")
    new = args[1] if len(args) > 1 else kw.get("new", "")
    count = args[2] if len(args) > 2 else kw.get("count", -1)
    if not isinstance(old, (str, bytes)) or not isinstance(new, (str, bytes)):
        return Cost(OBJECT, None, "replace")
    found = s.count(old) if old else len(s) + 1
    if _is_int(count) and count >= 0:
        found = min(found, count)
    new_size = len(new) * (ESCAPED if isinstance(s, Markup) else 1)
    length = len(s) + found * (new_size - len(old))
    return Cost(OBJECT + length * max(width(s), width(new)), length, f"replace(..., {short(new)})")


def _join(sep: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    items = args[0] if args else kw.get("iterable", ())
    if not isinstance(items, Sized):
        return Cost(OBJECT, None, "join")  # the sandbox makes lazy sequences lists first
    return joined(items, sep, limit, escape=isinstance(sep, Markup))


def joined(items: Any, sep: Any, limit: int, *, escape: bool = False) -> Cost:
    """Joining `items` with `sep`: every item's text and a separator between each two."""
    what = f"joining {len(items):,} items with {short(sep)}"
    total = max(len(items) - 1, 0) * (len(sep) if isinstance(sep, str) else text_size(sep, limit))
    for item in items:
        total += text_size(item, limit) * (ESCAPED if escape and not isinstance(item, Markup) else 1)
        if total > limit:
            break
    return Cost(OBJECT + total * 4, total if not escape else None, what)


def _split(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    sep = args[0] if args else kw.get("sep")
    pieces = s.count(sep) + 1 if isinstance(sep, (str, bytes)) and sep else len(s) // 2 + 1
    return Cost(OBJECT + len(s) * width(s) + pieces * (OBJECT + ITEM), None, "split")


def _splitlines(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    return Cost(OBJECT + len(s) * width(s) + _lines(s) * (OBJECT + ITEM), None, "splitlines")


def _lines(s: Any) -> int:
    if isinstance(s, bytes):
        return s.count(b"\n") + s.count(b"\r") + 1
    return sum(s.count(c) for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029") + 1


def _translate(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    table = args[0] if args else None
    longest = 1
    if isinstance(table, Mapping):
        longest = max((len(v) if isinstance(v, (str, bytes)) else 1 for v in table.values()), default=1)
    elif isinstance(table, (list, tuple)):
        longest = max((len(v) if isinstance(v, (str, bytes)) else 1 for v in table), default=1)
    length = len(s) * longest
    return Cost(OBJECT + length * 4, None, "translate")


def _grows(factor: int) -> Rule:
    def rule(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
        return Cost(OBJECT + factor * len(s), None, "the text")
    return rule


def _maketrans(s: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    return Cost(OBJECT + ENTRY * sum(len(a) for a in args if isinstance(a, Sized)), None, "maketrans")


def striptags(s: Any, args: tuple[Any, ...] = (), kw: dict[str, Any] | None = None, limit: int = 0) -> Cost:
    # markupsafe (3.x) walks the tags in Python, one step each, and unescapes the rest.
    text = s if isinstance(s, str) else ""
    return Cost(OBJECT + 4 * 2 * len(text), None, f"striptags on {len(text):,} characters", text.count("<"))


def _copy(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    return Cost(cells(value), len(value), "a copy")


def _fromkeys(value: Any, args: tuple[Any, ...], kw: dict[str, Any], limit: int) -> Cost:
    keys = args[0] if args else ()
    count = len(keys) if isinstance(keys, Sized) else MAX_NUMBER
    return Cost(OBJECT + ENTRY * count, count, "dict.fromkeys")


TEXT_METHODS: dict[str, Rule] = {
    "capitalize": _cased, "casefold": _cased, "lower": _cased, "upper": _cased, "swapcase": _cased,
    "title": _cased, "center": _padded, "ljust": _padded, "rjust": _padded, "zfill": _padded,
    "expandtabs": _expandtabs, "replace": _replace, "join": _join, "split": _split, "rsplit": _split,
    "splitlines": _splitlines, "partition": _same, "rpartition": _same, "strip": _same, "lstrip": _same,
    "rstrip": _same, "removeprefix": _same, "removesuffix": _same, "translate": _translate,
    "encode": _grows(10), "decode": _grows(4), "hex": _grows(3), "maketrans": _maketrans,
    "striptags": striptags, "unescape": _grows(4), "escape": _grows(4 * ESCAPED),
}
# Methods that build nothing larger than a number or a truth value.
TEXT_QUERIES = frozenset({
    "count", "endswith", "find", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit",
    "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper", "rfind",
    "rindex", "startswith",
})
CONTAINER_METHODS: dict[str, Rule] = {"copy": _copy, "fromkeys": _fromkeys}


def method(receiver: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> Cost | None:
    """The cost of `receiver.name(*args)`, for a string or container receiver; None when it builds nothing."""
    if isinstance(receiver, (str, bytes)) or receiver in (str, bytes, Markup):
        if name in TEXT_QUERIES:
            return None
        rule = TEXT_METHODS.get(name)
        if rule is None:  # a method this table does not know: as if it quadrupled its text
            return Cost(OBJECT + 4 * 4 * (text_size(receiver, limit) + largest_text(args, limit)), None, name)
        if isinstance(receiver, type):  # str.maketrans(...), Markup.escape(...): measured on the argument
            return rule(args[0] if args else "", args, kwargs, limit)
        return rule(receiver, args, kwargs, limit)
    if isinstance(receiver, (list, tuple, dict)) or receiver is dict:
        rule = CONTAINER_METHODS.get(name)
        return rule(receiver, args, kwargs, limit) if rule is not None else None
    return None
