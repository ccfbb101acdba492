"""The records mirror's scheduler: what to read from the engine, and when (spec §8).

A background task reads every non-terminal run (top-level and nested) for the record changes
since the position it last committed, and hands them to the SQL functions in `apply.py`. Reads
are rate-limited when many runs are in flight, a long poll per top-level run settles its end at
once, and outages of the engine or the database are logged once and ridden out.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import math
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from attune.contract import EngineClient, RunRecord, WorkflowNotFound
from attune.records.db import Database
from attune.records.mirror import apply
from attune.records.mirror.apply import Target
from attune.records.mirror.notify import ChangeNotifier
from attune.statuses import TERMINAL, ExecutionStatus

log = logging.getLogger("attune.mirror")

ENGINE_CALL_TIMEOUT = 10.0  # seconds; a query no worker answers must not hang the mirror
# Each read of a running workflow starts with a describe, which costs the server and the API CPU
# the workers need. A run is read every tick while it changes, and for its first QUIET_AFTER
# quiet reads (the server showing it exactly as at its previous read); after that, half as often
# with each quiet read, down to once every QUIET_READ_EVERY seconds (the records' promise). Any
# change, or steering it (pause, resume, cancel, an inquiry's answer), puts it back on every tick.
# In all at most READS_PER_SECOND reads, the longest unread first: with more runs in flight than
# that allows, each is read less often than the promise (a core of server CPU went into 1,000
# describes a second). Ends are not delayed: completion watchers settle those at once.
READS_PER_SECOND = 200
QUIET_AFTER = 4
QUIET_READ_EVERY = 1.0
# Readers waiting for a run's end (`GET /executions/{id}?wait=`) are woken by this mirror's
# writes at once, and by one query a second over all waited rows for the ends written elsewhere
# (a cancel, another API's mirror). Each reader re-reading its own row every second cost the API
# more CPU than the mirror itself with 200 runs waited on.
SWEEP_EVERY = 1.0
# Rows written while an ended run's tree is being settled (Mirror._settle_tree): their readers are
# woken once the whole tree is written, not as the run's own row ends. Per asyncio task, so the
# other runs' writes meanwhile still wake theirs at once.
_held: contextvars.ContextVar[set[int] | None] = contextvars.ContextVar("attune_mirror_held", default=None)


class _EndedTree(Exception):
    """A pass read a top-level run that has ended: its tree is settled instead (Mirror._read)."""


class Mirror:
    def __init__(
        self,
        db: Database,
        client: Callable[[], Awaitable[EngineClient]],
        interval: float = 0.25,
        status_check_interval: float = 1.0,
    ) -> None:
        self.db = db
        self._client = client
        self.interval = interval
        self.status_check_interval = status_check_interval
        self.concurrency = 16  # workflows read at once; a slow one must not stall the rest
        self.changes = ChangeNotifier()
        self._last_status_check: dict[str, float] = {}
        self._last_read: dict[str, float] = {}
        self._quiet: dict[str, int] = {}  # workflow id -> its reads in a row that found it quiet
        self._warned: dict[str, str] = {}
        self._stuck: dict[str, str] = {}  # workflow id -> why, while its workflow task fails
        self._down: set[str] = set()  # "database"/"engine" while unreachable: log once per outage
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        # Completion watchers: a long poll per top-level workflow wakes the loop the moment it
        # closes, so the final status lands without waiting for the next tick.
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        # One read of a run at a time: a completion watcher and a pass may reach the same run
        # together, and two writers of the same new rows would collide on their keys.
        self._reading: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._telling = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="attune-mirror")
        return self._task

    async def stop(self) -> None:
        if self._sweeper is not None:  # it reads the database, which the caller disposes of next
            self._sweeper.cancel()
            await asyncio.wait({self._sweeper}, timeout=1.0)
        watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.cancel()
        if watchers:  # they write to the database, which the caller disposes of next
            await asyncio.wait(watchers, timeout=1.0)
        if self._task is None:
            return
        # The flag ends the loop even if a cancel is lost: on Python < 3.12 asyncio.wait_for can
        # swallow a cancellation that lands as its inner await finishes (CPython gh-86296),
        # and then `await task` here waited forever: an API shutdown that never ended.
        self._stopping = True
        self._wake.set()
        while not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
        self._task = None

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the mirror for the life of the API
                log.exception("mirror tick failed")
            if self._stopping:
                break
            woken = asyncio.ensure_future(self._wake.wait())
            try:  # asyncio.wait, not wait_for: it never cancels (or loses a cancel of) its own
                await asyncio.wait({woken}, timeout=self.interval)
            finally:
                woken.cancel()
            self._wake.clear()

    async def claim(self, record: RunRecord) -> int | None:
        """The row id of a task attempt that is about to start (its worker asks, so the action
        can know its execution id): written from `record` now if need be. A nested run the
        mirror has not read yet is read first, down from the top of its tree."""
        found = await asyncio.to_thread(apply.claim, self.db, record)
        if found is not None:
            return found
        client = await self._client()
        targets, _ = await asyncio.to_thread(apply.targets, self.db)
        for target in sorted((t for t in targets if record.workflow_id.startswith(t.workflow_id)),
                             key=lambda t: len(t.workflow_id)):
            await self._read(client, target)
        return await asyncio.to_thread(apply.claim, self.db, record)

    def poke(self) -> None:
        """Something changed that a pass must see now (e.g. an inquiry was answered)."""
        self._wake.set()

    async def deliver_inquiries(self, timeout: float = 5.0) -> None:
        """Tell waiting runs their inquiries' state now, before an answer's 200 goes out: a
        cancel sent right after it then reaches the run after the answer, not before (the run
        was cancelled with its inquiry recorded as answered). Best effort within `timeout`:
        what is not told here the outbox tells on a later pass."""
        try:
            await asyncio.wait_for(self._deliver_now(), timeout)
        except Exception as exc:  # noqa: BLE001 - the passes deliver it
            log.debug("inquiry delivery left to the mirror's passes: %r", exc)

    async def _deliver_now(self) -> None:
        client = await self._client()
        await self._tell_inquiries(client)

    async def _tell_inquiries(self, client: EngineClient) -> None:
        """Time out what is due, then tell every waiting run the state of its inquiry (the
        outbox of inquiry answers: what is told is noted, so an answer given while the engine
        was down reaches the run once it is back). One teller at a time (a request's and a
        pass's would tell the same run twice)."""
        async with self._telling:
            await self._tell_inquiries_once(client)

    async def _tell_inquiries_once(self, client: EngineClient) -> None:
        try:
            await self._write(apply.expire_inquiries)
            pending = await asyncio.to_thread(apply.deliveries, self.db)
        except SQLAlchemyError as exc:
            self._outage("database", exc)
            return
        for delivery in pending:
            try:
                await asyncio.wait_for(client.tell_inquiry(delivery.workflow_id, delivery.state),
                                       ENGINE_CALL_TIMEOUT)
            except WorkflowNotFound:
                pass  # the run is gone; its records settle the wait
            except Exception as exc:  # noqa: BLE001 - told again next pass
                self._warn_once(delivery.workflow_id, exc)
                continue
            await self._write(apply.told, delivery.execution_id, delivery.state["status"])
            self.freshen(delivery.workflow_id)

    async def wait_for_change(self, execution_id: int, timeout: float) -> None:
        """Return after the mirror's next write to this execution's row, once a sweep finds it
        ended or gone (written by someone else), or after `timeout`."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="attune-mirror-sweep")
        await self.changes.wait(execution_id, timeout)

    async def _sweep(self) -> None:
        """While anyone waits: wake the readers of waited rows that ended or went away."""
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            waited = self.changes.waited()
            if not waited:
                return  # the next waiter starts another
            try:
                running = await asyncio.to_thread(apply.still_running, self.db, waited)
            except SQLAlchemyError:
                continue  # the readers' own timeouts still end their waits
            self.changes.changed(set(waited) - running)

    async def _write(self, fn: Callable[..., Iterable[int]], *args: Any) -> None:
        """One write transaction (in a thread), then wake whoever waits for a row it touched."""
        changed = await asyncio.to_thread(fn, self.db, *args)
        held = _held.get()
        if held is None:
            self.changes.changed(changed)
        else:
            held.update(changed)

    # --- one pass ----------------------------------------------------------------------------
    async def tick(self) -> None:
        """Bring every non-terminal record up to date once."""
        try:
            client = await self._client()
        except Exception as exc:  # noqa: BLE001 - however it fails to connect, it is an outage
            self._outage("engine", exc)
            return
        self._recovered("engine")
        await self._tell_inquiries(client)
        seen: set[str] = set()
        budget = max(1, round(READS_PER_SECOND * self.interval))
        # Nested workflows discovered during a pass are synced in the same pass.
        for round_ in range(20):
            try:
                targets, stale = await asyncio.to_thread(apply.targets, self.db)
            except SQLAlchemyError as exc:
                self._outage("database", exc)
                return
            self._recovered("database")
            fresh = self._due([t for t in targets if t.workflow_id not in seen], budget, len(targets))
            budget -= len(fresh)
            for workflow_id, execution_id in stale if round_ == 0 else []:
                await self._check_requested(client, workflow_id, execution_id)
            if not fresh:
                return
            seen.update(t.workflow_id for t in fresh)
            self._watch(client, [t.workflow_id for t in fresh if t.top_level])
            limit = asyncio.Semaphore(self.concurrency)
            outcomes = await asyncio.gather(*(self._guarded(limit, client, t) for t in fresh),
                                            return_exceptions=True)
            for target, outcome in zip(fresh, outcomes, strict=True):
                # A write that met other writers' rows every time (see apply's again_on_conflict)
                # is not an outage: that run is read again next pass, the others go on now.
                if isinstance(outcome, SQLAlchemyError) and not isinstance(outcome, IntegrityError):
                    self._outage("database", outcome)
                    return
                if isinstance(outcome, Exception) and _is_connection_error(outcome):
                    self._outage("engine", outcome)
                    return
                if isinstance(outcome, Exception):
                    self._warn_once(target.workflow_id, outcome)
                else:
                    self._warned.pop(target.workflow_id, None)

    def _due(self, targets: list[Target], budget: int, in_flight: int) -> list[Target]:
        """At most `budget` targets to read now (see READS_PER_SECOND); forgets the ones that
        ended."""
        now = time.monotonic()
        due = [t for t in targets
               if now - self._last_read.get(t.workflow_id, -math.inf) >= self._gap(t.workflow_id)]
        if len(due) > budget:  # the longest unread first; the rest are still due next tick
            due = sorted(due, key=lambda t: self._last_read.get(t.workflow_id, -math.inf))[:budget]
        if len(self._last_read) > 4 * in_flight + 100:
            live = {t.workflow_id for t in targets}
            self._last_read = {w: at for w, at in self._last_read.items() if w in live}
            self._quiet = {w: n for w, n in self._quiet.items() if w in live}
        for target in due:
            self._last_read[target.workflow_id] = now
        return due

    def _gap(self, workflow_id: str) -> float:
        """Seconds between two reads of a run: none (every tick) while it changes or has been
        quiet for fewer than QUIET_AFTER reads, then a tick doubled for each further quiet read,
        at most QUIET_READ_EVERY; less half a tick, so that a tick's jitter never skips a read."""
        beyond = min(self._quiet.get(workflow_id, 0) - QUIET_AFTER + 1, 16)
        if beyond <= 0:
            return 0.0
        return min(self.interval * 2 ** beyond, QUIET_READ_EVERY) - self.interval / 2

    def freshen(self, workflow_id: str) -> None:
        """The run and its nested runs are about to change (steered, or told an inquiry's
        answer): read them at the next tick, and every tick until they go quiet again."""
        for known in [w for w in self._last_read if w == workflow_id or w.startswith(workflow_id + "/")]:
            self._quiet.pop(known, None)
            self._last_read.pop(known, None)

    def follow(self, workflow_id: str) -> None:
        """Watch a run this API has just started for its end from now, not from the next pass:
        a run shorter than a pass was otherwise settled a pass after its end (a 10 ms action
        answered `GET /executions/{id}?wait=` after ~270 ms)."""
        if self._task is not None and not self._stopping:
            self._watch(None, [workflow_id])

    def _watch(self, client: EngineClient | None, workflow_ids: list[str]) -> None:
        for workflow_id in workflow_ids:
            if workflow_id not in self._watchers:
                task = asyncio.create_task(self._await_close(client, workflow_id))
                self._watchers[workflow_id] = task

    async def _await_close(self, client: EngineClient | None, workflow_id: str) -> None:
        try:
            client = client or await self._client()
            await client.wait(workflow_id)
            # Settle this run now rather than in the next pass, which with hundreds of runs in
            # flight can take seconds to come round to it (its final read needs no worker).
            target = await asyncio.to_thread(apply.target_of, self.db, workflow_id)
            if target is not None:
                await self._settle_tree(client, target)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the regular passes still see the end
            await asyncio.sleep(self.interval)
        finally:
            self._watchers.pop(workflow_id, None)
        self._wake.set()

    async def _settle_tree(self, client: EngineClient, top: Target) -> None:
        """Read an ended top-level run's tree to its end: its nested runs first (they ended with
        it), then the run itself, then the nested runs only that read revealed; and only then
        wake the readers waiting for any of its rows. A reader told "completed" (GET ?wait=,
        `attune run`) then finds the whole tree recorded, not nested records still `running`
        until the next pass."""
        if top.wf_row_id is None:  # a plain action: no tree
            await self._read(client, top)
            return
        held = _held.set(set())
        try:
            await self._settle_nested_then(client, top)
        finally:
            changed = _held.get() or set()
            _held.reset(held)
            self.changes.changed(changed)

    async def _settle_nested_then(self, client: EngineClient, top: Target) -> None:
        seen: set[str] = set()
        for round_ in range(20):  # as a pass: nesting is bounded (max_nesting_depth)
            nested = await asyncio.to_thread(apply.nested_targets, self.db, top.workflow_id)
            fresh = [t for t in nested if t.workflow_id not in seen]
            if round_ and not fresh:
                return
            seen.update(t.workflow_id for t in fresh)
            revealed = False  # whether these reads wrote rows of nested runs not looked up yet
            for target in sorted(fresh, key=lambda t: -t.workflow_id.count("/")):  # deepest first
                try:
                    revealed |= await self._read(client, target)
                except Exception as exc:  # noqa: BLE001 - passes read it again; the run still ends
                    self._warn_once(target.workflow_id, exc)
                    revealed = True  # unknown: look again
            if round_ == 0:
                revealed |= await self._read(client, top)
            if not revealed:  # most trees: no second lookup of what cannot have changed
                return

    async def _guarded(self, limit: asyncio.Semaphore, client: EngineClient, target: Target) -> None:
        async with limit:
            await self._read(client, target)

    async def _read(self, client: EngineClient, target: Target) -> bool:
        """Bring one run's records up to date; True if that wrote records of nested runs."""
        lock = self._reading.get(target.workflow_id)
        if lock is None:
            lock = self._reading[target.workflow_id] = asyncio.Lock()
        async with lock:
            try:
                return await self._sync(client, target)
            except _EndedTree:
                pass
        await self._settle_tree(client, target)  # outside the lock: it reads this run again
        return True

    def _warn_once(self, workflow_id: str, exc: Exception) -> None:
        """A workflow that cannot be read (e.g. no worker answers its query) is retried every
        tick; say so once, not four times a second."""
        text = f"{type(exc).__name__}: {exc}"
        if self._warned.get(workflow_id) != text:
            self._warned[workflow_id] = text
            log.warning("mirror: cannot read %s: %s", workflow_id, text)

    async def _sync(self, client: EngineClient, target: Target, *, final: bool = False) -> bool:
        seq, snap, nested = target.seq, None, False
        while True:
            try:
                snap = await asyncio.wait_for(client.snapshot(target.workflow_id, since=seq),
                                              ENGINE_CALL_TIMEOUT)
            except WorkflowNotFound:
                await self._not_found(client, target)
                return nested
            if snap.stuck is not None or target.workflow_id in self._stuck:
                await self._note_stuck(target, snap.stuck)
            if (snap.status in TERMINAL and target.top_level and target.wf_row_id is not None
                    and _held.get() is None):
                # A pass found the tree's top ended: written by _settle_tree, its nested runs
                # first, or a reader told it ended could find nested records still running.
                raise _EndedTree
            if not snap.unchanged:  # skip a write transaction per idle workflow per tick
                await self._write(apply.apply_snapshot, target, snap)
                nested = nested or any(r.child_workflow_id for r in snap.records)
            self._quiet[target.workflow_id] = self._quiet.get(target.workflow_id, 0) + 1 if snap.quiet else 0
            seq = snap.seq
            if not snap.more:
                break
        # Whether it ended outside its own control (terminated, timed out) needs the server's
        # word; the snapshot's describe already gave it unless that said the run is closed.
        # (A second describe per read doubled the mirror's cost on the server under load.)
        if (snap.status not in TERMINAL and snap.server_open is not True
                and self._status_due(target.workflow_id)):
            end = await asyncio.wait_for(client.status(target.workflow_id), ENGINE_CALL_TIMEOUT)
            if end.external:
                await self._reconcile(target, end.status, _error_of(end.result))
            elif end.status in TERMINAL and not final:
                # It ended between the query and describe: read the final snapshot (queries
                # answer on closed workflows) so every task record settles, then close the row.
                nested |= await self._sync(client, dataclasses.replace(target, seq=seq), final=True)
                await self._write(apply.finish_from_status, target, end.status, end.result)
        return nested

    async def _note_stuck(self, target: Target, why: str | None) -> None:
        """A run whose workflow task keeps failing is stuck, not an outage: say so on its row
        (status_detail, shown by the API and the CLI) and in the log, once; clear it when the
        run moves again."""
        if self._stuck.get(target.workflow_id) == why:
            return
        await self._write(apply.set_detail, target, why)
        if why is None:
            self._stuck.pop(target.workflow_id, None)
            log.warning("mirror: %s moves again", target.workflow_id)
        else:
            self._stuck[target.workflow_id] = why
            log.warning("mirror: %s is stuck: %s", target.workflow_id, why)

    def _status_due(self, workflow_id: str) -> bool:
        now = time.monotonic()
        if now - self._last_status_check.get(workflow_id, 0.0) < self.status_check_interval:
            return False
        self._last_status_check[workflow_id] = now
        return True

    async def _not_found(self, client: EngineClient, target: Target) -> None:
        if not target.top_level:
            # A nested workflow may not be started yet; once its row ended, stop polling it.
            await self._write(apply.close_nested_if_ended, target)
            return
        try:
            end = await client.status(target.workflow_id)
        except WorkflowNotFound:
            await self._reconcile(target, ExecutionStatus.FAILED,
                                  "Workflow not found on the orchestration server")
            return
        if end.external:
            await self._reconcile(target, end.status, _error_of(end.result))
        elif end.status in TERMINAL:
            await self._write(apply.finish_from_status, target, end.status, end.result)

    async def _reconcile(self, target: Target, status: ExecutionStatus, error: str) -> None:
        await self._write(apply.reconcile, target, status, error)
        log.info("mirror: %s reconciled as %s (%s)", target.workflow_id, status, error)

    async def _check_requested(self, client: EngineClient, workflow_id: str,
                               execution_id: int) -> None:
        """A row left `requested` (the API stopped between commit and start): settle it."""
        try:
            await client.status(workflow_id)
            status, result = ExecutionStatus.SCHEDULED, None
        except WorkflowNotFound:
            status = ExecutionStatus.FAILED
            result = {"error": "Workflow was never started (the API stopped first)", "succeeded": False}
        except Exception:  # noqa: BLE001 - unreachable now: the next pass asks again
            return
        await self._write(apply.settle_requested, execution_id, status, result)

    # --- logging outages once ----------------------------------------------------------------
    def _outage(self, what: str, exc: BaseException) -> None:
        if what not in self._down:
            self._down.add(what)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("mirror: %s unreachable, will retry: %s", what, first)

    def _recovered(self, what: str) -> None:
        if what in self._down:
            self._down.discard(what)
            log.warning("mirror: %s reachable again; catching up", what)


def _error_of(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("error"), str):
        return result["error"]
    return "Workflow ended outside its control"


def _is_connection_error(exc: BaseException) -> bool:
    # EngineUnavailable is a ConnectionError; a timed-out engine call counts as unreachable too.
    return isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError))
