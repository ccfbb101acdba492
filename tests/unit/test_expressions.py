"""`{{ }}` expressions (spec §6): operators, names, functions, typing, errors, load-time checks."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from attune.expressions import (
    EvalContext,
    ExpressionError,
    StaticScope,
    check_template,
    evaluate_condition,
    render,
    template_expressions,
)

FETCH = {"succeeded": True, "exit_code": 0, "data": {"id": 7, "items": ["a", "b"]}, "id": 7}


def ctx(**kw) -> EvalContext:
    base = dict(
        parameters={"n": 3, "name": "World"},
        variables={"v": [1, 2, 3], "items": "data-key", "flag": True, "obj": {"keys": 1, "a": {"b": 2}}},
        tasks={"fetch": FETCH},
        config={"url": "http://x"},
        system={"execution_id": 42},
    )
    return EvalContext(**(base | kw))


def r(template, **kw):
    return render(template, ctx(**kw))


def fails(template, *fragments, **kw) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        r(template, **kw)
    for fragment in fragments:
        assert fragment in str(info.value)
    return info.value


# --- operators ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src, expected",
    [
        ("1 + 2", 3),
        ("'a' + 'b'", "ab"),
        ("[1] + [2]", [1, 2]),
        ("5 - 7", -2),
        ("3 * 4", 12),
        ("'ab' * 2", "abab"),
        ("7 / 2", 3.5),
        ("6 / 3", 2),  # exact integer division stays an integer
        ("7 % 3", 1),
        ("(1 + 2) * 3", 9),
        ("-parameters.n", -3),
        ("1 == 1.0", True),
        ("1 != 2", True),
        ("1 < 2", True),
        ("2 > 3", False),
        ("2 <= 2", True),
        ("1 >= 2", False),
        ("'a' < 'b'", True),
        ("true and false", False),
        ("false or true", True),
        ("not true", False),
        ("not (1 > 2)", True),
        ("[1, [2, {'a': 3}]] == [1, [2, {'a': 3}]]", True),
        ("{'a': [1, 2], 'b': null} == {'b': null, 'a': [1, 2]}", True),
        ("{'a': [1, 2]} == {'a': [2, 1]}", False),
        ("parameters == {'n': 3, 'name': 'World'}", True),
        ("2 in [1, 2]", True),
        ("{'x': 1} in [{'x': 1}]", True),
        ("'ell' in 'hello'", True),
        ("'z' in 'hello'", False),
        ("'a' in {'a': 1}", True),
        ("'b' not in {'a': 1}", True),
        ("[1, 2, 3][1]", 2),
        ("[1, 2, 3][-1]", 3),
        ("{'k': 'v'}['k']", "v"),
        ("obj.a.b", 2),
        ("obj['a']['b']", 2),
        ("null", None),
        ("true", True),
        ("1.5", 1.5),
        ("'it''s'", "its"),
        ('"dq"', "dq"),
    ],
)
def test_operators_and_literals(src, expected):
    value = r("{{ " + src + " }}")
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "src, cause",
    [
        ("'a' + 1", "cannot apply '+' to string and integer"),
        ("true + 1", "cannot apply '+' to boolean and integer"),
        ("'%s' % 1", "cannot apply '%' to string and integer"),
        ("{'a': 1} + {'b': 2}", "cannot apply '+' to object and object"),
        ("1 / 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("1 < 'a'", "'<' not supported"),
        ("1 in 'abc'", "requires string as left operand"),
        ("'x' * 1000000", "repetition longer than"),
        ("2 ** 5000", "too large"),
    ],
)
def test_operator_errors(src, cause):
    fails("{{ " + src + " }}", cause)


# --- names and namespaces ----------------------------------------------------------------


def test_namespaces():
    assert r("{{ parameters.n }}") == 3
    assert r("{{ workflow.v }}") == r("{{ vars.v }}") == r("{{ variables['v'] }}") == [1, 2, 3]
    assert r("{{ task.fetch.exit_code }}") == 0
    assert r("{{ tasks.fetch.data.id }}") == 7
    assert r("{{ tasks['fetch'].id }}") == 7
    assert r("{{ config.url }}") == "http://x"
    assert r("{{ system.execution_id }}") == 42


def test_bare_name_falls_back_to_a_workflow_variable():
    assert r("{{ v[0] + 1 }}") == 2
    assert r("{{ flag }}") is True


def test_namespaces_and_functions_win_over_variables():
    c = dict(variables={"parameters": "shadow", "length": "shadow"})
    assert r("{{ parameters.n }}", **c) == 3
    assert r("{{ length('abc') }}", **c) == 3


def test_item_and_index_inside_with_items():
    assert r("{{ item.x }}-{{ index }}", item={"x": "a"}, index=2, has_item=True) == "a-2"
    assert r("{{ item }}", item=None, has_item=True) is None
    fails("{{ item }}", "'item' is only defined in the input of a with_items task")
    fails("{{ index }}", "'index' is only defined")


def test_data_keys_win_over_dict_methods():
    assert r("{{ items }}") == "data-key"
    assert r("{{ obj.keys }}") == 1
    assert r("{{ task.fetch.data.items }}") == ["a", "b"]
    assert r("{{ {'values': 5}.values }}") == 5


def test_python_internals_are_unreachable():
    fails("{{ ''.__class__ }}", "cannot read field '__class__' of a string value")
    fails("{{ obj.__class__ }}", "object has no key '__class__'")
    fails("{{ v.append(4) }}", "cannot read field 'append' of an array value")
    fails("{{ 'abc'.upper() }}", "cannot read field 'upper'")
    fails("{{ v | attr('append') }}", "unknown filter 'attr'")


def test_no_randomness_or_jinja_globals():
    fails("{{ v | random }}", "unknown filter 'random'")
    fails("{{ lipsum() }}", "unknown name 'lipsum'")


# --- errors ------------------------------------------------------------------------------


def test_unknown_name_is_an_error_with_the_expression():
    err = fails("x={{ task.fetch.id + nope }}", "unknown name 'nope'")
    assert err.expression == "task.fetch.id + nope"
    assert str(err).startswith("cannot evaluate '{{ task.fetch.id + nope }}': unknown name 'nope'")


def test_missing_keys_name_the_key_and_where():
    assert "task 'fetch' result has no key 'idd'" in fails("{{ task.fetch.idd }}").message
    fails("{{ parameters.missing }}", "no parameter 'missing'", "(has: n, name)")
    fails("{{ vars.missing }}", "no workflow variable 'missing'")
    fails("{{ config.missing }}", "pack config has no key 'missing'")
    fails("{{ system.missing }}", "system has no key 'missing'")
    fails("{{ obj.a.zz }}", "object has no key 'zz'", "(has: b)")
    fails("{{ v[10] }}", "index 10 is out of range (array of length 3)")
    fails("{{ v['a'] }}", "array index must be an integer, not string")
    fails("{{ flag.x }}", "cannot read field 'x' of a boolean value")


def test_task_without_result_yet():
    err = fails("{{ task.later.data }}", "task 'later' has no result yet")
    assert err.expression == "task.later.data"
    fails("{{ tasks['later'] }}", "task 'later' has no result yet")


@pytest.mark.parametrize(
    "template, cause",
    [
        ("{{ 1 + }}", "syntax error: unexpected 'end of expression'"),
        ("{{ a b }}", "syntax error"),
        ("{{ (1 }}", "cannot evaluate '{{ (1 }}': syntax error"),
        ("{{ }}", "syntax error"),
        ("{{ x | nofilter }}", "unknown filter 'nofilter'"),
        ("a {{ 1 + 2", "no closing '}}'"),
        ("{{ 'unterminated }}", "no closing '}}'"),
    ],
)
def test_syntax_errors(template, cause):
    fails(template, cause)


def test_calling_a_non_function_is_an_error():
    fails("{{ flag() }}", "a boolean value cannot be called like a function")


def test_function_value_is_not_data():
    fails("{{ length }}", "missing '()'")


def test_expression_error_pickles():
    err = pickle.loads(pickle.dumps(ExpressionError("x + 1", "boom")))
    assert (err.expression, err.message, str(err)) == ("x + 1", "boom", "cannot evaluate '{{ x + 1 }}': boom")


# --- rendering rules ---------------------------------------------------------------------


def test_single_expression_keeps_its_type():
    assert r("{{ parameters.n }}") == 3
    assert r("  {{ flag }}\n") is True
    assert r("{{ v }}") == [1, 2, 3]
    assert r("{{ obj }}") == {"keys": 1, "a": {"b": 2}}
    assert r("{{ null }}") is None
    assert r("{{ 2.5 }}") == 2.5
    assert type(r("{{ task.fetch }}")) is dict  # namespace views come back as plain dicts


def test_interpolation_as_text():
    assert r("n={{ parameters.n }}") == "n=3"
    assert r("[{{ null }}]") == "[]"
    assert r("{{ true }}/{{ false }}") == "true/false"
    assert r("l={{ v }}") == "l=[1, 2, 3]"
    assert r("o={{ {'a': 'é'} }}") == 'o={"a": "é"}'
    assert r("{{ 1.5 }}{{ 'x' }}") == "1.5x"
    assert r("Hello {{ parameters.name }}!") == "Hello World!"


def test_braces_inside_strings_and_dict_literals():
    assert r("{{ '}}' }}") == "}}"
    assert r("{{ {'a': {'b': 1}} }}") == {"a": {"b": 1}}
    assert r('x{{ "a\\"}}" }}y') == 'xa"}}y'


def test_render_walks_dicts_and_lists_but_not_keys():
    out = r({"{{ k }}": ["{{ parameters.n }}", 5, None, {"x": "n{{ parameters.n }}"}], "t": True})
    assert out == {"{{ k }}": [3, 5, None, {"x": "n3"}], "t": True}


def test_non_string_scalars_unchanged():
    assert r(5) == 5 and r(None) is None and r(True) is True and r("plain") == "plain"


def test_output_does_not_alias_workflow_state():
    c = ctx()
    out = render("{{ v }}", c)
    out.append(99)
    assert c.variables["v"] == [1, 2, 3]


def test_data_is_never_evaluated_again():
    tasks = {"t": {"data": {"msg": "{{ parameters.n }}", "bad": "{{ nope"}}}
    assert r("{{ task.t.data.msg }}", tasks=tasks) == "{{ parameters.n }}"
    assert r("say {{ task.t.data.msg }}", tasks=tasks) == "say {{ parameters.n }}"
    assert r("{{ task.t.data.bad }}", tasks=tasks) == "{{ nope"
    assert r("{{ v }}", variables={"v": "{{ 1 + 1 }}"}) == "{{ 1 + 1 }}"


def test_evaluation_is_cached_but_uses_current_context():
    assert r("{{ parameters.n }}", parameters={"n": 1}) == 1
    assert r("{{ parameters.n }}", parameters={"n": 2}) == 2


# --- conditions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, expected",
    [
        ("succeeded", (True, False, False, False)),
        ("failed", (False, True, False, False)),
        ("timed_out", (False, False, True, False)),
        ("cancelled", (False, False, False, True)),
    ],
)
def test_status_functions(status, expected):
    got = tuple(
        evaluate_condition(f"{{{{ {f}() }}}}", ctx(status=status))
        for f in ("succeeded", "failed", "timed_out", "cancelled")
    )
    assert got == expected


def test_result_function():
    c = dict(status="failed", result={"exit_code": 2, "data": {"x": 1}})
    assert r("{{ result().exit_code }}", **c) == 2
    assert r("{{ result() }}", **c) == {"exit_code": 2, "data": {"x": 1}}
    fails("{{ result().nope }}", "result() has no key 'nope'", **c)


def test_status_functions_outside_a_transition():
    fails("{{ succeeded() }}", "succeeded() is only available once a task has ended")
    fails("{{ result() }}", "result() is only available")


@pytest.mark.parametrize(
    "when, expected",
    [
        (None, True),
        ("{{ true }}", True),
        ("{{ false }}", False),
        ("{{ null }}", False),
        ("{{ 0 }}", False),
        ("{{ [] }}", False),
        ("{{ v }}", True),
        ("{{ parameters.n > 2 }}", True),
        ("{{ 'false' }}", False),
        ("{{ 'FALSE' }}", False),
        ("{{ 'no' }}", False),
        ("{{ '' }}", False),
        ("{{ 'yes' }}", True),
        ("{{ flag }} ", True),
        ("x{{ false }}", True),  # interpolated text "xfalse" is a non-empty, non-false word
    ],
)
def test_evaluate_condition(when, expected):
    assert evaluate_condition(when, ctx()) is expected


def test_condition_errors_raise():
    with pytest.raises(ExpressionError, match="unknown name 'nope'"):
        evaluate_condition("{{ nope }}", ctx())


# --- functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src, expected",
    [
        ("string(1)", "1"),
        ("string(null)", ""),
        ("string(true)", "true"),
        ("string([1, 'a'])", '[1, "a"]'),
        ("number('42')", 42),
        ("number(' 2.5 ')", 2.5),
        ("number(true)", 1),
        ("number(3.5)", 3.5),
        ("int('7')", 7),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("int('3.9')", 3),
        ("bool('false')", False),
        ("bool('Off')", False),
        ("bool('yes')", True),
        ("bool(0)", False),
        ("bool([0])", True),
        ("bool(null)", False),
        ("type_of('a')", "string"),
        ("type_of(1)", "integer"),
        ("type_of(1.5)", "number"),
        ("type_of(true)", "boolean"),
        ("type_of([])", "array"),
        ("type_of({})", "object"),
        ("type_of(null)", "null"),
        ("type_of(task.fetch)", "object"),
        ("length('abc')", 3),
        ("length(v)", 3),
        ("length({'a': 1})", 1),
        ("keys({'b': 1, 'a': 2})", ["b", "a"]),
        ("values({'b': 1, 'a': 2})", [1, 2]),
        ("abs(-2)", 2),
        ("abs(-2.5)", 2.5),
        ("floor(2.7)", 2),
        ("floor(-2.1)", -3),
        ("ceil(2.1)", 3),
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("round(2.4)", 2),
        ("round(2.675, 2)", 2.68),
        ("min(3, 1, 2)", 1),
        ("min([3, 1, 2])", 1),
        ("max(3, 1, 2)", 3),
        ("max(['a', 'c', 'b'])", "c"),
        ("sum([1, 2, 3.5])", 6.5),
        ("sum(1, 2)", 3),
        ("sum([])", 0),
        ("lower('AbC')", "abc"),
        ("upper('AbC')", "ABC"),
        ("trim('  a b \\n')", "a b"),
        ("split('a,b,,c', ',')", ["a", "b", "", "c"]),
        ("split(' a  b ')", ["a", "b"]),
        ("join(['a', 1, true, null], '-')", "a-1-true-"),
        ("join(['a', 'b'])", "ab"),
        ("replace('a-b-c', '-', '+')", "a+b+c"),
        ("starts_with('hello', 'he')", True),
        ("starts_with('hello', 'lo')", False),
        ("ends_with('hello', 'lo')", True),
        ("match('b+', 'abbc')", True),
        ("match('^b', 'abc')", False),
        ("match('^\\\\d+$', '123')", True),
        ("contains([1, 2], 2)", True),
        ("contains([{'a': 1}], {'a': 1})", True),
        ("contains('hello', 'ell')", True),
        ("contains({'a': 1}, 'a')", True),
        ("contains({'a': 1}, 'b')", False),
        ("reversed([1, 2, 3])", [3, 2, 1]),
        ("reversed('abc')", "cba"),
        ("sort([3, 1, 2])", [1, 2, 3]),
        ("sort(['b', 'a'])", ["a", "b"]),
        ("sort([{'n': 2}, {'n': 1}], 'n')", [{"n": 1}, {"n": 2}]),
        ("unique([1, 2, 1, 3, 2])", [1, 2, 3]),
        ("unique([{'a': 1}, {'a': 1}, true, 1])", [{"a": 1}, True, 1]),
        ("flat([[1, 2], [3], 4, []])", [1, 2, 3, 4]),
        ("flat([[[1]]])", [[1]]),
        ("zip([1, 2, 3], ['a', 'b'])", [[1, "a"], [2, "b"]]),
        ("range(3)", [0, 1, 2]),
        ("range(1, 7, 2)", [1, 3, 5]),
        ("range(0)", []),
    ],
)
def test_functions(src, expected):
    value = r("{{ " + src + " }}")
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "src, cause",
    [
        ("lower(1)", "lower() expects string, got integer"),
        ("lower('a', 'b')", "lower() takes 1 positional argument but 2 were given"),
        ("number('abc')", "cannot convert 'abc' to a number"),
        ("number('nan')", "cannot convert 'nan' to a number"),
        ("number([1])", "number() expects"),
        ("length(5)", "length() expects string or array or object, got integer"),
        ("keys([1])", "keys() expects object, got array"),
        ("min([])", "min() of an empty list"),
        ("max()", "max() of an empty list"),
        ("sum(['a'])", "sum() expects integer or number, got string"),
        ("sort([1, 'a'])", "sort() cannot order mixed values: integer, string"),
        ("sort([{'n': 1}], 'm')", "object has no key 'm'"),
        ("match('(', 'x')", "invalid regular expression"),
        ("match('(a)\\\\1', 'aa')", "backreferences and lookaround are not supported: patterns run on RE2"),
        ("match('a(?=b)', 'ab')", "invalid perl operator"),
        ("replace('a' * 10000, 'a', 'b' * 100000)", "replace() would build 1,000,000,000 characters, "
                                                  "over the limit of 16,000,000"),
        ("('a' * 200) | replace('a', 'b' * 99999)", "replace() would build 19,999,800 characters"),
        ("split('a', '')", "separator must not be empty"),
        ("range(10000000)", "exceeds the limit"),
        ("range(1, 5, 0)", "range()"),
        ("round('1')", "round() expects"),
        ("nofunc(1)", "unknown name 'nofunc'"),
    ],
)
def test_function_errors(src, cause):
    fails("{{ " + src + " }}", cause)


def test_a_pattern_that_backtracks_for_minutes_in_re_answers_at_once():
    # Python's re holds the GIL for minutes here, and with it every workflow of the orchestrator.
    assert r("{{ match('(a+)+$', '" + "a" * 60 + "!') }}") is False
    assert r("{{ match('(a+)+$', '" + "a" * 60 + "') }}") is True
    assert r("{{ 'a-b-c' | replace('-', '+', 1) }}") == "a+b-c"


# --- template_expressions ----------------------------------------------------------------


def test_template_expressions_in_order():
    value = {"a": ["x {{ one }} y {{ two }}", 3, {"k": "{{three}}"}], "b": "plain", "c": "{{ 'four }}' }}"}
    assert template_expressions(value) == ["one", "two", "three", "'four }}'"]
    assert template_expressions(5) == [] and template_expressions("no templates") == []


# --- check_template ----------------------------------------------------------------------

SCOPE = StaticScope(tasks={"fetch", "build"}, variables={"count", "items"}, parameters={"n"})


def messages(value, scope=SCOPE) -> list[str]:
    return [p.message for p in check_template(value, scope)]


def test_check_accepts_valid_templates():
    value = {
        "a": "{{ task.fetch.data.id + count }} {{ tasks['build'].exit_code }}",
        "b": ["{{ parameters.n }}", "{{ vars.items }}", "{{ length(workflow.count) > 0 and succeeded() }}"],
        "c": "{{ config.anything ~ system.execution_id }} {{ null }} {{ result().data.x }}",
        "d": "{{ tasks[parameters.n] }}",  # computed key: only checkable at run time
    }
    assert check_template(value, dataclasses.replace(SCOPE, allow_status=True)) == []


def test_status_functions_only_where_a_task_has_ended():
    """result(), succeeded(), ... in a task input or output_map would fail only at run time,
    after every task had run: refused at load instead."""
    for fn in ("result()", "succeeded()", "failed()", "timed_out()", "cancelled()"):
        assert messages(f"r={{{{ {fn} }}}}") == [
            f"{fn[:-2]}() is only available where a task has just ended: a transition's `when` or "
            "`publish`, or `retry.on_error`"]


def test_check_reports_each_kind_of_problem():
    assert messages("{{ 1 + }}") == ["syntax error: unexpected 'end of expression'"]
    assert messages("{{ x | nofilter }}") == ["unknown filter 'nofilter'"]
    assert messages("a {{ count") == ["no closing '}}' for '{{' (check quotes and brackets)"]
    assert messages("{{ nope(1) }}") == ["unknown function 'nope'"]
    assert messages("{{ count.upper() }}") == [
        "only named functions can be called, e.g. lower(x) rather than x.lower()"
    ]
    assert messages("{{ task.missing.id }}") == ["unknown task 'missing'"]
    assert messages("{{ tasks.missing }}") == ["unknown task 'missing'"]
    assert messages("{{ tasks['missing'] }}") == ["unknown task 'missing'"]
    assert messages("{{ undefined_name }}") == [
        "unknown name 'undefined_name': not a namespace, function or workflow variable"
    ]
    assert messages("{{ length }}") == ["'length' is a function: call it as length(...)"]
    assert messages("{{ item }} {{ index }}") == [
        "'item' is only defined in the input of a with_items task",
        "'index' is only defined in the input of a with_items task",
    ]
    assert messages("{{ parameters.other }}") == ["unknown parameter 'other'"]
    assert messages("{{ workflow.x }} {{ vars.y }} {{ variables['z'] }}") == [
        "unknown workflow variable 'x'",
        "unknown workflow variable 'y'",
        "unknown workflow variable 'z'",
    ]


def test_check_scope_switches():
    assert messages("{{ item.x + index }}", StaticScope(tasks=set(), variables=set(), allow_item=True)) == []
    assert messages("{{ parameters.anything }}", StaticScope(tasks=set(), variables=set())) == []


def test_check_problem_carries_expression_and_offset():
    problems = check_template("ab {{ count }} {{ nope }}", SCOPE)
    assert [(p.expression, p.offset) for p in problems] == [("nope", 15)]
    nested = check_template(["{{ ok }}", {"k": "{{ fetch }}"}], StaticScope(tasks=set(), variables={"ok"}))
    assert [(p.expression, p.offset) for p in nested] == [("fetch", 0)]


def test_check_reports_several_problems_of_one_expression_once_each():
    assert messages("{{ a + a + task.zz.x + task.zz.y }}") == [
        "unknown name 'a': not a namespace, function or workflow variable",
        "unknown task 'zz'",
    ]


# --- the forms real Attune workflows use (spec §6, issue 10) ------------------------------

PACKS = [{"pack_path": "/p/a", "n": 2}, {"pack_path": "/p/b", "n": 1}]


@pytest.mark.parametrize(
    "template, expected",
    [
        ("{{ 'success' if flag else 'failed' }}", "success"),
        ("{{ 'yes' if parameters.n > 5 else 'no' }}", "no"),
        ("{{ task.fetch.result.id }}", 7),  # task.<name>.result.<field> == task.<name>.<field>
        ("{{ task.fetch.result.data.items | length }}", 2),
        ("{{ v | length }}", 3),
        ("{{ v | length > 2 }}", True),
        ("{{ workflow.packs | map(attribute='pack_path') | list }}", ["/p/a", "/p/b"]),
        ("{{ workflow.packs | map(attribute='pack_path') | join(',') }}", "/p/a,/p/b"),
        ("{{ v | join('-') }}", "1-2-3"),
        ("{{ obj | tojson }}", '{"keys": 1, "a": {"b": 2}}'),
        ("{{ '<&>' | tojson }}", '"<&>"'),  # data, not HTML: no escaping
        ("{{ parameters.nope | default('d') }}", "d"),
        ("{{ parameters.none | default('d') }}", "d"),  # an optional parameter not given is null
        ("{{ '' | default('d', true) }}", "d"),
        ("{{ workflow.packs | sort(attribute='n') | map(attribute='n') | list }}", [1, 2]),
        ("{{ workflow.packs | selectattr('n', 'gt', 1) | list | length }}", 1),
        ("{{ v | reverse | list }}", [3, 2, 1]),
        ("{{ v | first }}-{{ v | last }}", "1-3"),
        ("{{ parameters.nope is defined }}", False),
        ("{{ v[9] | default(0) }}", 0),
        ("{{ inquiry.approve.response.approved }}", True),
    ],
)
def test_attune_expression_forms(template, expected):
    extra = dict(variables={**ctx().variables, "packs": PACKS},
                 parameters={"n": 3, "none": None}, inquiries={"approve": {"response": {"approved": True}}})
    assert r(template, **extra) == expected


def test_data_key_named_result_wins_over_the_alias():
    tasks = {"fibo": {"succeeded": True, "data": {"result": 55}, "result": 55}}
    assert r("{{ task.fibo.result }}", tasks=tasks) == 55


@pytest.mark.parametrize(
    "template, cause",
    [
        ("{{ parameters.nope }}", "no parameter 'nope'"),
        ("{{ parameters.nope + 1 }}", "no parameter 'nope'"),
        ("{{ length(parameters.nope) }}", "no parameter 'nope'"),
        ("{{ parameters.nope == 1 }}", "no parameter 'nope'"),
        ("{{ 'x' in parameters.nope }}", "no parameter 'nope'"),
        ("{{ parameters.nope | length }}", "no parameter 'nope'"),
        ("{{ task.fetch.result.nope.x }}", "task 'fetch' result has no key 'nope'"),
        ("{{ v | lenght }}", "unknown filter 'lenght'"),
        ("{{ v | center(1000000000) }}", "unknown filter 'center'"),
        ("{{ v | batch(1000000000, 0) }}", "unknown filter 'batch'"),
        ("{{ v is oddly }}", "unknown test 'oddly'"),
        ("{{ inquiry.approve.response }}", "no inquiry response for task 'approve'"),
        ("{{ now() }}", "now() is only available while a workflow runs"),
        ("{{ uuid() }}", "uuid() is only available while a workflow runs"),
    ],
)
def test_missing_values_fail_when_used_not_when_looked_up(template, cause):
    """Only `| default` and `is defined` may look at a missing value; everything else names it."""
    fails(template, cause)


def test_now_and_uuid_call_the_host_sources_each_time():
    from datetime import UTC, datetime

    calls = iter(["u1", "u2"])
    c = ctx(clock=lambda: datetime(2024, 5, 1, 12, tzinfo=UTC), uuid=lambda: next(calls))
    assert render({"at": "{{ now() }}", "a": "{{ uuid() }}", "b": "id-{{ uuid() }}"}, c) == {
        "at": "2024-05-01T12:00:00+00:00", "a": "u1", "b": "id-u2"}


def test_output_map_mode_reads_a_task_that_never_ran_as_null():
    c = ctx(not_run_is_null=True)
    assert render({"a": "{{ task.later.result.x }}", "b": "[{{ task.later }}]",
                   "c": "{{ task.later.x | default(5) }}", "d": "{{ task.later == null }}",
                   "e": "{{ task.fetch.id }}"}, c) == {"a": None, "b": "[]", "c": 5, "d": True, "e": 7}
    with pytest.raises(ExpressionError, match="cannot apply"):
        render("{{ task.later.x + 1 }}", c)


def test_tests_see_a_task_that_never_ran_as_null():
    """`is none` is how many templates ask whether a branch ran: Jinja's own test saw an
    undefined value there and said false. Other tests read null as null; `defined` still
    tells a task that never ran from one that did."""
    c = ctx(not_run_is_null=True)
    assert render({"a": "{{ task.later is none }}", "b": "{{ task.later is not none }}",
                   "c": "{{ task.later.result.x is none }}", "d": "{{ task.fetch is none }}",
                   "e": "{{ task.later is sequence }}", "f": "{{ task.later is string }}",
                   "g": "{{ task.later is defined }}", "h": "{{ task.fetch.id is number }}",
                   "i": "{{ task.later is sameas none }}"}, c) == {
        "a": True, "b": False, "c": True, "d": False, "e": False, "f": False, "g": False,
        "h": True, "i": True}
    # A missing name is what Jinja's tests make of it: `is string` asks whether it was set.
    assert render({"a": "{{ nope is string }}", "b": "{{ nope is defined }}"}, c) == {"a": False, "b": False}


def test_check_knows_filters_inquiry_and_host_functions():
    scope = StaticScope(tasks={"fetch", "approve"}, variables=set(), inquiry_tasks={"approve"})
    plain = StaticScope(tasks=set(), variables={"v"})
    assert messages("{{ now() }} {{ uuid() }} {{ v | length }}", plain) == []
    assert messages("{{ inquiry.approve.response.ok }}", scope) == []
    assert messages("{{ inquiry.fetch.response }}", scope) == [
        "task 'fetch' has no `wait_for: {inquiry: ...}`, so inquiry.fetch is never set"]
    assert messages("{{ inquiry.nope.response }}", scope) == ["unknown task 'nope'"]
    assert messages("{{ task.fetch.result.x | lenght }}", scope) == ["unknown filter 'lenght'"]


def test_check_counts_the_arguments_of_functions_and_filters():
    """`length(a, b)` passed the load and failed the run once it got there."""
    plain = StaticScope(tasks=set(), variables={"v"})
    fine = ("{{ length(v) }} {{ v | join(',') }} {{ v | map(attribute='a') | list }} {{ v | round(1, 'floor') }}"
            " {{ v | sort(reverse=true) }} {{ v | truncate(2) }} {{ v | groupby('a') }} {{ now() }}")
    assert messages(fine, plain) == []
    assert messages("{{ length(v, 2) }}", plain) == ["length(): too many arguments"]
    assert messages("{{ length() }}", plain) == ["length(): missing a required argument: 'value'"]
    assert messages("{{ v | default(1, true, 3) }}", plain) == ["filter 'default': too many arguments"]
    assert messages("{{ v | round(bogus=1) }}", plain) == ["filter 'round': got an unexpected keyword argument 'bogus'"]
    assert messages("{{ uuid(1) }}", plain) == ["uuid(): too many arguments"]


def test_check_refuses_secrets_anywhere_but_whole():
    scope = StaticScope(tasks=set(), variables={"held"}, parameters={"token"},
                        secret_parameters={"token"}, secret_variables={"held"})
    passing = StaticScope(**{**scope.__dict__, "pass_secrets": True})
    assert messages("{{ parameters.token }}", passing) == []
    assert messages("{{ workflow.held }}", passing) == []
    for text in ("{{ parameters.token == 'x' }}", "t={{ parameters.token }}",
                 "{{ parameters['token'] | length }}", "{{ vars.held ~ '' }}"):
        assert len(messages(text, passing)) == 1 and "can only be passed whole" in messages(text, passing)[0]
    assert "can only be passed whole" in messages("{{ parameters.token }}", scope)[0]  # a condition


# --- values a person or the records can read ---------------------------------------------


@pytest.mark.parametrize("src, text", [
    ("'x' ~ true ~ null ~ [1, null] ~ {'k': 'ü'}", 'xtrue[1, null]{"k": "ü"}'),
    ("null | upper", ""),
    ("[1, null] | upper", "[1, NULL]"),
    ("true | capitalize", "True"),
    ("'hello world foo' | truncate(9, true, '...', 0)", "hello ..."),
])
def test_text_is_this_languages_not_pythons(src, text):
    """`~` and the string filters used Python's str(): 'xTrue', 'xNone', "{'k': 1}"."""
    assert r("{{ " + src + " }}") == text


