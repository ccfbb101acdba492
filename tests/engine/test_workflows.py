"""Every construct of spec §3–§5 on a real Temporal dev server with real processes."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.api.enums.v1 import EventType

from attune.engine.workflow import BASELINE_LEVEL
from tests.engine.helpers import records, run, start, wait_ended, wait_running


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


async def test_sequential_data_flow_through_publish(engine):
    r = await run(engine, "qa.sequence", {"start": 2})
    assert r.status == "completed", r.result
    assert r.result == {"a": 21, "b": 42, "c": "21+42", "greeting": "hello", "succeeded": True}
    assert [x.task_name for x in r.records] == ["a", "b", "c"]
    assert r.tasks("b")[0].triggered_by == "a"
    assert all(x.status == "completed" for x in r.records)


async def test_plain_action_runs_through_temporal(engine):
    r = await run(engine, "qa.echo", {"message": "hi"})
    assert r.status == "completed"
    assert r.result["data"] == {"message": "hi"} and r.result["exit_code"] == 0
    assert len(r.records) == 1 and r.records[0].status == "completed"


async def test_plain_action_failure_carries_the_error(engine):
    r = await run(engine, "qa.fail")
    assert r.status == "failed"
    assert r.result["error"] == "qa.fail failed on purpose" and r.result["exit_code"] == 3


async def test_unhandled_failure_fails_after_parallel_branch_finishes(engine):
    r = await run(engine, "qa.failures")
    assert r.status == "failed"
    assert r.result == {"error": "Workflow failed: 1 task(s) failed: unhandled", "succeeded": False}
    assert [x.status for x in r.tasks("after_parallel")] == ["completed"]
    assert [x.status for x in r.tasks("recover")] == ["completed"]


async def test_join_n_join_all_and_diamond_bottom_once(engine):
    r = await run(engine, "qa.joins")
    assert r.status == "completed", r.result
    by_end = sorted(r.records, key=lambda x: x.ended_at)
    order = [x.task_name for x in by_end]
    assert order.count("join_two") == 1 and order.count("join_all") == 1
    assert order.count("bottom") == 1
    # join 2 starts once fast and medium are done, before slow ends; join all after slow.
    slow_end = r.tasks("slow")[0].ended_at
    assert r.tasks("join_two")[0].started_at < slow_end
    assert r.tasks("join_all")[0].started_at >= slow_end


async def test_with_items_typed_concurrency_batches_and_aggregate(engine, action_tmp):
    r = await run(engine, "qa.items", {"count": 6, "tmp": str(action_tmp)})
    assert r.status == "completed", r.result
    assert [x["value"] for x in r.result["typed"]] == [10, 21, 32]
    assert [x["batch"] for x in r.result["batched"]] == [[0, 1], [2, 3], [4]]
    assert [x["ordinal"] for x in r.result["batched"]] == [0, 1, 2]
    assert r.result["agg_failed"] == [True, False]
    assert r.result["empty_result"] == []
    each = r.tasks("each")
    assert sorted(x.task_index for x in each) == list(range(6))
    # concurrency 2: at no instant do more than 2 items overlap
    events = sorted([(x.started_at, 1) for x in each] + [(x.ended_at, -1) for x in each])
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    assert peak == 2


async def test_retry_exponential_backoff_attempts_and_delays(engine, action_tmp):
    r = await run(engine, "qa.retry", {"tmp": str(action_tmp)})
    assert r.status == "completed", r.result
    assert r.result["attempts"] == 3
    attempts = r.tasks("flaky")
    assert [x.retry_count for x in attempts] == [0, 1, 2]
    assert attempts[1].original_key == attempts[0].key
    calls = json.loads((action_tmp / "retry-calls").read_text())
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert 0.5 <= gaps[0] < 1.5 and 1.0 <= gaps[1] < 2.5  # 0.5·2^0 then 0.5·2^1
    assert len(r.tasks("not_retried")) == 1  # on_error said no


async def test_timeout_takes_timed_out_branch_and_kills_process(engine):
    r = await run(engine, "qa.timeout")
    assert r.status == "completed", r.result
    assert r.result["was_timeout"] is True
    assert r.tasks("slow")[0].status == "timeout"
    assert r.tasks("on_timeout") and not r.tasks("on_failed")
    duration = (r.tasks("slow")[0].ended_at - r.tasks("slow")[0].started_at).total_seconds()
    assert duration < 10


async def test_a_tasks_timeout_bounds_its_nested_run_which_then_timed_out(engine):
    """Spec §2: on a nested workflow the timeout bounds the whole nested run, and the task ends
    `timeout` (a change to the activities' timeout message once took it for a lost worker)."""
    r = await run(engine, "qa.nested_timeout")
    assert r.status == "completed", r.result
    assert r.tasks("kid")[0].status == "timeout", r.tasks("kid")[0].result
    assert r.tasks("on_timeout") and not r.tasks("on_failed")


async def test_custom_conditions_several_transitions_fire(engine):
    r = await run(engine, "qa.conditions", {"n": 5})
    ran = {x.task_name for x in r.records}
    assert ran == {"check", "when_big", "when_odd", "always"}
    r = await run(engine, "qa.conditions", {"n": 2})
    assert {x.task_name for x in r.records} == {"check", "always"}


async def test_nested_workflows_three_levels(engine):
    r = await run(engine, "qa.nested", {"value": 4})
    assert r.status == "completed", r.result
    assert r.result == {"deep": 41, "succeeded": True}
    child = r.tasks("middle")[0]
    assert child.child_workflow_id == f"{r.workflow_id}/middle.1#0"
    inner = await records(engine, child.child_workflow_id)
    assert inner[0].child_workflow_id and inner[0].status == "completed"
    # No run records a patch marker: each run's input says which code it was started with (each
    # marker cost an event and a search-attribute (visibility) write on the server).
    for workflow_id in (r.workflow_id, child.child_workflow_id, inner[0].child_workflow_id):
        events = (await engine.handle(workflow_id).fetch_history()).events
        markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
        upserts = [e for e in events if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]
        assert len(markers) == len(upserts) == 0, (workflow_id, len(markers), len(upserts))
        started = events[0].workflow_execution_started_event_attributes.input.payloads[0].data
        assert json.loads(started)["baseline"] == BASELINE_LEVEL


async def test_loop_that_ends(engine):
    r = await run(engine, "qa.loop")
    assert r.status == "completed" and r.result["n"] == 3
    assert [x.iteration for x in r.tasks("step")] == [1, 2, 3]


async def test_loop_hitting_max_iterations_fails(engine):
    r = await run(engine, "qa.runaway")
    assert r.status == "failed"
    assert "task 'spin' exceeded max_iterations (5)" in r.result["error"]


async def test_expression_error_fails_the_run_clearly(engine):
    r = await run(engine, "qa.bad_expression", timeout=30)
    assert r.status == "failed"
    assert "task 'a' transition #0 (when)" in r.result["error"]
    assert "result().value.missing" in r.result["error"]


async def test_a_run_failed_by_an_expression_leaves_nothing_running_or_queued(engine):
    """It fails at once, cancelling what runs: those attempts' records end `cancelled` (they
    read `scheduled` forever before), and its state names the task that could not run."""
    workflow_id = await start(engine, "qa.bad_items")
    status, result = await wait_ended(engine, workflow_id, timeout=20)  # not the 30 s sleep
    assert status == "failed"
    assert "task 'bad' with_items: expected a list, got integer 5" in result["error"]
    recs = await records(engine, workflow_id)
    slow = [x for x in recs if x.task_name == "slow"]
    assert [x.status for x in slow] == ["cancelled"] and slow[0].ended_at is not None
    assert "the workflow failed before this task ended" in slow[0].result["error"]
    assert not [x for x in recs if x.ended_at is None]
    snap = await engine.snapshot(workflow_id)
    assert snap.current_tasks == [] and snap.failed_tasks == ["bad"], snap


async def test_cancel_allow_finish_lets_running_task_end(engine):
    workflow_id = await start(engine, "qa.cancellable")
    await wait_running(engine, workflow_id, "short")
    await engine.cancel(workflow_id)
    end = await engine.wait(workflow_id)
    status, result = end.status, end.result
    assert status == "cancelled"
    assert result == {"error": "Workflow cancelled", "succeeded": False}
    recs = await records(engine, workflow_id)
    assert [x.status for x in recs if x.task_name == "short"] == ["completed"]
    assert not [x for x in recs if x.task_name == "after"]


# qa.local_cancel runs `long` as a local action, which holds the workflow task: the cancel
# request reaches the run at the SDK's next workflow-task heartbeat (8 s of the default 10 s).
@pytest.mark.parametrize("ref", ["qa.cancel_running", "qa.local_cancel"])
async def test_cancel_running_kills_the_process(engine, ref):
    workflow_id = await start(engine, ref)
    await wait_running(engine, workflow_id, "long")
    await engine.cancel(workflow_id)
    status = (await asyncio.wait_for(engine.wait(workflow_id), 25)).status
    assert status == "cancelled"
    recs = await records(engine, workflow_id)
    assert [x.status for x in recs if x.task_name == "long"] == ["cancelled"]
    assert not [x for x in recs if x.task_name == "after"]
    # What the process printed and its exit (killed by TERM) go with the cancellation.
    (long,) = [x for x in recs if x.task_name == "long"]
    assert long.result["exit_code"] == -15 and long.result["cancelled"] is True
    assert long.result["error"] == "Cancelled" and "stdout" in long.result


async def test_secret_never_in_records_but_reaches_process(engine):
    r = await run(engine, "qa.secrets", {"token": "s3cr3t-value"})
    assert r.status == "completed" and r.result["length"] == len("s3cr3t-value")
    assert "s3cr3t-value" not in json.dumps([x.model_dump(mode="json") for x in r.records])
    # Nor in Temporal's history, which the Web UI shows (workflow and activity inputs).
    history = await engine.handle(r.workflow_id).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)  # payloads verbatim
    assert b"s3cr3t-value" not in raw
    assert b"__attune_secret__" in raw and b'"length":12' in raw


