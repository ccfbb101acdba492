"""The pure state machine, driven with scripted outcomes (no Temporal, milliseconds per test)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from attune.workflows.commands import CancelAttempt, Dispatch, Finish, Outcome, StartTimer, WaitForInquiry
from attune.workflows.conductor import LEGACY, Conductor, Resume
from attune.workflows.definition import WorkflowDefinition
from attune.workflows.events import (
    AttemptEnded,
    CancelRequested,
    InquiryResolved,
    PauseRequested,
    ResumeRequested,
    TimerFired,
)
from attune.workflows.slice import SliceConductor

OK = "succeeded"


def wf(**body: Any) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate({"version": "1.0", **body})


def t(name: str, *, action: str = "core.echo", **extra: Any) -> dict:
    return {"name": name, "action": action, **extra}


def ok(data: Any = None) -> Outcome:
    result = {"succeeded": True, "exit_code": 0, "duration_ms": 1}
    if data is not None:
        result["data"] = data
    return Outcome(OK, result)


def bad(status: str = "failed") -> Outcome:
    return Outcome(status, {"succeeded": False, "exit_code": 1, "duration_ms": 1, "error": "boom"})


class Rehearsal:
    """Runs a conductor to the end: `script(dispatch)` decides each attempt's outcome.

    Attempts complete in dispatch order (FIFO), one per step, so concurrency is observable.
    """

    def __init__(self, definition: WorkflowDefinition, script: Callable[[Dispatch], Outcome],
                 parameters: dict | None = None, **options: Any) -> None:
        self.conductor = Conductor(definition, parameters or {}, **options)
        self.script = script
        self.dispatched: list[Dispatch] = []
        self.timers: list[StartTimer] = []
        self.cancelled: list[str] = []
        self.told_to_cancel: list[str] = []
        self.pending: list[Dispatch] = []
        self.max_in_flight = 0
        self.finish: Finish | None = None

    def apply(self, commands: list) -> None:
        for command in commands:
            if isinstance(command, Dispatch):
                self.dispatched.append(command)
                self.pending.append(command)
            elif isinstance(command, StartTimer):
                self.timers.append(command)
            elif isinstance(command, CancelAttempt) and command.let_finish:
                self.told_to_cancel.append(command.key)  # children would cancel; actions finish
            elif isinstance(command, CancelAttempt):
                self.cancelled.append(command.key)
            elif isinstance(command, Finish):
                self.finish = command
        self.max_in_flight = max(self.max_in_flight, len(self.pending))

    def run(self, cancel_after: int | None = None) -> Rehearsal:
        self.apply(self.conductor.start())
        steps = 0
        while self.finish is None:
            if cancel_after is not None and steps == cancel_after:
                self.apply(self.conductor.handle(CancelRequested()))
            elif self.pending:
                d = self.pending.pop(0)
                outcome = Outcome("cancelled", {"succeeded": False}) if d.key in self.cancelled \
                    else self.script(d)
                self.apply(self.conductor.handle(AttemptEnded(d.key, outcome)))
            elif self.timers:
                self.apply(self.conductor.handle(TimerFired(self.timers.pop(0).key)))
            else:
                raise AssertionError("stuck: nothing pending and not finished")
            steps += 1
        return self

    @property
    def order(self) -> list[str]:
        return [d.task for d in self.dispatched]


def always_ok(_: Dispatch) -> Outcome:
    return ok()


def test_start_tasks_run_in_parallel_and_output_map_renders():
    d = wf(tasks=[t("a"), t("b")], output_map={"n": "{{ 1 + 2 }}"})
    r = Rehearsal(d, always_ok).run()
    assert r.max_in_flight == 2
    assert r.finish.status == "completed"
    assert r.finish.result == {"n": 3, "succeeded": True}


def test_publish_flows_in_order_and_later_items_see_earlier():
    d = wf(tasks=[
        t("a", next=[{"when": "{{ succeeded() }}",
                      "publish": [("x", "{{ result().data.v }}"), ("y", "{{ workflow.x * 2 }}")],
                      "do": ["b"]}]),
        t("b", input={"msg": "{{ x }}-{{ vars.y }}"}),
    ])
    r = Rehearsal(d, lambda disp: ok({"v": 21})).run()
    assert r.dispatched[1].input == {"msg": "21-42"}
    assert r.conductor.variables == {"x": 21, "y": 42}


def test_every_matching_transition_fires_and_later_conditions_see_published_values():
    d = wf(tasks=[
        t("a", next=[
            {"when": "{{ succeeded() }}", "publish": [("flag", True)], "do": ["b"]},
            {"when": "{{ flag }}", "do": ["c"]},
            {"when": "{{ failed() }}", "do": ["d"]},
        ]),
        t("b"), t("c"), t("d"),
    ])
    r = Rehearsal(d, always_ok).run()
    assert sorted(r.order) == ["a", "b", "c"]


def test_unhandled_failure_lets_parallel_branch_finish_then_fails():
    d = wf(tasks=[t("a"), t("b", next=[{"do": ["c"]}]), t("c")])
    r = Rehearsal(d, lambda disp: bad() if disp.task == "a" else ok()).run()
    assert r.order == ["a", "b", "c"]
    assert r.finish.status == "failed"
    assert r.finish.error == "Workflow failed: 1 task(s) failed: a"
    assert r.finish.result == {"error": "Workflow failed: 1 task(s) failed: a", "succeeded": False}


def test_handled_failure_completes():
    d = wf(tasks=[t("a", next=[{"when": "{{ failed() }}", "do": ["fix"]}]), t("fix")])
    r = Rehearsal(d, lambda disp: bad() if disp.task == "a" else ok()).run()
    assert r.order == ["a", "fix"] and r.finish.status == "completed"


def test_timeout_takes_timed_out_branch_not_failed():
    d = wf(tasks=[
        t("a", next=[{"when": "{{ failed() }}", "do": ["on_fail"]},
                     {"when": "{{ timed_out() }}", "do": ["on_timeout"]}]),
        t("on_fail"), t("on_timeout"),
    ])
    r = Rehearsal(d, lambda disp: bad("timed_out") if disp.task == "a" else ok()).run()
    assert r.order == ["a", "on_timeout"]


@pytest.mark.parametrize("join,expected_runs", [(2, 1), ("all", 1)])
def test_join_waits_for_n_inbound(join, expected_runs):
    d = wf(tasks=[
        t("a", next=[{"do": ["j"]}]), t("b", next=[{"do": ["j"]}]), t("c", next=[{"do": ["j"]}]),
        t("j", join=join),
    ])
    r = Rehearsal(d, always_ok).run()
    assert r.order.count("j") == expected_runs
    assert r.order.index("j") == 3  # dispatched only after its inbound tasks ended
    assert r.finish.status == "completed"


def test_join_n_runs_after_n_arrivals_not_all():
    d = wf(tasks=[
        t("a", next=[{"do": ["j"]}]), t("b", next=[{"do": ["slow"]}]), t("slow", next=[{"do": ["j"]}]),
        t("c", next=[{"do": ["j"]}]), t("j", join=2),
    ])
    r = Rehearsal(d, always_ok).run()
    assert r.order.count("j") == 1
    assert r.order[:4] == ["a", "b", "c", "slow"] and r.order[4] == "j"



def test_join_all_counts_distinct_inbound_tasks_not_transitions():
    """§2/§3 `join: all` = number of distinct inbound tasks: two transitions from one task are one arrival."""
    d = wf(tasks=[
        t("a", next=[{"when": "{{ succeeded() }}", "do": ["j"]}, {"do": ["j"]}]),
        t("b", next=[{"do": ["slow"]}]), t("slow", next=[{"do": ["j"]}]),
        t("j", join="all"),
    ])
    r = Rehearsal(d, always_ok).run()
    assert r.order == ["a", "b", "slow", "j"] and r.finish.status == "completed"


def test_diamond_without_join_runs_bottom_once():
    d = wf(tasks=[
        t("top", next=[{"do": ["left", "right"]}]),
        t("left", next=[{"do": ["bottom"]}]),
        t("right", next=[{"do": ["slow"]}]), t("slow", next=[{"do": ["bottom"]}]),
        t("bottom"),
    ])
    r = Rehearsal(d, always_ok).run()
    assert r.order.count("bottom") == 1


def test_loop_runs_until_condition_then_ends():
    attempts = {"n": 0}

    def script(disp: Dispatch) -> Outcome:
        if disp.task == "check":
            attempts["n"] += 1
            return ok() if attempts["n"] >= 3 else bad()
        return ok()

    d = wf(tasks=[t("begin", next=[{"do": ["check"]}]),
                  t("check", next=[{"when": "{{ failed() }}", "do": ["fix"]}]),
                  t("fix", next=[{"do": ["check"]}])])
    r = Rehearsal(d, script).run()
    assert r.order == ["begin", "check", "fix", "check", "fix", "check"]
    assert [x.key.iteration for x in r.dispatched if x.task == "check"] == [1, 2, 3]
    assert r.finish.status == "completed"


def test_loop_hitting_max_iterations_fails_clearly():
    d = wf(max_iterations=3, tasks=[t("begin", next=[{"do": ["spin"]}]),
                                    t("spin", next=[{"do": ["spin"]}])])
    r = Rehearsal(d, always_ok).run()
    assert r.order == ["begin"] + ["spin"] * 3
    assert r.finish.status == "failed"
    assert "task 'spin' exceeded max_iterations (3)" in r.finish.error



def test_max_iterations_defaults_to_1000_runs_per_task():
    """§2 `max_iterations` (per-task run limit) default 1000."""
    d = wf(tasks=[t("begin", next=[{"do": ["spin"]}]), t("spin", next=[{"do": ["spin"]}])])
    r = Rehearsal(d, always_ok).run()
    assert r.order.count("spin") == 1000
    assert "task 'spin' exceeded max_iterations (1000)" in r.finish.error


def test_with_items_typed_item_index_and_concurrency_bound():
    d = wf(tasks=[t("each", with_items="{{ parameters.xs }}", concurrency=2,
                    input={"v": "{{ item }}", "i": "{{ index }}"})])
    r = Rehearsal(d, lambda disp: ok({"out": disp.input["v"]}), {"xs": [5, 6, 7, 8, 9]}).run()
    assert [x.input for x in r.dispatched] == [{"v": v, "i": i} for i, v in enumerate([5, 6, 7, 8, 9])]
    assert r.max_in_flight == 2
    assert [res["data"]["out"] for res in r.conductor.runs["each"][0].result] == [5, 6, 7, 8, 9]


def test_with_items_batch_size_groups_items():
    d = wf(tasks=[t("each", with_items="{{ range(5) }}", batch_size=2, input={"b": "{{ item }}"})])
    r = Rehearsal(d, always_ok).run()
    assert [x.input["b"] for x in r.dispatched] == [[0, 1], [2, 3], [4]]
    assert [x.key.index for x in r.dispatched] == [0, 1, 2]



def test_with_items_concurrency_defaults_to_one_item_in_flight():
    """§2 with_items `concurrency`: default 1."""
    d = wf(tasks=[t("each", with_items="{{ range(4) }}", input={"x": "{{ item }}"})])
    r = Rehearsal(d, always_ok).run()
    assert len(r.dispatched) == 4 and r.max_in_flight == 1


def test_with_items_result_is_in_item_order_when_items_end_out_of_order():
    """§4 the task result is the list of per-item results in item order."""
    d = wf(tasks=[t("each", with_items="{{ ['a', 'b', 'c'] }}", concurrency=3, input={"x": "{{ item }}"})])
    r = Rehearsal(d, always_ok)
    r.apply(r.conductor.start())
    for disp in reversed(r.pending):  # c ends first, a last
        r.apply(r.conductor.handle(AttemptEnded(disp.key, ok({"x": disp.input["x"]}))))
    assert r.finish.status == "completed"
    assert [res["data"]["x"] for res in r.conductor.runs["each"][0].result] == ["a", "b", "c"]


@pytest.mark.parametrize("endings, fired", [
    (["succeeded", "timed_out", "failed"], "on_failed"),  # failed() if any item failed
    (["timed_out", "succeeded", "succeeded"], "on_timed_out"),  # timed_out() if none failed but one timed out
    (["succeeded", "succeeded", "succeeded"], "on_ok"),
])
def test_with_items_aggregate_status(endings, fired):
    """§4 aggregate: failed() if any item failed, timed_out() if none failed but one timed out."""
    from attune.statuses import TaskStatus, aggregate

    d = wf(tasks=[t("each", with_items="{{ range(3) }}", concurrency=3, input={"i": "{{ index }}"},
                    next=[{"when": "{{ failed() }}", "do": ["on_failed"]},
                          {"when": "{{ timed_out() }}", "do": ["on_timed_out"]},
                          {"when": "{{ succeeded() }}", "do": ["on_ok"]}]),
                  t("on_failed"), t("on_timed_out"), t("on_ok")])
    script = {i: ok() if e == "succeeded" else bad(e) for i, e in enumerate(endings)}
    r = Rehearsal(d, lambda disp: script[disp.input["i"]] if disp.task == "each" else ok()).run()
    assert r.order == ["each"] * 3 + [fired]
    assert aggregate([TaskStatus(e) for e in endings]) == {"on_failed": "failed", "on_timed_out": "timed_out",
                                                          "on_ok": "succeeded"}[fired]


def test_with_items_aggregate_failure_fires_once_after_all_items():
    d = wf(tasks=[t("each", with_items="{{ [1, 2, 3] }}", concurrency=3, input={"x": "{{ item }}"},
                    next=[{"when": "{{ failed() }}", "do": ["report"]}]), t("report")])
    r = Rehearsal(d, lambda disp: bad() if disp.input.get("x") == 2 else ok()).run()
    assert r.order == ["each", "each", "each", "report"]
    assert r.conductor.runs["each"][0].status == "failed"


def test_with_items_empty_list_succeeds_with_empty_result():
    d = wf(tasks=[t("each", with_items="{{ [] }}", next=[{"when": "{{ succeeded() }}",
                                                          "publish": [("r", "{{ result() }}")]}])])
    r = Rehearsal(d, always_ok).run()
    assert r.conductor.variables["r"] == [] and r.finish.status == "completed"


def test_with_items_not_a_list_fails_with_task_and_field():
    d = wf(tasks=[t("each", with_items="{{ 5 }}")])
    r = Rehearsal(d, always_ok).run()
    assert r.finish.status == "failed"
    assert "task 'each' with_items: expected a list, got integer 5" in r.finish.error


def test_retry_exponential_backoff_delays_and_attempt_count():
    d = wf(tasks=[t("flaky", retry={"count": 3, "delay": 1, "backoff": "exponential", "max_delay": 3})])
    r = Rehearsal(d, lambda disp: bad()).run()
    assert [x.key.attempt for x in r.dispatched] == [0, 1, 2, 3]
    assert r.finish.status == "failed"


@pytest.mark.parametrize("backoff, delay, max_delay, count, expected", [
    ("constant", 2, None, 3, [2, 2, 2]),  # constant = delay
    ("linear", 1.5, None, 3, [1.5, 3, 4.5]),  # linear = delay·n
    ("linear", 1, 3, 4, [1, 2, 3, 3]),  # ... capped by max_delay
    ("exponential", 1, None, 4, [1, 2, 4, 8]),  # exponential = delay·2^(n-1)
    ("exponential", 1, 3, 3, [1, 2, 3]),  # 1·2^0, 1·2^1, min(1·2^2, max_delay 3)
])
def test_retry_delays_are_requested_as_timers(backoff, delay, max_delay, count, expected):
    """§5 retry delays: constant = delay, linear = delay·n, exponential = delay·2^(n-1), capped by max_delay."""
    d = wf(tasks=[t("flaky", retry={"count": count, "delay": delay, "backoff": backoff, "max_delay": max_delay})])
    r = Rehearsal(d, lambda disp: bad())
    r.apply(r.conductor.start())
    seen = []
    while r.finish is None:
        if r.pending:
            disp = r.pending.pop(0)
            r.apply(r.conductor.handle(AttemptEnded(disp.key, bad())))
        else:
            timer = r.timers.pop(0)
            seen.append(timer.seconds)
            r.apply(r.conductor.handle(TimerFired(timer.key)))
    assert seen == expected


def test_retry_on_error_decides_and_success_stops_retrying():
    calls = {"n": 0}

    def script(disp: Dispatch) -> Outcome:
        calls["n"] += 1
        return bad() if calls["n"] < 2 else ok()

    d = wf(tasks=[t("flaky", retry={"count": 5, "on_error": "{{ result().exit_code == 1 }}"})])
    r = Rehearsal(d, script).run()
    assert [x.key.attempt for x in r.dispatched] == [0, 1] and r.finish.status == "completed"

    d = wf(tasks=[t("flaky", retry={"count": 5, "on_error": "{{ result().exit_code == 99 }}"})])
    r = Rehearsal(d, lambda disp: bad()).run()
    assert len(r.dispatched) == 1


def test_delay_starts_a_timer_before_dispatch():
    d = wf(tasks=[t("later", delay="{{ 2 + 1 }}")])
    r = Rehearsal(d, always_ok)
    r.apply(r.conductor.start())
    assert r.dispatched == [] and r.timers[0].seconds == 3
    r.apply(r.conductor.handle(TimerFired(r.timers.pop(0).key)))
    assert [x.task for x in r.dispatched] == ["later"]


def test_cancel_allow_finish_lets_running_end_and_schedules_nothing():
    d = wf(tasks=[t("a", next=[{"do": ["b"]}]), t("b")])
    r = Rehearsal(d, always_ok).run(cancel_after=0)
    assert r.order == ["a"] and r.cancelled == []
    assert [str(k) for k in r.told_to_cancel] == ["a.1#0"]  # a nested workflow would stop too
    assert r.finish.status == "cancelled"
    assert r.finish.result == {"error": "Workflow cancelled", "succeeded": False}
    legacy = Rehearsal(d, always_ok, semantics=LEGACY).run(cancel_after=0)
    assert legacy.told_to_cancel == [] and legacy.order == ["a"]


def test_a_retry_waits_for_a_free_slot_so_concurrency_always_holds():
    """Item 0 fails and waits 5 s; its slot goes to item 2; when the timer fires, item 0 waits
    for a slot instead of making three in flight (issue: retry timer vs refilled slot)."""
    d = wf(tasks=[t("each", with_items="{{ range(4) }}", concurrency=2,
                    retry={"count": 1, "delay": 5})])
    r = Rehearsal(d, always_ok)
    r.apply(r.conductor.start())
    first, second = r.pending.pop(0), r.pending.pop(0)
    r.apply(r.conductor.handle(AttemptEnded(first.key, bad())))  # item 0 -> retry timer
    assert [str(x.key) for x in r.pending] == ["each.1[2]#0"] and len(r.timers) == 1
    r.apply(r.conductor.handle(TimerFired(r.timers.pop(0).key)))  # slots: item 1, item 2
    assert [str(x.key) for x in r.pending] == ["each.1[2]#0"]  # nothing more in flight
    r.apply(r.conductor.handle(AttemptEnded(second.key, ok())))
    assert [str(x.key) for x in r.pending] == ["each.1[2]#0", "each.1[0]#1"]  # the retry first
    while r.pending:
        r.apply(r.conductor.handle(AttemptEnded(r.pending.pop(0).key, ok())))
    assert r.finish.status == "completed" and r.max_in_flight == 2
    legacy = Rehearsal(d, always_ok, semantics=LEGACY)
    legacy.apply(legacy.conductor.start())
    legacy.apply(legacy.conductor.handle(AttemptEnded(legacy.pending.pop(0).key, bad())))
    legacy.apply(legacy.conductor.handle(AttemptEnded(legacy.pending.pop(0).key, ok())))
    legacy.apply(legacy.conductor.handle(TimerFired(legacy.timers.pop(0).key)))
    assert legacy.max_in_flight == 3  # what older runs did, kept for their replay


@pytest.mark.parametrize("handler, status", [
    (None, "failed"),
    ({"when": "{{ cancelled() }}", "do": ["cleanup"]}, "completed"),
    ({"do": ["cleanup"]}, "completed"),
    ({"when": "{{ failed() }}", "do": ["cleanup"]}, "failed"),
])
def test_a_task_cancelled_on_its_own_is_a_failure_unless_handled(handler, status):
    d = wf(tasks=[t("nested", next=[handler] if handler else []), t("cleanup", join=1)]
           if handler else [t("nested")])
    def script(disp: Dispatch) -> Outcome:
        return Outcome("cancelled", {"succeeded": False}) if disp.task == "nested" else ok()

    r = Rehearsal(d, script)
    r.run()
    assert r.finish.status == status
    if status == "failed":
        assert r.finish.error == "Workflow failed: 1 task(s) failed: nested"
    assert r.conductor.failed_tasks() == ["nested"]  # what a re-run from failed tasks runs again
    legacy = Rehearsal(d, script, semantics=LEGACY).run()
    assert legacy.finish.status == "completed"


def test_the_failed_tasks_are_named_in_file_order_not_in_the_order_they_ended():
    d = wf(tasks=[t("s", next=[{"do": ["a"]}]), t("a"), t("b")])
    r = Rehearsal(d, lambda disp: ok() if disp.task == "s" else bad()).run()
    assert [x.task for x in r.dispatched] == ["s", "b", "a"]  # b ended first
    assert r.finish.error == "Workflow failed: 2 task(s) failed: a, b"


def test_cancel_running_cancels_in_flight_attempts():
    d = wf(cancellation_policy="cancel_running", tasks=[t("a"), t("b")])
    r = Rehearsal(d, always_ok).run(cancel_after=0)
    assert sorted(map(str, r.cancelled)) == ["a.1#0", "b.1#0"]
    assert r.finish.status == "cancelled"


def test_expression_error_in_condition_names_task_transition_and_expression():
    d = wf(tasks=[t("a", next=[{"when": "{{ result().nope > 1 }}", "do": ["b"]}]), t("b")])
    r = Rehearsal(d, always_ok).run()
    assert r.finish.status == "failed"
    assert "task 'a' transition #0 (when)" in r.finish.error
    assert "result().nope" in r.finish.error


def test_expression_error_in_input_names_task_and_field():
    d = wf(tasks=[t("a", input={"x": "{{ parameters.missing }}"})])
    r = Rehearsal(d, always_ok).run()
    assert r.finish.status == "failed" and "task 'a' input" in r.finish.error


def test_self_loop_reruns_while_condition_holds():
    d = wf(vars={"n": 0}, tasks=[
        t("begin", next=[{"do": ["count"]}]),
        t("count", next=[{"publish": [("n", "{{ n + 1 }}")]}, {"when": "{{ n < 4 }}", "do": ["count"]}]),
    ])
    r = Rehearsal(d, always_ok).run()
    assert r.order.count("count") == 4 and r.finish.status == "completed"


def test_data_keys_visible_at_top_level_unless_they_clash():
    d = wf(tasks=[t("fetch", next=[{"publish": [("id", "{{ task.fetch.id }}"),
                                                ("code", "{{ task.fetch.exit_code }}")]}])])
    r = Rehearsal(d, lambda disp: ok({"id": 7, "exit_code": "clash"})).run()
    assert r.conductor.variables == {"id": 7, "code": 0}


def test_workflow_wide_in_flight_bound_holds_across_tasks():
    """Temporal rejects more than 2,000 pending activities per run: the conductor stays below."""
    d = wf(tasks=[t("a", with_items="{{ range(30) }}", concurrency=30),
                  t("b", with_items="{{ range(30) }}", concurrency=30)])
    r = Rehearsal(d, always_ok)
    r.conductor.max_in_flight = 10
    r.run()
    assert r.max_in_flight == 10
    assert len(r.dispatched) == 60 and r.finish.status == "completed"


def test_cancel_while_items_queued_and_retry_waiting_ends_cancelled():
    d = wf(tasks=[t("each", with_items="{{ range(10) }}", concurrency=2,
                    retry={"count": 2, "delay": 5})])
    r = Rehearsal(d, lambda disp: bad())
    r.apply(r.conductor.start())
    first = r.pending.pop(0)
    r.apply(r.conductor.handle(AttemptEnded(first.key, bad())))  # item 0 now waits on a retry timer
    r.apply(r.conductor.handle(CancelRequested()))
    while r.pending:
        disp = r.pending.pop(0)
        r.apply(r.conductor.handle(AttemptEnded(disp.key, Outcome("cancelled", {}))))
    assert r.finish is not None and r.finish.status == "cancelled"
    statuses = [u.status for u in r.conductor.runs["each"][0].units]
    assert statuses.count("cancelled") == 10


def test_large_with_items_dispatches_slices_with_rendered_inputs():
    d = wf(tasks=[t("each", with_items="{{ range(12) }}", concurrency=10, input={"x": "{{ item * 2 }}"},
                    next=[{"when": "{{ succeeded() }}", "publish": [("n", "{{ length(result()) }}")]}])])
    r = Rehearsal(d, lambda disp: Outcome("succeeded", [{"v": i["x"]} for i in disp.slice_inputs]))
    r.conductor.slice_size = 5
    r.run()
    slices = r.dispatched
    assert [str(s.key) for s in slices] == ["each.1[0:5]#0", "each.1[5:10]#0", "each.1[10:12]#0"]
    assert slices[2].slice_inputs == [{"x": 20}, {"x": 22}] and slices[2].key.span == (10, 12)
    assert r.max_in_flight == 2  # concurrency 10 // slice size 5
    assert r.conductor.variables["n"] == 12
    assert [x["v"] for x in r.conductor.runs["each"][0].result] == [i * 2 for i in range(12)]


def test_a_slice_runs_prerendered_inputs_with_the_parents_indexes():
    task = wf(tasks=[t("each", with_items="{{ parameters.inputs }}", concurrency=2,
                       input={"never": "{{ rendered_again }}"})]).tasks[0]
    slice_ = SliceConductor(task, [{"a": 1}, {"a": 2}, {"a": "{{ data }}"}], 500, parameters={},
                            variables={}, cancellation_policy="allow_finish")
    commands = slice_.start()
    assert [(str(c.key), c.input) for c in commands] == [("each.1[500]#0", {"a": 1}),
                                                         ("each.1[501]#0", {"a": 2})]
    third = slice_.handle(AttemptEnded(commands[0].key, ok(1)))
    slice_.handle(AttemptEnded(commands[1].key, ok(2)))
    assert third[0].input == {"a": "{{ data }}"}  # data from the parent is never rendered
    assert slice_.outcome() is None  # still running
    slice_.handle(AttemptEnded(third[0].key, bad()))
    status, results = slice_.outcome()
    assert status == "failed" and [r["succeeded"] for r in results] == [True, True, False]


def test_abort_fails_the_workflow_and_cancels_in_flight_attempts():
    d = wf(tasks=[t("a"), t("b")])
    c = Conductor(d)
    c.start()
    commands = c.abort("history too long")
    assert [type(x).__name__ for x in commands] == ["CancelAttempt", "CancelAttempt", "Finish"]
    assert c.finished.status == "failed" and c.finished.error == "history too long"


# ---- issue 9 language semantics and the Attune forms of spec §6 ---------------------------------


def test_optional_parameter_without_default_is_null():
    """9.12: the host passes declared-but-absent parameters as null (packs.parameters)."""
    from attune.packs.models import Action, ParameterSpec
    from attune.packs.parameters import expression_parameters

    action = Action(ref="p.w", pack_ref="p", parameters={"tag": ParameterSpec(), "n": ParameterSpec(
        type="integer", default=2)})
    params = expression_parameters(action, {})
    assert params == {"tag": None, "n": 2}
    d = wf(tasks=[t("a", input={"m": "{{ parameters.tag }}", "s": "tag={{ parameters.tag }}",
                                "d": "{{ parameters.tag | default('none') }}"})])
    r = Rehearsal(d, always_ok, params).run()
    assert r.finish.status == "completed"
    assert r.dispatched[0].input == {"m": None, "s": "tag=", "d": "none"}


def test_output_map_task_that_never_ran_is_null():
    """9.13: alternative branches map their results; the branch not taken gives null."""
    d = wf(tasks=[t("check", next=[{"when": "{{ succeeded() }}", "do": ["yes"]},
                                   {"when": "{{ failed() }}", "do": ["no"]}]),
                  t("yes"), t("no")],
           output_map={"yes": "{{ task.yes.result.data }}", "no": "{{ task.no.data.x }}",
                       "either": "{{ task.no.data | default(task.yes.data) }}",
                       "text": "no={{ task.no.stdout }}"})
    r = Rehearsal(d, lambda disp: ok({"v": 1})).run()
    assert r.finish.status == "completed", r.finish.error
    assert r.finish.result == {"yes": {"v": 1}, "no": None, "either": {"v": 1}, "text": "no=",
                               "succeeded": True}


def test_never_run_task_is_still_an_error_outside_output_map():
    d = wf(tasks=[t("a", next=[{"do": ["b"]}]), t("b", input={"x": "{{ task.c.data }}"}), t("c")])
    r = Rehearsal(d, always_ok)
    r.script = always_ok
    r.run()
    assert r.finish.status == "failed" and "task 'c' has no result yet" in r.finish.error


@pytest.mark.parametrize("rendered", ["false", "no", "", "0", "something"])
def test_decision_default_fires_exactly_when_no_branch_did(rendered):
    """9.14: whatever the other conditions render to (text such as "false" broke `not (A)`)."""
    from attune.packs.loader import parse_workflow_text

    text = (
        'version: "1"\ntasks:\n  - name: pick\n    action: core.echo\n    decision:\n'
        '      - when: "{{ result().data.answer }}"\n        next: hit\n'
        '      - default: true\n        next: fallback\n'
        '  - {name: hit, action: core.echo}\n  - {name: fallback, action: core.echo}\n')
    d, problems = parse_workflow_text(text)
    assert problems == []
    r = Rehearsal(d, lambda disp: ok({"answer": rendered})).run()
    fired_branch = rendered not in ("false", "no", "", "0")
    assert r.order == ["pick", "hit" if fired_branch else "fallback"]


def test_legacy_on_success_items_also_need_the_status():
    from attune.packs.loader import parse_workflow_text

    text = ('version: "1"\ntasks:\n  - name: a\n    action: core.echo\n    on_success:\n'
            '      - when: "{{ true }}"\n        do: s\n    on_failure:\n'
            '      - when: "{{ true }}"\n        next: f\n'
            '  - {name: s, action: core.echo}\n  - {name: f, action: core.echo}\n')
    d, problems = parse_workflow_text(text)
    assert problems == []
    assert Rehearsal(d, always_ok).run().order == ["a", "s"]
    r = Rehearsal(d, lambda disp: bad() if disp.task == "a" else ok()).run()
    assert r.order == ["a", "f"] and r.finish.status == "completed"


def test_timeout_fractions_reach_the_dispatch_and_zero_fails_at_run_time():
    """9.16: 0.5 stays 0.5 (never the 600 s default); 0 or less from a template fails clearly."""
    d = wf(tasks=[t("a", timeout=0.5, next=[{"do": ["b"]}]), t("b", timeout="{{ parameters.t }}")])
    r = Rehearsal(d, always_ok, {"t": 0.25}).run()
    assert [x.timeout_seconds for x in r.dispatched] == [0.5, 0.25]
    for bad_value in (0, -1):
        r = Rehearsal(d, always_ok, {"t": bad_value}).run()
        assert r.finish.status == "failed"
        assert r.finish.error == f"task 'b' timeout: must be greater than 0 seconds, got {bad_value}"



def test_task_timeout_overrides_the_actions_timeout_seconds_which_defaults_to_600():
    """§2 `timeout` overrides the action's `timeout_seconds` (default 600)."""
    from attune.engine.workflow import _timeout
    from attune.packs import load_packs
    from tests.conftest import PACKS

    catalog = load_packs(PACKS)  # core.echo gives no timeout_seconds, core.http_request 330
    d = wf(tasks=[t("plain"), t("own", action="core.http_request"),
                  t("short", action="core.http_request", timeout=2.5)])
    r = Rehearsal(d, always_ok).run()
    assert [_timeout(x, catalog.action(x.action_ref)) for x in r.dispatched] == [600, 330, 2.5]


