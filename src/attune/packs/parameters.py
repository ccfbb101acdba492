"""Parameter validation against an action's flat schema (spec §1).

The flat StackStorm-style schema is translated to JSON Schema so `jsonschema` does the checking;
we only turn its errors into `{path, message}` problems, one per problem, never stopping at the first.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema import _keywords as keywords
from jsonschema.exceptions import ValidationError
from referencing.exceptions import Unresolvable

from attune.expressions import regex
from attune.packs.models import Action, ParameterSpec, own_root
from attune.packs.problems import dotted, step
from attune.problems import Problem, at_path, nested_json, shown
from attune.runtimes.safety import MAX_DATA_DEPTH
from attune.secrets import is_sealed

_SURROGATE = re.compile("[\ud800-\udfff]")


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Any:
    if validator.is_type(instance, "string"):
        try:
            if not regex.search(pattern, instance):
                yield ValidationError(f"{instance!r} does not match {pattern!r}")
        except regex.PatternError as exc:
            yield ValidationError(str(exc))


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any,
                        schema: dict[str, Any]) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, allowed: Any, instance: Any, schema: dict[str, Any]) -> Any:
    if "patternProperties" not in schema:  # jsonschema's own runs no pattern then
        yield from keywords.additionalProperties(validator, allowed, instance, schema)
        return
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    extras = [k for k in instance if k not in known
              and not any(_matches(p, k) for p in schema["patternProperties"])]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        names = ", ".join(repr(e) for e in sorted(extras))
        yield ValidationError(f"{names} match none of the patterns "
                              f"{', '.join(repr(p) for p in sorted(schema['patternProperties']))}")


def _matches(pattern: str, text: str) -> bool:
    try:
        return regex.search(pattern, text)
    except regex.PatternError:
        return False  # the pack loader reports the pattern itself


# jsonschema runs `pattern` with Python's backtracking `re`: one pattern could stall the API or
# the orchestrator for minutes. These keywords run on RE2 instead (attune.expressions.regex).
Validator = validators.extend(Draft202012Validator, {
    "pattern": _pattern, "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties})


@dataclass(frozen=True)
class FlatSchema:
    """A flat schema that is not an action's parameters: a pack's `conf_schema`."""

    parameters: dict[str, ParameterSpec]

    def secret_names(self) -> set[str]:
        return {name for name, spec in self.parameters.items() if spec.secret}


Schema = Action | FlatSchema


def config_secrets(conf_schema: Any, at: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Where a pack's `conf_schema` marks a value `secret: true` (flat or object form), at any
    depth: ("password",), ("database", "password") for a member of an object."""
    if not isinstance(conf_schema, dict):
        return set()
    specs = conf_schema.get("properties") if conf_schema.get("type") == "object" else conf_schema
    if not isinstance(specs, dict):
        return set()
    found: set[tuple[str, ...]] = set()
    for key, spec in specs.items():
        if not isinstance(spec, dict):
            continue
        if spec.get("secret") is True:
            found.add((*at, str(key)))
        elif isinstance(spec.get("properties"), dict):
            found |= config_secrets({"type": "object", "properties": spec["properties"]}, (*at, str(key)))
    return found


def parameter_schema(spec: ParameterSpec) -> dict[str, Any]:
    """The JSON Schema equivalent of one parameter of a flat schema (its own default aside)."""
    prop: dict[str, Any] = {"type": spec.type}
    if spec.enum is not None:
        prop["enum"] = list(spec.enum)
    if spec.minimum is not None:
        prop["minimum"] = spec.minimum
    if spec.maximum is not None:
        prop["maximum"] = spec.maximum
    if spec.items is not None and spec.type == "array":
        prop["items"] = spec.items
    prop.update(spec.schema_keywords())  # minItems, pattern, format, properties, ...
    if spec.required_properties:
        prop["required"] = list(spec.required_properties)
    return prop


def to_json_schema(parameters: dict[str, ParameterSpec]) -> dict[str, Any]:
    """The JSON Schema equivalent of a flat parameter schema."""
    return {
        "type": "object",
        "properties": {name: own_root(name, parameter_schema(spec)) for name, spec in parameters.items()},
        "required": sorted(name for name, spec in parameters.items() if spec.required),
        # StackStorm rejects unknown parameters; a typo should not be silently ignored.
        "additionalProperties": False,
    }


# Whether defaults inside a parameter's value are filled in: True, or (in a workflow, where runs
# from before nested defaults replay as they were) a patch check asked only when it changes a value.
Nested = bool | Callable[[], bool]