@pytest.mark.parametrize("src, cause", [
    ("1e308 * 10", "the result is not a finite number (inf)"),
    ("(1e308 * 10) - (1e308 * 10)", "the result is not a finite number"),
    ("(10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000) * (10 ** 1000)",
     "the result has more than 4,000 digits (the limit)"),
    ("(" * 80 + "1" + ")" * 80, "the expression is too long or nested too deeply to parse"),
])
def test_numbers_no_reader_could_hold_and_expressions_too_deep_fail_naming_why(src, cause):
    fails("{{ " + src + " }}", cause)
    assert r("{{ 10 ** 400 }}") == 10**400  # big, but data


def test_a_secret_never_becomes_text():
    sealed = {"__attune_secret__": "gAAAA-token"}
    for src in ("config | tojson", "config.password | upper", "config.password ~ ''", "'p=' ~ config"):
        fails("{{ " + src + " }}", "can only be passed whole to a task input", config={"password": sealed})
    assert r("p={{ parameters }}", parameters={}) == "p={}"
    assert r("{{ config.password }}", config={"password": sealed}) == sealed  # passed on whole


def test_statements_are_refused_at_load_not_kept_as_text():
    assert messages("{% if parameters.n > 3 %}big{% endif %}") == [
        "statements ({% ... %}) are not part of this language, only {{ }} expressions: write a "
        "condition as {{ 'big' if x > 3 else 'small' }} and a loop as with_items"]
    assert messages("100% {of it}") == []


