"""The `records` case (issue 13.5): the API's reads with 100,000 executions in the records, and
the mirror's cost per running workflow at 10 / 100 / 1,000 in flight.

For SQLite (a fresh file) and PostgreSQL (a fresh database `attune_bench_<pid>`, dropped after):
seed the records straight through SQL (`bench/records_seed.py`), start the real API process on
them (`attune api`, as the REST cases do), then

1. time each read over HTTP, one request at a time on one kept-alive connection: lists (the
   default page, each filter, a deep page by offset and by `after`), a get by id, a workflow's
   children and its workflow view; p50/p95 over repeated requests;
2. start N `bench.hold` workflows through the API (one task held by a delay: in flight on the
   server, holding no worker slot or process), wait until the records show them all running,
   then measure the CPU of the API process (whose only work is then its mirror) and of the
   Temporal server over a fixed window, per workflow per second. Cancelled before the next N.

The API reads the seeded table throughout, so part 2 also shows that what the mirror costs
depends on the runs in flight, not on the 100,000 ended rows.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.procmon import LoadMeter
from bench.records_seed import Seeded, seed

PG_ADMIN = os.environ.get("ATTUNE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
API = "/api/v1"
HOLD = "bench.hold"


async def records_case(bench: Any) -> dict[str, Any]:
    s = bench.sizes
    result: dict[str, Any] = {"case": "records", "records": s.records, "queries": {}, "mirror": {},
                              "window_s": s.records_window, "repeats": s.records_repeats}
    for backend in ("sqlite", "postgresql"):
        bench.log(f"records: {backend}, seeding {s.records:,} executions")
        try:
            url, drop = _fresh_database(backend, bench.stack.workdir)
        except psycopg.OperationalError as exc:
            result["queries"][backend] = {"skipped": f"PostgreSQL unreachable: {exc}"[:200]}
            continue
        try:
            queries, mirror = await _one_backend(bench, backend, url)
            result["queries"][backend], result["mirror"][backend] = queries, mirror
        finally:
            bench.stack.stop("api")
            drop()
    return result


async def _one_backend(bench: Any, backend: str, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    s = bench.sizes
    began = time.perf_counter()
    seeded = await asyncio.to_thread(seed, url, s.records)
    bench.log(f"records: {backend} seeded in {time.perf_counter() - began:.1f} s; starting the API")
    base = bench.stack.start_api(url)
    reason = await bench._api_ready(base)  # also registers the bench pack (bench.hold)
    if reason:
        return {"skipped": reason}, {"skipped": reason}
    async with httpx.AsyncClient(base_url=base + API, timeout=120) as http:
        with LoadMeter(bench.sampler) as meter:
            queries = await _time_queries(http, seeded, s.records_repeats)
        queries["load"] = meter.summary()
        bench.log(f"records: {backend} reads timed; mirror cost at {s.records_mirror} workflows")
        mirror = await _mirror_cost(bench, http, s.records_mirror, s.records_window)
    return queries, mirror


def _fresh_database(backend: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A new empty database and the function that removes it."""
    if backend == "sqlite":
        path = workdir / f"records-{os.getpid()}.db"

        def remove() -> None:
            for leftover in workdir.glob(f"{path.name}*"):  # with its -wal and -shm
                leftover.unlink(missing_ok=True)

        remove()
        return f"sqlite:///{path}", remove
    name = f"attune_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}", drop


# ---- 1. reads ------------------------------------------------------------------------------------

