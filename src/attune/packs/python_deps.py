"""`meta.python_dependencies` of a pack.yaml (spec §1): pip requirements that join the pack's
requirements.txt in its virtualenv. Read by the runtime worker, which only knows the pack
directory; cached per pack.yaml version because it is consulted before every Python action."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from attune import yaml_core


def python_dependencies(pack_dir: str | Path) -> list[str]:
    manifest = Path(pack_dir) / "pack.yaml"
    try:
        stamp = manifest.stat().st_mtime_ns
    except OSError:
        return []
    return list(_read(str(manifest), stamp))


@lru_cache(maxsize=256)
def _read(manifest: str, _stamp: int) -> tuple[str, ...]:
    try:
        data = yaml_core.load(Path(manifest).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ()  # the loader reports a broken pack.yaml; nothing to install from it
    meta = data.get("meta") if isinstance(data, dict) else None
    deps = meta.get("python_dependencies") if isinstance(meta, dict) else None
    return tuple(str(d) for d in deps) if isinstance(deps, list) else ()
