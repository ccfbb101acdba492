"""One slice of a large with_items task, run on its own (spec §4 "must scale").

A with_items run of more than SLICE_SIZE items is split into slices that the host runs as child
workflows, so no single history grows past the orchestration engine's limits. The parent renders
each item's input (it has the context: parameters, variables, task results); a slice only runs
them with the task's own semantics (concurrency, retry, timeout, cancellation), and its item
indexes continue the parent's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from attune.statuses import TASK_ACTIVE, TaskStatus
from attune.workflows.conductor import Conductor, Run, Semantics, Unit
from attune.workflows.definition import TaskSpec, WorkflowDefinition


class SliceConductor(Conductor):
    def __init__(self, task: TaskSpec, inputs: list[dict[str, Any]], first_index: int, *,
                 parameters: dict[str, Any], variables: dict[str, Any],
                 cancellation_policy: Literal["allow_finish", "cancel_running"],
                 semantics: Semantics = Semantics(), clock: Callable[[], datetime] | None = None,
                 uuid: Callable[[], str] | None = None) -> None:
        # The parent's task without what belongs to the parent's graph; `with_items` only marks
        # it as an items task (the items are `inputs`).
        only_items = task.model_copy(update={
            "with_items": "{{ [] }}", "input": {}, "next": [], "join": None, "delay": None,
            "batch_size": None,
        })
        definition = WorkflowDefinition(version="slice", tasks=[only_items],
                                        cancellation_policy=cancellation_policy)
        super().__init__(definition, parameters, semantics=semantics, clock=clock, uuid=uuid)
        self.variables.update(variables)  # retry.on_error sees what it would in the parent
        self.inputs = inputs
        self.first_index = first_index

    def _items(self, spec: TaskSpec) -> list[Any]:
        return self.inputs

    def _item_units(self, items: list[Any]) -> list[Unit]:
        return [Unit(index=self.first_index + i, item=item) for i, item in enumerate(items)]

    def _unit_input(self, spec: TaskSpec, run: Run, unit: Unit) -> dict[str, Any]:
        return unit.item  # rendered by the parent

    def outcome(self) -> tuple[TaskStatus, list[Any]] | None:
        """The slice's aggregate status and its items' results in order; None while it runs or
        when it ended without running (an error of its own, in `finished`)."""
        runs = self.runs[self.definition.tasks[0].name]
        run = runs[0] if runs else None
        if run is None or run.status in TASK_ACTIVE:
            return None
        return run.status, run.result
