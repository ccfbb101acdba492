"""Commands the product prints for a person to paste into a shell (`attune pack register ...`)."""

from __future__ import annotations

import os
import shlex


def command_line(*words: str | os.PathLike[str]) -> str:
    """The words as one shell command that pastes as it reads: each word shell-quoted (a path
    `bad dir $x 'q"` stays one word), and a path (a PathLike, not a str) that is relative and
    starts with `-` gets `./`, so `-packs/d2` is not read as an option."""
    quoted = []
    for word in words:
        text = os.fspath(word)
        if not isinstance(word, str) and text.startswith("-"):
            text = f"./{text}"
        quoted.append(shlex.quote(text))
    return " ".join(quoted)
