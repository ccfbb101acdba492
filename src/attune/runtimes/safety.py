"""Make what an action printed safe to leave the worker: every string valid text, every size
counted as it will be stored (JSON-encoded), the parsed data plain JSON of bounded depth.

Temporal carries the result as JSON (pydantic) and the records database stores it, so:
- a lone UTF-16 surrogate (JSON allows `"\\ud800"`) cannot be encoded at all, and NUL cannot be
  stored in PostgreSQL text: both become U+FFFD;
- caps are counted after encoding: 256 KiB of control characters JSON-escape to ~1.5 MiB;
- the decoder on the workflow's side refuses JSON nested 200 deep, and results are nested
  further inside workflow results: data deeper than MAX_DATA_DEPTH fails the task, naming it;
- YAML aliases can expand a small output enormously: the walk stops at the size limit.
An action is never re-run because its result could not be encoded: a result that breaks a
limit is a failed result that says which limit.
"""

from __future__ import annotations

import base64
import datetime
import re
from typing import Any

import pydantic_core

from attune.runtimes.models import ProcessResult

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


def plain_data(value: Any) -> Any:
    """Parsed output as plain JSON values (YAML gives dates, bytes, sets, non-text keys too)."""
    budget = [DATA_CAP_BYTES]
    data = _plain(value, 0, budget)
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
        timed_out=result.timed_out, cancelled=result.cancelled)
