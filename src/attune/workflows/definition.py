"""The workflow language as typed models (spec §2).

These are the *normalized* shapes: the pack loader turns YAML (including the legacy
`on_success`/`decision`/task-level `publish` forms) into these models, so everything downstream
(graph, conductor, engine) sees exactly one form. Pure: no Temporal, FastAPI or SQLAlchemy.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESERVED_TASK_NAMES = frozenset(
    {"parameters", "vars", "workflow", "task", "tasks", "system", "item", "index"}
)
DEFAULT_MAX_ITERATIONS = 1000
DEFAULT_TIMEOUT_SECONDS = 600


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transition(_Model):
    """One entry of a task's `next` list. `when=None` means "always"."""

    when: str | None = None
    # Ordered (name, value-template) pairs: later items see earlier ones.
    publish: list[tuple[str, Any]] = Field(default_factory=list)
    do: list[str] = Field(default_factory=list)


class RetryPolicy(_Model):
    count: int = Field(ge=0)
    delay: float = Field(default=0, ge=0)
    backoff: Literal["constant", "linear", "exponential"] = "constant"
    max_delay: float | None = Field(default=None, ge=0)
    on_error: str | None = None

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry number `retry_number` (1-based)."""
        if self.backoff == "constant":
            delay = self.delay
        elif self.backoff == "linear":
            delay = self.delay * retry_number
        else:
            delay = self.delay * 2 ** (retry_number - 1)
        return min(delay, self.max_delay) if self.max_delay is not None else delay


class TaskSpec(_Model):
    name: str
    action: str
    input: dict[str, Any] = Field(default_factory=dict)
    next: list[Transition] = Field(default_factory=list)
    join: int | Literal["all"] | None = None
    with_items: str | None = None
    batch_size: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=1, ge=1)
    retry: RetryPolicy | None = None
    timeout: int | str | None = None
    delay: int | str | None = None


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

    @cached_property
    def _by_name(self) -> dict[str, TaskSpec]:
        # Looked up several times per step: a scan made long chains quadratic.
        return {spec.name: spec for spec in self.tasks}
