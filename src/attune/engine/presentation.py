"""How runs read in the Temporal Web UI: the task table of "current details"."""

from __future__ import annotations

import re

from attune.statuses import TASK_ACTIVE
from attune.workflows.conductor import Conductor

TABLE_ROWS = 25
_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: object) -> str:
    """`text` as literal Markdown: a task name is the user's (any characters but a `|` would
    split its table row, `*x*` turn italic, `<b>` vanish), so every sign Markdown reads is
    escaped and line breaks become spaces."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).splitlines()))


def task_table(conductor: Conductor) -> str:
    """Markdown for the Web UI's "current details": running tasks first, then the latest ended.

    Rebuilt after every event, so it is bounded: a 1,000-task chain must not pay 1,000 rows a step.
    """
    latest = [runs[-1] for runs in conductor.runs.values() if runs]
    active = [r for r in conductor.active_runs()]
    shown = active + sorted((r for r in latest if r.status not in TASK_ACTIVE),
                            key=lambda r: -r.seq)[: max(0, TABLE_ROWS - len(active))]
    lines = [f"{len(active)} running · {len(latest) - len(active)} ended · "
             f"{len(conductor.runs) - len(latest)} not started",
             "", "| task | action | state | run | items |", "|---|---|---|---|---|"]
    for run in shown[:TABLE_ROWS]:
        items = f"{run.ended}/{len(run.units)}" if run.is_items else ""
        action = conductor.definition.task(run.task).action
        lines.append(f"| {md(run.task)} | {md(action)} | {run.status} | {run.iteration} | {items} |")
    return "\n".join(lines)
