"""A pack upgraded while a run waits: the tasks that start afterwards run the new script with
its new action YAML (format, entry point, defaults), never the new script with the run's copy of
the old YAML (QA: a dotenv step upgraded to JSON failed with JSONDecodeError)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.helpers import records, start, wait_ended, wait_running
from tests.unit.test_current_action import DOTENV as STEP_V1
from tests.unit.test_current_action import JSON


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


GATE = """\
ref: ops.gate
runner_type: shell
entry_point: gate.sh
parameter_format: dotenv
parameters:
  path: {type: string, required: true}
"""
GATE_SH = """\
source /dev/stdin
for _ in $(seq 1200); do [ -e "$path" ] && exit 0; sleep 0.05; done
echo "never opened: $path" >&2; exit 1
"""
STEP_V1_SH = """\
source /dev/stdin
echo "v1 $who $count"
"""
STEP_V2 = JSON.replace("entry_point: step2.sh", "entry_point: step.sh")  # the same file, upgraded
STEP_V2_SH = """\
# JSON on stdin, as JSON out: what a dotenv line would not parse as
cat
"""
FLOW = """\
ref: ops.flow
workflow_file: workflows/flow.yaml
parameters:
  path: {type: string, required: true}
"""
FLOW_WF = """\
version: '1.0'
tasks:
  - name: gate
    action: ops.gate
    input: {path: "{{ parameters.path }}"}
    next:
      - do: step
  - name: step
    action: ops.step
    input: {count: 2}
"""


def make_packs(root: Path, local: bool) -> Path:
    pack = root / "packs" / "ops"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: ops\nversion: 1.0.0\n")
    files = {"gate.yaml": GATE, "gate.sh": GATE_SH, "step.sh": STEP_V1_SH, "flow.yaml": FLOW,
             "workflows/flow.yaml": FLOW_WF,
             "step.yaml": STEP_V1 + ("local: true\ntimeout_seconds: 30\n" if local else "")}
    for name, text in files.items():
        (pack / "actions" / name).write_text(text)
    return pack


async def _start_and_wait_at_the_gate(engine, tmp_path: Path, action_tmp: Path, *,
                                      local: bool = False) -> tuple[str, Path, Path]:
    pack = make_packs(tmp_path, local)
    opened = action_tmp / "open"
    workflow_id = await start(engine, "ops.flow", {"path": str(opened)}, packs=str(pack.parent))
    await wait_running(engine, workflow_id, "gate")
    return workflow_id, pack, opened


@pytest.mark.parametrize("local", [False, True], ids=["queued", "local"])
async def test_a_task_after_an_upgrade_runs_the_new_script_with_the_new_yaml(engine, tmp_path,
                                                                             action_tmp, local):
    workflow_id, pack, opened = await _start_and_wait_at_the_gate(engine, tmp_path, action_tmp,
                                                                  local=local)
    # One consistent upgrade, as `attune pack register` after a deploy: YAML and script together.
    (pack / "actions" / "step.yaml").write_text(STEP_V2 + ("local: true\ntimeout_seconds: 30\n" if local else ""))
    (pack / "actions" / "step.sh").write_text(STEP_V2_SH)
    opened.touch()
    status, _ = await wait_ended(engine, workflow_id, 60)
    step = next(r for r in await records(engine, workflow_id) if r.task_name == "step")
    assert status == "completed", step.result
    # The new format (JSON in, JSON out) and the new defaults: `who` was not given, `greeting`
    # is new; the run's own input (count) is kept.
    assert step.result["data"] == {"count": 2, "greeting": "hi", "who": "new"}


async def test_a_task_whose_action_moved_to_another_runner_fails_saying_so(engine, tmp_path, action_tmp):
    workflow_id, pack, opened = await _start_and_wait_at_the_gate(engine, tmp_path, action_tmp)
    yaml = pack / "actions" / "step.yaml"
    yaml.write_text(STEP_V2.replace("runner_type: shell", "runner_type: python")
                    .replace("step.sh", "step.py"))
    (pack / "actions" / "step.py").write_text("import sys; print(sys.stdin.read())\n")
    opened.touch()
    status, _ = await wait_ended(engine, workflow_id, 60)
    step = next(r for r in await records(engine, workflow_id) if r.task_name == "step")
    assert status == "failed"
    assert step.result["error"] == (
        f"action 'ops.step' changed since this run started ({yaml}): its runner is python now, "
        "not shell, and this task was sent to the shell workers; re-run the execution "
        "(`attune execution rerun ID`) to run it as the pack is now")
    assert len([r for r in await records(engine, workflow_id) if r.task_name == "step"]) == 1


async def test_a_task_whose_action_was_removed_fails_naming_the_missing_yaml(engine, tmp_path, action_tmp):
    """Removed (or missing on this worker's copy of the pack, as a missing script is): handed
    back to the pool's other workers, and failed, saying so, when none has it."""
    workflow_id, pack, opened = await _start_and_wait_at_the_gate(engine, tmp_path, action_tmp)
    yaml = pack / "actions" / "step.yaml"
    yaml.unlink()  # step.sh stays: the run's copy of the YAML must not run it on its own
    opened.touch()
    status, _ = await wait_ended(engine, workflow_id, 90)
    step = next(r for r in await records(engine, workflow_id) if r.task_name == "step")
    assert status == "failed"
    error = step.result["error"]
    assert error.startswith(f"action YAML not found: {yaml}, which defined 'ops.step' when the run "
                            "started (the action was removed since, or this worker's copy of pack "
                            "'ops' lacks it; if it was removed, re-run the execution")
    assert "not run again, after 5 attempts" in error