async def test_a_pack_config_value_its_conf_schema_marks_secret_travels_sealed(engine):
    """conf_schema `secret: true` (StackStorm, Attune): the action gets the value, the run's
    output and Temporal's history show it sealed; conf_schema defaults fill the config in."""
    r = await run(engine, "qa.config_secret")
    assert r.status == "completed", r.result
    assert r.result["length"] == len("cfg-s3cret-pw") and r.result["retries"] == 3
    assert r.result["shown"] == {"__attune_secret__": r.result["shown"]["__attune_secret__"]}
    # A member of an object marked secret too, at its depth; its siblings stay readable.
    assert set(r.result["nested"]) == {"__attune_secret__"} and r.result["host"] == "db.local"
    history = b"".join(e.SerializeToString() for e in (await engine.handle(r.workflow_id).fetch_history()).events)
    assert b"cfg-s3cret-pw" not in history and b"nested-s3cret-pw" not in history


async def test_a_sealed_secret_is_checked_against_its_schema_by_the_worker(engine):
    """The workflow sees only the sealed token: the task ran with a value its action's schema
    refuses (pattern, maxLength). The worker checks it once unsealed, never echoing it."""
    r = await run(engine, "qa.secret_strict_flow", {"token": "MyTopSecretTok99"})
    assert r.status == "failed"
    (use,) = r.tasks("use")
    assert use.result["error"] == ("invalid input for qa.secret_strict: parameter 'token': invalid value: "
                                   "fails 'maxLength', 'pattern'")
    assert "MyTopSecretTok99" not in json.dumps([x.model_dump(mode="json") for x in r.records])
    ok = await run(engine, "qa.secret_strict_flow", {"token": "abc"})
    assert ok.status == "completed" and ok.tasks("use")[0].result["data"] == {"length": 3}


