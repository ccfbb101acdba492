"""The workflow language as typed models (spec §2).

These are the *normalized* shapes: the pack loader turns YAML (including the legacy
`on_success`/`decision`/task-level `publish` forms) into these models, so everything downstream
(graph, conductor, engine) sees exactly one form. Pure: no Temporal, FastAPI or SQLAlchemy.
"""

from __future__ import annotations

import unicodedata
from fractions import Fraction
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESERVED_TASK_NAMES = frozenset(
    {"parameters", "vars", "workflow", "task", "tasks", "system", "item", "index"}
)
# A task name is part of every id and key of its attempts (workflows/keys.py): the Temporal
# activity id `<task>.<iteration>[<item>]#<attempt>`, a nested run's workflow id
# `<top-level id>/<digest>/<attempt key>` (ids do not grow with depth) and the record key
# `<workflow id>/<attempt key>`, which holds two attempt keys in a nested run. Temporal refuses
# ids over 1,000 bytes (the run hung); record keys and workflow ids fill columns of 512
# characters (PostgreSQL refuses longer). With a top-level id of at most 218 characters (an
# action ref of 200, an execution id, 6 hex) and numbers of up to 12 digits, 80 characters keep
# the longest record key under 500 characters and the longest Temporal id under 620 bytes even
# when every character takes 4 bytes (tests/unit/test_name_limits.py does the sums).
MAX_TASK_NAME_LENGTH = 80


def task_name_problem(name: str) -> str | None:
    """Why `name` cannot be a task's (or a parallel sub-task's) name, else None. A load-time
    rule (workflows/validate.py), not the model's: a run already in flight keeps its names.

    `/` separates a workflow id from an attempt key (keys are split on the last one, so an
    inquiry never reached `approve/deploy`); an attempt key's pattern stops at a line break;
    NUL cannot be stored and a lone surrogate cannot be sent. `.`, `#`, `[`, `]` and `:` are
    fine: keys are parsed from the end."""
    if "/" in name:
        return (f"task name '{_shown(name)}' may not contain '/' (it separates a workflow id from "
                "a task's attempt in execution keys)")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        return (f"task name {_shown(name)!r} may not contain a line break or other control "
                f"character (U+{ord(bad):04X})")
    if len(name) > MAX_TASK_NAME_LENGTH:
        return (f"task name '{_shown(name)}' is {len(name):,} characters long, over the limit of "
                f"{MAX_TASK_NAME_LENGTH} (it is part of the run's ids and keys)")
    return None


