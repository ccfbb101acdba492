"""YAML to plain Python values plus a line:column for every key and value.

PyYAML's `compose` keeps node marks that `safe_load` throws away; every error message in the loader
names file:line:column, so we walk the node tree ourselves. Paths are tuples of mapping keys and
list indexes, e.g. ("tasks", 2, "next", 0, "when").
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from attune.runtimes.safety import MAX_DATA_DEPTH
from attune.yaml_core import CoreConstructor, CoreLoader

Path = tuple[Any, ...]

# YAML 1.2 as Attune reads it (attune.yaml_core), on libyaml when PyYAML was built with it:
# parsing is most of a pack load's time. Same marks.
_LOADER = CoreLoader
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
MAX_NODES = 100_000  # far above any real pack file


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based
    # Column of the string's first character when the source text is exactly the value on one
    # line (plain, or quoted without escapes), so an offset into the string maps to a column.
    content_column: int | None = None
    # A literal block (`|`) whose lines are the value's lines, indented: the line of its first
    # content line, and where each value line starts in the string.
    content_line: int | None = None
    line_starts: tuple[int, ...] = (0,)

    def locate(self, offset: int) -> tuple[int, int]:
        """line:column of character `offset` of the string value, where the text maps to it."""
        if self.content_column is None:
            return self.line, self.column
        i = bisect.bisect_right(self.line_starts, offset) - 1
        return (self.content_line or self.line) + i, self.content_column + offset - self.line_starts[i]


class YamlError(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


@dataclass
class Marks:
    """Positions of the values (and mapping keys) of one YAML document, by path."""

    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    # new path -> path it was derived from (legacy forms rewritten by the normalizer).
    aliases: dict[Path, Path] = field(default_factory=dict)
    # Keys given twice in one mapping: (where the second one is, the mapping's path, the key).
    # The first one is kept and the file is checked on, so its other problems show too.
    duplicates: list[tuple[Mark, Path, Any]] = field(default_factory=list)
    # Numbers JSON cannot carry (`.inf`, `.nan`, `1e999`), as written: each is a problem, read
    # as null so the file is checked on and all of them show at once.
    non_finite: list[tuple[Mark, str]] = field(default_factory=list)

    def value(self, path: Path) -> Mark:
        return self._find(self.values, path)

    def key(self, path: Path) -> Mark:
        """Where the key holding `path` sits; falls back to the value when not a mapping key."""
        mark = self.keys.get(self._resolve(path))
        return mark if mark is not None else self.value(path)

    def original(self, path: Path) -> Path:
        """Where a path of the normalized definition was written in the file."""
        return self._resolve(path)

    def _resolve(self, path: Path) -> Path:
        # Aliases point at paths in the file, so one step (longest prefix) is enough.
        for cut in range(len(path), 0, -1):
            origin = self.aliases.get(path[:cut])
            if origin is not None:
                return origin + path[cut:]
        return path

    def _find(self, table: dict[Path, Mark], path: Path) -> Mark:
        path = self._resolve(path)
        # A path that is not in the file (a default, a normalized form) is reported at its
        # nearest ancestor that is, so every problem still points somewhere useful.
        for cut in range(len(path), -1, -1):
            mark = table.get(path[:cut])
            if mark is not None:
                return mark
        return Mark(1, 1)


def load_yaml(text: str) -> tuple[Any, Marks]:
    """Parse one YAML document. Raises YamlError (with position) on syntax errors and unsupported
    tags; duplicate keys are listed in the marks (`Marks.duplicates`)."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        line, column, reason = _where(exc)
        raise YamlError(line, column, f"YAML syntax error: {reason}") from None
    except yaml.YAMLError as exc:
        raise YamlError(1, 1, f"YAML error: {exc}") from None
    marks = Marks()
    if node is None:
        return None, marks
    return _Builder(text, marks).build(node, ()), marks


