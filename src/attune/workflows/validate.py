"""Semantic checks of a workflow definition (spec §2, §3, §6).

Structure and types are checked while the YAML is read (packs/workflow_file.py); this module checks
what needs the whole definition: names, transition targets, start tasks, joins, with_items and every
template. It knows nothing about files: each finding names a path into the definition (e.g.
("tasks", 2, "next", 0, "when")), which the caller turns into file:line:column.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from attune.expressions import StaticScope, check_template
from attune.expressions.check import STATEMENTS, has_yaql, secret_reference
from attune.expressions.engine import UNCLOSED
from attune.workflows.definition import (
    RESERVED_TASK_NAMES,
    TaskSpec,
    WorkflowDefinition,
    over_duration_limit,
    task_name_problem,
)
from attune.workflows.graph import TaskGraph

Path = tuple[Any, ...]


@dataclass(frozen=True)
class Finding:
    path: Path
    message: str
    key: bool = False  # report at the mapping key rather than its value
    offset: int | None = None  # character index into a string value


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a near miss such as a key misspelt by a letter, else ''."""
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate_workflow(definition: WorkflowDefinition, *, parameters: set[str] | None = None,
                      secrets: set[str] | frozenset[str] = frozenset(),
                      skip_templates: frozenset[Path] | set[Path] = frozenset()) -> list[Finding]:
    """Every problem in `definition`. `parameters`: the workflow's parameter names (None: don't
    check `parameters.x` references); `secrets`: those that are `secret: true`.
    `skip_templates`: paths of generated templates whose parts are checked where they were
    written (see normalize.py)."""
    findings = [*_names(definition), *_edges(definition), *_run_control(definition)]
    for i, task in enumerate(definition.tasks):
        findings += _task_fields(task, ("tasks", i))
        for j, sub in enumerate(task.parallel or []):
            findings += _task_fields(sub, ("tasks", i, "tasks", j))
    findings += _templates(definition, parameters, set(secrets), skip_templates)
    return findings


def _all_tasks(definition: WorkflowDefinition) -> Iterator[tuple[Path, TaskSpec]]:
    """Every task and parallel sub-task with its path; they share one namespace."""
    for i, task in enumerate(definition.tasks):
        yield ("tasks", i), task
        for j, sub in enumerate(task.parallel or []):
            yield ("tasks", i, "tasks", j), sub


def _names(definition: WorkflowDefinition) -> Iterator[Finding]:
    seen: set[str] = set()
    for at, task in _all_tasks(definition):
        where = at + ("name",)
        problem = task_name_problem(task.name)
        if problem:
            yield Finding(where, problem)
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
                                  f"transition target '{target}' is not a task in this workflow"
                                  + _target_hint(target, names))
    graph = TaskGraph.of(definition)
    starts = graph.start_tasks(definition)
    if not starts:
        yield Finding(("tasks",), _no_start(graph.closed_cycles(definition)), key=True)
        return
    reachable = graph.reachable(starts)
    for i, task in enumerate(definition.tasks):
        if task.name not in reachable:
            yield Finding(("tasks", i, "name"), f"task '{task.name}' can never start: no "
                          "transition from a start task leads to it")
        elif task.join is not None:
            yield from _join(graph, starts, task, ("tasks", i, "join"))


def _no_start(cycles: list[list[str]]) -> str:
    """Which cycles leave a workflow without a start task, and the start task to add."""
    shown = " and ".join(" -> ".join(cycle) for cycle in cycles)
    entries = [cycle[0] for cycle in cycles]
    return ("no start task: every task has a transition into it, and a run starts at the tasks "
            f"that have none; nothing outside the cycle{'s' if len(cycles) > 1 else ''} {shown} "
            f"leads into {'them' if len(cycles) > 1 else 'it'}: add a start task, e.g. "
            f"{{name: start, action: core.noop, next: [{{do: [{', '.join(entries)}]}}]}} "
            "(as the examples pack's loop workflow does)")


def _target_hint(target: str, names: set[str]) -> str:
    """What a migrating author meant by a target that is no task: Orquesta's `do: "b, c"` or an
    expression (targets are names, known when the workflow loads)."""
    if "<%" in target or "{{" in target:
        return ": targets are task names, not expressions (choose between tasks with `when` on each transition)"
    parts = [p.strip() for p in target.split(",")]
    if len(parts) > 1 and all(p in names for p in parts):
        return f": write a list, do: [{', '.join(parts)}]"
    return did_you_mean(target, names)