@pytest.mark.parametrize("src, cause", [
    ('"\\ud800"', "a string literal holds \\ud800, which is not valid Unicode text"),
    ("not " * 300 + "true", "the expression is too long or nested too deeply to parse"),
    # no bracket at all: a long chain of operators nests as deeply (it blamed brackets)
    ("+".join(["1"] * 500), "too long or nested too deeply to parse (keep it under about 50 levels "
                            "of brackets and about 200 operators in a row"),
    ("'nan' | float", "the value is not a finite number (nan)"),
    ("int('1' ~ ('0' * 4000))", "the result has more than 4,000 digits (the limit)"),
])
def test_what_no_record_could_hold_fails_where_it_is_made(src, cause):
    fails("{{ " + src + " }}", cause)
    assert len(str(r("{{ int('1' ~ ('0' * 3999)) }}"))) == 4000


def test_groupby_groups_read_as_jinjas_docs_read_them():
    """`g.grouper` and `map(attribute='grouper')` failed: a group was an array here."""
    rows = [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}]
    assert r("{{ rows | groupby('k') | map(attribute='grouper') | list }}", variables={"rows": rows}) == ["a", "b"]
    assert r("{{ (rows | groupby('k'))[0].list | map(attribute='v') | list }}", variables={"rows": rows}) == [1, 3]
    assert r("{{ rows | groupby('k') | tojson }}", variables={"rows": rows}).startswith('[{"grouper": "a", "list": [')


