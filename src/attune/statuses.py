"""Every status in the system, the sets they fall into and the maps between layers.

Two vocabularies, as in Orquesta's `statuses.py` + `machines.py`:

- `TaskStatus`: what the pure conductor says about a run of a task (and each of its units).
- `ExecutionStatus`: what records, the API, the CLI and the engine's reports say (spec §8).

Everything else (an attempt's outcome, a workflow's end, the Temporal run status) is one of
these two, and the functions below are the only places that translate between them. Depends on
nothing, so every layer (the Temporal workflow sandbox included) can import it.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """A run of a task, or one unit (item) of it, inside the conductor."""

    PENDING = "pending"  # never activated (task_states only)
    DELAYED = "delayed"  # activated, waiting: for its `delay`, a free slot or a retry timer
    WAITING = "waiting"  # activated, not dispatched until its inquiry resolves (`wait_for`)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


class InquiryStatus(StrEnum):
    """A human approval (spec §9)."""

    PENDING = "pending"
    RESPONDED = "responded"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


INQUIRY_RESOLVED = frozenset({InquiryStatus.RESPONDED, InquiryStatus.TIMEOUT,
                              InquiryStatus.CANCELLED})


class ExecutionStatus(StrEnum):
    """An execution record's status (spec §8): exact strings, shown to users."""

    REQUESTED = "requested"
    SCHEDULING = "scheduling"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELING = "canceling"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    ABANDONED = "abandoned"


# --- task statuses ----------------------------------------------------------------------------

TASK_ACTIVE = frozenset({TaskStatus.DELAYED, TaskStatus.WAITING, TaskStatus.RUNNING})
# How an attempt (and so a unit, a run) can end.
OUTCOMES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.TIMED_OUT,
                      TaskStatus.CANCELLED})
# Endings that a retry policy retries and that count as a task failure (spec §3, §5).
TASK_FAILURES = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT})


def aggregate(statuses: list[TaskStatus]) -> TaskStatus:
    """A with_items run from its units (spec §4): failed if any failed, else timed_out if any
    did, else cancelled if any was, else succeeded."""
    for status in (TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED):
        if status in statuses:
            return status
    return TaskStatus.SUCCEEDED


# --- execution statuses -------------------------------------------------------------------------

TERMINAL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED,
                      ExecutionStatus.CANCELLED, ExecutionStatus.TIMEOUT,
                      ExecutionStatus.ABANDONED})
# Ends a workflow run can report by itself (abandoned is only ever set by the records).
WORKFLOW_ENDS = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED,
                           ExecutionStatus.CANCELLED, ExecutionStatus.TIMEOUT})
# Statuses that mean "the engine has it and it is not over".
IN_FLIGHT = frozenset({ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING,
                       ExecutionStatus.PAUSING, ExecutionStatus.PAUSED,
                       ExecutionStatus.CANCELING})

_OUTCOME_TO_EXECUTION = {
    TaskStatus.SUCCEEDED: ExecutionStatus.COMPLETED,
    TaskStatus.FAILED: ExecutionStatus.FAILED,
    TaskStatus.TIMED_OUT: ExecutionStatus.TIMEOUT,
    TaskStatus.CANCELLED: ExecutionStatus.CANCELLED,
}


def execution_status_of(outcome: TaskStatus | str) -> ExecutionStatus:
    """The record status of an ended attempt or run (succeeded -> completed, ...)."""
    return _OUTCOME_TO_EXECUTION[TaskStatus(outcome)]


def exit_code(status: ExecutionStatus | str) -> int:
    """The CLI's exit code for an execution that ended with `status` (interfaces.md)."""
    return 0 if status == ExecutionStatus.COMPLETED else 1


# --- how a record's status may move (the mirror applies reports in any order) -------------------

# Before the run is in flight, statuses only go forward. Pausing and resuming move between
# running, pausing and paused in both directions; canceling is only left for an end.
_RANK = {ExecutionStatus.REQUESTED: 0, ExecutionStatus.SCHEDULING: 1,
         ExecutionStatus.SCHEDULED: 2, ExecutionStatus.RUNNING: 3, ExecutionStatus.PAUSING: 3,
         ExecutionStatus.PAUSED: 3, ExecutionStatus.CANCELING: 4}


def advance(old: ExecutionStatus | str, new: ExecutionStatus | str) -> ExecutionStatus:
    """The status after observing `new` on a record that says `old`: never out of a terminal
    state, never back to an earlier stage (a stale report must not undo a later one)."""
    old, new = ExecutionStatus(old), ExecutionStatus(new)
    if old in TERMINAL:
        return old
    if new in TERMINAL:
        return new
    return new if _RANK[new] >= _RANK[old] else old
