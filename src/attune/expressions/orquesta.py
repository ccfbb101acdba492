"""StackStorm Orquesta's expressions, and how each is written in this language (spec §6).

Orquesta workflows use YAQL (`<% ctx().host %>`) and Jinja with Orquesta's functions
(`{{ ctx('host') }}`, `{{ item(host) }}`, `{{ task('check').result }}`). Neither is evaluated
here: YAQL would reach the action as literal text, and the functions do not exist. This module
finds them and rewrites the common forms, so a load error can say what to write instead. Pure
text work: `translate` is only ever a suggestion, offered when it checks clean (check.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# `<% … %>` in the text around `{{ }}` (inside a `{{ }}` string literal it is the user's own text).
_YAQL = re.compile(r"<%(.*?)%>", re.S)
_LITERAL = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""", re.S)
_NAME = r"""\s*(?:'(\w+)'|"(\w+)"|(\w+))\s*"""
# ctx().x, ctx(x), ctx('x'), ctx("x"); YAQL's $.x is the same context.
_CTX = re.compile(rf"\bctx\(\s*\)\s*\.\s*(\w+)|\bctx\({_NAME}\)|\$\.(\w+)")
_TASK = re.compile(rf"\btask\({_NAME}\)")
_ITEM = re.compile(r"\bitem\(\s*\w*\s*\)")
# YAQL's comparison `=`; `==`, `!=`, `<=`, `>=` and `=>` stay
_EQUALS = re.compile(r"(?<![=!<>])=(?![=>])")
_RENAMED = {"len": "length", "str": "string", "canceled": "cancelled"}
_RENAMED_CALL = re.compile(rf"\b({'|'.join(_RENAMED)})\(")


@dataclass(frozen=True)
class YaqlSpan:
    text: str  # "<% ctx().host %>" as written
    inner: str  # "ctx().host"
    offset: int  # of "<%" within the text it was found in


def yaql_spans(text: str) -> Iterator[YaqlSpan]:
    """Each `<% … %>` of a plain-text piece (the text around a template's `{{ }}`)."""
    for match in _YAQL.finditer(text):
        yield YaqlSpan(match.group(), match.group(1).strip(), match.start())


def translate(source: str, name: Callable[[str], str] = lambda n: n, *, yaql: bool = True) -> str:
    """The expression `source` (YAQL, or with `yaql=False` Jinja with Orquesta's functions) in
    this language: ctx().x / ctx(x) / ctx('x') / $.x -> name(x) (a workflow variable's bare name,
    or `parameters.x`), task('t') -> task.t, item(x) -> item, len -> length, and in YAQL the
    comparison `=` -> `==` (in Jinja `=` passes a keyword argument)."""
    def context(match: re.Match[str]) -> str:
        return name(next(g for g in match.groups() if g))

    def task(match: re.Match[str]) -> str:
        return "task." + next(g for g in match.groups() if g)

    text = _TASK.sub(task, _CTX.sub(context, source))
    text = _ITEM.sub("item", text)
    pieces, pos = [], 0
    for literal in _LITERAL.finditer(text):  # operators only outside string literals
        pieces += [_operators(text[pos:literal.start()], yaql), literal.group()]
        pos = literal.end()
    pieces.append(_operators(text[pos:], yaql))
    return "".join(pieces).strip()


def _operators(code: str, yaql: bool) -> str:
    code = _EQUALS.sub("==", code) if yaql else code
    return _RENAMED_CALL.sub(lambda m: _RENAMED[m.group(1)] + "(", code)


# Orquesta functions whose argument is a name, not a value: ctx(host), item(host), task(check).
NAME_ARGUMENTS = frozenset({"ctx", "item", "task"})
# Orquesta functions that are not functions here: what to write instead.
FOREIGN_FUNCTIONS = {
    "ctx": "Orquesta's ctx() is written as the name itself here: a workflow variable by its name "
           "(ctx().host -> host), a workflow input as parameters.host",
    "item": "`item` is a name here, not a function: item (or item.field) in the input of a "
            "with_items task",
    "task": "a task's result is task.<name> here, not a function: task('check').result.status -> "
            "task.check.result.status",
    "completed": "a transition without `when` fires however the task ended (Orquesta's "
                 "completed())",
    "canceled": "it is spelt cancelled() here",
    "st2kv": "there is no key-value store here: use the pack's config (config.x) or a parameter",
    "len": "it is length() here",
    "str": "it is string() here",
}
