"""A workflow file (spec §2) -> WorkflowDefinition, with every problem at file:line:column.

Order: strict key/type checks on the raw YAML, legacy forms rewritten into `next`
(workflows/normalize.py), the model built from the fields that passed, then the semantic checks
(workflows/validate.py). Fields that fail a check are left out rather than stopping the load, so
one run reports as many problems as possible without knock-on noise.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from attune.packs.problems import Reporter
from attune.packs.schema import ACTION_REF, UNSUPPORTED, check_tags
from attune.workflows.definition import WorkflowDefinition
from attune.workflows.normalize import LEGACY_KEYS, normalize_task
from attune.workflows.validate import Finding, Path, validate_workflow

WORKFLOW_KEYS = {"version", "description", "vars", "tasks", "output_map", "cancellation_policy",
                 "max_iterations", "tags"}
# Only a standalone file (no action YAML) owns these; see loader.py for companion files.
STANDALONE_KEYS = {"ref", "label", "parameters", "output"}
TASK_KEYS = {"name", "action", "input", "next", "join", "with_items", "batch_size", "concurrency",
             "retry", "timeout", "delay", "type", "publish", "decision"} | {k for k, _ in LEGACY_KEYS}
# `tasks` inside a task is the original's `type: parallel` sub-task list.
TASK_UNSUPPORTED = UNSUPPORTED | {"tasks"}
RETRY_KEYS = {"count", "delay", "backoff", "max_delay", "on_error"}
BACKOFFS = ("constant", "linear", "exponential")
POLICIES = ("allow_finish", "cancel_running")


def build_definition(rep: Reporter, data: Any) -> tuple[WorkflowDefinition | None, set[Path]]:
    """The definition (None when it can't be built) and the paths of generated templates."""
    if not isinstance(data, dict):
        rep.at((), "a workflow file must be a mapping with version and tasks")
        return None, set()
    rep.check_keys(data, (), WORKFLOW_KEYS | STANDALONE_KEYS, "workflow")
    fields: dict[str, Any] = {}
    version = data.get("version")
    if version is None:
        rep.at(() if "version" not in data else ("version",), "missing required key 'version'")
    elif rep.expect(data, (), "version", str, "a string (quote it)"):
        fields["version"] = version
    for key, types, what in (("description", str, "a string"), ("vars", dict, "a mapping"),
                             ("output_map", dict, "a mapping")):
        if rep.expect(data, (), key, types, what) and data.get(key) is not None:
            fields[key] = data[key]
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
        rep.at(("tasks",) if "tasks" in data else (), "'tasks' must be a list of at least one task")
        return None, synthetic
    fields["tasks"] = [_task(rep, task, ("tasks", i), synthetic) for i, task in enumerate(tasks)]
    if "version" not in fields:
        return None, synthetic
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
                     parameters: set[str] | None) -> None:
    report(rep, validate_workflow(definition, parameters=parameters, skip_templates=synthetic))


def _task(rep: Reporter, task: Any, at: Path, synthetic: set[Path]) -> dict[str, Any]:
    """Fields of one TaskSpec; bad fields are reported and left out."""
    if not isinstance(task, dict):
        rep.at(at, "a task must be a mapping with name and action")
        return {"name": f"#{at[-1]}", "action": "?"}
    name = task.get("name")
    where = f"task '{name}'" if isinstance(name, str) else f"task #{at[-1] + 1}"
    rep.check_keys(task, at, TASK_KEYS, where, TASK_UNSUPPORTED)
    # Placeholders keep a bad task in the graph without knock-on problems ("?" is never looked up).
    fields: dict[str, Any] = {"name": f"#{at[-1]}", "action": "?"}
    for key in ("name", "action"):
        if task.get(key) is None:
            rep.at(at, f"{where} needs `{key}`")
        elif not isinstance(task[key], str) or not task[key]:
            rep.at(at + (key,), f"'{key}' must be a non-empty string")
        elif key == "action" and not ACTION_REF.match(task[key]):
            rep.at(at + (key,), f"'action' must be an action ref '<pack>.<name>', got {task[key]!r}")
        else:
            fields[key] = task[key]
    if task.get("type") == "parallel":
        rep.at(at + ("type",), "`type: parallel` is not supported")
    elif task.get("type") not in (None, "action", "workflow"):
        rep.at(at + ("type",), "'type' must be action or workflow (nested workflows need no type)")
    for key, types, what in (("input", dict, "a mapping"), ("with_items", str, "a {{ }} template string"),
                             ("timeout", (int, str), "an integer or a {{ }} template"),
                             ("delay", (int, str), "an integer or a {{ }} template")):
        if rep.expect(task, at, key, types, what) and task.get(key) is not None:
            fields[key] = task[key]
    for key in ("batch_size", "concurrency"):
        if _positive(rep, task, at, key):
            fields[key] = task[key]
    join = task.get("join")
    if join is not None:
        if join == "all" or (isinstance(join, int) and not isinstance(join, bool) and join >= 1):
            fields["join"] = join
        else:
            rep.at(at + ("join",), f"'join' must be an integer >= 1 or \"all\", got {join!r}")
    retry = _retry(rep, task.get("retry"), at + ("retry",))
    if retry is not None:
        fields["retry"] = retry
    normalized = normalize_task(task, at)
    report(rep, normalized.findings)  # these name paths in the file: report before aliasing
    rep.marks.aliases.update(normalized.aliases)
    synthetic.update(normalized.synthetic)
    fields["next"] = normalized.next
    return fields


def _retry(rep: Reporter, retry: Any, at: Path) -> dict[str, Any] | None:
    if retry is None:
        return None
    if not isinstance(retry, dict):
        rep.at(at, "'retry' must be a mapping {count, delay, backoff, max_delay, on_error}")
        return None
    before = len(rep.problems)
    rep.check_keys(retry, at, RETRY_KEYS, "retry")
    if "count" not in retry:
        rep.at(at, "retry needs `count`")
    elif isinstance(retry["count"], bool) or not isinstance(retry["count"], int) or retry["count"] < 0:
        rep.at(at + ("count",), "retry 'count' must be an integer >= 0")
    for key in ("delay", "max_delay"):
        value = retry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value < 0):
            rep.at(at + (key,), f"retry '{key}' must be a number of seconds >= 0")
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
        rep.at(at + (key,), f"'{key}' must be an integer >= 1, got {value!r}")
        return False
    return True
