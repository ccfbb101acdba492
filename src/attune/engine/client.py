"""Starting, watching and cancelling executions on Temporal."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError, TimeoutError
from temporalio.service import RPCError, RPCStatusCode

from attune.engine.payloads import WorkflowInput
from attune.engine.snapshot import WorkflowSnapshot
from attune.engine.workflow import WORKFLOW_NAME, AttuneWorkflow
from attune.packs.models import Action
from attune.secrets import load_key, seal_parameters
from attune.settings import ORCHESTRATOR_QUEUE


class WorkflowNotFound(LookupError):
    pass


def new_workflow_id(action_ref: str, execution_id: int | str | None = None) -> str:
    """Readable in the Web UI: the action ref first, then the execution id (or a short random)."""
    return f"{action_ref}-{execution_id if execution_id is not None else uuid.uuid4().hex[:10]}"


_CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timeout",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "running",
    WorkflowExecutionStatus.RUNNING: "running",
}


class EngineClient:
    def __init__(self, client: Client, task_queue: str = ORCHESTRATOR_QUEUE,
                 secret_key: bytes | None = None) -> None:
        self.client = client
        self.task_queue = task_queue
        self.secret_key = secret_key

    @classmethod
    async def connect(cls, address: str, namespace: str = "default",
                      task_queue: str = ORCHESTRATOR_QUEUE,
                      state_dir: str = ".attune") -> "EngineClient":
        client = await Client.connect(address, namespace=namespace,
                                      data_converter=pydantic_data_converter)
        return cls(client, task_queue, load_key(state_dir))

    async def start(
        self,
        *,
        catalog: dict[str, Action],
        action_ref: str,
        parameters: dict[str, Any],
        workflow_id: str,
        pack_configs: dict[str, dict[str, Any]] | None = None,
        api_url: str = "http://127.0.0.1:8000",
        queue_prefix: str = "attune",
        history_guard: int | None = None,
    ) -> WorkflowHandle:
        action = catalog[action_ref]
        kind = "workflow" if action.is_workflow else f"{action.runner} action"
        if action.secret_names():
            # Temporal stores and shows inputs: secrets go in sealed (see attune.secrets).
            parameters = seal_parameters(parameters, action.secret_names(),
                                         self.secret_key or load_key())
        return await self.client.start_workflow(
            WORKFLOW_NAME,
            WorkflowInput(action_ref=action_ref, parameters=parameters, catalog=catalog,
                          pack_configs=pack_configs or {}, api_url=api_url,
                          queue_prefix=queue_prefix,
                          **({"history_guard": history_guard} if history_guard else {})),
            id=workflow_id,
            task_queue=self.task_queue,
            static_summary=f"{action_ref} ({kind})",
            static_details=action.description or action.label or "",
        )

    def handle(self, workflow_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(workflow_id)

    async def snapshot(self, workflow_id: str, since: int = 0) -> WorkflowSnapshot:
        """What changed since `since`, with activities that have started shown as `running`."""
        handle = self.handle(workflow_id)
        try:
            snap = await handle.query(AttuneWorkflow.snapshot, since,
                                      result_type=WorkflowSnapshot)
            description = await handle.describe() if snap.status == "running" else None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(workflow_id) from exc
            raise
        if description is not None:
            started = {a.activity_id for a in description.raw_description.pending_activities
                       if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED}
            for record in snap.records:
                if record.status == "scheduled" and record.key.rsplit("/", 1)[-1] in started:
                    record.status = "running"
        return snap

    async def status(self, workflow_id: str) -> tuple[str, Any]:
        """("running"|"completed"|"failed"|"cancelled"|"terminated"|"timeout", result or error)."""
        handle = self.handle(workflow_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(workflow_id) from exc
            raise
        status = _CLOSED.get(description.status, "running")  # type: ignore[arg-type]
        if status == "running":
            return status, None
        return await self.wait(workflow_id)

    async def wait(self, workflow_id: str) -> tuple[str, Any]:
        """Wait for the end; map Temporal's outcome to an execution status and result."""
        try:
            return "completed", await self.handle(workflow_id).result()
        except WorkflowFailureError as exc:
            return outcome_of_failure(exc)

    async def cancel(self, workflow_id: str) -> None:
        await self.handle(workflow_id).cancel()


def outcome_of_failure(exc: WorkflowFailureError) -> tuple[str, Any]:
    cause = exc.cause
    if isinstance(cause, CancelledError):
        return "cancelled", {"error": "Workflow cancelled", "succeeded": False}
    if isinstance(cause, TerminatedError):
        return "terminated", {"error": "Workflow terminated", "succeeded": False}
    if isinstance(cause, TimeoutError):
        return "timeout", {"error": "Workflow timed out", "succeeded": False}
    if isinstance(cause, ApplicationError):
        result = cause.details[0] if cause.details else {"error": cause.message, "succeeded": False}
        return ("timeout" if cause.type == "ActionTimedOut" else "failed"), result
    return "failed", {"error": str(cause or exc), "succeeded": False}
