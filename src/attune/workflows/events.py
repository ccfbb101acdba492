"""What the host reports to the conductor (the other direction is workflows.commands)."""

from __future__ import annotations

from dataclasses import dataclass

from attune.workflows.commands import Outcome
from attune.workflows.keys import AttemptKey


@dataclass(frozen=True)
class AttemptEnded:
    """An attempt the conductor dispatched has ended (activity, child workflow or slice)."""

    key: AttemptKey
    outcome: Outcome


@dataclass(frozen=True)
class TimerFired:
    key: str  # the StartTimer's key


@dataclass(frozen=True)
class CancelRequested:
    """The workflow is being cancelled (its policy decides what happens to running tasks)."""


Event = AttemptEnded | TimerFired | CancelRequested
