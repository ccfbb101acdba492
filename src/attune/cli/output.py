"""Terminal output shared by the CLI commands: tables, json and yaml."""

from __future__ import annotations

import json
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

STATUS_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
                "running": "cyan", "scheduled": "cyan", "requested": "dim", "abandoned": "red"}


def dump(console: Console, data: Any, output: str) -> bool:
    """json/yaml output; returns False when the caller should draw a table instead."""
    if output == "json":
        console.print(json.dumps(data, indent=2, default=str), highlight=False, soft_wrap=True)
    elif output == "yaml":
        console.print(yaml.safe_dump(data, sort_keys=False), end="", highlight=False, soft_wrap=True)
    else:
        return False
    return True


def styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def show_result(console: Console, execution: dict[str, Any], output: str) -> None:
    if dump(console, execution, output):
        return
    console.print(f"[bold]{execution.get('action_ref')}[/] {execution.get('id')}: "
                  f"{styled(execution.get('status', '?'))}")
    console.print(json.dumps(execution.get("result"), indent=2, default=str), highlight=False,
                  soft_wrap=True)


def print_table(console: Console, rows: list[dict[str, Any]] | dict[str, Any],
                columns: list[str] | None = None) -> None:
    rows = rows if isinstance(rows, list) else [rows]
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(*columns)
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col)
            text = "" if value is None else value if isinstance(value, str) else json.dumps(value, default=str)
            cells.append(styled(text) if col == "status" else text)
        table.add_row(*cells)
    console.print(table)
