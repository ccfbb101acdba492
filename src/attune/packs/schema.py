"""Strict checks of pack.yaml, action YAML and parameter schemas (spec §1).

Each function reads a raw mapping, reports every problem through a Reporter (so positions come
for free) and returns the cleaned fields, or None where a model can't be built.
"""

from __future__ import annotations

import re
from pathlib import Path as FsPath
from pathlib import PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from attune.expressions import regex
from attune.packs.interpreters import RuntimeCheckError, check_runtime, check_runtime_version
from attune.packs.models import (
    DEFAULT_TIMEOUT_SECONDS,
    JSON_SCHEMA_KEYWORDS,
    LOCAL_MAX_TIMEOUT_SECONDS,
    RUNNER_ALIASES,
    Action,
    ParameterSpec,
    own_root,
    refs_in,
    subschemas,
)
from attune.packs.parameters import (
    FlatSchema,
    Validator,
    filled,
    parameter_schema,
    schema_message,
    validate_parameters,
)
from attune.packs.problems import Reporter, dotted, first_name, type_name
from attune.packs.yaml_marks import Path
from attune.workflows.definition import over_duration_limit

# StackStorm runners a converted pack may still name: what to write instead (README "Coming
# from StackStorm"). Their parameter passing (argv, environment) differs, so no silent alias.
_SCRIPT = ("this engine runs the script itself: use runner_type shell (or python, nodejs) with "
           "entry_point; parameters arrive on stdin (parameter_format json, yaml or dotenv), not "
           "as arguments or environment variables")
STACKSTORM_RUNNERS = {
    "local-shell-script": _SCRIPT, "local-shell-cmd": _SCRIPT, "python-script": _SCRIPT,
    "remote-shell-script": "there are no remote runners: run ssh from a shell action",
    "remote-shell-cmd": "there are no remote runners: run ssh from a shell action",
    "orquesta": "write the workflow as a workflow action (workflow_file) in this engine's format "
                "(tasks as a list, transitions with next/when/do)",
    "mistral-v2": "write the workflow as a workflow action (workflow_file) in this engine's format",
    "action-chain": "write the chain as a workflow action (workflow_file) in this engine's format",
    "http-request": "use core.http_request in a workflow",
    "noop": "use core.noop",
}
# StackStorm's parameter keys: why they have no place here (spec §1 keeps them errors).
STACKSTORM_PARAMETER_KEYS = {
    "position": "StackStorm passes parameters to a script as positional arguments; here the action "
                "reads them by name on stdin (parameter_format json, yaml or dotenv): remove it",
    "immutable": "StackStorm's value that a caller cannot change; here fix it with `default: <value>` "
                 "and `enum: [<value>]` (any other value is refused), or write it in the script",
}
# Whole-string patterns: \Z, not $, which also matches before a final newline (so "nlpk\n"
# registered as a pack ref); a .match() anywhere is then a full match. Call fullmatch all the same.
PACK_REF = re.compile(r"^[a-z][a-z0-9_-]*\Z")
# Refs name workflows in Temporal (ids up to 1,000 characters carry several) and fill columns
# of 255 characters; a pack ref fills a select box in the web UI.
MAX_PACK_REF = 64
MAX_ACTION_REF = 200
ACTION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*\Z")
ACTION_REF = re.compile(r"^[a-z][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*\Z")  # <pack>.<name>
PACK_KEYS = {"ref", "label", "description", "version", "config", "conf_schema", "tags",
             "runtime_deps", "dependencies", "enabled", "meta"}
# Keys Attune's packs carry that change nothing here (README "Coming from Attune" says why);
# `name` is the older spelling of `ref`.
PACK_INFO_KEYS = {"name", "author", "email", "website", "system", "is_standard", "testing",
                  "worker_selector", "worker_tolerations", "worker_affinity"}
ACTION_KEYS = {"ref", "label", "description", "enabled", "runner_type", "entry_point", "parameters",
               "output", "parameter_delivery", "parameter_format", "output_format",
               "timeout_seconds", "tags", "workflow_file", "warm_start", "local",
               # Attune spellings and keys (spec §1): `name` and `timeout` are older spellings
               # of the ref's last part and timeout_seconds, output_schema/out_schema of output.
               "name", "timeout", "output_schema", "out_schema", "runtime_version",
               "default_execution_permission_set_refs", "worker_selector"}
