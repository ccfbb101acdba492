"""Parameters with nested schemas (QA 53): defaults inside objects and array items are filled
in before validation, a secret member makes its parameter secret, a number secret is masked in
parsed output, and problem paths tell a dotted name from a member."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import typer

from attune.cli.commands import parse_params
from attune.packs.loader import load_pack
from attune.packs.models import Action
from attune.packs.parameters import apply_defaults, data_problems, validate_parameters
from attune.packs.problems import PackError, dotted, first_name
from attune.problems import Problem, at_path, under
from attune.runtimes.output import ParameterFormatError, encode_parameters
from attune.secrets import REDACTED, SEALED, mask, redact

RICH = """
ref: t.rich
runner_type: python
entry_point: x.py
parameters:
  server:
    type: object
    required: true
    properties:
      host: {type: string, required: true}
      port: {type: integer, default: 8080, required: true}
      tls:
        type: object
        default: {}
        properties:
          enabled: {type: boolean, default: true}
          mode: {enum: [strict, lax], default: strict}
        required: [mode]
  targets:
    type: array
    items:
      type: object
      properties: {name: {type: string}, weight: {type: number, default: 0.5}}
      required: [name, weight]
  creds:
    type: object
    properties:
      user: {type: string}
      password: {type: string, secret: true}
  keys: {type: array, items: {type: object, properties: {k: {type: string, secret: true}}}}
  count: {type: integer, minimum: 1, maximum: 10}
  ratio: {type: number, minimum: 0.5}
"""


def write_pack(root: Path, **actions: str) -> Path:
    (root / "actions").mkdir(parents=True)
    (root / "pack.yaml").write_text('ref: t\nlabel: t\nversion: "1.0"\n')
    (root / "actions" / "x.py").write_text("print('{}')\n")
    for name, text in actions.items():
        (root / "actions" / f"{name}.yaml").write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def rich(tmp_path: Path) -> Action:
    return load_pack(write_pack(tmp_path, rich=RICH)).actions["t.rich"]


def load_problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PackError) as info:
        load_pack(write_pack(tmp_path, bad=text))
    return [f"{Path(p.file or '').name}:{p.line}:{p.column}: {p.message}" for p in info.value.problems]


def python_action(ref: str, parameters: str) -> str:
    """A python action's YAML with these `parameters:` (from line 6, indented 2)."""
    head = f"\nref: {ref}\nrunner_type: python\nentry_point: x.py\nparameters:\n"
    return head + textwrap.indent(textwrap.dedent(parameters).lstrip("\n"), "  ")


def parameter_problems(tmp_path: Path, parameters: str) -> list[str]:
    return load_problems(tmp_path, python_action("t.bad", parameters))


# --- 1. defaults inside a parameter ---------------------------------------------------------------

def test_defaults_inside_objects_and_array_items_are_filled_before_validation(rich: Action) -> None:
    params, problems = validate_parameters(rich, {"server": {"host": "h"}, "targets": [{"name": "x"}]})
    # port and tls.mode are required and have defaults: left out, they are not refused.
    assert problems == []
    assert params == {"server": {"host": "h", "port": 8080, "tls": {"enabled": True, "mode": "strict"}},
                      "targets": [{"name": "x", "weight": 0.5}]}


def test_given_values_win_and_null_is_not_given(rich: Action) -> None:
    given = {"server": {"host": "h", "port": 9, "tls": {"enabled": False, "mode": None}},
             "targets": [{"name": "x", "weight": 1}, None]}
    params = apply_defaults(rich, given)
    assert params["server"] == {"host": "h", "port": 9, "tls": {"enabled": False, "mode": "strict"}}
    assert params["targets"] == [{"name": "x", "weight": 1}, None]  # a null element is an element
    assert given["server"]["tls"] == {"enabled": False, "mode": None}  # the input is kept as is


