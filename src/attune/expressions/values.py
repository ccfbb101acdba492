"""Value rules shared by the evaluator and the functions: type names, text form, lookups."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from jinja2.runtime import StrictUndefined, Undefined


class EvalFailure(Exception):
    """Raised inside evaluation with a user-facing cause; the engine adds the expression."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# Jinja raises `exc(message)` on misuse; EvalFailure takes just the message too.
_RAISES: Any = EvalFailure


class Missing(StrictUndefined):
    """A value that is not there (an unknown name, a missing key, a task with no result yet).

    Lookups return it instead of raising so that `x | default(v)` and `x is defined` can see it;
    any other use (printing, comparing, arithmetic, passing it to a function, returning it)
    raises EvalFailure with the message of the lookup that produced it."""

    __slots__ = ()

    def __init__(self, hint: str | None = None, obj: Any = None, name: str | None = None,
                 exc: Any = None) -> None:
        if hint is None:
            hint = (f"'{name}' is only defined in the input of a with_items task"
                    if name in ("item", "index") else
                    f"unknown name {name!r}: not a namespace, function or workflow variable")
        super().__init__(hint, None, name, _RAISES)

    def fail(self) -> Any:
        raise EvalFailure(self._undefined_message)


class NotRun(Undefined):
    """`task.<name>` of a task that never ran, in `output_map` (spec §6 Decided): null, however
    deep the path (`task.build.result.seconds` is null too) and `| default(v)` gives v."""

    __slots__ = ()

    def __init__(self, task: str) -> None:
        super().__init__(f"task {task!r} did not run", None, task, _RAISES)

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, _key: Any) -> Any:
        return self

    def __eq__(self, other: Any) -> bool:
        return other is None or isinstance(other, NotRun)

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(None)


def settle(value: Any) -> Any:
    """An expression's value ready for use: Missing raises its error, NotRun is null."""
    if isinstance(value, Undefined):
        return value.fail() if isinstance(value, Missing) else None
    return value


def type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "function" if callable(value) else type(value).__name__


def a(kind: str) -> str:
    """'an integer', 'a string': for messages."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


MAX_DIGITS = 4000  # Python turns at most 4,300 digits into text: the value could not be stored
_TOO_MANY_DIGITS = 10**MAX_DIGITS


def bounded_int(value: Any) -> Any:
    """An integer every reader can hold (at most MAX_DIGITS digits), else a failure saying so."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _TOO_MANY_DIGITS:
        raise EvalFailure(f"the result has more than {MAX_DIGITS:,} digits (the limit)")
    return value


def to_data(value: Any) -> Any:
    """Plain JSON-like copy of an expression's value.

    Copying means a rendered value never aliases workflow state (a later mutation by a caller
    cannot change a variable), and namespace views / tuples turn back into dict / list.
    """
    value = settle(value)
    if isinstance(value, float) and not math.isfinite(value):  # 'nan' | float, and the like
        raise EvalFailure(f"the value is not a finite number ({value}): it cannot be data")
    if value is None or isinstance(value, (bool, int, float)):
        return bounded_int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, Iterator)):  # filters such as map/select return iterators
        return [to_data(v) for v in value]
    hint = " (missing '()' after a function name?)" if callable(value) else ""
    raise EvalFailure(f"the value is {a(type_of(value))}, not data{hint}")


