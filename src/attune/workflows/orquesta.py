"""StackStorm Orquesta's (and Mistral's) workflow keys, and what to write instead here (spec §2).

A workflow converted from StackStorm keeps its spellings: `on-error`, `with: {items}`, a task-level
`do`, workflow `input`, `retry: {when}`, `action: pack.x key=value`. They stay load errors (spec
§1: a key found in no Attune file is an error); these hints say what to write, so the error is
also the translation. Expressions (`<% %>`, ctx()) are in expressions/orquesta.py.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from attune.expressions.orquesta import translate, yaql_spans

_FAILED = "next: [{when: \"{{ failed() }}\", do: [<task>]}]"
# Task keys -> what to write here (the `with` key is built from its value: see task_key_hints).
TASK_KEYS = {
    "on-error": f"this is `on_failure: <task>` here, or {_FAILED}",
    "on_error": f"on a task this is `on_failure: <task>` here, or {_FAILED} (`on_error` belongs "
                "to `retry`: whether a failure is retried)",
    "on-success": "it is spelt `on_success` here, or next: [{when: \"{{ succeeded() }}\", do: [...]}]",
    "on-failure": "it is spelt `on_failure` here",
    "on-complete": "it is spelt `on_complete` here, or a transition without `when`: next: [{do: [...]}]",
    "do": "a task's targets go inside a transition: put it under next: [{do: [...]}] (with a `when` "
          "for a condition)",
    "wait-before": "it is `delay: <seconds>` here",
}


def task_key_hints(task: dict[str, Any]) -> dict[str, str]:
    """The hints for one task's keys, `with` translated from its value."""
    hints = dict(TASK_KEYS)
    for key in ("on-error", "on_error"):  # name the task it leads to when it is plain
        target = task.get(key)
        if key in task and (isinstance(target, str) or isinstance(target, list) and all(
                isinstance(t, str) for t in target)):
            shown = target if isinstance(target, str) else _yaml(target)
            hints[key] = hints[key].replace("[<task>]", _yaml(target) if isinstance(target, list)
                                            else f"[{target}]").replace("<task>", shown)
    if "with" in task:
        hints["with"] = _with_hint(task["with"])
    return hints


def retry_key_hints(retry: dict[str, Any]) -> dict[str, str]:
    """Orquesta's `retry: {when: <% failed() %>, count: 3}`: `when` is `on_error` here."""
    when = retry.get("when")
    yaql = next(yaql_spans(when), None) if isinstance(when, str) else None
    inner = (yaql.inner if yaql else str(when).strip().removeprefix("{{").removesuffix("}}").strip()
             if isinstance(when, str) else "failed()")
    written = translate(inner, yaql=yaql is not None) or "failed()"
    return {"when": f"Orquesta's retry `when` is `on_error` here, an expression that sees result(): "
                    f"on_error: \"{{{{ {written} }}}}\" (`count` and `delay` are the same)"}


def workflow_key_hints(data: dict[str, Any]) -> dict[str, str]:
    """Orquesta's workflow `input: [version, {hosts: [a]}]`: the `parameters` to declare."""
    if "input" not in data:
        return {}
    names = data["input"] if isinstance(data["input"], list) else []
    shown = []
    for entry in names[:3]:
        if isinstance(entry, str):
            shown.append(f"{entry}: {{type: string, required: true}}")
        elif isinstance(entry, dict) and len(entry) == 1:
            (name, default), = entry.items()
            shown.append(f"{name}: {{type: {_type_of(default)}, default: {_yaml(default)}}}")
    example = f", e.g. parameters: {{{', '.join(shown)}}}" if shown else ""
    return {"input": "Orquesta's workflow `input` is declared as `parameters` in the workflow's "
                     f"action YAML{example} (a standalone workflow file, one that no action YAML "
                     "points at, carries `parameters` itself); expressions read them as "
                     "parameters.<name>"}


def inline_input_hint(action: str) -> str:
    """`pack.action key=value ...` (StackStorm's inline parameters) -> the `input` to write."""
    ref, _, rest = action.strip().partition(" ")
    try:
        words = shlex.split(rest)
    except ValueError:
        words = []
    pairs = [w.split("=", 1) for w in words if "=" in w]
    if not pairs:
        return ""
    given = ", ".join(f"{k}: {_yaml(v)}" for k, v in pairs)
    return f" (parameters go under `input:` here: action: {ref} and input: {{{given}}})"


def _with_hint(value: Any) -> str:
    """Orquesta's `with: {items: host in <% ctx(hosts) %>, concurrency: 2}` (or a string)."""
    items = value.get("items") if isinstance(value, dict) else value
    concurrency = value.get("concurrency") if isinstance(value, dict) else None
    written = "..."
    named = ""
    if isinstance(items, str):
        match = re.fullmatch(r"\s*(?:([\w\s,]+?)\s+in\s+)?(.*?)\s*", items, re.S)
        names, source = (match.group(1), match.group(2)) if match else (None, items)
        yaql = next(yaql_spans(source), None)
        inner = (yaql.inner if yaql else
                 source.strip().removeprefix("{{").removesuffix("}}").strip())
        written = translate(inner, yaql=yaql is not None) or "..."
        if names:
            named = f"; each item is `item` in the task's input (not `{names.strip()}`)"
    extra = f" and `concurrency: {concurrency}`" if concurrency is not None else ""
    return (f"Orquesta's `with` is written `with_items: \"{{{{ {written} }}}}\"`{extra} on the task "
            f"here (a workflow input is parameters.<name>){named}")


def _type_of(value: Any) -> str:
    kinds = {bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
    return kinds.get(type(value), "string")


def _yaml(value: Any) -> str:
    """A short flow-style YAML rendering of a default or an inline value."""
    if isinstance(value, str):
        return f'"{value}"' if not re.fullmatch(r"[\w./-]+", value) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)
