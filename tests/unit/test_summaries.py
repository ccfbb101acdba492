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
