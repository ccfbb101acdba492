"""Readers waiting for a record to change instead of polling it (`GET /executions/{id}?wait=`).

Waiters are kept by execution id: a write wakes only the readers of the rows it touched, so
hundreds of waiting clients cost nothing per unrelated write. Writes this notifier does not see
(another API's mirror, a cancel) are found by one sweep of every waited row a second (see
`Mirror.wait_for_change`), not by each reader re-reading its row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class ChangeNotifier:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Future[None]]] = {}

    async def wait(self, execution_id: int, timeout: float) -> None:
        """Return after the next change to this execution's row, or after `timeout`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(execution_id, set())
        waiting.add(waiter)
        try:
            # asyncio.wait, not wait_for: it never swallows a cancel of the waiting task
            # (CPython gh-86296 on Python < 3.12).
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiting.discard(waiter)
            if not waiting and self._waiters.get(execution_id) is waiting:
                del self._waiters[execution_id]

    def changed(self, execution_ids: Iterable[int]) -> None:
        """Rows with these ids were written: wake their readers."""
        for execution_id in execution_ids:
            for waiter in self._waiters.get(execution_id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def waited(self) -> list[int]:
        """The execution ids someone waits for now."""
        return [execution_id for execution_id, waiting in self._waiters.items() if waiting]

    @property
    def waiting(self) -> int:
        """Readers waiting now (for tests and health)."""
        return sum(len(w) for w in self._waiters.values())
