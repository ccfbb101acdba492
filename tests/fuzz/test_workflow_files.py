"""Generated workflow files against the loader and the conductor: whatever a workflow file
says, validation answers with problems (file:line:column), never an exception; and a workflow
it accepts runs to an end whatever its tasks' outcomes, never a crash and never stuck.

A transition with no `when` to a task that did not exist crashed validation with a KeyError
(and with it every pack beside it); this test generates that class of file, not that file."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attune.packs.loader import load_pack, validate_path
from attune.workflows.commands import Dispatch, Outcome
from tests.conftest import PACKS
from tests.unit.test_conductor import Rehearsal, bad, ok

NAMES = ["a", "b", "c", "d"]
targets = st.one_of(st.sampled_from([*NAMES, "ghost"]),
                    st.lists(st.sampled_from([*NAMES, "ghost"]), max_size=3))
templates = st.sampled_from(["hi", "{{ result() }}", "{{ task.a.result }}", "{{ 1 / 0 }}",
                             "{{ nope.deeper }}", "{{ ", "{{ [1, 2] }}", "{{ succeeded() }}"])
conditions = st.sampled_from(["{{ succeeded() }}", "{{ failed() }}", "{{ timed_out() }}",
                              "{{ result().x > 1 }}", "{{ ", "{{ 1 / 0 }}", "{{ true }}"])
transition = st.fixed_dictionaries({}, optional={
    "when": conditions,
    "do": targets,
    "publish": st.lists(st.dictionaries(st.sampled_from(["v", "w"]), templates, min_size=1, max_size=1),
                        max_size=2),
})
task = st.fixed_dictionaries({"name": st.sampled_from(NAMES)}, optional={
    "action": st.sampled_from(["core.noop", "core.echo", "core.fail", "nope.x", "uit"]),
    "input": st.dictionaries(st.sampled_from(["message", "x"]), templates, max_size=2),
    "next": st.lists(transition, max_size=3),
    "on_success": targets, "on_failure": targets, "on_complete": targets,
    "join": st.sampled_from(["all", 1, 2, 0, "x"]),
    "with_items": st.sampled_from(["{{ [1, 2, 3] }}", "{{ 5 }}", "{{ nope }}", "[1]", "{{ [] }}"]),
    "concurrency": st.sampled_from([1, 2, 0]),
    "retry": st.fixed_dictionaries({"count": st.sampled_from([0, 1, 2, -1])}, optional={
        "delay": st.sampled_from([0, 1, "x"]), "on_error": st.sampled_from(["{{ true }}", "{{ x.y }}"])}),
    "timeout": st.sampled_from([1, 0, "{{ 2 }}", "x", "{{ -1 }}"]),
    "delay": st.sampled_from([0, 1, "x", "{{ 1 }}"]),
})
wild = st.fixed_dictionaries({"version": st.just("1.0"), "tasks": st.lists(task, max_size=5)}, optional={
    "output_map": st.dictionaries(st.just("out"), templates, max_size=1),
    "vars": st.dictionaries(st.sampled_from(["v", "w"]), templates, max_size=2),
    "max_iterations": st.sampled_from([1, 5, 0]),
    "cancellation_policy": st.sampled_from(["allow_finish", "cancel_running", "x"]),
})

runtime_values = st.sampled_from(["hi", "{{ result() }}", "{{ 1 / 0 }}", "{{ [1, 2] }}"])
runtime_conditions = st.sampled_from(["{{ succeeded() }}", "{{ failed() }}", "{{ timed_out() }}",
                                      "{{ result().data.x > 0 }}", "{{ 1 / 0 }}"])


@st.composite
def plausible(draw: Any) -> dict[str, Any]:
    """Files that mostly pass validation, so that the conductor runs them: loops, joins,
    with_items, retries, publish, and expressions that fail only while running."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    tasks = []
    for name in names:
        spec: dict[str, Any] = {"name": name, "action": draw(st.sampled_from(["core.noop", "core.fail"]))}
        later = names[1:] or names  # the first task stays a start task (no inbound edge)
        spec["next"] = draw(st.lists(st.fixed_dictionaries(
            {"do": st.lists(st.sampled_from(later), min_size=1, max_size=2)},
            optional={"when": runtime_conditions,
                      "publish": st.lists(st.dictionaries(st.just("v"), runtime_values, min_size=1),
                                          max_size=1)}),
            max_size=2))
        if draw(st.booleans()):
            spec["with_items"] = draw(st.sampled_from(["{{ [1, 2, 3] }}", "{{ [] }}", "{{ 5 }}"]))
            if draw(st.booleans()):
                spec["concurrency"] = 2
        if draw(st.booleans()):
            spec["retry"] = {"count": draw(st.integers(0, 2))}
        tasks.append(spec)
    targeted = {t for spec in tasks for tr in spec["next"] for t in tr["do"]}
    for spec in tasks:
        if spec["name"] in targeted and spec["name"] != names[0] and draw(st.booleans()):
            spec["join"] = draw(st.sampled_from(["all", 1]))
    body: dict[str, Any] = {"version": "1.0", "tasks": tasks, "max_iterations": 20}
    if draw(st.booleans()):
        body["output_map"] = {"out": draw(runtime_values)}
    return body


workflow = st.one_of(wild, plausible())


def _pack(root: Path, body: dict[str, Any]) -> Path:
    pack = root / "fz"
    if pack.exists():
        shutil.rmtree(pack)
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: fz\nversion: '1.0'\n")
    (pack / "actions" / "w.yaml").write_text("ref: fz.w\nworkflow_file: workflows/w.workflow.yaml\n")
    (pack / "actions" / "workflows" / "w.workflow.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return pack


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=workflow, seed=st.integers(0, 2**16))
def test_any_workflow_file_gets_problems_or_runs_to_an_end(tmp_path: Path, body: dict, seed: int) -> None:
    if not (tmp_path / "core").exists():
        shutil.copytree(PACKS / "core", tmp_path / "core")
    pack = _pack(tmp_path, body)
    problems = validate_path(pack)
    assert all(p.line >= 1 and p.column >= 1 and p.message for p in problems), problems
    assert validate_path(pack / "actions" / "workflows" / "w.workflow.yaml") is not None
    if problems:
        return
    definition = load_pack(pack).actions["fz.w"].workflow
    assert definition is not None

    def outcome(d: Dispatch) -> Outcome:  # the same for the same attempt, different per seed
        pick = zlib.crc32(f"{seed}:{d.key}".encode()) % 3
        return ok({"x": pick}) if pick < 2 else bad("failed" if seed % 2 else "timed_out")

    finish = Rehearsal(definition, outcome).run().finish
    assert finish is not None and finish.status in ("completed", "failed"), finish
    if finish.status == "failed":
        assert isinstance(finish.error, str) and finish.error, finish
