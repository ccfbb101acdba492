"""Where `attune pack register <dir>` finds the pack: a directory on the CLI's machine is sent as
its absolute path, which the API must see too; a relative path that is not there is the API's,
taken from its ATTUNE_PACKS_DIR (the compose deployment's /packs). A path the API cannot see is
a 404 that says the API reads its own filesystem, not "pack directory not found" alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from attune.engine.server import free_port
from tests.conftest import PACKS
from tests.service.real_api import real_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `attune api` with ATTUNE_PACKS_DIR, started in a directory that holds no packs."""
    home = tmp_path_factory.mktemp("packs-dir")
    with real_api(home, {"ATTUNE_STATE_DIR": str(home / "state"), "ATTUNE_PACKS_DIR": str(PACKS),
                         "ATTUNE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}) as url:
        yield url


def _register(api: str, path: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attune.cli", "pack", "register", path, "-o", "json",
                           "--api-url", api], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_a_relative_path_is_taken_from_the_api_s_packs_directory(api: str, tmp_path: Path) -> None:
    done = _register(api, "core", tmp_path)  # no ./core here: the API's /packs/core
    assert done.returncode == 0, done.stderr
    assert f'"path": "{PACKS / "core"}"' in done.stdout, done.stdout


def test_a_path_the_api_cannot_see_says_so(api: str, tmp_path: Path) -> None:
    """Run on the host against a containerized API, it sent the host's path: a bare 404."""
    mine = tmp_path / "packs" / "new"
    done = _register(api, str(mine), tmp_path)
    assert done.returncode == 2
    assert f"pack directory not found on the API's machine: {mine}" in done.stderr, done.stderr
    assert f"relative to its packs directory ({PACKS}, ATTUNE_PACKS_DIR)" in done.stderr, done.stderr
    done = _register(api, "nope", tmp_path)
    assert done.returncode == 2 and f"on the API's machine: {PACKS / 'nope'}" in done.stderr, done.stderr
