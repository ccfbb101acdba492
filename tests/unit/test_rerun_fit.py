"""A re-run from failed tasks against a workflow edited since the run (workflows/rerun.py):
which edits break the kept state (named), and which keep working."""

from __future__ import annotations

from typing import Any

from attune.workflows.definition import WorkflowDefinition
from attune.workflows.graph import TaskGraph
from attune.workflows.rerun import misfits


def wf(*tasks: dict) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate({"version": "1.0", "tasks": list(tasks)})


def t(name: str, *then: str, **extra: Any) -> dict:
    return {"name": name, "action": "core.echo", **({"next": [{"do": list(then)}]} if then else {}), **extra}


def graph(definition: WorkflowDefinition) -> dict:
    return TaskGraph.of(definition).describe(definition)


RAN = graph(wf(t("pre", "flaky"), t("flaky", "post"), t("post")))


def found(definition: WorkflowDefinition, kept: list[str], rerun: list[str], ran: dict = RAN) -> dict:
    return {m.task: m.why for m in misfits(definition, ran, kept, rerun)}


def test_a_renamed_kept_start_task_is_named_twice_as_lost_and_as_never_run():
    """The QA repro: pre renamed prep. The re-run dropped pre's result without a word and never
    ran prep (a start task), so post failed reading task.prep."""
    edited = wf(t("prep", "flaky"), t("flaky", "post"), t("post", input={"msg": "{{ task.prep.data.msg }}"}))
    assert found(edited, ["pre"], ["flaky"]) == {
        "pre": "succeeded and would be kept, but the workflow no longer has a task of that name",
        "prep": "is new (the failed run's workflow had no task of that name) and is a start task: "
                "a re-run from the failed tasks would never run it"}


def test_edits_that_keep_the_kept_state_valid_are_no_misfits():
    failed_input = wf(t("pre", "flaky"), t("flaky", "post", input={"fixed": True}), t("post"))
    after_failed = wf(t("pre", "flaky"), t("flaky", "post"), t("post", "report"), t("report"))
    assert found(failed_input, ["pre"], ["flaky"]) == {}
    assert found(after_failed, ["pre"], ["flaky"]) == {}


def test_a_failed_task_the_workflow_lost_is_named():
    assert found(wf(t("pre", "post"), t("post")), ["pre"], ["flaky"]) == {
        "flaky": "failed and would run again, but the workflow no longer has a task of that name"}


def test_a_new_task_before_the_failed_one_or_beside_it_after_a_kept_one_is_named():
    between = wf(t("pre", "check"), t("check", "flaky"), t("flaky", "post"), t("post"))
    beside = wf(t("pre", "flaky", "notify"), t("notify"), t("flaky", "post"), t("post"))
    assert "leads to 'flaky'" in found(between, ["pre"], ["flaky"])["check"]
    assert "follows kept task 'pre'" in found(beside, ["pre"], ["flaky"])["notify"]


def test_a_new_task_after_a_branch_the_run_did_not_take_is_no_misfit():
    """a succeeded, so its failure branch (alert) never ran: a task added after alert would not
    have run either, and the kept state still fits."""
    ran = graph(wf(t("a", next=[{"when": "{{ succeeded() }}", "do": ["flaky"]},
                                {"when": "{{ failed() }}", "do": ["alert"]}]), t("alert"), t("flaky")))
    edited = wf(t("a", next=[{"when": "{{ succeeded() }}", "do": ["flaky"]},
                             {"when": "{{ failed() }}", "do": ["alert"]}]), t("alert", "page"), t("page"), t("flaky"))
    assert found(edited, ["a"], ["flaky"], ran) == {}


def test_a_loop_re_run_unchanged_is_no_misfit():
    loop = {"when": "{{ i < 3 }}", "do": ["a", "b"]}
    d = WorkflowDefinition.model_validate({"version": "1.0", "vars": {"i": 0}, "tasks": [
        t("start", "a", "b"), t("a", "j"), t("b", "j"), t("j", join="all", next=[loop])]})
    assert found(d, ["start", "a", "j"], ["b"], graph(d)) == {}


def test_without_the_runs_graph_only_lost_tasks_are_named():
    edited = wf(t("prep", "flaky"), t("flaky", "post"), t("post"))
    assert list(found(edited, ["pre"], ["flaky"], ran={})) == ["pre"]
