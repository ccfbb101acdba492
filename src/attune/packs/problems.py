"""Problems found while loading packs, each pinned to file:line:column (attune.problems)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from attune.packs.yaml_marks import Marks, Path, load_yaml
from attune.problems import Problem, at_path
from attune.workflows.validate import did_you_mean


class PackError(Exception):
    """Raised by the loaders with every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = sort_problems(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """In reading order per file (checks run in several passes, not top to bottom)."""
    return sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.column or 0))


def non_finite_message(written: str) -> str:
    return (f"{written} is not a finite number: values travel as JSON, which has no Infinity or NaN "
            f"(write a finite number, or quote it for the text '{written}')")


@dataclass
class Reporter:
    """Collects problems for one YAML file, turning paths into positions."""

    file: str | None  # None: the data came in a request, problems name fields, not positions
    marks: Marks = field(default_factory=Marks)
    problems: list[Problem] = field(default_factory=list)

    def load(self, text: str) -> Any:
        """The YAML document in `text` (YamlError when it cannot be parsed); a key given twice
        is a problem here, and the rest of the file is still checked."""
        data, self.marks = load_yaml(text)
        for mark, path, key in self.marks.duplicates:
            where = f" in {dotted(path)}" if path else ""
            self.problems.append(Problem(self.file, mark.line, mark.column,
                                         f"duplicate key '{key}'{where}"))
        for mark, written in self.marks.non_finite:
            self.problems.append(Problem(self.file, mark.line, mark.column, non_finite_message(written)))
        return data

    def at(self, path: Path, message: str, *, key: bool = False, offset: int | None = None) -> None:
        """Report at the value of `path` (or at its key). `offset` is a character index into a
        string value, used where the text maps to the string (one line as written, or a `|` block)."""
        if self.file is None:  # a request body, not a file: name the field
            self.problems.append(at_path(dotted(path) or "body", message))
            return
        mark = self.marks.key(path) if key else self.marks.value(path)
        line, column = mark.locate(offset) if offset is not None and not key else (mark.line, mark.column)
        # The field too (tasks[0].next[1].when): line:column point into the file, the path says
        # what it is, and is all there is to go by when the text was not the user's own.
        field = dotted(self.marks.original(path)) or None
        self.problems.append(Problem(self.file, line, column, message, field))

    def check_keys(self, data: dict[Any, Any], path: Path, allowed: set[str],
                   where: str, unsupported: Mapping[str, str] | None = None,
                   foreign: Mapping[str, str] | None = None) -> None:
        """Strict key check (spec §1): a key found in no Attune file is an error (with the
        nearest known key when it looks like a typo); `__chart_meta__` is editor layout data and
        always allowed. `foreign`: keys of another engine (StackStorm, Orquesta) -> what to write
        here instead."""
        unsupported = unsupported or {}
        foreign = foreign or {}
        for key in data:
            if key == "__chart_meta__" or key in allowed:
                continue
            if key in unsupported:
                self.at(path + (key,), f"`{key}` is not supported: {unsupported[key]}", key=True)
            elif key in foreign:
                self.at(path + (key,), f"unknown key '{key}' in {where}: {foreign[key]}", key=True)
            else:
                self.at(path + (key,), f"unknown key '{key}' in {where}"
                        + did_you_mean(key, allowed | set(unsupported)), key=True)

    def expect(self, data: dict[Any, Any], path: Path, key: str, types: type | tuple[type, ...],
               what: str) -> bool:
        """True when `key` is absent or has one of `types`; reports otherwise. bool is not
        accepted as an int, which Python would otherwise allow."""
        if key not in data or data[key] is None:
            return True
        value = data[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _tuple(types))
        if not ok:
            self.at(path + (key,), f"'{key}' must be {what}, got {type_name(value)}")
        return ok


def dotted(path: Iterable[Any]) -> str:
    """("parameters", "hosts", 0) -> "parameters.hosts[0]": the one way a field's path is
    written (pack files, requests, parameter values). A name that is not a plain identifier is
    quoted in brackets, so a parameter named "db.host" (`parameters["db.host"]`) and member
    `host` of object `db` (`parameters.db.host`) are told apart."""
    out = ""
    for part in path:
        out = step(out, part)
    return out


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def step(path: str, part: Any) -> str:
    """`path` (as `dotted` writes it) one level further in: a list index or a name."""
    if isinstance(part, int) and not isinstance(part, bool):
        return f"{path}[{part}]"
    name = str(part)
    if not _PLAIN.fullmatch(name):
        return f"{path}[{json.dumps(name, ensure_ascii=False)}]"
    return f"{path}.{name}" if path else name


def first_name(path: str) -> str:
    """The name `path` (as `dotted` writes it) starts with: "db" for "db.host[0]", "db.host"
    for '["db.host"].x'."""
    if path.startswith('["'):
        name, _ = json.JSONDecoder().raw_decode(path, 1)
        return str(name)
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def type_name(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
             dict: "mapping", type(None): "null"}
    return names.get(type(value), type(value).__name__)
