"""How a run hands out reserved execution ids and asks for more (engine/record_ids.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from attune.engine.record_ids import BLOCK, LOW, RETRY_AFTER, RecordIds


class Api:
    def __init__(self, *, answers: bool = True) -> None:
        self.asked: list[int] = []
        self.answers = answers
        self.next = 1000

    async def ask(self, count: int) -> list[int]:
        self.asked.append(count)
        if not self.answers:
            raise ConnectionError("no API")
        ids = list(range(self.next, self.next + count))
        self.next += count
        return ids


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1)

    def __call__(self) -> datetime:
        return self.at


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_a_run_whose_tasks_run_once_never_asks() -> None:
    """It starts with one id per task: nothing to ask, no gap left in the numbering."""
    api = Api()
    ids = RecordIds([1, 2, 3], api.ask, Clock())
    assert [ids.take() for _ in range(3)] == [1, 2, 3]
    await settle()
    assert api.asked == [] and ids.left() == []


async def test_a_run_that_needs_more_asks_then_asks_ahead() -> None:
    api = Api()
    ids = RecordIds([1, 2], api.ask, Clock())
    assert [ids.take(), ids.take()] == [1, 2]
    await settle()
    assert api.asked == []
    assert ids.take() is None  # one more than it started with: its worker claims its id,
    await settle()  # and the run asks for a block while it goes on
    assert api.asked == [BLOCK] and ids.ahead
    taken = [ids.take() for _ in range(BLOCK - LOW)]
    assert taken == list(range(1000, 1000 + BLOCK - LOW)) and api.asked == [BLOCK]
    ids.take()  # fewer than LOW left: the next block before the last ids are gone
    await settle()
    assert api.asked == [BLOCK, BLOCK]
    rest = [ids.take() for _ in range(LOW - 1 + BLOCK)]
    assert None not in rest and len(set(rest)) == len(rest)


async def test_a_child_starts_with_its_parents_ids_and_asks_for_what_they_lack() -> None:
    api = Api()
    parent = RecordIds([1, 2, 3, 4, 5], api.ask, Clock())
    child = RecordIds(parent.share(3), api.ask, Clock())
    assert [child.take() for _ in range(3)] == [1, 2, 3]
    assert parent.take() == 4
    short = RecordIds(parent.share(4), api.ask, Clock())  # the parent had one left
    assert short.left() == [5] and short.take() == 5
    await settle()
    assert api.asked == []
    assert short.take() is None and child.take() is None
    await settle()
    assert api.asked == [BLOCK, BLOCK]  # each of them, once it lacked one


async def test_without_an_api_tasks_go_without_and_it_asks_again_later() -> None:
    api, clock = Api(answers=False), Clock()
    ids = RecordIds([], api.ask, clock)
    assert ids.take() is None
    await settle()
    assert [ids.take() for _ in range(5)] == [None] * 5
    await settle()
    assert api.asked == [BLOCK]  # not once per task
    clock.at += RETRY_AFTER + timedelta(seconds=1)
    api.answers = True
    assert ids.take() is None
    await settle()
    assert ids.take() == 1000


async def test_a_run_started_without_the_api_never_asks() -> None:
    api = Api()
    ids = RecordIds(None, api.ask, Clock())
    assert ids.take() is None and ids.share(4) is None and ids.left() is None
    await settle()
    assert api.asked == []


async def test_what_is_left_goes_along_when_the_run_continues_as_new() -> None:
    ids = RecordIds([7, 8, 9], Api().ask, Clock())
    assert ids.take() == 7
    await settle()
    assert ids.left()[:2] == [8, 9]
