"""Starting, watching and cancelling executions on Temporal: the engine side of
`attune.contract.EngineClient`."""

from __future__ import annotations

import builtins  # its TimeoutError: temporalio.exceptions has one of its own
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState, PendingWorkflowTaskState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError, TimeoutError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from attune.commandline import command_line
from attune.contract import (
    EngineError,
    EngineUnavailable,
    RunEnd,
    RunRecord,
    WorkflowNotFound,
    WorkflowSnapshot,
)
from attune.engine.blobs import data_converter
from attune.engine.payloads import InquiryState, WorkflowInput
from attune.engine.workflow import (
    BASELINE_LEVEL,
    FINAL_MEMO,
    SIGNAL_INQUIRY,
    SIGNAL_PAUSE,
    SIGNAL_RESUME,
    WORKFLOW_NAME,
    AttuneWorkflow,
)
from attune.packs.models import Action
from attune.secrets import key_problem, load_key, seal_at, seal_parameters
from attune.settings import DEFAULT_API_URL, DEFAULT_QUEUE_PREFIX, Settings, orchestrator_queue
from attune.statuses import TERMINAL, ExecutionStatus
from attune.workflows.keys import AttemptKey, attempt_of

QUERY_EVERY = 0.5  # seconds: at most one query per running workflow this often
# While a workflow task is in flight a query waits for it to finish, and if that task closes the
# run, the query is answered by replaying the whole history. Runs of `local: true` actions hold
# one task for up to ~0.4 s, so wait for a gap, but no longer than this since the last answer.
BUSY_QUERY_EVERY = 1.0
# ...and a query sent while a task is in flight gives up after this: a long local action holds
# its task until the SDK's heartbeat (8 s), and a poller must not stall on it.
BUSY_QUERY_TIMEOUT = timedelta(seconds=0.5)
# A workflow task on its third attempt or later keeps failing: the run is stuck, not slow.
STUCK_AFTER_ATTEMPTS = 3
# A task scheduled this long on a queue no worker polls is said to wait for one (status_detail):
# it stayed `scheduled` with no word when no worker of its runtime was started. A queue's
# pollers are asked at most once per NO_WORKER_AFTER.
NO_WORKER_AFTER = 10.0
# Temporal lists a worker that stopped among a queue's pollers for minutes; a live one polls
# again within its long poll (a minute), so an older last access is a worker that is gone.
POLLER_GONE_AFTER = 75.0
CANCELLED_WHILE_STUCK = ("Cancelled: the run was terminated, since its workflow task kept failing "
                         "and it could not stop by itself")


_RUNNING = (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW, None)


def _handed_back(description: Any) -> str | None:
    for activity in description.raw_description.pending_activities:
        if activity.attempt > 1 and activity.HasField("last_failure"):
            why = (activity.last_failure.message or "its worker stopped answering").splitlines()[0]
            why = why.split("; it runs again on a worker that is up")[0]  # said here already
            return (f"task {_task_of(activity.activity_id)} runs again (attempt {activity.attempt} of "
                    f"{activity.maximum_attempts or 'unlimited'}): {why}")
    return None


def live_pollers(pollers: Any, now: float) -> bool:
    """Whether any of a queue's listed pollers (PollerInfo) polled recently enough to be up."""
    return any(now - p.last_access_time.ToSeconds() < POLLER_GONE_AFTER for p in pollers)


class _Described:
    """A describe's answer as the server sent it. The SDK's `describe()` also converts every
    field (search attributes, metadata, timestamps): 8 % of the API's time in a profile of 200
    runs at once, where the records mirror describes each running workflow every second and
    reads three fields."""

    def __init__(self, raw: DescribeWorkflowExecutionResponse) -> None:
        self.raw_description = raw
        info = raw.workflow_execution_info
        self.status = WorkflowExecutionStatus(info.status) if info.status else None
        self.history_length = info.history_length

    @property
    def start_time(self) -> datetime | None:
        return _when(self.raw_description.workflow_execution_info, "start_time")

    @property
    def close_time(self) -> datetime | None:
        return _when(self.raw_description.workflow_execution_info, "close_time")


def _when(info: Any, field: str) -> datetime | None:
    return getattr(info, field).ToDatetime(tzinfo=UTC) if info.HasField(field) else None


