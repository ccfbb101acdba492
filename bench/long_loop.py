"""Cost per iteration of a long loop, from 100 to 20,000 iterations (issue 13.4).

    python -m bench.long_loop                       # 100, 1000, 5000, 20000 iterations, queued action
    python -m bench.long_loop --sizes 100,2000 --local
    python -m bench --only loop                      # the same inside the main benchmark run

A loop past ~1,600 queued tasks (~10,000 history events) continues as new; the cost per
iteration must not grow with the length of the loop. There is no raw-SDK column: a raw workflow
running 20,000 activities in one history would be terminated by Temporal at 51,200 events.
Results: a table on stdout and JSON in bench/results/long_loop.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from attune.engine.client import EngineClient
from attune.packs.catalog import Catalog
from attune.packs.loader import load_packs
from bench.procmon import Sampler
from bench.stack import Stack

PACKS = Path(__file__).resolve().parent / "packs"
RESULTS = Path(__file__).resolve().parent / "results"


async def run_loop(engine: EngineClient, ref: str, count: int, catalog: Catalog | None = None) -> dict:
    catalog = catalog or load_packs(str(PACKS))
    workflow_id = f"{ref}-{count}-{time.time_ns()}"
    began = time.perf_counter()
    await engine.start(catalog=catalog.closure(ref), action_ref=ref, parameters={"count": count},
                       workflow_id=workflow_id)
    end = await engine.wait(workflow_id)
    seconds = time.perf_counter() - began
    if end.status != "completed" or end.result.get("iterations") != count:
        failed = [r for r in await engine.records(workflow_id) if r.status not in ("completed", "succeeded")]
        details = "; ".join(f"{r.key} {r.status}: {str(r.result)[:400]}" for r in failed[:3])
        raise RuntimeError(f"{workflow_id}: {end.status} {end.result} | {details}")
    runs = [w async for w in engine.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return {"iterations": count, "seconds": round(seconds, 3),
            "ms_per_iteration": round(seconds * 1000 / count, 2), "temporal_runs": len(runs)}


async def main(sizes: list[int], local: bool, out: Path) -> None:
    ref = "bench.loop_local" if local else "bench.loop"
    tmp = tempfile.mkdtemp(prefix="attune-bench-loop-")
    stack = Stack(Path(tmp), Sampler())
    stack.start_server()
    for role in ("orchestrator", "python"):
        stack._spawn(role, [sys.executable, "-m", "attune.cli", "worker", "--temporal-address",
                            stack.address, "--runtime", role])
    kept = True  # the server's and workers' logs stay when a loop fails
    try:
        engine = await EngineClient.connect(stack.address)
        await run_loop(engine, ref, 20)  # warm up: workers polling, interpreters started
        rows = []
        for count in sizes:
            rows.append(await run_loop(engine, ref, count))
            row = rows[-1]
            print(f"{ref:18} {row['iterations']:>7,} iterations  {row['seconds']:>8.1f} s  "
                  f"{row['ms_per_iteration']:>6.2f} ms/iteration  "
                  f"{row['ms_per_iteration'] / rows[0]['ms_per_iteration']:>5.2f}x the first  "
                  f"{row['temporal_runs']} Temporal run(s)", flush=True)
        kept = False
    finally:
        for role in list(stack.procs):
            stack.stop(role)
        if kept:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"workflow": ref, "rows": rows}, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000,20000")
    parser.add_argument("--local", action="store_true", help="loop a `local: true` action")
    parser.add_argument("--out", type=Path, default=RESULTS / "long_loop.json")
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.sizes.split(",")], args.local, args.out))
