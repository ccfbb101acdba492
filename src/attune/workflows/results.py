"""How a task's result looks to expressions (spec §6)."""

from __future__ import annotations

from typing import Any


def visible_result(result: Any) -> Any:
    """Lift `data` keys to the top level unless they clash: `task.fetch.id` == `task.fetch.data.id`."""
    if isinstance(result, list):
        return [visible_result(r) for r in result]
    if isinstance(result, dict) and isinstance(result.get("data"), dict):
        lifted = {k: v for k, v in result["data"].items() if k not in result}
        return {**result, **lifted}
    return result
