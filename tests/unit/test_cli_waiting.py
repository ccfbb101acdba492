"""Following a run whose tasks wait for a timer: a task's `delay` before its first dispatch, or
the delay before a retry. The workflow view lists them in `waiting`; the CLI showed nothing for
a delayed task, and nothing between `task b (core.fail): failed` and its retry 20 s later. A
stand-in for the API answers as the real one does at each step (tests/service/test_waiting_tasks.py
reads those answers from the real stack)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from attune.cli import api_client
from attune.cli.api_client import _Watch, follow, progress_table
from attune.cli.output import make_console

RUN = {"id": 30, "action_ref": "wt.waits", "status": "running"}


def record(id_: int, name: str, status: str, *, attempt: int = 0, index: int | None = None,
           action: str = "wt.ok") -> dict[str, Any]:
    return {"id": id_, "action_ref": action, "status": status, "created": f"2026-12-07T10:00:{id_:02d}",
            "workflow_task": {"task_name": name, "retry_count": attempt, "task_index": index}}


class WaitingRun:
    """A run of `later` (delay 4 s) and `oops` (fails, retried once after 4 s), step by step:
    each step is one poll; the workflow view and the records of a step agree, as one read."""

    def __init__(self, later: str = "later") -> None:
        self.step = 0
        self.until = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
        self.retry_at = self.until + timedelta(seconds=5)
        delayed = {"task": later, "reason": "delay", "until": self.until.isoformat(), "retry_count": 0,
                   "task_index": None}
        retry = {"task": "oops", "reason": "retry", "until": self.retry_at.isoformat(), "retry_count": 1,
                 "task_index": None}
        oops = record(2, "oops", "running", action="wt.fail")
        self.steps: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = [  # (waiting, records)
            ([delayed], []),
            ([delayed], [oops]),
            ([delayed, retry], [{**oops, "status": "failed"}]),
            ([delayed, retry], [{**oops, "status": "failed"}]),
            ([], [{**oops, "status": "failed"}, record(3, later, "running"),
                  record(4, "oops", "running", attempt=1, action="wt.fail")]),
            ([], [{**oops, "status": "failed"}, record(3, later, "completed"),
                  record(4, "oops", "failed", attempt=1, action="wt.fail")]),
        ]
        self.views = 0

    def now(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return self.steps[min(self.step, len(self.steps) - 1)]

    def read(self, path: str, **_: Any) -> Any:
        if path == "/inquiries":
            return {"items": [], "pagination": {"total_items": 0}}
        assert path == "/executions/30/workflow", path
        self.views += 1
        waiting, records = self.now()
        return {"data": {"waiting": waiting, "tasks": records,
                         "task_graph": {"later": {"action": "wt.ok"}, "oops": {"action": "wt.fail"}}}}

    def children(self, _execution_id: int) -> list[dict[str, Any]]:
        return self.now()[1]

    def execution(self, _execution_id: int, wait: float = 0) -> dict[str, Any]:
        self.step += 1
        return {**RUN, "status": "failed" if self.step >= len(self.steps) - 1 else "running"}


@pytest.fixture(autouse=True)
def every_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Watch, "WAIT_EVERY", 0.0, raising=False)  # the view at every poll


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The terminal's time zone: India's (+05:30), so that local and UTC differ."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def lines_of(run: WaitingRun) -> list[str]:
    console = make_console()
    console.file = io.StringIO()  # not a terminal: line mode
    follow(run, dict(RUN), console, interval=0)  # type: ignore[arg-type]
    return console.file.getvalue().splitlines()


def test_following_in_lines_says_each_wait_once_with_when_it_ends() -> None:
    run = WaitingRun()
    lines = lines_of(run)
    delayed = f"task later: delayed until {run.until.isoformat()}"
    retrying = f"task oops: retrying at {run.retry_at.isoformat()} (attempt 2)"
    assert run.until.isoformat().endswith("+00:00")  # the API's UTC time, as the CLI prints times
    assert lines.count(delayed) == 1 and lines.count(retrying) == 1, lines
    # In order: the wait after the attempt that failed, then the attempt the timer started.
    assert lines.index(delayed) < lines.index("task later (wt.ok): running"), lines
    assert lines.index("task oops (wt.fail): failed") < lines.index(retrying) \
        < lines.index("task oops attempt 2 (wt.fail): running"), lines
    assert not any("running" in line for line in lines[:lines.index(delayed) + 1]), lines


def test_a_task_name_in_a_wait_is_shown_with_its_bidi_mark_visible() -> None:
    lines = lines_of(WaitingRun(later="lat\u202eer"))
    assert any(line.startswith("task lat<U+202E>er: delayed until ") for line in lines), lines
    assert not any("\u202e" in line for line in lines), lines


def test_the_live_table_shows_delayed_and_retrying_never_running(monkeypatch: pytest.MonkeyPatch,
                                                                 zone: None) -> None:
    """In a terminal: each frame as drawn (the frames Live draws depend on its refresh timer)."""
    frames: list[str] = []

    def drawn(*args: Any, **kwargs: Any) -> Any:
        table = progress_table(*args, **kwargs)
        shot = Console(width=200, record=True, file=io.StringIO())
        shot.print(table)
        frames.append(shot.export_text())
        return table

    monkeypatch.setattr(api_client, "progress_table", drawn)
    run = WaitingRun()
    console = make_console()
    console.file = io.StringIO()
    console._force_terminal = True  # as a terminal (Live)
    assert console.is_terminal
    follow(run, dict(RUN), console, interval=0)  # type: ignore[arg-type]

    local = run.until.astimezone().strftime("%H:%M:%S")
    retry_local = run.retry_at.astimezone().strftime("%H:%M:%S")
    assert local != run.until.strftime("%H:%M:%S")  # local time, not UTC
    first = frames[0]
    row = next(line for line in first.splitlines() if "later" in line)
    assert "wt.ok" in row and "delayed until " + local + " (in " in row and "running" not in row, first
    retrying = frames[2]
    row = [line for line in retrying.splitlines() if "oops" in line]
    assert "failed" in row[0] and f"retrying attempt 2 at {retry_local} (in " in row[1], retrying
    assert "wt.fail" in row[1] and " 2 " in row[1], retrying  # its action and its attempt
    started = frames[4]
    assert "delayed" not in started and "retrying" not in started, started


def test_a_wait_is_not_shown_once_the_records_have_moved_on_since_the_view() -> None:
    """The view is read at most every WAIT_EVERY s; the records each poll: a wait the view
    still lists is not shown once its task runs again, or has a record the view had not."""
    watch = _Watch(WaitingRun(), RUN)  # type: ignore[arg-type]
    watch.waiting = [{"task": "b", "reason": "retry", "until": "2026-12-07T10:00:20+00:00",
                      "retry_count": 1, "task_index": None},
                     {"task": "m", "reason": "retry", "until": "2026-12-07T10:00:20+00:00",
                      "retry_count": 1, "task_index": 3}]
    watch._view_ids = {1, 5, 6}
    failed = record(1, "b", "failed")
    items = [record(5, "m", "failed", index=3), record(6, "m", "running", index=4)]
    assert watch.waits([failed, *items]) == watch.waiting  # another item runs: item 3 still waits
    assert watch.waits([failed, record(2, "b", "running", attempt=1), *items]) == watch.waiting[1:]
    assert watch.waits([failed, record(2, "b", "completed", attempt=1)]) == watch.waiting[1:]
    assert watch.waits([failed, *items, record(7, "m", "completed", index=3, attempt=1)]) == watch.waiting[:1]


def test_a_plain_action_reads_no_workflow_view_after_its_404() -> None:
    class Plain:
        views = 0

        def read(self, path: str, **_: Any) -> Any:
            self.views += 1
            raise api_client.ApiError(404, "execution 30 is not a workflow execution")

    plain = Plain()
    watch = _Watch(plain, RUN)  # type: ignore[arg-type]
    for _ in range(3):
        watch.read_waits(RUN)
    assert plain.views == 1 and watch.waiting == []


def test_the_wait_cell_reads_a_long_wait_and_one_past_due() -> None:
    now = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)
    wait = {"task": "x", "reason": "delay", "retry_count": 0, "task_index": None}
    cell = api_client._wait_cell
    assert cell({**wait, "until": "2026-12-07T10:04:05+00:00"}, now).plain.endswith("(in 4m 05s)")
    assert cell({**wait, "until": "2026-12-07T09:59:59+00:00"}, now).plain.endswith("(due)")
    later = cell({**wait, "until": "2026-12-19T10:00:00+00:00"}, now).plain
    assert later.startswith("delayed until 2026-12-") and later.endswith("(in 12d 0h)"), later
    assert cell({**wait, "until": "soon\u202e"}, now).plain == "delayed until soon<U+202E>"
