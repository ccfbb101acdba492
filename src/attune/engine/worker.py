"""Workers: one orchestrator (runs the generic workflow) and one pool per runtime."""

from __future__ import annotations

import concurrent.futures
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from attune.engine.activities import HEARTBEAT_SECONDS, ActionActivities, checkpoint
from attune.engine.step_aside import StepAside
from attune.engine.workflow import AttuneWorkflow
from attune.runtimes import pool
from attune.runtimes.models import RUNTIMES
from attune.settings import (
    DEFAULT_QUEUE_PREFIX,
    DEFAULT_STATE_DIR,
    ORCHESTRATOR,
    orchestrator_queue,
    runtime_queue,
)

# Pure modules the workflow uses: imported once outside the sandbox, not re-imported per run.
PASSTHROUGH = ("attune", "pydantic", "pydantic_core", "pydantic_settings", "jinja2", "markupsafe", "yaml")


def workflow_runner(sandboxed: bool = False) -> WorkflowRunner:
    """Unsandboxed by default: the sandbox re-creates module state per run and costs ~20% of a
    chain's wall time (40-task chain 0.99 s -> 0.79 s here). The interpreter is pure by design
    (the conductor imports no I/O, clock or randomness; timestamps come from workflow.now()) and
    replay tests guard it; `--sandbox` (ATTUNE_WORKFLOW_SANDBOX=true) turns the checks back on."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


def build_workers(client: Client, roles: list[str], *, packs_root: str | None = None,
                  concurrency: int = 100, queue_prefix: str = DEFAULT_QUEUE_PREFIX,
                  state_dir: str = DEFAULT_STATE_DIR, sandboxed: bool = False,
                  step_aside: bool = True) -> list[Worker]:
    """One worker per role: ORCHESTRATOR or a runtime name. `step_aside`: see runtime_worker."""
    pool.configure(concurrency)  # processes started ahead: no more than this worker runs at once
    workers = []
    for role in roles:
        if role == ORCHESTRATOR:
            workers.append(orchestrator_worker(client, task_queue=orchestrator_queue(queue_prefix),
                                               sandboxed=sandboxed, packs_root=packs_root,
                                               state_dir=state_dir, max_local=concurrency))
        else:
            workers.append(runtime_worker(client, role, packs_root=packs_root,
                                          max_concurrent=concurrency, queue_prefix=queue_prefix,
                                          state_dir=state_dir, step_aside=step_aside))
    return workers


def orchestrator_worker(client: Client, *, task_queue: str, sandboxed: bool = False,
                        packs_root: str | None = None, state_dir: str = DEFAULT_STATE_DIR,
                        max_local: int = 100) -> Worker:
    """Runs workflow tasks, and the actions marked `local: true` as local activities."""
    activities = ActionActivities(packs_root, state_dir)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AttuneWorkflow],
        activities=[activities.run_action, activities.reserve_record_ids, checkpoint],
        workflow_runner=workflow_runner(sandboxed),
        max_concurrent_workflow_tasks=100,
        max_concurrent_local_activities=max_local,
    )


def runtime_worker(
    client: Client, runtime: str, *, packs_root: str | None = None, max_concurrent: int = 100,
    queue_prefix: str = DEFAULT_QUEUE_PREFIX, state_dir: str = DEFAULT_STATE_DIR,
    step_aside: bool = True,
) -> Worker:
    """`step_aside`: slots from StepAside, so a worker that hands tasks back stops polling while
    another can run them. It costs ~0.5 ms of the worker's CPU per task (the SDK calls into
    Python for every slot; bench/README); in-process test workers go without it, since the
    SDK's core threads calling into Python can abort an interpreter that exits with a worker
    not shut down (the CLI exits with os._exit)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    queue = runtime_queue(runtime, queue_prefix)
    slots = StepAside(client, queue, max_concurrent) if step_aside else None
    activities = ActionActivities(packs_root, state_dir, on_hand_back=slots.handed_back if slots else None)
    return Worker(
        client,
        task_queue=queue,
        activities=[activities.run_action],
        **({"tuner": slots.tuner()} if slots else {"max_concurrent_activities": max_concurrent}),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max(4, max_concurrent)),
        # A cancel reaches an activity only in the answer to a heartbeat, and the SDK otherwise
        # sends one at most every 80% of the heartbeat timeout (8 s): cancel_running then killed
        # a process up to 8 s late. Every heartbeat goes out now (see HEARTBEAT_SECONDS).
        max_heartbeat_throttle_interval=timedelta(seconds=HEARTBEAT_SECONDS),
    )