ACTION_INERT_KEYS = {"required_worker_runtimes", "accesses_mcp", "reference_visibility",
                     "worker_tolerations", "worker_affinity", "log_retention_policy",
                     "log_retention_limit", "examples"}
UNSUPPORTED = {"iterate_cache": "this engine has no Data Cache; give the items with `with_items`",
               "when": "on a task (Attune's parser reads it, to skip the task), put the condition "
                       "on the transition that leads to the task instead "
                       "(next: [{when: \"{{ ... }}\", do: [the_task]}])"}
# Every field the API answers with is accepted back (the builder sends a GET's parameters, with
# `required_properties: null`, to validate and save; refusing it froze every loaded workflow).
PARAM_KEYS = set(ParameterSpec.model_fields) | JSON_SCHEMA_KEYWORDS
PARAM_TYPES = ("string", "integer", "number", "boolean", "array", "object")
# The JSON Schema object form of `parameters` (spec §1): {type: object, properties, required}.
OBJECT_FORM_KEYS = {"type", "properties", "required", "additionalProperties", "title",
                    "description", "$schema"}
_ENUMS = {name: Action.model_fields[name].annotation.__args__  # type: ignore[union-attr]
          for name in ("parameter_delivery", "parameter_format", "output_format")}


def check_pack_yaml(rep: Reporter, data: dict[str, Any]) -> dict[str, Any] | None:
    rep.check_keys(data, (), PACK_KEYS | PACK_INFO_KEYS, "pack.yaml")
    key = "ref" if "ref" in data or "name" not in data else "name"  # `name`: older spelling
    ref = data.get(key)
    if ref is None:
        rep.at((), "missing required key 'ref'")
    elif not isinstance(ref, str) or not PACK_REF.fullmatch(ref):
        rep.at((key,), f"pack {key} {ref!r} is invalid: a lowercase letter first, then lowercase "
               "letters, digits, '-' or '_' (no dots)")
        ref = None
    elif len(ref) > MAX_PACK_REF:
        rep.at((key,), f"pack {key} is {len(ref)} characters long, over the limit of {MAX_PACK_REF}")
        ref = None
    fields: dict[str, Any] = {"ref": ref}
    for key, types, what in (("label", str, "a string"), ("description", str, "a string"),
                             ("version", str, "a string (quote it)"), ("config", dict, "a mapping"),
                             ("conf_schema", dict, "a mapping"), ("author", str, "a string"),
                             ("email", str, "a string"), ("website", str, "a string"),
                             ("system", bool, "true or false"), ("enabled", bool, "true or false"),
                             ("is_standard", bool, "true or false"), ("meta", dict, "a mapping"),
                             ("testing", dict, "a mapping")):
        if rep.expect(data, (), key, types, what) and data.get(key) is not None and key != "testing":
            fields[key] = data[key]
    if check_tags(rep, data, ()):
        fields["tags"] = data.get("tags") or []
    if isinstance(fields.get("conf_schema"), dict):
        fields["config"] = check_config(rep, fields.get("config") or {}, fields["conf_schema"])
    _python_dependencies(rep, data.get("meta"))
    fields["runtime_deps"] = _runtime_deps(rep, data.get("runtime_deps"))
    fields["dependencies"] = _pack_dependencies(rep, data.get("dependencies"))
    for key, kind, what in (("worker_selector", dict, "a mapping"), ("worker_tolerations", list, "a list"),
                            ("worker_affinity", dict, "a mapping")):
        rep.expect(data, (), key, kind, what)
    return fields if ref else None


