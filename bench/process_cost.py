"""Per-task process cost: mean wall time of N sequential run_process calls of a trivial Python,
Node.js and shell action, with the pool of started-ahead processes (runtimes/pool.py) and without it.

    PYTHONPATH=src .venv/bin/python bench/process_cost.py [runs]

Sequential on purpose: it measures what one task pays for its process (start, stdin, stdout,
exit). Back to back, a pool's refills compete with the next tasks for the CPU; with a gap between
tasks (as in a chain, where the orchestrator's round trip lies between two tasks) they do not.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from attune.runtimes import ProcessRequest, run_process, warm

GAPS = (0.0, 0.05)  # back to back (throughput-bound: refills compete for the cores), and spaced

ACTIONS = {
    "python": ("noop.py", "import json, sys\nprint(json.dumps(json.load(sys.stdin)))\n"),
    "nodejs": ("noop.js", "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(s));\n"),
    "shell": ("noop.sh", "cat\n"),
}


def _request(pack: Path, runner: str) -> ProcessRequest:
    return ProcessRequest(execution_id="bench", action_ref="bench.noop", pack_ref="bench",
                          pack_dir=str(pack), runner=runner, entry_point=ACTIONS[runner][0],  # type: ignore[arg-type]
                          parameters={"n": 1}, output_format="json")


async def _per_task_ms(pack: Path, runner: str, runs: int, gap: float) -> tuple[float, float]:
    """Mean and median wall time of one run_process (ms); `gap` seconds pass between two runs (not
    counted), as between the tasks of a chain, where the orchestrator's round trip lies between."""
    for _ in range(2):  # starter start, interpreter lookup, first pool fill
        await run_process(_request(pack, runner))
    await asyncio.sleep(0.5)  # let a fresh pool finish starting, as a worker's would between bursts
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await run_process(_request(pack, runner))
        times.append((time.perf_counter() - started) * 1000)
        assert result.succeeded, result.error
        await asyncio.sleep(gap)
    return statistics.mean(times), statistics.median(times)


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # run as root, actions run as the action user
        pack = Path(tmp) / "bench"
        (pack / "actions").mkdir(parents=True)
        for entry, text in ACTIONS.values():
            (pack / "actions" / entry).write_text(text)
        for mode, setting in (("plain", "0"), ("pooled", "")):
            os.environ["ATTUNE_PROCESS_POOL"] = setting
            for runner in ACTIONS:
                for gap in GAPS:
                    mean, median = await _per_task_ms(pack, runner, runs, gap)
                    print(f"{runner:7s} {mode:7s} gap {gap * 1000:3.0f} ms: mean {mean:5.1f} ms/task, "
                          f"median {median:5.1f} ({runs} sequential runs)", flush=True)
    warm.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
