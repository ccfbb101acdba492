"""Load-time checks of templates (spec §6: errors are reported when the workflow is loaded)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes
from jinja2.parser import Parser

from .engine import ENV, UNCLOSED, ExpressionError, _single, compile_expression, split_template
from .filters import FILTERS
from .functions import FUNCTION_NAMES, FUNCTIONS
from .orquesta import FOREIGN_FUNCTIONS, NAME_ARGUMENTS, translate, yaql_spans

TASK_NAMESPACES = frozenset({"task", "tasks"})
VARIABLE_NAMESPACES = frozenset({"workflow", "vars", "variables"})
NAMESPACES = TASK_NAMESPACES | VARIABLE_NAMESPACES | {"parameters", "config", "system", "item", "index"}
STATUS_FUNCTIONS = frozenset({"result", "succeeded", "failed", "timed_out", "cancelled"})
NAMESPACES |= {"null", "inquiry"}  # null: a name in Jinja, this language's null literal


@dataclass
class StaticScope:
    tasks: set[str]
    variables: set[str]  # vars keys + every name published anywhere in the workflow
    parameters: set[str] | None = None  # None: schema unknown, parameters.X is not checked
    allow_item: bool = False
    # Tasks with `wait_for: {inquiry}`: the only ones `inquiry.<task>.response` can name.
    inquiry_tasks: set[str] = field(default_factory=set)
    # Secret parameters, and variables that hold one (published or set from it whole): they
    # may only be passed on whole (`x: "{{ parameters.token }}"`) where `pass_secrets` is set
    # (task input, publish, vars, output_map), never compared or combined (spec §6, issue 9.15).
    secret_parameters: set[str] = field(default_factory=set)
    secret_variables: set[str] = field(default_factory=set)
    pass_secrets: bool = False
    # result(), succeeded(), ...: only where a task has just ended (a transition's when and
    # publish, retry.on_error); elsewhere they fail at run time, after the work is done.
    allow_status: bool = False


_STATEMENT = re.compile(r"\{%-?\s*(if|for|set|macro|with|raw|call|filter|block|include|import)\b.*?%\}", re.S)
STATEMENTS = ("statements ({% ... %}) are not part of this language, only {{ }} expressions: "
              "write a condition as {{ 'big' if x > 3 else 'small' }} and a loop as with_items")


@dataclass
class TemplateProblem:
    expression: str
    message: str
    offset: int = 0  # of the "{{" within the string it came from
    hint: str = ""  # what to write instead, said after where the problem is
    shown: str | None = None  # how to quote the text, when it is not a {{ }} expression


YAQL = "YAQL (<% %>) is not evaluated here: the text would be used as written"


def check_template(value: Any, scope: StaticScope) -> list[TemplateProblem]:
    """Problems of every {{ }} in a str / dict / list; offsets are relative to each string."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in check_template(v, scope)]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in check_template(v, scope)]
    if not isinstance(value, str):
        return []
    statement = _STATEMENT.search(value)
    if statement:  # Jinja would run it; here it was kept as literal text, silently
        return [TemplateProblem(statement.group(), STATEMENTS, statement.start())]
    if "{{" not in value:
        return _yaql(value, 0, scope)
    problems = []
    parts = split_template(value)
    whole = _single(parts)
    for part in parts:
        if part.kind == "text":
            problems += _yaql(part.text, part.offset, scope)
        elif part.kind == "unclosed":
            problems.append(TemplateProblem(part.text, UNCLOSED, part.offset))
        else:
            found = _check_expression(part.text, scope, whole=part is whole)
            problems += [TemplateProblem(part.text, m, part.offset, hint) for m, hint in found]
    return problems


def has_yaql(value: str) -> bool:
    """Does `value` hold Orquesta's `<% %>` outside its {{ }} (reported by check_template)?"""
    parts = split_template(value)
    return any(next(yaql_spans(p.text), None) for p in parts if p.kind == "text")


