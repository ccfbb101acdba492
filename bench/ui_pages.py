"""How fast the web UI's pages answer with 100,000 executions in the records.

    .venv/bin/python -m bench.ui_pages                    # SQLite, 100,000 records
    .venv/bin/python -m bench.ui_pages --database-url postgresql://postgres@127.0.0.1:5432/attune_ui_bench
    .venv/bin/python -m bench.ui_pages --records 20000 --no-browser

Starts `attune api` on a fresh database, fills it with records shaped like real ones (top-level
runs and their task attempts, a workflow with 200 tasks), then times (1) every API request each
page makes, over HTTP, and (2) each page in headless Chromium, from navigation to its content on
screen. Not a test: nothing asserts a time. Needs no Temporal server (the pages read records only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert

from attune.engine.server import free_port
from attune.records.models import ExecutionRow, WorkflowExecutionRow, utcnow

REPO = Path(__file__).resolve().parents[1]
STATUSES = ["completed"] * 14 + ["failed", "running", "cancelled", "timeout", "scheduled"]
REFS = ["examples.sequence", "examples.with_items", "examples.fibo", "core.echo", "examples.nested",
        "examples.retry", "core.sleep", "examples.parallel_join"]
BIG_WORKFLOW_TASKS = 200


def fill(database_url: str, records: int) -> tuple[int, int]:
    """`records` executions: a fifth top-level, the rest their tasks. Returns (big workflow id,
    an ordinary top-level id)."""
    engine = create_engine(database_url)
    rng = random.Random(7)
    now = utcnow()
    top_count = records // 5
    with engine.begin() as conn:
        tops = [{"action_ref": rng.choice(REFS), "status": rng.choice(STATUSES), "config": {"n": i},
                 "result": {"succeeded": True}, "retry_count": 0, "mirror_seq": 0,
                 "started_at": now - timedelta(seconds=records - i), "ended_at": now,
                 "created": now - timedelta(seconds=records - i), "updated": now,
                 "workflow_id": f"bench-{i}"} for i in range(top_count)]
        for chunk in range(0, len(tops), 5000):
            conn.execute(insert(ExecutionRow), tops[chunk:chunk + 5000])
        first_top = conn.exec_driver_sql("SELECT min(id) FROM executions").scalar()
        big = first_top + top_count - 1  # the newest top-level run gets the big graph
        conn.exec_driver_sql(f"UPDATE executions SET action_ref = 'examples.sequence' WHERE id = {big}")
        conn.execute(insert(WorkflowExecutionRow), [{
            "execution": big, "workflow_id": "bench-big", "action_ref": "examples.sequence",
            "status": "completed", "current_tasks": [],
            "completed_tasks": [f"t{i}" for i in range(BIG_WORKFLOW_TASKS)], "failed_tasks": [],
            "variables": {"x": 1}, "task_graph": {}, "seq": 1, "created": now, "updated": now}])
        tasks = []
        for i in range(records - top_count):
            parent = big if i < BIG_WORKFLOW_TASKS else first_top + rng.randrange(top_count)
            tasks.append({"action_ref": "core.echo", "status": rng.choice(STATUSES), "parent": parent,
                          "config": {"message": f"m{i}"}, "result": {"succeeded": True, "stdout": "x\n"},
                          "retry_count": 0, "mirror_seq": 0, "key": f"k{i}",
                          "workflow_task": {"workflow_execution": 1,
                                            "task_name": f"t{i % BIG_WORKFLOW_TASKS}",
                                            "triggered_by": None, "task_index": None, "retry_count": 0},
                          "started_at": now, "ended_at": now, "created": now, "updated": now})
        for chunk in range(0, len(tasks), 5000):
            conn.execute(insert(ExecutionRow), tasks[chunk:chunk + 5000])
    engine.dispose()
    return big, first_top + top_count // 2


def requests_per_page(big: int, plain: int) -> dict[str, list[str]]:
    return {
        "executions (top level, page 1)": ["/api/v1/executions?top_level_only=true&page=1&per_page=50"],
        "executions (status filter)": ["/api/v1/executions?status=failed&top_level_only=true&per_page=50"],
        "executions (pack.* filter)":
            ["/api/v1/executions?action_ref=examples.*&top_level_only=true&per_page=50"],
        "executions (all, page 1000)": ["/api/v1/executions?page=1000&per_page=50"],
        "execution (workflow, 200 tasks)": [f"/api/v1/executions/{big}", f"/api/v1/executions/{big}/workflow",
                                            "/api/v1/workflows/examples.sequence", "/api/v1/meta"],
        "execution (plain)": [f"/api/v1/executions/{plain}", f"/api/v1/executions/{plain}/workflow"],
        "actions catalog": ["/api/v1/actions?page=1&per_page=1000", "/api/v1/packs?page=1&per_page=1000"],
        "workflow builder": ["/api/v1/workflows/examples.sequence",
                             "/api/v1/workflows/examples.sequence/files",
                             "/api/v1/actions?page=1&per_page=1000", "/api/v1/packs?page=1&per_page=1000"],
        "app shell (index.html)": ["/"],
    }


async def time_http(base: str, pages: dict[str, list[str]], repeat: int) -> dict[str, list[float]]:
    """Per page: wall time of its requests issued together (as the page issues them), in ms."""
    out: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for name, paths in pages.items():
            samples = []
            for _ in range(repeat):
                began = time.perf_counter()
                responses = await asyncio.gather(*(client.get(p) for p in paths))
                samples.append((time.perf_counter() - began) * 1000)
                bad = [r for r in responses if r.status_code >= 400 and not r.url.path.endswith("/workflow")]
                assert not bad, [(r.url.path, r.status_code, r.text[:200]) for r in bad]
            out[name] = samples
    return out


async def time_browser(base: str, big: int, repeat: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    pages = {
        "executions": ("/executions", "[data-testid='executions-table'] tbody tr"),
        "executions, page 1000 of all": ("/executions?all=1&page=1000",
                                         "[data-testid='executions-table'] tbody tr"),
        "execution (200-task workflow)": (f"/executions/{big}", "[data-testid='task-table'] tr.attempt-row"),
        "actions": ("/actions", "[data-testid='catalog-table'] tbody tr"),
        "builder (edit)": ("/workflows/examples.sequence/edit", ".react-flow__node"),
    }
    out: dict[str, list[float]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = await browser.new_page()
        await page.goto(base + "/packs")  # warm: assets cached as a returning user has them
        for name, (path, ready) in pages.items():
            samples = []
            for _ in range(repeat):
                began = time.perf_counter()
                await page.goto(base + path)
                await page.locator(ready).first.wait_for(state="visible")
                samples.append((time.perf_counter() - began) * 1000)
            out[name] = samples
        await browser.close()
    return out


def report(title: str, results: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"{'page':44} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    for name, samples in results.items():
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(f"{name:44} {statistics.median(samples):8.1f} {p95:8.1f} {max(samples):8.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="attune-ui-bench-"))
    database_url = args.database_url or f"sqlite:///{work / 'attune.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ATTUNE_DATABASE_URL": database_url, "ATTUNE_STATE_DIR": str(work),
           "ATTUNE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "ATTUNE_API_TOKEN": ""}
    with open(work / "api.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "attune.cli", "api", "--port", str(port)], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            for _ in range(150):
                try:
                    await client.get("/health")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            for pack in ("core", "examples"):
                response = await client.post("/api/v1/packs/register",
                                             json={"path": str(REPO / "packs" / pack)})
                response.raise_for_status()
        began = time.perf_counter()
        big, plain = await asyncio.to_thread(fill, database_url, args.records)
        backend = database_url.split(":")[0]
        print(f"{args.records:,} records written in {time.perf_counter() - began:.1f} s ({backend})")
        report("API requests per page, over HTTP (issued together, as the page does)",
               await time_http(base, requests_per_page(big, plain), args.repeat))
        if not args.no_browser:
            report("Pages in headless Chromium: navigation to content on screen",
                   await time_browser(base, big, max(3, args.repeat // 4)))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