def _where(exc: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    """Where to point and what to say. A token the scanner could not finish (a quote never
    closed, a key without its colon) is reported where it starts: the problem's own mark is
    often the end of the file ("found unexpected end of stream" at the last line)."""
    start, problem = exc.context_mark, exc.problem_mark
    if (start is not None and problem is not None and (exc.context or "").startswith("while scanning")
            and (start.line, start.column) != (problem.line, problem.column)):
        return (start.line + 1, start.column + 1,
                f"{exc.context} that starts here, {exc.problem} "
                f"(line {problem.line + 1}, column {problem.column + 1})")
    mark = problem or start
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return line, column, _reason(exc)


def _reason(exc: yaml.MarkedYAMLError) -> str:
    problem, context = exc.problem or "", exc.context or ""
    # "but found another document" only makes sense after its context.
    return f"{context} {problem}" if problem.startswith("but ") else (problem or context)


class _Builder:
    def __init__(self, text: str, marks: Marks):
        self.lines = text.splitlines()
        self.marks = marks
        self.scalars = CoreConstructor()
        self.active: list[Node] = []  # collections being built, outermost first
        self.budget = MAX_NODES

    def build(self, node: Node, path: Path) -> Any:
        self.marks.values[path] = self._mark(node)
        if isinstance(node, (MappingNode, SequenceNode)):
            # Aliases are expanded into plain values: refuse the self-referencing and the
            # exponentially expanding ("billion laughs") documents that would never finish.
            self.budget -= len(node.value)
            if node in self.active or self.budget < 0:
                m = node.start_mark
                why = "a recursive alias" if node in self.active else "too many nodes once aliases expand"
                raise YamlError(m.line + 1, m.column + 1, f"YAML error: {why}")
            if len(self.active) >= MAX_DATA_DEPTH:  # as request bodies and action output: a run
                m = node.start_mark                  # could not carry it (its workflow task failed)
                raise YamlError(m.line + 1, m.column + 1, f"nested more than {MAX_DATA_DEPTH} levels "
                                f"deep: values may be nested at most {MAX_DATA_DEPTH} levels")
            self.active.append(node)
            try:
                if isinstance(node, MappingNode):
                    return self._mapping(node, path)
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            finally:
                self.active.pop()
        if node.tag == _TIMESTAMP_TAG:  # keep dates as written: values must stay JSON data
            return node.value
        try:
            value = self.scalars.construct_object(node)
        except yaml.MarkedYAMLError as exc:  # e.g. an unknown tag such as !!python/object
            m = node.start_mark
            raise YamlError(m.line + 1, m.column + 1, f"YAML error: {_reason(exc)}") from None
        if isinstance(value, float) and not math.isfinite(value):  # it became null on its way
            self.marks.non_finite.append((self._mark(node), node.value))
            return None
        return value

    def _mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor`: explicit keys win over merged ones
                sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for source in sources:
                    value = self.build(source, path)
                    if isinstance(value, dict):
                        merged = {**value, **merged}
                self.marks.values[path] = self._mark(node)  # build() above overwrote it
                continue
            if not isinstance(key_node, ScalarNode):
                m = key_node.start_mark
                raise YamlError(m.line + 1, m.column + 1, "mapping keys must be scalars")
            key = self.scalars.construct_object(key_node)
            if key in result:
                self.marks.duplicates.append((self._mark(key_node), path, key))
                continue
            self.marks.keys[path + (key,)] = self._mark(key_node)
            result[key] = self.build(value_node, path + (key,))
        return {**merged, **result}

    def _mark(self, node: Node) -> Mark:
        start, end = node.start_mark, node.end_mark
        content = None
        if isinstance(node, ScalarNode) and start.line == end.line and start.line < len(self.lines):
            raw = self.lines[start.line][start.column:end.column]
            if not node.style and raw == node.value:  # plain: None (Python parser) or "" (libyaml)
                content = start.column + 1
            elif node.style in ("'", '"') and raw[1:-1] == node.value:
                content = start.column + 2
        elif isinstance(node, ScalarNode) and node.style == "|":
            return self._literal_block(node) or Mark(start.line + 1, start.column + 1)
        return Mark(start.line + 1, start.column + 1, content)

    def _literal_block(self, node: ScalarNode) -> Mark | None:
        """A `|` block's value lines sit on the lines after its indicator, at one indentation."""
        first = node.start_mark.line + 1
        values = node.value.split("\n")
        sources = self.lines[first:first + len(values)]
        indent = next((len(t) - len(t.lstrip(" ")) for t in sources if t.strip()), None)
        if indent is None or any(v and src[indent:] != v for v, src in zip(values, sources, strict=False)):
            return None
        starts = [0]
        for value in values[:-1]:
            starts.append(starts[-1] + len(value) + 1)
        m = node.start_mark
        return Mark(m.line + 1, m.column + 1, indent + 1, first + 1, tuple(starts))
