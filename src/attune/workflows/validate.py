"""Semantic checks of a workflow definition (spec §2, §3, §6).

Structure and types are checked while the YAML is read (packs/workflow_file.py); this module checks
what needs the whole definition: names, transition targets, start tasks, joins, with_items and every
template. It knows nothing about files: each finding names a path into the definition (e.g.
("tasks", 2, "next", 0, "when")), which the caller turns into file:line:column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from attune.expressions import StaticScope, check_template
from attune.workflows.definition import RESERVED_TASK_NAMES, TaskSpec, WorkflowDefinition
from attune.workflows.graph import TaskGraph

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Finding:
    path: Path
    message: str
    key: bool = False  # report at the mapping key rather than its value
    offset: int | None = None  # character index into a string value


def validate_workflow(definition: WorkflowDefinition, *, parameters: set[str] | None = None,
                      skip_templates: frozenset[Path] | set[Path] = frozenset()) -> list[Finding]:
    """Every problem in `definition`. `parameters`: the workflow's parameter names (None: don't
    check `parameters.x` references). `skip_templates`: paths of generated templates whose parts
    are checked where they were written (see normalize.py)."""
    findings = [*_names(definition), *_edges(definition)]
    for i, task in enumerate(definition.tasks):
        findings += _task_fields(task, ("tasks", i))
    findings += _templates(definition, parameters, skip_templates)
    return findings


def _names(definition: WorkflowDefinition) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, task in enumerate(definition.tasks):
        where = ("tasks", i, "name")
        if task.name in RESERVED_TASK_NAMES:
            yield Finding(where, f"task name '{task.name}' is reserved "
                          f"({', '.join(sorted(RESERVED_TASK_NAMES))})")
        if task.name in seen:
            yield Finding(where, f"duplicate task name '{task.name}'")
        seen.add(task.name)


def _edges(definition: WorkflowDefinition) -> Iterator[Finding]:
    names = {t.name for t in definition.tasks}
    for i, task in enumerate(definition.tasks):
        for j, transition in enumerate(task.next):
            for k, target in enumerate(transition.do):
                if target not in names:
                    yield Finding(("tasks", i, "next", j, "do", k),
                                  f"transition target '{target}' is not a task in this workflow")
    graph = TaskGraph.of(definition)
    if not graph.start_tasks(definition):
        yield Finding(("tasks",), "no start task: every task is inside a cycle", key=True)
    for i, task in enumerate(definition.tasks):
        inbound = len(graph.inbound.get(task.name, ()))
        if task.join is None:
            continue
        if inbound == 0:
            yield Finding(("tasks", i, "join"), f"task '{task.name}' has `join` but no inbound "
                          "transitions")
        elif task.join != "all" and task.join > inbound:
            yield Finding(("tasks", i, "join"), f"join {task.join} is more than the {inbound} "
                          f"task(s) with a transition into '{task.name}'")


def _task_fields(task: TaskSpec, at: Path) -> Iterator[Finding]:
    if task.with_items is not None and "{{" not in task.with_items:
        yield Finding(at + ("with_items",), "'with_items' must be a {{ }} template")
    if task.with_items is None:
        for key in ("batch_size", "concurrency"):
            if key in task.model_fields_set:
                yield Finding(at + (key,), f"`{key}` needs `with_items`", key=True)
    for key, minimum in (("timeout", 1), ("delay", 0)):
        value = getattr(task, key)
        if isinstance(value, str) and "{{" not in value:
            yield Finding(at + (key,), f"'{key}' must be an integer or a {{{{ }}}} template")
        elif isinstance(value, int) and value < minimum:
            yield Finding(at + (key,), f"'{key}' must be at least {minimum}")


def _templates(definition: WorkflowDefinition, parameters: set[str] | None,
               skip: frozenset[Path] | set[Path]) -> list[Finding]:
    published = {name for t in definition.tasks for tr in t.next for name, _ in tr.publish}
    names = {t.name for t in definition.tasks}

    def scope(allow_item: bool = False) -> StaticScope:
        return StaticScope(tasks=names, variables=set(definition.vars) | published,
                           parameters=parameters, allow_item=allow_item)

    plain = scope()
    found: list[Finding] = []

    def check(value: Any, path: Path, in_scope: StaticScope = plain) -> None:
        for sub_path, text in _strings(value, path):
            if sub_path in skip:
                continue
            for problem in check_template(text, in_scope):
                found.append(Finding(sub_path, f"{problem.message} in {{{{ {problem.expression} }}}}",
                                     offset=problem.offset))

    check(definition.vars, ("vars",))
    for i, task in enumerate(definition.tasks):
        at = ("tasks", i)
        check(task.input, at + ("input",), scope(allow_item=task.with_items is not None))
        for key in ("with_items", "timeout", "delay"):
            check(getattr(task, key), at + (key,))
        if task.retry is not None:
            check(task.retry.on_error, at + ("retry", "on_error"))
        for j, transition in enumerate(task.next):
            check(transition.when, at + ("next", j, "when"))
            for k, (_, value) in enumerate(transition.publish):
                check(value, at + ("next", j, "publish", k, 1))
    check(definition.output_map, ("output_map",))
    return found


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))
