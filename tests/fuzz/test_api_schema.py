"""Schemathesis against the OpenAPI schema of the running API (a real `attune api` process on
the session's Temporal stack): whatever it sends, no 5xx, and every response matches its
documented schema, status codes, content type and headers; auth is enforced; a wrong method gets
405 with the right Allow. Bounded to a few minutes by the examples per operation and a time
budget.

Two of schemathesis' checks are left out on purpose: `positive_data_acceptance` (a schema-valid
workflow or pack can still have problems, which the API reports as 422 with line:column, as
interfaces.md says) and `negative_data_rejection` (the validate route takes any text: YAML has
no JSON schema to violate)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from attune.engine.server import free_port
from tests.conftest import PACKS, TEST_PACKS

EXAMPLES_PER_OPERATION = int(os.environ.get("ATTUNE_FUZZ_EXAMPLES", "25"))
# The suite's largest single cost: on the 2-core CI machine it reaches the budget before the
# examples run out, so the budget sets its length. Raise ATTUNE_FUZZ_SECONDS for a deeper run.
MAX_SECONDS = int(os.environ.get("ATTUNE_FUZZ_SECONDS", "45"))
TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def running_api(temporal_stack, tmp_path_factory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("fuzz-api")
    port = free_port()
    env = {**os.environ, "ATTUNE_STATE_DIR": str(state), "ATTUNE_API_TOKEN": TOKEN,
           "ATTUNE_TEMPORAL_ADDRESS": temporal_stack.address,
           "ATTUNE_API_URL": f"http://127.0.0.1:{port}"}
    proc = subprocess.Popen([sys.executable, "-m", "attune.cli", "api", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(state / "api.log", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        # Copies: the fuzzer deletes actions with remove_files=true, and registered from the
        # checkout it deleted the checkout's own pack files (the later tests' packs).
        # Whole directories: a pack's tasks may run its sibling packs' actions (core).
        packs, test_packs = shutil.copytree(PACKS, state / "packs"), shutil.copytree(TEST_PACKS, state / "test_packs")
        for copy in (packs / "examples", test_packs / "qa"):
            registered = httpx.post(f"{url}/api/v1/packs/register", json={"path": str(copy)},
                                    headers=AUTH, timeout=60)
            assert registered.status_code == 200, registered.text
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log = (state / "api.log").read_text()
        assert "Traceback" not in log, log[-4000:]


def test_the_api_keeps_its_documented_contract(running_api: str) -> None:
    # One worker: hypothesis parses lambda sources with `ast`, and CPython 3.11's ast module is
    # not thread-safe (gh-106905: "AST constructor recursion depth mismatch" under two workers).
    schemathesis = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    run = subprocess.run(
        [schemathesis, "run", f"{running_api}/openapi.json", "--checks", "all",
         "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
         "--max-examples", str(EXAMPLES_PER_OPERATION), "--max-time", str(MAX_SECONDS),
         "--workers", "1", "--no-color", "--seed", "1", "--header", f"Authorization: Bearer {TOKEN}"],
        capture_output=True, text=True, timeout=MAX_SECONDS + 300)
    report = os.environ.get("ATTUNE_FUZZ_REPORT")
    if report:
        with open(report, "w") as out:
            out.write(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]