def test_defaults_are_copies_and_sealed_values_are_left_whole(rich: Action) -> None:
    first = apply_defaults(rich, {"server": {"host": "h"}})
    first["server"]["tls"]["mode"] = "lax"
    assert apply_defaults(rich, {"server": {"host": "h"}})["server"]["tls"]["mode"] == "strict"
    sealed = {SEALED: "token"}
    assert apply_defaults(rich, {"server": sealed})["server"] == sealed


def test_a_workflow_asks_its_patch_only_when_nested_defaults_change_a_value(rich: Action) -> None:
    asked: list[bool] = []

    def patched(answer: bool) -> bool:
        asked.append(answer)
        return answer

    done = {"server": {"host": "h", "port": 1, "tls": {"enabled": True, "mode": "lax"}}}
    assert apply_defaults(rich, done, nested=lambda: patched(True)) == done and asked == []
    assert apply_defaults(rich, {"server": {"host": "h"}}, nested=lambda: patched(False)) == {
        "server": {"host": "h"}}  # a run from before the change replays as it was
    _, problems = validate_parameters(rich, {"server": {"host": "h"}}, nested=lambda: patched(False))
    assert [p.path for p in problems] == ["server.port"] and asked == [False, False]


def test_a_member_default_that_does_not_fit_its_schema_is_a_load_error(tmp_path: Path) -> None:
    problems = parameter_problems(tmp_path, """
          server:
            type: object
            properties:
              port: {type: integer, default: "eighty"}
    """)
    assert problems == ["bad.yaml:9:38: parameter 'server': properties.port: default \"eighty\" is not "
                        "of type integer"]


def test_a_default_is_checked_with_its_members_defaults_filled_in(rich: Action) -> None:
    # tls: {default: {}} with `required: [mode]` loaded: {} gets mode's default first.
    assert apply_defaults(rich, {"server": {"host": "h"}})["server"]["tls"]["mode"] == "strict"


# --- 2. a secret member ----------------------------------------------------------------------------

def test_a_secret_member_makes_its_parameter_secret(rich: Action) -> None:
    assert rich.secret_names() == {"creds", "keys"}
    assert rich.parameters["creds"].secret is True
    # The schema is kept as written (GET /actions shows it).
    assert rich.parameters["creds"].model_extra["properties"]["password"]["secret"] is True
    shown = redact({"creds": {"user": "u", "password": "pw"}, "keys": [{"k": "x"}], "count": 2},
                   rich.secret_names())
    assert shown == {"creds": REDACTED, "keys": REDACTED, "count": 2}


def test_a_bad_value_of_a_secret_member_is_not_echoed(rich: Action) -> None:
    _, problems = validate_parameters(rich, {"server": {"host": "h"}, "creds": {"password": 123456789}})
    assert [str(p) for p in problems] == ["creds.password: invalid value: fails 'type' constraint"]


def test_a_secret_member_takes_no_default_of_its_own(tmp_path: Path) -> None:
    problems = parameter_problems(tmp_path, """
          creds:
            type: object
            properties:
              password: {type: string, secret: true, default: hunter22}
              token: {type: string, secret: yes-please}
    """)
    assert any(p.startswith("bad.yaml:9:") and "properties.password: a secret member takes no "
               "default of its own" in p for p in problems), problems
    assert any(p.startswith("bad.yaml:10:") and "'secret' must be true or false" in p
               for p in problems), problems


# --- 3. a number secret in parsed output ----------------------------------------------------------

def test_a_number_secret_is_masked_in_parsed_data_but_short_ones_and_booleans_are_not() -> None:
    data = {"params": {"secret_num": 123456, "as_float": 123456.0, "other": 12345, "pin": 42,
                       "flag": True, "text": "pin=123456"}}
    assert mask(data, [123456, 42, True]) == {"params": {
        "secret_num": REDACTED, "as_float": REDACTED, "other": 12345, "pin": 42, "flag": True,
        "text": f"pin={REDACTED}"}}
    # A PIN given as text and printed back as a number.
    assert mask([98765, 1], ["98765"]) == [REDACTED, 1]