@contextmanager
def _translated(workflow_id: str, address: str) -> Iterator[None]:
    """Temporal's RPC errors as the contract's exceptions, so readers need not know Temporal."""
    try:
        yield
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WorkflowNotFound(workflow_id) from exc
        raise engine_trouble(exc, address, workflow_id) from exc


NEXT_STEP = "start it (attune up) or check ATTUNE_TEMPORAL_ADDRESS"
# What the SDK's connection errors (the Rust core's text, or an RPC status after a connection was
# made) say, and that in a few words: the first match wins.
_CAUSES = (
    (("connectionrefused", "connection refused"), "connection refused"),
    (("dns error", "failed to lookup address", "name or service not known"), "name not resolved"),
    (("tls", "certificate", "ssl", "handshake", "invalidmessage", "alertreceived",  # rustls'
      "peerincompatible", "peermisbehaved"), "TLS handshake failed"),
    (("timed out", "timedout", "timeout", "deadline"), "timed out"),
    (("grpc-status header missing",), "what answers there is not a Temporal server"),
    (("broken pipe", "connection reset", "connectionreset", "unexpectedeof", "h2 protocol error"),
     "the connection was closed: a server that wants TLS, or not Temporal?"),
    (("tcp connect error", "transport error", "error trying to connect", "connection error",
      "failed client connect"), "could not connect"),
)
# RPC statuses of a server that answered but could not do its own part (its database failing,
# its shards not owned yet: "shard status unknown"), unless the text is one of _CAUSES'.
_SERVER_TROUBLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN,
                   RPCStatusCode.DATA_LOSS, RPCStatusCode.RESOURCE_EXHAUSTED)


def engine_trouble(exc: BaseException, address: str, workflow_id: str | None = None) -> EngineError:
    """Any failure to talk to the Temporal server at `address`, as the contract's exception with
    a message that says in a few words what is wrong and what to do: EngineUnavailable when the
    server cannot be reached (refused, timed out, name not resolved, TLS), EngineError when it
    answered with a problem of its own (see its log) or refused the request. The SDK's raw text
    (a Rust error chain) is only in the exception's cause, for logs."""
    if isinstance(exc, EngineError):
        return exc
    text = str(exc)
    status = exc.status if isinstance(exc, RPCError) else None
    cause = _connect_cause(exc, text, status)
    if cause is not None:
        return EngineUnavailable(f"Temporal at {address} is not reachable ({cause}): {NEXT_STEP}")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if status in _SERVER_TROUBLE:
        return EngineError(f"the Temporal server at {address} reported an internal problem "
                           f"({first}): this is not a problem of the request; see the server's "
                           "log (with attune up: logs/temporal.log in its state directory)")
    if not isinstance(exc, RPCError):  # not Temporal's to explain
        return EngineError(first)
    where = f" for {workflow_id}" if workflow_id else ""
    return EngineError(f"the Temporal server at {address} refused the request{where}: {first}")


def _connect_cause(exc: BaseException, text: str, status: RPCStatusCode | None) -> str | None:
    """Why the server could not be reached, in a few words; None if it was reached."""
    if isinstance(exc, builtins.TimeoutError) or status == RPCStatusCode.DEADLINE_EXCEEDED:
        return "timed out"
    if isinstance(exc, RPCError):
        if status not in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED):
            return None  # it answered
    elif isinstance(exc, socket.gaierror):
        return "name not resolved"
    elif not (isinstance(exc, ConnectionError)  # not any OSError: a full disk is not Temporal's
              or isinstance(exc, RuntimeError) and text.startswith("Failed client connect")):
        return None
    lowered = text.lower()
    for marks, cause in _CAUSES:
        if any(mark in lowered for mark in marks):
            return cause
    if isinstance(exc, OSError) and exc.errno:  # asyncio's strerror is "Connect call failed (...)"
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return None if isinstance(exc, RPCError) else "could not connect"


