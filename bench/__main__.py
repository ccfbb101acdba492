"""`python -m bench` (`make bench`): every benchmark on the embedded stack, ours vs raw Temporal SDK.

    python -m bench                 # full run (~10 minutes on 2 cores)
    python -m bench --quick         # small sizes: a smoke run of every case (~1-2 minutes)
    python -m bench --only python40,scaling

Results: a table on stdout, and JSON in bench/results/latest.json (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from rich.console import Console
from temporalio.client import Client

from attune.engine.client import EngineClient
from attune.packs.loader import load_packs
from bench import sdk_metrics
from bench.cases import FULL, QUICK, Bench, chains_needed
from bench.generate import build_packs
from bench.procmon import Sampler, status_kb
from bench.records_scale import records_case
from bench.report import machine, print_report
from bench.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
CASES = ("python40", "python40rest", "python40local", "python40localrest", "fibo33", "shell40", "shell40rest",
         "nodejs40", "nodejs40rest", "items1000", "items1000rest", "items10000", "rest200", "scaling", "records")
# Opt-in (--only): the 20,000-iteration loop alone takes about ten minutes.
EXTRA = ("loop",)
console = Console(width=None if sys.stdout.isatty() else 200)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)


async def run_case(bench: Bench, name: str) -> dict:
    s = bench.sizes
    if name == "python40":
        return await bench.chain_case(name, "python", s.chain, 10, repeats=s.repeats,
                                      raw_modes=("warm", "spawn", "inproc"),
                                      note=f"{s.chain} x fibo(10)")
    if name == "python40local":
        return await bench.chain_case(name, "python_local", s.chain, 10, repeats=s.repeats,
                                      raw_modes=("local", "warm"),
                                      note=f"{s.chain} x fibo(10), `local: true` action")
    if name == "python40localrest":
        return await bench.chain_rest_case(name, "python_local", s.chain, 10,
                                           repeats=max(3, s.repeats), raw_modes=("local", "inproc"))
    if name in ("python40rest", "shell40rest", "nodejs40rest"):
        runtime = name.removesuffix("40rest")
        same = "warm" if runtime == "python" else "spawn"  # raw with the processes ours starts
        return await bench.chain_rest_case(name, runtime, s.chain, 10, repeats=max(3, s.repeats),
                                           raw_modes=(same, "inproc"))
    if name == "items1000rest":
        return await bench.items_rest_case(name, s.items[0], repeats=1)
    if name in ("shell40", "nodejs40"):
        runtime = name.removesuffix("40")
        return await bench.chain_case(name, runtime, s.chain, 10, repeats=s.repeats,
                                      raw_modes=("spawn",), note=f"{s.chain} x fibo(10)")
    if name == "fibo33":
        bare = await bench.bare_fibo(s.big_n)
        result = await bench.chain_case(name, "python", s.big_chain, s.big_n, repeats=1,
                                        raw_modes=("warm",), note=f"{s.big_chain} x fibo({s.big_n})")
        result.update(bare=bare, n=s.big_n)
        return result
    if name == "items1000":
        return await bench.items_case(name, s.items[0])
    if name == "items10000":
        return await bench.items_case(name, s.items[1])
    if name == "rest200":
        return await bench.rest_case(name, s.rest)
    if name == "scaling":
        return await bench.scaling()
    if name == "loop":
        return await bench.loop_case()
    if name == "records":
        return await records_case(bench)
    raise ValueError(name)


async def warm_up(bench: Bench) -> None:
    """One small run of everything, unmeasured: warm starters, worker caches, server tables."""
    for runtime in ("python", "shell", "nodejs", "python_local"):
        await bench.ours(f"bench.chain_{runtime}_2", {"n": 5})
        if runtime != "python_local":
            await bench.raw_run("RawChain", bench.raw_chain_arg(runtime, 2, 5))
    await bench.raw_run("RawChain", bench.raw_chain_arg("python", 2, 5, "local"))
    await bench.raw_run("RawChain", bench.raw_chain_arg("python", 2, 5, "warm"))
    for runtime in ("python", "shell", "nodejs"):
        await bench.raw_run("RawChain", bench.raw_chain_arg(runtime, 2, 5, "inproc"))
    await bench.ours("bench.items", {"count": 10})
    await bench.raw_run("RawItems", {"runtime": "shell", "script": "echo.sh", "format": "dotenv",
                                     "count": 10, "concurrency": 100})


async def main(args: argparse.Namespace) -> int:
    sizes = QUICK if args.quick else FULL
    if args.repeats:
        sizes = dataclasses.replace(sizes, repeats=args.repeats)
    selected = list(CASES)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in CASES + EXTRA]
        if unknown:
            console.print(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES + EXTRA)}")
            return 2
        selected = [c for c in CASES + EXTRA if c in wanted]
    workdir = Path(tempfile.mkdtemp(prefix="attune-bench-"))
    workdir.chmod(0o755)  # a root worker runs actions as an unprivileged user: it must enter the packs
    # One state directory for every process of the run, as `attune up` gives its stack: the API
    # and the workers must share its secret key, or the API refuses every execution token the
    # orchestrators and workers mint (runs 1-16 measured REST with_items that way: each slice's
    # reservation of execution ids was refused, so 900 of 1,000 tasks claimed theirs one by one).
    os.environ["ATTUNE_STATE_DIR"] = str(workdir)
    chains = chains_needed(sizes) + [(rt, 2) for rt in ("python", "shell", "nodejs", "python_local")]
    packs_root = build_packs(workdir, chains)
    catalog = load_packs(packs_root)
    data = {"mode": "quick" if args.quick else "full", "machine": machine(),
            "sizes": sizes.__dict__, "cases": selected, "results": []}
    sampler = Sampler(interval=0.5)
    sampler.watch("bench driver", os.getpid(), tree=False)
    sampler.start()
    stack = Stack(workdir, sampler)
    log(f"work dir {workdir}")
    try:
        stack.start_server()
        stack.start_workers()
        await stack.wait_workers()
        engine = await EngineClient.connect(stack.address)
        raw = await Client.connect(stack.address)
        bench = Bench(stack, engine, raw, catalog, packs_root, sampler, sizes, log)
        if selected != ["records"]:  # it runs no task worth warming up for
            log("warm-up")
            await warm_up(bench)
        for name in selected:
            log(f"case {name}")
            sampler.set_phase(name)
            began = time.perf_counter()
            tasks_before = {r: sdk_metrics.read(p) for r, p in stack.metrics_ports.items()}
            try:
                result = await run_case(bench, name)
            except Exception as exc:  # noqa: BLE001 - one broken case must not lose the others
                traceback.print_exc()
                result = {"case": name, "error": f"{type(exc).__name__}: {exc}"[:400]}
                if stack.dead():
                    result["error"] += f" (dead: {', '.join(stack.dead())})"
            result["case_wall_s"] = time.perf_counter() - began
            result["workflow_tasks"] = {r: sdk_metrics.delta(tasks_before[r], sdk_metrics.read(p))
                                        for r, p in stack.metrics_ports.items()}
            data["results"].append(result)
            log(f"case {name} done in {result['case_wall_s']:.1f} s"
                + (f": ours {result['ours_s']:.2f} s, raw {result['raw_s']:.2f} s"
                   if result.get("ours_s") and result.get("raw_s") else ""))
        sampler.set_phase(None)
        sampler.sample()
        data["memory"] = memory_report(sampler, stack)
    finally:
        stack.stop_all()
        sampler.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(data, indent=2, default=str)
    if args.out:
        out = Path(args.out)
    else:  # latest.json plus a dated copy, so a later run does not erase this one
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{data['mode']}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)
        out = RESULTS / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print_report(console, data)
    console.print(f"\nresults written to {out}")
    return 1 if any(r.get("error") for r in data["results"]) else 0


def memory_report(sampler: Sampler, stack: Stack) -> dict:
    roles = {}
    for role, peak in sampler.peak_kb.items():
        phases = {p: v.get(role, 0) for p, v in sampler.phase_peak_kb.items()}
        top = max(phases, key=phases.get) if phases else None
        pid = stack.procs[role].pid if role in stack.procs else (os.getpid() if role == "bench driver" else None)
        hwm = status_kb(pid, "VmHWM") if pid else None
        roles[role] = {"peak_mb": peak / 1024, "hwm_mb": hwm / 1024 if hwm else None, "phase": top,
                       "by_phase_mb": {p: round(v / 1024, 1) for p, v in phases.items()}}
    return {"interval_s": sampler.interval, "samples": sampler.samples,
            "sampler_cpu_s": round(sampler.sample_cost_s, 2), "roles": roles}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--only", help=f"comma-separated cases: {', '.join(CASES + EXTRA)}")
    parser.add_argument("--out", help="JSON results file (default bench/results/latest.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work dir and logs")
    parser.add_argument("--repeats", type=int, help="runs per side of each chain case (median shown; "
                                                    "default 3, 1 with --quick)")
    sys.exit(asyncio.run(main(parser.parse_args())))
