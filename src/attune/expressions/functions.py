"""The functions of spec §6. All pure (no clock, randomness or I/O) except now() and uuid(),
which call the host's replay-safe sources (see host_functions).

Arguments are type-checked so a misuse reads "lower() expects a string, got integer" rather
than a Python traceback message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import regex
from .values import EvalFailure, is_number, lookup, settle, to_text, truthy, type_of, wrap_result

MAX_RANGE = 100_000  # range() / repetition bound: keeps a typo from building a huge list
# What one replace() may build, in characters: far past real use, far below what would exhaust
# the orchestrator's memory (`replace(s, 'a', 'b' * 100000)` asks for 100,000 times s).
MAX_BUILT_LENGTH = 16_000_000

FUNCTIONS: dict[str, Callable[..., Any]] = {}


def _function(name: str):
    def register(fn):
        # Python's own arity errors ("lower() takes 1 positional argument ...") use __qualname__.
        fn.__name__ = fn.__qualname__ = name
        FUNCTIONS[name] = fn
        return fn

    return register


def _want(fn: str, value: Any, *kinds: str) -> Any:
    if type_of(value) not in kinds:
        raise EvalFailure(f"{fn}() expects {' or '.join(kinds)}, got {type_of(value)}")
    return value


def _number(fn: str, value: Any) -> int | float:
    return _want(fn, value, "integer", "number")


def _items(fn: str, args: tuple) -> list:
    """min/max/sum accept one list or several arguments."""
    if len(args) == 1 and type_of(args[0]) == "array":
        return list(args[0])
    return list(args)


# --- conversions -------------------------------------------------------------------------


@_function("string")
def _string(value):
    return to_text(value)


@_function("number")
def _to_number(value):
    if is_number(value):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
        raise EvalFailure(f"cannot convert {value!r} to a number")
    raise EvalFailure(f"number() expects a string, number or boolean, got {type_of(value)}")


@_function("int")
def _to_int(value):
    number = _to_number(value)
    return math.trunc(number)


@_function("bool")
def _to_bool(value):
    return truthy(value)


# --- inspection --------------------------------------------------------------------------

FUNCTIONS["type_of"] = type_of


@_function("length")
def _length(value):
    return len(_want("length", value, "string", "array", "object"))


@_function("keys")
def _keys(value):
    return list(_want("keys", value, "object"))


@_function("values")
def _values(value):
    return list(_want("values", value, "object").values())


# --- numbers -----------------------------------------------------------------------------


@_function("abs")
def _abs(value):
    return abs(_number("abs", value))


@_function("floor")
def _floor(value):
    return math.floor(_number("floor", value))


@_function("ceil")
def _ceil(value):
    return math.ceil(_number("ceil", value))


@_function("round")
def _round(value, digits=0):
    """Half away from zero (round(2.5) == 3), not Python's banker's rounding."""
    _number("round", value)
    _want("round", digits, "integer")
    if not math.isfinite(value):
        raise EvalFailure(f"cannot round {value}")
    # str() first so 2.675 rounds as written, not as its binary approximation.
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return int(rounded) if digits <= 0 else float(rounded)


@_function("min")
def _min(*args):
    items = _items("min", args)
    if not items:
        raise EvalFailure("min() of an empty list")
    return min(items)


@_function("max")
def _max(*args):
    items = _items("max", args)
    if not items:
        raise EvalFailure("max() of an empty list")
    return max(items)


@_function("sum")
def _sum(*args):
    return sum(_number("sum", v) for v in _items("sum", args))


# --- strings -----------------------------------------------------------------------------


@_function("lower")
def _lower(s):
    return _want("lower", s, "string").lower()


@_function("upper")
def _upper(s):
    return _want("upper", s, "string").upper()


@_function("trim")
def _trim(s):
    return _want("trim", s, "string").strip()


@_function("split")
def _split(s, separator=None):
    """split(s) splits on runs of whitespace; split(s, sep) on each sep."""
    _want("split", s, "string")
    if separator is not None and _want("split", separator, "string") == "":
        raise EvalFailure("split() separator must not be empty")
    return s.split(separator)


@_function("join")
def _join(items, separator=""):
    _want("join", items, "array")
    return _want("join", separator, "string").join(to_text(v) for v in items)


@_function("replace")
def _replace(s, old, new):
    for v in (s, old, new):
        _want("replace", v, "string")
    return bounded_replace(s, old, new)


def bounded_replace(s: str, old: str, new: str, count: int = -1) -> str:
    """`s.replace(old, new, count)`, refused when the result would pass MAX_BUILT_LENGTH."""
    found = s.count(old) if old else len(s) + 1
    if count >= 0:
        found = min(found, count)
    length = len(s) + found * (len(new) - len(old))
    if length > MAX_BUILT_LENGTH:
        raise EvalFailure(f"replace() would build {length:,} characters, over the limit of "
                          f"{MAX_BUILT_LENGTH:,}")
    return s.replace(old, new, count)


@_function("starts_with")
def _starts_with(s, prefix):
    return _want("starts_with", s, "string").startswith(_want("starts_with", prefix, "string"))


@_function("ends_with")
def _ends_with(s, suffix):
    return _want("ends_with", s, "string").endswith(_want("ends_with", suffix, "string"))


@_function("match")
def _match(pattern, s):
    """Regex search anywhere in s (anchor with ^...$ for a full match)."""
    _want("match", pattern, "string")
    _want("match", s, "string")
    try:
        return regex.search(pattern, s)
    except regex.PatternError as exc:
        raise EvalFailure(str(exc)) from None


# --- collections -------------------------------------------------------------------------


@_function("contains")
def _contains(container, value):
    """Same as `value in container`: list element, substring, or object key."""
    _want("contains", container, "array", "object", "string")
    if isinstance(container, str):
        _want("contains", value, "string")
    try:
        return value in container
    except TypeError:  # unhashable value probed against object keys
        return False


@_function("reversed")
def _reversed(value):
    _want("reversed", value, "array", "string")
    return value[::-1] if isinstance(value, str) else list(value)[::-1]


@_function("sort")
def _sort(items, key=None):
    """sort(list) or sort(list_of_objects, "field")."""
    _want("sort", items, "array")
    try:
        if key is None:
            return sorted(items)
        return sorted(items, key=lambda item: settle(lookup(item, key)))
    except TypeError:
        kinds = sorted({type_of(i if key is None else settle(lookup(i, key))) for i in items})
        raise EvalFailure(f"sort() cannot order mixed values: {', '.join(kinds)}") from None


@_function("unique")
def _unique(items):
    """Drops repeats, keeping first occurrences. Compares JSON forms, so dicts work and true != 1."""
    seen: set[str] = set()
    out = []
    for item in _want("unique", items, "array"):
        form = json.dumps(item, sort_keys=True, default=str)
        if form not in seen:
            seen.add(form)
            out.append(item)
    return out


@_function("flat")
def _flat(items):
    """Flattens one level: [[1, 2], [3], 4] -> [1, 2, 3, 4]."""
    out: list[Any] = []
    for item in _want("flat", items, "array"):
        if isinstance(item, (list, tuple)):
            out.extend(item)
        else:
            out.append(item)
    return out


@_function("zip")
def _zip(*lists):
    """zip([1, 2], ["a", "b"]) -> [[1, "a"], [2, "b"]], as long as the shortest list."""
    for items in lists:
        _want("zip", items, "array")
    return [list(group) for group in zip(*lists, strict=False)]  # as long as the shortest


@_function("range")
def _range(*args):
    """range(stop), range(start, stop[, step]), as in Python; returns a list."""
    for arg in args:
        _want("range", arg, "integer")
    try:
        numbers = range(*args)
    except (TypeError, ValueError) as exc:
        raise EvalFailure(f"range(): {exc}") from None
    if len(numbers) > MAX_RANGE:
        raise EvalFailure(f"range() of {len(numbers)} numbers exceeds the limit of {MAX_RANGE}")
    return list(numbers)


# --- task status (transition conditions, retry on_error, publish) ------------------------


def status_functions(status: str | None, result: Any) -> dict[str, Callable[..., Any]]:
    """result() succeeded() failed() timed_out() cancelled() for one evaluation context."""

    def outside(name: str) -> EvalFailure:
        return EvalFailure(f"{name}() is only available once a task has ended (transitions, retry on_error)")

    def result_fn():
        if status is None and result is None:
            raise outside("result")
        return wrap_result(result, "result()")

    def is_status(name: str):
        def check():
            if status is None:
                raise outside(name)
            return status == name

        return check

    fns = {"result": result_fn} | {n: is_status(n) for n in ("succeeded", "failed", "timed_out", "cancelled")}
    for name, fn in fns.items():
        fn.__name__ = fn.__qualname__ = name
    return fns


# --- now() and uuid(): from the host (the Temporal workflow's clock and seeded random source) ---


def host_functions(clock: Callable[[], Any] | None, uuid: Callable[[], str] | None,
                   ) -> dict[str, Callable[..., Any]]:
    """now() gives the host clock as ISO 8601 text (e.g. "2024-05-01T12:00:00.123456+00:00"),
    uuid() a random UUID as text. Both come from the host so that a replay sees the same values."""

    def now():
        if clock is None:
            raise EvalFailure("now() is only available while a workflow runs")
        value = clock()
        return value.isoformat() if hasattr(value, "isoformat") else str(value)

    def new_uuid():
        if uuid is None:
            raise EvalFailure("uuid() is only available while a workflow runs")
        return str(uuid())

    now.__name__ = now.__qualname__ = "now"
    new_uuid.__name__ = new_uuid.__qualname__ = "uuid"
    return {"now": now, "uuid": new_uuid}


FUNCTION_NAMES = frozenset(FUNCTIONS) | {"result", "succeeded", "failed", "timed_out", "cancelled",
                                         "now", "uuid"}
