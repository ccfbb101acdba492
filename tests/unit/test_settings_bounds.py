"""Every numeric setting has bounds, checked at start: a senseless value (ATTUNE_MIRROR_INTERVAL=0
busy-spun an idle API, ATTUNE_MAX_REQUEST_BYTES=-5 refused every POST with 413) exits 2 naming
the setting and the range it allows, before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
import typing

import pytest

from attune.settings import Settings


def _numeric(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    return bool({int, float} & {annotation, *typing.get_args(annotation)})


def test_every_numeric_setting_has_a_lower_and_an_upper_bound() -> None:
    unbounded = []
    for name, field in Settings.model_fields.items():
        if _numeric(name):
            found = {key for rule in field.metadata for key in ("ge", "gt", "le", "lt")
                     if getattr(rule, key, None) is not None}
            if not ({"ge", "gt"} & found and {"le", "lt"} & found):
                unbounded.append(name)
    assert not unbounded


@pytest.mark.parametrize(("command", "variable", "value", "allowed"), [
    (["api", "--port", "1"], "ATTUNE_MIRROR_INTERVAL", "0", "0.01 to 3600"),
    (["api", "--port", "1"], "ATTUNE_MIRROR_INTERVAL", "-1", "0.01 to 3600"),
    (["api", "--port", "1"], "ATTUNE_MAX_REQUEST_BYTES", "-5", "1024 to 1073741824"),
    (["api", "--port", "1"], "ATTUNE_MAX_PARAMETERS_BYTES", "0", "1024 to 1073741824"),
    (["api", "--port", "1"], "ATTUNE_MAX_NESTING_DEPTH", "-1", "0 to 1000"),
    (["api", "--port", "1"], "ATTUNE_CONTINUE_AS_NEW_AFTER", "0", "50 to 40000"),
    (["worker", "--runtime", "python"], "ATTUNE_PROCESS_POOL", "-3", "0 to 64"),
    (["worker", "--runtime", "orchestrator"], "ATTUNE_MAX_NESTING_DEPTH", "-1", "0 to 1000"),
    (["worker", "--runtime", "shell"], "ATTUNE_TEMPORAL_UI_PORT", "0", "1 to 65535"),
])
def test_a_senseless_number_exits_2_at_start_naming_the_setting_and_its_range(
        command: list[str], variable: str, value: str, allowed: str, tmp_path) -> None:
    env = {**os.environ, variable: value, "ATTUNE_STATE_DIR": str(tmp_path),
           "ATTUNE_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "attune.cli", *command], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{variable}={value!r}" in done.stderr and f"(allowed: {allowed})" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_defaults_are_within_their_bounds() -> None:
    Settings.model_validate({name: f.default for name, f in Settings.model_fields.items()})
