"""Terminal output shared by the CLI commands: tables, json and yaml.

Everything printed here may carry what an action wrote or a user typed, so no text is ever read
as Rich markup or emoji codes (`[bold]` would vanish, `:a:` become an emoji, a stray `[/x]` crash
the command); styles are applied explicitly, with `Text`. Nor does such text reach the terminal
as control characters (an ESC sequence could retitle the window, clear the screen or colour what
follows) or bidirectional-text controls (U+202E reverses what follows): each is shown as a mark,
`<U+001B>`, `<U+202E>`, as the web UI shows them, on a terminal and piped alike. json and yaml
carry the same data, with those characters in their own escapes (`\u001b`, `\u202e`).

Used from scripts, the output may go where it cannot all go: a stream that cannot encode every
character (PYTHONIOENCODING=ascii, a Latin-1 locale) gets json/yaml in ASCII escapes and the rest
with `\xe9`-style escapes for what it cannot show; a pipe closed early (`| head -1`) ends the
command quietly with 141, as a shell reports a command ended by SIGPIPE; a full disk or another
write error is one line on stderr and exit 2 (never 1, which says a run failed). Tables piped
or redirected are not cut to a terminal's width, so grep finds whole values."""

from __future__ import annotations

import codecs
import errno
import io
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import yaml
from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text

from attune.statuses import TERMINAL

STATUS_STYLE = {"completed": "green", "failed": "red", "timeout": "red", "cancelled": "yellow",
                "running": "cyan", "scheduled": "cyan", "requested": "dim", "abandoned": "red",
                "delayed": "blue", "retrying": "blue"}  # a timer runs, no process (attune.cli.api_client)


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


def as_json(value: Any, indent: int | None = None, *, ascii_only: bool = False) -> str:
    """JSON as people read it: text as written (`données ✓`), not \\u escapes, but for the
    characters a terminal would act on (`\\u001b`, `\\u202e`): the same data either way.
    `ascii_only`: every character past ASCII as \\uXXXX, for a stream that cannot encode it."""
    text = json.dumps(value, indent=indent, default=str, ensure_ascii=ascii_only)
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
        allow_unicode, self.allow_unicode = self.allow_unicode, False  # in this string only
        try:
            super().write_double_quoted(text, split)
        finally:
            self.allow_unicode = allow_unicode


