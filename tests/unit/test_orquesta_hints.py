"""Workflows written for StackStorm Orquesta: refused where they differ, saying what to write.

README "Coming from StackStorm": YAQL (`<% %>`) is refused in every template, Orquesta's functions
and keys are refused with the spelling used here, and each suggested rewrite is itself valid.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attune.expressions import StaticScope, check_template
from attune.expressions.orquesta import translate
from attune.packs import parse_workflow_text, validate_path

HEAD = 'version: "1.0"\nvars:\n  base: /v1\ntasks:\n'
PARAMETERS = {"host": {"type": "string"}, "hosts": {"type": "array"}}


def problems(tasks: str, *, head: str = HEAD, parameters: dict | None = PARAMETERS,
             tail: str = "") -> list[tuple[int | None, int | None, str]]:
    definition, found = parse_workflow_text(head + tasks + tail, "w.yaml", parameters)
    assert definition is None, "the workflow should have been refused"
    return [(p.line, p.column, p.message) for p in found]


def only(tasks: str, **kwargs) -> tuple[int | None, int | None, str]:
    found = problems(tasks, **kwargs)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


NOOP = "  - name: done\n    action: core.noop\n"


# --- 1. YAQL in every template, not only in conditions -----------------------------------------

@pytest.mark.parametrize(("task", "at", "field", "written"), [
    ('    input:\n      url: "https://<% ctx().host %>/healthz"\n', (8, 21), "task 'check' input.url",
     "{{ parameters.host }}"),
    ("    with_items: <% ctx(hosts) %>\n", (7, 17), "task 'check' with_items", "{{ parameters.hosts }}"),
    ("    timeout: <% $.base %>\n", (7, 14), "task 'check' timeout", "{{ base }}"),
    ("    delay: <% ctx('base') %>\n", (7, 12), "task 'check' delay", "{{ base }}"),
    ("    retry: {count: 2, on_error: <% failed() %>}\n", (7, 33), "task 'check' retry.on_error",
     "{{ failed() }}"),
    ("    next:\n      - publish:\n          - url: <% ctx().base %>\n        do: done\n", (9, 18),
     "task 'check' next[0].publish.url", "{{ base }}"),
])
def test_yaql_is_refused_in_every_template_field(task: str, at: tuple[int, int], field: str,
                                                 written: str) -> None:
    text = "  - name: check\n    action: core.noop\n" + task + NOOP
    line, col, message = only(text)
    assert (line, col) == at, message
    assert message.startswith("YAQL (<% %>) is not evaluated here: the text would be used as written")
    assert f"({field}): write {written} (to keep the characters <% %> as text, put them in a " \
           "{{ }} string, e.g. {{ '<%' }})" in message


def test_yaql_in_vars_and_output_map_too() -> None:
    head = 'version: "1.0"\nvars:\n  base: "<% ctx().host %>/v1"\ntasks:\n'
    found = problems(NOOP, head=head, tail='output_map:\n  at: "{{ base }} <% ctx().base %>"\n')
    assert [(line, column) for line, column, _ in found] == [(3, 10), (8, 19)]
    assert "(vars.base): write {{ parameters.host }}" in found[0][2]
    assert "(output_map.at): write {{ base }}" in found[1][2]


def test_yaql_text_inside_a_jinja_string_is_the_users_own() -> None:
    text = ('  - name: check\n    action: core.echo\n    input:\n'
            "      message: \"{{ '<% ctx().host %>' }} is how Orquesta wrote it\"\n")
    definition, found = parse_workflow_text(HEAD + text, "w.yaml", PARAMETERS)
    assert found == [] and definition is not None


def test_a_yaql_condition_gets_a_rewrite_that_is_valid_here() -> None:
    text = ("  - name: check\n    action: core.noop\n    next:\n"
            "      - when: <% succeeded() and result().status = 'healthy' %>\n        do: done\n" + NOOP)
    _, _, message = only(text)
    assert "write {{ succeeded() and result().status == 'healthy' }}" in message


def test_an_unresolvable_name_says_what_is_still_wrong() -> None:
    text = '  - name: check\n    action: core.echo\n    input:\n      message: "<% ctx().nope %>"\n'
    _, _, message = only(text)
    assert ("rewrite it as a {{ }} expression: {{ nope }} would still need fixing (unknown name "
            "'nope'") in message


# --- 2. the rewrites are this language: each one checks clean ---------------------------------

SCOPE = StaticScope(tasks={"check", "done"}, variables={"base", "count"}, parameters={"host", "hosts"},
                    allow_item=True, allow_status=True)


@pytest.mark.parametrize(("orquesta", "expected"), [
    ("ctx().base", "base"),
    ("ctx(base)", "base"),
    ("ctx('host')", "parameters.host"),
    ('ctx("hosts")', "parameters.hosts"),
    ("$.count + 1", "count + 1"),
    ("succeeded() and result().status = 'healthy'", "succeeded() and result().status == 'healthy'"),
    ("ctx().count >= 3 and ctx().count != 5", "count >= 3 and count != 5"),
    ("task('check').result.status", "task.check.result.status"),
    ("task(check).result.stdout = 'a=b'", "task.check.result.stdout == 'a=b'"),
    ("item(host)", "item"),
    ("item(host).name", "item.name"),
    ("len(ctx(hosts)) > 0", "length(parameters.hosts) > 0"),
    ("result()", "result()"),
    ("failed() or ctx().count = 0", "failed() or count == 0"),
])
def test_each_rewrite_checks_clean(orquesta: str, expected: str) -> None:
    name = lambda n: f"parameters.{n}" if n in SCOPE.parameters else n  # noqa: E731
    written = translate(orquesta, name)
    assert written == expected
    assert check_template(f"{{{{ {written} }}}}", SCOPE) == []
    # ... and through the checker's own YAQL path, which offers it
    [problem] = check_template(f"<% {orquesta} %>", SCOPE)
    assert problem.hint.startswith(f"write {{{{ {expected} }}}} (")


# --- 3. Orquesta's functions inside {{ }} ------------------------------------------------------

@pytest.mark.parametrize(("expression", "fragment"), [
    ("{{ ctx().base }}", "unknown function 'ctx' in {{ ctx().base }} (task 'check' input.value): "
                         "Orquesta's ctx() is written as the name itself here: a workflow variable "
                         "by its name (ctx().host -> host), a workflow input as parameters.host: "
                         "write {{ base }}"),
    ("{{ ctx('host') }}", "write {{ parameters.host }}"),
    ("{{ task('check').result.status }}", "a task's result is task.<name> here, not a function: "
                                          "task('check').result.status -> task.check.result.status"),
])
def test_orquesta_functions_say_what_to_write(expression: str, fragment: str) -> None:
    text = f'  - name: check\n    action: core.echo\n    input:\n      value: "{expression}"\n'
    _, _, message = only(text)
    assert fragment in message


def test_item_as_a_function_is_one_error_naming_the_item() -> None:
    text = ('  - name: check\n    action: core.echo\n    with_items: "{{ parameters.hosts }}"\n'
            '    input:\n      value: "{{ item(host) }}"\n')
    _, _, message = only(text)  # no second error for `host`, which is no variable
    assert message.startswith("unknown function 'item' in {{ item(host) }}")
    assert "`item` is a name here, not a function: item (or item.field)" in message
    assert message.endswith("write {{ item }}")


def test_task_function_result_is_task_name_in_publish() -> None:
    text = ("  - name: check\n    action: core.noop\n    next:\n      - publish:\n"
            '          - st: "{{ task(\'check\').result.status }}"\n        do: done\n' + NOOP)
    _, _, message = only(text)
    assert message.endswith("write {{ task.check.result.status }}")


# --- 3. Orquesta's and StackStorm's keys -------------------------------------------------------

@pytest.mark.parametrize(("task", "line", "column", "fragment"), [
    ("    on-error: done\n", 7, 5, "unknown key 'on-error' in task 'check': this is `on_failure: "
                                   "done` here, or next: [{when: \"{{ failed() }}\", do: [done]}]"),
    ("    on_error: [done]\n", 7, 5, "unknown key 'on_error' in task 'check': on a task this is "
                                     "`on_failure: [done]` here"),
    ("    on-complete: done\n", 7, 5, "unknown key 'on-complete' in task 'check': it is spelt "
                                      "`on_complete` here"),
    ("    with:\n      items: host in <% ctx(hosts) %>\n      concurrency: 2\n", 7, 5,
     "unknown key 'with' in task 'check': Orquesta's `with` is written `with_items: \"{{ hosts }}\"` "
     "and `concurrency: 2` on the task here (a workflow input is parameters.<name>); each item is "
     "`item` in the task's input (not `host`)"),
    ("    retry:\n      when: <% failed() %>\n      count: 3\n", 8, 7,
     "unknown key 'when' in retry: Orquesta's retry `when` is `on_error` here, an expression that "
     "sees result(): on_error: \"{{ failed() }}\" (`count` and `delay` are the same)"),
    ("    do: [done]\n", 7, 5, "unknown key 'do' in task 'check': a task's targets go inside a "
                               "transition: put it under next: [{do: [...]}]"),
])
def test_orquesta_task_keys_say_what_to_write(task: str, line: int, column: int,
                                             fragment: str) -> None:
    found = problems("  - name: check\n    action: core.noop\n" + task + NOOP)
    assert (line, column) == found[0][:2], found
    assert fragment in found[0][2]


@pytest.mark.parametrize(("task", "fragment"), [
    ("    with_items: \"{{ parameters.hosts }}\"\n    concurrency: <% 2 %>\n",
     "'concurrency' must be an integer >= 1, got '<% 2 %>': it is read when the workflow loads, so it "
     "takes a number, not an expression (and YAQL <% %> is not evaluated here)"),
    ("    retry: {count: '<% ctx().n %>'}\n", "retry 'count' must be an integer >= 0: it is read when"),
    ("    retry: {count: 2, delay: '{{ 3 }}'}\n", "retry 'delay' must be a number of seconds >= 0: it is read when"),
    ("    join: <% 2 %>\n", "'join' must be an integer >= 1 or \"all\", got '<% 2 %>': it is read when"),
    ("    next: [{do: <% ctx().nxt %>}]\n", "transition target '<% ctx().nxt %>' is not a task in this workflow: "
     "targets are task names, not expressions"),
    ("    next: [{do: \"done, other\"}]\n", "transition target 'done, other' is not a task in this workflow: "
     "write a list, do: [done, other]"),
    ("    next: [{do: dnoe}]\n", "transition target 'dnoe' is not a task in this workflow (did you mean 'done'?)"),
])
def test_orquesta_expressions_in_fields_read_at_load_say_why(task: str, fragment: str) -> None:
    """Orquesta takes expressions in `with.concurrency`, `retry.count`, `join`, `do`; here they
    are read when the workflow loads: a plain type error did not say why."""
    other = "  - name: other\n    action: core.noop\n"
    found = problems("  - name: check\n    action: core.noop\n" + task + NOOP + other)
    assert any(fragment in message for *_, message in found), found


def test_inline_parameters_go_under_input() -> None:
    line, column, message = only('  - name: check\n    action: ops.http_health url="https://x/" tries=3\n')
    assert (line, column) == (6, 13)
    assert message.endswith("(parameters go under `input:` here: action: ops.http_health and "
                            "input: {url: \"https://x/\", tries: 3})")


def test_workflow_input_is_declared_as_parameters() -> None:
    head = 'version: "1.0"\ninput:\n  - version\n  - hosts: [a]\ntasks:\n'
    line, column, message = only(NOOP, head=head, parameters=None)
    assert (line, column) == (2, 1)
    assert message.startswith("unknown key 'input' in workflow: Orquesta's workflow `input` is "
                              "declared as `parameters` in the workflow's action YAML, e.g. "
                              "parameters: {version: {type: string, required: true}, hosts: "
                              "{type: array, default: [a]}} (a standalone workflow file")


@pytest.mark.parametrize(("key", "fragment"), [
    ("position: 0", "unknown key 'position' in parameter 'host': StackStorm passes parameters to a "
                    "script as positional arguments; here the action reads them by name on stdin"),
    ("immutable: true", "unknown key 'immutable' in parameter 'host': StackStorm's value that a "
                        "caller cannot change; here fix it with `default: <value>` and `enum: "
                        "[<value>]`"),
])
def test_stackstorm_parameter_keys_say_why(tmp_path: Path, key: str, fragment: str) -> None:
    pack = tmp_path / "p"
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: p\nversion: 1.0.0\n")
    (pack / "actions" / "run.sh").write_text("#!/bin/sh\n")
    (pack / "actions" / "run.yaml").write_text(
        f"ref: p.run\nrunner_type: shell\nentry_point: run.sh\nparameters:\n  host:\n"
        f"    type: string\n    {key}\n")
    [problem] = validate_path(pack)
    assert (problem.line, problem.column) == (7, 5)
    assert fragment in problem.message


# --- 4. no start task: name the cycle that has no way in ---------------------------------------

def test_no_start_task_names_the_closed_cycle() -> None:
    text = ("  - name: vacuum\n    action: core.noop\n    next:\n"
            '      - when: "{{ failed() }}"\n        do: wait_lock\n'
            '      - when: "{{ succeeded() }}"\n        do: [analyze]\n'
            "  - name: wait_lock\n    action: core.noop\n    next:\n      - do: vacuum\n"
            "  - name: analyze\n    action: core.noop\n    next:\n      - do: report\n"
            "  - name: report\n    action: core.noop\n    next:\n      - do: analyze\n")
    line, column, message = only(text)
    assert (line, column) == (4, 1)
    assert message == (
        "no start task: every task has a transition into it, and a run starts at the tasks that "
        "have none; nothing outside the cycle vacuum -> wait_lock -> vacuum leads into it: add a "
        "start task, e.g. {name: start, action: core.noop, next: [{do: [vacuum]}]} (as the "
        "examples pack's loop workflow does)")


def test_two_closed_cycles_are_both_named() -> None:
    text = "".join(f"  - name: {a}\n    action: core.noop\n    next:\n      - do: {b}\n"
                   for a, b in [("a", "b"), ("b", "a"), ("c", "d"), ("d", "e"), ("e", "c")])
    _, _, message = only(text)
    assert "nothing outside the cycles a -> b -> a and c -> d -> e -> c leads into them" in message
    assert "next: [{do: [a, c]}]" in message


def test_a_retry_loop_on_the_cycle_is_not_named_as_the_cycle() -> None:
    """`a` retrying itself was named as the cycle (a -> a), though b also leads into it."""
    text = ("  - name: a\n    action: core.noop\n    next:\n"
            '      - when: "{{ failed() }}"\n        do: a\n      - do: b\n'
            "  - name: b\n    action: core.noop\n    next:\n      - do: a\n")
    _, _, message = only(text)
    assert "nothing outside the cycle a -> b -> a leads into it" in message


def test_the_suggested_start_task_fixes_it() -> None:
    text = ("  - name: start\n    action: core.noop\n    next:\n      - do: [a]\n"
            "  - name: a\n    action: core.noop\n    next:\n      - do: b\n"
            "  - name: b\n    action: core.noop\n    next:\n      - do: a\n")
    definition, found = parse_workflow_text(HEAD + text, "w.yaml", PARAMETERS)
    assert found == [] and definition is not None


def test_yaql_and_expression_errors_in_a_literal_block_are_placed_on_their_line() -> None:
    """Inside a `|` block they were reported at the `|`, lines above the text to fix."""
    text = ("  - name: a\n    action: core.echo\n    input:\n      message: |\n"
            "        first line\n        host is <% ctx().host %> ok\n")
    line, column, _ = only(text)
    assert (line, column) == (10, 17)
    text = ("  - name: a\n    action: core.echo\n    input:\n      message: |-\n"
            "        first line\n\n          {{ 1 + }} indented more\n")
    line, column, message = only(text)
    assert (line, column) == (11, 11), message
    # Folded text does not map line for line: it stays at the block's start.
    text = ("  - name: a\n    action: core.echo\n    input:\n      message: >\n"
            "        first line\n        host is <% ctx().host %> ok\n")
    line, column, _ = only(text)
    assert (line, column) == (8, 16)
