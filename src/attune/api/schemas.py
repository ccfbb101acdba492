"""Request and response bodies of the REST API (separate from the ORM rows and domain models)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from attune.api.errors import ErrorDetail
from attune.packs.models import RUNNER_ALIASES, ParameterSpec
from attune.packs.schema import MAX_ACTION_REF, MAX_PACK_REF
from attune.records.models import utc
from attune.records.reserved_ids import MAX_BLOCK as MAX_RESERVED_BLOCK
from attune.secrets import redact_sealed
from attune.statuses import ExecutionStatus, InquiryStatus
from attune.workflows.definition import MAX_DURATION_SECONDS, over_duration_limit

T = TypeVar("T")
ACTION_REF_PATTERN = r"^[a-z][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_-]*$"  # <pack>.<name>
if TYPE_CHECKING:  # the names are data (RUNNER_ALIASES); the type checker sees a string
    RunnerType = str
else:
    RunnerType = Literal[tuple(RUNNER_ALIASES)]


def _iso_utc(value: datetime) -> str:
    return utc(value).isoformat()


# A timestamp as the answers write it (UTC, ISO 8601), typed so in the OpenAPI schema: a
# serializer on every field ("*") made the schema of each one "any".
UtcDatetime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str, when_used="json"),
                        WithJsonSchema({"type": "string", "format": "date-time"})]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pagination(BaseModel):
    page: int
    page_size: int
    total_items: int
    total_pages: int
    has_previous: bool
    has_next: bool

    @classmethod
    def of(cls, page: int, page_size: int, total: int) -> Pagination:
        pages = (total + page_size - 1) // page_size
        return cls(page=page, page_size=page_size, total_items=total, total_pages=pages,
                   has_previous=page > 1, has_next=page < pages)


class KeysetPagination(Pagination):
    """The executions list's envelope: the same fields plus the cursor of the next page."""

    next_after: int | None = Field(
        None, description="Pass as `after` to get the next page by keyset (as fast at any "
                          "depth); null on the last page")

    @classmethod
    def keyset(cls, page: int, page_size: int, total: int, has_next: bool,
               last_id: int | None, has_previous: bool | None = None) -> KeysetPagination:
        base = Pagination.of(page, page_size, total).model_dump()
        if has_previous is not None:  # an `after` page: newer rows exist whatever its number
            base["has_previous"] = has_previous
        return cls(**{**base, "has_next": has_next, "next_after": last_id if has_next else None})


class Item(BaseModel, Generic[T]):
    data: T


class Page(BaseModel, Generic[T]):
    items: list[T]
    pagination: Pagination


class ExecutionPage(BaseModel, Generic[T]):
    items: list[T]
    pagination: KeysetPagination


# --- executions ----------------------------------------------------------------------------------
class ExecuteRequest(_In):
    action_ref: str = Field(examples=["examples.sequence"])
    parameters: dict[str, Any] = Field(default_factory=dict)


class WorkflowTaskRef(BaseModel):
    workflow_execution: int
    task_name: str
    triggered_by: str | None = None
    task_index: int | None = None
    retry_count: int = 0
    iteration: int | None = Field(None, description="Which run of the task this is (1 = the first; a "
                                  "loop runs a task again); null in records written before it was kept")
    items_span: list[int] | None = Field(
        None, min_length=2, max_length=2,
        description="A slice of a with_items of more than 500 items: the items [start, end) its nested "
                    "run ran (their records are its children); null for anything else")


class Execution(_Out):
    id: int
    action_ref: str
    status: ExecutionStatus
    parent: int | None = None
    config: dict[str, Any] | None = Field(default_factory=dict,
                                          description="Parameters, secrets redacted")
    result: Any = None
    workflow_task: WorkflowTaskRef | None = None
    retry_count: int = 0
    original_execution: int | None = None
    timeout_seconds: float | None = None
    status_detail: str | None = Field(None, description="Why it is not moving, when known "
                                      "(e.g. its workflow task keeps failing)")
    workflow_id: str | None = Field(None, description="Temporal workflow id (Web UI link)")
    rerun_of: int | None = Field(None, description="The execution this one re-runs")
    waits_for_inquiry: int | None = Field(
        None, description="The inquiry this task waits for, or waited for once it has moved on "
                          "(kept as a link to the answer); -1 when its `wait_for` named no inquiry id")
    omitted: list[str] = Field(default_factory=list, description="In lists: fields left out "
                               "because they are large (`result`, `config`); GET the execution "
                               "to read them")
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    created: UtcDatetime
    updated: UtcDatetime

    @field_validator("config", "result")
    @classmethod
    def _shown_redacted(cls, value: Any) -> Any:
        """A secret passed on whole (an output_map, a publish) travels sealed, so that a parent
        can hand it to its own tasks; what the API shows is ******** (spec §7), not the token."""
        return redact_sealed(value)


