"""Replaying stored histories: the interpreter must emit the same commands for old runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from attune.engine.worker import workflow_runner
from attune.engine.workflow import AttuneWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def replayer(sandboxed: bool) -> Replayer:
    return Replayer(workflows=[AttuneWorkflow], data_converter=pydantic_data_converter,
                    workflow_runner=workflow_runner(sandboxed))


def test_every_construct_has_a_stored_history():
    names = {p.stem for p in HISTORIES}
    assert {"sequence", "failures", "joins", "items", "retry", "timeout", "conditions",
            "nested", "loop", "runaway", "bad_expression", "big_items", "plain",
            "local_chain", "local_items", "attune_forms", "cancel_tree", "depth", "rerun",
            "run_control", "ask", "continue_as_new.1", "continue_as_new.2", "record_ids",
            "record_ids_nested", "baseline", "baseline_forms", "baseline_input",
            "baseline_input_forms"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
@pytest.mark.parametrize("sandboxed", [False, True], ids=["production", "sandboxed"])
async def test_stored_history_replays(path: Path, sandboxed: bool):
    """Production runs unsandboxed for speed; replaying in the sandbox too catches code that
    reaches for the clock, randomness or I/O."""
    stored = json.loads(path.read_text())
    history = WorkflowHistory.from_json(stored.pop("workflow_id"), stored)
    result = await replayer(sandboxed).replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
