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
