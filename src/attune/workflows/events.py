"""What the host reports to the conductor (the other direction is workflows.commands)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class PauseRequested:
    """Dispatch nothing new until resumed (spec §9); running attempts go on."""


@dataclass(frozen=True)
class ResumeRequested:
    pass


@dataclass(frozen=True)
class InquiryResolved:
    """An inquiry a run waits for resolved: responded, timeout, cancelled (or missing)."""

    inquiry: int | str
    status: str
    response: Any = None


Event = (AttemptEnded | TimerFired | CancelRequested | PauseRequested | ResumeRequested
         | InquiryResolved)
