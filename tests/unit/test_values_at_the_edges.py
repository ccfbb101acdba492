"""Values where they enter and leave: numbers that are not finite in an action's output and on the
CLI's command line, integral floats for integer parameters, and what the CLI prints of text an
action or a user wrote (control characters and bidirectional-text controls)."""

from __future__ import annotations

import io
import json
import sys

import pytest
import typer
import yaml
from rich.text import Text

from attune.cli.commands import parse_params
from attune.cli.output import _Console, as_json, as_yaml, make_console, print_table, visible
from attune.packs.models import Action, ParameterSpec
from attune.packs.parameters import integers_as_declared, validate_parameters
from attune.runtimes import run_process
from attune.runtimes.safety import loads_json, non_finite
from tests.unit.test_runtimes import make_pack, process_pool, request  # noqa: F401 - process_pool: pooled and plain

# ---- an action's output ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, stdout, says", [
    # Python's json.dumps writes NaN and Infinity by default; a float past 1.8e308 reads as one.
    ("json", '{"ok": 1, "nan": NaN, "inf": Infinity}', "'nan' is NaN: not a finite number"),
    ("json", '{"a": 1e400}', "'a' is Infinity: not a finite number"),
    ("jsonl", '{"a": 1}\n{"b": [1, -Infinity]}', "'[1].b[1]' is -Infinity: not a finite number"),
    ("yaml", "a: 1\nb: {c: .inf}\n", "'b.c' is .inf: not a finite number"),
    ("yaml", "- .nan\n", "'[0]' is .nan: not a finite number"),
])
async def test_output_with_a_number_that_is_not_finite_is_a_parse_error_naming_where(tmp_path, fmt, stdout, says):
    """Such data was passed on as null. It is reported as any output that does not parse: exit 0
    succeeds, stdout is kept as text, `parse_error` says where and why (spec §7)."""
    pack = make_pack(tmp_path, {"actions/out.py": f"import sys\nsys.stdout.write({stdout!r})\n"})
    res = await run_process(request(pack, "out.py", output_format=fmt))
    assert res.succeeded and res.data is None and res.stdout == stdout, res
    assert res.parse_error.startswith(f"could not parse stdout as {fmt}: ")
    assert says in res.parse_error and "write null, a finite number or a string instead" in res.parse_error
    if fmt == "json" and "nan" in stdout:
        assert "1 more such number(s)" in res.parse_error


async def test_finite_output_still_parses(tmp_path):
    pack = make_pack(tmp_path, {"actions/out.py": "print('{\"a\": 1.5e300, \"b\": -0.0, \"c\": \"NaN\"}')\n"})
    res = await run_process(request(pack, "out.py", output_format="json"))
    assert res.data == {"a": 1.5e300, "b": -0.0, "c": "NaN"} and res.parse_error is None


# ---- the command line --------------------------------------------------------------------------------

SCHEMA = {"n": "integer", "ratio": "number", "hosts": "array"}


@pytest.mark.parametrize("pairs, params_json, option, says", [
    ([], '{"n": NaN}', "--params-json", "parameter 'n' is NaN: not a finite number"),
    ([], '{"n": 1e999}', "--params-json", "parameter 'n' is 1e999, beyond the ±1.8e308 a 64-bit float holds"),
    ([], '{"o": {"x": [1, -Infinity]}}', "--params-json", "parameter 'o.x[1]' is -Infinity"),
    ([], '{"ratio": Infinity}', "--response-json", "parameter 'ratio' is Infinity"),
    (["other=NaN"], None, "--params-json", "parameter 'other' is NaN"),  # undeclared: read as JSON
    (["hosts=[1, NaN]"], None, "--params-json", "parameter 'hosts[1]' is NaN"),
])
def test_a_number_that_is_not_finite_on_the_command_line_is_a_usage_error(pairs, params_json, option, says, capsys):
    """It was a traceback (`Out of range float values are not JSON compliant`), exit 1."""
    with pytest.raises(typer.Exit) as exit_info:
        parse_params(pairs, params_json, lambda: SCHEMA, option=option)
    assert exit_info.value.exit_code == 2
    assert says in " ".join(capsys.readouterr().err.split())


def test_finite_json_on_the_command_line_is_unchanged():
    assert parse_params([], '{"n": 1e2, "r": 2.5, "s": "NaN"}') == {"n": 100.0, "r": 2.5, "s": "NaN"}


# ---- integers -----------------------------------------------------------------------------------------

