"""Regenerate tests/histories/*.json: one stored history per workflow construct.

    .venv/bin/python -m tests.engine.record_histories [case ...]   # default: every case

Run it when a feature is added, never to "fix" a failing replay test: a replay failure means
the interpreter changed the commands it emits for in-flight runs (guard with workflow.patched()).
Record only the new cases, so that the older histories keep proving old runs still replay.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attune.engine.client import EngineClient
from attune.engine.server import free_port, start_dev_server
from attune.engine.worker import build_workers
from tests.engine.helpers import start, wait_ended

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
CASES = {
    "sequence": ("qa.sequence", {"start": 2}),
    "failures": ("qa.failures", {}),
    "joins": ("qa.joins", {}),
    "items": ("qa.items", {"count": 4, "tmp": "{tmp}"}),
    "retry": ("qa.retry", {"tmp": "{tmp}"}),
    "timeout": ("qa.timeout", {}),
    "conditions": ("qa.conditions", {"n": 5}),
    "nested": ("qa.nested", {"value": 4}),
    "loop": ("qa.loop", {}),
    "runaway": ("qa.runaway", {}),
    "bad_expression": ("qa.bad_expression", {}),
    "big_items": ("qa.big_items", {"count": 600}),
    "plain": ("qa.echo", {"message": "hi"}),
    "local_chain": ("qa.local_chain", {"start": 2, "tmp": "{tmp}"}),  # local actions, final memo
    "local_items": ("qa.local_wide", {"count": 80}),  # local with_items: checkpoint timers
    "task_inputs": ("qa.task_inputs", {}),  # defaults and checks at dispatch (patched)
    # self-loop start, now()/uuid(), on_success items, type: parallel, decision default marker,
    # optional parameter null, output_map of a branch not taken (patched: attune_forms)
    "attune_forms": ("qa.attune_forms", {}),
    # Since attune_semantics_2: cancellation reaching nested runs and slices, the depth limit,
    # re-run from failed state, and run control (pause/resume, inquiries).
    "cancel_tree": ("qa.cancel_tree", {"items": 600}),
    "depth": ("qa.recurse", {"n": 2}),
    "rerun": ("qa.sequence", {"start": 2}),
    "run_control": ("qa.gate", {"inquiry": 5}),
    "ask": ("examples.approval", {"release": "7"}),
    # A loop that continues as new (attune_continue_as_new): every run of the chain is stored,
    # the first ending ContinuedAsNew, the later ones starting from the carried checkpoint.
    "continue_as_new": ("qa.long_loop", {"count": 40, "delay": 0.5}),
    # Reserved execution ids (attune_record_ids): items that outrun the ids the run started with
    # ask for a block (a local activity; no API answers here) and go on; a nested run gets ids.
    "record_ids": ("qa.items", {"count": 4, "tmp": "{tmp}"}),
    "record_ids_nested": ("qa.nested", {"value": 4}),
    # Runs started since attune_baseline_1: one marker for every patch before it, in the
    # parent and in each nested run; the language forms under it.
    "baseline": ("qa.nested", {"value": 4}),
    "baseline_forms": ("qa.attune_forms", {}),
    # Runs started since the baseline went into the input (WorkflowInput.baseline): no marker.
    "baseline_input": ("qa.nested", {"value": 4}),
    "baseline_input_forms": ("qa.attune_forms", {}),
}


async def _cancel_tree(engine: EngineClient, workflow_id: str) -> None:
    await _until(engine, workflow_id, lambda r: r.task_name == "many" and r.child_workflow_id)
    await asyncio.sleep(1.0)
    await engine.cancel(workflow_id)


async def _run_control(engine: EngineClient, workflow_id: str) -> None:
    """What the API does for a run that waits for inquiry 5: its state, pause, answer, resume."""
    await _until(engine, workflow_id, lambda r: r.waits_for_inquiry is not None)
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    await engine.tell_inquiry(workflow_id, {"id": 5, "status": "pending", "timeout_at": soon})
    await engine.pause(workflow_id)
    await engine.tell_inquiry(workflow_id, {"id": 5, "status": "responded", "response": {"by": "ana"}})
    await asyncio.sleep(1.0)  # answered while paused: nothing is dispatched
    await engine.resume(workflow_id)


async def _answer(engine: EngineClient, workflow_id: str) -> None:
    await _until(engine, workflow_id, lambda r: r.asks is not None)
    key = f"{workflow_id}/approve.1#0"
    await engine.tell_inquiry(workflow_id, {"id": 1, "key": key, "status": "pending"})
    await engine.tell_inquiry(workflow_id, {"id": 1, "key": key, "status": "responded",
                                            "response": {"approved": True, "note": "go"}})


async def _until(engine: EngineClient, workflow_id: str, found) -> None:
    for _ in range(300):
        if any(found(r) for r in await engine.records(workflow_id)):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{workflow_id}: what the recording waits for never happened")


DRIVERS = {"cancel_tree": _cancel_tree, "run_control": _run_control, "ask": _answer}
OPTIONS = {
    "rerun": {"resume": {"results": {"a": {"succeeded": True, "exit_code": 0, "data": {"value": 21}}},
                         "variables": {"from_a": 21}, "rerun": ["b"]}},
    "ask": {"packs": str(Path(__file__).resolve().parents[2] / "packs")},
    "continue_as_new": {"continue_after": 100},
    "record_ids": {"record_ids": [9_000_001]},
    "record_ids_nested": {"record_ids": [9_000_101, 9_000_102, 9_000_103]},
    "baseline": {"record_ids": [9_000_201, 9_000_202, 9_000_203]},
    "baseline_input": {"record_ids": [9_000_301, 9_000_302, 9_000_303]},
}


async def _store(handle, name: str) -> None:
    history = await handle.fetch_history()
    stored = {"workflow_id": handle.id, **json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(stored))


async def _store_every_run(engine: EngineClient, name: str, workflow_id: str) -> None:
    runs = [w async for w in engine.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    for number, run in enumerate(sorted(runs, key=lambda w: w.start_time), start=1):
        await _store(engine.client.get_workflow_handle(workflow_id, run_id=run.run_id), f"{name}.{number}")


async def main(names: list[str]) -> None:
    unknown = set(names) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(unknown))}")
    port = free_port()
    server = start_dev_server(port=port, ui_port=None)
    try:
        engine = await EngineClient.connect(f"127.0.0.1:{port}")
        workers = build_workers(engine.client, ["orchestrator", "shell", "python", "nodejs"])
        tasks = [asyncio.create_task(w.run()) for w in workers]
        HISTORIES.mkdir(exist_ok=True)
        for name, (ref, params) in CASES.items():
            if names and name not in names:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                params = {k: (v.format(tmp=tmp) if isinstance(v, str) else v) for k, v in params.items()}
                workflow_id = await start(engine, ref, params, **OPTIONS.get(name, {}))
                if name in DRIVERS:
                    await DRIVERS[name](engine, workflow_id)
                status, _ = await wait_ended(engine, workflow_id, 300)
                if name == "continue_as_new":
                    await _store_every_run(engine, name, workflow_id)
                else:
                    await _store(engine.handle(workflow_id), name)
                print(f"{name}: {status}")
        for w in workers:
            await w.shutdown()
        for t in tasks:
            t.cancel()
    finally:
        server.kill()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
