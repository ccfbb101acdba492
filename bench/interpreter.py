"""The interpreter's own cost per task, without Temporal: the work `AttuneWorkflow._drive` does for
each event (conductor step, the Web UI task table, one RunRecord per attempt), timed in-process.

It separates what grows with the size of a definition from what Temporal and the processes add,
and is deterministic enough to show an O(n) step even on a busy machine.
"""

from __future__ import annotations

import time
from typing import Any

from attune.contract import RunRecord
from attune.engine.presentation import task_table
from attune.packs.catalog import Catalog
from attune.statuses import ExecutionStatus, TaskStatus
from attune.workflows.commands import Dispatch, Outcome
from attune.workflows.conductor import Conductor
from attune.workflows.events import AttemptEnded
from attune.workflows.keys import AttemptKey

RESULT = {"succeeded": True, "exit_code": 0, "duration_ms": 7, "data": {"n": 10, "result": 55}}


def _record(d: Dispatch) -> RunRecord:
    return RunRecord(key=f"wf/{d.key}", workflow_id="wf", task_name=d.task, iteration=d.key.iteration,
                     task_index=d.key.index, action_ref=d.action_ref, status=ExecutionStatus.SCHEDULED,
                     parameters=d.input)


def drive(conductor: Conductor, *, table: bool) -> dict[str, float]:
    """Feed every dispatch a success, one event per activation, as the workflow does."""
    conductor_s = table_s = records_s = 0.0
    t = time.perf_counter()
    pending = [c for c in conductor.start() if isinstance(c, Dispatch)]
    conductor_s += time.perf_counter() - t
    records: dict[AttemptKey, RunRecord] = {}
    steps = 0
    while pending:
        d = pending.pop(0)
        t = time.perf_counter()
        records[d.key] = _record(d)
        records_s += time.perf_counter() - t
        t = time.perf_counter()
        commands = conductor.handle(AttemptEnded(d.key, Outcome(status=TaskStatus.SUCCEEDED, result=dict(RESULT))))
        conductor_s += time.perf_counter() - t
        pending += [c for c in commands if isinstance(c, Dispatch)]
        if table:
            t = time.perf_counter()
            task_table(conductor)
            table_s += time.perf_counter() - t
        steps += 1
    assert conductor.finished is not None and conductor.finished.status == "completed", conductor.finished
    return {"steps": steps, "conductor_us": conductor_s / steps * 1e6,
            "task_table_us": table_s / steps * 1e6, "record_us": records_s / steps * 1e6}


def chain_cost(catalog: Catalog, ref: str) -> dict[str, Any]:
    action = catalog.action(ref)
    out = drive(Conductor(action.workflow, {"n": 10}), table=True)
    out["tasks"] = len(action.workflow.tasks)
    return out


def items_cost(catalog: Catalog, count: int) -> dict[str, Any]:
    """A with_items parent (slices of 500 when large) plus one slice's worth of items."""
    action = catalog.action("bench.items")
    parent = Conductor(action.workflow, {"count": count})
    t = time.perf_counter()
    commands = parent.start()
    start_ms = (time.perf_counter() - t) * 1000  # renders range(count) and, if sliced, all inputs
    slices = [c for c in commands if isinstance(c, Dispatch)]
    item = drive(Conductor(action.workflow, {"count": min(count, parent.slice_size)}), table=True)
    return {"items": count, "first_dispatch_ms": start_ms, "slices_started": len(slices),
            "per_item": item}