def to_text(value: Any) -> str:
    """Text form used for interpolation and string(): null -> "", booleans -> true/false,
    lists/objects -> JSON, everything else str()."""
    value = settle(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise EvalFailure(f"the value is not a finite number ({value}): it cannot be data")
    if isinstance(value, dict) and "__attune_secret__" in value:
        # Sealed secret (attune.secrets): splicing it into text would hand the action the
        # ciphertext; it can only be passed on whole.
        raise EvalFailure("a secret (a secret parameter, pack config marked secret, or an inquiry "
                          "answer's secret field) can only be passed whole to a task input (e.g. "
                          "token: \"{{ parameters.token }}\"), not inside other text")
    if isinstance(value, (list, tuple, dict, Iterator)):
        return json.dumps(to_data(value), ensure_ascii=False)
    if is_number(value):
        return str(bounded_int(value))
    return to_text(to_data(value))  # raises the "not data" error


_FALSE_WORDS = frozenset({"", "false", "no", "off", "0", "null", "none"})


def truthy(value: Any) -> bool:
    """Truthiness for bool() and conditions. Strings are false when empty or a false-word
    (false/no/off/0/null/none, any case): a condition that renders to the text "false"
    must not fire."""
    value = settle(value)
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return bool(value)


class View(dict):
    """A namespace or task result: a dict whose missing keys are Missing values naming it.

    A dict subclass (a shallow copy) so ==, `in`, json and type_of treat it as the plain object.
    `missing` is a message template with {key!r}.
    """

    def __init__(self, data: dict, missing: str):
        super().__init__(data)
        self.missing = missing

    def get_key(self, key: Any) -> Any:
        if key in self:
            return self[key]
        return Missing(self.missing.format(key=key) + available(self))


class TaskResult(View):
    """A task's result. `.result` is the result itself (`task.build.result.seconds` ==
    `task.build.seconds`, the form Attune's workflows use), unless the action's output has a
    key `result` of its own: data keys win, as everywhere at the top level (spec §6)."""

    def get_key(self, key: Any) -> Any:
        return self if key == "result" and key not in self else super().get_key(key)


class ResultList(list):
    """A with_items task's list of results; `.result` is the list itself."""


class Tasks(View):
    """`task` / `tasks`. `not_run_is_null`: in output_map a task that never ran is null
    (alternative branches map their results this way); elsewhere it is an error."""

    def __init__(self, data: dict, not_run_is_null: bool = False):
        super().__init__(data, "task {key!r} has no result yet")
        self.not_run_is_null = not_run_is_null

    def get_key(self, key: Any) -> Any:
        if key not in self:  # a task of another branch, or not yet reached
            return NotRun(key) if self.not_run_is_null else Missing(self.missing.format(key=key))
        value = self[key]
        if isinstance(value, dict):
            label = f"task {key!r} result".replace("{", "{{").replace("}", "}}")
            return TaskResult(value, label + " has no key {key!r}")
        return ResultList(value) if isinstance(value, list) else value


def wrap_result(value: Any, label: str) -> Any:
    if isinstance(value, dict):
        return View(value, label.replace("{", "{{").replace("}", "}}") + " has no key {key!r}")
    return value


def available(obj: dict) -> str:
    if not obj:
        return " (it is empty)"
    names = [str(k) for k in list(obj)[:10]]
    more = ", ..." if len(obj) > 10 else ""
    return f" (has: {', '.join(names)}{more})"


def lookup(obj: Any, key: Any, dotted: bool = False) -> Any:
    """`obj.key` (dotted) and `obj[key]`. Dict data keys always win: there is no fallback to
    Python attributes, so `.items` reads a key named "items" and internals are unreachable."""
    if isinstance(obj, Undefined):
        return obj if isinstance(obj, NotRun) else obj.fail()
    if isinstance(obj, View):
        return obj.get_key(key)
    if isinstance(obj, ResultList) and key == "result":
        return obj
    if isinstance(obj, dict):
        try:
            return obj[key] if key in obj else Missing(f"object has no key {key!r}" + available(obj))
        except TypeError:
            raise EvalFailure(f"{a(type_of(key))} cannot be an object key") from None
    if isinstance(obj, (list, tuple, str)) and not dotted:
        if isinstance(key, slice) or (isinstance(key, int) and not isinstance(key, bool)):
            try:
                return obj[key]
            except IndexError:
                return Missing(f"index {key} is out of range ({type_of(obj)} of length {len(obj)})")
        raise EvalFailure(f"{type_of(obj)} index must be an integer, not {type_of(key)}")
    what = f"field {key!r}" if dotted else f"[{to_text(key)!r}]"
    raise EvalFailure(f"cannot read {what} of {a(type_of(obj))} value")
