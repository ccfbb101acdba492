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
from pathlib import Path

from attune.engine.client import EngineClient
from attune.engine.worker import build_workers
from attune.engine.server import free_port, start_dev_server
from tests.engine.helpers import run

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
}


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
                result = await run(engine, ref, params)
                history = await engine.handle(result.workflow_id).fetch_history()
                stored = {"workflow_id": result.workflow_id, **json.loads(history.to_json())}
                (HISTORIES / f"{name}.json").write_text(json.dumps(stored))
                print(f"{name}: {result.status}")
        for w in workers:
            await w.shutdown()
        for t in tasks:
            t.cancel()
    finally:
        server.kill()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
