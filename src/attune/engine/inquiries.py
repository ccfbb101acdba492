"""What a run knows of the inquiries it waits for (spec §9), fed by the `inquiry` signal.

The API (the records' owner) tells a waiting run each inquiry's state; a run learns of it only
because it advertised the wait in its records (`RunRecord.waits_for_inquiry`, or `asks` for a
core.ask task). The run itself decides a timeout: a durable timer at the inquiry's `timeout_at`
(the API refuses answers after that moment). Nothing here holds a worker slot or a process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from attune.engine.payloads import InquiryState

RESOLVED = ("responded", "timeout", "cancelled", "missing")


@dataclass
class Desk:
    by_id: dict[int, InquiryState] = field(default_factory=dict)
    by_key: dict[str, InquiryState] = field(default_factory=dict)  # core.ask: by asking attempt

    def learn(self, state: InquiryState) -> InquiryState:
        """Keep the newest state; a resolved inquiry never goes back to pending."""
        known = self.by_id.get(state.id)
        if known is not None and known.status in RESOLVED:
            return known
        self.by_id[state.id] = state
        if state.key is not None:
            self.by_key[state.key] = state
        return state

    def timed_out(self, inquiry: int, at: datetime) -> InquiryState:
        state = InquiryState(id=inquiry, status="timeout", timeout_at=at)
        known = self.by_id.get(inquiry)
        if known is not None:
            state = state.model_copy(update={"key": known.key})
        return self.learn(state)


def resolved(state: InquiryState | None) -> bool:
    return state is not None and state.status in RESOLVED