def _yaql(text: str, offset: int, scope: StaticScope) -> list[TemplateProblem]:
    """Orquesta's `<% %>` in the plain text of a template, with the {{ }} to write instead."""
    problems = []
    for span in yaql_spans(text):
        written = translate(span.inner, _context_name(scope))
        left = [m for m, _ in _check_expression(written, scope)] if written else ["it is empty"]
        hint = (f"write {{{{ {written} }}}}" if not left else
                f"rewrite it as a {{{{ }}}} expression: {{{{ {written} }}}} would still need "
                f"fixing ({left[0]})")
        problems.append(TemplateProblem(
            span.inner, YAQL, offset + span.offset, shown=f'"{span.text}"',
            hint=hint + " (to keep the characters <% %> as text, put them in a {{ }} string, "
                        "e.g. {{ '<%' }})"))
    return problems


def _context_name(scope: StaticScope) -> Callable[[str], str]:
    """What Orquesta's ctx().x is here: a workflow variable by its bare name, an input as
    parameters.x (spec §6)."""
    def name(key: str) -> str:
        inputs = scope.parameters or set()
        return f"parameters.{key}" if key in inputs and key not in scope.variables else key
    return name


def secret_reference(value: Any, scope: StaticScope) -> bool:
    """Is `value` exactly one `{{ }}` that is a secret parameter (or a variable holding one)?"""
    if not isinstance(value, str):
        return False
    part = _single(split_template(value))
    if part is None:
        return False
    try:
        tree = Parser(ENV, part.text, state="variable").parse_expression()
    except Exception:  # noqa: BLE001 - a syntax error is reported by check_template
        return False
    return _secret_name(tree, scope) is not None


def _check_expression(source: str, scope: StaticScope, *,
                      whole: bool = False) -> list[tuple[str, str]]:
    """(message, what to write instead or "") for each problem of one {{ }} expression."""
    try:
        compile_expression(source)  # syntax, and filters/tests Jinja does not know
    except ExpressionError as exc:
        return [(exc.message, "")]
    tree = Parser(ENV, source, state="variable").parse_expression()
    problems: list[str] = []
    foreign: list[str] = []
    _visit(tree, scope, problems, foreign)
    passed_whole = whole and scope.pass_secrets and _secret_name(tree, scope) is not None
    if not passed_whole:
        for node in (tree, *tree.find_all((nodes.Getattr, nodes.Getitem))):
            name = _secret_name(node, scope)
            if name is not None:
                problems.append(f"secret {name} can only be passed whole to a task input "
                                f"(e.g. token: \"{{{{ {name} }}}}\"), not compared, combined or "
                                "used in a condition: its value never reaches the workflow")
    hints = dict.fromkeys(problems, "")
    if foreign:  # Orquesta's functions: say what they are here, and the rewrite when it checks
        written = translate(source, _context_name(scope), yaql=False)
        clean = written != source and not _check_expression(written, scope, whole=whole)
        for name in foreign:
            hints[f"unknown function '{name}'"] = (FOREIGN_FUNCTIONS[name]
                                                   + (f": write {{{{ {written} }}}}" if clean else ""))
    return list(hints.items())  # once each, in order


def _secret_name(node: nodes.Node, scope: StaticScope) -> str | None:
    """'parameters.x' when `node` reads a secret parameter (or a variable holding one)."""
    if not isinstance(node, (nodes.Getattr, nodes.Getitem)) or not isinstance(node.node, nodes.Name):
        return None
    namespace, key = node.node.name, _static_key(node)
    if namespace == "parameters" and key in scope.secret_parameters:
        return f"parameters.{key}"
    if namespace in VARIABLE_NAMESPACES and key in scope.secret_variables:
        return f"{namespace}.{key}"
    return None