def _join(graph: TaskGraph, starts: list[str], task: TaskSpec, at: Path) -> Iterator[Finding]:
    """A join must be reachable: it counts only tasks that can fire before it first runs."""
    inbound = graph.inbound.get(task.name, frozenset())
    if not inbound - {task.name}:
        yield Finding(at, f"task '{task.name}' has `join` but no inbound transitions")
        return
    threshold = len(inbound) if task.join == "all" else task.join
    assert isinstance(threshold, int)
    if task.join != "all" and threshold > len(inbound):
        yield Finding(at, f"join {threshold} is more than the {len(inbound)} task(s) with a "
                      f"transition into '{task.name}'")
        return
    before = graph.reachable(starts, without=task.name)
    early = {source for source in inbound if source in before}
    if threshold > len(early):
        late = ", ".join(f"'{s}'" for s in sorted(inbound - early))
        yield Finding(at, f"join {task.join} can never be met: it counts {late}, which can only "
                      f"run after '{task.name}' itself (a loop's back edge); "
                      f"use `join: {len(early)}`")


def _run_control(definition: WorkflowDefinition) -> Iterator[Finding]:
    """wait_for (spec §9) where the run-control work can honour it."""
    graph = TaskGraph.of(definition)
    for i, task in enumerate(definition.tasks):
        at = ("tasks", i, "wait_for")
        if task.wait_for is None:
            continue
        if task.parallel is not None:
            yield Finding(at, f"`wait_for` needs an action task: '{task.name}' is a parallel task",
                          key=True)
        if task.with_items is not None:
            yield Finding(at, "`wait_for` cannot be combined with `with_items`: put the wait on "
                          "a task before the items", key=True)
        if graph.in_cycle(task.name):
            yield Finding(at, f"`wait_for` cannot be used inside a cycle: '{task.name}' can run "
                          "again, and an inquiry is answered once", key=True)


def _condition(text: str | None, at: Path, name: str) -> Iterator[Finding]:
    """A condition is an expression: text without {{ }} is a non-empty string, always true, so
    `when: failed()` would fire on success too (Orquesta's `<% failed() %>`: see check_template)."""
    if text is None or "{{" in text or has_yaql(text):  # YAQL: see check_template
        return
    yield Finding(at, f"'{name}' must be a {{{{ }}}} expression: as plain text it is always "
                      f"true (write {{{{ {text.strip()} }}}})")


def _task_fields(task: TaskSpec, at: Path) -> Iterator[Finding]:
    if task.with_items is not None and "{{" not in task.with_items and not has_yaql(task.with_items):
        yield Finding(at + ("with_items",), "'with_items' must be a {{ }} template")
    for j, transition in enumerate(task.next):
        yield from _condition(transition.when, at + ("next", j, "when"), "when")
    if task.retry is not None:
        yield from _condition(task.retry.on_error, at + ("retry", "on_error"), "retry.on_error")
    if task.with_items is None:
        for key in ("batch_size", "concurrency"):
            if key in task.model_fields_set:
                yield Finding(at + (key,), f"`{key}` needs `with_items`", key=True)
    if isinstance(task.timeout, str) and "{{" not in task.timeout and not has_yaql(task.timeout):
        yield Finding(at + ("timeout",), "'timeout' must be a number of seconds or a {{ }} template")
    elif isinstance(task.timeout, (int, float)) and task.timeout <= 0:
        yield Finding(at + ("timeout",), f"'timeout' must be greater than 0 seconds, got {task.timeout}")
    if isinstance(task.delay, str) and "{{" not in task.delay and not has_yaql(task.delay):
        yield Finding(at + ("delay",), "'delay' must be an integer or a {{ }} template")
    elif isinstance(task.delay, int) and task.delay < 0:
        yield Finding(at + ("delay",), "'delay' must be at least 0")
    yield from _durations(task, at)
    retry = task.retry
    if retry is not None and retry.max_delay is not None and retry.max_delay < retry.delay:
        yield Finding(at + ("retry", "max_delay"), f"retry 'max_delay' ({retry.max_delay:g}) is "
                      f"smaller than 'delay' ({retry.delay:g}): every retry would wait max_delay")