# --- 4. problem paths -----------------------------------------------------------------------------

def test_a_missing_member_is_reported_at_its_own_path(tmp_path: Path) -> None:
    action = load_pack(write_pack(tmp_path, a=python_action("t.a", """
          config:
            type: object
            properties:
              meta:
                type: object
                properties: {owner: {type: string, required: true}}
            required: [meta]
    """))).actions["t.a"]
    _, problems = validate_parameters(action, {"config": {"meta": {}}})
    assert [str(p) for p in problems] == ["config.meta.owner: required property 'owner' is missing"]
    _, problems = validate_parameters(action, {"config": {}})
    assert [str(p) for p in problems] == ["config.meta: required property 'meta' is missing"]


def test_a_dotted_name_and_a_member_have_different_paths(tmp_path: Path) -> None:
    action = load_pack(write_pack(tmp_path, d=python_action("t.d", """
          "db.host": {type: string, pattern: "^[a-z]+$"}
          db: {type: object, properties: {host: {type: string, maxLength: 2}}}
          "ünï": {type: array, items: {type: integer}}
          "needed.one": {type: string, required: true}
    """))).actions["t.d"]
    _, problems = validate_parameters(action, {"db.host": "1", "db": {"host": "abc"}, "ünï": [1, "x"]})
    paths = {p.path for p in under("parameters", problems)}
    assert paths == {'parameters["db.host"]', "parameters.db.host", 'parameters["ünï"][1]',
                     'parameters["needed.one"]'}


def test_one_formatter_for_every_path() -> None:
    assert dotted(["tasks", 0, "next", 1, "when"]) == "tasks[0].next[1].when"
    assert dotted(["parameters", "db.host", "pattern"]) == 'parameters["db.host"].pattern'
    assert dotted(["a-b", "_c", "say \"hi\""]) == 'a-b._c["say \\"hi\\""]'
    assert [first_name(p) for p in ('["db.host"].x', "db.host[0]", "db")] == ["db.host", "db", "db"]
    assert under("parameters", [at_path('["a.b"]', "m"), at_path("c[0]", "m")]) == [
        Problem(None, None, None, "m", 'parameters["a.b"]'), Problem(None, None, None, "m", "parameters.c[0]")]
    assert [p.path for p in data_problems({"a.b": ["\ud800"]})] == ['["a.b"][0]']


def test_a_pack_problem_names_a_dotted_parameter_quoted(tmp_path: Path) -> None:
    problems = parameter_problems(tmp_path, """
          "db.host": {type: string, minLength: "two"}
    """)
    with pytest.raises(PackError) as info:
        load_pack(tmp_path)
    assert [p.path for p in info.value.problems] == ['parameters["db.host"].minLength'], problems


def test_a_dotted_key_on_the_command_line_is_not_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        parse_params(["server.host=1"], None, lambda: {"server": "object"})
    err = capsys.readouterr().err.replace("\n", " ")
    assert ("unknown parameter 'server.host': a dotted key is not a path into object parameter "
            "'server'; give the object as JSON, server='{\"host\": ...}', or use --params-json") in err
    assert parse_params(["db.host=x"], None, lambda: {"db.host": "string", "db": "object"}) == {"db.host": "x"}


def test_the_api_says_so_too(rich: Action) -> None:
    _, problems = validate_parameters(rich, {"server": {"host": "h"}, "server.port": 1})
    assert [str(p) for p in problems] == [
        "[\"server.port\"]: unknown parameter 'server.port': a dotted name is not a path into object "
        "parameter 'server'; give server as an object ({\"port\": ...})"]


# --- 5. dotenv lines ------------------------------------------------------------------------------

