"""Reading what happened in one run: per-task splits from Attune's records and from Temporal's
event history (the latter works the same for Attune and for the raw baseline)."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from temporalio.client import Client

from attune.contract import RunRecord
from attune.engine.client import EngineClient


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "mean": round(statistics.fmean(values), 2),
            "p50": round(statistics.median(values), 2),
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "max": round(ordered[-1], 2)}


async def read_records(engine: EngineClient, workflow_id: str) -> tuple[list[RunRecord], float]:
    """Every RunRecord of a run (paged), and how long reading them took."""
    began = time.perf_counter()
    records = await engine.records(workflow_id)
    return records, time.perf_counter() - began


def records_split(records: list[RunRecord]) -> dict[str, Any]:
    """Per task, from our own records: execution = the process's duration_ms; assignment =
    (ended_at - started_at) - execution; transition = next started_at - this ended_at.

    started_at/ended_at are workflow.now() of the workflow task that dispatched / saw the end,
    so in a chain task N's end and task N+1's dispatch share one timestamp: the transition shows
    as ~0 and its real cost is inside `assignment` (see history_split for the finer split)."""
    execution, assignment, transition = [], [], []
    for i, rec in enumerate(records):
        duration = (rec.result or {}).get("duration_ms") if isinstance(rec.result, dict) else None
        if rec.started_at and rec.ended_at and duration is not None:
            span = (rec.ended_at - rec.started_at).total_seconds() * 1000
            execution.append(float(duration))
            assignment.append(span - duration)
        if i + 1 < len(records) and rec.ended_at and records[i + 1].started_at:
            transition.append((records[i + 1].started_at - rec.ended_at).total_seconds() * 1000)
    return {"execution_ms": stats(execution), "assignment_ms": stats(assignment),
            "transition_ms": stats(transition)}


def _bytes(payloads: Any) -> float:
    return float(sum(len(p.data) + sum(len(v) for v in p.metadata.values()) for p in payloads.payloads))


def _ms(event: Any) -> float:
    return event.event_time.ToMicroseconds() / 1000.0


async def history_split(client: Client, workflow_id: str) -> dict[str, Any]:
    """Per activity, from Temporal's event history:
    queue = ActivityTaskScheduled -> Started (matching + poll), worker = Started -> Completed minus
    the process's duration_ms (payload decoding, spawn glue, result encoding, the completion RPC),
    execution = duration_ms, transition = Completed -> next Scheduled (a workflow task on the
    orchestrator: schedule, poll, run the workflow code, send commands). Plus head (workflow start
    -> first dispatch) and tail (last completion -> workflow completed)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    acts: dict[int, dict[str, float]] = {}
    start = end = None
    wft_run = []  # WorkflowTaskStarted -> Completed: workflow code time on the orchestrator
    wft_started: dict[int, float] = {}
    sizes: dict[str, list[float]] = {"workflow_input": [], "activity_input": [], "activity_result": []}
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            start = _ms(event)
            sizes["workflow_input"].append(_bytes(event.workflow_execution_started_event_attributes.input))
        elif event.HasField("workflow_execution_completed_event_attributes"):
            end = _ms(event)
        elif event.HasField("workflow_task_started_event_attributes"):
            wft_started[event.workflow_task_started_event_attributes.scheduled_event_id] = _ms(event)
        elif event.HasField("workflow_task_completed_event_attributes"):
            begun = wft_started.get(event.workflow_task_completed_event_attributes.scheduled_event_id)
            if begun is not None:
                wft_run.append(_ms(event) - begun)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            acts[event.event_id] = {"scheduled": _ms(event)}
            sizes["activity_input"].append(_bytes(event.activity_task_scheduled_event_attributes.input))
        elif event.HasField("activity_task_started_event_attributes"):
            acts[event.activity_task_started_event_attributes.scheduled_event_id]["started"] = _ms(event)
        elif event.HasField("activity_task_completed_event_attributes"):
            attrs = event.activity_task_completed_event_attributes
            act = acts[attrs.scheduled_event_id]
            act["completed"] = _ms(event)
            sizes["activity_result"].append(_bytes(attrs.result))
            try:
                act["duration"] = float(json.loads(attrs.result.payloads[0].data)["duration_ms"])
            except (IndexError, KeyError, TypeError, ValueError):
                pass
    ordered = sorted(acts.values(), key=lambda a: a["scheduled"])
    queue, worker, execution, transition = [], [], [], []
    for i, act in enumerate(ordered):
        if "started" in act and "completed" in act:
            queue.append(act["started"] - act["scheduled"])
            run = act["completed"] - act["started"]
            if "duration" in act:
                execution.append(act["duration"])
                worker.append(run - act["duration"])
        if i + 1 < len(ordered) and "completed" in act:
            transition.append(ordered[i + 1]["scheduled"] - act["completed"])
    out: dict[str, Any] = {
        "events": len(history.events),
        "queue_ms": stats(queue), "worker_ms": stats(worker), "execution_ms": stats(execution),
        "transition_ms": stats(transition), "workflow_task_ms": stats(wft_run),
        # What each run carries through Temporal (encoded payload bytes): part of the overhead
        **{f"{k}_bytes": stats(v) for k, v in sizes.items()},
    }
    if ordered and start is not None and "scheduled" in ordered[0]:
        out["head_ms"] = round(ordered[0]["scheduled"] - start, 1)
    if ordered and end is not None and "completed" in ordered[-1]:
        out["tail_ms"] = round(end - ordered[-1]["completed"], 1)
    return out