async def test_secret_default_is_sealed_in_the_catalog_too(engine):
    # The catalog travels in the workflow input (history, Web UI): defaults must not leak there.
    r = await run(engine, "qa.secret_default")
    assert r.status == "completed" and r.result["data"] == {"length": len("dflt-s3cret")}
    history = await engine.handle(r.workflow_id).fetch_history()
    assert b"dflt-s3cret" not in b"".join(e.SerializeToString() for e in history.events)


async def test_secrets_an_action_prints_are_masked_in_its_results(engine):
    r = await run(engine, "qa.secret_leaks", {"token": "leaky-s3cret"})
    by_task = {x.task_name: x.result for x in r.records}
    assert by_task["text"]["stdout"] == "token is ********\nnote is ********\n"
    assert by_task["text"]["stderr"] == "debug: ********\n"
    assert by_task["json"].get("data") == {"echo": "********", "********": 1}, by_task["json"]
    assert by_task["fail"]["error"] == "login failed for ********" and r.status == "failed"
    history = await engine.handle(r.workflow_id).fetch_history()
    assert b"leaky-s3cret" not in b"".join(e.SerializeToString() for e in history.events)
    assert "leaky-s3cret" not in json.dumps([x.model_dump(mode="json") for x in r.records])


async def test_a_task_gets_its_actions_defaults_and_a_bad_input_fails_the_task(engine):
    r = await run(engine, "qa.task_inputs")
    assert r.status == "completed", r.result
    assert r.result["defaulted"] == {"value": 1, "message": "from the default", "mode": "fast"}
    assert r.result["why"] == ("task 'wrong': invalid input for qa.defaults: mode: \"medium\" is not "
                               "one of \"fast\", \"slow\"; value: \"many\" is not of type integer")
    wrong, = r.tasks("wrong")  # one attempt: its retry policy does not run a refusal again
    assert wrong.status == "failed" and wrong.parameters["mode"] == "medium"
    assert r.tasks("defaulted")[0].parameters["message"] == "from the default"  # records show it