def check_config(rep: Reporter, config: dict[str, Any], conf_schema: dict[str, Any]) -> dict[str, Any]:
    """A pack's `config` against its `conf_schema` (StackStorm's flat form, as Attune writes it,
    or the object form): each value checked, defaults filled in; keys the schema does not name
    are kept, as StackStorm keeps them. The config as runs see it (`config.<key>`)."""
    before = len(rep.problems)
    specs = check_parameters(rep, conf_schema, ("conf_schema",))
    if len(rep.problems) > before:
        return config
    full, problems = validate_parameters(FlatSchema(specs), config, allow_unknown=True, noun="config key")
    for problem in problems:
        key = first_name(problem.path or "")
        where = ("config", key) if key in config else ("conf_schema", key) if key in specs else ("config",)
        message = problem.message if problem.path == dotted([key]) and problem.message.startswith("required") \
            else f"config '{problem.path}': {problem.message}"
        rep.at(where, message)
    return full


def _python_dependencies(rep: Reporter, meta: Any) -> None:
    deps = meta.get("python_dependencies") if isinstance(meta, dict) else None
    if deps is not None and not (isinstance(deps, list) and all(isinstance(d, str) for d in deps)):
        rep.at(("meta", "python_dependencies"), "'python_dependencies' must be a list of pip "
               "requirements such as \"requests>=2.28\"")


def _runtime_deps(rep: Reporter, deps: Any) -> list[str]:
    """Runtimes the pack needs: each must be one this engine runs, with its interpreter here."""
    if deps is None:
        return []
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        rep.at(("runtime_deps",), "'runtime_deps' must be a list of runtimes such as [shell, python3]")
        return []
    for i, name in enumerate(deps):
        try:
            check_runtime(name)
        except RuntimeCheckError as exc:
            rep.at(("runtime_deps", i), str(exc))
    return list(deps)


def _pack_dependencies(rep: Reporter, deps: Any) -> dict[str, str | None]:
    """Other packs this one needs: a list of refs (`core`, `core>=1.0`) or a map ref -> version
    constraint. Whether they exist is checked once every pack is loaded (loader.py)."""
    if deps is None:
        return {}
    found: dict[str, str | None] = {}
    items = deps.items() if isinstance(deps, dict) else enumerate(deps) if isinstance(deps, list) else None
    if items is None:
        rep.at(("dependencies",), "'dependencies' must be a list of pack refs or a map of pack ref "
               f"to version constraint, got {type_name(deps)}")
        return {}
    for key, value in items:
        at = ("dependencies", key)
        if isinstance(deps, dict):
            ref, spec = key, value
            if spec is not None and not isinstance(spec, str):
                rep.at(at, f"the version constraint of pack '{ref}' must be a string such as "
                       "\">=1.0\"")
                continue
        elif isinstance(value, str):
            ref, spec = _split_constraint(value)
        else:
            rep.at(at, f"each dependency must be a pack ref, got {type_name(value)}")
            continue
        if not isinstance(ref, str) or not PACK_REF.fullmatch(ref):
            rep.at(at, f"dependency {ref!r} is not a pack ref")
            continue
        found[ref] = spec or None
    return found


def _split_constraint(text: str) -> tuple[str, str | None]:
    match = re.fullmatch(r"\s*([a-z][a-z0-9_-]*)\s*(.*?)\s*", text)
    if match is None:
        return text, None
    return match.group(1), match.group(2) or None


def check_tags(rep: Reporter, data: dict[str, Any], path: Path) -> bool:
    tags = data.get("tags")
    if tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return True
    rep.at(path + ("tags",), "'tags' must be a list of strings")
    return False


def check_action_ref(rep: Reporter, data: dict[str, Any], pack_ref: str, path: Path = ()) -> str | None:
    """`ref`, or (the older spelling) `name` alone: the ref is then `<pack>.<name>`."""
    ref, name = data.get("ref"), data.get("name")
    if ref is None and isinstance(name, str) and ACTION_NAME.fullmatch(name):
        return f"{pack_ref}.{name}"
    if ref is None:
        rep.at(path + ("name",) if name is not None else path,
               "missing required key 'ref'" if name is None else
               f"'name' must be letters, digits, '_' or '-', got {name!r}")
        return None
    if name is not None and isinstance(ref, str) and ref.partition(".")[2] != name:
        rep.at(path + ("name",), f"name {name!r} does not match the ref {ref!r}")
    pack, _, name = ref.partition(".") if isinstance(ref, str) else ("", "", "")
    if pack != pack_ref or not ACTION_NAME.fullmatch(name):
        rep.at(path + ("ref",), f"action ref {ref!r} must be '{pack_ref}.<name>' (name: letters, "
               "digits, '_' or '-')")
        return None
    if len(ref) > MAX_ACTION_REF:
        rep.at(path + ("ref",), f"action ref is {len(ref)} characters long, over the limit of "
               f"{MAX_ACTION_REF}")
        return None
    return ref


