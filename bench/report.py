"""Printing the results as tables, and the machine they were measured on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.cases import PUBLISHED


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    def version(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
        except OSError:
            return "?"

    mem_kb = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "memory_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else "?",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "actions_python": version(["python3", "-V"]),
        "node": version(["node", "-v"]),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": version([os.path.join(os.path.dirname(sys.executable), "temporal"),
                                 "--version"]),
        "load1_at_start": float(open("/proc/loadavg").read().split()[0]),
        "git": version(["git", "-C", os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "describe", "--always", "--dirty"]),
    }


def _s(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _p(split: dict[str, Any] | None, key: str, stat: str = "p50") -> str:
    value = ((split or {}).get(key) or {}).get(stat)
    return "-" if value is None else f"{value:.1f}"


def _load(result: dict[str, Any]) -> str:
    load = result.get("load") or {}
    if not load:
        return "-"
    return f"{load['cpu_foreign'] * 100:.0f}% / {load['load1_before']:.1f}"


# Issue 13.1's targets for ours (through REST, records on) against raw in-process activities.
FLOOR_TARGETS = {"python40rest": 1.2, "python40localrest": 1.2, "shell40rest": 1.3,
                 "nodejs40rest": 1.3, "rest200": 1.2}


def cpu_ms_per_task(result: dict[str, Any]) -> float | None:
    """Ours' CPU per task, every process of the stack (action processes included) plus the
    driver's own client: what the machine must spend, however well the work overlaps."""
    cpu = (result.get("load") or {}).get("cpu_s_by_process")
    if not cpu:
        return None
    total = sum(own if role == "bench driver" else tree for role, (own, tree) in cpu.items())
    return total * 1000 / result["tasks"] / result.get("load_runs", 1)


