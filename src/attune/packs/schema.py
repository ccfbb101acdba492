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

from attune.packs.models import (DEFAULT_TIMEOUT_SECONDS, LOCAL_MAX_TIMEOUT_SECONDS, RUNNER_ALIASES,
                                 Action, ParameterSpec)
from attune.packs.parameters import to_json_schema
from attune.packs.problems import Reporter
from attune.packs.yaml_marks import Path

PACK_REF = re.compile(r"^[a-z][a-z0-9_-]*$")
ACTION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
ACTION_REF = re.compile(r"^[a-z][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$")  # <pack>.<name>
# Informational keys that packs written for the original carry; they change nothing here.
PACK_INFO_KEYS = {"author", "email", "website", "meta"}
PACK_KEYS = {"ref", "label", "description", "version", "config", "conf_schema", "tags"}
ACTION_KEYS = {"ref", "label", "description", "enabled", "runner_type", "entry_point", "parameters",
               "output", "parameter_delivery", "parameter_format", "output_format",
               "timeout_seconds", "tags", "workflow_file", "warm_start", "local"}
UNSUPPORTED = frozenset({"iterate_cache", "wait_for", "permission_set_refs", "permission_set_ref",
                         "worker_selector"})
PARAM_KEYS = set(ParameterSpec.model_fields)
PARAM_TYPES = ("string", "integer", "number", "boolean", "array", "object")
_ENUMS = {name: Action.model_fields[name].annotation.__args__  # type: ignore[union-attr]
          for name in ("parameter_delivery", "parameter_format", "output_format")}


def check_pack_yaml(rep: Reporter, data: dict[str, Any]) -> dict[str, Any] | None:
    rep.check_keys(data, (), PACK_KEYS | PACK_INFO_KEYS, "pack.yaml")
    ref = data.get("ref")
    if ref is None:
        rep.at((), "missing required key 'ref'")
    elif not isinstance(ref, str) or not PACK_REF.match(ref):
        rep.at(("ref",), f"pack ref {ref!r} is invalid: a lowercase letter first, then lowercase "
               "letters, digits, '-' or '_' (no dots)")
        ref = None
    fields = {"ref": ref}
    for key, types, what in (("label", str, "a string"), ("description", str, "a string"),
                             ("version", str, "a string (quote it)"), ("config", dict, "a mapping"),
                             ("conf_schema", dict, "a mapping")):
        if rep.expect(data, (), key, types, what) and data.get(key) is not None:
            fields[key] = data[key]
    if check_tags(rep, data, ()):
        fields["tags"] = data.get("tags") or []
    return fields if ref else None


def check_tags(rep: Reporter, data: dict[str, Any], path: Path) -> bool:
    tags = data.get("tags")
    if tags is None or (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return True
    rep.at(path + ("tags",), "'tags' must be a list of strings")
    return False


def check_action_ref(rep: Reporter, data: dict[str, Any], pack_ref: str, path: Path = ()) -> str | None:
    ref = data.get("ref")
    if ref is None:
        rep.at(path, "missing required key 'ref'")
        return None
    pack, _, name = ref.partition(".") if isinstance(ref, str) else ("", "", "")
    if pack != pack_ref or not ACTION_NAME.match(name):
        rep.at(path + ("ref",), f"action ref {ref!r} must be '{pack_ref}.<name>' (name: letters, "
               "digits, '_' or '-')")
        return None
    return ref


def check_action_yaml(rep: Reporter, data: dict[str, Any], pack_ref: str,
                      pack_dir: FsPath) -> dict[str, Any]:
    """Fields for models.Action (without `workflow`); `ref` is None when it is unusable."""
    rep.check_keys(data, (), ACTION_KEYS, "action", UNSUPPORTED)
    fields: dict[str, Any] = {"ref": check_action_ref(rep, data, pack_ref), "pack_ref": pack_ref}
    for key, types, what in (("label", str, "a string"), ("description", str, "a string"),
                             ("enabled", bool, "true or false"), ("output", dict, "a mapping"),
                             ("warm_start", bool, "true or false"), ("local", bool, "true or false")):
        if rep.expect(data, (), key, types, what) and data.get(key) is not None:
            fields[key] = data[key]
    for key, allowed in _ENUMS.items():
        value = data.get(key)
        if value is not None and value not in allowed:
            rep.at((key,), f"'{key}' must be one of {', '.join(allowed)}, got {value!r}")
        elif value is not None:
            fields[key] = value
    timeout = data.get("timeout_seconds")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            rep.at(("timeout_seconds",), "'timeout_seconds' must be an integer >= 1")
        else:
            fields["timeout_seconds"] = timeout
    if check_tags(rep, data, ()):
        fields["tags"] = data.get("tags") or []
    fields["parameters"] = check_parameters(rep, data.get("parameters"), ("parameters",))
    _check_kind(rep, data, pack_dir, fields)
    _check_local(rep, data, fields)
    return fields


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


def _check_kind(rep: Reporter, data: dict[str, Any], pack_dir: FsPath, fields: dict[str, Any]) -> None:
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


def safe_file(rep: Reporter, path: Path, value: Any, pack_dir: FsPath) -> bool:
    """`value` names an existing file under the pack's actions/ folder (spec §1)."""
    key = path[-1]
    if not isinstance(value, str) or not value:
        rep.at(path, f"'{key}' must be a path relative to actions/")
        return False
    rel = PurePosixPath(value)
    if rel.is_absolute() or value.startswith("~"):
        rep.at(path, f"'{key}' must be relative to actions/, not an absolute path: {value}")
        return False
    if ".." in rel.parts:
        rep.at(path, f"'{key}' must not contain '..': {value}")
        return False
    full = (pack_dir / "actions" / value).resolve()
    if not full.is_relative_to(pack_dir.resolve()):  # a symlink pointing out of the pack
        rep.at(path, f"'{key}' resolves outside the pack: {value}")
        return False
    if not full.is_file():
        rep.at(path, f"'{key}' file not found: actions/{value}")
        return False
    return True


def check_parameters(rep: Reporter, params: Any, path: Path) -> dict[str, ParameterSpec]:
    """The flat (StackStorm-style) schema: name -> {type, description, required, ...}."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        rep.at(path, "'parameters' must be a mapping of name -> {type, ...}")
        return {}
    if params.get("type") == "object" and isinstance(params.get("properties"), dict):
        rep.at(path, "'parameters' must be the flat schema (name: {type, ...}), not JSON Schema")
        return {}
    specs = {}
    for name, spec in params.items():
        where = path + (name,)
        if not isinstance(spec, dict):
            rep.at(where, f"parameter '{name}' must be a mapping with type, description, ...")
            continue
        before = len(rep.problems)
        rep.check_keys(spec, where, PARAM_KEYS, f"parameter '{name}'")
        _check_param(rep, spec, where, name)
        if len(rep.problems) == before:
            model = ParameterSpec.model_validate({k: v for k, v in spec.items() if k != "__chart_meta__"})
            _check_default(rep, model, where, str(name))
            specs[str(name)] = model
    return specs


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


def _check_default(rep: Reporter, spec: ParameterSpec, where: Path, name: str) -> None:
    """A declared default must itself be a valid value: the same check a run's parameters get."""
    if spec.default is None:
        return
    schema = to_json_schema({name: spec})["properties"][name]
    for error in Draft202012Validator(schema).iter_errors(spec.default):
        rep.at(where + ("default",), f"parameter '{name}': default {error.message}")