def test_self_loop_does_not_hide_a_start_task():
    """9.17: a task whose only inbound edge is its own loop starts."""
    d = wf(vars={"n": 0}, tasks=[t("poll", next=[{"publish": [("n", "{{ n + 1 }}")]},
                                                {"when": "{{ n < 3 }}", "do": ["poll"]}])])
    r = Rehearsal(d, always_ok).run()
    assert r.order == ["poll"] * 3 and r.finish.status == "completed"


def test_now_and_uuid_come_from_the_host():
    from datetime import UTC, datetime

    ids = iter(["id-1", "id-2"])
    d = wf(tasks=[t("a", input={"at": "{{ now() }}", "id": "{{ uuid() }}", "id2": "{{ uuid() }}"})])
    r = Rehearsal(d, always_ok, clock=lambda: datetime(2024, 5, 1, tzinfo=UTC),
                  uuid=lambda: next(ids)).run()
    assert r.dispatched[0].input == {"at": "2024-05-01T00:00:00+00:00", "id": "id-1", "id2": "id-2"}
    r = Rehearsal(d, always_ok).run()  # no host sources: a clear error, never the real clock
    assert r.finish.status == "failed" and "now() is only available while a workflow runs" in r.finish.error


def test_attune_expression_forms():
    d = wf(vars={"passed": True}, tasks=[
        t("build", next=[{"publish": [
            ("status", "{{ 'success' if workflow.passed else 'failed' }}"),
            ("seconds", "{{ task.build.result.duration_seconds }}"),
            ("paths", "{{ task.build.packs | map(attribute='path') | list }}"),
            ("count", "{{ task.build.packs | length }}"),
            ("csv", "{{ task.build.packs | map(attribute='path') | join(',') }}"),
            ("json", "{{ task.build.packs | tojson }}"),
            ("fallback", "{{ task.build.missing | default('none') }}")]}])])
    packs = [{"path": "/a"}, {"path": "/b"}]
    r = Rehearsal(d, lambda disp: ok({"duration_seconds": 12, "packs": packs})).run()
    assert r.conductor.variables == {
        "passed": True, "status": "success", "seconds": 12, "paths": ["/a", "/b"], "count": 2,
        "csv": "/a,/b", "json": '[{"path": "/a"}, {"path": "/b"}]', "fallback": "none"}


