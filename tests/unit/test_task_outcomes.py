"""How the orchestrator reads an attempt that ended in an engine error (engine/workflow.py)."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, RetryState, TimeoutError, TimeoutType

from attune.engine.workflow import _outcome_of_error


def timed_out_activity(kind: TimeoutType, retry_state: RetryState) -> ActivityError:
    """An activity error as the SDK raises it when one of the activity's timeouts fired."""
    error = ActivityError(f"activity {kind.name} timeout", scheduled_event_id=5, started_event_id=6,
                          identity="w", activity_type="run_action", activity_id="b.1#0", retry_state=retry_state)
    error.__cause__ = TimeoutError(f"activity {kind.name} timeout", type=kind, last_heartbeat_details=[])
    return error


def test_a_lost_worker_reads_as_such_not_as_temporals_timeout_name():
    """An attempt whose worker died (no heartbeat) ends with an error a person understands."""
    lost = timed_out_activity(TimeoutType.HEARTBEAT, RetryState.TIMEOUT)
    outcome = _outcome_of_error(lost, lambda: True)
    assert outcome.result["error"] == ("the worker running it stopped answering (no heartbeat for "
                                       "10 s): it died or lost the server")
    assert outcome.status == "failed"  # not the action's time limit: its timed_out() does not fire
    assert _outcome_of_error(lost, lambda: False).status == "timed_out"  # runs from before replay so
    last = timed_out_activity(TimeoutType.HEARTBEAT, RetryState.MAXIMUM_ATTEMPTS_REACHED)
    assert _outcome_of_error(last, lambda: True).result["error"].endswith(
        "; not run again, after 5 attempts (at most 5 when workers stop or die)")


def test_an_attempt_whose_worker_never_reported_says_so_and_fails():
    """A pack environment that took longer to build than the task's timeout + 60 s ended the
    task `timeout` with Temporal's bare "activity StartToClose timeout"."""
    late = timed_out_activity(TimeoutType.START_TO_CLOSE, RetryState.MAXIMUM_ATTEMPTS_REACHED)
    outcome = _outcome_of_error(late, lambda: True)
    assert outcome.status == "failed"
    assert outcome.result["error"].startswith("the worker did not report the attempt's end within its time limit")


def test_a_nested_run_that_ran_past_its_tasks_timeout_timed_out():
    """A child workflow's own time limit is the task's `timeout` (spec §2): timed_out() fires.
    (The activities' backstop message took it for a worker that never reported.)"""
    from temporalio.exceptions import ChildWorkflowError

    child = ChildWorkflowError("Child Workflow execution timed out", namespace="default", workflow_id="w/kid",
                               run_id="r", workflow_type="AttuneWorkflow", initiated_event_id=5,
                               started_event_id=6, retry_state=RetryState.TIMEOUT)
    child.__cause__ = TimeoutError("workflow timed out", type=TimeoutType.START_TO_CLOSE, last_heartbeat_details=[])
    outcome = _outcome_of_error(child, lambda: True)
    assert outcome.status == "timed_out" and "did not report" not in outcome.result["error"]