def _shown(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "…"


DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_TIMEOUT_SECONDS = 600
# The longest duration a user may give anywhere: a task's `delay` and `timeout`, a retry's
# `delay` and `max_delay`, an action's `timeout_seconds`, an inquiry's `timeout_seconds`
# (core.ask's and POST /inquiries'). 10 years: far inside what Temporal keeps as a timer or a
# timeout (it caps them at 100 years), Python's datetime (year 9999) and SQL timestamps hold;
# a larger value failed a run with OverflowError ("internal error") or hung it.
MAX_DURATION_SECONDS = 315_360_000
MAX_DURATION_TEXT = f"{MAX_DURATION_SECONDS:,} s (10 years)"


def over_duration_limit(seconds: float, what: str) -> str | None:
    """"<what>: N s is over the limit of 315,360,000 s (10 years)" when `seconds` is, else None.
    `what` names the field (and its task), as in "task 'a' delay"."""
    if seconds <= MAX_DURATION_SECONDS:
        return None
    if seconds != seconds:  # NaN: no comparison holds, so no other check catches it
        return f"{what}: expected a number of seconds, got nan"
    whole = isinstance(seconds, int) or (seconds < 1e18 and float(seconds).is_integer())
    shown = f"{int(seconds):,}" if whole else f"{seconds:g}"
    return f"{what}: {shown} s is over the limit of {MAX_DURATION_TEXT}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


OutcomeName = Literal["succeeded", "failed", "timed_out", "cancelled"]


class Transition(_Model):
    """One entry of a task's `next` list. `when=None` means "always"."""

    when: str | None = None
    # Ordered (name, value-template) pairs: later items see earlier ones.
    publish: list[tuple[str, Any]] = Field(default_factory=list)
    do: list[str] = Field(default_factory=list)
    # Legacy `on_success: [{when, do}]`: the transition also needs the task to have ended so.
    on_status: OutcomeName | None = None
    # A decision's `default` branch: fires exactly when none of these earlier transitions of
    # the same task (indexes into `next`) fired, whatever their conditions rendered to.
    otherwise: list[int] = Field(default_factory=list)


class RetryPolicy(_Model):
    count: int = Field(ge=0)
    delay: float = Field(default=0, ge=0)
    backoff: Literal["constant", "linear", "exponential"] = "constant"
    max_delay: float | None = Field(default=None, ge=0)
    on_error: str | None = None

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1-based), capped by max_delay
        and by MAX_DURATION_SECONDS whatever the count: computed exactly (2**(n-1) as a float
        overflowed after 1,024 attempts), so every value under the caps is the float product
        it always was."""
        cap = MAX_DURATION_SECONDS if self.max_delay is None else min(self.max_delay, MAX_DURATION_SECONDS)
        if self.backoff == "constant":
            factor = 1
        elif self.backoff == "linear":
            factor = retry_number
        else:
            # 2**1200 times the smallest positive float is over any cap: a larger exponent
            # changes nothing but the size of the number.
            factor = 2 ** min(retry_number - 1, 1200)
        return float(min(Fraction(self.delay) * factor, Fraction(cap)))


class WaitFor(_Model):
    """`wait_for: {inquiry: "{{ task.x.inquiry_id }}"}` (spec §9). Loaded and validated here;
    the run-control work gives it its behaviour."""

    inquiry: str


class TaskSpec(_Model):
    name: str
    action: str | None = None  # None only for a `type: parallel` task (see `parallel`)
    input: dict[str, Any] = Field(default_factory=dict)
    next: list[Transition] = Field(default_factory=list)
    join: int | Literal["all"] | None = None
    with_items: str | None = None
    batch_size: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=1, ge=1)
    retry: RetryPolicy | None = None
    timeout: int | float | str | None = None
    delay: int | str | None = None
    # Legacy `type: parallel`: these sub-tasks (name, action, input, retry, timeout) run at
    # once; the task ends when all have, failed if any failed, its result {sub-task: result}.
    parallel: list[TaskSpec] | None = None
    # Execution-token permission sets (spec §9): None = the action's default; [] = none; a
    # string holds a template rendering to a ref or a list of refs.
    permission_set_refs: list[str] | str | None = None
    wait_for: WaitFor | None = None
    # Labels a worker must carry to run this task (a literal map or a template); routing to
    # labelled runtime pools is later work.
    worker_selector: dict[str, str] | str | None = None


class WorkflowDefinition(_Model):
    version: str
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    tasks: list[TaskSpec] = Field(min_length=1)
    output_map: dict[str, Any] = Field(default_factory=dict)
    cancellation_policy: Literal["allow_finish", "cancel_running"] = "allow_finish"
    max_iterations: int = Field(default=DEFAULT_MAX_ITERATIONS, ge=1)
    tags: list[str] = Field(default_factory=list)

    def task(self, name: str) -> TaskSpec:
        return self._by_name[name]

    def action_refs(self) -> list[tuple[str, str]]:
        """(task name, action ref) of every action the workflow runs, parallel sub-tasks included."""
        found = []
        for task in self.tasks:
            for unit in task.parallel or [task]:
                if unit.action is not None:
                    found.append((task.name if unit is task else f"{task.name}.{unit.name}", unit.action))
        return found

    @cached_property
    def _by_name(self) -> dict[str, TaskSpec]:
        # Looked up several times per step: a scan made long chains quadratic.
        return {spec.name: spec for spec in self.tasks}