def test_dotenv_refuses_a_name_that_is_also_a_member_line(tmp_path: Path) -> None:
    problems = load_problems(tmp_path, """
        ref: t.bad
        runner_type: shell
        entry_point: x.py
        parameter_format: dotenv
        parameters:
          opts: {type: object, properties: {label: {type: string}}}
          "opts.label": {type: string}
    """)
    assert problems == ["bad.yaml:8:3: member 'label' of object parameter 'opts' and parameter "
                        "'opts.label' are both written as the dotenv line `opts.label=...` "
                        "(parameter_format: dotenv): rename one, or use parameter_format json or yaml"]


# --- 6. integer bounds ----------------------------------------------------------------------------

def test_an_integer_bound_stays_an_integer(rich: Action) -> None:
    shown = rich.parameters["count"].model_dump()
    assert (shown["minimum"], shown["maximum"]) == (1, 10)
    assert type(shown["minimum"]) is int and type(rich.parameters["ratio"].minimum) is float


# --- verification pass (QA 61) ---------------------------------------------------------------------

REFS = """
    ref: t.refs
    runner_type: python
    entry_point: x.py
    parameters:
      r: {type: object, $defs: {thing: {type: object, properties: {v: {type: integer}}}},
          properties: {t: {$ref: "#/$defs/thing"}}}
      s: {type: object, properties: {self: {$ref: "#"}, n: {type: integer}}}
"""


def test_a_ref_points_into_its_own_parameter(tmp_path: Path) -> None:
    """`#` meant the object of all parameters: a 500 (PointerToNowhere) or the wrong schema."""
    refs = load_pack(write_pack(tmp_path, refs=REFS)).actions["t.refs"]
    _, problems = validate_parameters(refs, {"r": {"t": {"v": "x"}}, "s": {"self": {"n": "y", "self": {}}}})
    assert [str(p) for p in problems] == ['r.t.v: "x" is not of type integer',
                                          's.self.n: "y" is not of type integer']
    assert validate_parameters(refs, {"r": {"t": {"v": 1}}, "s": {"self": {"self": {"n": 2}}}})[1] == []


def test_a_ref_that_points_nowhere_in_its_parameter_is_a_load_error(tmp_path: Path) -> None:
    problems = parameter_problems(tmp_path, """
          bad: {type: object, properties: {t: {$ref: "#/$defs/nope"}}}
          far: {type: object, properties: {t: {$ref: "https://example.com/x.json"}}}
    """)
    rest = ("does not point into this parameter's schema (write '#' for the parameter itself or "
            "'#/$defs/NAME' for one of its $defs; nothing is fetched from elsewhere)")
    assert problems == [f"bad.yaml:6:46: parameter 'bad': $ref '#/$defs/nope' {rest}",
                        f"bad.yaml:7:46: parameter 'far': $ref 'https://example.com/x.json' {rest}"]


def test_a_null_member_without_a_default_is_not_given(rich: Action) -> None:
    """README: a member given as null counts as not given; without a default it was refused."""
    params, problems = validate_parameters(rich, {"server": {"host": "h", "tls": {"enabled": None}}})
    assert problems == [] and params["server"]["tls"] == {"enabled": True, "mode": "strict"}
    _, problems = validate_parameters(rich, {"server": {"host": None}})
    assert [str(p) for p in problems] == ["server.host: required property 'host' is missing"]


def test_a_deeper_dotted_key_gets_the_nested_json_it_meant(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        parse_params(["server.tls.mode=x"], None, lambda: {"server": "object"})
    err = capsys.readouterr().err.replace("\n", " ")
    assert "server='{\"tls\": {\"mode\": ...}}'" in err


def test_dotenv_refuses_two_values_for_one_line() -> None:
    """A free-form object's member and a parameter of the same dotted name: both were written."""
    with pytest.raises(ParameterFormatError, match="two values would be written as the dotenv line 'opts.label'"):
        encode_parameters({"opts.label": "a", "opts": {"label": "b"}}, "dotenv")
