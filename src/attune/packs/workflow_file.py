"""A workflow file (spec §2) -> WorkflowDefinition, with every problem at file:line:column.

Order: strict key/type checks on the raw YAML, legacy forms rewritten into `next`
(workflows/normalize.py), the model built from the fields that passed, then the semantic checks
(workflows/validate.py). Fields that fail a check are left out rather than stopping the load, so
one run reports as many problems as possible without knock-on noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from attune.packs.models import ParameterSpec
from attune.packs.problems import Reporter, type_name
from attune.packs.schema import ACTION_REF, UNSUPPORTED, check_tags
from attune.workflows import orquesta
from attune.workflows.definition import WorkflowDefinition
from attune.workflows.normalize import LEGACY_KEYS, normalize_task
from attune.workflows.validate import Finding, Path, did_you_mean, validate_workflow

WORKFLOW_KEYS = {"version", "description", "vars", "tasks", "output_map", "cancellation_policy",
                 "max_iterations", "tags"}
# Only a standalone file (no action YAML) owns these; see loader.py for companion files.
# `name` is the older spelling of the ref's last part; output_schema/out_schema of `output`;
# `metadata` is free-form documentation (Attune's own standalone files carry it).
STANDALONE_KEYS = {"ref", "label", "parameters", "output", "name", "output_schema", "out_schema",
                   "metadata"}
TASK_KEYS = {"name", "action", "input", "next", "join", "with_items", "batch_size", "concurrency",
             "retry", "timeout", "delay", "type", "publish", "decision", "tasks",
             "permission_set_refs", "permission_set_ref", "wait_for", "worker_selector",
             "worker_tolerations", "worker_affinity", "trace_tag_template"} | {k for k, _ in LEGACY_KEYS}
# What a `type: parallel` sub-task may carry: it is one action run of the parallel task.
SUB_TASK_KEYS = {"name", "action", "input", "retry", "timeout", "type"}
TASK_TYPES = ("action", "workflow", "parallel")
RETRY_KEYS = {"count", "delay", "backoff", "max_delay", "on_error"}
BACKOFFS = ("constant", "linear", "exponential")
POLICIES = ("allow_finish", "cancel_running")


def build_definition(rep: Reporter, data: Any) -> tuple[WorkflowDefinition | None, set[Path]]:
    """The definition (None when it can't be built) and the paths of generated templates."""
    if not isinstance(data, dict):
        rep.at((), "a workflow file must be a mapping with version and tasks")
        return None, set()
    rep.check_keys(data, (), WORKFLOW_KEYS | STANDALONE_KEYS, "workflow",
                   foreign=orquesta.workflow_key_hints(data))
    fields: dict[str, Any] = {}
    version = data.get("version")
    if version is None:
        rep.at(() if "version" not in data else ("version",), "missing required key 'version'")
    elif rep.expect(data, (), "version", str, "a string (quote it)"):
        fields["version"] = version
    for key, types, what in (("description", str, "a string"), ("output_map", dict, "a mapping")):
        if rep.expect(data, (), key, types, what) and data.get(key) is not None:
            fields[key] = data[key]
    variables = _vars(rep, data.get("vars"))
    if variables is not None:
        fields["vars"] = variables
    if data.get("cancellation_policy") is not None:
        if data["cancellation_policy"] in POLICIES:
            fields["cancellation_policy"] = data["cancellation_policy"]
        else:
            rep.at(("cancellation_policy",), f"'cancellation_policy' must be one of "
                   f"{', '.join(POLICIES)}")
    if _positive(rep, data, (), "max_iterations"):
        fields["max_iterations"] = data["max_iterations"]
    if check_tags(rep, data, ()):
        fields["tags"] = data.get("tags") or []
    tasks = data.get("tasks")
    synthetic: set[Path] = set()
    if not isinstance(tasks, list) or not tasks:
        by_name = isinstance(tasks, dict)  # StackStorm Orquesta writes tasks as a map by name
        rep.at(("tasks",) if "tasks" in data else (), "'tasks' must be a list of at least one task"
               + (" (this is Orquesta's form, a map by task name: write a list of tasks, each with "
                  "its `name`)" if by_name else ""))
        return None, synthetic
    fields["tasks"] = [_task(rep, task, ("tasks", i), synthetic) for i, task in enumerate(tasks)]
    # Without a (valid) version the file is already refused; the rest is still checked, so its
    # other problems show in the same report.
    fields.setdefault("version", "")
    try:
        return WorkflowDefinition.model_validate(fields), synthetic
    except ValidationError as exc:  # a gap in the checks above; still say where
        for error in exc.errors():
            rep.at(tuple(error["loc"]), error["msg"])
        return None, synthetic


def report(rep: Reporter, findings: list[Finding]) -> None:
    for finding in findings:
        rep.at(finding.path, finding.message, key=finding.key, offset=finding.offset)


def check_definition(rep: Reporter, definition: WorkflowDefinition, synthetic: set[Path],
                     parameters: Mapping[str, ParameterSpec] | set[str] | None) -> None:
    """`parameters`: the owning action's schema (names only when that is all there is)."""
    secrets = ({n for n, p in parameters.items() if p.secret} if isinstance(parameters, Mapping)
               else set())
    names = set(parameters) if parameters is not None else None
    report(rep, validate_workflow(definition, parameters=names, secrets=secrets,
                                  skip_templates=synthetic))


def _vars(rep: Reporter, value: Any) -> dict[str, Any] | None:
    """`vars`: a mapping, or (older standalone files) a list of one-key maps."""
    if value is None or isinstance(value, dict):
        return value
    if not isinstance(value, list):
        rep.at(("vars",), f"'vars' must be a mapping (or a list of one-key maps), got {type_name(value)}")
        return None
    variables: dict[str, Any] = {}
    for i, item in enumerate(value):
        if not isinstance(item, dict) or len(item) != 1:
            rep.at(("vars", i), "each item of a `vars` list must be a one-key map (name: value)")
            continue
        (name, initial), = item.items()
        if name in variables:
            rep.at(("vars", i, name), f"variable '{name}' is already set above", key=True)
            continue
        variables[name] = initial
        rep.marks.aliases[("vars", name)] = ("vars", i, name)
    return variables


def _task(rep: Reporter, task: Any, at: Path, synthetic: set[Path]) -> dict[str, Any]:
    """Fields of one TaskSpec; bad fields are reported and left out."""
    if not isinstance(task, dict):
        rep.at(at, "a task must be a mapping with name and action")
        return {"name": f"#{at[-1]}", "action": "?"}
    name = task.get("name")
    where = f"task '{name}'" if isinstance(name, str) else f"task #{at[-1] + 1}"
    rep.check_keys(task, at, TASK_KEYS, where, UNSUPPORTED, foreign=orquesta.task_key_hints(task))
    kind = _task_type(rep, task, at)
    # Placeholders keep a bad task in the graph without knock-on problems ("?" is never looked up).
    fields: dict[str, Any] = {"name": f"#{at[-1]}", "action": "?"}
    _name_and_action(rep, task, at, where, fields, needs_action=kind != "parallel")
    if kind == "parallel":
        fields["action"] = None
        fields["parallel"] = _sub_tasks(rep, task, at, where)
        for key in sorted(PARALLEL_ONLY_ON_SUBS & set(task)):
            why = ("goes on each sub-task" if key in SUB_TASK_KEYS else
                   "does not apply: a parallel task runs each sub-task once")
            rep.at(at + (key,), f"`{key}` on a parallel task {why}", key=True)
        task = {k: v for k, v in task.items() if k not in PARALLEL_ONLY_ON_SUBS}
    elif task.get("tasks") is not None:
        rep.at(at + ("tasks",), "sub-`tasks` belong to a `type: parallel` task", key=True)
    _scalars(rep, task, at, fields)
    for key in ("batch_size", "concurrency"):
        if _positive(rep, task, at, key):
            fields[key] = task[key]
    join = task.get("join")
    if join is not None:
        if join == "all" or (isinstance(join, int) and not isinstance(join, bool) and join >= 1):
            fields["join"] = join
        else:
            rep.at(at + ("join",), f"'join' must be an integer >= 1 or \"all\", got {join!r}{_not_expression(join)}")
    retry = _retry(rep, task.get("retry"), at + ("retry",))
    if retry is not None:
        fields["retry"] = retry
    _run_control(rep, task, at, fields)
    normalized = normalize_task(task, at)
    report(rep, normalized.findings)  # these name paths in the file: report before aliasing
    rep.marks.aliases.update(normalized.aliases)
    synthetic.update(normalized.synthetic)
    fields["next"] = normalized.next
    return fields


def _task_type(rep: Reporter, task: dict[str, Any], at: Path) -> str:
    kind = task.get("type", "action")
    if kind not in TASK_TYPES:
        rep.at(at + ("type",), f"'type' must be one of {', '.join(TASK_TYPES)}, got {kind!r} "
               "(a nested workflow needs no type)")
        return "action"
    return kind


def _name_and_action(rep: Reporter, task: dict[str, Any], at: Path, where: str,
                     fields: dict[str, Any], *, needs_action: bool) -> None:
    for key in ("name", "action"):
        if key == "action" and not needs_action:
            if task.get("action") is not None:
                rep.at(at + ("action",), "a `type: parallel` task runs its sub-`tasks`, not an "
                       "`action` of its own", key=True)
        elif task.get(key) is None:
            rep.at(at, f"{where} needs `{key}`")
        elif not isinstance(task[key], str) or not task[key]:
            rep.at(at + (key,), f"'{key}' must be a non-empty string")
        elif key == "action" and not ACTION_REF.fullmatch(task[key]):
            rep.at(at + (key,), f"'action' must be an action ref '<pack>.<name>', got {task[key]!r}"
                   + orquesta.inline_input_hint(task[key]))
        else:
            fields[key] = task[key]


def _scalars(rep: Reporter, task: dict[str, Any], at: Path, fields: dict[str, Any]) -> None:
    """input, with_items, timeout (seconds > 0, fractions allowed) and delay."""
    for key, types, what in (("input", dict, "a mapping"), ("with_items", str, "a {{ }} template string"),
                             ("timeout", (int, float, str), "a number of seconds or a {{ }} template"),
                             ("delay", (int, str), "an integer or a {{ }} template")):
        if rep.expect(task, at, key, types, what) and task.get(key) is not None:
            fields[key] = task[key]


def _sub_tasks(rep: Reporter, task: dict[str, Any], at: Path, where: str) -> list[dict[str, Any]]:
    """The sub-tasks of a legacy `type: parallel` task: each runs one action, all at once."""
    subs = task.get("tasks")
    if not isinstance(subs, list) or not subs:
        rep.at(at + ("tasks",) if "tasks" in task else at,
               f"{where} is `type: parallel`: it needs `tasks`, a list of at least one sub-task")
        return []
    out = []
    for i, sub in enumerate(subs):
        sub_at = at + ("tasks", i)
        if not isinstance(sub, dict):
            rep.at(sub_at, "a sub-task must be a mapping with name and action")
            continue
        sub_where = f"sub-task '{sub.get('name')}' of {where}"
        for key in sub:
            if key not in SUB_TASK_KEYS and key != "__chart_meta__":
                hint = (" (transitions go on the parallel task itself)"
                        if key in TRANSITION_LIKE else did_you_mean(key, SUB_TASK_KEYS))
                rep.at(sub_at + (key,), f"`{key}` is not allowed in {sub_where}{hint}", key=True)
        if sub.get("type", "action") != "action":
            rep.at(sub_at + ("type",), "a sub-task of a parallel task runs one action: 'type' "
                   "must be action")
        fields: dict[str, Any] = {"name": f"#{i}", "action": "?"}
        _name_and_action(rep, sub, sub_at, sub_where, fields, needs_action=True)
        _scalars(rep, {k: v for k, v in sub.items() if k in ("input", "timeout")}, sub_at, fields)
        retry = _retry(rep, sub.get("retry"), sub_at + ("retry",))
        if retry is not None:
            fields["retry"] = retry
        out.append(fields)
    return out


PARALLEL_ONLY_ON_SUBS = {"input", "with_items", "batch_size", "concurrency", "retry", "timeout"}
TRANSITION_LIKE = {"next", "decision", "publish", "join", "with_items", "delay"} | {k for k, _ in LEGACY_KEYS}


def _run_control(rep: Reporter, task: dict[str, Any], at: Path, fields: dict[str, Any]) -> None:
    """permission_set_refs, wait_for and worker placement (spec §1, §9): loaded and checked
    here, carried out by the run-control and worker-routing work."""
    if "permission_set_refs" in task and "permission_set_ref" in task:
        rep.at(at + ("permission_set_ref",), "give `permission_set_refs` or its older spelling "
               "`permission_set_ref`, not both", key=True)
    for key in ("permission_set_refs", "permission_set_ref"):
        if key in task:
            refs = _permission_refs(rep, task[key], at + (key,))
            if refs is not _BAD:
                fields["permission_set_refs"] = refs
    wait_for = task.get("wait_for")
    if wait_for is not None:
        if not isinstance(wait_for, dict) or not isinstance(wait_for.get("inquiry"), str):
            rep.at(at + ("wait_for",), "'wait_for' must be a mapping {inquiry: \"{{ task.<name>"
                   ".inquiry_id }}\"}")
        else:
            rep.check_keys(wait_for, at + ("wait_for",), {"inquiry"}, "wait_for")
            fields["wait_for"] = {"inquiry": wait_for["inquiry"]}
    selector = task.get("worker_selector")
    if selector is not None:
        labels_ok = isinstance(selector, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in selector.items())
        if labels_ok or isinstance(selector, str):
            fields["worker_selector"] = selector
        else:
            rep.at(at + ("worker_selector",), "'worker_selector' must be a mapping of label: "
                   "\"text\" (quote values such as \"true\") or a {{ }} template")
    rep.expect(task, at, "worker_tolerations", (list, str), "a list or a {{ }} template")
    rep.expect(task, at, "worker_affinity", (dict, str), "a mapping or a {{ }} template")


_BAD = object()


def _permission_refs(rep: Reporter, value: Any, at: Path) -> Any:
    """None/""/[] -> [] (no token), "ref" -> ["ref"], "{{ ... }}" -> kept, [refs] -> deduped."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        return value if "{{" in value else [value]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(dict.fromkeys(value))
    rep.at(at, f"'{at[-1]}' must be a permission set ref, a list of refs, null or a {{{{ }}}} "
           f"template, got {type_name(value)}")
    return _BAD


def _retry(rep: Reporter, retry: Any, at: Path) -> dict[str, Any] | None:
    if retry is None:
        return None
    if not isinstance(retry, dict):
        rep.at(at, "'retry' must be a mapping {count, delay, backoff, max_delay, on_error}")
        return None
    before = len(rep.problems)
    rep.check_keys(retry, at, RETRY_KEYS, "retry", foreign=orquesta.retry_key_hints(retry))
    if "count" not in retry:
        rep.at(at, "retry needs `count`")
    elif isinstance(retry["count"], bool) or not isinstance(retry["count"], int) or retry["count"] < 0:
        rep.at(at + ("count",), f"retry 'count' must be an integer >= 0{_not_expression(retry['count'])}")
    for key in ("delay", "max_delay"):
        value = retry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value < 0):
            rep.at(at + (key,), f"retry '{key}' must be a number of seconds >= 0{_not_expression(value)}")
    if retry.get("backoff") is not None and retry["backoff"] not in BACKOFFS:
        rep.at(at + ("backoff",), f"retry 'backoff' must be one of {', '.join(BACKOFFS)}, "
               f"got {retry['backoff']!r}")
    rep.expect(retry, at, "on_error", str, "a string")
    if len(rep.problems) > before:
        return None
    return {k: v for k, v in retry.items() if k in RETRY_KEYS}


def _positive(rep: Reporter, data: dict[str, Any], at: Path, key: str) -> bool:
    """True when `key` is present and an integer >= 1; reports a present bad value."""
    value = data.get(key)
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        rep.at(at + (key,), f"'{key}' must be an integer >= 1, got {value!r}{_not_expression(value)}")
        return False
    return True


def _not_expression(value: Any) -> str:
    """Why an expression is refused where Orquesta takes one (`concurrency: <% ctx().n %>`):
    these are read when the workflow loads, before any value is known."""
    if not isinstance(value, str) or not ("<%" in value or "{{" in value):
        return ""
    yaql = " (and YAQL <% %> is not evaluated here)" if "<%" in value else ""
    return f": it is read when the workflow loads, so it takes a number, not an expression{yaql}"
