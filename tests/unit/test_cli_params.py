"""`attune run X k=v` reads each value by the action's parameter schema (issue 9.18)."""

from __future__ import annotations

import pytest
import typer

from attune.cli.commands import _statuses, parse_params

SCHEMA = {"day": "string", "answer": "string", "code": "string", "n": "integer", "ratio": "number",
          "flag": "boolean", "hosts": "array", "extra": "object"}


def parse(*pairs: str, schema: dict | None = SCHEMA, params_json: str | None = None) -> dict:
    return parse_params(list(pairs), params_json, (lambda: schema) if schema is not None else None)


def test_strings_stay_the_text_typed():
    assert parse("day=2024-01-01", "answer=no", "code=007", "n=3") == {
        "day": "2024-01-01", "answer": "no", "code": "007", "n": 3}
    assert parse("answer=") == {"answer": ""}
    assert parse("answer=a=b") == {"answer": "a=b"}


def test_typed_values_parse_by_their_type():
    assert parse("n=-12", "ratio=0.5", "flag=yes", "hosts=[\"a\", \"b\"]", "extra={\"k\": 1}") == {
        "n": -12, "ratio": 0.5, "flag": True, "hosts": ["a", "b"], "extra": {"k": 1}}
    assert parse("ratio=2", "flag=FALSE")["ratio"] == 2 and parse("flag=off")["flag"] is False
    # Integral numbers are integers to JSON Schema: as over REST and in --params-json.
    assert [parse(f"n={text}")["n"] for text in ("4.0", "1e2", "-3.0")] == [4, 100, -3]
    assert type(parse("n=4.0")["n"]) is int


@pytest.mark.parametrize("pair, message", [
    ("n=abc", "parameter 'n' is an integer: cannot read 'abc' as one"),
    ("n=1.5", "parameter 'n' is an integer"),
    ("n=1e30", "parameter 'n' is an integer: cannot read '1e30' as one exactly: write it in digits"),
    ("n=inf", "parameter 'n' is an integer: cannot read 'inf' as one"),
    ("ratio=fast", "parameter 'ratio' is a number: cannot read 'fast' as one"),
    ("ratio=nan", "parameter 'ratio' is a number: 'nan' is not a finite number"),
    ("flag=maybe", "parameter 'flag' is a boolean: use true or false, not 'maybe'"),
    ("hosts=a,b", "parameter 'hosts' is an array: give it as JSON"),
    ("extra=[1]", "parameter 'extra' is an object: give it as JSON"),
    ("noequals", "parameter 'noequals' is not of the form key=value"),
    # A byte that is not UTF-8 on the command line arrives as a lone surrogate: it could not
    # even be sent as JSON (a traceback, before).
    ("answer=bad \udcff byte", "parameter 'answer' holds the byte 0xff (\\udcff), which is not valid Unicode text"),
    ("hosts=[\"\\ud800\"]", "parameter 'hosts[0]' holds \\ud800, which is not valid Unicode text"),
])
def test_a_value_that_does_not_parse_is_a_usage_error_naming_the_parameter(pair, message, capsys):
    with pytest.raises(typer.Exit) as exit_info:
        parse(pair)
    assert exit_info.value.exit_code == 2
    assert message in capsys.readouterr().err.replace("\n", " ")


def test_without_a_schema_json_values_else_text():
    assert parse("a=3", "b=true", "c=2024-01-01", "d=no", "e=[1]", schema=None) == {
        "a": 3, "b": True, "c": "2024-01-01", "d": "no", "e": [1]}
    assert parse("undeclared=2024-01-01") == {"undeclared": "2024-01-01"}


def test_schema_is_only_fetched_when_there_are_pairs():
    def boom():
        raise AssertionError("fetched")

    assert parse_params([], '{"x": 1}', boom) == {"x": 1}
    assert parse("n=4", params_json='{"n": 1, "m": 2}') == {"n": 4, "m": 2}


def test_bad_json_names_the_option_it_came_from(capsys):
    with pytest.raises(typer.Exit):
        parse_params([], "{bad", option="--response-json")
    assert "--response-json is not valid JSON" in capsys.readouterr().err


def test_statuses_repeated_or_comma_separated():
    assert _statuses(["failed", "cancelled,timeout", " "]) == ["failed", "cancelled", "timeout"]
    assert _statuses(None) is None and _statuses([]) is None


def test_a_followed_run_names_its_pending_inquiries_and_counts_the_rest() -> None:
    """Only the 5 newest pending inquiries were named (a with_items of 7 core.ask hid the first
    two); up to 20 are named, oldest first, and the rest counted with the command that lists them."""
    from rich.console import Console

    from attune.cli.api_client import progress_table

    asking = [{"id": i, "prompt": f"item {i}?", "response_schema": {"ok": {"type": "boolean"}}} for i in (4, 5)]
    console = Console(width=200, record=True)
    console.print(progress_table({"action_ref": "x.y", "id": 9, "status": "running"}, [],
                                 asking=asking, more=3))
    text = console.export_text()
    assert "waiting for inquiry 4 “item 4?”: attune inquiry respond 4 ok=…" in text
    assert "… and 3 more inquiries waiting: attune inquiry list --execution 9 --status pending" in text