def test_urlencode_reads_this_languages_text():
    """`null | urlencode` was "None", `{b: null}` gave b=None, and a list that is not pairs
    failed with Python's "cannot unpack non-iterable int object"."""
    values = {"n": None, "d": {"a": 1, "b": None, "c c": "x&y", "t": True}, "l": [1, "x"]}
    assert r("{{ n | urlencode }}", variables=values) == ""
    assert r("{{ d | urlencode }}", variables=values) == "a=1&b=&c+c=x%26y&t=true"
    assert r("{{ 'a b/c' | urlencode }}", variables=values) == "a%20b/c"
    with pytest.raises(ExpressionError, match=r"urlencode needs text, an object or a list of \[key, value\] pairs"):
        r("{{ l | urlencode }}", variables=values)


def test_text_built_past_the_limit_fails_naming_it():
    """A loop doubling a variable (`v ~ v`) reached 100 MB: the orchestrator's workflow task
    outlasted Temporal's deadlock detector and the run failed with no word of the limit."""
    big = {"v": "x" * 9_000_000}
    assert len(r("{{ workflow.v ~ 'y' }}", variables=big)) == 9_000_001
    fails("{{ workflow.v ~ workflow.v }}", "it builds text of 18,000,000 characters, over the limit of "
          "16,000,000", variables=big)
    fails("{{ [workflow.v + workflow.v] }}", "over the limit of 16,000,000", variables=big)  # inside a list
    fails("a{{ workflow.v }}{{ workflow.v }}", "over the limit of 16,000,000", variables=big)  # joined parts
