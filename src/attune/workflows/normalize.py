"""Legacy transition forms -> the one canonical `next` list (spec §2).

Works on the raw task mapping read from YAML, before models are built, so every problem can still
be tied to a position: each rewritten piece records the path it came from (`aliases`), and the
positions layer reports problems in the rewritten form at the original text.

Canonical transition: {"when": str | None, "publish": [(name, value), ...], "do": [task, ...],
"on_status": str | None, "otherwise": [index, ...]}.

Decisions taken here (the original was silent or lossy):
- `decision` default branch (`default: true`) means "none of the other branches fired": it
  becomes a transition marked `otherwise: [indexes of the other branches]`, placed after them,
  which the conductor fires exactly when none of them did, whatever their conditions render to.
- `on_success`/`on_failure`/`on_timeout`/`on_complete` take a task name, a list of names, or a
  list of `{when, do}` / `{when, next}` items (the older standalone form): each item is a
  transition that also needs the task to have ended that way (`on_status`).
- Task-level `publish` goes to the first transition whose `when` is exactly `{{ succeeded() }}`,
  ahead of that transition's own publish items; without one, a new `succeeded()` transition is put
  *first* so later transitions' conditions see the published values.
- Legacy `on_*`/`decision` together with `next` is an error (the original silently dropped the
  legacy keys).
- A bare string in a publish list (`- name`) publishes the whole result, as in the original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from attune.workflows.validate import Finding, Path, did_you_mean

# (legacy key, condition) in the order the original emitted them.
LEGACY_KEYS: tuple[tuple[str, str | None], ...] = (
    ("on_success", "{{ succeeded() }}"),
    ("on_failure", "{{ failed() }}"),
    ("on_complete", None),
    ("on_timeout", "{{ timed_out() }}"),
)
LEGACY_STATUS = {"on_success": "succeeded", "on_failure": "failed", "on_complete": None,
                 "on_timeout": "timed_out"}
TRANSITION_KEYS = {"when", "publish", "do"}
LEGACY_ITEM_KEYS = {"when", "publish", "do", "next"}  # `next` is the older spelling of `do`
DECISION_KEYS = {"when", "next", "default"}
_SUCCEEDED = re.compile(r"^\s*\{\{\s*succeeded\(\)\s*\}\}\s*$")


@dataclass
class Normalized:
    next: list[dict[str, Any]]
    aliases: dict[Path, Path] = field(default_factory=dict)  # new path -> original path
    synthetic: set[Path] = field(default_factory=set)  # generated templates: not in the file
    findings: list[Finding] = field(default_factory=list)


@dataclass
class _Piece:
    """One canonical transition with its provenance, paths relative to the transition."""

    when: str | None
    publish: list[tuple[str, Any]] = field(default_factory=list)
    do: list[str] = field(default_factory=list)
    aliases: dict[Path, Path] = field(default_factory=dict)
    synthetic: set[Path] = field(default_factory=set)
    on_status: str | None = None
    otherwise: list[_Piece] = field(default_factory=list)  # a decision default's siblings


def normalize_task(task: dict[str, Any], path: Path) -> Normalized:
    """Canonical `next` for one raw task mapping at `path` (e.g. ("tasks", 3))."""
    findings: list[Finding] = []
    pieces: list[_Piece] = []
    legacy = [key for key in [*(k for k, _ in LEGACY_KEYS), "decision"] if key in task]
    raw_next = task.get("next")
    if raw_next is not None and legacy:
        for key in legacy:
            findings.append(Finding(path + (key,), f"`{key}` cannot be combined with `next`; "
                                    "move it into `next`", key=True))
        legacy = []
    if raw_next is not None:
        if not isinstance(raw_next, list):
            findings.append(Finding(path + ("next",), "'next' must be a list of transitions"))
        else:
            for i, item in enumerate(raw_next):
                _transition(item, path + ("next", i), pieces, findings)
    for key, when in LEGACY_KEYS:
        if key in legacy:
            _legacy(key, when, task[key], path + (key,), pieces, findings)
    if "decision" in legacy:
        _decision(task["decision"], path + ("decision",), pieces, findings)
    if task.get("publish") is not None:
        _task_publish(task["publish"], path + ("publish",), pieces, findings)
    out = Normalized(next=[], findings=findings)
    for i, piece in enumerate(pieces):
        base = path + ("next", i)
        out.next.append({"when": piece.when, "publish": piece.publish, "do": piece.do,
                         "on_status": piece.on_status,
                         "otherwise": [pieces.index(p) for p in piece.otherwise]})
        out.aliases.update({base + rel: src for rel, src in piece.aliases.items()})
        out.synthetic.update(base + rel for rel in piece.synthetic)
    return out


def _legacy(key: str, when: str | None, value: Any, src: Path, pieces: list[_Piece],
            findings: list[Finding]) -> None:
    """`on_success: name`, `[names]`, or `[{when, do}]` items (older standalone files)."""
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            if isinstance(item, str):
                piece = _Piece(when, aliases={(): src + (i,)})
                piece.do = _do_list(item, src + (i,), piece, findings)
                pieces.append(piece)
            else:
                _transition(item, src + (i,), pieces, findings, on_status=LEGACY_STATUS[key])
        return
    piece = _Piece(when, aliases={(): src})
    piece.do = _do_list(value, src, piece, findings)
    pieces.append(piece)


def _transition(item: Any, src: Path, pieces: list[_Piece], findings: list[Finding],
                on_status: str | None | bool = False) -> None:
    """A `next` entry; with `on_status` (not False), an item of a legacy `on_*` list."""
    legacy = on_status is not False
    allowed = LEGACY_ITEM_KEYS if legacy else TRANSITION_KEYS
    if not isinstance(item, dict):
        findings.append(Finding(src, "a transition must be a mapping with when/publish/do"))
        return
    _unknown_keys(item, allowed, src, "transition", findings)
    if legacy and "do" in item and "next" in item:
        findings.append(Finding(src + ("next",), "give `do` or `next` (its older spelling), not "
                                "both", key=True))
    when = item.get("when")
    if when is not None and not isinstance(when, str):
        findings.append(Finding(src + ("when",), "'when' must be a string"))
        when = None
    piece = _Piece(when, aliases={(): src}, on_status=on_status if legacy else None)  # type: ignore[arg-type]
    piece.publish = _publish(item.get("publish"), src + ("publish",), piece, findings)
    target = "next" if legacy and "do" not in item and "next" in item else "do"
    piece.do = _do_list(item.get(target), src + (target,), piece, findings)
    pieces.append(piece)


def _do_list(value: Any, src: Path, piece: _Piece, findings: list[Finding]) -> list[str]:
    """`do` (and legacy targets) may be one task name or a list of them."""
    if value is None:
        return []
    if isinstance(value, str):
        piece.aliases[("do", 0)] = src
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        piece.aliases[("do",)] = src
        return list(value)
    nested = isinstance(value, list) and next(
        (i for i, v in enumerate(value) if isinstance(v, dict) and {"when", "next", "do"} & v.keys()), None)
    if nested is not None:  # Attune's install_packs writes transitions inside a `do`
        findings.append(Finding(src + (nested,), "`do` lists task names, not transitions: write "
                                "this one as a transition of its own whose `when` joins both "
                                "conditions, e.g. when: \"{{ A and B }}\""))
        return []
    findings.append(Finding(src, "a transition target must be a task name or a list of names"))
    return []


def _publish(value: Any, src: Path, piece: _Piece, findings: list[Finding]) -> list[tuple[str, Any]]:
    """A map, or a list of single-key maps / bare names, as ordered (name, value) pairs."""
    if value is None:
        return []
    pairs: list[tuple[str, Any]] = []

    def add(name: Any, val: Any, origin: Path, synthetic: bool = False) -> None:
        at = ("publish", len(pairs))
        piece.aliases[at] = origin
        piece.aliases[at + (0,)] = piece.aliases[at + (1,)] = origin
        if synthetic:
            piece.synthetic.add(at + (1,))
        pairs.append((str(name), val))

    if isinstance(value, dict):
        for name, val in value.items():
            add(name, val, src + (name,))
    elif isinstance(value, list):
        for i, entry in enumerate(value):
            if isinstance(entry, str):
                add(entry, "{{ result() }}", src + (i,), synthetic=True)
            elif isinstance(entry, dict) and len(entry) == 1:
                (name, val), = entry.items()
                add(name, val, src + (i, name))
            else:
                findings.append(Finding(src + (i,), "each publish item must be a single-key map "
                                        "(name: value) or a name"))
    else:
        findings.append(Finding(src, "'publish' must be a map or a list of single-key maps"))
    return pairs


def _decision(value: Any, src: Path, pieces: list[_Piece], findings: list[Finding]) -> None:
    if not isinstance(value, list):
        findings.append(Finding(src, "'decision' must be a list of {when, next, default}"))
        return
    default: int | None = None
    extra: set[int] = set()  # further default branches: reported, then left out
    for i, branch in enumerate(value):
        where = src + (i,)
        if not isinstance(branch, dict):
            findings.append(Finding(where, "a decision branch must be a mapping"))
            continue
        _unknown_keys(branch, DECISION_KEYS, where, "decision branch", findings)
        if not isinstance(branch.get("default", False), bool):
            findings.append(Finding(where + ("default",), "'default' must be true or false"))
        if "next" not in branch:
            findings.append(Finding(where, "a decision branch needs `next`"))
        if not isinstance(branch.get("when"), (str, type(None))):
            findings.append(Finding(where + ("when",), "'when' must be a string"))
        elif branch.get("default") is True:
            if default is not None:
                findings.append(Finding(where + ("default",), "only one default branch is allowed"))
                extra.add(i)
            else:
                if branch.get("when") is not None:
                    findings.append(Finding(where + ("when",), "a default branch takes no `when`"))
                default = i
    branches: list[_Piece] = []
    fallback: _Piece | None = None
    for i, branch in enumerate(value):
        if (not isinstance(branch, dict) or i in extra
                or not isinstance(branch.get("when"), (str, type(None)))):
            continue
        piece = _Piece(branch.get("when"), aliases={(): src + (i,)})
        piece.do = _do_list(branch.get("next"), src + (i, "next"), piece, findings)
        if i == default:
            fallback = piece
        else:
            branches.append(piece)
            if default is not None and piece.when is None:
                findings.append(Finding(src + (i,), "this branch has no `when`, so it always "
                                        "fires and the default branch never can"))
    pieces.extend(branches)
    if fallback is not None:  # after the others, which it must see first
        fallback.otherwise = branches
        pieces.append(fallback)


def _task_publish(value: Any, src: Path, pieces: list[_Piece], findings: list[Finding]) -> None:
    target = next((p for p in pieces if p.when is not None and _SUCCEEDED.match(p.when)), None)
    if target is None:
        # First, so that later transitions' conditions already see the published values.
        target = _Piece("{{ succeeded() }}", aliases={(): src})
        pieces.insert(0, target)
    # Task-level items go ahead of the transition's own, which move down by that many.
    scratch = _Piece(None)
    pairs = _publish(value, src, scratch, findings)
    target.aliases = {_bump(rel, len(pairs)): o for rel, o in target.aliases.items()}
    target.synthetic = {_bump(rel, len(pairs)) for rel in target.synthetic}
    target.aliases.update(scratch.aliases)
    target.synthetic.update(scratch.synthetic)
    target.publish = pairs + target.publish


def _bump(rel: Path, by: int) -> Path:
    if len(rel) >= 2 and rel[0] == "publish":
        return ("publish", rel[1] + by) + rel[2:]
    return rel


def _unknown_keys(mapping: dict, allowed: set[str], where: tuple, what: str,
                  findings: list[Finding]) -> None:
    """A finding per key the language does not know (the graphical editor's metadata aside)."""
    for key in mapping:
        if key not in allowed and key != "__chart_meta__":
            findings.append(Finding(where + (key,), f"unknown key '{key}' in {what}"
                                    + did_you_mean(key, allowed), key=True))