def test_parallel_task_runs_sub_tasks_at_once_and_ends_when_all_have():
    d = wf(tasks=[
        {"name": "checks", "parallel": [t("c1", input={"n": 1}), t("c2", action="core.other", input={"n": 2},
                                                                    retry={"count": 1})],
         "next": [{"when": "{{ succeeded() }}", "do": ["after"]},
                  {"when": "{{ failed() }}", "do": ["fix"]}]},
        # A sub-task's data keys read at the top level through the parallel task too (spec §6).
        t("after", input={"both": "{{ task.checks.c1.data.n + task.c2.data.n }}",
                          "lifted": "{{ task.checks.c1.n + task.c2.n }}"}), t("fix")])
    r = Rehearsal(d, lambda disp: ok(disp.input)).run()
    assert r.max_in_flight == 2 and r.finish.status == "completed"
    assert [(x.task, x.action_ref, x.key.index) for x in r.dispatched[:2]] == [
        ("checks", "core.echo", 0), ("checks", "core.other", 1)]
    assert r.order[-1] == "after" and r.dispatched[-1].input == {"both": 3, "lifted": 3}
    # One sub-task failing (after its own retry) fails the parallel task once both ended.
    r = Rehearsal(d, lambda disp: bad() if disp.action_ref == "core.other" else ok()).run()
    assert [x.key.attempt for x in r.dispatched if x.action_ref == "core.other"] == [0, 1]
    assert r.order[-1] == "fix" and r.finish.status == "completed"


