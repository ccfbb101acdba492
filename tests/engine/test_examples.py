"""Every bundled example workflow runs end to end on Temporal and ends as documented."""

from __future__ import annotations

import pytest

from attune.packs.loader import load_packs
from tests.conftest import PACKS
from tests.engine.helpers import run

CATALOG = load_packs(PACKS)
# examples.approval waits for a person: tests/engine/test_stack_cli.py answers it through the CLI.
WORKFLOWS = sorted(a.ref for a in CATALOG.actions() if a.is_workflow and a.ref != "examples.approval")


def test_examples_cover_every_construct():
    assert {"examples.single_echo", "examples.sequence", "examples.parallel_join",
            "examples.with_items", "examples.retry", "examples.loop", "examples.nested",
            "examples.error_handling", "examples.timeout", "examples.legacy_forms"} <= set(WORKFLOWS)


@pytest.mark.parametrize("ref", WORKFLOWS)
async def test_example_workflow_completes(temporal_stack, ref):
    # As the API starts it: system.execution_id is the record's number (examples.retry once
    # passed it to a string parameter and failed through the API only).
    r = await run(temporal_stack.engine, ref, {}, packs=str(PACKS), timeout=120, execution_id=4242)
    assert r.status == "completed", r.result
    assert r.result["succeeded"] is True
    assert r.records and all(x.status in ("completed", "failed", "timeout") for x in r.records)


async def test_single_echo_runs_core_echo(temporal_stack):
    r = await run(temporal_stack.engine, "examples.single_echo", {}, packs=str(PACKS))
    assert [x.action_ref for x in r.records] == ["core.echo"]


async def test_attune_style_example_reports_with_attune_expression_forms(temporal_stack):
    r = await run(temporal_stack.engine, "examples.attune_style", {}, packs=str(PACKS))
    assert r.status == "completed", r.result
    assert r.result == {
        "report": "3 texts, 9 words (long ones); checks: python ok, node ok",
        "words": [4, 2, 3], "longest": 4, "run_id_length": 36, "succeeded": True}
