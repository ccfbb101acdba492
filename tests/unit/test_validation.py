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
    "unsupported_iterate_cache": (5, 5, "`iterate_cache` is not supported: this engine has no Data Cache"),
    "parallel_without_tasks": (3, 5, "task 'both' is `type: parallel`: it needs `tasks`"),
    "chart_meta_allowed": (13, 5, "unknown key 'colour' in task 'b'"),
    "duplicate_task_name": (5, 11, "duplicate task name 'a'"),
    "reserved_task_name": (3, 11, "task name 'item' is reserved"),
    "unknown_transition_target": (7, 17, "transition target 'c' is not a task"),
    "legacy_unknown_target": (6, 17, "transition target 'missing' is not a task"),
    "legacy_with_next": (7, 5, "`on_failure` cannot be combined with `next`"),
    "no_start_task": (2, 1, "no start task: every task has a transition into it, and a run starts "
                            "at the tasks that have none; nothing outside the cycle a -> b -> a"),
    "join_too_large": (13, 11, "join 3 is more than the 2 task(s)"),
    "join_bad": (9, 11, "'join' must be an integer >= 1 or \"all\", got 'any'"),
    "join_without_inbound": (5, 11, "task 'a' has `join` but no inbound transitions"),
    "retry_bad_backoff": (7, 16, "retry 'backoff' must be one of constant, linear, exponential"),
    "template_syntax": (6, 24, "syntax error: unexpected 'end of expression' in {{ 1 + }}"),
    "template_unclosed": (5, 23, "no closing '}}' for '{{' (check quotes and brackets) in \"{{ result().x }\""),
    "template_unknown_task": (6, 16, "unknown task 'nope' in {{ task.nope.succeeded }}"),
    "template_unknown_variable": (8, 41, "unknown workflow variable 'name' in {{ workflow.name }}"),
    "template_unknown_parameter": (8, 17, "unknown parameter 'whom'"),
    "item_outside_with_items": (9, 20, "'item' is only defined in the input of a with_items task"),
    "with_items_not_template": (5, 17, "'with_items' must be a {{ }} template"),
    "batch_size_without_with_items": (5, 5, "`batch_size` needs `with_items`"),
    "timeout_wrong_type": (5, 14, "'timeout' must be a number of seconds or a {{ }} template, got boolean"),
    "delay_not_template": (5, 12, "'delay' must be an integer or a {{ }} template"),
    # a condition without {{ }} is a non-empty string: always true, so it fired on success too
    "when_not_template": (6, 15, "'when' must be a {{ }} expression: as plain text it is always "
                                 "true (write {{ failed() }})"),
    "when_yaql": (6, 15, "YAQL (<% %>) is not evaluated here: the text would be used as written "
                         "in \"<% result().ok %>\" (task 'a' next[0].when): write "
                         "{{ result().ok }}"),
    "yaml_syntax_error": (5, 22, "YAML syntax error: while scanning a quoted scalar"),
    # where the quote opens, not at the end of the file where the scanner gave up
    "yaml_unclosed_quote": (6, 16, "while scanning a quoted scalar that starts here, found "
                                   "unexpected end of stream (line 9, column 1)"),
    "duplicate_yaml_key": (7, 7, "duplicate key 'message' in tasks[0].input"),
    "version_not_string": (1, 10, "'version' must be a string (quote it)"),
    "tasks_empty": (2, 8, "'tasks' must be a list of at least one task"),
    "publish_bad_item": (7, 13, "each publish item must be a single-key map"),
    "decision_two_defaults": (8, 18, "only one default branch is allowed"),
    "decision_default_after_unconditional": (6, 9, "this branch has no `when`, so it always fires"),
    # Near misses of what Attune packs write (issue 10): a key misspelt by a letter or two ...
    "typo_permission_set_refs": (5, 5, "unknown key 'permision_set_refs' in task 'a' (did you mean 'permiss"),
    "typo_wait_for": (9, 5, "unknown key 'wait_fro' in task 'guarded' (did you mean 'wait_for'?)"),
    "typo_worker_selector": (5, 5, "unknown key 'worker_selecter' in task 'a' (did you mean 'worker_selecto"),
    "typo_pack_output_map": (5, 1, "unknown key 'output_mapp' in workflow (did you mean 'output_map'?)"),
    "typo_legacy_item_key": (7, 9, "unknown key 'nxt' in transition (did you mean 'next'?)"),
    "typo_filter": (6, 17, "unknown filter 'lenght' in {{ parameters.items | lenght }}"),
    "typo_task_result": (6, 13, "unknown task 'bulid' in {{ task.bulid.result.duration_seconds }}"),
    # ... a wrong type for each new key ...
    "type_permission_set_refs": (5, 26, "'permission_set_refs' must be a permission set ref, a list of refs"),
    "type_wait_for": (5, 15, "'wait_for' must be a mapping {inquiry: \"{{ task.<name>.inquiry_id }}\"}"),
    "type_worker_selector": (5, 22, "'worker_selector' must be a mapping of label: \"text\""),
    "type_timeout_zero": (5, 14, "'timeout' must be greater than 0 seconds, got 0"),
    "type_vars_list_item": (4, 5, "each item of a `vars` list must be a one-key map (name: value)"),
    "type_decision_default": (8, 18, "'default' must be true or false"),
    "parallel_sub_task_transition": (10, 9, "`on_success` is not allowed in sub-task 'two' of task 'checks'"),
    # ... and what Attune's validator reports (issue 10 item 5, issue 9.15/9.17).
    "join_all_back_edge": (9, 11, "join all can never be met: it counts 'fix', which can only run after 'ch"),
    "wait_for_in_cycle": (13, 5, "`wait_for` cannot be used inside a cycle: 'approve' can run again"),
    "wait_for_with_items": (10, 5, "`wait_for` cannot be combined with `with_items`"),
    "wait_for_parallel": (11, 5, "`wait_for` needs an action task: 'both' is a parallel task"),
    "retry_max_delay_below_delay": (8, 18, "retry 'max_delay' (5) is smaller than 'delay' (10)"),
    "secret_in_condition": (13, 16, "secret parameters.token can only be passed whole to a task input"),
    "inquiry_without_wait_for": (6, 18, "task 'a' has no `wait_for: {inquiry: ...}`, so inquiry.a is never "),
}
FLOW = "actions/workflows/flow.workflow.yaml"
PACK_CASES = {
    "bad_pack_ref": ("pack.yaml", 1, 6, "pack ref 'My.Pack' is invalid"),
    "pack_unknown_key": ("pack.yaml", 4, 1, "unknown key 'maintainer' in pack.yaml"),
    "action_unknown_key": ("actions/run.yaml", 4, 1, "unknown key 'colour' in action"),
    "action_worker_selector_not_text": ("actions/run.yaml", 5, 3, "'worker_selector' must be a mapping of l"),
    "runner_type_native": ("actions/run.yaml", 2, 14, "runner_type 'native' (Attune's compiled actions) is "),
    "action_ref_wrong_pack": ("actions/run.yaml", 1, 6, "action ref 'other.run' must be 'bad.<name>'"),
    "action_yaml_syntax": ("actions/run.yaml", 4, 1, "YAML syntax error"),
    "duplicate_action_ref": ("actions/two.yaml", 1, 6, "action ref 'bad.run' is already defined in"),
    "runner_type_unknown": ("actions/run.yaml", 2, 14, "unknown runner_type 'ruby'"),
    "entry_point_absolute": ("actions/run.yaml", 3, 14, "must be relative to actions/, not an absolute"),
    "entry_point_dotdot": ("actions/run.yaml", 3, 14, "'entry_point' must not contain '..'"),
    "entry_point_outside": ("actions/run.yaml", 4, 14, "'entry_point' resolves outside the pack"),
    "entry_point_missing": ("actions/run.yaml", 3, 14, "'entry_point' file not found: actions/missing.sh"),
    "workflow_with_runner": ("actions/flow.yaml", 3, 1, "workflow action (workflow_file) takes no `runner_t"),
    "workflow_file_missing": ("actions/flow.yaml", 2, 16, "'workflow_file' file not found"),
    "param_default_type": ("actions/run.yaml", 7, 14, "'count': default \"ten\" is not of type integer"),
    "param_default_enum": ("actions/run.yaml", 8, 14, "'level': default \"medium\" is not one of"),
    "param_bad_type": ("actions/run.yaml", 6, 11, "'ratio': type must be one of string, integer"),
    "unknown_action": (FLOW, 8, 13, "unknown action 'bad.nope'"),
    "companion_ref_mismatch": (FLOW, 1, 6, "does not match the action's ref 'bad.flow'"),
    "workflow_param_unknown": (FLOW, 6, 23, "unknown parameter 'name' in {{ parameters.name }}"),
    "warm_start_not_bool": ("actions/run.yaml", 4, 13, "warm_start"),
    "local_long_timeout": ("actions/run.yaml", 5, 18, "a local action needs timeout_seconds <= 60"),
    "local_default_timeout": ("actions/run.yaml", 4, 1, "the default is 600: set timeout_seconds"),
    "local_workflow": ("actions/flow.yaml", 3, 1, "'local' applies to script actions only"),
    "self_recursion": (FLOW, 4, 13, "task 'first' always runs 'bad.flow', which always leads back here"),
    # Near misses of Attune's pack and action keys: typos, wrong types, unmet checks.
    "typo_pack_runtime_deps": ("pack.yaml", 4, 1, "unknown key 'runtime_dep' in pack.yaml (did you mean 'ru"),
    "type_runtime_deps": ("pack.yaml", 4, 15, "'runtime_deps' must be a list of runtimes"),
    "runtime_deps_native": ("pack.yaml", 4, 23, "runtime 'native' is not available here: this engine runs s"),
    "dependency_missing": ("pack.yaml", 5, 3, "pack 'bad' depends on pack 'slack', which is not loaded"),
    "dependency_version": ("pack.yaml", 5, 8, "pack 'bad' needs bad >=2.0, found bad 1.0.0"),
    "type_meta_python_dependencies": ("pack.yaml", 5, 24, "'python_dependencies' must be a list of pip requ"),
    "type_pack_system": ("pack.yaml", 4, 9, "'system' must be true or false, got string"),
    "typo_runtime_version": ("actions/run.yaml", 4, 1, "unknown key 'runtime_verison' in action (did you me"),
    "runtime_version_unmet": ("actions/run.yaml", 4, 18, "runtime_version '>=99' is not met: python3 here i"),
    "runtime_version_invalid": ("actions/run.yaml", 4, 18, "runtime_version 'newest' is not a version const"),
    "type_output_schema": ("actions/run.yaml", 4, 16, "'output_schema' must be a mapping, got list"),
    "output_and_output_schema": ("actions/run.yaml", 6, 1, "give one of output, out_schema: they are the sa"),
    "name_mismatch": ("actions/run.yaml", 4, 7, "name 'runner' does not match the ref 'bad.run'"),
    "type_default_permission_sets": ("actions/run.yaml", 4, 40, "'default_execution_permission_set_refs' mu"),
    "type_accesses_mcp": ("actions/run.yaml", 4, 15, "'accesses_mcp' must be true or false, got string"),
    "param_keyword_type": ("actions/run.yaml", 7, 15, "parameter 'hosts': minItems: \"one\" is not of type i"),
    "param_typo_keyword": ("actions/run.yaml", 7, 5, "unknown key 'minItem' in parameter 'hosts' (did you m"),
    "param_object_form_required": ("actions/run.yaml", 8, 14, "required parameter 'hots' is not in `propert"),
    "typo_action_timeout": ("actions/run.yaml", 4, 1, "unknown key 'timout' in action (did you mean 'timeou"),
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


def refused_at(text: str, cut: str) -> list[tuple[int | None, int | None, str]]:
    """A workflow text that must not load: each problem's line, column and message (up to `cut`)."""
    definition, problems = parse_workflow_text(text, "w.yaml")
    assert definition is None
    return [(p.line, p.column, p.message.split(cut)[0]) for p in problems]


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
    assert refused_at(text, " in ") == [
        (5, 5, "unknown key 'junk'"),
        (6, 14, "'timeout' must be a number of seconds or a {{ }} template, got list"),
        (8, 14, "transition target 'ghost' is not a task"),
        (9, 23, "unknown task 'nope'"),
    ]


def test_neither_a_duplicate_key_nor_a_missing_version_hides_the_other_problems() -> None:
    text = (
        "tasks:\n"
        "  - name: a\n"
        "    action: core.echo\n"
        '    input: {message: "{{ nosuchname }}"}\n'
        "    inptu: {}\n"
        "  - name: b\n"
        "    action: core.noop\n"
        "    input: {x: 1, x: 2}\n"
        "    next: [{do: [a]}]\n"
        "    next: [{do: [b]}]\n"
    )
    assert refused_at(text, " (did") == [
        (1, 1, "missing required key 'version'"),
        (4, 23, "unknown name 'nosuchname': not a namespace, function or workflow variable in "
                "{{ nosuchname }} (task 'a' input.message)"),
        (5, 5, "unknown key 'inptu' in task 'a'"),
        (8, 19, "duplicate key 'x' in tasks[1].input"),
        (10, 5, "duplicate key 'next' in tasks[1]"),
    ]


def test_unknown_action_needs_known_actions() -> None:
    text = 'version: "1"\ntasks:\n  - name: a\n    action: core.ehco\n'
    assert parse_workflow_text(text)[1] == []
    _, problems = parse_workflow_text(text, known_actions={"core.echo"})
    assert [(p.line, p.column, p.message) for p in problems] == [
        (4, 13, "unknown action 'core.ehco' (did you mean 'core.echo'?)")]


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
  - {name: big, action: core.echo, input: {message: "{{ workflow.fib }} is big"}}
  - {name: small, action: core.echo, input: {message: "{{ workflow.fib }} is small"}}
  - {name: report_failure, action: core.echo, input: {message: compute failed}}
"""


def test_legacy_example_equals_its_modern_form() -> None:
    legacy = load_packs(REPO / "packs").action("examples.legacy_forms").workflow
    modern, problems = parse_workflow_text(MODERN, parameters={"n": {}})
    assert problems == []
    assert legacy is not None and modern is not None
    # The decision default has no `next` spelling: a transition firing when no other branch did.
    default = legacy.tasks[1].next[1]
    assert (default.do, default.otherwise, default.when) == (["small"], [0], None)
    legacy_tasks = [legacy.tasks[0], legacy.tasks[1].model_copy(update={"next": legacy.tasks[1].next[:1]}),
                    *legacy.tasks[2:]]
    assert legacy_tasks == modern.tasks


def _next(task: dict) -> list[dict]:
    result = normalize_task(task, ("tasks", 0))
    assert result.findings == []
    return result.next


def test_each_legacy_key_maps_to_its_condition() -> None:
    task = {"on_success": "a", "on_failure": ["b", "c"], "on_complete": "d", "on_timeout": "e"}
    assert [{k: t[k] for k in ("when", "publish", "do")} for t in _next(task)] == [
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
    assert [(t["when"], t["publish"], t["do"]) for t in _next(task)] == [
        ("{{ succeeded() }}", [("v", 1)], []),
        ("{{ failed() }}", [], ["x"]),
    ]


def test_decision_default_fires_when_no_other_branch_did() -> None:
    """Issue 9.14: not a rewritten `not (A)` condition (text such as "false" broke it) but a
    marker: the default goes after the other branches and names them."""
    task = {"decision": [{"when": "{{ a }}", "next": "x"}, {"default": True, "next": "z"},
                         {"when": "n = {{ b }}", "next": "y"}]}
    assert [(t["when"], t["do"], t["otherwise"]) for t in _next(task)] == [
        ("{{ a }}", ["x"], []), ("n = {{ b }}", ["y"], []), (None, ["z"], [0, 1])]
    assert _next({"decision": [{"default": True, "next": "z"}]})[0]["otherwise"] == []


def test_legacy_on_lists_of_when_do_items() -> None:
    task = {"on_success": [{"when": "{{ result().n > 1 }}", "do": "big"},
                           {"when": "{{ x }}", "next": ["a", "b"]}, "always"],
            "on_failure": [{"do": "fix"}]}
    assert [(t["when"], t["do"], t["on_status"]) for t in _next(task)] == [
        ("{{ result().n > 1 }}", ["big"], "succeeded"), ("{{ x }}", ["a", "b"], "succeeded"),
        ("{{ succeeded() }}", ["always"], None), (None, ["fix"], "failed")]


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


def test_unreachable_tasks_are_each_reported() -> None:
    """A task no transition from a start task leads to can never run (issue 10 item 5)."""
    text = ('version: "1"\ntasks:\n  - {name: a, action: core.echo}\n'
            '  - {name: b, action: core.echo, next: [{do: [c]}]}\n'
            '  - {name: c, action: core.echo, next: [{do: [b]}]}\n')
    _, problems = parse_workflow_text(text)
    assert [(p.line, p.column, p.message) for p in problems] == [
        (4, 12, "task 'b' can never start: no transition from a start task leads to it"),
        (5, 12, "task 'c' can never start: no transition from a start task leads to it")]


def test_self_loop_task_is_a_start_task_and_its_join_counts_only_early_sources() -> None:
    """9.17: a self-loop is not an inbound edge at the start; `join: 1` over a loop is met."""
    text = ('version: "1"\ntasks:\n'
            '  - {name: poll, action: core.echo, next: [{when: "{{ failed() }}", do: [poll]}]}\n')
    assert parse_workflow_text(text)[1] == []
    text = ('version: "1"\ntasks:\n  - {name: start, action: core.echo, next: [{do: [check]}]}\n'
            '  - {name: check, action: core.echo, join: 1, next: [{when: "{{ failed() }}", do: [fix]}]}\n'
            '  - {name: fix, action: core.echo, next: [{do: [check]}]}\n')
    assert parse_workflow_text(text)[1] == []


def test_secret_may_be_passed_whole_through_inputs_publish_and_output_map() -> None:
    """9.15: passing a secret on whole is fine; a variable that holds one is a secret too."""
    text = ('version: "1"\nparameters:\n  token: {type: string, secret: true}\n'
            'vars:\n  copy: "{{ parameters.token }}"\ntasks:\n'
            '  - name: a\n    action: core.echo\n'
            '    input: {token: "{{ parameters.token }}", again: "{{ workflow.copy }}"}\n'
            '    next: [{publish: [{held: "{{ workflow.copy }}"}]}]\n'
            '  - name: b\n    action: core.echo\n    input: {text: "token={{ workflow.held }}"}\n'
            'output_map:\n  token: "{{ workflow.held }}"\n')
    _, problems = parse_workflow_text(text)
    assert [(p.line, p.column, p.message.split(" can only")[0]) for p in problems] == [
        (13, 26, "secret workflow.held")]


def test_wait_for_on_a_nested_workflow_task_is_reported(tmp_path: Path) -> None:
    """Issue 10 item 5: `wait_for` needs a task that runs an action, not a nested workflow."""
    pack = tmp_path / "p"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: p\n")
    (pack / "actions" / "workflows" / "child.workflow.yaml").write_text(
        'version: "1"\ntasks:\n  - {name: a, action: p.child2}\n')
    (pack / "actions" / "workflows" / "child2.workflow.yaml").write_text(
        'version: "1"\ntasks:\n  - {name: a, action: p.child, when_never: 1}\n')
    (pack / "actions" / "workflows" / "parent.workflow.yaml").write_text(
        'version: "1"\ntasks:\n  - {name: a, action: p.child, next: [{do: [b]}]}\n'
        '  - {name: b, action: p.child, wait_for: {inquiry: "{{ task.a.id }}"}}\n')
    problems = [p for p in validate_path(pack) if "parent" in p.file]
    assert [(p.line, p.column, p.message) for p in problems] == [
        (4, 32, "`wait_for` needs an action task: 'b' runs the workflow 'p.child'")]


def test_parallel_task_keys_go_on_its_sub_tasks() -> None:
    text = ('version: "1"\ntasks:\n  - name: p\n    type: parallel\n    with_items: "{{ [1] }}"\n'
            '    timeout: 3\n    tasks:\n      - {name: a, action: x.y, timeout: 2}\n'
            '      - {name: a, action: x.z}\n')
    assert [(p.line, p.column, p.message) for p in parse_workflow_text(text)[1]] == [
        (5, 5, "`with_items` on a parallel task does not apply: a parallel task runs each sub-task once"),
        (6, 5, "`timeout` on a parallel task goes on each sub-task"),
        (9, 16, "duplicate task name 'a'")]


def test_a_pack_kept_elsewhere_validates_against_the_installed_packs(tmp_path: Path) -> None:
    """`attune validate` of a pack outside packs/ named `core.*` actions unknown (the pack then
    registered and ran): the installed packs (--packs, ATTUNE_PACKS_DIR, ./packs) are known."""
    from attune.packs.loader import installed_packs
    from tests.conftest import PACKS

    pack = tmp_path / "elsewhere" / "mine"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text('ref: mine\nversion: "1.0"\n')
    (pack / "actions" / "slow.yaml").write_text("ref: mine.slow\nworkflow_file: workflows/slow.workflow.yaml\n")
    flow = pack / "actions" / "workflows" / "slow.workflow.yaml"
    flow.write_text('version: "1.0"\ntasks:\n  - name: a\n    action: core.sleep\n    input: {seconds: 1}\n')
    assert [p.message for p in validate_path(pack)] == ["unknown action 'core.sleep'"]
    assert validate_path(pack, *installed_packs(PACKS)) == []
    assert installed_packs(tmp_path / "nowhere") == ({}, {})
    # The installed actions' parameters and the installed packs' versions count too: a typo in a
    # task's input, or a dependency on a core this is not, is found wherever the pack is kept.
    flow.write_text('version: "1.0"\ntasks:\n  - name: a\n    action: core.sleep\n    input: {secnds: 1}\n')
    (pack / "pack.yaml").write_text('ref: mine\nversion: "1.0"\ndependencies: ["core>=9.0"]\n')
    for where in (pack, tmp_path / "elsewhere"):  # one pack, a directory of packs
        found = [(Path(p.file).name, p.line, p.column, p.message) for p in validate_path(where, *installed_packs(PACKS))]
        assert found == [("slow.workflow.yaml", 5, 13, "'core.sleep' has no parameter 'secnds' (did you mean 'seconds'?)"),
                         ("pack.yaml", 3, 15, "pack 'mine' needs core >=9.0, found core 1.0.0")], found
    loose = tmp_path / "loose.workflow.yaml"  # a workflow file in no pack
    loose.write_text('version: "1.0"\ntasks:\n  - name: a\n    action: core.nope\n')
    assert [p.message for p in validate_path(loose, *installed_packs(PACKS))] == [
        "unknown action 'core.nope' (did you mean 'core.noop'?)"]


def test_attune_parser_task_keys_load_or_say_what_to_write() -> None:
    text = 'version: "1"\ntasks:\n  - name: a\n    action: core.echo\n    trace_tag_template: "{{ x }}"\n'
    assert parse_workflow_text(text)[1] == []  # inert here (README)
    _, problems = parse_workflow_text(text + '    when: "{{ true }}"\n', "w.yaml")
    assert [(p.line, p.message.split(" (")[0]) for p in problems] == [
        (6, "`when` is not supported: on a task")]


def test_a_yaml_file_symlinked_into_a_pack_from_outside_is_refused(tmp_path: Path) -> None:
    """Its workflow_file through an action was refused; found as a standalone workflow it loaded."""
    outside = tmp_path / "outside.workflow.yaml"
    outside.write_text('version: "1.0"\ntasks:\n  - name: a\n    action: core.noop\n')
    pack = tmp_path / "p"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text('ref: p\nversion: "1.0"\n')
    (pack / "actions" / "workflows" / "loose.workflow.yaml").symlink_to(outside)
    problems = validate_path(pack)
    assert [p.message for p in problems] == [f"loose.workflow.yaml resolves outside the pack (a symlink to {outside})"]


def test_a_transition_inside_do_says_how_to_write_it() -> None:
    """Attune's core install_packs writes `do: [{when: ..., next: b}]`, which neither Attune's
    parser (`do` is a list of names) nor this one reads: say what to write instead."""
    text = ('version: "1"\ntasks:\n  - name: a\n    action: core.noop\n    next:\n      - when: "{{ failed() }}"\n'
            '        do:\n          - when: "{{ true }}"\n            next: b\n  - name: b\n    action: core.noop\n')
    (problem,) = parse_workflow_text(text)[1]
    assert (problem.line, problem.column) == (8, 13)
    assert problem.message.startswith("`do` lists task names, not transitions: write this one as a transition")