def test_pause_dispatches_nothing_new_until_resumed_then_continues_where_it_stopped():
    d = wf(tasks=[t("each", with_items="{{ range(6) }}", concurrency=2,
                    next=[{"do": ["after"]}]), t("after")])
    c = Conductor(d)
    first = c.start()
    assert [str(x.key) for x in first] == ["each.1[0]#0", "each.1[1]#0"]
    assert c.handle(PauseRequested()) == [] and c.paused and c.in_flight == 2
    assert c.handle(AttemptEnded(first[0].key, ok())) == []  # its slot stays empty
    assert c.handle(AttemptEnded(first[1].key, ok())) == [] and c.in_flight == 0
    resumed = c.handle(ResumeRequested())
    assert [str(x.key) for x in resumed] == ["each.1[2]#0", "each.1[3]#0"]
    pending = list(resumed)
    while pending:
        pending += c.handle(AttemptEnded(pending.pop(0).key, ok()))
        pending = [x for x in pending if isinstance(x, Dispatch)]
    assert c.finished is not None and c.finished.status == "completed"
    assert [len(c.runs["each"][0].result), c.task_states()["after"]] == [6, "succeeded"]


def test_cancelling_a_paused_workflow_cancels_it():
    d = wf(tasks=[t("a", next=[{"do": ["b"]}]), t("b")])
    c = Conductor(d)
    a, = c.start()
    c.handle(PauseRequested())
    c.handle(AttemptEnded(a.key, ok()))  # b activated but not dispatched
    commands = c.handle(CancelRequested())
    assert [type(x).__name__ for x in commands] == ["Finish"] and c.finished.status == "cancelled"
    assert c.task_states()["b"] == "cancelled"


