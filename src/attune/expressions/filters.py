"""Filters (`x | length`, `| default(v)`, `| map(attribute='k') | list`, `| join(',')`,
`| tojson`, ...) as real Attune workflows write them (spec §6).

Jinja's own implementations, except where its output would not be this language's data: text
forms follow `to_text` (JSON for lists and objects, not Python reprs), `tojson` does not
HTML-escape, `default` also replaces null. Filters that build values of any size a typo asks
for (center, indent, batch, slice, wordwrap), produce HTML, read Python attributes (attr) or are
random are left out; an unknown filter is a load-time error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from jinja2 import filters as jinja
from jinja2.runtime import Undefined
from jinja2.utils import url_quote

from .functions import bounded_replace
from .values import EvalFailure, lookup, settle, to_data, to_text, truthy

_FROM_JINJA = (
    "abs", "capitalize", "count", "dictsort", "first", "float", "groupby", "int",
    "items", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr",
    "reverse", "round", "select", "selectattr", "sort", "sum", "title", "trim",
    "truncate", "unique", "upper", "wordcount",
)


def _default(value: Any, default_value: Any = "", boolean: bool = False) -> Any:
    """`x | default(v)`: v when x is missing or null (an optional parameter not given is null,
    spec §6); with `boolean=true` also when x is false, 0, "" or empty."""
    if isinstance(value, Undefined) or value is None or (boolean and not truthy(value)):
        return default_value
    return value


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(to_data(value), ensure_ascii=False, indent=indent)


def _join(value: Any, separator: str = "", attribute: str | int | None = None) -> str:
    items = to_data(value)
    if attribute is not None:
        items = [settle(lookup(item, attribute)) for item in items]
    return to_text(separator).join(to_text(item) for item in items)


def _groupby(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Jinja's groupby; each group is `{grouper, list}`, read as Jinja's docs read it
    (`g.grouper`, `map(attribute='grouper')`): a Python tuple was an array here, without them."""
    groups = jinja.FILTERS["groupby"](*args, **kwargs)
    return [{"grouper": group.grouper, "list": group.list} for group in groups]


def _urlencode(value: Any) -> str:
    """Jinja's urlencode over this language's text: null is "" (not "None"), true is "true"; an
    object (or a list of [key, value] pairs) becomes a query string."""
    data = to_data(value)
    if isinstance(data, dict):
        pairs = list(data.items())
    elif isinstance(data, list):
        if not all(isinstance(p, list) and len(p) == 2 for p in data):
            raise EvalFailure("urlencode needs text, an object or a list of [key, value] pairs")
        pairs = [(p[0], p[1]) for p in data]
    else:
        return jinja.FILTERS["urlencode"](to_text(data))
    return "&".join(f"{url_quote(to_text(k), for_qs=True)}={url_quote(to_text(v), for_qs=True)}"
                    for k, v in pairs)


def _string(value: Any) -> str:
    return to_text(value)


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    """Jinja's `replace`, within MAX_BUILT_LENGTH (one call could ask for gigabytes)."""
    return bounded_replace(to_text(value), to_text(old), to_text(new), -1 if count is None else count)


# Jinja's string filters read their input with Python's str(): `null | upper` was "NONE" and a
# list came out as a Python repr. They read this language's text form instead.
_TEXT_IN = ("capitalize", "lower", "upper", "title", "trim", "truncate", "wordcount")


def _reading_text(name: str) -> Callable[..., Any]:
    jinja_filter = jinja.FILTERS[name]

    @functools.wraps(jinja_filter)  # keeps Jinja's pass_environment mark (truncate)
    def run(*args: Any, **kwargs: Any) -> Any:
        at = 1 if getattr(jinja_filter, "jinja_pass_arg", None) else 0
        args = (*args[:at], to_text(args[at]), *args[at + 1:])
        return jinja_filter(*args, **kwargs)

    return run


FILTERS: dict[str, Callable[..., Any]] = {
    name: _reading_text(name) if name in _TEXT_IN else jinja.FILTERS[name] for name in _FROM_JINJA}
FILTERS.update(tojson=_tojson, join=_join, string=_string, default=_default, d=_default,
               replace=_replace, urlencode=_urlencode)
FILTERS["groupby"] = functools.wraps(jinja.FILTERS["groupby"])(_groupby)  # keeps pass_environment
