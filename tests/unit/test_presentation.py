"""How a run reads in the Temporal Web UI: the task table of its "current details"."""

from __future__ import annotations

from attune.engine.presentation import md, task_table
from attune.workflows.commands import Dispatch
from attune.workflows.conductor import Conductor
from attune.workflows.definition import WorkflowDefinition


def test_a_task_name_is_shown_as_written_not_read_as_markdown():
    """Task names are free text: a `|` would split the table's row, `*x*` turn italic."""
    definition = WorkflowDefinition.model_validate({"version": "1.0", "tasks": [
        {"name": "build | *ship* <b>", "action": "core.echo"},
        {"name": "plain_name", "action": "core.noop"},
    ]})
    conductor = Conductor(definition, {})
    started = [c for c in conductor.start() if isinstance(c, Dispatch)]
    assert len(started) == 2
    table = task_table(conductor)
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 2
    for row in rows:  # five cells, whatever the name holds
        assert len(row.replace("\\|", "").split("|")) == 7, row
    assert r"| build \| \*ship\* \<b\> | core.echo | running |" in table
    assert r"| plain\_name | core.noop |" in table


def test_md_keeps_text_on_one_line_and_escapes_what_markdown_reads():
    assert md("a\nb") == "a b"
    assert md(r"x\y `c` [l](u) ~s~") == r"x\\y \`c\` \[l\](u) \~s\~"
