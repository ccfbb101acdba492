"""Packs: loading and validating pack directories into action models (spec §1).

Exports are resolved lazily so that importing `attune.packs.models` (as the Temporal workflow code
does) does not pull in the YAML loader and its file-system code.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Catalog": "attune.packs.catalog",
    "PackError": "attune.packs.problems",
    "Problem": "attune.packs.problems",
    "load_pack": "attune.packs.loader",
    "load_packs": "attune.packs.loader",
    "parse_workflow_text": "attune.packs.loader",
    "validate_path": "attune.packs.loader",
    "Action": "attune.packs.models",
    "Pack": "attune.packs.models",
    "ParameterSpec": "attune.packs.models",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'attune.packs' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