class WaitingTask(_Out):
    """A current task that no process runs yet: it waits for a timer."""

    task: str
    reason: Literal["delay", "retry"] = Field(
        description="`delay`: its `delay` before its first dispatch; `retry`: the delay before a retry")
    until: UtcDatetime = Field(description="When it is dispatched (UTC); held instead if the run is "
                                        "paused then")
    retry_count: int = Field(0, description="A retry: the attempt then dispatched (0 = the first)")
    task_index: int | None = Field(None, description="A retry of one with_items item: its index")


class WorkflowExecution(_Out):
    id: int
    execution: int
    workflow_id: str | None = None
    action_ref: str
    status: ExecutionStatus
    current_tasks: list[Any] = Field(default_factory=list)
    waiting: list[WaitingTask] = Field(
        default_factory=list, description="Those of the current tasks that wait out a delay or a "
        "retry's delay (the earliest of each task), with when they are dispatched")
    completed_tasks: list[Any] = Field(default_factory=list)
    failed_tasks: list[Any] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    task_graph: dict[str, Any] = Field(default_factory=dict)
    error_message: str | None = None

    @field_validator("variables")
    @classmethod
    def _shown_redacted(cls, value: Any) -> Any:  # as Execution's result
        return redact_sealed(value)

    @field_validator("waiting", mode="before")
    @classmethod
    def _none_waiting(cls, value: Any) -> Any:  # rows written before runs reported it
        return [] if value is None else value
    created: UtcDatetime
    updated: UtcDatetime
    tasks: list[Execution] = Field(default_factory=list, description="Each task run's record")
    kept_tasks: list[Execution] = Field(
        default_factory=list, description="A re-run from failed tasks: the records of the tasks "
        "it kept from the execution it re-runs (linked, not run again)")


# --- packs, actions, workflows -----------------------------------------------------------------
class PackIn(_In):
    ref: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=MAX_PACK_REF)
    label: str | None = None
    description: str | None = None
    version: str = "0.0.0"
    config: dict[str, Any] = Field(default_factory=dict)
    conf_schema: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)


class RegisterRequest(_In):
    path: str = Field(min_length=1, description="Pack directory on the API host", examples=["packs/examples"])


class PackOut(_Out):
    id: int
    ref: str
    label: str | None = None
    description: str | None = None
    version: str
    path: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    conf_schema: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list, description="Refs of the pack's actions")
    created: UtcDatetime
    updated: UtcDatetime


# What a GET answer carries that a PUT cannot set: ignored, so GET, edit, PUT works.
_READ_ONLY = ("id", "created", "updated", "is_workflow")


class _ActionFields(_In):
    @model_validator(mode="before")
    @classmethod
    def _without_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(key in data for key in _READ_ONLY):
            data = {k: v for k, v in data.items() if k not in _READ_ONLY}
        return data

    ref: str | None = Field(None, max_length=MAX_ACTION_REF,
                            description="<pack>.<name>; immutable once created (a PUT may "
                                        "repeat it; a different one is refused)")
    pack_ref: str | None = Field(None, description="Defaults to the part of ref before the dot")
    label: str | None = None
    description: str | None = None
    enabled: bool = True
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    timeout_seconds: int | None = Field(None, ge=1)
    tags: list[str] = Field(default_factory=list)


