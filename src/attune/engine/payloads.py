"""Typed single arguments of the Temporal workflow and activity (fields can be added later)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from attune.contract import RunRecord
from attune.packs.models import Action
from attune.settings import (
    DEFAULT_API_URL,
    DEFAULT_CONTINUE_AS_NEW_AFTER,
    DEFAULT_MAX_NESTING_DEPTH,
    DEFAULT_QUEUE_PREFIX,
)
from attune.workflows.checkpoint import Checkpoint
from attune.workflows.definition import TaskSpec


class SliceInput(BaseModel):
    """A slice of a large with_items task, run as its own child workflow."""

    task: TaskSpec  # the parent's task; its input templates were already rendered
    inputs: list[dict[str, Any]]
    first_index: int
    # The parent's context, so retry.on_error in a slice sees what it would see in the parent.
    parameters: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)


class InquiryState(BaseModel):
    """What the API tells a waiting run about an inquiry (the `inquiry` signal)."""

    id: int
    key: str | None = None  # the record key of the core.ask attempt that asked it, if one did
    status: Literal["pending", "responded", "timeout", "cancelled", "missing"]
    response: Any = None
    timeout_at: datetime | None = None


class ResumeInput(BaseModel):
    """A re-run from failed tasks (spec §9): what the failed run left (see Conductor.resume)."""

    results: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)
    rerun: list[str]


class CarryInput(BaseModel):
    """What a run continued as new takes from the run before it (AttuneWorkflow._continue):
    the conductor's checkpoint and everything the driver knew that the history no longer holds."""

    checkpoint: Checkpoint
    timers: dict[str, float]  # timer key -> seconds it still had to run
    records: list[RunRecord]  # attempts not ended (inquiry waits)
    seq: int  # the record book's sequence number
    previous_run_id: str
    inquiries: list[InquiryState]  # every inquiry state the run had been told
    waits: list[tuple[int, str, int | str]]  # (inquiry id, attempt key, wait_for as rendered)
    pause_requested: bool
    control: int = 0  # the last pause or resume applied (RunState.control)
    system: dict[str, Any]  # `system.*` of the first run (its start time, its id)
    runs: int  # Temporal runs of this execution so far


class WorkflowInput(BaseModel):
    action_ref: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    # Every action reachable from `action_ref`: the run is self-contained and replayable, and the
    # Web UI shows exactly which definitions ran.
    catalog: dict[str, Action]
    pack_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Nested workflows inherit the parent's cancellation policy (spec §3).
    cancellation_policy: Literal["allow_finish", "cancel_running"] | None = None
    api_url: str = DEFAULT_API_URL
    # Execution ids reserved for this run's task attempts (records/reserved_ids.py); the run
    # asks `api_url` for more as it uses them up. None: started without the API (`--direct`),
    # so it never asks, and each task's worker claims its id if an API answers.
    record_ids: list[int] | None = None
    # This execution's own record id when the API submitted it: `system.execution_id`, the id
    # `attune execution get` takes (as in Attune). None (nested runs, `--direct`): the workflow id.
    execution_id: int | None = None
    # Runtime task queues are "<prefix>-<runtime>": separate worker fleets on one server.
    queue_prefix: str = DEFAULT_QUEUE_PREFIX
    # Identity of this run in the execution tree, for record keys of nested workflows.
    parent_key: str | None = None
    slice: SliceInput | None = None
    # Fail clearly before Temporal's 51,200-event and 50 MB hard stops (lower only in tests).
    history_guard: int = 45_000
    # 32 MiB: one workflow task can add several MiB (100 results under the blob threshold), and
    # Temporal's stop is 50 MB (47.7 MiB); at 40 a slice reached 46 MiB before it failed.
    history_bytes_guard: int = 32 * 1024 * 1024
    # Nesting: this run's depth (0 = submitted), its top-level run's id (None: it is the top),
    # and how deep nested workflows may go before their task fails (a workflow that runs
    # itself would otherwise nest until Temporal's id or history limits stop it uncleanly).
    depth: int = 0
    root_workflow_id: str | None = None
    max_depth: int = DEFAULT_MAX_NESTING_DEPTH
    # Start from a failed run's state instead of the start tasks (a re-run from failed).
    resume: ResumeInput | None = None
    # A run whose history passes this many events goes on in a fresh run (continue-as-new)
    # once nothing is in flight; `carry` is what that run starts from.
    continue_after: int = DEFAULT_CONTINUE_AS_NEW_AFTER
    # ... or this many bytes: values under the blob threshold stay in the history, and 300
    # task results of 200 KB passed Temporal's 50 MB before 10,000 events ("Workflow terminated").
    continue_after_bytes: int = 10 * 1024 * 1024
    carry: CarryInput | None = None
    # The patch baseline this run was started at (engine/workflow.py BASELINE_LEVEL): replay
    # finds it here, in the immutable input, so a run started now records no patch marker at
    # all. 0: started before this field existed; its patch markers say which code it ran.
    baseline: int = 0
