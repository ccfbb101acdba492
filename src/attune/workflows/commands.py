"""What the conductor asks its host to do (the other direction is workflows.events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attune.statuses import ExecutionStatus, TaskStatus
from attune.workflows.keys import AttemptKey


@dataclass(frozen=True)
class Dispatch:
    """Run one attempt of one unit of a task."""

    key: AttemptKey
    action_ref: str
    input: dict[str, Any]
    timeout_seconds: float | None  # None: the action's own timeout_seconds; fractions allowed
    triggered_by: str | None
    # A slice of a large with_items: run these rendered inputs (items key.span) as a child
    # workflow; its outcome's result is the list of their results.
    slice_inputs: list[dict[str, Any]] | None = None
    # The task's permission sets for an execution token (spec §9), rendered; None when the task
    # names none (the action's default applies).
    permission_set_refs: list[str] | None = None

    @property
    def task(self) -> str:
        return self.key.task


@dataclass(frozen=True)
class StartTimer:
    key: str
    seconds: float


@dataclass(frozen=True)
class CancelAttempt:
    key: AttemptKey
    # The workflow is cancelled with `allow_finish`: an action's process finishes, but a nested
    # workflow or slice is told to cancel too, so that it starts nothing new (it applies the
    # same policy to its own running tasks).
    let_finish: bool = False


@dataclass(frozen=True)
class WaitForInquiry:
    """Tell me when this inquiry resolves (InquiryResolved); the run `key` waits for it."""

    key: AttemptKey
    inquiry: int | str


@dataclass(frozen=True)
class Finish:
    status: ExecutionStatus  # one of statuses.WORKFLOW_ENDS
    result: Any
    error: str | None


Command = Dispatch | StartTimer | CancelAttempt | WaitForInquiry | Finish


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: one of statuses.OUTCOMES, and the task result (spec §6)."""

    status: TaskStatus
    result: Any
    # False when trying again cannot end otherwise (the host refused the attempt: its input is
    # invalid, its action disabled): the task's retry policy does not apply.
    retryable: bool = True
