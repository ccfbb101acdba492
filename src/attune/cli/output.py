"""Terminal output shared by the CLI commands: tables, json and yaml.

Everything printed here may carry what an action wrote or a user typed, so no text is ever read
as Rich markup or emoji codes (`[bold]` would vanish, `:a:` become an emoji, a stray `[/x]` crash
the command); styles are applied explicitly, with `Text`. json and yaml go out byte for byte."""

from __future__ import annotations

import json
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from attune.statuses import TERMINAL

STATUS_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
                "running": "cyan", "scheduled": "cyan", "requested": "dim", "abandoned": "red"}


def as_json(value: Any, indent: int | None = None) -> str:
    """JSON as people read it: text as written (`données ✓`), not \\u escapes."""
    return json.dumps(value, indent=indent, default=str, ensure_ascii=False)


def make_console(*, stderr: bool = False) -> Console:
    """Lines are never wrapped by us (soft wrap): a message piped to a file or grep keeps its
    `file:line:column: message` on one line; a terminal wraps what is too long itself."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True)


def dump(console: Console, data: Any, output: str) -> bool:
    """json/yaml output, written as is (for jq and friends: no wrapping, no styling); returns
    False when the caller should draw a table instead."""
    if output == "json":
        text = as_json(data, indent=2) + "\n"
    elif output == "yaml":
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        return False
    console.file.write(text)
    console.file.flush()
    return True


def styled(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "white"))


def show_result(console: Console, execution: dict[str, Any], output: str) -> None:
    if dump(console, execution, output):
        return
    console.print(Text.assemble((str(execution.get("action_ref")), "bold"), f" {execution.get('id')}: ",
                                styled(execution.get("status", "?"))))
    if execution.get("result") is None and execution.get("status") not in TERMINAL:
        console.print(Text("no result yet: it has not ended", style="dim"))
        return
    console.print(Text(as_json(execution.get("result"), indent=2)), soft_wrap=True)


def print_table(console: Console, rows: list[dict[str, Any]] | dict[str, Any],
                columns: list[str] | None = None) -> None:
    if isinstance(rows, dict):  # one record: a field per line, so no value is cut to fit
        vertical = Table("field", "value", show_header=False)
        for col in columns or list(rows):
            vertical.add_row(Text(col, style="bold"), _cell(col, rows.get(col)))
        console.print(vertical)
        return
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(col, row.get(col)) for col in columns))
    console.print(table)


def _cell(column: str, value: Any) -> Text:
    text = "" if value is None else value if isinstance(value, str) else as_json(value)
    return styled(text) if column == "status" else Text(text)
