"""The execution ids a run gives its task attempts (records/reserved_ids.py, issue 13).

A run submitted through the API starts with one id per task of its definition, a with_items
task counting its concurrency (a nested run: as many from its parent's; a slice of with_items:
one per item), so a run whose tasks each run once never asks for more. A run that needs more (loops,
with_items, retries) asks the API for a block, with an activity on the orchestrators' queue,
when an attempt finds none left, and from then on before fewer than a block remain: a with_items
workflow task that sees 100 attempts end dispatches 100 more at once. A parent that cannot give a
child all it wants, or that starts a slice of a with_items (more slices follow), asks for a block
for the children after (the second slice of a with_items started with none). An attempt
dispatched while no id is left (a burst, the API down or slow) goes without
one: its runtime worker claims its id as before. A run started without the API (`--direct`)
never asks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

BLOCK = 100  # ids per request: a with_items slice keeps up to 100 attempts in flight
LOW = 25  # before `whole_block` (runs recorded before it): ask ahead when fewer than this remain
RETRY_AFTER = timedelta(seconds=30)  # after the API gave none, go without for this long


class RecordIds:
    """No Temporal here: the driver passes in how to ask and its clock (workflow.now)."""

    def __init__(self, ids: list[int] | None, ask: Callable[[int], Awaitable[list[int]]],
                 now: Callable[[], datetime], whole_block: Callable[[], bool] = lambda: True) -> None:
        """`whole_block`: whether to keep a whole block ahead and ask for the children after
        the last id is shared; asked only where the answer changes what happens (the workflow
        answers with a patch, so runs recorded before keep asking as they did)."""
        self.enabled = ids is not None
        self.free: deque[int] = deque(ids or [])
        self.ahead = False  # ask before the ids run out: once the run has needed a block
        self._ask, self._now, self._whole_block = ask, now, whole_block
        self._asking: asyncio.Task[None] | None = None
        self._quiet_until: datetime | None = None

    def take(self) -> int | None:
        """An id for the attempt being dispatched, or None (its worker claims one)."""
        if not self.enabled:
            return None
        taken = self.free.popleft() if self.free else None
        self._top_up(short=taken is None)
        return taken

    def share(self, count: int) -> list[int] | None:
        """Up to `count` ids for a child run to start with (None: it never asks either).
        What the parent lacks the child asks for itself."""
        if not self.enabled:
            return None
        shared = [self.free.popleft() for _ in range(min(count, len(self.free)))]
        # A child that got fewer than it wanted is likely followed by another (the next slice).
        self._top_up(short=len(shared) < count and self._whole_block())
        return shared

    def will_take(self, count: int) -> None:
        """The run knows it will take `count` ids in all (a slice: one per item): if that is
        more than it has, ask ahead from the first, so its second burst finds ids too."""
        if self.enabled and count > len(self.free) and self._whole_block():
            self.ahead = True

    def expect_more(self) -> None:
        """More children will want ids (the next slices of a with_items): have a block ready
        for them. The last slice's block goes unused: gaps in the numbering, as any unused id."""
        if self.enabled and len(self.free) < BLOCK and self._whole_block():
            self._top_up(short=True)

    def _top_up(self, *, short: bool) -> None:
        """Ask for a block when an attempt found none (`short`), or ahead once the run has
        needed one: not when the last of the first ids goes (the run may need no more)."""
        wanted = short or (self.ahead and len(self.free) < LOW)
        if not wanted and self.ahead and len(self.free) < BLOCK and self._asking is None:
            wanted = self._whole_block()
        if wanted and self._asking is None and (self._quiet_until is None or self._now() >= self._quiet_until):
            self._asking = asyncio.create_task(self._refill())

    def left(self) -> list[int] | None:
        """What a run continued as new takes along (None: it never asks)."""
        return list(self.free) if self.enabled else None

    async def _refill(self) -> None:
        try:
            got = await self._ask(BLOCK)
        except Exception:  # noqa: BLE001 - an id is a convenience: the run goes on without
            got = []
        finally:
            self._asking = None
        self.free.extend(got)
        self.ahead = self.ahead or bool(got)  # a run that needed a block will likely need more
        self._quiet_until = None if got else self._now() + RETRY_AFTER