class EngineClient:
    def __init__(self, client: Client, task_queue: str | None = None,
                 secret_key: bytes | None = None) -> None:
        self.client = client
        self.address = client.service_client.config.target_host  # named in every error
        self.task_queue = task_queue or orchestrator_queue(DEFAULT_QUEUE_PREFIX)
        self.secret_key = secret_key
        # Per workflow: the last describe mark and snapshot, and attempts not yet started.
        self._last: dict[str, tuple[tuple, WorkflowSnapshot, float]] = {}
        self._scheduled: dict[str, dict[str, RunRecord]] = {}
        self._first_seen: dict[str, float] = {}
        self._stuck: dict[str, tuple[int, str]] = {}  # workflow -> (task attempt, why)
        self._pollers: dict[str, tuple[float, bool]] = {}  # task queue -> (asked at, polled)

    @classmethod
    async def connect(cls, address: str, namespace: str = "default",
                      task_queue: str | None = None, state_dir: str | None = None,
                      blob_dir: str | None = None, runtime: Runtime | None = None) -> EngineClient:
        """`state_dir` and `blob_dir` default to the settings (ATTUNE_* environment);
        `runtime` None is the SDK's default one."""
        settings = Settings()
        state_dir = state_dir or settings.state_dir
        if why := key_problem(state_dir):  # a configuration error naming the key's source, not
            raise EngineError(why)          # "Fernet key must be 32 ... bytes" at the first secret
        converter = data_converter(blob_dir or settings.effective_blob_dir)
        try:
            client = await Client.connect(address, namespace=namespace, runtime=runtime,
                                          data_converter=converter)
        except (RuntimeError, RPCError, OSError) as exc:
            raise engine_trouble(exc, address) from exc
        return cls(client, task_queue, load_key(state_dir))

    async def start(
        self,
        *,
        catalog: dict[str, Action],
        action_ref: str,
        parameters: dict[str, Any],
        workflow_id: str,
        pack_configs: dict[str, dict[str, Any]] | None = None,
        config_secrets: dict[str, set[tuple[str, ...]]] | None = None,
        api_url: str | None = None,
        queue_prefix: str | None = None,
        history_guard: int | None = None,
        max_nesting_depth: int | None = None,
        continue_after: int | None = None,
        continue_after_bytes: int | None = None,
        history_bytes_guard: int | None = None,
        resume: dict[str, Any] | None = None,
        record_ids: list[int] | None = None,
        execution_id: int | None = None,
    ) -> None:
        action = catalog[action_ref]
        kind = "workflow" if action.is_workflow else f"{action.runner} action"
        if any(a.secret_names() for a in catalog.values()):
            # Temporal stores and shows inputs: secrets go in sealed (see attune.secrets),
            # parameters and the defaults in the catalog alike.
            key = self.secret_key or load_key()
            parameters = seal_parameters(parameters, action.secret_names(), key)
            catalog = {ref: _seal_secret_defaults(a, key) for ref, a in catalog.items()}
        if pack_configs and any((config_secrets or {}).values()):
            # Pack config values that the pack's conf_schema marks secret, the same way:
            # `{{ config.password }}` passes the sealed value on, the records show ********.
            key = self.secret_key or load_key()
            pack_configs = {ref: seal_at(config, (config_secrets or {}).get(ref, set()), key)
                            for ref, config in pack_configs.items()}
        try:  # NOT_FOUND here is the namespace's, not the workflow's: no _translated
            await self.client.start_workflow(
                WORKFLOW_NAME,
                WorkflowInput(action_ref=action_ref, parameters=parameters, catalog=catalog,
                              pack_configs=pack_configs or {}, api_url=api_url or DEFAULT_API_URL,
                              queue_prefix=queue_prefix or DEFAULT_QUEUE_PREFIX,
                              **({"history_guard": history_guard} if history_guard else {}),
                              **({"max_depth": max_nesting_depth} if max_nesting_depth else {}),
                              **({"continue_after": continue_after} if continue_after else {}),
                              **({"continue_after_bytes": continue_after_bytes} if continue_after_bytes else {}),
                              **({"history_bytes_guard": history_bytes_guard} if history_bytes_guard else {}),
                              **({"resume": resume} if resume else {}),
                              record_ids=record_ids, execution_id=execution_id, baseline=BASELINE_LEVEL),
                id=workflow_id,
                task_queue=self.task_queue,
                static_summary=f"{action_ref} ({kind})",
                static_details=action.description or action.label or "",
            )
        except RPCError as exc:
            raise engine_trouble(exc, self.address, workflow_id) from exc

    def handle(self, workflow_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(workflow_id)

    async def _describe(self, workflow_id: str, run_id: str | None = None) -> _Described:
        """The SDK's describe, RPC errors included, without converting what is not read."""
        return _Described(await self.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id or "")),
            retry=True))

    async def snapshot(self, workflow_id: str, since: int = 0, *,
                       patient: bool = True) -> WorkflowSnapshot:
        """What changed since `since`, with activities that have started shown as `running`.

        Describe first (answered by the server alone); query the workflow (which needs the
        orchestrator worker) only when its history grew or an activity started since the last
        call. A records mirror polls every running workflow several times a second, so this
        keeps idle and slow workflows from costing worker time. `patient` (a poller) may also
        get an empty "unchanged" answer for a run it has never read while its workflow task is
        in flight (see BUSY_QUERY_EVERY).
        """
        handle = self.handle(workflow_id)
        cached, open_now = None, None
        try:
            description = await self._describe(workflow_id)
            open_now = description.status in _RUNNING
            started = {a.activity_id for a in description.raw_description.pending_activities
                       if a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED}
            mark = (description.history_length, frozenset(started), description.status)
            stuck = await self._stuck_on(workflow_id, description)
            if stuck is not None or _retrying(description):  # a query would wait for the task
                return _unchanged(workflow_id, since).model_copy(
                    update={"stuck": stuck, "server_open": open_now})
            waiting = await self._waiting_for_worker(description)
            cached = self._last.get(workflow_id)
            if cached is not None and cached[1].seq == since and (
                cached[0] == mark or self._too_soon(description, cached[2])
            ):
                return cached[1].model_copy(update={"records": [], "more": False, "unchanged": True,
                                                    "server_open": open_now, "quiet": cached[0] == mark,
                                                    "stuck": waiting})
            if cached is None and patient and _busy(description) and self._too_soon(
                    description, self._first_seen.setdefault(workflow_id, time.monotonic())):
                return _unchanged(workflow_id, since).model_copy(update={"server_open": open_now})
            snap = await _final_from_memo(self.client.data_converter, description, since)
            if snap is None:
                try:
                    snap = await handle.query(
                        AttuneWorkflow.snapshot, since,
                        rpc_timeout=BUSY_QUERY_TIMEOUT if patient and _pending(description) else None)
                except WorkflowQueryFailedError:
                    if open_now:
                        raise
                    return _closed_unread(workflow_id, since)  # its history does not replay
            if since < snap.base_seq and snap.previous_run_id:
                # The run continued as new after `since`: first the changes the runs before made.
                records, seq = await self._earlier(workflow_id, snap, since)
                snap = snap.model_copy(update={"records": records, "seq": seq, "more": True})
        except RPCError as exc:
            if open_now is False:  # closed before its first workflow task ("Workflow execution
                return _closed_unread(workflow_id, since)  # closed before WorkflowTaskStarted")
            if not _timed_out(exc):
                with _translated(workflow_id, self.address):
                    raise
            # The task the query waited for failed meanwhile (the query then waits for a task
            # that never completes): say the run is stuck rather than fail the reader.
            stuck = await self._stuck_on(workflow_id, await self._describe(workflow_id))
            if stuck is None and not patient:
                with _translated(workflow_id, self.address):
                    raise
            if cached is not None:  # try again BUSY_QUERY_EVERY from now
                self._last[workflow_id] = (cached[0], cached[1], time.monotonic())
            self._first_seen[workflow_id] = time.monotonic()
            return _unchanged(workflow_id, since).model_copy(update={"stuck": stuck})
        self._remember_scheduled(workflow_id, snap)
        running = [r.model_copy(update={"status": ExecutionStatus.RUNNING})
                   for key, r in self._scheduled.get(workflow_id, {}).items()
                   if attempt_of(key) in started]
        by_key = {r.key: r for r in snap.records}
        for record in running:
            if by_key.get(record.key, record).status in (ExecutionStatus.SCHEDULED,
                                                         ExecutionStatus.RUNNING):
                by_key[record.key] = record
        snap = snap.model_copy(update={"records": sorted(by_key.values(), key=lambda r: r.seq),
                                       "server_open": open_now, "run_started_at": description.start_time,
                                       "run_closed_at": description.close_time, "stuck": waiting})
        if snap.status in TERMINAL:
            self._forget(workflow_id)
        elif not snap.more:
            self._last[workflow_id] = (mark, snap, time.monotonic())
        return snap

    async def _earlier(self, workflow_id: str, snap: WorkflowSnapshot,
                       since: int) -> tuple[list[RunRecord], int]:
        """The next page of changes after `since` made by the earlier runs of a workflow that
        continued as new, and the seq to go on from."""
        run_id, end = snap.previous_run_id, snap.base_seq
        while True:
            handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
            older = await _final_from_memo(self.client.data_converter,
                                           await self._describe(workflow_id, run_id), since)
            if older is None:
                older = await handle.query(AttuneWorkflow.snapshot, since)
            if since < older.base_seq and older.previous_run_id:
                run_id, end = older.previous_run_id, older.base_seq
                continue
            return older.records, older.seq if older.more else end

    async def records(self, workflow_id: str) -> list[RunRecord]:
        """Every record of one run (all snapshot pages), in dispatch order."""
        seen: dict[str, RunRecord] = {}
        since, more = 0, True
        while more:
            snap = await self.snapshot(workflow_id, since, patient=False)
            seen.update((record.key, record) for record in snap.records)
            since, more = snap.seq, snap.more
        return sorted(seen.values(), key=lambda r: (r.started_at is None, r.started_at, r.seq))

    @staticmethod
    def _too_soon(description: Any, last: float) -> bool:
        """Still running and read moments ago: let changes gather (records stay within
        QUERY_EVERY, or BUSY_QUERY_EVERY while a workflow task is in flight, of the truth:
        inside the 1 s the records promise)."""
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        age = time.monotonic() - last
        return age < (BUSY_QUERY_EVERY if _busy(description) else QUERY_EVERY)

    def _remember_scheduled(self, workflow_id: str, snap: WorkflowSnapshot) -> None:
        """Attempts waiting for a worker: shown `running` once describe says they started."""
        scheduled = self._scheduled.setdefault(workflow_id, {})
        for record in snap.records:
            if record.status == ExecutionStatus.SCHEDULED:
                scheduled[record.key] = record
            else:
                scheduled.pop(record.key, None)

    async def _stuck_on(self, workflow_id: str, description: Any) -> str | None:
        """Why the run is stuck when its workflow task keeps failing (attempt 3 or more: the
        server retries it forever, and nothing moves until the cause is fixed), else None."""
        attempt = description.raw_description.pending_workflow_task.attempt
        if attempt < STUCK_AFTER_ATTEMPTS or description.status not in _RUNNING:
            self._stuck.pop(workflow_id, None)
            return None
        known = self._stuck.get(workflow_id)
        if known is None or known[0] != attempt:
            why = await self._last_task_failure(workflow_id)
            self._stuck[workflow_id] = (attempt, f"the workflow task keeps failing (attempt "
                                        f"{attempt}); nothing can move until this is fixed: {why}")
        return self._stuck[workflow_id][1]

    async def _waiting_for_worker(self, description: Any) -> str | None:
        """What a task scheduled for NO_WORKER_AFTER s waits for when no worker polls its queue;
        else a task a worker handed back (stopped, died, lacked the pack's files or the key),
        which Temporal runs again: its record alone kept reading `running` as if nothing
        happened (the attempts are Temporal's, not the task's `retry`)."""
        return await self._no_worker(description) or _handed_back(description)

    async def _no_worker(self, description: Any) -> str | None:
        now = time.time()
        for activity in description.raw_description.pending_activities:
            queue = activity.activity_options.task_queue.name
            if (activity.state != PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED or not queue
                    or now - activity.scheduled_time.ToSeconds() < NO_WORKER_AFTER):
                continue
            if not await self._polled(queue):
                prefix, _, runtime = queue.rpartition("-")
                flag = ("--queue-prefix", prefix) if prefix != DEFAULT_QUEUE_PREFIX else ()
                return (f"task {_task_of(activity.activity_id)} waits for a worker: none polls the task "
                        f"queue {queue} (start one: "
                        f"{command_line('attune', 'worker', '--runtime', runtime, *flag)})")
        return None

    async def _polled(self, queue: str) -> bool:
        asked_at, polled = self._pollers.get(queue, (0.0, True))
        if time.monotonic() - asked_at >= NO_WORKER_AFTER:
            request = DescribeTaskQueueRequest(namespace=self.client.namespace, task_queue=TaskQueue(name=queue),
                                               task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
            try:
                polled = live_pollers((await self.client.workflow_service.describe_task_queue(request)).pollers,
                                      time.time())
            except RPCError:
                polled = True  # unknown: say nothing rather than something wrong
            self._pollers[queue] = (time.monotonic(), polled)
        return polled

    async def _last_task_failure(self, workflow_id: str) -> str:
        """The message of the latest WorkflowTaskFailed event (the newest events first)."""
        request = GetWorkflowExecutionHistoryReverseRequest(
            namespace=self.client.namespace, maximum_page_size=50,
            execution=WorkflowExecution(workflow_id=workflow_id))
        try:
            page = await self.client.workflow_service.get_workflow_execution_history_reverse(request)
        except RPCError as exc:
            return f"(its failure could not be read: {exc})"
        for event in page.history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                failure = event.workflow_task_failed_event_attributes.failure
                return failure.message.splitlines()[0] if failure.message else "no message"
        return "no failure recorded yet"

    def _forget(self, workflow_id: str) -> None:
        self._last.pop(workflow_id, None)
        self._first_seen.pop(workflow_id, None)
        self._scheduled.pop(workflow_id, None)
        self._stuck.pop(workflow_id, None)

    async def status(self, workflow_id: str) -> RunEnd:
        """How the run stands on the server: running, or how it ended."""
        with _translated(workflow_id, self.address):
            description = await self._describe(workflow_id)
        if description.status in _RUNNING:
            return RunEnd(status=ExecutionStatus.RUNNING)
        return await self.wait(workflow_id)

    async def wait(self, workflow_id: str) -> RunEnd:
        """Wait for the end; Temporal's outcome as an execution status and result."""
        try:
            with _translated(workflow_id, self.address):
                return RunEnd(status=ExecutionStatus.COMPLETED,
                              result=await self.handle(workflow_id).result())
        except WorkflowFailureError as exc:
            return end_of_failure(exc)

    async def cancel(self, workflow_id: str) -> None:
        """Ask the run to stop (its tasks are cancelled, it records how it ended). A run whose
        workflow task keeps failing can never act on that request, so it is terminated, with a
        reason that the records read as cancelled (`end_of_failure`)."""
        with _translated(workflow_id, self.address):
            description = await self._describe(workflow_id)
            if (description.status in _RUNNING and _pending(description)
                    and description.raw_description.pending_workflow_task.attempt >= 2):
                await self.handle(workflow_id).terminate(reason=CANCELLED_WHILE_STUCK)
                return
            await self.handle(workflow_id).cancel()

    async def pause(self, workflow_id: str, control: int = 0) -> None:
        """`control`: the request's number in the records (RunState.control)."""
        with _translated(workflow_id, self.address):
            await self.handle(workflow_id).signal(SIGNAL_PAUSE, control)

    async def resume(self, workflow_id: str, control: int = 0) -> None:
        with _translated(workflow_id, self.address):
            await self.handle(workflow_id).signal(SIGNAL_RESUME, control)

    async def tell_inquiry(self, workflow_id: str, state: dict[str, Any]) -> None:
        """Tell a run waiting for an inquiry its state (id, key, status, response, timeout_at)."""
        with _translated(workflow_id, self.address):
            await self.handle(workflow_id).signal(SIGNAL_INQUIRY, InquiryState.model_validate(state))

    async def parameters_of(self, workflow_id: str) -> dict[str, Any]:
        """The parameters a run was started with, secrets still sealed (for a re-run)."""
        with _translated(workflow_id, self.address):
            async for event in self.handle(workflow_id).fetch_history_events():
                started = event.workflow_execution_started_event_attributes
                values = await self.client.data_converter.decode(started.input.payloads,
                                                                 [WorkflowInput])
                return dict(values[0].parameters)
        raise WorkflowNotFound(workflow_id)


def _seal_secret_defaults(action: Action, key: bytes) -> Action:
    secret = {n: s.default for n, s in action.parameters.items() if s.secret and s.default is not None}
    if not secret:
        return action
    sealed = seal_parameters(secret, set(secret), key)
    return action.model_copy(update={"parameters": {
        name: spec.model_copy(update={"default": sealed[name]}) if name in sealed else spec
        for name, spec in action.parameters.items()}})


def _unchanged(workflow_id: str, since: int) -> WorkflowSnapshot:
    """Nothing to apply this time (the run is still running; read it again later)."""
    return WorkflowSnapshot(workflow_id=workflow_id, action_ref="",
                            status=ExecutionStatus.RUNNING, seq=since, records=[], unchanged=True)


def _retrying(description: Any) -> bool:
    """The workflow task failed or timed out at least once and is being retried."""
    return (description.status in _RUNNING
            and description.raw_description.pending_workflow_task.attempt > 1)


def _task_of(activity_id: str) -> str:
    """`deploy` or `each[3]` of an activity id (an attempt key such as `each.1[3]#0`)."""
    try:
        key = AttemptKey.parse(activity_id)
    except ValueError:
        return activity_id
    return key.task + (f"[{key.index}]" if key.index is not None else "")


def _closed_unread(workflow_id: str, since: int) -> WorkflowSnapshot:
    """A closed run without a final memo whose query cannot be answered: it never took a step
    (its input could not be read) or its history does not replay. How it ended is all there is
    to read, from the server (`status`): its readers retried the query for ever, the record
    `canceling` after a cancel that terminated it."""
    return _unchanged(workflow_id, since).model_copy(update={"server_open": False})


def _pending(description: Any) -> bool:
    """A workflow task is scheduled or in flight: a query now is answered only after it
    completes, and waits for ever if it keeps failing."""
    return description.raw_description.HasField("pending_workflow_task")


def _timed_out(exc: RPCError) -> bool:
    """The query's deadline passed (the server's or the client's own, which the core SDK
    reports as CANCELLED 'Timeout expired')."""
    return exc.status == RPCStatusCode.DEADLINE_EXCEEDED or (
        exc.status == RPCStatusCode.CANCELLED and "timeout" in str(exc).lower())


def _busy(description: Any) -> bool:
    """A workflow task is in flight: a query now would wait for it."""
    task = description.raw_description.pending_workflow_task
    return task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED


async def _final_from_memo(converter: DataConverter, described: _Described,
                           since: int) -> WorkflowSnapshot | None:
    """A closed run's changes after `since` from the final snapshot in its memo, when that
    covers them; None means ask the workflow (a query, which replays a closed run). The memo is
    decoded from the describe already made (as the SDK's `memo_value` would): a second,
    converting describe per ended run sat between a run's end and its record's."""
    if described.status in (WorkflowExecutionStatus.RUNNING, None):
        return None
    payload = described.raw_description.workflow_execution_info.memo.fields.get(FINAL_MEMO)
    if payload is None:
        return None  # ended without one: terminated, an interpreter error, an older run
    (final,) = await converter.decode([payload], [WorkflowSnapshot])
    if final.covers_since > since:
        return None
    records = [r for r in final.records if r.seq > since]
    return final.model_copy(update={"records": records, "seq": max(final.seq, since)})


def end_of_failure(exc: WorkflowFailureError) -> RunEnd:
    """A failed Temporal run as an execution end (spec §3 Completion/Cancellation)."""
    cause = exc.cause
    if isinstance(cause, CancelledError):
        return RunEnd(status=ExecutionStatus.CANCELLED,
                      result={"error": "Workflow cancelled", "succeeded": False})
    if isinstance(cause, TerminatedError) and cause.message == CANCELLED_WHILE_STUCK:
        return RunEnd(status=ExecutionStatus.CANCELLED, external=True,
                      result={"error": CANCELLED_WHILE_STUCK, "succeeded": False})
    if isinstance(cause, TerminatedError):
        return RunEnd(status=ExecutionStatus.FAILED, external=True,
                      result={"error": "Workflow terminated", "succeeded": False})
    if isinstance(cause, TimeoutError):
        return RunEnd(status=ExecutionStatus.TIMEOUT, external=True,
                      result={"error": "Workflow timed out", "succeeded": False})
    if isinstance(cause, ApplicationError):
        result = cause.details[0] if cause.details else {"error": cause.message, "succeeded": False}
        timed_out = cause.type == "ActionTimedOut"
        return RunEnd(status=ExecutionStatus.TIMEOUT if timed_out else ExecutionStatus.FAILED,
                      result=result)
    return RunEnd(status=ExecutionStatus.FAILED,
                  result={"error": str(cause or exc), "succeeded": False})