async def fanout_split(client: Client, workflow_id: str) -> dict[str, Any]:
    """A with_items run: its child workflows (slices) and, inside them, how busy the worker pool
    was. gap = one child's completion -> the next child's start request (the parent's workflow
    task); concurrency = activity running time / wall time (100 would be the bound)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    children: dict[int, dict[str, Any]] = {}
    for event in history.events:
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            children[event.event_id] = {"initiated": _ms(event)}
        elif event.HasField("child_workflow_execution_started_event_attributes"):
            attrs = event.child_workflow_execution_started_event_attributes
            children[attrs.initiated_event_id]["id"] = attrs.workflow_execution.workflow_id
        elif event.HasField("child_workflow_execution_completed_event_attributes"):
            attrs = event.child_workflow_execution_completed_event_attributes
            children[attrs.initiated_event_id]["completed"] = _ms(event)
    ordered = sorted(children.values(), key=lambda c: c["initiated"])
    ids = [c["id"] for c in ordered if "id" in c] or [workflow_id]
    gaps = [ordered[i + 1]["initiated"] - c["completed"] for i, c in enumerate(ordered[:-1])
            if "completed" in c]
    walls = [c["completed"] - c["initiated"] for c in ordered if "completed" in c]
    queue, concurrency, events = [], [], 0
    for child in ids:
        h = await client.get_workflow_handle(child).fetch_history()
        events += len(h.events)
        sched, start, done = {}, {}, {}
        for event in h.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                sched[event.event_id] = _ms(event)
            elif event.HasField("activity_task_started_event_attributes"):
                start[event.activity_task_started_event_attributes.scheduled_event_id] = _ms(event)
            elif event.HasField("activity_task_completed_event_attributes"):
                done[event.activity_task_completed_event_attributes.scheduled_event_id] = _ms(event)
        if done:
            wall = max(done.values()) - min(sched.values())
            concurrency.append(sum(done[k] - start[k] for k in done) / max(wall, 1e-6))
        queue += [start[k] - sched[k] for k in start]
    return {"children": len(children), "child_wall_ms": stats(walls), "gap_ms": stats(gaps),
            "queue_ms": stats(queue), "concurrency": stats(concurrency), "events": events}