def check_action_yaml(rep: Reporter, data: dict[str, Any], pack_ref: str,
                      pack_dir: FsPath | None) -> dict[str, Any]:
    """Fields for models.Action (without `workflow`); `ref` is None when it is unusable."""
    rep.check_keys(data, (), ACTION_KEYS | ACTION_INERT_KEYS, "action", UNSUPPORTED)
    fields: dict[str, Any] = {"ref": check_action_ref(rep, data, pack_ref), "pack_ref": pack_ref}
    for key, types, what in (("label", str, "a string"), ("description", str, "a string"),
                             ("enabled", bool, "true or false"), ("warm_start", bool, "true or false"),
                             ("local", bool, "true or false"), ("runtime_version", str, "a string"),
                             ("accesses_mcp", bool, "true or false"),
                             ("reference_visibility", str, "a string"),
                             ("required_worker_runtimes", list, "a list of runtimes"),
                             ("worker_tolerations", list, "a list"),
                             ("worker_affinity", dict, "a mapping")):
        kept = key in Action.model_fields  # the others are checked, then inert (README)
        if rep.expect(data, (), key, types, what) and data.get(key) is not None and kept:
            fields[key] = data[key]
    output = output_schema(rep, data)
    if output is not None:
        fields["output"] = output
    refs = data.get("default_execution_permission_set_refs")
    if refs is not None:
        if isinstance(refs, str):
            refs = [refs] if refs else []
        if isinstance(refs, list) and all(isinstance(r, str) and r for r in refs):
            fields["default_execution_permission_set_refs"] = list(dict.fromkeys(refs))
        else:
            rep.at(("default_execution_permission_set_refs",), "'default_execution_permission_set"
                   "_refs' must be a permission set ref or a list of refs")
    selector = data.get("worker_selector")
    if selector is not None:
        if isinstance(selector, dict) and all(isinstance(v, str) for v in selector.values()):
            fields["worker_selector"] = {str(k): v for k, v in selector.items()}
        else:
            rep.at(("worker_selector",), "'worker_selector' must be a mapping of label: \"text\" "
                   "(quote values such as \"true\")")
    for key, allowed in _ENUMS.items():
        value = data.get(key)
        if value is not None and value not in allowed:
            rep.at((key,), f"'{key}' must be one of {', '.join(allowed)}, got {value!r}")
        elif value is not None:
            fields[key] = value
    if "timeout" in data and "timeout_seconds" in data:
        rep.at(("timeout",), "give `timeout_seconds` or its older spelling `timeout`, not both",
               key=True)
    for key in ("timeout_seconds", "timeout"):
        timeout = data.get(key)
        if timeout is None:
            continue
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            rep.at((key,), f"'{key}' must be an integer >= 1")
        elif (problem := over_duration_limit(timeout, key)) is not None:
            rep.at((key,), problem)
        else:
            fields["timeout_seconds"] = timeout
    if check_tags(rep, data, ()):
        fields["tags"] = data.get("tags") or []
    fields["parameters"] = check_parameters(rep, data.get("parameters"), ("parameters",))
    if fields.get("parameter_format") == "dotenv":
        _check_dotenv_lines(rep, data.get("parameters"), fields["parameters"])
    _check_kind(rep, data, pack_dir, fields)
    _check_local(rep, data, fields)
    _check_runtime_version(rep, fields)
    return fields


