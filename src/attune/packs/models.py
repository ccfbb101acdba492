"""Packs and actions as typed models (spec §1). Loading and validation live in `loader.py`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from attune.runtimes.models import Runtime
from attune.workflows.definition import DEFAULT_TIMEOUT_SECONDS, WorkflowDefinition

# A local action holds its workflow's task open while it runs and sends no heartbeats: keep it short.
LOCAL_MAX_TIMEOUT_SECONDS = 60

Runner = Runtime
RUNNER_ALIASES: dict[str, Runner] = {
    "shell": "shell", "bash": "shell", "sh": "shell",
    "python": "python", "python3": "python",
    "node": "nodejs", "nodejs": "nodejs", "node.js": "nodejs",
}
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]
# JSON Schema (2020-12) keywords a parameter may carry beyond the flat keys (spec §1); they are
# enforced with the rest. Anything else is a typo and an error.
JSON_SCHEMA_KEYWORDS = frozenset({
    "$schema", "$id", "$ref", "$anchor", "$comment", "$defs", "definitions", "title", "examples",
    "deprecated", "readOnly", "writeOnly", "const", "multipleOf", "exclusiveMaximum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "maxItems", "minItems",
    "uniqueItems", "contains", "maxContains", "minContains", "prefixItems", "properties",
    "patternProperties", "additionalProperties", "propertyNames", "maxProperties",
    "minProperties", "dependentRequired", "dependentSchemas", "allOf", "anyOf", "oneOf", "not",
    "if", "then", "else", "unevaluatedItems", "unevaluatedProperties", "contentEncoding",
    "contentMediaType", "contentSchema",
})


# Where a JSON Schema holds schemas of its own (what `subschemas` walks); `default`, `enum`,
# `const` and `examples` hold values, which may have keys such as `secret` of their own.
_ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
               "propertyNames", "unevaluatedItems", "unevaluatedProperties", "contentSchema")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")


def subschemas(schema: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every schema inside `schema` (not `schema` itself), at any depth, with its path from
    `schema`: (("properties", "creds", "properties", "password"), {...}), ..."""
    if not isinstance(schema, dict):
        return
    found: list[tuple[tuple[Any, ...], Any]] = []
    for key in _ONE_SCHEMA:
        found.append(((key,), schema.get(key)))
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            found.extend(((key, name), sub) for name, sub in schema[key].items())
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            found.extend(((key, i), sub) for i, sub in enumerate(schema[key]))
    for path, sub in found:
        if isinstance(sub, dict):
            yield at + path, sub
            yield from subschemas(sub, at + path)