async def test_query_returns_every_task_state(engine):
    r = await run(engine, "qa.failures")
    states = await engine.handle(r.workflow_id).query("task_states")
    assert states == {"unhandled": "failed", "handled": "failed", "recover": "succeeded",
                      "parallel": "succeeded", "after_parallel": "succeeded"}


async def test_large_with_items_runs_in_slices_with_ordered_results(engine):
    r = await run(engine, "qa.big_items", {"count": 1200}, timeout=300)
    assert r.status == "completed", r.result
    assert r.result == {"n": 1200, "last": 1199, "succeeded": True}
    slices = r.tasks("each")
    assert [s.child_workflow_id.rsplit("[", 1)[-1] for s in slices] == ["0:500]#0", "500:1000]#0",
                                                                         "1000:1200]#0"]
    inner = await records(engine, slices[1].child_workflow_id)
    assert sorted(x.task_index for x in inner) == list(range(500, 1000))


async def test_python_actions_start_warm_unless_they_opt_out(engine):
    warm = await run(engine, "qa.ppid_warm")
    cold = await run(engine, "qa.ppid_cold")
    assert warm.status == cold.status == "completed"
    # A forked action still runs the starter's command line; a cold one exec'd its script.
    assert warm.result["data"] == {"forked": True, "script": False}
    assert cold.result["data"] == {"forked": False, "script": True}


async def test_history_near_its_limit_fails_clearly_instead_of_being_terminated(engine):
    r = await run(engine, "qa.runaway", history_guard=15)
    assert r.status == "failed"
    assert "workflow history reached" in r.result["error"]
    assert "near Temporal's limit of 51,200" in r.result["error"]


async def test_retry_on_error_in_a_slice_sees_workflow_variables(engine):
    r = await run(engine, "qa.big_retry", timeout=120)
    assert r.status == "failed"
    assert r.result["error"] == "Workflow failed: 1 task(s) failed: each"
    second_slice = r.tasks("each")[1].child_workflow_id
    failing = [x for x in await records(engine, second_slice) if x.task_index == 510]
    assert sorted(x.retry_count for x in failing) == [0, 1]  # on_error said yes: one retry


async def test_the_web_uis_current_details_show_the_first_task_while_it_runs(engine):
    """A long first task left Temporal's "Current details" empty until it ended."""
    from temporalio.api.sdk.v1 import WorkflowMetadata

    workflow_id = await start(engine, "qa.slow_chain")
    await wait_running(engine, workflow_id, "first")
    meta = await engine.handle(workflow_id).query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "first" in meta.current_details and "running" in meta.current_details, meta.current_details
    status, _ = await wait_ended(engine, workflow_id)
    assert status == "completed"


async def test_a_secret_cut_by_an_output_cap_is_masked_too(engine):
    """Printed across stdout's 256 KiB cap, the first 12 characters of a secret were kept in
    the clear (masking saw no whole secret); at the start of stderr's kept tail, its end."""
    secret = "cut-in-two-s3cret-value"
    r = await run(engine, "qa.secret_leak", {"token": secret, "mode": "cut"})
    result = r.records[0].result if r.records else r.result
    assert result["stdout_truncated"] and result["stderr_truncated"], result
    pieces = {secret[i:i + 5] for i in range(len(secret) - 4)}
    assert not [p for p in pieces if p in result["stdout"] or p in result["stderr"]], (
        result["stdout"][-40:], result["stderr"][:40])
    assert result["stdout"].endswith("A********") and result["stderr"].startswith("********B"), (
        result["stdout"][-40:], result["stderr"][:40])
