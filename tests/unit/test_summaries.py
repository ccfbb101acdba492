"""What the Temporal Web UI shows for a task stays within Temporal's limit on a summary (400
bytes by default): task names of up to 80 characters and refs of up to 200 made longer ones."""

from attune.engine.workflow import SUMMARY_BYTES, _capped


def test_a_summary_within_the_limit_is_kept_as_it_is() -> None:
    text = "deploy [3] attempt 2 · ops.deploy"
    assert _capped(text) == text
    exact = "x" * SUMMARY_BYTES
    assert _capped(exact) == exact


def test_a_longer_summary_is_cut_at_a_character_and_marked() -> None:
    text = "𝄞" * 80 + " · " + "a" * 200 + " (task " + "日" * 80 + ")"  # 4- and 3-byte characters
    capped = _capped(text)
    assert len(capped.encode()) <= SUMMARY_BYTES and capped.endswith("…")
    assert text.startswith(capped[:-1])


def test_a_loop_s_later_runs_of_a_task_are_numbered() -> None:
    """A 500-step loop's activities all read `step · core.noop` in the Temporal Web UI."""
    from attune.engine.workflow import _summary
    from attune.workflows.commands import Dispatch
    from attune.workflows.keys import AttemptKey

    def summary(iteration: int, index: int | None = None, attempt: int = 0) -> str:
        key = AttemptKey(task="step", iteration=iteration, index=index, attempt=attempt)
        return _summary(Dispatch(key=key, action_ref="core.noop", input={}, timeout_seconds=None,
                                 triggered_by=None))

    assert summary(iteration=1) == "step · core.noop"
    assert summary(iteration=37) == "step #37 · core.noop"
    assert summary(iteration=2, index=4, attempt=1) == "step #2 [4] attempt 2 · core.noop"
