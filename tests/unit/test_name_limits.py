"""Names that end up in keys and Temporal ids (spec §1 naming, §2 tasks).

- A task name with `/` never got its core.ask answered (record keys are split on their last
  `/`); one with a line break made its keys unparsable. Both are load errors at the name now;
  `.`, `#`, `[`, `]`, `:` keep working (keys are parsed from their end).
- A task name long enough to push a Temporal id past 1,000 characters passed validation and the
  run hung (BadScheduleActivityAttributes / BadStartChildExecutionAttributes): one limit,
  MAX_TASK_NAME_LENGTH, for tasks and parallel sub-tasks, chosen so that the longest ids fit
  (the sums are below).
- `ref: "nl2.x\\n"` and `ref: "nlpk\\n"` registered: `$` also matches before a final newline.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from attune.api.schemas import ActionCreate, WorkflowCreate
from attune.contract import new_workflow_id
from attune.packs import parse_workflow_text, validate_path
from attune.packs.schema import ACTION_NAME, ACTION_REF, MAX_ACTION_REF, PACK_REF
from attune.workflows.definition import MAX_TASK_NAME_LENGTH, WorkflowDefinition
from attune.workflows.keys import AttemptKey, attempt_of, child_workflow_id, record_key

TEMPORAL_ID_BYTES = 1000  # Temporal refuses longer workflow and activity ids (Go len: bytes)
KEY_COLUMN = 512  # executions.key, executions.workflow_id, workflow_executions.workflow_id


def problems(text: str) -> list[tuple[int | None, int | None, str]]:
    _, found = parse_workflow_text(textwrap.dedent(text).lstrip())
    return [(p.line, p.column, p.message) for p in found]


def test_a_slash_in_a_task_or_sub_task_name_is_a_load_error_at_the_name():
    found = problems("""
        version: "1.0"
        tasks:
          - name: approve/deploy
            action: core.ask
            next: [{do: [both]}]
          - name: both
            type: parallel
            tasks:
              - {name: a/b, action: core.noop}
    """)
    rule = "may not contain '/' (it separates a workflow id from a task's attempt in execution keys)"
    assert found == [(3, 11, f"task name 'approve/deploy' {rule}"), (9, 16, f"task name 'a/b' {rule}")]


@pytest.mark.parametrize("name, code", [("a\\nb", "000A"), ("a\\n", "000A"), ("a\\rb", "000D"),
                                        ("a\\0b", "0000"), ("a\\tb", "0009")])
def test_a_line_break_or_control_character_in_a_task_name_is_a_load_error(name, code):
    found = problems(f"""
        version: "1.0"
        tasks:
          - name: "{name}"
            action: core.noop
    """)
    assert len(found) == 1 and found[0][:2] == (3, 11), found
    assert found[0][2].endswith(f"may not contain a line break or other control character (U+{code})")


NAMES_THAT_WORK = ["x.1#0", "a[0]", "b[0:3]", "c.", "d:e", "#", "e.5[2]#3", "ünï côdé", "🚀" * 3]


def test_names_with_the_punctuation_of_keys_load_and_their_keys_round_trip():
    tasks = "\n".join(f'  - {{name: "{n}", action: core.noop}}' for n in NAMES_THAT_WORK)
    assert problems(f'version: "1.0"\ntasks:\n{tasks}\n') == []
    root = new_workflow_id("pk.wf", 12)
    for name in NAMES_THAT_WORK:
        for key in (AttemptKey(name, 3, 2), AttemptKey(name, 0, index=4), AttemptKey(name, 1, 1, span=(0, 5))):
            nested = child_workflow_id(child_workflow_id(root, root, key), root, key)
            for workflow_id in (root, nested):
                assert AttemptKey.parse(attempt_of(record_key(workflow_id, key))) == key


def test_a_task_name_over_the_limit_is_a_load_error_for_tasks_and_sub_tasks():
    longest, over = "t" * MAX_TASK_NAME_LENGTH, "u" * (MAX_TASK_NAME_LENGTH + 1)

    def named(name: str) -> str:  # a task and a parallel sub-task of that length
        return f"""
        version: "1.0"
        tasks:
          - name: {name}
            action: core.noop
            next: [{{do: [p]}}]
          - name: p
            type: parallel
            tasks:
              - {{name: s{name[1:]}, action: core.noop}}
    """
    assert problems(named(longest)) == []
    found = problems(named(over))
    limit = f"is {MAX_TASK_NAME_LENGTH + 1} characters long, over the limit of {MAX_TASK_NAME_LENGTH}"
    assert found == [(3, 11, f"task name '{'u' * 40}…' {limit} (it is part of the run's ids and keys)"),
                     (9, 16, f"task name 's{'u' * 39}…' {limit} (it is part of the run's ids and keys)")]


def test_the_longest_ids_fit_temporal_and_the_records():
    """The worst case: an action ref of MAX_ACTION_REF, the largest execution id, task names of
    MAX_TASK_NAME_LENGTH characters of 4 bytes each, and iterations, item indexes and attempts
    of 12 digits, in a run nested two levels deep or more (ids stop growing there)."""
    ref = "p" * 64 + "." + "a" * (MAX_ACTION_REF - 65)
    big = 10**12 - 1
    for execution_id, name in ((2**31 - 1, "t" * MAX_TASK_NAME_LENGTH),  # PostgreSQL's integer ids
                               (2**63 - 1, "🚀" * MAX_TASK_NAME_LENGTH)):  # SQLite's, widest bytes
        root = new_workflow_id(ref, execution_id)
        key = AttemptKey(name, big, big, span=(big - 1, big))
        child = child_workflow_id(root, root, key)
        deeper = [child]
        for _ in range(3):
            deeper.append(child_workflow_id(deeper[-1], root, key))
        assert len(deeper[-1]) == len(deeper[1])  # no growth past the second level
        ids = [str(key), *deeper]  # the activity id and the child workflow ids
        assert max(len(i.encode()) for i in ids) <= TEMPORAL_ID_BYTES - 350
        if execution_id < 2**31:  # the records' columns (SQLite does not enforce lengths)
            longest = max([*deeper, *(record_key(w, key) for w in [root, *deeper])], key=len)
            assert len(longest) <= KEY_COLUMN - 10, len(longest)


def test_models_keep_names_the_loader_refuses_so_stored_runs_replay():
    """The rules are the loader's: a catalog stored in a run's history deserializes as it was."""
    definition = WorkflowDefinition.model_validate({"version": "1", "tasks": [
        {"name": "approve/deploy", "action": "core.ask"}, {"name": "x" * 990, "action": "core.noop"},
        {"name": "a\nb", "action": "core.noop"}]})
    assert [t.name for t in definition.tasks] == ["approve/deploy", "x" * 990, "a\nb"]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def test_a_pack_ref_with_a_final_newline_is_refused(tmp_path):
    for key in ("ref", "name"):
        pack = write(tmp_path / key, {"pack.yaml": f'{key}: "nlpk\\n"\nversion: "1.0"\n'})
        found = [(p.line, p.message) for p in validate_path(pack)]
        assert found == [(1, f"pack {key} 'nlpk\\n' is invalid: a lowercase letter first, then "
                             "lowercase letters, digits, '-' or '_' (no dots)")], found


def test_action_refs_and_names_with_a_final_newline_are_refused(tmp_path):
    pack = write(tmp_path / "nl2", {
        "pack.yaml": 'ref: nl2\nversion: "1.0"\ndependencies: {"core\\n": null}\n',
        "actions/x.yaml": 'ref: "nl2.x\\n"\nrunner_type: shell\nentry_point: x.sh\n',
        "actions/y.yaml": 'name: "y\\n"\nrunner_type: shell\nentry_point: x.sh\n',
        "actions/x.sh": "echo hi\n",
        "actions/flow.yaml": "ref: nl2.flow\nworkflow_file: workflows/flow.workflow.yaml\n",
        "actions/workflows/flow.workflow.yaml": """
            version: "1.0"
            tasks:
              - name: a
                action: "core.noop\\n"
        """,
    })
    found = sorted((Path(p.file).name, p.line, p.message) for p in validate_path(pack))
    assert found == [
        ("flow.workflow.yaml", 4, "'action' must be an action ref '<pack>.<name>', got 'core.noop\\n'"),
        ("pack.yaml", 3, "dependency 'core\\n' is not a pack ref"),
        ("x.yaml", 1, "action ref 'nl2.x\\n' must be 'nl2.<name>' (name: letters, digits, '_' or '-')"),
        ("y.yaml", 1, "'name' must be letters, digits, '_' or '-', got 'y\\n'"),
    ], found


def test_every_whole_name_pattern_refuses_a_final_newline():
    for pattern, good in ((PACK_REF, "nlpk"), (ACTION_NAME, "x"), (ACTION_REF, "nl2.x")):
        assert pattern.fullmatch(good) and pattern.match(good)
        assert pattern.match(good + "\n") is None  # api/services/definitions.py calls .match
    for model, field in ((ActionCreate, {"runner_type": "shell", "entry_point": "x.sh"}),
                         (WorkflowCreate, {"yaml": "version: '1'"})):
        model.model_validate({"ref": "nl2.x", **field})
        with pytest.raises(ValidationError):  # pydantic's regex: `$` is the end of the text
            model.model_validate({"ref": "nl2.x\n", **field})
