"""Make what an action printed safe to leave the worker: every string valid text, every size
counted as it will be stored (JSON-encoded), the parsed data plain JSON of bounded depth.

Temporal carries the result as JSON (pydantic) and the records database stores it, so:
- a lone UTF-16 surrogate (JSON allows `"\\ud800"`) cannot be encoded at all, and NUL cannot be
  stored in PostgreSQL text: both become U+FFFD;
- caps are counted after encoding: 256 KiB of control characters JSON-escape to ~1.5 MiB;
- the decoder on the workflow's side refuses JSON nested 200 deep, and results are nested
  further inside workflow results: data deeper than MAX_DATA_DEPTH fails the task, naming it;
- YAML aliases can expand a small output enormously: the walk stops at the size limit;
- JSON has no NaN or Infinity, yet Python's parsers read `NaN`, `Infinity`, `1e999` and YAML's
  `.inf` as floats and the encoders then write null: a number that is not finite is refused
  wherever data comes in (the API's bodies, the CLI's JSON, an action's output), naming where.
An action is never re-run because its result could not be encoded: a result that breaks a
limit is a failed result that says which limit.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import re
from typing import Any

import pydantic_core

from attune.runtimes.models import ProcessResult
from attune.runtimes.output import OutputParseError

TEXT_CAP_BYTES = 256 * 1024  # stdout, stderr: JSON-encoded size
DATA_CAP_BYTES = 512 * 1024  # the parsed output
ERROR_CAP_BYTES = 8 * 1024
RESULT_CAP_BYTES = 1536 * 1024  # the whole result; Temporal refuses payloads over 2 MiB
MAX_DATA_DEPTH = 100
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
TRUNCATED_MARK = " …[truncated]"


class OutputLimitError(ValueError):
    """Parsed output over a limit; the message names it."""


def clean_text(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def encoded_size(value: Any) -> int:
    return len(pydantic_core.to_json(value))


def cap_text(text: str, cap: int = TEXT_CAP_BYTES, *, tail: bool = False) -> tuple[str, bool]:
    """Clean text, cut to the longest prefix (with `tail`, suffix) whose JSON encoding (quotes
    aside: plain ASCII text counts its own length) fits `cap`; (text, truncated)."""
    text = clean_text(text)
    cap += 2
    if encoded_size(text) <= cap:
        return text, False

    def part(n: int) -> str:
        return text[len(text) - n:] if tail else text[:n]

    low, high = 0, len(text)  # the longest part that fits is between low and high characters
    while high - low > 1:
        middle = (low + high) // 2
        if encoded_size(part(middle)) <= cap:
            low = middle
        else:
            high = middle
    return part(low), True


def cap_error(error: str | None) -> str | None:
    if error is None:
        return None
    text, cut = cap_text(error, ERROR_CAP_BYTES - len(TRUNCATED_MARK.encode()))
    return text + TRUNCATED_MARK if cut else text


def plain_data(value: Any, fmt: str | None = None) -> Any:
    """Parsed output as plain JSON values (YAML gives dates, bytes, sets, non-text keys too).
    A number that is not finite is an OutputParseError naming where (`fmt`: the output_format,
    for the message), as any other output that is not data: JSON would carry it as null."""
    budget = [DATA_CAP_BYTES]
    try:
        data = _plain(value, 0, budget)
    except _NotFinite:
        raise OutputParseError(not_finite_message(f"could not parse stdout as {fmt or 'data'}",
                                                  non_finite(value), _YAML if fmt == "yaml" else None)) from None
    size = encoded_size(data)
    if size > DATA_CAP_BYTES:
        raise OutputLimitError(_too_large(f"{size} bytes"))
    return data


def _too_large(size: str | None) -> str:
    """`size`: the encoded size, when it was measured (a walk stops before the end)."""
    measured = f"{size} once encoded, " if size else ""
    return f"the parsed output is too large: {measured}over the limit of {DATA_CAP_BYTES} bytes once encoded"


def _plain(value: Any, depth: int, budget: list[int]) -> Any:
    if depth > MAX_DATA_DEPTH:
        raise OutputLimitError(f"the parsed output is nested more than {MAX_DATA_DEPTH} levels deep")
    budget[0] -= 8  # a rough floor per value, so a huge shared (aliased) structure stops early
    if budget[0] < 0:
        raise OutputLimitError(_too_large(None))
    if isinstance(value, float) and not math.isfinite(value):
        raise _NotFinite
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        budget[0] -= len(value)
        return clean_text(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1, budget) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):  # YAML !!binary
        budget[0] -= len(value)
        return base64.b64encode(value).decode()
    return clean_text(str(value))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return clean_text(key)
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    return clean_text(key.isoformat() if isinstance(key, (datetime.date, datetime.time)) else str(key))


# ---- numbers that are not finite -----------------------------------------------------------------

class _NotFinite(Exception):
    """Raised inside a walk that found one; the caller then says where (a second walk)."""


class _Written(float):
    """A float that is not finite, with the text it was read from (`1e999`, `NaN`)."""

    text: str


def _read_number(text: str) -> float:
    value = float(text)
    if math.isfinite(value):
        return value
    written = _Written(value)
    written.text = text
    return written


def loads_json(text: str | bytes) -> Any:
    """json.loads, but a number that is not finite keeps the text it was written as, for
    non_finite to name (`1e999` rather than Infinity)."""
    return json.loads(text, parse_constant=_read_number, parse_float=_read_number)


_JSON = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_YAML = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}


def non_finite(value: Any, path: str = "", limit: int = 20) -> list[tuple[str, str]]:
    """Where `value` holds a number that is not finite, as (path, how it was written), depth
    first and at most `limit`; paths as attune.packs.parameters writes them (`o.x`, `y[0]`).
    Iterative: a body may nest deeper than the recursion limit leaves room for."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack and len(found) < limit:
        at, item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                found.append((at, getattr(item, "text", None) or repr(item)))
        elif isinstance(item, dict):
            stack.extend((f"{at}.{k}" if at else str(k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, (list, tuple, set, frozenset)):  # YAML has sets
            stack.extend((f"{at}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return found


def not_finite_detail(written: str, names: dict[str, str] | None = None) -> str:
    """What is wrong with one such number (after its path), and what to write instead."""
    names = names or _JSON
    shown = names.get(written, written)  # repr() of a plain float: nan, inf, -inf
    what = (f"is {shown}" if shown in names.values() else
            f"is {shown}, beyond the ±1.8e308 a 64-bit float holds (it reads as Infinity)")
    return (f"{what}: not a finite number (data travels as JSON, which has no NaN or Infinity: "
            "write null, a finite number or a string instead)")


def not_finite_message(lead: str, found: list[tuple[str, str]], names: dict[str, str] | None = None) -> str:
    """`lead`, then the first number found (the whole value when its path is empty) and how
    many more there are."""
    path, written = found[0] if found else ("", "nan")
    more = f"; {len(found) - 1} more such number(s)" if len(found) > 1 else ""
    return f"{lead}: {repr(path) if path else 'the value'} {not_finite_detail(written, names)}{more}"


def encodable(result: ProcessResult) -> ProcessResult:
    """The last check before a result leaves the worker: it encodes, and within the limit
    (masking secrets can grow text after the caps). Otherwise a failed result saying why,
    which Temporal stores: never an activity error, which would run the action again."""
    try:
        size = encoded_size(result)
    except (pydantic_core.PydanticSerializationError, ValueError) as err:
        reason = f"could not be encoded ({err})"
    else:
        if size <= RESULT_CAP_BYTES:
            return result
        reason = f"is {size} bytes once encoded, over the limit of {RESULT_CAP_BYTES} bytes"
    return ProcessResult(
        succeeded=False, exit_code=result.exit_code, duration_ms=result.duration_ms,
        error=cap_error(f"the action's result {reason}; its output was dropped"),
        stdout_truncated=result.stdout is not None, stderr_truncated=result.stderr is not None,
        stdout_bytes=_written(result.stdout, result.stdout_bytes),
        stderr_bytes=_written(result.stderr, result.stderr_bytes),
        timed_out=result.timed_out, cancelled=result.cancelled)


def _written(kept: str | None, total: int | None) -> int | None:
    """How much went to a stream the result drops: what was written, else what was kept."""
    return total if total is not None else len(kept.encode(errors="replace")) if kept is not None else None
