"""The orchestrators' own account of their workflow tasks, from the Temporal SDK's Prometheus
meters (`attune worker --metrics-bind`; the raw worker's `--metrics-bind`): per case, how many
workflow tasks each side ran, how many missed the sticky cache (a miss replays the whole
history), how many queries it answered, and the SDK's time per task. CPU per task says how much;
these say what kind of work it was.
"""

from __future__ import annotations

import urllib.request

# Summed over their labels (task queue, workflow type); counters only, so a case's share is the
# difference of two reads.
COUNTERS = {
    "tasks": "temporal_workflow_task_queue_poll_succeed",
    "sticky_misses": "temporal_sticky_cache_miss",
    "forced_evictions": "temporal_sticky_cache_total_forced_eviction",
    "task_ms": "temporal_workflow_task_execution_latency_sum",
    "replays": "temporal_workflow_task_replay_latency_count",
    "replay_ms": "temporal_workflow_task_replay_latency_sum",
}
QUERIES = 'operation="RespondQueryTaskCompleted"'


def read(port: int) -> dict[str, float] | None:
    """The counters now, or None when the worker does not answer (then the case shows none)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    totals = dict.fromkeys([*COUNTERS, "queries"], 0.0)
    names = {metric: key for key, metric in COUNTERS.items()}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        if name in names:
            totals[names[name]] += float(value)
        elif name == "temporal_request_latency_count" and QUERIES in series:
            totals["queries"] += float(value)
    return totals


def delta(before: dict[str, float] | None, after: dict[str, float] | None) -> dict[str, float] | None:
    if before is None or after is None:
        return None
    return {key: round(after[key] - before[key], 1) for key in after}