def as_yaml(value: Any, *, ascii_only: bool = False) -> str:
    """`ascii_only`: every character past ASCII escaped (`\\xE9`), for a stream that cannot encode it."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=not ascii_only)


# ---- where the output goes ---------------------------------------------------------------------

EXIT_PIPE = 128 + 13  # 141: what a shell reports for a command ended by SIGPIPE
EXIT_INTERRUPTED = 128 + 2  # 130: Ctrl-C (SIGINT), as a shell reports it
EXIT_NOT_WRITTEN = 2  # the output could not be written: not 1, which says the run failed


def output_lost(stream: Any, exc: OSError) -> NoReturn:
    """`stream` failed a write: a reader that went away (`| head -1`) ends the command quietly
    with 141; any other failure (a full disk) is said in one line, exit 2. What the command
    writes as it unwinds, and at exit, goes to /dev/null: the error is said once."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    if exc.errno == errno.EPIPE:
        raise SystemExit(EXIT_PIPE) from None
    name = "standard output" if stream is sys.stdout or stream is sys.__stdout__ else "the output"
    try:
        sys.stderr.write(f"error: cannot write to {name}: {exc.strerror or exc}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    raise SystemExit(EXIT_NOT_WRITTEN) from None


class Stdout(io.TextIOWrapper):
    """The CLI's standard output (see install_stdout): a failed write ends the command as
    output_lost says, wherever it happened (Rich, json, click's help), not as a traceback or
    exit 1; what the encoding cannot show is escaped, `\\xe9`, not a UnicodeEncodeError."""

    def write(self, text: str) -> int:
        try:
            return super().write(text)
        except OSError as exc:
            output_lost(self, exc)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as exc:
            output_lost(self, exc)


_REPLACED: list[Any] = []  # the streams replaced: collected, they would close the buffer we share


def install_stdout() -> None:
    """sys.stdout as a Stdout over the same file, line-buffered: lines to stdout and to stderr
    keep their order when both go to one pipe (2>&1, CI logs); a block-buffered stdout came out
    after the stderr summary. A stream that is not the interpreter's own (a test's) is left."""
    stream = sys.stdout
    if type(stream) is not io.TextIOWrapper:
        return
    stream.flush()
    _REPLACED.append(stream)
    sys.stdout = Stdout(stream.buffer, encoding=stream.encoding, errors="backslashreplace",
                        line_buffering=True)


def _encodes(stream: Any, text: str) -> bool:
    """Whether `stream` can write `text` as it is (its encoding has every character)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        if codecs.lookup(encoding).name == "utf-8":
            return True
        text.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def write(console: Console, text: str) -> None:
    """`text` as it is (no wrapping, no styling) to the console's stream."""
    try:
        console.file.write(text)
        console.file.flush()
    except OSError as exc:  # a stream not installed as Stdout (a test's, or stderr)
        output_lost(console.file, exc)


MIN_COLUMNS = 20  # COLUMNS below this (0, 5) drew nothing, or empty tables: not a width to use
PIPED_WIDTH = 100_000  # a table piped or redirected is not cut to fit a terminal: grep finds it


def usable_columns(environ: Mapping[str, str] = os.environ) -> int | None:
    """COLUMNS when it is a width to draw in; None when unset or unusable (`0`, `5`, `wide`)."""
    text = environ.get("COLUMNS", "")
    return int(text) if re.fullmatch(r"[0-9]{1,6}", text) and int(text) >= MIN_COLUMNS else None


class _WithoutColumns(Mapping[str, str]):
    """The environment as Rich reads it, less COLUMNS: _Console.size applies that itself."""

    def __getitem__(self, key: str) -> str:
        if key == "COLUMNS":
            raise KeyError(key)
        return os.environ[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in os.environ if key != "COLUMNS")

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Console(Console):
    """A console that prints text (`str`, `Text`) visible (see `visible`): the last guard for
    messages that carry an action's or a user's words. A table's cells are made visible where
    they are built (`cell`), since they are not printed as text."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        super().print(*(_visible_renderable(o) for o in objects), **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        """A terminal's width (or a usable COLUMNS there); piped or redirected, wide enough
        that no table cell is cut; a width given to the console as given."""
        size = super().size
        if self._width is not None:
            return size
        if not self.is_terminal:
            return ConsoleDimensions(PIPED_WIDTH, size.height)
        columns = usable_columns()
        return size if columns is None else ConsoleDimensions(columns, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    def on_broken_pipe(self) -> None:  # Rich's own exits 1, which says a run failed
        output_lost(self.file, BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)))


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
    return _Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True,
                    _environ=_WithoutColumns())


def dump(console: Console, data: Any, output: str) -> bool:
    """json/yaml output, written as is (for jq and friends: no wrapping, no styling); returns
    False when the caller should draw a table instead."""
    if output == "json":
        text = as_json(data, indent=2) + "\n"
        if not _encodes(console.file, text):
            text = as_json(data, indent=2, ascii_only=True) + "\n"
    elif output == "yaml":
        text = as_yaml(data)
        if not _encodes(console.file, text):
            text = as_yaml(data, ascii_only=True)
    else:
        return False
    write(console, text)
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
    for line in cut_notes(execution.get("result")):
        console.print(Text(line, style="yellow"), soft_wrap=True)


def cut_notes(result: Any) -> list[str]:
    """What a result's `stdout_truncated`/`stderr_truncated` mean, said: how much was kept of
    how much the action wrote (`stdout_bytes`; unknown in results recorded before it was)."""
    if not isinstance(result, dict):
        return []
    notes = []
    for stream, lost in (("stdout", "the rest"), ("stderr", "what came before")):
        text = result.get(stream)
        if not result.get(f"{stream}_truncated") or not isinstance(text, str):
            continue
        kept = size_text(len(text.encode()))
        total = result.get(f"{stream}_bytes")
        of = f" of {size_text(total)}" if isinstance(total, int) else ""
        where = "cut at" if stream == "stdout" else "keeps the last"
        notes.append(f"{stream} {where} {kept}{of}; {lost} was not kept")
    return notes


def size_text(n: int) -> str:
    """Bytes as people read them: 512 B, 256 KiB, 4.9 MiB (the caps are in KiB)."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


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