def _waiting_workflow() -> WorkflowDefinition:
    return wf(tasks=[
        t("create", next=[{"do": ["deploy"]}]),
        t("deploy", wait_for={"inquiry": "{{ task.create.inquiry_id }}"},
          input={"approved": "{{ inquiry.deploy.response.approved }}"},
          next=[{"when": "{{ succeeded() }}", "publish": [("by", "{{ inquiry.deploy.response.by }}")]},
                {"when": "{{ timed_out() }}", "do": ["expired"]},
                {"when": "{{ failed() }}", "do": ["refused"]}]),
        t("expired"), t("refused")])


def test_wait_for_is_not_dispatched_until_its_inquiry_is_answered():
    c = Conductor(_waiting_workflow())
    create, = c.start()
    wait, = c.handle(AttemptEnded(create.key, ok({"inquiry_id": 7})))
    assert isinstance(wait, WaitForInquiry) and wait.inquiry == 7 and str(wait.key) == "deploy.1#0"
    assert c.task_states()["deploy"] == "waiting" and c.in_flight == 0
    assert c.handle(InquiryResolved(inquiry=99, status="responded")) == []  # another one
    deploy, = c.handle(InquiryResolved(inquiry=7, status="responded",
                                       response={"approved": True, "by": "ana"}))
    assert deploy.input == {"approved": True}
    c.handle(AttemptEnded(deploy.key, ok()))
    assert c.finished.status == "completed" and c.variables == {"by": "ana"}


