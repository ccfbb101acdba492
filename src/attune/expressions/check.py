"""Load-time checks of templates (spec §6: errors are reported when the workflow is loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.parser import Parser

from .engine import ENV, UNCLOSED, ExpressionError, compile_expression, split_template
from .functions import FUNCTION_NAMES

TASK_NAMESPACES = frozenset({"task", "tasks"})
VARIABLE_NAMESPACES = frozenset({"workflow", "vars", "variables"})
NAMESPACES = TASK_NAMESPACES | VARIABLE_NAMESPACES | {"parameters", "config", "system", "item", "index"}
NAMESPACES |= {"null"}  # a name in Jinja; this language's null literal


@dataclass
class StaticScope:
    tasks: set[str]
    variables: set[str]  # vars keys + every name published anywhere in the workflow
    parameters: set[str] | None = None  # None: schema unknown, parameters.X is not checked
    allow_item: bool = False


@dataclass
class TemplateProblem:
    expression: str
    message: str
    offset: int = 0  # of the "{{" within the string it came from


def check_template(value: Any, scope: StaticScope) -> list[TemplateProblem]:
    """Problems of every {{ }} in a str / dict / list; offsets are relative to each string."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in check_template(v, scope)]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in check_template(v, scope)]
    if not isinstance(value, str) or "{{" not in value:
        return []
    problems = []
    for part in split_template(value):
        if part.kind == "unclosed":
            problems.append(TemplateProblem(part.text, UNCLOSED, part.offset))
        elif part.kind == "expr":
            messages = _check_expression(part.text, scope)
            problems += [TemplateProblem(part.text, m, part.offset) for m in messages]
    return problems


def _check_expression(source: str, scope: StaticScope) -> list[str]:
    try:
        compile_expression(source)  # syntax, and filters/tests Jinja does not know
    except ExpressionError as exc:
        return [exc.message]
    tree = Parser(ENV, source, state="variable").parse_expression()
    problems: list[str] = []
    _visit(tree, scope, problems)
    return list(dict.fromkeys(problems))  # once each, in order


def _visit(node: nodes.Node, scope: StaticScope, problems: list[str]) -> None:
    if isinstance(node, nodes.Call):
        if isinstance(node.node, nodes.Name):
            if node.node.name not in FUNCTION_NAMES:
                problems.append(f"unknown function '{node.node.name}'")
            children = [c for c in node.iter_child_nodes() if c is not node.node]
        else:
            problems.append("only named functions can be called, e.g. lower(x) rather than x.lower()")
            children = list(node.iter_child_nodes())
        for child in children:
            _visit(child, scope, problems)
        return
    if isinstance(node, (nodes.Getattr, nodes.Getitem)) and isinstance(node.node, nodes.Name):
        _check_member(node.node.name, _static_key(node), scope, problems)
    if isinstance(node, nodes.Name) and node.ctx == "load":
        _check_name(node.name, scope, problems)
    for child in node.iter_child_nodes():
        _visit(child, scope, problems)


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


def _check_name(name: str, scope: StaticScope, problems: list[str]) -> None:
    if name in ("item", "index"):
        if not scope.allow_item:
            problems.append(f"'{name}' is only defined in the input of a with_items task")
    elif name not in NAMESPACES and name not in scope.variables:
        if name in FUNCTION_NAMES:
            problems.append(f"'{name}' is a function: call it as {name}(...)")
        else:
            problems.append(f"unknown name '{name}': not a namespace, function or workflow variable")