def _print_floor(console: Console, results: list[dict[str, Any]], cores: int) -> None:
    rows = [r for r in results if r.get("floor_ratio")]
    if not rows:
        return
    table = Table(title="Against the floor: ours through REST (records on) vs raw Temporal code whose "
                        "activities compute in-process (no process at all). 'paired' = the median of "
                        "each REST run over the floor run right after it (the machine's drift cancels). "
                        "'CPU bound' = ours' CPU per "
                        f"task / {cores} cores against the floor: the ratio ours cannot beat on this "
                        "machine without spending less CPU")
    for col in ("case", "tasks", "ours s", "floor s", "ours/floor", "paired (range)", "target",
                "ours ms/task", "floor ms/task", "ours CPU ms/task", "CPU bound"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        target = FLOOR_TARGETS.get(r["case"])
        ratio = _s(r["floor_ratio"])
        if target:
            ratio = f"[{'green' if r['floor_ratio'] <= target else 'red'}]{ratio}[/]"
        cpu = cpu_ms_per_task(r)
        bound = cpu / cores / r["floor_ms_per_task"] if cpu and r.get("floor_ms_per_task") else None
        pairs = r.get("floor_ratio_pairs") or []
        paired = f"{_s(r['floor_ratio_paired'])} ({_s(min(pairs))}-{_s(max(pairs))})" if pairs else "-"
        table.add_row(r["case"], str(r["tasks"]), _s(r["ours_s"]), _s(r["floor_s"]), ratio, paired,
                      f"<= {target}" if target else "-", _s(r.get("ours_ms_per_task"), 1),
                      _s(r.get("floor_ms_per_task"), 1), _s(cpu, 1), _s(bound))
    console.print(table)


def _print_loop(console: Console, results: list[dict[str, Any]]) -> None:
    for r in (x for x in results if x.get("case") == "loop" and x.get("rows")):
        table = Table(title="A loop of queued tasks across continue-as-new: cost per iteration")
        for col in ("iterations", "s", "ms / iteration", "x the first", "Temporal runs"):
            table.add_column(col, justify="right")
        first = r["rows"][0]["ms_per_iteration"]
        for row in r["rows"]:
            table.add_row(f"{row['iterations']:,}", _s(row["seconds"], 1), _s(row["ms_per_iteration"]),
                          _s(row["ms_per_iteration"] / first), str(row["temporal_runs"]))
        console.print(table)


def print_report(console: Console, data: dict[str, Any]) -> None:
    m = data["machine"]
    console.print(f"\n[bold]Attune on Temporal benchmarks[/] ({data['mode']}) - {m['date']}, "
                  f"{m['nproc']} x {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}, "
                  f"temporalio {m['temporalio']}, {m['temporal_cli'].splitlines()[0] if m['temporal_cli'] else '?'}")
    results = [r for r in data["results"] if r.get("case") not in ("scaling", "loop", "records")]
    for r in data["results"]:  # the cases with tables of their own say here when they broke
        if r not in results and r.get("error"):
            console.print(f"[red]{r['case']}: error: {r['error']}[/]", highlight=False)

    table = Table(title="Cases: ours (Attune) vs raw (same work on the Temporal SDK directly)")
    for col in ("case", "tasks", "ours s", "raw s", "ours/raw", "ours ms/task", "raw ms/task",
                "other load / load1", "notes"):
        table.add_column(col, justify="left" if col in ("case", "notes") else "right")
    footnotes: list[str] = []
    for r in results:
        if r.get("error") or r.get("skipped"):
            table.add_row(r["case"], str(r.get("tasks", "")), "-", "-", "-", "-", "-", "-",
                          f"[red]{'skipped: ' + r['skipped'] if r.get('skipped') else 'error: ' + r['error']}[/]")
            continue
        notes = [r.get("notes", "")]
        modes = r.get("raw_by_mode_s") or {}
        if len(modes) > 1:
            notes.append(f"raw = {r['raw_mode']} mode")
        table.add_row(r["case"], str(r.get("tasks")), _s(r.get("ours_s")), _s(r.get("raw_s")),
                      _s(r.get("ratio")), _s(r.get("ours_ms_per_task"), 1),
                      _s(r.get("raw_ms_per_task"), 1), _load(r), "; ".join(n for n in notes if n))
        if len(modes) > 1:
            footnotes.append(f"{r['case']}: raw by process mode: " + ", ".join(
                f"{m} {v:.2f} s (ours/raw {r['ours_s'] / v:.2f})" for m, v in modes.items()))
        if r.get("bare"):
            footnotes.append(f"{r['case']}: bare `python3 -u fibo.py` fibo({r['n']}) = "
                             f"{r['bare']['seconds']:.2f} s (x {r['tasks']} = "
                             f"{r['bare']['seconds'] * r['tasks']:.1f} s)")
        if r["case"] in PUBLISHED:
            footnotes.append(f"{r['case']}: published (2 vCPUs, other hardware): {PUBLISHED[r['case']]}")
    console.print(table)
    console.print("other load = CPU used by processes outside this benchmark during the ours run, "
                  "as a share of all cores; load1 = 1-minute load average before it", style="dim")
    for note in footnotes:
        console.print(f"  {note}", highlight=False)

    _print_floor(console, results, int(m["nproc"]))
    _print_loop(console, data["results"])

    split = Table(title="Per-task split, ms (p50). Records: from Attune's RunRecords. "
                        "History: from Temporal events, ours vs raw")
    for col in ("case", "rec exec", "rec assign", "rec trans", "queue o/r", "worker o/r",
                "exec o/r", "transition o/r", "wf task o/r", "records read s"):
        split.add_column(col, justify="left" if col == "case" else "right")
    chains = [r for r in results if r.get("split_records")]
    # Through REST, the right-hand side is the in-process floor, not raw with processes
    chains += [{**r, "case": f"{r['case']} (o/floor)", "split_records": None,
                "split_history_raw": r["split_history_floor"]}
               for r in results if r.get("split_history_floor")]
    for scale in (x for x in data["results"] if x.get("case") == "scaling" and not x.get("error")):
        chains += [{**row, "case": f"scaling chain {row['size']}"} for row in scale["chains"]]
    for r in chains:
        rec, ho, hr = r["split_records"], r.get("split_history_ours"), r.get("split_history_raw")
        split.add_row(
            r["case"], _p(rec, "execution_ms"), _p(rec, "assignment_ms"), _p(rec, "transition_ms"),
            f"{_p(ho, 'queue_ms')} / {_p(hr, 'queue_ms')}", f"{_p(ho, 'worker_ms')} / {_p(hr, 'worker_ms')}",
            f"{_p(ho, 'execution_ms')} / {_p(hr, 'execution_ms')}",
            f"{_p(ho, 'transition_ms')} / {_p(hr, 'transition_ms')}",
            f"{_p(ho, 'workflow_task_ms')} / {_p(hr, 'workflow_task_ms')}",
            _s(r.get("records_read_s")))
    if chains:
        console.print(split)
        for r in chains:
            ho, hr = r.get("split_history_ours") or {}, r.get("split_history_raw") or {}
            if ho.get("activity_input_bytes"):
                console.print(f"  {r['case']}: payload bytes p50, ours / raw: workflow input "
                              f"{_p(ho, 'workflow_input_bytes', 'p50')} / {_p(hr, 'workflow_input_bytes', 'p50')}, "
                              f"activity input {_p(ho, 'activity_input_bytes')} / {_p(hr, 'activity_input_bytes')}, "
                              f"activity result {_p(ho, 'activity_result_bytes')} / "
                              f"{_p(hr, 'activity_result_bytes')}", highlight=False)
            if r.get("rest_head_ms") is not None:
                console.print(f"  {r['case']}: through REST, per run (p50): POST -> workflow started "
                              f"{r['rest_head_ms']:.1f} ms, workflow closed -> GET answered "
                              f"{r.get('rest_tail_ms', 0):.1f} ms; in history, start -> first task "
                              f"{ho.get('head_ms', '-')} / {hr.get('head_ms', '-')} ms, last task -> "
                              f"closed {ho.get('tail_ms', '-')} / {hr.get('tail_ms', '-')} ms", highlight=False)

    cpu_rows = []
    for r in results:
        if (r.get("load") or {}).get("cpu_s_by_process"):
            cpu_rows.append(r)
        if r.get("direct"):
            cpu_rows.append({**r, "case": f"{r['case']} without API", "load": r["direct"]["load"]})
    for scale in (x for x in data["results"] if x.get("case") == "scaling" and not x.get("error")):
        cpu_rows += [{**row, "case": f"scaling {row['kind']} {row['size']}", "tasks": row["size"]}
                     for row in scale["chains"] + scale["items"]]
    if cpu_rows:
        ct = Table(title="CPU per task, ms (ours / raw): less sensitive to other people's load than "
                         "wall time. 'own' = the worker process alone; 'pool' = with its action processes")
        for col in ("case", "orchestrator", "runtime worker own", "runtime pool", "temporal server",
                    "api"):
            ct.add_column(col, justify="left" if col == "case" else "right")
        for r in cpu_rows:
            rt = r.get("runtime", "shell")
            o = (r.get("load") or {}).get("cpu_s_by_process", {})
            w = (r.get("raw_load") or {}).get("cpu_s_by_process", {})
            n = r["tasks"]
            runs = r.get("load_runs", 1)  # ours measured over several runs (the REST cases)

            def pair(ours_role: str, raw_role: str, i: int, o: dict = o, w: dict = w, n: int = n,
                     runs: int = runs) -> str:
                a, b = o.get(ours_role), w.get(raw_role)
                fa = f"{a[i] * 1000 / n / runs:.2f}" if a else "0"
                fb = f"{b[i] * 1000 / n:.2f}" if b else "0"
                return f"{fa} / {fb}"

            api = o.get("api")
            ct.add_row(r["case"], pair("orchestrator", "raw-orchestrator", 0),
                       pair(rt, f"raw-{rt}", 0), pair(rt, f"raw-{rt}", 1),
                       pair("temporal", "temporal", 1), f"{api[1] * 1000 / n / runs:.2f}" if api else "-")
        console.print(ct)

    fan = [r for r in data["results"] if r.get("fanout_ours")]
    for scale in (x for x in data["results"] if x.get("case") == "scaling" and not x.get("error")):
        fan += [{**row, "case": f"scaling with_items {row['size']}", "tasks": row["size"]}
                for row in scale["items"] if row.get("fanout_ours")]
    if fan:
        ft = Table(title="with_items fan-out (ours / raw): child workflows, gaps between them, "
                         "achieved concurrency (bound 100), queue wait")
        for col in ("case", "children", "child wall s p50", "gap ms p50", "concurrency mean",
                    "queue ms p50", "queue ms p95", "events"):
            ft.add_column(col, justify="left" if col == "case" else "right")
        seen = set()
        for r in fan:
            if (r["case"], r["tasks"]) in seen:
                continue
            seen.add((r["case"], r["tasks"]))
            fo, fr = r["fanout_ours"], r["fanout_raw"]

            def both(key: str, stat: str, scale: float = 1.0, fo: dict = fo, fr: dict = fr) -> str:
                a, b = (fo.get(key) or {}).get(stat), (fr.get(key) or {}).get(stat)
                return f"{_s(a / scale if a is not None else None, 1)} / {_s(b / scale if b is not None else None, 1)}"

            ft.add_row(r["case"], f"{fo['children']} / {fr['children']}", both("child_wall_ms", "p50", 1000),
                       both("gap_ms", "p50"), both("concurrency", "mean"), both("queue_ms", "p50"),
                       both("queue_ms", "p95"), f"{fo['events']} / {fr['events']}")
        console.print(ft)

    for r in results:
        if r.get("ours_throughput"):
            rest = Table(title=f"REST: {r['tasks'] // 3} workflows of 3 tasks submitted at once")
            for col in ("path", "seconds", "workflows/s", "p50 latency s", "p95 latency s"):
                rest.add_column(col, justify="left" if col == "path" else "right")
            rest.add_row("ours via REST (API-reported end)", _s(r["ours_s"]), _s(r["ours_throughput"], 1),
                         _s(r["ours_latency_s"].get("p50")), _s(r["ours_latency_s"].get("p95")))
            rest.add_row("ours via REST (Temporal close time)", "", "",
                         _s(r["ours_engine_latency_s"].get("p50")), _s(r["ours_engine_latency_s"].get("p95")))
            d = r["direct"]
            rest.add_row("ours via EngineClient (no API)", _s(d["seconds"]), _s(d["throughput"], 1),
                         _s(d["latency_s"].get("p50")), _s(d["latency_s"].get("p95")))
            rest.add_row("raw SDK", _s(r["raw_s"]), _s(r["raw_throughput"], 1),
                         _s(r["raw_latency_s"].get("p50")), _s(r["raw_latency_s"].get("p95")))
            console.print(rest)

    for scale in (x for x in data["results"] if x.get("case") == "scaling" and not x.get("error")):
        st = Table(title="Scaling: time per task should stay flat")
        for col in ("kind", "size", "ours s", "ours ms/task", "raw ms/task", "ours/raw",
                    "ours transition p50", "ours wf task p50", "history events", "records read s"):
            st.add_column(col, justify="left" if col == "kind" else "right")
        for row in scale["chains"] + scale["items"]:
            ho = row.get("split_history_ours")
            st.add_row(row["kind"], str(row["size"]), _s(row["ours_s"]),
                       _s(row.get("ours_ms_per_task"), 1), _s(row.get("raw_ms_per_task"), 1),
                       _s(row.get("ratio")), _p(ho, "transition_ms"), _p(ho, "workflow_task_ms"),
                       str((ho or {}).get("events", "-")), _s(row.get("records_read_s")))
        console.print(st)
        interp = scale.get("interpreter")
        if interp:
            it = Table(title="Interpreter cost per event, without Temporal (bench/interpreter.py): "
                             "conductor step + Web UI task table + RunRecord, microseconds")
            for col in ("definition", "conductor us", "task table us", "record us", "total us"):
                it.add_column(col, justify="left" if col == "definition" else "right")
            for row in interp["chains"]:
                total = row["conductor_us"] + row["task_table_us"] + row["record_us"]
                it.add_row(f"chain of {row['tasks']}", _s(row["conductor_us"], 0),
                           _s(row["task_table_us"], 0), _s(row["record_us"], 0), _s(total, 0))
            for row in interp["items"]:
                per = row["per_item"]
                total = per["conductor_us"] + per["task_table_us"] + per["record_us"]
                it.add_row(f"with_items of {row['items']} ({row['slices_started']} dispatches at start,"
                           f" {row['first_dispatch_ms']:.1f} ms)", _s(per["conductor_us"], 0),
                           _s(per["task_table_us"], 0), _s(per["record_us"], 0), _s(total, 0))
            console.print(it)

    for records in (x for x in data["results"] if x.get("case") == "records" and not x.get("error")):
        print_records(console, records)

    _print_workflow_tasks(console, data["results"])

    mem = data.get("memory") or {}
    if mem:
        mt = Table(title="Peak memory (RSS of each process tree, sampled every "
                         f"{mem['interval_s']} s; VmHWM = the main process's own peak)")
        for col in ("process", "peak tree MB", "VmHWM MB", "during"):
            mt.add_column(col, justify="left" if col in ("process", "during") else "right")
        for role, info in mem["roles"].items():
            mt.add_row(role, _s(info["peak_mb"], 1), _s(info.get("hwm_mb"), 1), info.get("phase") or "")
        console.print(mt)


def _print_workflow_tasks(console: Console, results: list[dict[str, Any]]) -> None:
    """What each orchestrator's workflow tasks were, by the SDK's meters (bench/sdk_metrics.py)."""
    rows = [(r["case"], r["workflow_tasks"]) for r in results if r.get("workflow_tasks")]
    if not rows:
        return
    wt = Table(title="Orchestrator workflow tasks per case, SDK meters (ours / raw): a sticky "
                     "cache miss replays the run's whole history; queries are the records mirror's")
    for col in ("case", "tasks", "ms per task", "sticky misses", "replay ms", "queries answered"):
        wt.add_column(col, justify="left" if col == "case" else "right")
    for case, sides in rows:
        ours, raw = sides.get("orchestrator") or {}, sides.get("raw-orchestrator") or {}

        def both(key: str, ours: dict = ours, raw: dict = raw) -> str:
            return f"{_s(ours.get(key), 0)} / {_s(raw.get(key), 0)}"

        def per_task(side: dict) -> str:
            return _s(side["task_ms"] / side["tasks"], 2) if side.get("tasks") else "-"

        wt.add_row(case, both("tasks"), f"{per_task(ours)} / {per_task(raw)}",
                   both("sticky_misses"), both("replay_ms"), both("queries"))
    console.print(wt)


def print_records(console: Console, r: dict[str, Any]) -> None:
    """The records case: reads at scale per database, then the mirror's CPU per workflow."""
    backends = list(r["queries"])
    qt = Table(title=f"Records: API reads over HTTP with {r['records']:,} executions, ms p50 / p95 "
                     f"({r['repeats']} requests each, one at a time)")
    qt.add_column("read")
    for backend in backends:
        qt.add_column(backend, justify="right")
    names = next((list(q) for q in r["queries"].values() if "skipped" not in q), [])
    for name in (n for n in names if n != "load"):
        cells = []
        for backend in backends:
            q = r["queries"][backend].get(name)
            cells.append(f"{q['p50']:.1f} / {q['p95']:.1f}" if q else "-")
        qt.add_row(name, *cells)
    console.print(qt)
    for backend in backends:
        q = r["queries"][backend]
        if "skipped" in q:
            console.print(f"  {backend}: skipped: {q['skipped']}", style="red")
        elif q.get("load"):
            console.print(f"  {backend}: other load {_load({'load': q['load']})}", style="dim")
    mt = Table(title=f"Records mirror: CPU per running workflow ({r['window_s']:.0f} s windows; "
                     "above the idle baseline, i.e. the mirror over the seeded table alone)")
    roles = ("api", "temporal", "orchestrator")
    for col in ("database", "workflows", *(f"{role} {what}" for role in roles
                                           for what in ("CPU s", "ms/wf/s")), "other load / load1"):
        mt.add_column(col, justify="left" if col == "database" else "right")
    for backend, mirror in r["mirror"].items():
        for row in mirror.get("rows", []):
            cells = [c for role in roles for c in (_s(row.get(f"{role}_cpu_s")),
                                                    _s(row.get(f"{role}_ms_per_wf_s"), 2))]
            mt.add_row(backend, str(row["workflows"]), *cells, _load(row))
        if mirror.get("skipped"):
            mt.add_row(backend, "-", *["-"] * 6, f"skipped: {mirror['skipped']}")
    console.print(mt)
