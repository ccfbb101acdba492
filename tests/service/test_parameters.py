"""Parameter validation against the flat schema: every problem, defaults, secret redaction."""

from __future__ import annotations

from cryptography.fernet import Fernet

from attune.packs.models import Action, ParameterSpec
from attune.packs.parameters import to_json_schema, validate_parameters
from attune.secrets import REDACTED, redact, seal_parameters

ACTION = Action(
    ref="svc.echo", pack_ref="svc", runner="shell", entry_point="echo.sh",
    parameters={
        "message": ParameterSpec(type="string", required=True),
        "times": ParameterSpec(type="integer", default=1, minimum=1, maximum=5),
        "mode": ParameterSpec(type="string", enum=["plain", "loud"], default="plain"),
        "tags": ParameterSpec(type="array", items={"type": "string"}),
        "ratio": ParameterSpec(type="number"),
        "flag": ParameterSpec(type="boolean"),
        "token": ParameterSpec(type="string", secret=True),
    },
)


def test_defaults_are_applied_and_valid_input_has_no_problems() -> None:
    params, problems = validate_parameters(ACTION, {"message": "hi"})
    assert problems == []
    assert params == {"message": "hi", "times": 1, "mode": "plain"}


def test_given_values_win_over_defaults() -> None:
    params, problems = validate_parameters(ACTION, {"message": "hi", "times": 3, "mode": "loud"})
    assert problems == [] and params["times"] == 3 and params["mode"] == "loud"


def test_every_problem_is_listed_with_its_path() -> None:
    _, problems = validate_parameters(ACTION, {
        "times": 9, "mode": "shout", "tags": ["ok", 3], "ratio": "x", "flag": "yes", "bogus": 1,
    })
    paths = sorted(p.path for p in problems)
    assert paths == ["bogus", "flag", "message", "mode", "ratio", "tags[1]", "times"]
    by_path = {p.path: p.message for p in problems}
    assert "required" in by_path["message"]
    assert "unknown parameter" in by_path["bogus"]
    assert "5" in by_path["times"]


def test_booleans_are_not_integers() -> None:
    _, problems = validate_parameters(ACTION, {"message": "m", "times": True})
    assert [p.path for p in problems] == ["times"]


def test_a_bad_secret_value_is_not_echoed_in_the_problem() -> None:
    _, problems = validate_parameters(ACTION, {"message": "m", "token": 12345})
    assert problems and problems[0].path == "token"
    assert "12345" not in problems[0].message


def test_non_object_parameters_are_one_problem() -> None:
    _, problems = validate_parameters(ACTION, ["not", "a", "map"])  # type: ignore[arg-type]
    assert [p.detail() for p in problems] == [{"path": "parameters", "message": "parameters must be an object"}]


def test_redact_replaces_only_secret_values() -> None:
    secret = ACTION.secret_names()
    assert redact({"message": "hi", "token": "s3cr3t"}, secret) == {"message": "hi", "token": REDACTED}
    assert redact({"message": "hi"}, secret) == {"message": "hi"}
    assert redact({"token": "x"}) == {"token": "x"}
    sealed = seal_parameters({"token": "s3cr3t"}, {"token"}, Fernet.generate_key())
    assert redact({"passed_on": sealed["token"], "list": [sealed["token"]]}) == {
        "passed_on": REDACTED, "list": [REDACTED]}


def test_json_schema_translation() -> None:
    schema = to_json_schema(ACTION.parameters)
    assert schema["required"] == ["message"]
    assert schema["properties"]["times"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert schema["properties"]["tags"]["items"] == {"type": "string"}
    assert schema["additionalProperties"] is False


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_text_that_is_not_unicode_is_refused_naming_the_field() -> None:
    """A JSON `\\ud800` escape (or a command line's undecodable byte) cannot travel through
    Temporal or into the records: refused up front, where it is, never stored."""
    _, problems = validate_parameters(ACTION, {"message": "a \ud800 b", "tags": ["ok", "\udcff"]})
    assert {p.path: p.message for p in problems} == {
        "message": "holds \\ud800, which is not valid Unicode text (bytes that are not UTF-8, or an "
                   "unpaired surrogate escape in JSON)",
        "tags[1]": "holds the byte 0xff (\\udcff), which is not valid Unicode text (not UTF-8, or an "
                   "unpaired surrogate escape in JSON)"}
    _, problems = validate_parameters(ACTION, {"message": "emoji \U0001f600 and 日本 are fine"})
    assert problems == []


def test_nesting_past_the_limit_is_refused_naming_the_parameter_and_limit() -> None:
    action = Action(ref="svc.deep", pack_ref="svc", runner="shell", entry_point="x.sh",
                    parameters={"doc": ParameterSpec(type="array")})
    _, problems = validate_parameters(action, {"doc": _nested(100)})
    assert problems == []
    _, problems = validate_parameters(action, {"doc": _nested(101)})
    assert [(p.path, p.message) for p in problems] == [
        ("doc", "is nested more than 100 levels deep (the limit)")]


def test_an_object_parameter_requires_its_members_either_way(tmp_path) -> None:
    """`required: [host]` on the parameter (JSON Schema), or `required: true` on a member at any
    depth (StackStorm's draft-3 style): both load and are enforced."""
    from attune.packs.loader import load_pack

    (tmp_path / "actions").mkdir()
    (tmp_path / "pack.yaml").write_text('ref: svc\nlabel: svc\nversion: "1.0"\n')
    (tmp_path / "actions" / "x.sh").write_text("echo\n")
    (tmp_path / "actions" / "obj.yaml").write_text("""
ref: svc.obj
runner_type: shell
entry_point: x.sh
parameters:
  listed: {type: object, required: [host], properties: {host: {type: string}}}
  flagged:
    type: object
    required: true
    properties:
      host: {type: string, required: true}
      sub: {type: object, properties: {x: {type: string, required: true}}}
""")
    (action,) = load_pack(tmp_path).actions.values()
    _, problems = validate_parameters(action, {"listed": {}, "flagged": {"sub": {}}})
    assert sorted((p.path, p.message) for p in problems) == [
        ("flagged.host", "required property 'host' is missing"),
        ("flagged.sub.x", "required property 'x' is missing"),
        ("listed.host", "required property 'host' is missing")]
    _, problems = validate_parameters(action, {"listed": {"host": "h"}})
    assert [(p.path, p.message) for p in problems] == [("flagged", "required parameter 'flagged' is missing")]


def test_patterns_run_in_linear_time() -> None:
    """`(a+)+$` against 45 characters took Python's `re` minutes (holding the API or the
    orchestrator); on RE2 it answers at once."""
    action = Action(ref="svc.pat", pack_ref="svc", runner="shell", entry_point="x.sh", parameters={
        "s": ParameterSpec.model_validate({"type": "string", "pattern": "^(a+)+$"}),
        "o": ParameterSpec.model_validate({"type": "object", "additionalProperties": False,
                                           "patternProperties": {"^(x+)+$": {"type": "integer"}}})})
    _, problems = validate_parameters(action, {"s": "a" * 60 + "!", "o": {"x" * 60 + "!": 1, "xx": "no"}})
    assert sorted((p.path, p.message) for p in problems) == [
        ("o", "'" + "x" * 60 + "!' match none of the patterns '^(x+)+$'"),
        ("o.xx", '"no" is not of type integer'),
        ("s", '"' + "a" * 60 + '!" does not match the pattern "^(a+)+$"')]