class ActionIn(_ActionFields):
    """An action YAML's keys, as JSON: checked by the same rules as a pack's files."""

    @model_validator(mode="before")
    @classmethod
    def _as_read(cls, data: Any) -> Any:
        """A GET answer's spelling: `runner` (the runner_type it resolved to), and a script
        action's `workflow_file: null`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("workflow_file", "") is None:
            del data["workflow_file"]
        if "runner" in data:
            runner = data.pop("runner")
            data.setdefault("runner_type", runner)
        return data

    runner_type: RunnerType = Field(
        description="The interpreter: shell (or bash, sh), python "
                    "(python3), nodejs (node, node.js)")
    entry_point: str = Field(min_length=1, description="The script, relative to the pack's actions/")
    warm_start: bool = True
    local: bool = False
    runtime_version: str | None = Field(None, description="Interpreter constraint, e.g. '>=3.9'")
    default_execution_permission_set_refs: list[str] | None = None
    parameter_delivery: Literal["stdin", "file"] = "stdin"
    parameter_format: Literal["json", "yaml", "dotenv"] = "json"
    output_format: Literal["text", "json", "yaml", "jsonl"] = "text"


class _DefinitionOut(_Out):
    """What actions and workflows share in responses."""

    id: int
    ref: str
    pack_ref: str
    label: str | None = None
    description: str | None = None
    enabled: bool
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    workflow_file: str | None = None
    created: UtcDatetime
    updated: UtcDatetime


class ActionOut(_DefinitionOut):
    runner: str | None = None
    entry_point: str | None = None
    warm_start: bool = True
    local: bool = False
    runtime_version: str | None = None
    default_execution_permission_set_refs: list[str] = Field(default_factory=list)
    parameter_delivery: str
    parameter_format: str
    output_format: str
    timeout_seconds: int
    tags: list[str] = Field(default_factory=list)
    is_workflow: bool


class ActionCreate(ActionIn):
    # The limit again: a field redeclared here drops _ActionFields' (POST /workflows saved a
    # 201-character ref, over the limit the pack loader applies to the same files).
    ref: str = Field(pattern=ACTION_REF_PATTERN, max_length=MAX_ACTION_REF, examples=["examples.hello"],
                     description="<pack>.<name>; immutable once created")


class WorkflowIn(_ActionFields):
    # One of the two (a body with both, or neither, is refused).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"properties": {"yaml": {"type": "string"}}, "required": ["yaml"]},
        {"properties": {"definition": {"type": "object"}}, "required": ["definition"]}]})

    definition: dict[str, Any] | None = Field(None, description="The workflow graph as JSON")
    yaml: str | None = Field(None, description="Or the workflow file's YAML text")
    workflow_file: str | None = Field(None, min_length=1)


class WorkflowCreate(WorkflowIn):
    ref: str = Field(pattern=ACTION_REF_PATTERN, max_length=MAX_ACTION_REF, examples=["examples.my_flow"],
                     description="<pack>.<name>; immutable once created")


class WorkflowOut(_DefinitionOut):
    definition: dict[str, Any]


class ValidateResult(BaseModel):
    valid: bool
    errors: list[ErrorDetail] = Field(default_factory=list, description="One per problem, at "
                                      "line:column of the YAML")


class ValidateRequest(_In):
    yaml: str


class ComponentHealth(BaseModel):
    ok: bool
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    api: ComponentHealth
    database: ComponentHealth
    temporal: ComponentHealth
    disk: ComponentHealth = Field(description="Free space where the records database, the blobs "
                                  "and the state directory are written")


# --- run control (spec §9) ------------------------------------------------------------------------
class RerunRequest(_In):
    parameters: dict[str, Any] | None = Field(
        None, description="Parameters to change; the rest (secrets included) stay as they were. "
                          "A parameter sent as null is not given: its default applies")
    from_failed: bool = Field(False, description="Re-run a failed workflow from its failed tasks: "
                              "tasks that succeeded keep their results and variables")


class ClaimRequest(_In):
    """What a runtime worker knows of the attempt it is about to start."""

    action_ref: str
    parameters: dict[str, Any] = Field(default_factory=dict, description="Secrets redacted")
    timeout_seconds: float | None = None


class ClaimAnswer(BaseModel):
    id: int


class ReserveRequest(_In):
    """A run's orchestrator asks for the execution ids of task attempts it will dispatch."""

    count: int = Field(ge=1, le=MAX_RESERVED_BLOCK, description="How many ids")


class ReserveAnswer(BaseModel):
    ids: list[int]


class InquiryCreate(_In):
    prompt: str = Field(min_length=1)
    response_schema: dict[str, ParameterSpec] = Field(
        default_factory=dict, description="Flat parameter schema (spec §1) the response must meet")
    # Part of the inquiry's key (its task's record key + purpose), a 700-character column.
    purpose: str | None = Field(None, max_length=200,
                                description="Names the question within its task: asking the same "
                                "purpose again (a retried attempt) returns the same inquiry")
    assigned_to: str | None = None
    timeout_seconds: float | None = Field(None, gt=0, description="At most "
                                          f"{MAX_DURATION_SECONDS} (10 years)")
    response_options: Any = Field(None, description="Accepted and ignored: Attune's inquiry "
                                  "fixtures send it and Attune's API ignores it; the answer is "
                                  "checked against response_schema")

    @field_validator("timeout_seconds")
    @classmethod
    def _within_limit(cls, value: float | None) -> float | None:
        problem = over_duration_limit(value, "timeout_seconds") if value is not None else None
        if problem is not None:
            raise PydanticCustomError("duration_too_long", problem)
        return value


class InquiryResponse(_In):
    response: dict[str, Any] = Field(default_factory=dict)


class Inquiry(_Out):
    id: int
    execution: int | None = Field(None, description="The execution that asked")
    execution_key: str | None = None
    purpose: str | None = None
    prompt: str
    response_schema: dict[str, Any] = Field(default_factory=dict)
    assigned_to: str | None = None
    status: InquiryStatus
    response: Any = None
    timeout_at: UtcDatetime | None = None
    responded_at: UtcDatetime | None = None
    created: UtcDatetime
    updated: UtcDatetime
