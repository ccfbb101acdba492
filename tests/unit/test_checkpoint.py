"""A conductor checkpointed (as continue-as-new does) goes on exactly as one that never was.

Each case runs a workflow twice with the same scripted outcomes: straight through, and with a
checkpoint every few steps (hold, let running attempts end, save to JSON, load into a fresh
conductor, restart the pending timers). Both must dispatch the same attempts with the same
inputs and finish alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from attune.workflows import checkpoint
from attune.workflows.commands import Dispatch, Finish, Outcome, StartTimer, WaitForInquiry
from attune.workflows.conductor import Conductor
from attune.workflows.events import AttemptEnded, InquiryResolved, PauseRequested, ResumeRequested, TimerFired
from tests.unit.test_conductor import always_ok, bad, ok, t, wf


class Host:
    """Runs a conductor to the end; with `every`, checkpoints it every `every` steps."""

    def __init__(self, definition, script: Callable[[Dispatch], Outcome], parameters=None, *,
                 every: int | None = None, events: dict[int, Any] | None = None) -> None:
        self.definition, self.parameters = definition, parameters or {}
        self.conductor = Conductor(definition, self.parameters)
        self.script, self.every, self.events = script, every, events or {}
        self.pending: list[Dispatch] = []
        self.timers: list[StartTimer] = []
        self.waits: list[WaitForInquiry] = []
        self.dispatched: list[tuple[str, Any]] = []
        self.finish: Finish | None = None
        self.checkpoints: list[checkpoint.Checkpoint] = []

    def apply(self, commands: list) -> None:
        for command in commands:
            if isinstance(command, Dispatch):
                self.pending.append(command)
                self.dispatched.append((str(command.key), command.input))
            elif isinstance(command, StartTimer):
                self.timers.append(command)
            elif isinstance(command, WaitForInquiry):
                self.waits.append(command)
            elif isinstance(command, Finish):
                self.finish = command

    def end_one(self) -> None:
        d = self.pending.pop(0)
        self.apply(self.conductor.handle(AttemptEnded(d.key, self.script(d))))

    def run(self) -> Host:
        self.apply(self.conductor.start())
        steps = 0
        while self.finish is None:
            steps += 1
            if self.every and steps % self.every == 0:
                self.continue_as_new()  # then this step's own work, on the new conductor
                if self.finish is not None:
                    break
            if steps in self.events:
                self.apply(self.conductor.handle(self.events[steps]))
            elif self.pending:
                self.end_one()
            elif self.timers:
                self.apply(self.conductor.handle(TimerFired(self.timers.pop(0).key)))
            elif self.waits:
                wait = self.waits.pop(0)
                self.apply(self.conductor.handle(InquiryResolved(inquiry=wait.inquiry, status="responded",
                                                                 response={"ok": True})))
            elif not any(step > steps for step in self.events):
                raise AssertionError("stuck: nothing pending and not finished")
            assert steps < 100_000
        return self

    def continue_as_new(self) -> None:
        self.apply(self.conductor.hold())
        while self.pending and self.finish is None:
            self.end_one()
        if self.finish is not None or self.conductor.cancelling:
            return
        saved = checkpoint.Checkpoint.model_validate_json(checkpoint.save(self.conductor).model_dump_json())
        self.checkpoints.append(saved)
        remaining = {timer.key: timer.seconds for timer in self.timers}
        self.timers = []  # the old run's timers end with it
        self.conductor = Conductor(self.definition, self.parameters)
        self.apply(checkpoint.restore(self.conductor, saved, remaining))


def same(definition, script, parameters=None, every=(1, 2, 3, 5, 7), events=None) -> Host:
    """Straight through vs checkpointed every n steps: the same attempts, inputs and end."""
    straight = Host(definition, script, parameters, events=events).run()
    checkpoints = 0
    for n in every:
        resumed = Host(definition, script, parameters, every=n, events=events).run()
        assert sorted(resumed.dispatched, key=str) == sorted(straight.dispatched, key=str), n
        assert resumed.finish == straight.finish, n
        checkpoints += len(resumed.checkpoints)
    assert checkpoints  # the case really went through checkpoints
    return straight


def counter_loop(limit: int = 12, **extra: Any):
    return wf(vars={"n": 0}, max_iterations=10_000, **extra, tasks=[
        t("begin", next=[{"do": ["step"]}]),
        t("step", input={"n": "{{ n }}"}, next=[
            {"when": f"{{{{ succeeded() and n + 1 < {limit} }}}}", "publish": [("n", "{{ n + 1 }}")],
             "do": ["step"]},
            {"when": f"{{{{ succeeded() and n + 1 >= {limit} }}}}", "do": ["done"]}]),
        t("done", input={"n": "{{ n }}"}),
    ], output_map={"n": "{{ n }}", "last": "{{ task.step.result.data.n }}"})


def echo_n(d: Dispatch) -> Outcome:
    return ok({"n": d.input.get("n")})


def test_a_loop_goes_on_with_its_variables_iterations_and_results():
    straight = same(counter_loop(), echo_n)
    assert straight.finish.result == {"n": 11, "last": 11, "succeeded": True}


def test_a_checkpoint_keeps_the_size_of_the_definition_not_of_the_past():
    host = Host(counter_loop(3000), echo_n, every=50).run()
    assert host.finish.result["n"] == 2999
    sizes = [len(c.model_dump_json()) for c in host.checkpoints]
    assert max(len(c.runs) for c in host.checkpoints) <= 3
    assert max(sizes) < 2 * min(sizes[1:]) + 200  # flat, not growing with iterations


def test_max_iterations_counts_runs_before_the_checkpoint():
    d = wf(max_iterations=5, tasks=[t("begin", next=[{"do": ["spin"]}]), t("spin", next=[{"do": ["spin"]}])])
    host = Host(d, always_ok, every=3).run()
    assert "task 'spin' exceeded max_iterations (5)" in host.finish.error
    assert [k for k, _ in host.dispatched if k.startswith("spin")] == [f"spin.{i}#0" for i in range(1, 6)]


def test_a_slower_branch_still_does_not_rerun_the_bottom_of_a_diamond():
    """The causal chain (loop or sibling?) survives dropping the runs between."""
    d = wf(tasks=[
        t("top", next=[{"do": ["left", "right"]}]),
        t("left", next=[{"do": ["bottom"]}]),
        t("right", next=[{"do": ["slow1"]}]), t("slow1", next=[{"do": ["slow2"]}]),
        t("slow2", next=[{"do": ["slow3"]}]), t("slow3", next=[{"do": ["bottom"]}]),
        t("bottom"),
    ])
    straight = same(d, always_ok)
    assert [k for k, _ in straight.dispatched].count("bottom.1#0") == 1
    assert not any(k.startswith("bottom.2") for k, _ in straight.dispatched)


def test_a_loop_back_to_a_task_that_ran_long_ago_still_reruns_it():
    """init -> a <-> b many times, then b -> init: init is in b's causal chain through many
    dropped runs, so it runs again (a back edge, not a sibling)."""
    d = wf(vars={"n": 0, "laps": 0}, max_iterations=1000, tasks=[
        t("begin", next=[{"do": ["init"]}]),
        t("init", next=[{"publish": [("n", 0), ("laps", "{{ laps + 1 }}")], "do": ["a"]}]),
        t("a", next=[{"publish": [("n", "{{ n + 1 }}")], "do": ["b"]}]),
        t("b", next=[{"when": "{{ n < 6 }}", "do": ["a"]},
                     {"when": "{{ n >= 6 and laps < 3 }}", "do": ["init"]}]),
    ], output_map={"rounds": "{{ laps }}"})
    straight = same(d, always_ok)
    assert straight.finish.result == {"rounds": 3, "succeeded": True}


def test_a_join_half_arrived_at_the_checkpoint_still_waits_for_the_rest():
    d = wf(tasks=[
        t("a", next=[{"do": ["j"]}]), t("b", next=[{"do": ["b2"]}]), t("b2", next=[{"do": ["b3"]}]),
        t("b3", next=[{"do": ["j"]}]), t("j", join="all", input={"x": "{{ task.a.result.data.v }}"}),
    ])
    straight = same(d, lambda disp: ok({"v": disp.task}))
    assert ("j.1#0", {"x": "a"}) in straight.dispatched


def test_items_retries_and_delays_pending_at_a_checkpoint_go_on():
    calls: dict[str, int] = {}

    def flaky(d: Dispatch) -> Outcome:
        calls[str(d.key)] = calls.get(str(d.key), 0) + 1
        return bad() if d.key.attempt == 0 and d.input.get("x", 0) % 2 else ok({"x": d.input.get("x")})

    d = wf(tasks=[
        t("each", with_items="{{ range(9) }}", concurrency=3, input={"x": "{{ item }}"},
          retry={"count": 2, "delay": 4}, next=[{"do": ["later"]}]),
        t("later", delay=30, input={"xs": "{{ task.each.result | map(attribute='data') | list }}"}),
    ])
    straight = same(d, flaky)
    assert straight.finish.status == "completed"


def test_remaining_timer_seconds_come_from_the_host():
    d = wf(tasks=[t("later", delay=30)])
    c = Conductor(d, {})
    c.start()
    saved = checkpoint.save(c)
    assert saved.timers == ["delay/later.1"] or len(saved.timers) == 1
    fresh = Conductor(d, {})
    timer, = checkpoint.restore(fresh, saved, {saved.timers[0]: 12.5})
    assert isinstance(timer, StartTimer) and timer.seconds == 12.5
    dispatch, = fresh.handle(TimerFired(timer.key))
    assert str(dispatch.key) == "later.1#0"


def test_a_paused_run_stays_paused_after_the_checkpoint():
    d = counter_loop(6)
    straight = same(d, echo_n, events={4: PauseRequested(), 9: ResumeRequested()}, every=(2, 3))
    assert straight.finish.result["n"] == 5
    host = Host(d, echo_n)
    host.apply(host.conductor.start())
    host.apply(host.conductor.handle(PauseRequested()))
    host.end_one()  # begin ends; step is held by the pause
    assert host.pending == []
    saved = checkpoint.save(host.conductor)
    fresh = Conductor(d, {})
    assert checkpoint.restore(fresh, saved, {}) == []  # still paused: nothing dispatched
    step, = fresh.handle(ResumeRequested())
    assert str(step.key) == "step.1#0"


def test_a_wait_for_inquiry_survives_the_checkpoint():
    d = wf(tasks=[
        t("create", next=[{"do": ["deploy"]}]),
        t("deploy", wait_for={"inquiry": "{{ task.create.result.data.inquiry_id }}"},
          input={"ok": "{{ inquiry.deploy.response.ok }}"}),
    ])
    straight = same(d, lambda disp: ok({"inquiry_id": 7}))
    assert ("deploy.1#0", {"ok": True}) in straight.dispatched


def test_no_checkpoint_while_attempts_are_in_flight():
    c = Conductor(counter_loop(), {})
    c.start()
    with pytest.raises(checkpoint.NotQuiescent, match="1 attempt"):
        checkpoint.save(c)