def _durations(task: TaskSpec, at: Path) -> Iterator[Finding]:
    """Every literal duration within MAX_DURATION_SECONDS (a template's value is checked when
    the run renders it: workflows.conductor)."""
    given: list[tuple[Path, str, Any]] = [(("timeout",), "timeout", task.timeout),
                                          (("delay",), "delay", task.delay)]
    if task.retry is not None:
        given += [(("retry", "delay"), "retry.delay", task.retry.delay),
                  (("retry", "max_delay"), "retry.max_delay", task.retry.max_delay)]
    for path, name, value in given:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = over_duration_limit(value, f"task '{task.name}' {name}")
            if problem:
                yield Finding(at + path, problem)


def _templates(definition: WorkflowDefinition, parameters: set[str] | None, secrets: set[str],
               skip: frozenset[Path] | set[Path]) -> list[Finding]:
    names = {task.name for _, task in _all_tasks(definition)}
    waiting = {t.name for t in definition.tasks if t.wait_for is not None}
    published = [(name, value) for t in definition.tasks for tr in t.next for name, value in tr.publish]
    variables = set(definition.vars) | {name for name, _ in published}

    def scope(allow_item: bool = False, pass_secrets: bool = False,
              allow_status: bool = False) -> StaticScope:
        return StaticScope(tasks=names, variables=variables, parameters=parameters,
                           allow_item=allow_item, inquiry_tasks=waiting, secret_parameters=secrets,
                           secret_variables=holders, pass_secrets=pass_secrets,
                           allow_status=allow_status)

    holders: set[str] = set()  # variables holding a secret (set or published from one whole)
    while secrets:
        grown = {name for name, value in [*definition.vars.items(), *published]
                 if name not in holders and secret_reference(value, scope())}
        if not grown:
            break
        holders |= grown
    found: list[Finding] = []

    def check(value: Any, path: Path, in_scope: StaticScope | None = None) -> None:
        for sub_path, text in _strings(value, path):
            if sub_path in skip:
                continue
            for problem in check_template(text, in_scope or scope()):
                # An unclosed one is quoted as written: closing it here showed "{{ x } }}".
                shown = (problem.shown if problem.shown is not None
                         else f'"{{{{ {problem.expression.strip()}"' if problem.message == UNCLOSED
                         else f'"{problem.expression}"' if problem.message == STATEMENTS
                         else f"{{{{ {problem.expression} }}}}")
                # What to write instead comes last, after what and where.
                hint = f": {problem.hint}" if problem.hint else ""
                found.append(Finding(sub_path, f"{problem.message} in {shown} "
                                     f"({_field(definition, sub_path)}){hint}", offset=problem.offset))

    passing = scope(pass_secrets=True)
    check(definition.vars, ("vars",), passing)
    for at, task in _all_tasks(definition):
        check(task.input, at + ("input",), scope(allow_item=task.with_items is not None,
                                                 pass_secrets=True))
        for key in ("with_items", "timeout", "delay", "permission_set_refs", "worker_selector"):
            check(getattr(task, key), at + (key,))
        if task.wait_for is not None:
            check(task.wait_for.inquiry, at + ("wait_for", "inquiry"))
        if task.retry is not None:
            check(task.retry.on_error, at + ("retry", "on_error"), scope(allow_status=True))
        ended = scope(allow_status=True, pass_secrets=True)  # the task has just ended
        for j, transition in enumerate(task.next):
            check(transition.when, at + ("next", j, "when"), scope(allow_status=True))
            for k, (_, value) in enumerate(transition.publish):
                check(value, at + ("next", j, "publish", k, 1), ended)
    check(definition.output_map, ("output_map",), passing)
    return found


def _field(definition: WorkflowDefinition, path: Path) -> str:
    """Which field a template is, as a person finds it: "task 'a' next[0].when", "output_map.x"."""
    at, rest = _task_at(definition, path)
    if at is not None and len(rest) >= 5 and rest[0] == "next" and rest[2] == "publish":
        name = at.next[rest[1]].publish[rest[3]][0]  # publish is kept as (name, value) pairs
        rest = (*rest[:3], name, *rest[5:])
    tail = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    return f"task '{at.name}' {tail}" if at is not None else tail


def _task_at(definition: WorkflowDefinition, path: Path) -> tuple[TaskSpec | None, Path]:
    found: tuple[TaskSpec | None, Path] = (None, path)
    for at, task in _all_tasks(definition):
        if path[:len(at)] == at:
            found = (task, path[len(at):])  # the deepest: a parallel sub-task over its task
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
