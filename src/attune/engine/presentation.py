"""How runs read in the Temporal Web UI and in records: task tables, summaries, redaction."""

from __future__ import annotations

from typing import Any

from attune.packs.models import Action
from attune.secrets import redact_sealed
from attune.workflows.conductor import Conductor

REDACTED = "********"


def redact(action: Action, parameters: dict[str, Any]) -> dict[str, Any]:
    """Secret parameter values never reach records, logs or the UI in clear text (spec §7)."""
    secrets = action.secret_names()
    return {k: (REDACTED if k in secrets else redact_sealed(v)) for k, v in parameters.items()}


def task_table(conductor: Conductor) -> str:
    """Markdown table for the Web UI's "current details": one row per task."""
    lines = ["| task | action | state | runs | items |", "|---|---|---|---|---|"]
    for spec in conductor.definition.tasks:
        runs = conductor.runs[spec.name]
        state = runs[-1].status if runs else "pending"
        items = ""
        if runs and runs[-1].is_items:
            units = runs[-1].units
            done = sum(1 for u in units if u.status not in ("running", "delayed"))
            items = f"{done}/{len(units)}"
        lines.append(f"| {spec.name} | {spec.action} | {state} | {len(runs)} | {items} |")
    return "\n".join(lines)
