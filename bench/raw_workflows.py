"""The benchmark work written directly against the Temporal Python SDK (the "raw" baseline).

No interpreter, no definitions, no records: a loop of activities for a chain, a semaphore-bounded
fan-out for with_items. Activity options match Attune's (`attune.engine.workflow._activity`):
start-to-close = action timeout + 60 s, 10 s heartbeat timeout, 5 attempts, wait for cancellation.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

ORCHESTRATOR_QUEUE = "raw-orchestrator"
ACTION_TIMEOUT = 600  # Attune's default action timeout_seconds
# Above this many items the fan-out runs as sequential child workflows of this size, so the
# history stays well under Temporal's 51,200-event limit.
ITEMS_PER_WORKFLOW = 1000
OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=ACTION_TIMEOUT + 60),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
)

# Local activities have no heartbeat and no task queue (they run in the workflow's worker).
LOCAL_OPTIONS: dict[str, Any] = dict(
    start_to_close_timeout=OPTIONS["start_to_close_timeout"], retry_policy=OPTIONS["retry_policy"],
    cancellation_type=OPTIONS["cancellation_type"])


def runtime_queue(runtime: str) -> str:
    return f"raw-{runtime}"


@workflow.defn(name="RawChain")
class RawChain:
    """`length` activities in sequence: {runtime, script, format, params, length, mode}.

    mode: "spawn" (a fresh interpreter per task), "warm" (python: fork from a pre-started
    interpreter, as Attune's python runtime does), "inproc" (the work computed inside the
    activity, on the runtime's own queue, as in the published cross-engine benchmarks; no process
    at all: the floor plain Temporal code sets), "local" (a local
    activity in the orchestrator process forking from the warm starter, as Attune's `local: true`
    actions run).
    """

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> Any:
        last = None
        for _ in range(inp["length"]):
            if inp.get("mode") == "inproc":
                last = await workflow.execute_activity(
                    "raw_inproc", inp["params"], task_queue=runtime_queue(inp["runtime"]), **OPTIONS)
            elif inp.get("mode") == "local":
                last = await workflow.execute_local_activity(
                    "raw_run", {"runtime": inp["runtime"], "script": inp["script"],
                                "format": inp["format"], "params": inp["params"], "mode": "warm"},
                    **LOCAL_OPTIONS)
            else:
                last = await workflow.execute_activity(
                    "raw_run", {k: inp[k] for k in ("script", "format", "params", "mode")},
                    task_queue=runtime_queue(inp["runtime"]), **OPTIONS)
        return last


@workflow.defn(name="RawItems")
class RawItems:
    """One activity per item of range(start, start + count), at most `concurrency` at once.
    mode "spawn" (default) runs the echo script per item; "inproc" echoes inside the activity."""

    @workflow.run
    async def run(self, inp: dict[str, Any]) -> int:
        start, count = inp.get("start", 0), inp["count"]
        if count > ITEMS_PER_WORKFLOW:
            done = 0
            for first in range(start, start + count, ITEMS_PER_WORKFLOW):
                size = min(ITEMS_PER_WORKFLOW, start + count - first)
                done += await workflow.execute_child_workflow(
                    RawItems.run, {**inp, "start": first, "count": size},
                    id=f"{workflow.info().workflow_id}/{first}")
            return done
        limit = asyncio.Semaphore(inp["concurrency"])

        async def one(index: int) -> Any:
            params = {"message": f"item {index}"}
            async with limit:
                if inp.get("mode") == "inproc":
                    return await workflow.execute_activity(
                        "raw_inproc", params, task_queue=runtime_queue(inp["runtime"]), **OPTIONS)
                return await workflow.execute_activity(
                    "raw_run", {"script": inp["script"], "format": inp["format"],
                                "params": params, "mode": "spawn"},
                    task_queue=runtime_queue(inp["runtime"]), **OPTIONS)

        results = await asyncio.gather(*(one(i) for i in range(start, start + count)))
        return len(results)
