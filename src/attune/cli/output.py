"""Terminal output shared by the CLI commands: tables, json and yaml.

Everything printed here may carry what an action wrote or a user typed, so no text is ever read
as Rich markup or emoji codes (`[bold]` would vanish, `:a:` become an emoji, a stray `[/x]` crash
the command); styles are applied explicitly, with `Text`. Nor does such text reach the terminal
as control characters (an ESC sequence could retitle the window, clear the screen or colour what
follows) or bidirectional-text controls (U+202E reverses what follows): each is shown as a mark,
`<U+001B>`, `<U+202E>`, as the web UI shows them, on a terminal and piped alike. json and yaml
carry the same data, with those characters in their own escapes (`\u001b`, `\u202e`)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from attune.statuses import TERMINAL

STATUS_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
                "running": "cyan", "scheduled": "cyan", "requested": "dim", "abandoned": "red"}


# Control characters but tab and newline (C0, DEL, C1; a carriage return too, which would
# overwrite the line on a terminal), and the bidirectional-text controls and marks (ALM, LRM,
# RLM, embeddings, overrides, isolates): what the web UI shows as marks.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_HIDDEN = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
# What json.dumps leaves as it is of those (it escapes C0 itself), and the line separators that
# some tools take for line ends: in JSON they can only stand inside a string, where \uXXXX is
# the same text.
_JSON_HIDDEN = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}]")


def visible(text: str) -> str:
    """Text from an action or a user as it is safe to print: each control character and each
    bidirectional-text control as a mark, `<U+001B>`, `<U+202E>`; tabs and newlines stay."""
    return _HIDDEN.sub(_mark, text) if _HIDDEN.search(text) else text


def _mark(match: re.Match[str]) -> str:
    return f"<U+{ord(match.group()):04X}>"


def as_json(value: Any, indent: int | None = None) -> str:
    """JSON as people read it: text as written (`données ✓`), not \\u escapes, but for the
    characters a terminal would act on (`\\u001b`, `\\u202e`): the same data either way."""
    text = json.dumps(value, indent=indent, default=str, ensure_ascii=False)
    return _JSON_HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _Dumper(yaml.SafeDumper):
    """YAML that writes a string holding a bidirectional-text control (which YAML counts as
    printable) double-quoted, with its non-ASCII characters escaped (`\\u202E`). PyYAML already
    escapes the control characters."""

    def analyze_scalar(self, scalar: str) -> Any:
        analysis = super().analyze_scalar(scalar)
        if _JSON_HIDDEN.search(scalar):
            analysis.allow_flow_plain = analysis.allow_block_plain = False
            analysis.allow_single_quoted = analysis.allow_block = False
        return analysis

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        if not _JSON_HIDDEN.search(text):
            super().write_double_quoted(text, split)
            return
        self.allow_unicode = False  # escapes every character past ASCII in this string only
        try:
            super().write_double_quoted(text, split)
        finally:
            self.allow_unicode = True


def as_yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


class _Console(Console):
    """A console that prints text (`str`, `Text`) visible (see `visible`): the last guard for
    messages that carry an action's or a user's words. A table's cells are made visible where
    they are built (`cell`), since they are not printed as text."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(_visible_renderable(o) for o in objects), **kwargs)


def _visible_renderable(thing: Any) -> Any:
    if isinstance(thing, str):
        return visible(thing)
    if isinstance(thing, Text) and _HIDDEN.search(thing.plain):
        shown = thing.blank_copy()
        cuts = sorted({c for span in thing.spans for c in (span.start, span.end)} | {len(thing.plain)})
        for piece in thing.divide(cuts):  # each piece is under the same styles throughout
            part = Text(visible(piece.plain), style=piece.style)
            for span in piece.spans:
                part.stylize(span.style)
            shown.append_text(part)
        return shown
    return thing


def cell(text: str, style: str = "") -> Text:
    """A table cell (or a line of a live display) holding an action's or a user's text."""
    return Text(visible(text), style=style)


def make_console(*, stderr: bool = False) -> Console:
    """Lines are never wrapped by us (soft wrap): a message piped to a file or grep keeps its
    `file:line:column: message` on one line; a terminal wraps what is too long itself."""
    return _Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True)


def dump(console: Console, data: Any, output: str) -> bool:
    """json/yaml output, written as is (for jq and friends: no wrapping, no styling); returns
    False when the caller should draw a table instead."""
    if output == "json":
        text = as_json(data, indent=2) + "\n"
    elif output == "yaml":
        text = as_yaml(data)
    else:
        return False
    console.file.write(text)
    console.file.flush()
    return True


def styled(status: str) -> Text:
    return cell(status, STATUS_STYLE.get(status, "white"))


def show_result(console: Console, execution: dict[str, Any], output: str) -> None:
    if dump(console, execution, output):
        return
    console.print(Text.assemble((visible(str(execution.get("action_ref"))), "bold"), f" {execution.get('id')}: ",
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
            vertical.add_row(cell(col, "bold"), _cell(col, rows.get(col)))
        console.print(vertical)
        return
    columns = columns or (list(rows[0]) if rows else [])
    table = Table(*(visible(c) for c in columns))
    for row in rows:
        table.add_row(*(_cell(col, row.get(col)) for col in columns))
    console.print(table)


def _cell(column: str, value: Any) -> Text:
    text = "" if value is None else value if isinstance(value, str) else as_json(value)
    return styled(text) if column == "status" else cell(text)