def _queries(seeded: Seeded, rnd: random.Random) -> dict[str, Callable[[], tuple[str, dict[str, Any]]]]:
    """Each read the API offers, as a maker of (path, params): some pick a random row each time."""
    deep_page = max(1, int(seeded.rows * 0.9) // 50)  # offset ~90,000 of 100,000
    deep_after = seeded.ids[len(seeded.ids) // 10]  # the same depth by keyset
    return {
        "list (default page)": lambda: ("/executions", {}),
        "list status=failed": lambda: ("/executions", {"status": "failed"}),
        "list status=running,paused (rare)": lambda: ("/executions", {"status": ["running", "paused"]}),
        "list action_ref=ops.check": lambda: ("/executions", {"action_ref": "ops.check"}),
        "list action_ref=ops.* (pack)": lambda: ("/executions", {"action_ref": "ops.*"}),
        "list top_level_only": lambda: ("/executions", {"top_level_only": "true"}),
        "list deep page (page=, offset 90%)": lambda: ("/executions", {"page": deep_page}),
        "list deep page (after=, same depth)": lambda: ("/executions", {"after": deep_after}),
        "list status=failed after= (deep)": lambda: ("/executions", {"status": "failed",
                                                                     "after": deep_after}),
        "get by id": lambda: (f"/executions/{rnd.choice(seeded.ids)}", {}),
        "children (parent=)": lambda: ("/executions", {"parent": rnd.choice(seeded.workflows)}),
        "workflow view (tasks)": lambda: (f"/executions/{rnd.choice(seeded.workflows)}/workflow", {}),
    }


async def _time_queries(http: httpx.AsyncClient, seeded: Seeded, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, make in _queries(seeded, random.Random(5)).items():
        for _ in range(3):  # warm: plan caches, pooled connections, page cache
            await _get(http, *make())
        times = []
        for _ in range(repeats):
            path, params = make()
            t0 = time.perf_counter()
            await _get(http, path, params)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = _stats(times)
    return out


async def _get(http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> dict[str, Any]:
    resp = await http.get(path, params=params)
    resp.raise_for_status()
    return resp.json()


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2),
            "max": round(ordered[-1], 2), "n": len(ordered)}


# ---- 2. the mirror per running workflow ----------------------------------------------------------

async def _mirror_cost(bench: Any, http: httpx.AsyncClient, counts: tuple[int, ...],
                       window: float) -> dict[str, Any]:
    rows = [await _window(bench, 0, window)]  # the baseline: the mirror over the seeded table alone
    for n in counts:
        ids = await _each(n, lambda i: _submit(http, i))
        await _until(http, {"status": "running"}, n, timeout=120 + n * 0.2)
        await asyncio.sleep(min(5.0, window))  # past the first reads of each run
        rows.append(await _window(bench, n, window))
        await _each(len(ids), lambda i, ids=ids: http.post(f"/executions/{ids[i]}/cancel"))
        await _until(http, {"status": ["scheduled", "running", "canceling"]}, 0, timeout=120 + n * 0.2)
    idle = rows[0]
    for row in rows[1:]:
        for role in ("api", "temporal", "orchestrator"):
            extra = row[f"{role}_cpu_s"] - idle[f"{role}_cpu_s"]
            row[f"{role}_ms_per_wf_s"] = round(extra * 1000 / (row["workflows"] * window), 3)
    return {"rows": rows}


async def _window(bench: Any, n: int, window: float) -> dict[str, Any]:
    with LoadMeter(bench.sampler) as meter:
        await asyncio.sleep(window)
    cpu = meter.cpu_s
    # The API alone (its mirror's reads and writes), the server (describes, queries, timers) and
    # the orchestrator (which answers the mirror's snapshot queries).
    return {"workflows": n, "api_cpu_s": (cpu.get("api") or [0, 0])[0],
            "temporal_cpu_s": (cpu.get("temporal") or [0, 0])[1],
            "orchestrator_cpu_s": (cpu.get("orchestrator") or [0, 0])[0], "load": meter.summary()}


async def _submit(http: httpx.AsyncClient, i: int) -> int:
    resp = await http.post("/executions/execute",
                           json={"action_ref": HOLD, "parameters": {"seconds": 3600}})
    resp.raise_for_status()
    return int(resp.json()["data"]["id"])


async def _each(n: int, fn: Callable[[int], Awaitable[Any]], concurrency: int = 20) -> list[Any]:
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Any:
        async with limit:
            return await fn(i)

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _until(http: httpx.AsyncClient, params: dict[str, Any], count: int, timeout: float) -> None:
    """Until the records hold `count` top-level bench.hold runs with these statuses."""
    deadline = time.monotonic() + timeout
    while True:
        body = await _get(http, "/executions", {**params, "action_ref": HOLD,
                                                "top_level_only": "true", "per_page": 1})
        total = body["pagination"]["total_items"]
        if total == count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{total} {HOLD} runs {params}, waited for {count}")
        await asyncio.sleep(0.5)
