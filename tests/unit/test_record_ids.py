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


async def test_a_run_recorded_before_the_whole_block_asks_ahead_below_low() -> None:
    """Runs whose history predates IDS_BLOCK_AHEAD replay as they ran: ahead below LOW only,
    and a parent sharing its last id does not ask for the children after."""
    api = Api()
    ids = RecordIds([1, 2], api.ask, Clock(), whole_block=lambda: False)
    assert [ids.take(), ids.take()] == [1, 2]
    await settle()
    assert api.asked == []
    assert ids.take() is None  # one more than it started with: its worker claims its id,
    await settle()  # and the run asks for a block while it goes on
    assert api.asked == [BLOCK] and ids.ahead
    taken = [ids.take() for _ in range(BLOCK - LOW)]
    assert taken == list(range(1000, 1000 + BLOCK - LOW)) and api.asked == [BLOCK]
    ids.take()  # fewer than LOW left: the next block before the last ones are gone
    await settle()
    assert api.asked == [BLOCK, BLOCK]
    rest = [ids.take() for _ in range(LOW - 1 + BLOCK)]
    assert None not in rest and len(set(rest)) == len(rest)
    quiet = Api()
    parent = RecordIds([1, 2], quiet.ask, Clock(), whole_block=lambda: False)
    assert parent.share(5) == [1, 2]
    await settle()
    assert quiet.asked == []


async def test_a_run_that_needs_more_keeps_a_whole_block_ahead() -> None:
    """A with_items workflow task that sees 100 attempts end dispatches 100 at once: with a
    block ahead, once the first block came, no burst of up to a block goes without ids."""
    api = Api()
    asked_whether: list[bool] = []

    def whole_block() -> bool:
        asked_whether.append(True)
        return True

    ids = RecordIds([1, 2], api.ask, Clock(), whole_block)
    assert [ids.take(), ids.take()] == [1, 2] and asked_whether == []  # never needed: never asked
    assert ids.take() is None
    await settle()
    assert api.asked == [BLOCK]
    assert ids.take() == 1000  # 99 left, less than a block: the next one comes now
    await settle()
    assert api.asked == [BLOCK, BLOCK] and asked_whether
    for _ in range(5):  # bursts of a block, each followed by the ask it triggers
        burst = [ids.take() for _ in range(BLOCK)]
        assert None not in burst
        await settle()
    assert len(api.asked) == 7


async def test_a_child_starts_with_its_parents_ids_and_asks_for_what_they_lack() -> None:
    api = Api()
    parent = RecordIds([1, 2, 3, 4, 5], api.ask, Clock())
    child = RecordIds(parent.share(3), api.ask, Clock())
    assert [child.take() for _ in range(3)] == [1, 2, 3]
    assert parent.take() == 4
    await settle()
    assert api.asked == []  # it never lacked one
    short = RecordIds(parent.share(4), api.ask, Clock())  # the parent had one left:
    assert short.left() == [5] and short.take() == 5
    await settle()
    assert api.asked == [BLOCK]  # it asks for the child after (the next slice)
    after = RecordIds(parent.share(4), api.ask, Clock())
    assert after.left() == [1000, 1001, 1002, 1003]
    await settle()
    assert api.asked == [BLOCK, BLOCK]  # and, having needed a block, keeps one ahead
    assert child.take() is None
    await settle()
    assert api.asked == [BLOCK, BLOCK, BLOCK]  # the child, once it lacked one


async def test_a_parent_starting_a_slice_has_a_block_ready_for_the_next() -> None:
    api = Api()
    parent = RecordIds([1, 2, 3], api.ask, Clock())
    first = RecordIds(parent.share(3), api.ask, Clock())  # all it wanted: no ask of its own
    parent.expect_more()
    await settle()
    assert first.left() == [1, 2, 3] and api.asked == [BLOCK]
    assert parent.share(BLOCK) == list(range(1000, 1000 + BLOCK))  # the next slice: a whole block
    old = RecordIds([1], api.ask, Clock(), whole_block=lambda: False)
    old.expect_more()  # recorded before the change: as it ran then
    never = RecordIds(None, api.ask, Clock())
    never.expect_more()  # started without the API
    await settle()
    assert len(api.asked) == 2  # only the parent's own top-up after sharing its block


async def test_a_slice_with_more_items_than_ids_asks_ahead_from_its_first_attempt() -> None:
    api = Api()
    ids = RecordIds(list(range(1, 101)), api.ask, Clock())
    ids.will_take(500)
    first_burst = [ids.take() for _ in range(BLOCK)]
    await settle()
    assert None not in first_burst and api.asked == [BLOCK]  # asked at its first attempt
    assert None not in [ids.take() for _ in range(BLOCK)]  # the second burst has its ids
    enough = RecordIds([1, 2, 3], api.ask, Clock())
    enough.will_take(3)
    assert [enough.take() for _ in range(3)] == [1, 2, 3]
    old = RecordIds([1], api.ask, Clock(), whole_block=lambda: False)
    old.will_take(500)
    assert old.take() == 1
    await settle()
    assert len(api.asked) == 2  # the first one's two blocks ahead; the others asked nothing


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
