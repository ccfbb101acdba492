"""The pure state machine, driven with scripted outcomes (no Temporal, milliseconds per test)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from attune.workflows.commands import CancelAttempt, Dispatch, Finish, Outcome, StartTimer
from attune.workflows.conductor import LEGACY, Conductor, Semantics
from attune.workflows.events import AttemptEnded, CancelRequested, TimerFired
from attune.workflows.slice import SliceConductor
from attune.workflows.definition import WorkflowDefinition

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
                 parameters: dict | None = None, semantics: Semantics = Semantics()) -> None:
        self.conductor = Conductor(definition, parameters or {}, semantics=semantics)
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

    def run(self, cancel_after: int | None = None) -> "Rehearsal":
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
    assert "task 'each' with_items: expected a list, got int" in r.finish.error


def test_retry_exponential_backoff_delays_and_attempt_count():
    d = wf(tasks=[t("flaky", retry={"count": 3, "delay": 1, "backoff": "exponential", "max_delay": 3})])
    r = Rehearsal(d, lambda disp: bad()).run()
    assert [x.key.attempt for x in r.dispatched] == [0, 1, 2, 3]
    assert r.finish.status == "failed"


def test_retry_delays_are_requested_as_timers():
    d = wf(tasks=[t("flaky", retry={"count": 3, "delay": 1, "backoff": "exponential", "max_delay": 3})])
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
    assert seen == [1, 2, 3]  # 1·2^0, 1·2^1, min(1·2^2, max_delay 3)


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
    legacy = Rehearsal(d, script, semantics=LEGACY).run()
    assert legacy.finish.status == "completed"


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