def apply_defaults(action: Schema, params: dict[str, Any], *, nested: Nested = True) -> dict[str, Any]:
    """A copy of `params` with each missing (or null) parameter set to its declared default, and
    the defaults declared inside it filled in at any depth (`filled`). Given values always win."""
    flat = copy.deepcopy(params)
    for name, spec in action.parameters.items():
        if flat.get(name) is None and spec.default is not None:
            flat[name] = copy.deepcopy(spec.default)
    if nested is False:
        return flat
    full = {name: filled(parameter_schema(action.parameters[name]), value)
            if name in action.parameters else value for name, value in flat.items()}
    return full if nested is True or full == flat or nested() else flat


def filled(schema: Any, value: Any) -> Any:
    """`value` with the defaults `schema` declares inside it: an object's member (`properties`)
    that is missing or null gets its `default`, and each element of an array gets its `items`
    schema's members (when `items` is one schema), at any depth, defaults themselves included
    (`tls: {default: {}}` gets its members' defaults). Null counts as not given (a null member
    with no default is left out), as it does for
    a parameter (a workflow passes `{{ parameters.port }}` on as null when its caller left it
    out); a null element of an array is an element, and stays. A sealed secret is left whole."""
    if not isinstance(schema, dict) or is_sealed(value):
        return value
    members = schema.get("properties")
    if isinstance(value, dict) and isinstance(members, dict):
        out = dict(value)
        for name, member in members.items():
            if not isinstance(member, dict):
                continue
            if out.get(name) is None:  # missing, or null: not given
                if member.get("default") is not None:
                    out[name] = copy.deepcopy(member["default"])
                else:
                    out.pop(name, None)
            if name in out:
                out[name] = filled(member, out[name])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [filled(schema["items"], item) for item in value]
    return value


def expression_parameters(action: Action, params: dict[str, Any], *, nested: Nested = True) -> dict[str, Any]:
    """What `parameters` holds in a workflow's expressions: the given values, declared defaults,
    and null for a declared parameter that has neither (spec §6 Decided)."""
    return {**{name: None for name in action.parameters}, **apply_defaults(action, params, nested=nested)}