def _check_dotenv_lines(rep: Reporter, raw: Any, specs: dict[str, ParameterSpec]) -> None:
    """dotenv writes an object's members as `name.member` lines (runtimes.output): a parameter
    named "opts.label" and member `label` of object `opts` would give the same line, and the
    action could not tell them apart."""
    base = ("parameters", "properties") if _object_form_of(raw) else ("parameters",)
    writers: dict[str, str] = {}
    for name, spec in specs.items():
        for line, what in [(name, f"parameter '{name}'"), *_member_lines(name, parameter_schema(spec))]:
            if line in writers:
                rep.at(base + (name,), f"{writers[line]} and {what} are both written as the dotenv "
                       f"line `{line}=...` (parameter_format: dotenv): rename one, or use "
                       "parameter_format json or yaml", key=True)
            writers.setdefault(line, what)


def _member_lines(name: str, schema: dict[str, Any], at: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The dotenv lines the declared members of object parameter `name` are written as."""
    found: list[tuple[str, str]] = []
    members = schema.get("properties")
    for member, sub in (members.items() if isinstance(members, dict) else []):
        path = (*at, str(member))
        found.append((".".join((name, *path)), f"member '{'.'.join(path)}' of object parameter '{name}'"))
        if isinstance(sub, dict):
            found.extend(_member_lines(name, sub, path))
    return found


def output_schema(rep: Reporter, data: dict[str, Any]) -> dict[str, Any] | None:
    """`output`, or its older names `output_schema` / `out_schema` (one of them)."""
    given = [key for key in ("output", "output_schema", "out_schema") if key in data]
    for key in given[1:]:
        rep.at((key,), f"give one of {', '.join(given)}: they are the same schema", key=True)
    if not given or not rep.expect(data, (), given[0], dict, "a mapping"):
        return None
    return data[given[0]]


def _check_runtime_version(rep: Reporter, fields: dict[str, Any]) -> None:
    constraint = fields.get("runtime_version")
    if constraint is None:
        return
    if fields.get("workflow_file") is not None:
        rep.at(("runtime_version",), "a workflow action runs no interpreter: drop "
               "`runtime_version`", key=True)
        return
    runner = fields.get("runner")
    if runner is None:
        return  # runner_type was reported
    try:
        check_runtime_version(runner, constraint)
    except RuntimeCheckError as exc:
        rep.at(("runtime_version",), str(exc))


def _check_local(rep: Reporter, data: dict[str, Any], fields: dict[str, Any]) -> None:
    """Local actions hold the orchestrator's workflow task open while they run and send no
    heartbeats, so only short script actions qualify."""
    if fields.get("local") is not True:
        return
    if data.get("workflow_file") is not None:
        rep.at(("local",), "'local' applies to script actions only; a workflow action runs as a "
               "child workflow", key=True)
    elif "timeout_seconds" not in data:
        rep.at(("local",), f"a local action needs timeout_seconds <= {LOCAL_MAX_TIMEOUT_SECONDS} "
               f"(it runs inside the orchestrator without heartbeats); the default is "
               f"{DEFAULT_TIMEOUT_SECONDS}: set timeout_seconds", key=True)
    elif fields.get("timeout_seconds", 0) > LOCAL_MAX_TIMEOUT_SECONDS:
        rep.at(("timeout_seconds",), f"a local action needs timeout_seconds <= "
               f"{LOCAL_MAX_TIMEOUT_SECONDS} (it runs inside the orchestrator without heartbeats), "
               f"got {data['timeout_seconds']}")


def _check_kind(rep: Reporter, data: dict[str, Any], pack_dir: FsPath | None,
                fields: dict[str, Any]) -> None:
    """A script action (runner_type + entry_point) or a workflow action (workflow_file only)."""
    if data.get("workflow_file") is not None:
        for key in ("runner_type", "entry_point"):
            if key in data:
                rep.at((key,), f"a workflow action (workflow_file) takes no `{key}`", key=True)
        if safe_file(rep, ("workflow_file",), data["workflow_file"], pack_dir):
            fields["workflow_file"] = data["workflow_file"]
        return
    runner = data.get("runner_type")
    if runner is None:
        rep.at((), "an action needs runner_type and entry_point, or workflow_file")
    elif runner == "native":
        rep.at(("runner_type",), "runner_type 'native' (Attune's compiled actions) is not "
               "supported: this engine has no native runner; rewrite the action as shell, python "
               "or nodejs")
    elif runner in STACKSTORM_RUNNERS:
        rep.at(("runner_type",), f"runner_type {runner!r} is StackStorm's: {STACKSTORM_RUNNERS[runner]}")
    elif runner not in RUNNER_ALIASES:
        rep.at(("runner_type",), f"unknown runner_type {runner!r} (use one of "
               f"{', '.join(RUNNER_ALIASES)})")
    else:
        fields["runner"] = RUNNER_ALIASES[runner]
    if data.get("entry_point") is None:
        if runner is not None:
            rep.at((), "a script action needs `entry_point`")
    elif safe_file(rep, ("entry_point",), data["entry_point"], pack_dir):
        fields["entry_point"] = data["entry_point"]


def safe_file(rep: Reporter, path: Path, value: Any, pack_dir: FsPath | None) -> bool:
    """`value` names an existing file under the pack's actions/ folder (spec §1); with no
    `pack_dir` (a pack created through the API), only its form can be checked."""
    key = path[-1]
    if not isinstance(value, str) or not value:
        rep.at(path, f"'{key}' must be a path relative to actions/")
        return False
    if any(ord(ch) < 32 for ch in value):  # no file name has them; the OS refuses NUL outright
        rep.at(path, f"'{key}' must not contain control characters: {value!r}")
        return False
    rel = PurePosixPath(value)
    if rel.is_absolute() or value.startswith("~"):
        rep.at(path, f"'{key}' must be relative to actions/, not an absolute path: {value}")
        return False
    if ".." in rel.parts:
        rep.at(path, f"'{key}' must not contain '..': {value}")
        return False
    if pack_dir is None:
        return True
    full = (pack_dir / "actions" / value).resolve()
    if not full.is_relative_to(pack_dir.resolve()):  # a symlink pointing out of the pack
        rep.at(path, f"'{key}' resolves outside the pack: {value}")
        return False
    if not full.is_file():
        rep.at(path, f"'{key}' file not found: actions/{value}")
        return False
    return True


def check_parameters(rep: Reporter, params: Any, path: Path) -> dict[str, ParameterSpec]:
    """The flat (StackStorm-style) schema, name -> {type, description, required, ...}, or the
    JSON Schema object form {type: object, properties: {...}, required: [...]} (spec §1)."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        rep.at(path, "'parameters' must be a mapping of name -> {type, ...}")
        return {}
    if _object_form_of(params):
        return _object_form(rep, params, path)
    return _flat(rep, params, path, required=set())


def _object_form_of(params: Any) -> bool:
    return isinstance(params, dict) and params.get("type") == "object" \
        and isinstance(params.get("properties"), dict)


def _object_form(rep: Reporter, params: dict[str, Any], path: Path) -> dict[str, ParameterSpec]:
    rep.check_keys(params, path, OBJECT_FORM_KEYS, "parameters (JSON Schema object form)")
    required = params.get("required", [])
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        rep.at(path + ("required",), "'required' must be a list of parameter names")
        required = []
    for i, name in enumerate(required):
        if name not in params["properties"]:
            rep.at(path + ("required", i), f"required parameter '{name}' is not in `properties`")
    return _flat(rep, params["properties"], path + ("properties",), required=set(required))


def _flat(rep: Reporter, params: dict[str, Any], path: Path, required: set[str]) -> dict[str, ParameterSpec]:
    specs = {}
    for name, spec in params.items():
        where = path + (name,)
        if not isinstance(spec, dict):
            rep.at(where, f"parameter '{name}' must be a mapping with type, description, ...")
            continue
        before = len(rep.problems)
        rep.check_keys(spec, where, PARAM_KEYS, f"parameter '{name}'",
                       foreign=STACKSTORM_PARAMETER_KEYS)
        spec, inner_required = _required_properties(rep, spec, where, str(name))
        _check_param(rep, spec, where, name)
        if len(rep.problems) == before:
            fields = {k: v for k, v in spec.items() if k != "__chart_meta__"}
            if inner_required:
                fields["required_properties"] = inner_required
            if name in required:
                fields["required"] = True
            model = ParameterSpec.model_validate(fields)
            _check_default(rep, model, where, str(name))
            specs[str(name)] = model
    return specs


def _required_properties(rep: Reporter, spec: dict[str, Any], where: Path,
                         name: str) -> tuple[dict[str, Any], list[str] | None]:
    """An object parameter's required properties, however written: `required: [a, b]` on the
    parameter (JSON Schema) or `required: true` on a property (StackStorm's draft-3 style, at
    any depth). The spec comes back in plain JSON Schema, with `required` a boolean again."""
    own = spec.get("required")
    spec = _draft3_required({k: v for k, v in spec.items() if k != "required"})
    listed = spec.pop("required", None)  # from `required: true` on its properties
    if isinstance(own, list):
        listed = own + [n for n in listed or [] if n not in own]
    elif own is not None:
        spec["required"] = own
    if listed is None:
        return spec, None
    if spec.get("type", "string") != "object":
        rep.at(where + ("required",), f"parameter '{name}': a list under 'required' names an object's "
               "required properties; for the parameter itself write true or false")
        return spec, None
    if not all(isinstance(n, str) for n in listed):
        rep.at(where + ("required",), f"parameter '{name}': 'required' must be true, false or a list "
               "of property names")
        return spec, None
    return spec, listed


def _draft3_required(schema: Any) -> Any:
    """`properties: {host: {required: true}}` as JSON Schema: `required: [host]` on the object."""
    if not isinstance(schema, dict):
        return schema
    out = {k: (_draft3_required(v) if k in ("items", "additionalProperties") else v)
           for k, v in schema.items()}
    props = schema.get("properties")
    if isinstance(props, dict):
        flagged = [n for n, p in props.items() if isinstance(p, dict) and isinstance(p.get("required"), bool)]
        out["properties"] = {n: _draft3_required({k: v for k, v in p.items() if k != "required"}
                                                 if n in flagged else p) for n, p in props.items()}
        wanted = [n for n in flagged if props[n]["required"]]
        if wanted:
            given = out.get("required")
            listed: list[Any] = given if isinstance(given, list) else []
            out["required"] = listed + [n for n in wanted if n not in listed]
    return out


def _check_param(rep: Reporter, spec: dict[str, Any], where: Path, name: str) -> None:
    ptype = spec.get("type", "string")
    if ptype not in PARAM_TYPES:
        rep.at(where + ("type",), f"parameter '{name}': type must be one of "
               f"{', '.join(PARAM_TYPES)}, got {ptype!r}")
        return
    for key, types, what in (("description", str, "a string"), ("required", bool, "true or false"),
                             ("secret", bool, "true or false"), ("enum", list, "a list"),
                             ("minimum", (int, float), "a number"), ("maximum", (int, float), "a number"),
                             ("items", dict, "a mapping")):
        rep.expect(spec, where, key, types, what)
    # The JSON Schema keywords must form a valid schema (minItems: "one" is a typo, not a rule).
    keywords = {k: v for k, v in spec.items() if k in JSON_SCHEMA_KEYWORDS}
    for error in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(keywords):
        at = where + tuple(error.absolute_path)[:1]
        rep.at(at, f"parameter '{name}': {'.'.join(map(str, error.absolute_path))}: {schema_message(error)}")
    _check_satisfiable(rep, spec, where, name)
    _check_secret_members(rep, spec, where, name)
    _check_refs(rep, spec, where, name)
    for inside, pattern in _patterns(spec, ()):
        try:
            regex.compiled(pattern)
        except regex.PatternError as exc:
            rep.at(where + inside[:1], f"parameter '{name}': {'.'.join(map(str, inside))}: {exc}")


def _check_refs(rep: Reporter, spec: dict[str, Any], where: Path, name: str) -> None:
    """A `$ref` points into its parameter's own schema ("#", "#/$defs/x"): it is checked on its
    own (models.own_root), and nothing is fetched from elsewhere."""
    schema = own_root(name, {k: v for k, v in spec.items() if k in JSON_SCHEMA_KEYWORDS or k == "type"})
    if "$id" not in schema:
        return
    resolver = Registry().with_resource(schema["$id"], DRAFT202012.create_resource(schema)).resolver(schema["$id"])
    for inside, ref in refs_in(schema):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            rep.at(where + inside + ("$ref",), f"parameter '{name}': $ref {ref!r} does not point into "
                   "this parameter's schema (write '#' for the parameter itself or '#/$defs/NAME' for "
                   "one of its $defs; nothing is fetched from elsewhere)")


def _check_secret_members(rep: Reporter, spec: dict[str, Any], where: Path, name: str) -> None:
    """`secret` on a member (any depth) is true or false; a secret member makes the whole
    parameter secret (models.ParameterSpec), and takes no default of its own: the schema is
    shown as it is (GET /actions, the workflow input in Temporal's history), the parameter's
    own default is kept secret."""
    inner = list(subschemas(spec))
    secret = [inside for inside, sub in inner if sub.get("secret") is True]
    for inside, sub in inner:
        mark = sub.get("secret")
        if mark is not None and not isinstance(mark, bool):
            rep.at(where + inside + ("secret",), f"parameter '{name}': {dotted(inside)}: 'secret' "
                   f"must be true or false, got {type_name(mark)}")
        if sub.get("default") is not None and any(inside[:len(s)] == s for s in secret):
            rep.at(where + inside + ("default",), f"parameter '{name}': {dotted(inside)}: a secret "
                   "member takes no default of its own (the schema is shown as written): give it "
                   f"in the default of '{name}' itself, which is kept secret")


def _check_satisfiable(rep: Reporter, spec: dict[str, Any], where: Path, name: str) -> None:
    """A schema that no value meets would refuse every run with a puzzling message."""
    if spec.get("enum") == []:
        rep.at(where + ("enum",), f"parameter '{name}': 'enum' lists no value, so no value is allowed")
    low, high = spec.get("minimum"), spec.get("maximum")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        rep.at(where + ("minimum",), f"parameter '{name}': minimum {low} is greater than maximum {high}, "
               "so no value is allowed")
    for short, long in (("minLength", "maxLength"), ("minItems", "maxItems"),
                        ("minProperties", "maxProperties")):
        low, high = spec.get(short), spec.get(long)
        if isinstance(low, int) and isinstance(high, int) and low > high:
            rep.at(where + (short,), f"parameter '{name}': {short} {low} is greater than {long} {high}, "
                   "so no value is allowed")


def _patterns(schema: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """Every regular expression in a schema (`pattern` values, `patternProperties` keys), with
    where it is: they run on RE2, which refuses a few of Python's forms."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                found.append((path + (key,), value))
            elif key == "patternProperties" and isinstance(value, dict):
                found.extend((path + (key, p), p) for p in value if isinstance(p, str))
                for p, sub in value.items():
                    found.extend(_patterns(sub, path + (key, p)))
            else:
                found.extend(_patterns(value, path + (key,)))
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            found.extend(_patterns(item, path + (i,)))
    return found


def _check_default(rep: Reporter, spec: ParameterSpec, where: Path, name: str) -> None:
    """A declared default must itself be a valid value: the same check a run's parameters get,
    once the defaults inside it are filled in. So must the defaults of its members (filled in
    when a run leaves them out)."""
    schema = parameter_schema(spec)
    found = [((), schema, spec.default)] + [
        (inside, sub, sub.get("default")) for inside, sub in subschemas(schema) if _filled_path(inside)]
    for inside, sub, default in found:
        if default is None:
            continue
        at = f" {dotted(inside)}:" if inside else ""
        for error in Validator(sub, format_checker=Validator.FORMAT_CHECKER).iter_errors(filled(sub, default)):
            rep.at(where + inside + ("default",), f"parameter '{name}':{at} default {schema_message(error)}")


def _filled_path(inside: tuple[Any, ...]) -> bool:
    """Whether a path into a parameter's schema leads through `properties` and `items` only:
    where apply_defaults fills defaults in."""
    steps = list(inside)
    while steps:
        if steps[0] == "properties" and len(steps) > 1:
            steps = steps[2:]
        elif steps[0] == "items" and not (len(steps) > 1 and isinstance(steps[1], int)):
            steps = steps[1:]
        else:
            return False
    return True