def refs_in(schema: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Every `$ref` in a parameter's schema (itself included), with where it is."""
    inner = [((), schema), *subschemas(schema)] if isinstance(schema, dict) else []
    return [(at, sub["$ref"]) for at, sub in inner if isinstance(sub.get("$ref"), str)]


def own_root(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema as a resource of its own: its `$ref`s ("#", "#/$defs/x") point into
    it, not into the object of all parameters it is checked inside."""
    if "$id" in schema or not refs_in(schema):
        return schema
    return {**schema, "$id": f"urn:attune:parameter:{quote(name, safe='')}"}


def holds_secret(schema: Any) -> bool:
    """Whether a schema marks a value inside it `secret: true` (a member of an object, the
    items of an array, at any depth)."""
    return any(sub.get("secret") is True for _, sub in subschemas(schema))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(BaseModel):
    """One entry of the flat (StackStorm-style) parameter schema, plus any JSON Schema keyword
    (kept as extra fields: `spec.model_extra`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: ParamType = "string"
    description: str | None = None
    required: bool = False
    secret: bool = False
    default: Any = None
    enum: list[Any] | None = None
    minimum: int | float | None = None  # an integer bound stays one (`minimum: 1`, not 1.0)
    maximum: int | float | None = None
    items: dict[str, Any] | None = None
    # An object parameter's required properties (JSON Schema's `required: [...]` written on the
    # parameter, or `required: true` on its properties, StackStorm's draft-3 style).
    required_properties: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in data
                             if k not in cls.model_fields and k not in JSON_SCHEMA_KEYWORDS)
            if unknown:
                raise ValueError(f"unknown parameter key(s) {', '.join(unknown)}: neither a flat "
                                 "schema key nor a JSON Schema keyword")
            if data.get("secret") is not True and holds_secret(data):
                # A secret member makes the whole parameter secret (spec §7): sealed on its way,
                # ******** wherever it is shown, kept on a re-run, as any secret parameter is.
                # One flag, so every place that hides secrets hides this one too.
                data = {**data, "secret": True}
        return data

    def schema_keywords(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Action(_Model):
    ref: str  # "<pack>.<name>"
    pack_ref: str
    pack_dir: str | None = None  # absolute pack directory; workers may remap it (--packs)
    label: str | None = None
    description: str | None = None
    enabled: bool = True
    # Script actions: runner + entry_point (relative to the pack's actions/ folder).
    runner: Runner | None = None
    entry_point: str | None = None
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    parameter_delivery: Literal["stdin", "file"] = "stdin"
    parameter_format: Literal["json", "yaml", "dotenv"] = "json"
    output_format: Literal["text", "json", "yaml", "jsonl"] = "text"
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    tags: list[str] = Field(default_factory=list)
    # Interpreter constraint such as ">=3.9" (spec §1), checked when the pack loads.
    runtime_version: str | None = None
    # Execution-token permission sets for tasks that name none (spec §9).
    default_execution_permission_set_refs: list[str] = Field(default_factory=list)
    worker_selector: dict[str, str] | None = None  # labels a worker must carry (routing: later)
    # Python actions fork from a pre-started interpreter (same process contract, no start-up
    # cost); `warm_start: false` spawns a fresh `python3` instead, e.g. for code that must not
    # share the starter's hash seed or parent process.
    warm_start: bool = True
    # `local: true` runs the action as a Temporal local activity inside the orchestrator instead
    # of on its runtime's task queue: no queue round trip per task (a chain of short tasks ran
    # 2.5x faster here), at the price of running where the workflow runs, not in the runtime pool.
    local: bool = False
    # Workflow actions: the parsed definition and the file it came from (relative to actions/).
    workflow_file: str | None = None
    workflow: WorkflowDefinition | None = None
    # Script actions loaded from a pack: their action YAML (relative to the pack directory) and
    # the sha256 of its content. A run keeps this copy of the action, but its script is read when
    # a task starts: the worker reads the YAML then too when it differs (packs/current.py).
    metadata_file: str | None = None
    metadata_digest: str | None = None

    @property
    def is_workflow(self) -> bool:
        return self.workflow is not None

    @property
    def name(self) -> str:
        return self.ref.split(".", 1)[1]

    def secret_names(self) -> set[str]:
        return {name for name, spec in self.parameters.items() if spec.secret}

    def defaulted(self, params: dict[str, Any]) -> list[str]:
        """The parameters in `params` (defaults applied) that hold their declared default: when
        the action YAML has changed by the time its task starts, its defaults apply instead. (A
        value given that equals the default counts as the default: the given input is not kept
        apart once defaults are applied, here or by the API.)"""
        return sorted(name for name, spec in self.parameters.items()
                      if spec.default is not None and name in params
                      and type(params[name]) is type(spec.default) and params[name] == spec.default)

    def script_attempts(self, catalog: dict[str, Action]) -> int:
        """The script-action attempts a run of its workflow dispatches if each task (parallel
        sub-tasks included) runs once, a with_items task counting the items it keeps in flight
        (its concurrency); 0 for a script action."""
        tasks = [t for task in (self.workflow.tasks if self.workflow else [])
                 for t in (task.parallel or [task])]
        return sum(t.concurrency if t.with_items else 1 for t in tasks
                   if t.action in catalog and catalog[t.action].runner is not None)


class Pack(_Model):
    ref: str
    label: str | None = None
    description: str | None = None
    version: str = "0.0.0"
    config: dict[str, Any] = Field(default_factory=dict)
    conf_schema: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)
    path: str  # absolute directory of the pack
    actions: dict[str, Action] = Field(default_factory=dict)  # by ref
    # Attune pack metadata (spec §1). `enabled: false` disables every action of the pack.
    author: str | None = None
    email: str | None = None
    website: str | None = None
    system: bool = False
    enabled: bool = True
    is_standard: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
    runtime_deps: list[str] = Field(default_factory=list)
    dependencies: dict[str, str | None] = Field(default_factory=dict)  # pack ref -> version spec

    @property
    def python_dependencies(self) -> list[str]:
        """pip requirements from `meta.python_dependencies` (they join requirements.txt)."""
        deps = self.meta.get("python_dependencies")
        return [str(d) for d in deps] if isinstance(deps, list) else []

    @model_validator(mode="after")
    def _actions_know_their_directory(self) -> Pack:
        # Workers run the entry point relative to the pack: every action carries the path.
        for ref, action in self.actions.items():
            update: dict[str, Any] = {}
            if action.pack_dir != self.path:
                update["pack_dir"] = self.path
            if not self.enabled and action.enabled:
                update["enabled"] = False
            if update:
                self.actions[ref] = action.model_copy(update=update)
        return self
