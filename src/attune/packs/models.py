"""Packs and actions as typed models (spec §1). Loading and validation live in `loader.py`."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from attune.workflows.definition import DEFAULT_TIMEOUT_SECONDS, WorkflowDefinition

# A local action holds its workflow's task open while it runs and sends no heartbeats: keep it short.
LOCAL_MAX_TIMEOUT_SECONDS = 60

Runner = Literal["shell", "python", "nodejs"]  # the runtimes, each served by its own pool
RUNTIMES: tuple[Runner, ...] = get_args(Runner)
RUNNER_ALIASES: dict[str, Runner] = {
    "shell": "shell", "bash": "shell", "sh": "shell",
    "python": "python", "python3": "python",
    "node": "nodejs", "nodejs": "nodejs", "node.js": "nodejs",
}
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParameterSpec(_Model):
    """One entry of the flat (StackStorm-style) parameter schema."""

    type: ParamType = "string"
    description: str | None = None
    required: bool = False
    secret: bool = False
    default: Any = None
    enum: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    items: dict[str, Any] | None = None


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

    @property
    def is_workflow(self) -> bool:
        return self.workflow is not None

    @property
    def name(self) -> str:
        return self.ref.split(".", 1)[1]

    def secret_names(self) -> set[str]:
        return {name for name, spec in self.parameters.items() if spec.secret}


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

    @model_validator(mode="after")
    def _actions_know_their_directory(self) -> "Pack":
        # Workers run the entry point relative to the pack: every action carries the path.
        for ref, action in self.actions.items():
            if action.pack_dir != self.path:
                self.actions[ref] = action.model_copy(update={"pack_dir": self.path})
        return self
