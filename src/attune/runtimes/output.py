"""Parameter encoding for the process input and parsing of its stdout (spec §7)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from attune import yaml_core


class OutputParseError(ValueError):
    pass


def encode_parameters(params: dict[str, Any], fmt: str) -> bytes:
    """Parameters in `fmt`, newline-terminated so `read -r line` in bash sees the last line."""
    if fmt == "json":
        # One line: actions may read it with `readline()` / `read -r`.
        return (json.dumps(params, separators=(",", ":")) + "\n").encode()
    if fmt == "yaml":
        return yaml.safe_dump(params, sort_keys=False, allow_unicode=True).encode()
    if fmt == "dotenv":
        flat = _flattened(params, "")
        seen: set[str] = set()
        for key, _ in flat:  # `opts.label` next to object `opts` holding `label`: which one?
            if key in seen:
                raise ParameterFormatError(
                    f"two values would be written as the dotenv line {key!r} (a parameter of that "
                    "name and a member of an object parameter): rename one, or use parameter_format json")
            seen.add(key)
        lines = sorted(f"{key}={_dotenv_value(value)}\n" for key, value in flat)
        return "".join(lines).encode()
    raise ValueError(f"unknown parameter format {fmt!r}")


class ParameterFormatError(ValueError):
    """Parameters that cannot be written in the action's parameter_format; the message says why."""


_DOTENV_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _flattened(params: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    """As the Attune original writes dotenv: an object's members as `name.key` lines, at any
    depth (an empty object gives none), so scripts that read `headers.*=` lines work unchanged;
    arrays stay one line of JSON. A name is written as it is, so one that a reader would take
    for something else (a newline, a quote, '=', a space, `$(...)`) is refused."""
    out: list[tuple[str, Any]] = []
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if not _DOTENV_NAME.fullmatch(str(key)):
            raise ParameterFormatError(
                f"parameter name {name!r} cannot be written as a dotenv line (letters, digits, "
                "'_', '-' and '.' only): use parameter_format json or yaml for such keys")
        if isinstance(value, dict):
            out.extend(_flattened(value, name))
        else:
            out.append((name, value))
    return out


def _dotenv_value(value: Any) -> str:
    # Single quotes with bash-style '\'' escapes: safe to `source`, and the Attune original's form.
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text.replace("'", "'\\''") + "'"


def logged_before(stdout: str, fmt: str) -> str | None:
    """What a `json` action printed before its result when the result is its last line (its
    log), to keep beside the parsed data; None when the whole stdout was the result."""
    if fmt != "json":
        return None
    text = stdout.rstrip()
    cut = text.rfind("\n")
    if cut < 0:
        return None
    try:
        json.loads(stdout)
        return None  # the whole of it parsed: nothing else was printed
    except ValueError:
        return text[:cut + 1]


def parse_output(stdout: str, fmt: str) -> Any:
    """Parse stdout per `output_format`; raise OutputParseError with the reason on failure."""
    if fmt == "json":
        try:
            return json.loads(stdout)
        except ValueError as whole_err:
            # Many scripts log lines before the result: fall back to the last non-empty line.
            lines = [line for line in stdout.splitlines() if line.strip()]
            if not lines:
                raise OutputParseError("could not parse stdout as json: empty output") from None
            try:
                return json.loads(lines[-1])
            except ValueError:
                raise OutputParseError(f"could not parse stdout as json: {whole_err}") from None
    if fmt == "yaml":
        try:
            return yaml_core.load(stdout)
        except yaml.YAMLError as err:
            raise OutputParseError(f"could not parse stdout as yaml: {_one_line(err)}") from None
    if fmt == "jsonl":
        items = []
        for number, line in enumerate(stdout.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as err:
                raise OutputParseError(f"could not parse stdout as jsonl: line {number}: {err}") from None
        return items
    raise ValueError(f"unknown output format {fmt!r}")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


_NODE_BANNER = re.compile(r"Node\.js v\d+(\.\d+)*")
_NODE_ERROR = re.compile(r"\[?[\w$]*(?:Error|Exception|Rejection)\b")


def failure_line(stderr: str | None, runner: str) -> str | None:
    """The `error` of a failed process: stderr's last line, but for a Node.js crash (source line,
    caret, error, stack, then node's version) the error line, not "Node.js v20.20.2"."""
    if runner == "nodejs":
        lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
        if lines and _NODE_BANNER.fullmatch(lines[-1]):
            found = next((line for line in lines if _NODE_ERROR.match(line)), None)
            return found or (lines[-2] if len(lines) > 1 else lines[-1])
    return last_line(stderr)


def last_line(text: str | None) -> str | None:
    """The last non-empty line, stripped — the `error` of a failed process."""
    for line in reversed((text or "").splitlines()):
        if line.strip():
            return line.strip()
    return None
