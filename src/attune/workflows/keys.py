"""Names of task attempts and their timers, formatted and parsed in one place.

An attempt key names one try of one unit of one run of a task, unique within a workflow run:
`<task>.<iteration>#<attempt>`, with `[<item>]` for a with_items item or `[<start>:<end>]` for a
slice of a large with_items before the `#`. It is the Temporal activity id and the tail of the
record key `<workflow id>/<attempt key>` (and of a nested workflow's id), so its text must never
change for runs already in flight. The task name may hold `.`, `#`, `[`, `]` and `:` (a key is
parsed from its end), never `/` or a line break, and is at most MAX_TASK_NAME_LENGTH characters
(workflows/definition.py: the longest ids stay within Temporal's and the records' limits).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

_KEY = re.compile(r"^(?P<task>.+)\.(?P<iteration>\d+)"
                  r"(?:\[(?P<start>\d+)(?::(?P<end>\d+))?\])?#(?P<attempt>\d+)\Z")


@dataclass(frozen=True)
class AttemptKey:
    task: str
    iteration: int
    attempt: int = 0
    index: int | None = None  # with_items item (or batch) index
    span: tuple[int, int] | None = None  # a slice of a large with_items: items [start, end)

    def __str__(self) -> str:
        return f"{self.run}{self.items}#{self.attempt}"

    @property
    def run(self) -> str:
        """`<task>.<iteration>`: the run this attempt belongs to."""
        return f"{self.task}.{self.iteration}"

    @property
    def items(self) -> str:
        """`[i]`, `[start:end]` or "" (a plain task)."""
        if self.span is not None:
            return f"[{self.span[0]}:{self.span[1]}]"
        return f"[{self.index}]" if self.index is not None else ""

    def first(self) -> AttemptKey:
        """The same unit's first attempt (a retry's `original_execution`)."""
        return replace(self, attempt=0)

    @classmethod
    def parse(cls, text: str) -> AttemptKey:
        match = _KEY.match(text)
        if match is None:
            raise ValueError(f"not an attempt key: {text!r}")
        start, end = match["start"], match["end"]
        return cls(task=match["task"], iteration=int(match["iteration"]),
                   attempt=int(match["attempt"]),
                   index=int(start) if start is not None and end is None else None,
                   span=(int(start), int(end)) if end is not None else None)


def record_key(workflow_id: str, key: AttemptKey | str) -> str:
    """The key of an attempt's record (and the id of its child workflow, if it has one)."""
    return f"{workflow_id}/{key}"


def child_workflow_id(parent_id: str, root_id: str | None, key: AttemptKey) -> str:
    """The id of the child workflow that runs attempt `key` (a nested workflow or a slice).

    A child of the top-level run reads `<parent id>/<key>` in the Web UI. Deeper down the id is
    `<top-level id>/<digest of the parent id>/<key>`, so ids do not grow with depth (Temporal
    refuses ids over 1,000 characters) and stay unique per parent."""
    if root_id is None or root_id == parent_id:
        return record_key(parent_id, key)
    digest = hashlib.sha256(parent_id.encode()).hexdigest()[:10]
    return f"{root_id}/{digest}/{key}"


def attempt_of(record: str) -> str:
    """The attempt-key part of a record key (workflow ids contain '/', attempt keys do not: a
    task name may not, definition.task_name_problem)."""
    return record.rsplit("/", 1)[-1]


def retry_timer(key: AttemptKey) -> str:
    """The timer that waits out a retry delay before `key` (the next attempt) is dispatched."""
    return f"retry:{key}"


def delay_timer(run: str) -> str:
    """The timer of a task's `delay` before its run starts."""
    return f"delay:{run}"
