"""A key file that is not a Fernet key (`<state_dir>/secret.key`) stops the API and every worker
at start, exit 2 naming the file: they started, /health said ok, and then every run with a secret
failed with a 503 "Fernet key must be 32 url-safe base64-encoded bytes" naming nothing, and every
token a worker minted was refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attune.engine.server import free_port
from attune.secrets import key_problem


# The API's port is taken when the test runs: a port in the test's id differed between the
# suite's parallel processes, which then refused to run (xdist collects in each one).
@pytest.mark.parametrize("command", [["api", "--port"], ["worker", "--runtime", "shell"],
                                     ["worker", "--runtime", "orchestrator"]], ids=" ".join)
def test_a_bad_key_file_stops_the_start_naming_the_file(command: list[str], tmp_path: Path) -> None:
    if command[-1] == "--port":
        command = [*command, str(free_port())]
    (tmp_path / "secret.key").write_text("garbage\n")
    env = {**os.environ, "ATTUNE_STATE_DIR": str(tmp_path), "ATTUNE_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    env.pop("ATTUNE_SECRET_KEY", None)
    env.pop("ATTUNE_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "attune.cli", *command], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"secret key {tmp_path / 'secret.key'}: not a Fernet key" in done.stderr, done.stderr
    assert "garbage" not in done.stderr and "Traceback" not in done.stderr


def test_the_key_in_use_is_what_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    (tmp_path / "secret.key").write_text("garbage\n")
    monkeypatch.setenv("ATTUNE_SECRET_KEY", Fernet.generate_key().decode())
    assert key_problem(str(tmp_path)) is None  # the variable wins over the file
    monkeypatch.delenv("ATTUNE_SECRET_KEY")
    assert "not a Fernet key" in (key_problem(str(tmp_path)) or "")
    (tmp_path / "secret.key").write_bytes(Fernet.generate_key())  # replaced: read again
    assert key_problem(str(tmp_path)) is None
    assert key_problem(str(tmp_path / "new")) is None and (tmp_path / "new" / "secret.key").exists()


def test_a_direct_run_says_the_same_not_a_fernet_error_at_its_first_secret(tmp_path: Path) -> None:
    """`attune run --direct` seals secrets itself, with the same key."""
    (tmp_path / "secret.key").write_text("garbage\n")
    env = {**os.environ, "ATTUNE_STATE_DIR": str(tmp_path), "ATTUNE_TEMPORAL_ADDRESS": "127.0.0.1:1"}
    env.pop("ATTUNE_SECRET_KEY", None)
    packs = Path(__file__).resolve().parents[2] / "packs"
    done = subprocess.run([sys.executable, "-m", "attune.cli", "run", "core.noop", "--direct", "--packs",
                           str(packs)], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"secret key {tmp_path / 'secret.key'}: not a Fernet key" in done.stderr, done.stderr