def test_integral_floats_become_integers_where_the_schema_declares_integers():
    schema = {"type": "object", "properties": {
        "i": {"type": "integer"}, "n": {"type": "number"}, "either": {"type": ["integer", "null"]},
        "list": {"type": "array", "items": {"type": "integer"}},
        "obj": {"type": "object", "properties": {"k": {"type": "integer"}}, "additionalProperties": {"type": "integer"}},
    }}
    value = {"i": 1e2, "n": 2.0, "either": 3.0, "list": [1.0, 2.5], "obj": {"k": 4.0, "other": 5.0}, "free": 6.0}
    out = integers_as_declared(schema, value)
    assert out == {"i": 100, "n": 2.0, "either": 3, "list": [1, 2.5], "obj": {"k": 4, "other": 5}, "free": 6.0}
    assert [type(out[k]) for k in ("i", "n", "either", "free")] == [int, float, int, float]
    assert type(out["list"][0]) is int and type(out["obj"]["other"]) is int


def test_a_workflow_tasks_integral_number_reaches_an_integer_parameter_as_an_integer():
    """The engine checks a task's input with validate_parameters (`{{ 2.5 * 2 }}` is 5.0): the
    action gets 5, as from a request, an answer or the CLI, with its undeclared keys as given."""
    action = Action(ref="p.a", pack_ref="p", runner="python", entry_point="a.py",
                    parameters={"n": ParameterSpec(type="integer"), "x": ParameterSpec(type="number")})
    params, problems = validate_parameters(action, {"n": 5.0, "x": 5.0, "extra": 5.0}, allow_unknown=True)
    assert problems == [] and params == {"n": 5, "x": 5.0, "extra": 5.0}
    assert [type(params[k]) for k in ("n", "x", "extra")] == [int, float, float]
    assert validate_parameters(action, {"n": 2.5})[1]  # not integral: refused as before


def test_non_finite_names_each_number_as_written():
    assert non_finite(loads_json('{"a": [NaN, {"b": 1e999}], "c": -Infinity, "d": 1.0}')) == [
        ("a[0]", "NaN"), ("a[1].b", "1e999"), ("c", "-Infinity")]
    assert non_finite(float("inf")) == [("", "inf")]
    deep = loads_json("[" * 5000 + "NaN" + "]" * 5000) if sys.getrecursionlimit() > 6000 else None
    if deep is not None:
        assert len(non_finite(deep)) == 1


# ---- what the CLI prints --------------------------------------------------------------------------

HOSTILE = "a\x1b]0;TITLE\x07\x1b[2J\x1b[31mred\r\x08\u202eevil\u2066x\x7f\x85\u200f données\ttab\nline"


def test_visible_escapes_control_and_bidi_characters_only():
    assert visible(HOSTILE) == ("a<U+001B>]0;TITLE<U+0007><U+001B>[2J<U+001B>[31mred<U+000D><U+0008><U+202E>evil"
                                "<U+2066>x<U+007F><U+0085><U+200F> données\ttab\nline")
    assert visible("plain ✓") == "plain ✓"


def test_json_and_yaml_carry_the_same_text_in_their_own_escapes():
    data = {"k\u202e": HOSTILE, "n": [1, "données"]}
    for text, load in ((as_json(data, indent=2), json.loads), (as_yaml(data), yaml.safe_load)):
        assert load(text) == data
        assert not any(ch in text for ch in "\x1b\x07\x7f\x85\u202e\u2066\u200f\r\x08"), text
    assert "données" in as_json(data) and "données" in as_yaml({"n": "données"})


def test_the_consoles_print_text_visible_and_keep_its_styles():
    console = make_console()
    console.file = io.StringIO()
    console.print(Text.assemble(("bold\x1b[31m", "bold"), f" {HOSTILE} ", ("red\u202e", "red")))
    console.print(f"plain {HOSTILE}")
    print_table(console, [{"prompt": HOSTILE, "status": "pending\x1b[2J"}], ["prompt", "status"])
    out = console.file.getvalue()
    assert not any(ch in out for ch in "\x1b\x07\x7f\x85\u202e\u2066\u200f\r\x08"), out
    assert "bold<U+001B>[31m" in out and "red<U+202E>" in out and "pending<U+001B>[2J" in out
    styled = _Console(file=io.StringIO(), force_terminal=True, color_system="standard", markup=False)
    styled.print(Text.assemble(("x\x1b[2J", "bold"), " y"))
    assert "\x1b[1mx<U+001B>[2J\x1b[0m y" in styled.file.getvalue()  # the style is Rich's, the ESC shown
