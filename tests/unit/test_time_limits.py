"""Every duration a user gives (task delay and timeout, retry delay and max_delay, an action's
timeout_seconds, an inquiry's timeout_seconds) has one limit, MAX_DURATION_SECONDS (10 years):
over it, a load error naming the field, the task and the limit at its line:column, or at run time
(a template's value) the task fails with the same words. Larger values failed runs with
OverflowError ("internal error") or hung them with a 100-year timer."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from attune.api.schemas import InquiryCreate
from attune.packs import validate_path
from attune.statuses import TaskStatus
from attune.workflows.commands import Dispatch, Finish, StartTimer
from attune.workflows.conductor import Conductor, Semantics
from attune.workflows.definition import MAX_DURATION_SECONDS, RetryPolicy, WorkflowDefinition
from attune.workflows.events import TimerFired
from tests.unit.test_name_limits import problems

LIMIT = "over the limit of 315,360,000 s (10 years)"


def test_literal_durations_over_the_limit_are_load_errors_naming_task_field_and_limit():
    found = problems("""
        version: "1.0"
        tasks:
          - name: a
            action: core.echo
            delay: 1000000000000
            timeout: 1000000000000000
            retry: {count: 2, delay: 1000000000000, max_delay: 1e13}
          - name: b
            type: parallel
            tasks:
              - {name: s, action: core.echo, timeout: 315360001}
    """)
    assert found == [
        (5, 12, f"task 'a' delay: 1,000,000,000,000 s is {LIMIT}"),
        (6, 14, f"task 'a' timeout: 1,000,000,000,000,000 s is {LIMIT}"),
        (7, 30, f"task 'a' retry.delay: 1,000,000,000,000 s is {LIMIT}"),
        (7, 56, f"task 'a' retry.max_delay: 10,000,000,000,000 s is {LIMIT}"),
        (11, 47, f"task 's' timeout: 315,360,001 s is {LIMIT}"),
    ]


def test_durations_at_the_limit_load():
    assert problems(f"""
        version: "1.0"
        tasks:
          - name: a
            action: core.echo
            delay: {MAX_DURATION_SECONDS}
            timeout: {MAX_DURATION_SECONDS}
            retry: {{count: 2, delay: {MAX_DURATION_SECONDS}, max_delay: {MAX_DURATION_SECONDS}}}
    """) == []


def test_an_actions_timeout_seconds_over_the_limit_is_a_load_error(tmp_path: Path):
    actions = tmp_path / "lim" / "actions"
    actions.mkdir(parents=True)
    (tmp_path / "lim" / "pack.yaml").write_text('ref: lim\nversion: "1.0"\n')
    (actions / "long.yaml").write_text("ref: lim.long\nrunner_type: shell\nentry_point: long.sh\n"
                                       "timeout_seconds: 1000000000000000\n")
    (actions / "ok.yaml").write_text("ref: lim.ok\nrunner_type: shell\nentry_point: long.sh\n"
                                     f"timeout: {MAX_DURATION_SECONDS}\n")
    (actions / "long.sh").write_text("#!/bin/sh\n")
    found = [(Path(p.file or "").name, p.line, p.column, p.message) for p in validate_path(tmp_path / "lim")]
    assert found == [("long.yaml", 4, 18, f"timeout_seconds: 1,000,000,000,000,000 s is {LIMIT}")]


# ---- at run time: a template's value -------------------------------------------------------------

def start(task: dict[str, Any], semantics: Semantics = Semantics(), **parameters: Any) -> tuple[Conductor, list]:
    definition = WorkflowDefinition.model_validate(
        {"version": "1.0", "tasks": [{"name": "a", "action": "core.echo", **task}]})
    conductor = Conductor(definition, parameters, semantics=semantics)
    return conductor, conductor.start()


@pytest.mark.parametrize("task, value, shown", [
    ({"delay": "{{ parameters.v }}"}, 10**12, "1,000,000,000,000"),
    ({"delay": "{{ parameters.v }}"}, 1e300, "1e+300"),
    ({"delay": "{{ parameters.v }}"}, 10**400, f"{10**400:,}"),
    ({"delay": "{{ parameters.v }}"}, "1e12", "1,000,000,000,000"),
    ({"timeout": "{{ parameters.v }}"}, 10**15, "1,000,000,000,000,000"),
    ({"timeout": "{{ parameters.v }}"}, 1e300, "1e+300"),
    ({"timeout": "{{ parameters.v }}"}, "inf", "inf"),
])
def test_a_templates_duration_over_the_limit_fails_the_task_naming_the_limit(task, value, shown):
    conductor, commands = start(task, v=value)
    field = next(iter(task))
    error = f"task 'a' {field}: {shown} s is {LIMIT}"
    assert [c for c in commands if not isinstance(c, Finish)] == []  # no timer, no dispatch
    assert conductor.finished is not None and conductor.finished.error == error
    assert conductor.task_states() == {"a": TaskStatus.FAILED}  # not listed as current


@pytest.mark.parametrize("field", ["delay", "timeout"])
@pytest.mark.parametrize("value", [True, False, "nan"])
def test_a_templates_boolean_or_nan_duration_fails_the_task(field, value):
    conductor, _ = start({field: "{{ parameters.v }}"}, v=value)
    shown = {True: "true", False: "false", "nan": "nan"}[value]
    assert conductor.finished is not None
    assert conductor.finished.error == f"task 'a' {field}: expected a number of seconds, got {shown}"
    assert conductor.task_states() == {"a": TaskStatus.FAILED}


def test_runs_from_before_the_limit_keep_their_behaviour_when_replayed():
    """The host asks its patch only when a value breaks a rule; a replayed older run says no."""
    asked: list[bool] = []

    def old() -> bool:
        asked.append(True)
        return False

    conductor, commands = start({"delay": "{{ parameters.v }}"}, Semantics(bounded_durations=old), v=True)
    assert asked and conductor.finished is None
    assert [c.seconds for c in commands if isinstance(c, StartTimer)] == [1.0]  # true as 1 s, as before


def test_durations_at_the_limit_run():
    conductor, commands = start({"delay": "{{ parameters.v }}", "timeout": "{{ parameters.v }}"},
                                v=MAX_DURATION_SECONDS)
    timer = next(c for c in commands if isinstance(c, StartTimer))
    assert timer.seconds == MAX_DURATION_SECONDS
    dispatch = next(c for c in conductor.handle(TimerFired(timer.key)) if isinstance(c, Dispatch))
    assert dispatch.timeout_seconds == MAX_DURATION_SECONDS
    timedelta(seconds=dispatch.timeout_seconds + 60 + 900)  # the engine's backstop: no overflow


# ---- retry delays --------------------------------------------------------------------------------

@pytest.mark.parametrize("max_delay", [None, 30, 10**12])
@pytest.mark.parametrize("attempt", [1025, 5000, 10**6, 10**400])
def test_exponential_retry_delays_are_capped_whatever_the_attempt(max_delay, attempt):
    policy = RetryPolicy(count=10**401, delay=1, backoff="exponential", max_delay=max_delay)
    cap = min(max_delay or MAX_DURATION_SECONDS, MAX_DURATION_SECONDS)
    assert policy.delay_before(attempt) == cap


def test_retry_delays_under_the_caps_are_as_before():
    tiny = RetryPolicy(count=5000, delay=5e-324, backoff="exponential")
    assert tiny.delay_before(1050) == math.ldexp(5e-324, 1049) > 0
    assert tiny.delay_before(3000) == MAX_DURATION_SECONDS
    linear = RetryPolicy(count=10**401, delay=1.5, backoff="linear")
    assert [linear.delay_before(n) for n in (1, 2, 3)] == [1.5, 3.0, 4.5]
    assert linear.delay_before(10**400) == MAX_DURATION_SECONDS
    exponential = RetryPolicy(count=9, delay=0.1, backoff="exponential", max_delay=3)
    assert [exponential.delay_before(n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3]


# ---- inquiries through the API -------------------------------------------------------------------

@pytest.mark.parametrize("value", [1e12, 1e300, float("inf")])
def test_an_inquirys_timeout_over_the_limit_is_refused_naming_the_limit(value):
    with pytest.raises(ValidationError) as refused:
        InquiryCreate.model_validate({"prompt": "ok?", "timeout_seconds": value})
    assert refused.value.errors()[0]["loc"] == ("timeout_seconds",)
    assert LIMIT in refused.value.errors()[0]["msg"]
    assert InquiryCreate.model_validate({"prompt": "ok?", "timeout_seconds": MAX_DURATION_SECONDS})