def _visit(node: nodes.Node, scope: StaticScope, problems: list[str], foreign: list[str]) -> None:
    if isinstance(node, nodes.Call):
        if isinstance(node.node, nodes.Name):
            if node.node.name not in FUNCTION_NAMES:
                problems.append(f"unknown function '{node.node.name}'")
                if node.node.name in FOREIGN_FUNCTIONS:
                    foreign.append(node.node.name)
                if node.node.name in NAME_ARGUMENTS:  # ctx(host): `host` names, it is no variable
                    return
            elif node.node.name in STATUS_FUNCTIONS and not scope.allow_status:
                problems.append(f"{node.node.name}() is only available where a task has just ended: "
                                "a transition's `when` or `publish`, or `retry.on_error`")
            else:
                _check_arguments(node, node.node.name, FUNCTIONS.get(node.node.name, _NO_ARGUMENTS),
                                 problems, given_first=False)
            children = [c for c in node.iter_child_nodes() if c is not node.node]
        else:
            problems.append("only named functions can be called, e.g. lower(x) rather than x.lower()")
            children = list(node.iter_child_nodes())
        for child in children:
            _visit(child, scope, problems, foreign)
        return
    if isinstance(node, nodes.Filter) and node.name in FILTERS:
        _check_arguments(node, node.name, FILTERS[node.name], problems, given_first=True)
    if isinstance(node, (nodes.Getattr, nodes.Getitem)) and isinstance(node.node, nodes.Name):
        _check_member(node.node.name, _static_key(node), scope, problems)
    if isinstance(node, nodes.Name) and node.ctx == "load":
        _check_name(node.name, scope, problems)
    for child in node.iter_child_nodes():
        _visit(child, scope, problems, foreign)


def _no_arguments() -> None:
    """result(), succeeded(), now(), uuid(), ...: the host's functions take no arguments."""


_NO_ARGUMENTS = _no_arguments
# What Jinja passes a filter before its input (pass_environment / pass_context / ...): seen in the
# signature itself, as a wrapped filter's `jinja_pass_arg` may be the wrapper's, not the function's.
_JINJA_PASSED = frozenset({"environment", "env", "context", "eval_ctx"})


def _check_arguments(node: nodes.Call | nodes.Filter, name: str, fn: Any, problems: list[str],
                     *, given_first: bool) -> None:
    """A call's arguments against the function's (or filter's) signature, when they can be
    counted here (no *args / **kwargs): `length(a, b)` is a load error, not a failed run."""
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without one: checked when it runs
        return
    first = next(iter(signature.parameters), "")
    leading = (1 if first in _JINJA_PASSED else 0) + (1 if given_first else 0)
    try:
        signature.bind(*range(leading + len(node.args)), **{str(kw.key): None for kw in node.kwargs})
    except TypeError as exc:
        shown = f"{name}()" if not given_first else f"filter '{name}'"
        problems.append(f"{shown}: {_arity_words(str(exc), leading)}")


def _arity_words(reason: str, leading: int) -> str:
    """Python's wording, counted as the template writes the call (a filter's input and Jinja's
    environment are not arguments there)."""
    def less(match: re.Match[str]) -> str:
        return str(max(int(match.group(0)) - leading, 0))
    if "positional argument" in reason:
        reason = re.sub(r"\d+", less, reason)
    return reason.replace("positional argument", "argument")


def _static_key(node: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None  # computed key: known only at run time


def _check_member(namespace: str, key: str | None, scope: StaticScope, problems: list[str]) -> None:
    if key is None:
        return
    if namespace in TASK_NAMESPACES and key not in scope.tasks:
        problems.append(f"unknown task '{key}'")
    elif namespace in VARIABLE_NAMESPACES and key not in scope.variables:
        problems.append(f"unknown workflow variable '{key}'")
    elif namespace == "parameters" and scope.parameters is not None and key not in scope.parameters:
        problems.append(f"unknown parameter '{key}'")
    elif namespace == "inquiry" and key not in scope.tasks:
        problems.append(f"unknown task '{key}'")
    elif namespace == "inquiry" and key not in scope.inquiry_tasks:
        problems.append(f"task '{key}' has no `wait_for: {{inquiry: ...}}`, so inquiry.{key} "
                        "is never set")


def _check_name(name: str, scope: StaticScope, problems: list[str]) -> None:
    if name in ("item", "index"):
        if not scope.allow_item:
            problems.append(f"'{name}' is only defined in the input of a with_items task")
    elif name not in NAMESPACES and name not in scope.variables:
        if name in FUNCTION_NAMES:
            problems.append(f"'{name}' is a function: call it as {name}(...)")
        else:
            problems.append(f"unknown name '{name}': not a namespace, function or workflow variable")
