"""Running a pack action on the session's Temporal stack and reading back what happened."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from attune.contract import RunRecord, new_workflow_id
from attune.engine.client import EngineClient
from attune.packs.catalog import Catalog
from attune.packs.loader import load_packs
from attune.packs.parameters import config_secrets

TEST_PACKS = Path(__file__).resolve().parents[1] / "packs"


@cache
def catalog(root: str = str(TEST_PACKS)) -> Catalog:
    return load_packs(root)


@dataclass
class Run:
    workflow_id: str
    status: str
    result: Any
    records: list[RunRecord]

    def tasks(self, name: str) -> list[RunRecord]:
        return [r for r in self.records if r.task_name == name]


async def start(engine: EngineClient, ref: str, params: dict | None = None, *,
                queue_prefix: str = "attune", packs: str = str(TEST_PACKS),
                history_guard: int | None = None, resume: dict | None = None,
                continue_after: int | None = None, record_ids: list[int] | None = None,
                continue_after_bytes: int | None = None, history_bytes_guard: int | None = None,
                execution_id: int | None = None) -> str:
    cat = catalog(packs)
    workflow_id = new_workflow_id(ref)
    await engine.start(catalog=cat.closure(ref), action_ref=ref, parameters=params or {},
                       workflow_id=workflow_id, queue_prefix=queue_prefix,
                       history_guard=history_guard, resume=resume, continue_after=continue_after,
                       continue_after_bytes=continue_after_bytes, history_bytes_guard=history_bytes_guard,
                       pack_configs={r: p.config for r, p in cat.packs.items()},
                       config_secrets={r: config_secrets(p.conf_schema) for r, p in cat.packs.items()},
                       record_ids=record_ids, execution_id=execution_id)
    return workflow_id


async def records(engine: EngineClient, workflow_id: str) -> list[RunRecord]:
    return await engine.records(workflow_id)


async def run(engine: EngineClient, ref: str, params: dict | None = None, *,
              timeout: float = 120, **kwargs: Any) -> Run:
    workflow_id = await start(engine, ref, params, **kwargs)
    status, result = await wait_ended(engine, workflow_id, timeout)
    return Run(workflow_id, status, result, await records(engine, workflow_id))


async def wait_ended(engine: EngineClient, workflow_id: str, timeout: float = 120) -> tuple[str, Any]:
    """`engine.wait`, but a run that has not ended in time fails saying what it waits on."""
    try:
        end = await asyncio.wait_for(engine.wait(workflow_id), timeout)
        return end.status, end.result
    except TimeoutError:
        raw = (await engine.handle(workflow_id).describe()).raw_description
        info, task = raw.workflow_execution_info, raw.pending_workflow_task
        activities = [f"{a.activity_id} state={a.state} attempt={a.attempt} "
                      f"last_failure={a.last_failure.message!r}" for a in raw.pending_activities]
        raise AssertionError(
            f"{workflow_id} did not end within {timeout:.0f} s: status={info.status} "
            f"history_length={info.history_length} pending activities={activities} "
            f"pending workflow task: state={task.state} attempt={task.attempt}") from None


async def wait_running(engine: EngineClient, workflow_id: str, task: str) -> None:
    """Until a run of `task` is recorded `running` (10 s at most)."""
    for _ in range(100):
        if any(x.task_name == task and x.status == "running"
               for x in await records(engine, workflow_id)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{task} never started running")
