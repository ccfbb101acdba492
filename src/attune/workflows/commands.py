"""What the conductor asks its host to do, and what the host reports back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

OutcomeStatus = Literal["succeeded", "failed", "timed_out", "cancelled"]


@dataclass(frozen=True)
class Dispatch:
    """Run one attempt of one unit of a task."""

    key: str  # "<task>.<iteration>[<item>]#<attempt>", unique within the workflow run
    task: str
    iteration: int
    item_index: int | None
    attempt: int
    action_ref: str
    input: dict[str, Any]
    timeout_seconds: int | float | None  # None: the action's own timeout_seconds; fractions allowed
    triggered_by: str | None
    # A slice of a large with_items: run these rendered inputs (items first_index...) as a
    # child workflow; its outcome's result is the list of their results.
    slice_inputs: list[dict[str, Any]] | None = None
    first_index: int | None = None


@dataclass(frozen=True)
class StartTimer:
    key: str
    seconds: float


@dataclass(frozen=True)
class CancelAttempt:
    key: str


@dataclass(frozen=True)
class Finish:
    status: Literal["completed", "failed", "cancelled"]
    result: Any
    error: str | None


Command = Dispatch | StartTimer | CancelAttempt | Finish


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    result: Any
