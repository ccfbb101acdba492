"""What is wrong with some input, and where: the one problem record every layer reports.

A problem in a file carries file, line and column (the pack loader and the workflow validator
find those); a problem in a request or a value carries the path of the field (parameters,
responses). The API's error details are these fields as they are.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    file: str | None
    line: int | None
    column: int | None
    message: str
    path: str | None = None  # the field it is about, e.g. "parameters.count" or "hosts[0]"

    def __str__(self) -> str:
        if self.file is not None:
            return f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{self.path}: {self.message}" if self.path else self.message

    def detail(self) -> dict[str, Any]:
        """As an API error detail: path, message and, for a file, file, line and column."""
        found = {k: v for k, v in asdict(self).items() if v is not None}
        if self.file is not None and self.path is None:
            found["path"] = self.file
        return found


def at_path(path: str, message: str) -> Problem:
    """A problem with a field (no file)."""
    return Problem(None, None, None, message, path)


def under(prefix: str, problems: list[Problem]) -> list[Problem]:
    """The same problems with their paths inside `prefix` (e.g. a request's "parameters"); a
    path may start with a quoted name (`["db.host"]`), which takes no dot."""
    return [at_path(prefix if p.path in (None, prefix)
                    else f"{prefix}{'' if p.path.startswith('[') else '.'}{p.path}", p.message)
            for p in problems]


def shown(value: Any, limit: int = 80) -> str:
    """A value in a message as the user wrote it, in JSON (`true`, `{"a": 1}`, `0`), not as
    Python prints it (`True`, `{'a': 1}`, `0.0`); cut to about `limit` characters."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def nested_json(member: str) -> str:
    """"tls.mode" -> {"tls": {"mode": ...}}: the JSON a dotted path stood for."""
    text = "..."
    for name in reversed(member.split(".")):
        text = f'{{"{name}": {text}}}'
    return text
