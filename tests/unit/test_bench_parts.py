"""The benchmark's pure parts still run against today's code: `make bench` is not in the suite, so
without this a refactor of the conductor or a report change breaks it unseen (it did, twice)."""

from __future__ import annotations

import io

from rich.console import Console

from attune.packs.loader import load_packs
from bench.cases import _merge_loads
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
    split = {"queue_ms": {"p50": 5.0}, "worker_ms": {"p50": 6.0}, "execution_ms": {"p50": 3.0},
             "transition_ms": {"p50": 15.0}, "workflow_task_ms": {"p50": 9.0}}
    row = {"case": "python40rest", "tasks": 40, "runtime": "python", "ours_s": 1.5, "raw_s": 1.2,
           "raw_mode": "warm", "raw_by_mode_s": {"warm": 1.2, "inproc": 0.75}, "floor_s": 0.75,
           "ratio": 1.25, "floor_ratio": 2.0, "floor_ratio_pairs": [1.812, 1.95, 2.4],
           "floor_ratio_paired": 1.95, "ours_ms_per_task": 37.5, "raw_ms_per_task": 30.0,
           "floor_ms_per_task": 18.75, "notes": "n", "split_history_ours": split,
           "split_history_floor": {**split, "execution_ms": {"p50": 0.0}},
           "workflow_tasks": {"orchestrator": {"tasks": 50.0, "task_ms": 160.0, "sticky_misses": 3.0,
                                               "replay_ms": 12.0, "queries": 7.0},
                              "raw-orchestrator": {"tasks": 60.0, "task_ms": 120.0, "sticky_misses": 0.0,
                                                   "replay_ms": 0.0, "queries": 0.0}}}
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
    assert "1.95 (1.81-2.40)" in text  # the paired ratio, and its range
    assert "continue-as-new" in text and "2,000" in text
    assert "scaling: error: AttributeError: boom" in text
    assert "python40rest (o/floor)" in text and "3.0 / 0.0" in text  # the split against the floor
    assert "3.20 / 2.00" in text and "3 / 0" in text  # workflow tasks: ms per task, sticky misses


def test_sdk_meters_are_summed_over_their_labels_and_read_as_differences():
    import http.server
    import threading

    from bench import sdk_metrics

    pages = iter([
        "# HELP x\ntemporal_workflow_task_queue_poll_succeed{task_queue=\"a\"} 4\n"
        "temporal_workflow_task_queue_poll_succeed{task_queue=\"b\"} 6\n"
        "temporal_sticky_cache_miss{workflow_type=\"AttuneWorkflow\"} 1\n"
        "temporal_request_latency_count{operation=\"RespondQueryTaskCompleted\"} 2\n"
        "temporal_request_latency_count{operation=\"RespondWorkflowTaskCompleted\"} 9\n",
        "temporal_workflow_task_queue_poll_succeed{task_queue=\"a\"} 14\n"
        "temporal_workflow_task_queue_poll_succeed{task_queue=\"b\"} 6\n"
        "temporal_sticky_cache_miss{workflow_type=\"AttuneWorkflow\"} 1\n"
        "temporal_request_latency_count{operation=\"RespondQueryTaskCompleted\"} 5\n",
    ])

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the stdlib names it
            body = next(pages).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        before, after = sdk_metrics.read(port), sdk_metrics.read(port)
    finally:
        server.shutdown()
    assert before is not None and before["tasks"] == 10 and before["queries"] == 2
    change = sdk_metrics.delta(before, after)
    assert change is not None and change["tasks"] == 10 and change["sticky_misses"] == 0
    assert change["queries"] == 3
    assert sdk_metrics.read(port) is None and sdk_metrics.delta(before, None) is None  # gone: no figures


def test_loads_of_interleaved_runs_add_up():
    one = {"load1_before": 1.0, "load1_after": 2.0, "cpu_busy": 0.5, "cpu_ours": 0.4, "cpu_foreign": 0.1,
           "cpu_s_by_process": {"api": [0.1, 0.1], "python": [0.2, 0.5]}}
    two = {**one, "cpu_busy": 0.7, "cpu_s_by_process": {"python": [0.3, 0.6], "temporal": [1.0, 1.0]}}
    merged = _merge_loads([one, two])
    assert merged["cpu_s_by_process"] == {"api": [0.1, 0.1], "python": [0.5, 1.1], "temporal": [1.0, 1.0]}
    assert merged["cpu_busy"] == 0.6 and merged["load1_before"] == 1.0


async def test_raw_processes_get_an_actions_environment_not_the_workers(tmp_path, monkeypatch):
    """Raw spawned its scripts with the bench's whole environment: on a host that sets
    NODE_EXTRA_CA_CERTS every raw node parsed the CA bundle, which Attune's actions never do."""
    from temporalio.testing import ActivityEnvironment

    from bench.raw_worker import Activities

    script = tmp_path / "env.sh"
    script.write_text('printf \'{"names": "%s"}\\n\' "$(env | cut -d= -f1 | sort | tr "\\n" " ")"\n')
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("ATTUNE_SECRET_KEY", "not for actions")
    req = {"script": str(script), "params": {}, "format": "dotenv", "mode": "spawn"}
    result = await ActivityEnvironment().run(Activities("shell").raw_run, req)
    names = set(result["data"]["names"].split())
    assert "NODE_EXTRA_CA_CERTS" not in names and "ATTUNE_SECRET_KEY" not in names
    assert {"PATH", "HOME"} <= names


def test_the_paired_floor_ratio_divides_each_rest_run_by_the_floor_run_after_it():
    from bench.cases import Bench

    runs = {"warm": [{"seconds": 2.0, "load": {}}, {"seconds": 2.0, "load": {}}],
            "inproc": [{"seconds": 0.8, "load": {}}, {"seconds": 1.5, "load": {}}]}
    ours = {"times": [1.0, 1.8], "recorded": [1.0, 1.8], "load": {}, "runs": 2, "edges": []}
    result: dict = {}
    Bench._rest_result(result, ours, runs, "n")
    assert result["floor_ratio_pairs"] == [1.25, 1.2]
    assert result["floor_ratio_paired"] == 1.225  # not 1.4 / 1.15, the medians' ratio
