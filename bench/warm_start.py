"""Warm vs cold start of a trivial Python action: mean wall time of run_process over 50 runs each.

    .venv/bin/python bench/warm_start.py [runs]
"""

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from attune.runtimes import ProcessRequest, run_process, warm


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "bench"
        (pack / "actions").mkdir(parents=True)
        (pack / "actions" / "noop.py").write_text("import json, sys\nprint(json.dumps(json.load(sys.stdin)))\n")

        def request(warm_start: bool) -> ProcessRequest:
            return ProcessRequest(execution_id="bench", action_ref="bench.noop", pack_ref="bench",
                                  pack_dir=str(pack), runner="python", entry_point="noop.py",
                                  parameters={"n": 1}, output_format="json", warm=warm_start)

        for label, warm_start in (("warm (fork from starter)", True), ("cold (spawn python3 -u)", False)):
            await run_process(request(warm_start))  # starter start / interpreter path resolution
            started = time.perf_counter()
            for _ in range(runs):
                result = await run_process(request(warm_start))
                assert result.succeeded, result.error
            print(f"{label:26s} {(time.perf_counter() - started) * 1000 / runs:6.1f} ms/run over {runs} runs")
    warm.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
