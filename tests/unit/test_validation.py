"""Bad packs and workflows: each must give exactly one problem at the exact file:line:column.

The corpus lives in tests/fixtures/bad/ (one workflow file or one tiny pack per problem); the
legacy-form tests check that the older forms normalize to the same definition as modern `next`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.packs import PackError, load_packs, parse_workflow_text, validate_path
from attune.workflows.normalize import normalize_task

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad"
REPO = Path(__file__).resolve().parents[2]

# case -> (file relative to the case, line, column, message fragment)
WORKFLOW_CASES = {
    "unknown_top_key": (5, 1, "unknown key 'outputs' in workflow"),
    "unknown_task_key": (5, 5, "unknown key 'inputs' in task 'a'"),
    "unknown_transition_key": (7, 9, "unknown key 'goto' in transition"),
    "task_action_not_a_ref": (4, 13, "'action' must be an action ref '<pack>.<name>', got 'echo'"),
    "unsupported_wait_for": (5, 5, "`wait_for` is not supported"),
    "unsupported_parallel": (4, 11, "`type: parallel` is not supported"),
    "chart_meta_allowed": (13, 5, "unknown key 'colour' in task 'b'"),
    "duplicate_task_name": (5, 11, "duplicate task name 'a'"),
    "reserved_task_name": (3, 11, "task name 'item' is reserved"),
    "unknown_transition_target": (7, 17, "transition target 'c' is not a task"),
    "legacy_unknown_target": (6, 17, "transition target 'missing' is not a task"),
    "legacy_with_next": (7, 5, "`on_failure` cannot be combined with `next`"),
    "no_start_task": (2, 1, "no start task: every task is inside a cycle"),
    "join_too_large": (13, 11, "join 3 is more than the 2 task(s)"),
    "join_bad": (9, 11, "'join' must be an integer >= 1 or \"all\", got 'any'"),
    "join_without_inbound": (5, 11, "task 'a' has `join` but no inbound transitions"),
    "retry_bad_backoff": (7, 16, "retry 'backoff' must be one of constant, linear, exponential"),
    "template_syntax": (6, 24, "syntax error: unexpected 'end of expression' in {{ 1 + }}"),
    "template_unknown_task": (6, 16, "unknown task 'nope' in {{ task.nope.succeeded }}"),
    "template_unknown_variable": (8, 41, "unknown workflow variable 'name' in {{ workflow.name }}"),
    "template_unknown_parameter": (8, 17, "unknown parameter 'whom'"),
    "item_outside_with_items": (9, 20, "'item' is only defined in the input of a with_items task"),
    "with_items_not_template": (5, 17, "'with_items' must be a {{ }} template"),
    "batch_size_without_with_items": (5, 5, "`batch_size` needs `with_items`"),
    "timeout_wrong_type": (5, 14, "'timeout' must be an integer or a {{ }} template, got number"),
    "delay_not_template": (5, 12, "'delay' must be an integer or a {{ }} template"),
    "yaml_syntax_error": (6, 1, "YAML syntax error"),
    "duplicate_yaml_key": (7, 7, "duplicate key 'message'"),
    "version_not_string": (1, 10, "'version' must be a string (quote it)"),
    "tasks_empty": (2, 8, "'tasks' must be a list of at least one task"),
    "publish_bad_item": (7, 13, "each publish item must be a single-key map"),
    "decision_two_defaults": (8, 18, "only one default branch is allowed"),
    "decision_default_needs_expressions": (6, 15, "each other branch's `when` must be one {{ }}"),
}
FLOW = "actions/workflows/flow.workflow.yaml"
PACK_CASES = {
    "bad_pack_ref": ("pack.yaml", 1, 6, "pack ref 'My.Pack' is invalid"),
    "pack_unknown_key": ("pack.yaml", 4, 1, "unknown key 'maintainer' in pack.yaml"),
    "action_unknown_key": ("actions/run.yaml", 4, 1, "unknown key 'colour' in action"),
    "action_unsupported_key": ("actions/run.yaml", 4, 1, "`worker_selector` is not supported"),
    "action_ref_wrong_pack": ("actions/run.yaml", 1, 6, "action ref 'other.run' must be 'bad.<name>'"),
    "action_yaml_syntax": ("actions/run.yaml", 4, 1, "YAML syntax error"),
    "duplicate_action_ref": ("actions/two.yaml", 1, 6, "action ref 'bad.run' is already defined in"),
    "runner_type_unknown": ("actions/run.yaml", 2, 14, "unknown runner_type 'ruby'"),
    "entry_point_absolute": ("actions/run.yaml", 3, 14, "must be relative to actions/, not an absolute"),
    "entry_point_dotdot": ("actions/run.yaml", 3, 14, "'entry_point' must not contain '..'"),
    "entry_point_outside": ("actions/run.yaml", 4, 14, "'entry_point' resolves outside the pack"),
    "entry_point_missing": ("actions/run.yaml", 3, 14, "'entry_point' file not found: actions/missing.sh"),
    "workflow_with_runner": ("actions/flow.yaml", 3, 1, "workflow action (workflow_file) takes no `runner_type`"),
    "workflow_file_missing": ("actions/flow.yaml", 2, 16, "'workflow_file' file not found"),
    "param_default_type": ("actions/run.yaml", 7, 14, "'count': default 'ten' is not of type 'integer'"),
    "param_default_enum": ("actions/run.yaml", 8, 14, "'level': default 'medium' is not one of"),
    "param_bad_type": ("actions/run.yaml", 6, 11, "'ratio': type must be one of string, integer"),
    "unknown_action": (FLOW, 8, 13, "unknown action 'bad.nope'"),
    "companion_ref_mismatch": (FLOW, 1, 6, "does not match the action's ref 'bad.flow'"),
    "workflow_param_unknown": (FLOW, 6, 23, "unknown parameter 'name' in {{ parameters.name }}"),
    "warm_start_not_bool": ("actions/run.yaml", 4, 13, "warm_start"),
    "local_long_timeout": ("actions/run.yaml", 5, 18, "a local action needs timeout_seconds <= 60"),
    "local_default_timeout": ("actions/run.yaml", 4, 1, "the default is 600: set timeout_seconds"),
    "local_workflow": ("actions/flow.yaml", 3, 1, "'local' applies to script actions only"),
    "self_recursion": (FLOW, 4, 13, "task 'first' always runs 'bad.flow', which always leads back here"),
}


def _only_problem(path: Path):
    problems = validate_path(path)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


@pytest.mark.parametrize("case", sorted(WORKFLOW_CASES))
def test_bad_workflow_file(case: str) -> None:
    line, column, fragment = WORKFLOW_CASES[case]
    path = BAD / "workflows" / f"{case}.workflow.yaml"
    problem = _only_problem(path)
    assert (problem.file, problem.line, problem.column) == (str(path), line, column), str(problem)
    assert fragment in problem.message


@pytest.mark.parametrize("case", sorted(PACK_CASES))
def test_bad_pack(case: str) -> None:
    rel, line, column, fragment = PACK_CASES[case]
    problem = _only_problem(BAD / "packs" / case)
    expected = (str(BAD / "packs" / case / rel), line, column)
    assert (problem.file, problem.line, problem.column) == expected, str(problem)
    assert fragment in problem.message


def test_every_fixture_has_an_expectation() -> None:
    # A fixture added without an expectation would silently test nothing.
    files = {p.name.removesuffix(".workflow.yaml") for p in (BAD / "workflows").iterdir()}
    assert files == set(WORKFLOW_CASES)
    assert {p.name for p in (BAD / "packs").iterdir()} == set(PACK_CASES)


def test_load_packs_reports_every_pack_at_once() -> None:
    with pytest.raises(PackError) as err:
        load_packs(BAD / "packs")
    files = {Path(p.file).relative_to(BAD / "packs").parts[0] for p in err.value.problems}
    assert files == set(PACK_CASES)  # one load, problems from every pack
    assert str(err.value).splitlines() == [str(p) for p in err.value.problems]


def test_one_file_gets_all_its_problems() -> None:
    text = (
        'version: "1"\n'
        "tasks:\n"
        "  - name: a\n"
        "    action: core.echo\n"
        "    junk: 1\n"
        "    timeout: [1]\n"
        "    next:\n"
        "      - do: [ghost]\n"
        '        publish: {x: "{{ task.nope }}"}\n'
    )
    definition, problems = parse_workflow_text(text, "w.yaml")
    assert definition is None
    assert [(p.line, p.column, p.message.split(" in ")[0]) for p in problems] == [
        (5, 5, "unknown key 'junk'"),
        (6, 14, "'timeout' must be an integer or a {{ }} template, got list"),
        (8, 14, "transition target 'ghost' is not a task"),
        (9, 23, "unknown task 'nope'"),
    ]


def test_unknown_action_needs_known_actions() -> None:
    text = 'version: "1"\ntasks:\n  - name: a\n    action: core.ehco\n'
    assert parse_workflow_text(text)[1] == []
    _, problems = parse_workflow_text(text, known_actions={"core.echo"})
    assert [(p.line, p.column, p.message) for p in problems] == [(4, 13, "unknown action 'core.ehco'")]


def test_validate_path_on_one_file_reports_only_that_file(tmp_path: Path) -> None:
    pack = tmp_path / "demo"
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text('ref: demo\nversion: "1"\n')
    (pack / "actions" / "a.yaml").write_text("ref: demo.a\nrunner_type: shell\nentry_point: a.sh\n")
    (pack / "actions" / "b.yaml").write_text("ref: demo.b\nrunner_type: shell\nentry_point: b.sh\n")
    problems = validate_path(pack / "actions" / "a.yaml")
    assert [(Path(p.file).name, p.line, p.column) for p in problems] == [("a.yaml", 3, 14)]
    assert len(validate_path(pack)) == 2
    assert validate_path(tmp_path / "nope")[0].message == "no such file or directory"
    # An action YAML outside a pack can't be checked; a pack.yaml that stops the load is the answer.
    loose = tmp_path / "loose.yaml"
    loose.write_text("ref: x.y\nrunner_type: shell\n")
    assert "checked as part of its pack" in validate_path(loose)[0].message
    (pack / "pack.yaml").write_text("ref: Demo\n")
    assert [(Path(p.file).name, p.message[:8]) for p in validate_path(pack / "actions" / "b.yaml")] == [
        ("pack.yaml", "pack ref")]


# ---- legacy forms normalize to the modern ones -------------------------------------------------

MODERN = """
version: "1.0.0"
tasks:
  - name: compute
    action: examples.fibo
    input: {n: "{{ parameters.n }}"}
    next:
      - when: "{{ succeeded() }}"
        publish: [{fib: "{{ result().data.result }}"}]
        do: [decide]
      - when: "{{ failed() }}"
        do: [report_failure]
  - name: decide
    action: core.noop
    next:
      - when: "{{ workflow.fib > 10 }}"
        do: big
      - when: "{{ not (workflow.fib > 10) }}"
        do: small
  - {name: big, action: core.echo, input: {message: "{{ workflow.fib }} is big"}}
  - {name: small, action: core.echo, input: {message: "{{ workflow.fib }} is small"}}
  - {name: report_failure, action: core.echo, input: {message: compute failed}}