@pytest.mark.parametrize("status, fired, error", [
    ("timeout", "expired", "inquiry 7 timed out"), ("cancelled", "refused", "inquiry 7 cancelled")])
def test_an_inquiry_that_times_out_or_is_cancelled_ends_the_task_so(status, fired, error):
    c = Conductor(_waiting_workflow())
    create, = c.start()
    c.handle(AttemptEnded(create.key, ok({"inquiry_id": 7})))
    handler, = c.handle(InquiryResolved(inquiry=7, status=status))
    assert handler.task == fired
    assert c.runs["deploy"][0].result == {"succeeded": False, "error": error}
    assert c.runs["deploy"][0].status == ("timed_out" if status == "timeout" else "failed")


def test_a_run_that_cannot_wait_yet_still_fails_clearly_under_legacy_semantics():
    c = Conductor(_waiting_workflow(), semantics=LEGACY)
    create, = c.start()
    commands = c.handle(AttemptEnded(create.key, ok({"inquiry_id": 7})))
    assert c.finished.status == "failed" and "does not carry out yet" in c.finished.error
    assert [type(x).__name__ for x in commands] == ["Finish"]


def test_resume_from_failed_runs_only_the_failed_task_and_what_follows():
    d = wf(tasks=[t(f"t{i}", next=[{"when": "{{ succeeded() }}", "publish": [(f"v{i}", i)],
                                    "do": [f"t{i + 1}"]}] if i < 9 else []) for i in range(1, 10)])
    c = Conductor(d)
    kept = {f"t{i}": {"succeeded": True, "exit_code": 0, "data": {"n": i}} for i in range(1, 7)}
    t7, = c.resume(Resume(results=kept, variables={f"v{i}": i for i in range(1, 7)}, rerun=["t7"]))
    assert t7.task == "t7" and str(t7.key) == "t7.1#0"
    pending = [t7]
    order = []
    while pending:
        d_ = pending.pop(0)
        order.append(d_.task)
        pending += [x for x in c.handle(AttemptEnded(d_.key, ok())) if isinstance(x, Dispatch)]
    assert order == ["t7", "t8", "t9"] and c.finished.status == "completed"
    assert c.variables == {f"v{i}": i for i in range(1, 9)}
    assert c.task_states()["t3"] == "succeeded" and c.task_results["t3"]["n"] == 3


