"""Following a re-run from its failed tasks: the kept tasks reach the records a moment after
the 201, with the re-run's first tasks. A stand-in for the API (the real one cannot be made
to answer that moment on demand) answers `kept_tasks: []` first, as the records did."""

from __future__ import annotations

import io
from typing import Any

from attune.cli.api_client import follow
from attune.cli.output import make_console

KEPT = {"id": 11, "action_ref": "ops.pre", "parent": 7, "created": "2026-12-07T10:00:00",
        "workflow_task": {"task_name": "pre"}}
RERUN = {"id": 21, "action_ref": "ops.flaky", "status": "completed", "created": "2026-12-07T10:00:02",
         "workflow_task": {"task_name": "flaky"}}


class RecordsCatchingUp:
    """Reads as the API answered them: nothing yet, then the kept task with the first task."""

    def __init__(self) -> None:
        self.polls = 0

    def read(self, path: str, **_: Any) -> Any:
        if path == "/inquiries":
            return {"items": [], "pagination": {"total_items": 0}}
        assert path == "/executions/20/workflow", path
        return {"data": {"kept_tasks": [KEPT] if self.polls >= 2 else []}}

    def children(self, _execution_id: int) -> list[dict[str, Any]]:
        self.polls += 1
        return [RERUN] if self.polls >= 2 else []

    def execution(self, _execution_id: int, wait: float = 0) -> dict[str, Any]:
        return {"id": 20, "rerun_of": 7, "status": "completed" if self.polls >= 3 else "running"}


def test_a_followed_rerun_names_the_tasks_it_kept_once_the_records_have_them() -> None:
    console = make_console()
    console.file = io.StringIO()
    follow(RecordsCatchingUp(), {"id": 20, "rerun_of": 7, "status": "running"}, console, interval=0)  # type: ignore[arg-type]
    lines = console.file.getvalue().splitlines()
    assert lines.count("task pre (ops.pre): kept from execution 7 (not run again)") == 1, lines
    assert "task flaky (ops.flaky): completed" in lines, lines
