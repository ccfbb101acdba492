"""The benchmark's pure parts still run against today's code: `make bench` is not in the suite, so
without this a refactor of the conductor or a report change breaks it unseen (it did, twice)."""

from __future__ import annotations

import io

from rich.console import Console

from attune.packs.loader import load_packs
from bench.generate import build_packs, chain_ref
from bench.interpreter import chain_cost, items_cost
from bench.report import print_report


def test_interpreter_cost_drives_a_chain_and_a_fan_out_to_completion(tmp_path):
    catalog = load_packs(build_packs(tmp_path, [("python", 5)]))
    chain = chain_cost(catalog, chain_ref("python", 5))
    assert chain["steps"] == chain["tasks"] == 5
    items = items_cost(catalog, 30)
    assert items["per_item"]["steps"] == 30
    assert items["slices_started"] == 30  # below one slice's size: the items themselves, all at once


def test_report_prints_every_table_and_names_a_broken_case():
    machine = {"date": "today", "nproc": 2, "cpu": "cpu", "memory_gb": 1, "python": "3", "temporalio": "1",
               "temporal_cli": "temporal 1"}
    row = {"case": "python40rest", "tasks": 40, "runtime": "python", "ours_s": 1.5, "raw_s": 1.2,
           "raw_mode": "warm", "raw_by_mode_s": {"warm": 1.2, "inproc": 0.75}, "floor_s": 0.75,
           "ratio": 1.25, "floor_ratio": 2.0, "ours_ms_per_task": 37.5, "raw_ms_per_task": 30.0,
           "floor_ms_per_task": 18.75, "notes": "n"}
    loop = {"case": "loop", "rows": [{"iterations": 100, "seconds": 3.0, "ms_per_iteration": 30.0,
                                      "temporal_runs": 1},
                                     {"iterations": 2000, "seconds": 62.0, "ms_per_iteration": 31.0,
                                      "temporal_runs": 2}]}
    data = {"mode": "quick", "machine": machine, "results": [
        row, loop, {"case": "scaling", "error": "AttributeError: boom"}]}
    out = io.StringIO()
    print_report(Console(file=out, width=200), data)
    text = out.getvalue()
    assert "Against the floor" in text and "2.00" in text
    assert "continue-as-new" in text and "2,000" in text
    assert "scaling: error: AttributeError: boom" in text