def test_resume_keeps_a_join_waiting_for_a_kept_branch_satisfied():
    d = wf(tasks=[t("a", next=[{"do": ["c"]}]), t("b", next=[{"do": ["c"]}]),
                  t("c", join="all")])
    c = Conductor(d)
    b, = c.resume(Resume(results={"a": {"succeeded": True}}, variables={}, rerun=["b"]))
    then, = c.handle(AttemptEnded(b.key, ok()))
    assert then.task == "c"


def test_resume_inside_a_loop_feeds_the_loops_join_again():
    """start -> a, b -> j (join: all) -> back to a, b while i < 3. b failed in the second
    iteration; the re-run ran b alone and then nothing: j had run (in iteration one), so the
    kept a's arrival was never given to it, and the run completed with 2 of 3 iterations."""
    loop = {"when": "{{ i < 3 }}", "do": ["a", "b"]}
    d = wf(vars={"i": 0}, tasks=[t("start", next=[{"do": ["a", "b"]}]), t("a", next=[{"do": ["j"]}]),
                                 t("b", next=[{"do": ["j"]}]),
                                 t("j", join="all", next=[{"publish": [("i", "{{ i + 1 }}")]}, loop])])
    done = {"succeeded": True, "exit_code": 0}
    c = Conductor(d)
    pending = c.resume(Resume(results={"start": done, "a": done, "j": done}, variables={"i": 1}, rerun=["b"]))
    order = []
    while pending:
        d_ = pending.pop(0)
        order.append(d_.task)
        pending += [x for x in c.handle(AttemptEnded(d_.key, ok())) if isinstance(x, Dispatch)]
    assert order == ["b", "j", "a", "b", "j"] and c.variables["i"] == 3, order
    assert c.finished.status == "completed"
    legacy = Conductor(d, semantics=LEGACY)  # how re-runs from before replay
    b, = legacy.resume(Resume(results={"start": done, "a": done, "j": done}, variables={"i": 1}, rerun=["b"]))
    assert legacy.handle(AttemptEnded(b.key, ok()))[-1].status == "completed"


