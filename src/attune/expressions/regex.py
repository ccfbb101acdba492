"""Regular expressions that users write (`match()` in templates, `pattern` and
`patternProperties` in parameter schemas), run by RE2.

Python's `re` backtracks: `(a+)+$` against 45 characters runs for minutes, holding the GIL of
the process that evaluates it, and that process is the orchestrator (every workflow on the stack
stalls) or the API. RE2 takes time linear in the text for any pattern, so no pattern a user
writes can stall anything, and its answer does not depend on the machine (a time limit would make
a workflow's replay differ from its first run). It has no backreferences (`\\1`) or lookaround
(`(?=`, `(?<!`): such a pattern is refused with RE2's reason.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would also print every refused pattern on stderr
_PERL_ONLY = re.compile(r"\(\?<?[=!]|\\[1-9]")  # lookaround, backreference


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why."""


@functools.lru_cache(maxsize=512)
def compiled(pattern: str) -> Any:
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) \
            else str(exc)
        hint = " (backreferences and lookaround are not supported: patterns run on RE2)" \
            if _PERL_ONLY.search(pattern) else ""
        raise PatternError(f"invalid regular expression {pattern!r}: {reason}{hint}") from None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (as `re.search`)."""
    return compiled(pattern).search(text) is not None