"""


def test_legacy_example_equals_its_modern_form() -> None:
    legacy = load_packs(REPO / "packs").action("examples.legacy_forms").workflow
    modern, problems = parse_workflow_text(MODERN, parameters={"n": {}})
    assert problems == []
    assert legacy is not None and legacy.tasks == modern.tasks


def _next(task: dict) -> list[dict]:
    result = normalize_task(task, ("tasks", 0))
    assert result.findings == []
    return result.next


def test_each_legacy_key_maps_to_its_condition() -> None:
    task = {"on_success": "a", "on_failure": ["b", "c"], "on_complete": "d", "on_timeout": "e"}
    assert _next(task) == [
        {"when": "{{ succeeded() }}", "publish": [], "do": ["a"]},
        {"when": "{{ failed() }}", "publish": [], "do": ["b", "c"]},
        {"when": None, "publish": [], "do": ["d"]},
        {"when": "{{ timed_out() }}", "publish": [], "do": ["e"]},
    ]


def test_publish_forms_are_the_same_ordered_pairs() -> None:
    as_list = _next({"next": [{"publish": [{"a": 1}, {"b": "{{ workflow.a }}"}, "c"]}]})
    as_map = _next({"next": [{"publish": {"a": 1, "b": "{{ workflow.a }}", "c": "{{ result() }}"}}]})
    assert as_list == as_map
    assert as_list[0]["publish"] == [("a", 1), ("b", "{{ workflow.a }}"), ("c", "{{ result() }}")]


def test_task_level_publish_joins_the_first_succeeded_transition_first() -> None:
    task = {"next": [{"when": "{{ failed() }}", "do": "x"},
                     {"when": "{{succeeded()}}", "publish": {"own": 2}, "do": "y"}],
            "publish": {"task_level": 1}}
    assert _next(task)[1]["publish"] == [("task_level", 1), ("own", 2)]


def test_task_level_publish_without_succeeded_transition_gets_a_new_first_one() -> None:
    task = {"on_failure": "x", "publish": [{"v": 1}]}
    assert _next(task) == [
        {"when": "{{ succeeded() }}", "publish": [("v", 1)], "do": []},
        {"when": "{{ failed() }}", "publish": [], "do": ["x"]},
    ]


def test_decision_default_is_the_negation_of_the_other_branches() -> None:
    task = {"decision": [{"when": "{{ a }}", "next": "x"}, {"default": True, "next": "z"},
                         {"when": "{{ b or c }}", "next": "y"}]}
    assert [t["when"] for t in _next(task)] == ["{{ a }}", "{{ not (a) and not (b or c) }}", "{{ b or c }}"]
    assert _next({"decision": [{"default": True, "next": "z"}]})[0]["when"] is None


def test_legacy_positions_point_at_the_legacy_text() -> None:
    text = 'version: "1"\ntasks:\n  - name: a\n    action: x.y\n    publish: {p: "{{ nope }}"}\n'
    _, problems = parse_workflow_text(text)
    assert [(p.line, p.column) for p in problems] == [(5, 19)]
    assert "unknown name 'nope'" in problems[0].message


def test_workflows_that_always_run_each_other_are_refused_and_conditional_calls_are_not(
        tmp_path: Path) -> None:
    pack = tmp_path / "loops"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text('ref: loops\nversion: "1"\n')
    flows = {"a": "  - name: call_b\n    action: loops.b\n",
             "b": "  - name: start\n    action: loops.c\n    next: [{do: [call_a]}]\n"
                  "  - name: call_a\n    action: loops.a\n",
             "c": "  - name: check\n    action: loops.a\n    next: []\n",
             "d": "  - name: check\n    action: loops.c\n"
                  "    next: [{when: '{{ succeeded() }}', do: [again]}]\n"
                  "  - name: again\n    action: loops.d\n"}
    for name, tasks in flows.items():
        (pack / "actions" / f"{name}.yaml").write_text(
            f"ref: loops.{name}\nworkflow_file: workflows/{name}.workflow.yaml\n")
        (pack / "actions" / "workflows" / f"{name}.workflow.yaml").write_text(
            f'version: "1"\ntasks:\n{tasks}')
    problems = validate_path(pack)
    messages = sorted((Path(p.file).name, p.message.split(",")[0]) for p in problems)
    assert messages == [
        ("a.workflow.yaml", "task 'call_b' always runs 'loops.b'"),
        ("b.workflow.yaml", "task 'call_a' always runs 'loops.a'"),
        ("b.workflow.yaml", "task 'start' always runs 'loops.c'"),
        ("c.workflow.yaml", "task 'check' always runs 'loops.a'"),
    ]  # d calls itself only on success: bounded at run time by the nesting depth limit
    assert "(loops.a -> loops.b -> loops.a)" in next(p.message for p in problems
                                                        if p.file.endswith("a.workflow.yaml"))