def test_an_input_that_cannot_render_names_the_field_inside_the_input():
    """'task t input: cannot evaluate ...' left the user to find which of its fields."""
    d = wf(tasks=[t("t", input={"v": {"x": ["ok", "{{ 1 < 'a' }}"]}})])
    r = Rehearsal(d, lambda disp: ok()).run()
    assert r.finish.status == "failed"
    assert r.finish.error == ("task 't' input.v.x[1]: cannot evaluate '{{ 1 < 'a' }}': '<' not supported "
                              "between instances of integer and string")


def test_an_attempt_the_host_refused_is_not_retried():
    """Invalid input is refused again on every attempt: its retry policy would only wait."""
    d = wf(tasks=[t("a", retry={"count": 3})])
    refused = Outcome("failed", {"succeeded": False, "error": "invalid input"}, retryable=False)
    r = Rehearsal(d, lambda disp: refused).run()
    assert len(r.dispatched) == 1 and r.finish.status == "failed"
    again = Rehearsal(d, lambda disp: bad()).run()
    assert len(again.dispatched) == 4  # a failure of the action itself is retried


def test_a_pause_before_the_first_step_holds_the_first_tasks_until_resumed():
    """A pause signal that reached the run with its start ended it `completed`, nothing run."""
    d = wf(tasks=[t("a", next=[{"do": ["b"]}]), t("b")])
    c = Conductor(d, {})
    c.pause_before_start()
    assert c.start() == [] and c.finished is None and c.task_states()["a"] == "running"
    dispatched = c.handle(ResumeRequested())
    assert [type(x).__name__ for x in dispatched] == ["Dispatch"] and dispatched[0].task == "a"


def test_the_recorded_graph_keeps_each_transitions_condition() -> None:
    """A run's task graph (records, the web UI's drawing of old runs) carries the conditions it
    ran with, the legacy forms as one expression each."""
    from attune.workflows.definition import Transition
    from attune.workflows.graph import TaskGraph, condition

    d = wf(tasks=[t("a", next=[{"when": "{{ succeeded() }}", "do": ["b"]}, {"do": ["c"]}]), t("b"), t("c")])
    described = TaskGraph.of(d).describe(d)
    assert described["a"]["transitions"] == [{"when": "{{ succeeded() }}", "do": ["b"]},
                                             {"when": None, "do": ["c"]}]
    assert described["b"]["transitions"] == []
    assert condition(Transition(on_status="failed", do=["x"])) == "{{ failed() }}"
    assert condition(Transition(on_status="succeeded", when="{{ x > 1 }}")) == "{{ succeeded() and (x > 1) }}"
    assert condition(Transition(otherwise=[0])) == "{{ otherwise }}"


def test_a_cancel_before_the_first_step_starts_nothing():
    """A cancel that reached the run with its start was handled after `start`, which had
    dispatched the first tasks (allow_finish let them run to their end). Handled before, the
    run ends cancelled with nothing dispatched, no delay timer either, under both policies."""
    for policy in ("allow_finish", "cancel_running"):
        d = wf(cancellation_policy=policy,
               tasks=[t("a", next=[{"do": ["c"]}]), t("b", delay=5), t("c")])
        c = Conductor(d, {})
        c.cancel_before_start()
        assert c.start() == [Finish(status="cancelled", result={"error": "Workflow cancelled",
                                                                "succeeded": False},
                                    error="Workflow cancelled")]
        assert c.handle(CancelRequested()) == [] and c.in_flight == 0
        assert c.task_states() == {"a": "pending", "b": "pending", "c": "pending"}


def test_a_rerun_cancelled_before_its_first_step_keeps_its_kept_tasks_and_runs_nothing():
    d = wf(tasks=[t("a", next=[{"do": ["b"]}]), t("b")])
    c = Conductor(d, {})
    c.cancel_before_start()
    commands = c.resume(Resume(results={"a": {"succeeded": True}}, variables={}, rerun=["b"]))
    assert [type(x).__name__ for x in commands] == ["Finish"] and c.finished.status == "cancelled"
    assert c.task_states() == {"a": "succeeded", "b": "pending"}


def test_a_continued_run_cancelled_before_its_first_step_dispatches_nothing_held():
    """The run before continued as new with tasks held back and a retry waiting: restored
    into a conductor cancelled before its first step, nothing is dispatched, and the
    CancelRequested after the restore ends what it brought back."""
    from attune.workflows import checkpoint

    d = wf(tasks=[t("a", with_items="{{ range(4) }}", concurrency=2, retry={"count": 1, "delay": 9}),
                  t("b", delay=30)])
    c = Conductor(d, {})
    first = c.start()
    c.hold()
    for dispatch in [x for x in first if isinstance(x, Dispatch)]:
        c.handle(AttemptEnded(dispatch.key, bad() if dispatch.key.index == 0 else ok()))
    saved = checkpoint.save(c)  # item 0 waits for its retry, items 2 and 3 are held, b delayed
    fresh = Conductor(d, {})
    fresh.cancel_before_start()
    restored = checkpoint.restore(fresh, saved, {})
    assert [x for x in restored if not isinstance(x, StartTimer)] == []
    assert [type(x).__name__ for x in fresh.handle(CancelRequested())] == ["Finish"]
    assert fresh.finished.status == "cancelled" and fresh.in_flight == 0
    assert fresh.task_states() == {"a": "cancelled", "b": "cancelled"}
