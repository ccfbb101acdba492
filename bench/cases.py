"""The benchmark cases. Each runs the work on Attune ("ours") and the same work written directly
against the Temporal SDK ("raw") on the same server, and returns one result dict."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from attune.contract import new_workflow_id
from attune.engine.client import EngineClient
from attune.packs.catalog import Catalog
from attune.statuses import TERMINAL
from bench import lean_http
from bench.generate import ECHO, SCRIPTS, chain_ref
from bench.interpreter import chain_cost, items_cost
from bench.long_loop import run_loop
from bench.measure import fanout_split, history_split, read_records, records_split, stats
from bench.procmon import LoadMeter, Sampler
from bench.raw_workflows import ORCHESTRATOR_QUEUE as RAW_QUEUE
from bench.stack import Stack

# Published cross-engine figures (windmill.dev benchmarks, 2 vCPUs), for context only.
PUBLISHED = {
    "python40": "Temporal 2.97 s, Windmill 2.09-2.43 s, Kestra 6.04 s, Prefect 4.87 s, Airflow 116 s",
    "fibo33": "Temporal 7.2-13.4 s, Windmill 7.7-8.4 s",
}


@dataclass
class Sizes:
    chain: int
    big_n: int
    big_chain: int
    items: tuple[int, int]
    rest: int
    scale_chains: tuple[int, ...]
    scale_items: tuple[int, ...]
    repeats: int
    loop: tuple[int, ...]
    # The records case: executions seeded, workflows in flight per mirror measurement, the CPU
    # window (s) and requests per timed read.
    records: int = 100_000
    records_mirror: tuple[int, ...] = (10, 100, 1000)
    records_window: float = 10.0
    records_repeats: int = 50


FULL = Sizes(chain=40, big_n=33, big_chain=10, items=(1000, 10000), rest=200,
             scale_chains=(10, 100, 1000), scale_items=(100, 1000, 10000), repeats=3,
             loop=(100, 1000, 5000, 20000))
QUICK = Sizes(chain=10, big_n=25, big_chain=3, items=(200, 1200), rest=20,
              scale_chains=(5, 20, 60), scale_items=(50, 200, 1200), repeats=1,
              loop=(20, 200, 2000),
              records=10_000, records_mirror=(5, 20, 60), records_window=4.0, records_repeats=15)


def chains_needed(s: Sizes) -> list[tuple[str, int]]:
    return ([(rt, s.chain) for rt in SCRIPTS] + [("python", s.big_chain)]
            + [("python", n) for n in s.scale_chains])


class Bench:
    def __init__(self, stack: Stack, engine: EngineClient, raw: Client, catalog: Catalog,
                 packs_root: Path, sampler: Sampler, sizes: Sizes, log) -> None:
        self.stack, self.engine, self.raw, self.catalog = stack, engine, raw, catalog
        self.packs_root, self.sampler, self.sizes, self.log = packs_root, sampler, sizes, log
        self.items_cache: dict[int, dict[str, Any]] = {}  # count -> {"ours": run, "raw": run}

    # ---- one run -------------------------------------------------------------------------------

    async def ours(self, ref: str, params: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
        workflow_id = new_workflow_id(ref)
        with LoadMeter(self.sampler) as meter:
            await self.engine.start(catalog=self.catalog.closure(ref), action_ref=ref,
                                    parameters=params, workflow_id=workflow_id,
                                    pack_configs={r: p.config for r, p in self.catalog.packs.items()})
            end = await asyncio.wait_for(self.engine.wait(workflow_id), timeout)
            status, result = end.status, end.result
        if status != "completed":
            raise RuntimeError(f"{ref} ended {status}: {str(result)[:300]}")
        return {"seconds": meter.wall, "workflow_id": workflow_id, "load": meter.summary()}

    async def raw_run(self, workflow: str, arg: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
        workflow_id = f"raw-{workflow}-{uuid.uuid4().hex[:10]}"
        with LoadMeter(self.sampler) as meter:
            await asyncio.wait_for(self.raw.execute_workflow(workflow, arg, id=workflow_id,
                                                             task_queue=RAW_QUEUE), timeout)
        return {"seconds": meter.wall, "workflow_id": workflow_id, "load": meter.summary()}

    def raw_chain_arg(self, runtime: str, length: int, n: int, mode: str = "spawn") -> dict[str, Any]:
        _, script, fmt = SCRIPTS[runtime]
        return {"runtime": runtime.removesuffix("_local"), "script": script, "format": fmt,
                "params": {"n": n},
                "length": length, "mode": mode}

    async def repeated(self, make, repeats: int) -> list[dict[str, Any]]:
        runs = []
        for _ in range(repeats):
            runs.append(await make())
        return runs

    # ---- cases -------------------------------------------------------------------------------

    async def chain_case(self, name: str, runtime: str, length: int, n: int, *,
                         repeats: int, raw_modes: tuple[str, ...], note: str = "") -> dict[str, Any]:
        ref = chain_ref(runtime, length)
        ours_runs, raw_runs = [], {m: [] for m in raw_modes}
        for _ in range(repeats):  # interleaved, so drifting background load hits both sides
            ours_runs.append(await self.ours(ref, {"n": n}))
            for mode in raw_modes:
                raw_runs[mode].append(await self.raw_run("RawChain",
                                                         self.raw_chain_arg(runtime, length, n, mode)))
        ours_mid = _median_run(ours_runs)
        raw_mid = {m: _median_run(r) for m, r in raw_runs.items()}
        records, read_s = await read_records(self.engine, ours_mid["workflow_id"])
        result = {
            "case": name, "tasks": length, "runtime": runtime,
            "ours_s": ours_mid["seconds"], "ours_runs_s": [r["seconds"] for r in ours_runs],
            "raw_mode": raw_modes[0], "raw_s": raw_mid[raw_modes[0]]["seconds"],
            "raw_runs_s": {m: [r["seconds"] for r in runs] for m, runs in raw_runs.items()},
            "raw_by_mode_s": {m: r["seconds"] for m, r in raw_mid.items()},
            "split_records": records_split(records), "records_read_s": read_s,
            "split_history_ours": await history_split(self.engine.client, ours_mid["workflow_id"]),
            "split_history_raw": await history_split(self.raw, raw_mid[raw_modes[0]]["workflow_id"]),
            "load": ours_mid["load"], "raw_load": raw_mid[raw_modes[0]]["load"], "notes": note,
        }
        _finish(result, length)
        return result

    async def bare_fibo(self, n: int, repeats: int = 3) -> dict[str, Any]:
        """fibo(n) in a fresh `python3 -u fibo.py` outside any engine."""
        python = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                                capture_output=True, text=True, check=True).stdout.strip()
        script = self.packs_root / "bench" / "actions" / "fibo.py"
        times = []
        with LoadMeter(self.sampler) as meter:
            for _ in range(repeats):
                began = time.perf_counter()
                subprocess.run([python, "-u", str(script)], input=f'{{"n": {n}}}'.encode(),
                               capture_output=True, check=True)
                times.append(time.perf_counter() - began)
        return {"seconds": statistics.median(times), "runs_s": times, "load": meter.summary()}

    async def items_run(self, count: int) -> dict[str, Any]:
        if count not in self.items_cache:
            ours = await self.ours("bench.items", {"count": count})
            _, script, fmt = ECHO
            raw = await self.raw_run("RawItems", {"runtime": "shell", "script": script,
                                                  "format": fmt, "count": count, "concurrency": 100})
            ours["fanout"] = await fanout_split(self.engine.client, ours["workflow_id"])
            raw["fanout"] = await fanout_split(self.raw, raw["workflow_id"])
            self.items_cache[count] = {"ours": ours, "raw": raw}
        return self.items_cache[count]

    async def items_case(self, name: str, count: int) -> dict[str, Any]:
        runs = await self.items_run(count)
        result = {"case": name, "tasks": count, "runtime": "shell", "ours_s": runs["ours"]["seconds"],
                  "raw_s": runs["raw"]["seconds"], "raw_mode": "spawn",
                  "fanout_ours": runs["ours"]["fanout"], "fanout_raw": runs["raw"]["fanout"],
                  "load": runs["ours"]["load"], "raw_load": runs["raw"]["load"],
                  "notes": "shell echo, concurrency 100; ours: child workflows of 500 items"
                           " one slice at a time; raw: one workflow per 1,000 items"}
        _finish(result, count)
        return result

    async def chain_rest_case(self, name: str, runtime: str, length: int, n: int, *,
                              repeats: int, raw_modes: tuple[str, ...] = ("warm",)) -> dict[str, Any]:
        """The chain submitted through REST, timed until the API reports it completed: the
        issue's end-to-end target (records mirrored). Raw = the same chain on the SDK, in each
        of `raw_modes` (the first is the ratio's baseline; "inproc" is the floor)."""
        result: dict[str, Any] = {"case": name, "tasks": length, "runtime": runtime}
        runs = await self._through_rest(
            chain_ref(runtime, length), {"n": n}, repeats, result,
            {m: lambda m=m: self.raw_run("RawChain", self.raw_chain_arg(runtime, length, n, m))
             for m in raw_modes})
        if runs is None:
            return result
        ours, raw = runs
        self._rest_result(result, ours, raw, f"{length} x fibo({n}) via POST /executions/execute,"
                          " until GET /executions/{id}?wait=30 says completed (records mirrored)")
        if "inproc" in raw:  # where the time goes per task, against the floor rather than raw
            median = sorted(zip(ours["times"], ours["workflow_ids"], strict=True))[len(ours["times"]) // 2][1]
            result["split_history_ours"] = await history_split(self.engine.client, median)
            result["split_history_floor"] = await history_split(
                self.raw, _median_run(raw["inproc"])["workflow_id"])
        _finish(result, length)
        return result

    async def items_rest_case(self, name: str, count: int, *, repeats: int) -> dict[str, Any]:
        """One with_items of `count` shell echoes through REST, records on; raw = the same
        fan-out on the SDK spawning the same script ("spawn") and echoing in-process ("inproc")."""
        result: dict[str, Any] = {"case": name, "tasks": count, "runtime": "shell"}
        _, script, fmt = ECHO
        runs = await self._through_rest(
            "bench.items", {"count": count}, repeats, result,
            {m: lambda m=m: self.raw_run("RawItems", {"runtime": "shell", "script": script, "format": fmt,
                                                      "count": count, "concurrency": 100, "mode": m})
             for m in ("spawn", "inproc")})
        if runs is None:
            return result
        ours, raw = runs
        self._rest_result(result, ours, raw, f"with_items of {count} shell echoes, concurrency 100,"
                          " via POST /executions/execute until the API says completed")
        _finish(result, count)
        return result

    async def _through_rest(self, ref: str, params: dict[str, Any], repeats: int, result: dict[str, Any],
                            raw_modes: dict[str, Callable[[], Awaitable[dict[str, Any]]]]
                            ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]] | None:
        """`repeats` runs of `ref` through the API on a fresh records database, each followed by
        one raw run per mode (interleaved: this machine's speed drifts by 10-50 % within minutes,
        and runs of one side after the other's would carry that drift into the ratio). The API
        is paused (SIGSTOP) during the raw runs, so it costs them nothing. None (with
        result["skipped"]) when it cannot serve."""
        base = self.stack.start_api(f"sqlite:///{self.stack.workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}")
        raw: dict[str, list[dict[str, Any]]] = {m: [] for m in raw_modes}
        try:
            reason = await self._api_ready(base)
            if reason:
                result["skipped"] = reason
                return None
            times, recorded, workflow_ids, cpu, edges = [], [], [], [], []
            for i in range(repeats + 1):  # the first run warms the API's caches
                # A connection per run, open before the clock starts: the API is stopped
                # (SIGSTOP) between runs, longer than it keeps an idle connection.
                async with lean_http.Connection(base, timeout=60) as http:
                    await http.connect()
                    with LoadMeter(self.sampler) as meter:
                        t0 = time.time()
                        code, body = await http.request(
                            "POST", "/api/v1/executions/execute",
                            json_body={"action_ref": ref, "parameters": params})
                        if code != 201:
                            raise RuntimeError(f"execute returned {code}: {str(body)[:200]}")
                        execution_id = body["data"]["id"]
                        while True:  # the API answers the moment the record says it ended
                            code, body = await http.request(
                                "GET", f"/api/v1/executions/{execution_id}", params={"wait": 30})
                            if code != 200:
                                raise RuntimeError(f"get returned {code}: {str(body)[:200]}")
                            row = body["data"]
                            if row["status"] in TERMINAL:
                                break
                        if row["status"] != "completed":
                            raise RuntimeError(f"{ref} ended {row['status']}: {row.get('result')}")
                        t_end = time.time()
                        times.append(t_end - t0)
                    recorded.append((_epoch(row.get("ended_at")) or time.time()) - t0)
                    workflow_ids.append(row.get("workflow_id"))
                    if i == 0:
                        continue
                    edges.append(await self._rest_edges(row.get("workflow_id"), t0, t_end))
                    cpu.append(meter.summary())
                    with self.stack.paused("api"):
                        for mode, run in raw_modes.items():
                            raw[mode].append(await run())
        finally:
            self.stack.stop("api")
        ours = {"times": times[1:], "recorded": recorded[1:], "workflow_ids": workflow_ids[1:],
                "load": _merge_loads(cpu), "runs": len(cpu), "edges": edges}
        return ours, raw

    async def _rest_edges(self, workflow_id: str | None, t0: float, t_end: float) -> dict[str, float]:
        """What REST adds to one run at its two ends (ms, same clock): head = POST sent ->
        workflow started on the server; tail = workflow closed -> the API answered the waiting
        GET. Raw has neither."""
        if not workflow_id:
            return {}
        described = await self.engine.client.get_workflow_handle(workflow_id).describe()
        if described.start_time is None or described.close_time is None:
            return {}
        return {"head_ms": round((described.start_time.timestamp() - t0) * 1000, 1),
                "tail_ms": round((t_end - described.close_time.timestamp()) * 1000, 1)}

    @staticmethod
    def _rest_result(result: dict[str, Any], ours: dict[str, Any],
                     raw: dict[str, list[dict[str, Any]]], note: str) -> None:
        modes = list(raw)
        by_mode = {m: statistics.median(r["seconds"] for r in runs) for m, runs in raw.items()}
        result.update(ours_s=statistics.median(ours["times"]), ours_runs_s=ours["times"],
                      ours_recorded_end_s=statistics.median(ours["recorded"]),
                      raw_s=by_mode[modes[0]], raw_mode=modes[0], raw_by_mode_s=by_mode,
                      raw_runs_s={m: [r["seconds"] for r in runs] for m, runs in raw.items()},
                      # ours' CPU was measured over all its runs (warm-up included), raw's over one
                      load=ours["load"], load_runs=ours["runs"], raw_load=_median_run(raw[modes[0]])["load"],
                      notes=note)
        for edge in ("head_ms", "tail_ms"):
            values = [e[edge] for e in ours.get("edges", []) if edge in e]
            if values:
                result[f"rest_{edge}"] = statistics.median(values)
        if "inproc" in by_mode:
            result["floor_s"] = by_mode["inproc"]
            # Each REST run over the floor run that followed it: the machine's speed drifts
            # between runs, much less within a pair, so these vary less than the medians' ratio.
            pairs = [o / f["seconds"] for o, f in zip(ours["times"], raw["inproc"], strict=False)]
            if pairs:
                result["floor_ratio_pairs"] = [round(p, 3) for p in pairs]
                result["floor_ratio_paired"] = statistics.median(pairs)

    async def rest_case(self, name: str, count: int) -> dict[str, Any]:
        result: dict[str, Any] = {"case": name, "tasks": count * 3, "runtime": "shell"}
        db_url = f"sqlite:///{self.stack.workdir / 'bench.db'}"
        base = self.stack.start_api(db_url)
        try:
            reason = await self._api_ready(base)
            if reason:
                result["skipped"] = reason
                return result
            api = await self._rest_ours(base, count)
        except Exception as exc:  # noqa: BLE001 - the API is still being written: report, go on
            result["skipped"] = f"{type(exc).__name__}: {exc!r}"[:300]
            self.log("".join(traceback.format_exception(exc)[-6:]))
            tail = self.stack.log_tail("api", 800)
            if tail:
                result["skipped"] += f" | api log: {tail.strip()[-300:]}"
            return result
        finally:
            self.stack.stop("api")
        direct = await self._concurrent_ours(count)
        raw = await self._concurrent_raw(count)
        floor = await self._concurrent_raw(count, "inproc")
        result.update(floor_s=floor["seconds"], floor_throughput=floor["throughput"],
                      floor_latency_s=floor["latency_s"])
        result.update(
            ours_s=api["seconds"], raw_s=raw["seconds"], raw_mode="spawn",
            ours_throughput=api["throughput"], raw_throughput=raw["throughput"],
            ours_latency_s=api["latency_s"], ours_engine_latency_s=api["engine_latency_s"],
            raw_latency_s=raw["latency_s"], direct=direct, submit_s=api["submit_s"],
            load=api["load"], raw_load=raw["load"],
            notes=f"{count} x bench.three (3 shell echo tasks) submitted at once; ours through "
                  "REST, completion as the API reports it (records mirror)")
        _finish(result, count * 3)
        return result

    async def _api_ready(self, base: str) -> str | None:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.stack.dead():
                    return f"API exited: {self.stack.log_tail('api', 300).strip()}"
                try:
                    if (await http.get("/api/v1/health")).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
            else:
                return "API did not answer /api/v1/health within 60 s"
            resp = await http.post("/api/v1/packs/register",
                                   json={"path": str(self.packs_root / "bench")}, timeout=60)
            if resp.status_code >= 300:
                return f"pack register returned {resp.status_code}: {resp.text[:200]}"
        return None

    async def _rest_ours(self, base: str, count: int) -> dict[str, Any]:
        # Each client on its own keep-alive connection, through bench/lean_http.py: the
        # driver's client shares the two cores with the stack (see that module).
        with LoadMeter(self.sampler) as meter:
            async def run(i: int) -> tuple[float, float, dict[str, Any], float, str]:
                async with lean_http.Connection(base) as http:
                    t0 = time.time()
                    code, body = await http.request("POST", "/api/v1/executions/execute",
                                                    json_body={"action_ref": "bench.three",
                                                               "parameters": {"tag": str(i)}})
                    if code != 201:
                        raise RuntimeError(f"execute returned {code}: {str(body)[:200]}")
                    t1, data = time.time(), body["data"]
                    # How a client waits for its run: a long poll the API answers when the
                    # record ends (the list of ended runs polled 4 times a second cost the
                    # driver ~3 s and the API ~1 s of CPU per run, on the same two cores).
                    deadline = time.monotonic() + 600
                    while time.monotonic() < deadline:
                        code, body = await http.request("GET", f"/api/v1/executions/{data['id']}",
                                                        params={"wait": 30})
                        if code != 200:
                            raise RuntimeError(f"get returned {code}: {str(body)[:200]}")
                        row = body["data"]
                        if row["status"] in TERMINAL:
                            return t0, t1, data, _epoch(row.get("ended_at")) or time.time(), row["status"]
                    return t0, t1, data, time.time(), "still running after 600 s"

            done = await asyncio.gather(*(run(i) for i in range(count)))
            by_id = {data["id"]: (t0, t1, data) for t0, t1, data, _, _ in done}
            ended = {data["id"]: (stamp, status) for _, _, data, stamp, status in done}
        failed = [i for i, (_, st) in ended.items() if st != "completed"]
        if failed:
            raise RuntimeError(f"{len(failed)} executions did not complete, e.g. {failed[:3]}")
        first = min(t0 for t0, _, _ in by_id.values())
        last = max(stamp for stamp, _ in ended.values())
        latency = [ended[i][0] - t0 for i, (t0, _, _) in by_id.items()]
        engine_latency = []
        for t0, _, data in by_id.values():
            if data.get("workflow_id"):
                desc = await self.engine.handle(data["workflow_id"]).describe()
                if desc.close_time:
                    engine_latency.append(desc.close_time.timestamp() - t0)
        return {"seconds": last - first, "throughput": count / (last - first),
                "latency_s": stats(latency), "engine_latency_s": stats(engine_latency),
                "submit_s": stats([t1 - t0 for t0, t1, _ in by_id.values()]),
                "load": meter.summary()}

    async def _concurrent_ours(self, count: int) -> dict[str, Any]:
        """The same 200 workflows started with EngineClient directly: Attune without the API."""
        closure = self.catalog.closure("bench.three")

        async def one(i: int) -> float:
            t0 = time.time()
            wid = new_workflow_id("bench.three")
            await self.engine.start(catalog=closure, action_ref="bench.three",
                                    parameters={"tag": str(i)}, workflow_id=wid)
            status = (await self.engine.wait(wid)).status
            if status != "completed":
                raise RuntimeError(f"{wid} ended {status}")
            return time.time() - t0

        return await self._all_at_once(one, count)

    async def _all_at_once(self, one: Any, count: int) -> dict[str, Any]:
        """Start `count` runs of `one(i)` together: throughput and latency of the batch."""
        with LoadMeter(self.sampler) as meter:
            t0 = time.time()
            latency = await asyncio.gather(*(one(i) for i in range(count)))
            seconds = time.time() - t0
        return {"seconds": seconds, "throughput": count / seconds, "latency_s": stats(latency),
                "load": meter.summary()}

    async def _concurrent_raw(self, count: int, mode: str = "spawn") -> dict[str, Any]:
        _, script, fmt = ECHO

        async def one(i: int) -> float:
            t0 = time.time()
            await self.raw.execute_workflow(
                "RawChain", {"runtime": "shell", "script": script, "format": fmt,
                             "params": {"message": f"x {i}"}, "length": 3, "mode": mode},
                id=f"raw-three-{uuid.uuid4().hex[:10]}", task_queue=RAW_QUEUE)
            return time.time() - t0

        return await self._all_at_once(one, count)

    async def scaling(self) -> dict[str, Any]:
        s = self.sizes
        chains = []
        for length in s.scale_chains:
            self.log(f"  chain of {length}")
            ours = await self.ours(chain_ref("python", length), {"n": 10})
            raw = await self.raw_run("RawChain", self.raw_chain_arg("python", length, 10, "warm"))
            row = {"kind": "chain", "size": length, "runtime": "python", "ours_s": ours["seconds"],
                   "raw_s": raw["seconds"], "load": ours["load"], "raw_load": raw["load"]}
            records, read_s = await read_records(self.engine, ours["workflow_id"])
            row["records_read_s"] = read_s
            row["split_records"] = records_split(records)
            row["split_history_ours"] = await history_split(self.engine.client, ours["workflow_id"])
            row["split_history_raw"] = await history_split(self.raw, raw["workflow_id"])
            _finish(row, length)
            chains.append(row)
        items = []
        for count in s.scale_items:
            self.log(f"  with_items of {count}")
            runs = await self.items_run(count)
            row = {"kind": "with_items", "size": count, "runtime": "shell",
                   "ours_s": runs["ours"]["seconds"], "raw_s": runs["raw"]["seconds"],
                   "load": runs["ours"]["load"], "raw_load": runs["raw"]["load"],
                   "fanout_ours": runs["ours"]["fanout"], "fanout_raw": runs["raw"]["fanout"]}
            _finish(row, count)
            items.append(row)
        interp = {"chains": [chain_cost(self.catalog, chain_ref("python", n)) for n in s.scale_chains],
                  "items": [items_cost(self.catalog, n) for n in s.scale_items]}
        return {"case": "scaling", "chains": chains, "items": items, "interpreter": interp}


    async def loop_case(self) -> dict[str, Any]:
        """A loop of one queued fibo(1) task per iteration, longer than one Temporal history holds:
        the cost per iteration must stay flat across continue-as-new (issue 13.4)."""
        await run_loop(self.engine, "bench.loop", 20, self.catalog)  # unmeasured warm-up
        rows = []
        with LoadMeter(self.sampler) as meter:
            for count in self.sizes.loop:
                self.log(f"  loop of {count}")
                rows.append(await run_loop(self.engine, "bench.loop", count, self.catalog))
        return {"case": "loop", "rows": rows, "load": meter.summary()}


def _merge_loads(loads: list[dict[str, Any]]) -> dict[str, Any]:
    """The load of several measured runs as one: CPU seconds summed per process, shares averaged."""
    cpu: dict[str, list[float]] = {}
    for load in loads:
        for role, pair in load.get("cpu_s_by_process", {}).items():
            cpu[role] = [round(a + b, 3) for a, b in zip(cpu.get(role, [0.0, 0.0]), pair, strict=True)]
    merged: dict[str, Any] = {key: round(statistics.mean(load[key] for load in loads), 3)
                              for key in ("load1_before", "load1_after", "cpu_busy", "cpu_ours", "cpu_foreign")}
    return {**merged, "cpu_s_by_process": cpu}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def _finish(result: dict[str, Any], tasks: int) -> None:
    ours, raw = result.get("ours_s"), result.get("raw_s")
    if ours is not None:
        result["ours_ms_per_task"] = ours * 1000 / tasks
    if raw is not None:
        result["raw_ms_per_task"] = raw * 1000 / tasks
    if ours and raw:
        result["ratio"] = ours / raw
    if ours and result.get("floor_s"):  # against plain in-process Temporal code (issue 13.1)
        result["floor_ratio"] = ours / result["floor_s"]
        result["floor_ms_per_task"] = result["floor_s"] * 1000 / tasks


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()