def validate_parameters(
    action: Schema, params: dict[str, Any] | None, *, allow_unknown: bool = False,
    noun: str = "parameter", nested: Nested = True,
) -> tuple[dict[str, Any], list[Problem]]:
    """Return (params_with_defaults, problems); problems lists every violation as {path, message}.
    Defaults are filled in first (apply_defaults, `nested` too), so a required member that has a
    default may be left out. `allow_unknown` lets through keys the action does not declare (a
    workflow task's input); `noun` is what the messages call a field ("field" for an inquiry's
    response)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return {}, [at_path("parameters", "parameters must be an object")]
    unfit = data_problems(params)
    if unfit:  # copying and jsonschema would recurse as deep; Temporal and the records could not carry it
        return dict(params), unfit
    # A declared parameter given as null is not given: a workflow passes an optional parameter
    # on as `{{ parameters.x }}`, which is null when its caller left it out (spec §6).
    full = {k: v for k, v in apply_defaults(action, params, nested=nested).items()
            if v is not None or k not in action.parameters}
    validator = Validator(to_json_schema(action.parameters), format_checker=Validator.FORMAT_CHECKER)
    problems: list[Problem] = []
    try:
        errors = sorted(validator.iter_errors(full), key=lambda e: list(map(str, e.absolute_path)))
    except Unresolvable as exc:  # the pack load refuses these; an action saved before, not
        return full, [at_path("parameters", f"the action's schema has a $ref that does not "
                                            f"resolve: {getattr(exc, 'ref', exc)!r}")]
    for error in errors:
        if is_sealed(error.instance):  # a secret on its way to a worker: only it can check it
            continue
        if allow_unknown and error.validator == "additionalProperties" and not error.absolute_path:
            continue
        problems.extend(p for p in _problems(error, action, noun) if p not in problems)
    return integers_as_declared(validator.schema, full), problems


def integers_as_declared(schema: Any, value: Any) -> Any:
    """`value` with each integral float that `schema` (to_json_schema's) declares an integer
    made an int, at any depth. JSON Schema takes 1.0 and 1e2 as integers, so they pass
    validation; an action declared `integer` then gets 100, not 100.0 (which `range()`, `%d`
    or `seq` refuse), however it was given: a request, an answer, a workflow's `{{ 2.5 * 2 }}`."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, float):
        kinds = schema.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        whole = "integer" in kinds and "number" not in kinds and value.is_integer()
        return int(value) if whole else value
    if isinstance(value, dict):
        known, other = schema.get("properties") or {}, schema.get("additionalProperties")
        return {k: integers_as_declared(known.get(k, other), v) for k, v in value.items()}
    if isinstance(value, list):
        return [integers_as_declared(schema.get("items"), v) for v in value]
    return value


def data_problems(value: Any, path: str = "") -> list[Problem]:
    """What keeps a value from travelling as JSON through Temporal and into the records: text that
    is not valid Unicode (JSON's unpaired `\\ud800` escapes, bytes that are not UTF-8 on a command
    line), and nesting deeper than MAX_DATA_DEPTH (Temporal's decoder refuses 128 levels, and a
    workflow nests its parameters a few levels down). One problem per field, depth-first."""
    problems: list[Problem] = []
    _walk(value, path, 0, problems, path)
    return problems


def _walk(value: Any, path: str, depth: int, problems: list[Problem], top: str) -> None:
    if depth > MAX_DATA_DEPTH:  # named by the field the user gave, not a path 100 steps long
        problems.append(at_path(top or "parameters", f"is nested more than {MAX_DATA_DEPTH} levels "
                                                     "deep (the limit)"))
        return
    if isinstance(value, str):
        bad = _SURROGATE.search(value)
        if bad:
            problems.append(at_path(path or "parameters", _not_unicode(bad.group())))
    elif isinstance(value, dict):
        for key, item in value.items():
            bad = _SURROGATE.search(str(key))
            if bad:
                problems.append(at_path(path or "parameters", f"has a key that {_not_unicode(bad.group())}"))
                continue
            inner = step(path, str(key))
            _walk(item, inner, depth + 1, problems, top or inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            inner = step(path, index)
            _walk(item, inner, depth + 1, problems, top or inner)


def _not_unicode(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how Python reads a byte that is not UTF-8 (a command line's)
        return (f"holds the byte 0x{code - 0xDC00:02x} (\\u{code:04x}), which is not valid Unicode text "
                "(not UTF-8, or an unpaired surrogate escape in JSON)")
    return (f"holds \\u{code:04x}, which is not valid Unicode text (bytes that are not UTF-8, "
            "or an unpaired surrogate escape in JSON)")


def _problems(error: ValidationError, action: Schema, noun: str) -> list[Problem]:
    top = not error.absolute_path  # about the parameters object itself, not inside one
    if error.validator == "required" and isinstance(error.instance, dict):
        # jsonschema reports each missing name as its own error, each naming the whole list:
        # the caller keeps one problem per name. Each is at the missing field's own path.
        missing = [n for n in error.validator_value if n not in error.instance]
        what = noun if top else "property"
        return [at_path(dotted([*error.absolute_path, n]), f"required {what} '{n}' is missing")
                for n in missing]
    if error.validator == "additionalProperties" and top:
        extra = sorted(set(error.instance) - set(action.parameters))
        return [at_path(dotted([n]), f"unknown {noun} '{n}'{_not_a_path(action, n)}") for n in extra]
    path = dotted(error.absolute_path) or "parameters"
    root = str(error.absolute_path[0]) if error.absolute_path else ""
    if root in action.secret_names():
        # jsonschema messages quote the offending value; a secret must not leak into a 422.
        return [at_path(path, f"invalid value: fails '{error.validator}' constraint")]
    return [at_path(path, schema_message(error))]


def _not_a_path(action: Schema, name: str) -> str:
    """For "server.host" when `server` is an object parameter: what was meant, and how to say it."""
    top, _, member = name.partition(".")
    spec = action.parameters.get(top)
    if not member or spec is None or spec.type != "object":
        return ""
    return (f": a dotted name is not a path into object parameter '{top}'; give {top} as an "
            f"object ({nested_json(member)})")



def schema_message(error: ValidationError) -> str:
    """jsonschema's message, with values shown as JSON (`true`, `0`, `{"a": 1}`) rather than as
    Python prints them (`True`, `0.0`, `{'a': 1}`): the user wrote JSON or YAML."""
    got, want = shown(error.instance), error.validator_value
    match error.validator:
        case "type":
            types = " or ".join(want) if isinstance(want, list) else want
            return f"{got} is not of type {types}"
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            words = {"minimum": "less than the minimum of", "maximum": "greater than the maximum of",
                     "exclusiveMinimum": "not greater than", "exclusiveMaximum": "not less than"}
            return f"{got} is {words[str(error.validator)]} {shown(want)}"
        case "enum":
            return f"{got} is not one of {', '.join(shown(v) for v in want)}"
        case "const":
            return f"{got} is not {shown(want)}"
        case "minLength":
            return f"{got} is shorter than the minimum length of {want}"
        case "maxLength":
            return f"{got} is longer than the maximum length of {want}"
        case "minItems":
            return f"{got} should be non-empty" if want == 1 else f"{got} has fewer than {want} items"
        case "maxItems":
            return f"{got} has more than {want} items"
        case "format":
            return f"{got} is not a valid {want}"
        case "pattern":
            return f'{got} does not match the pattern "{want}"'  # as written: no JSON escapes
    return error.message
