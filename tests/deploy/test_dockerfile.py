"""The image creates the user that root workers run action processes as (issue 9.10)."""

from __future__ import annotations

import re
from pathlib import Path

from attune.runtimes.isolation import ACTION_USER_DEFAULT

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def test_image_creates_the_default_action_user():
    text = DOCKERFILE.read_text()
    assert re.search(rf"^RUN useradd --system .*\b{re.escape(ACTION_USER_DEFAULT)}$", text, re.M)
    assert not re.search(r"^USER ", text, re.M)  # workers stay root, so they can switch to it
