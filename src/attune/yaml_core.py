"""YAML read as YAML 1.2 (the core schema), as Attune reads it (serde_yaml), not as YAML 1.1.

PyYAML implements YAML 1.1, where `on`, `no`, `yes`, `off`, `y` and `n` are booleans, `0777` is
octal, `1_000` is a number and `10:30` is 630 (base 60). A pack written for Attune means the
text: `ref: on`, `default: NO` (a country), `enum: [yes, no]`, `time: 10:30`. Here only
`true`/`false` (and their capitalised forms) are booleans, integers are decimal, `0o..` or
`0x..`, and the rest of those stay strings. Dates also stay as written (`2024-01-01`): values
must stay JSON data.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class CoreConstructor(SafeConstructor):
    """SafeConstructor with YAML 1.2's integers and booleans, and dates kept as text."""

    def construct_yaml_bool(self, node: ScalarNode) -> bool:
        return self.construct_scalar(node).lower() == "true"

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = self.construct_scalar(node)
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)  # "0777" is 777: no implicit octal in 1.2

    def construct_yaml_timestamp(self, node: ScalarNode) -> str:  # type: ignore[override]
        return self.construct_scalar(node)


CoreConstructor.yaml_constructors = {
    **SafeConstructor.yaml_constructors, _BOOL: CoreConstructor.construct_yaml_bool,
    _INT: CoreConstructor.construct_yaml_int, _TIMESTAMP: CoreConstructor.construct_yaml_timestamp}


class CoreLoader(_BASE, CoreConstructor):  # type: ignore[misc, valid-type]
    """The loader: libyaml's parser, YAML 1.2 core resolution, CoreConstructor."""


# Resolution: drop 1.1's boolean, integer and float patterns, add the core schema's (integers
# before floats: "10" matches both).
CoreLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in _BASE.yaml_implicit_resolvers.items()
}
CoreLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
CoreLoader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                 list("-+0123456789"))
CoreLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                       r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.0123456789"))


def load(text: str) -> Any:
    """One YAML document as plain values (safe: no Python tags)."""
    return yaml.load(text, Loader=CoreLoader)
