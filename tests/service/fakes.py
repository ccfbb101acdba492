"""A scripted engine implementing `attune.contract.EngineClient`: tests decide what each
workflow reports, so the mirror and the API can be tested without Temporal."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from attune.contract import EngineClient, RunEnd, RunRecord, WorkflowNotFound, WorkflowSnapshot
from attune.statuses import TERMINAL, ExecutionStatus


@dataclass
class FakeWorkflow:
    workflow_id: str
    action_ref: str
    status: str = "running"
    records: dict[str, RunRecord] = field(default_factory=dict)
    seq: int = 0
    outcome: RunEnd | None = None  # what status() reports; None = follows `status`
    result: Any = None
    error: str | None = None
    current_tasks: list[str] = field(default_factory=list)
    completed_tasks: list[str] = field(default_factory=list)
    failed_tasks: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    stuck: str | None = None  # what snapshot() says while the workflow task keeps failing

    def record(self, key_suffix: str, **fields: Any) -> RunRecord:
        """Add or change the record `<workflow_id>/<key_suffix>`, bumping the sequence."""
        key = f"{self.workflow_id}/{key_suffix}"
        self.seq += 1
        old = self.records.get(key)
        base = old.model_dump() if old else {
            "key": key, "workflow_id": self.workflow_id, "iteration": 1,
            "task_name": key_suffix.split(".")[0], "action_ref": "svc.echo", "status": "scheduled",
        }
        if fields.get("status") == "running" and "started_at" not in fields:
            fields["started_at"] = datetime.now(UTC)
        self.records[key] = RunRecord(**{**base, **fields, "seq": self.seq})
        return self.records[key]

    def finish(self, status: str, result: Any = None, error: str | None = None) -> None:
        self.seq += 1
        self.status, self.result, self.error = status, result, error


class FakeEngine:
    def __init__(self) -> None:
        self.workflows: dict[str, FakeWorkflow] = {}
        self.started: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.fail_start: Exception | None = None
        self.down = False  # raise ConnectionError from every call
        self.page_size = 1000  # records per snapshot page (small values exercise `more`)
        self.snapshot_calls = 0
        # Report a read that finds nothing new as quiet, as the real client does when the
        # server shows the run as at its previous read (the mirror then reads it less often).
        self.quiet_reads = False
        self.status_calls = 0
        self.signals: list[tuple[str, str, Any]] = []  # (workflow id, signal, argument)

    async def factory(self) -> FakeEngine:
        if self.down:
            raise ConnectionError("fake engine down")
        return self

    def add(self, workflow_id: str, action_ref: str = "svc.tree") -> FakeWorkflow:
        self.workflows[workflow_id] = FakeWorkflow(workflow_id, action_ref)
        return self.workflows[workflow_id]

    async def start(self, *, catalog: dict[str, Any], action_ref: str,
                    parameters: dict[str, Any], workflow_id: str,
                    pack_configs: dict[str, dict[str, Any]] | None = None,
                    config_secrets: dict[str, set[tuple[str, ...]]] | None = None,
                    api_url: str | None = None, queue_prefix: str | None = None,
                    history_guard: int | None = None,
                    max_nesting_depth: int | None = None,
                    continue_after: int | None = None,
                    resume: dict[str, Any] | None = None,
                    record_ids: list[int] | None = None,
                    execution_id: int | None = None) -> None:
        if self.fail_start is not None:
            raise self.fail_start
        self.started.append({"catalog": catalog, "action_ref": action_ref,
                             "parameters": parameters, "workflow_id": workflow_id,
                             "pack_configs": pack_configs, "api_url": api_url,
                             "queue_prefix": queue_prefix, "resume": resume})
        self.add(workflow_id, action_ref)

    def _get(self, workflow_id: str) -> FakeWorkflow:
        if self.down:
            raise ConnectionError("fake engine down")
        if workflow_id not in self.workflows:
            raise WorkflowNotFound(workflow_id)
        return self.workflows[workflow_id]

    async def snapshot(self, workflow_id: str, since: int = 0, *,
                       patient: bool = True) -> WorkflowSnapshot:
        self.snapshot_calls += 1
        wf = self._get(workflow_id)
        if wf.stuck is not None:
            return WorkflowSnapshot(workflow_id=workflow_id, action_ref="", seq=since, records=[],
                                    unchanged=True, stuck=wf.stuck)
        changed = sorted((r for r in wf.records.values() if r.seq > since), key=lambda r: r.seq)
        if self.quiet_reads and not changed and since and wf.status in ("running", "scheduled"):
            return WorkflowSnapshot(workflow_id=workflow_id, action_ref=wf.action_ref, seq=since,
                                    records=[], unchanged=True, quiet=True, status=wf.status,
                                    server_open=wf.outcome is None)
        page, more = changed[: self.page_size], len(changed) > self.page_size
        seq = page[-1].seq if more else wf.seq
        return WorkflowSnapshot(
            workflow_id=workflow_id, action_ref=wf.action_ref, seq=seq, records=page, more=more,
            status="running" if more else wf.status, current_tasks=wf.current_tasks,
            completed_tasks=wf.completed_tasks, failed_tasks=wf.failed_tasks,
            variables=wf.variables, task_graph={"tasks": ["hello"]}, error=wf.error,
            result=wf.result, server_open=wf.outcome is None and wf.status in ("running", "scheduled"),
        )

    async def records(self, workflow_id: str) -> list[RunRecord]:
        return sorted(self._get(workflow_id).records.values(), key=lambda r: r.seq)

    async def status(self, workflow_id: str) -> RunEnd:
        self.status_calls += 1  # a describe on the real server
        return self._end(workflow_id)

    def _end(self, workflow_id: str) -> RunEnd:
        wf = self._get(workflow_id)
        return wf.outcome or RunEnd(status=ExecutionStatus(wf.status), result=wf.result)

    async def wait(self, workflow_id: str) -> RunEnd:
        """Like Temporal's long poll: returns once the workflow has ended."""
        while (end := self._end(workflow_id)).status not in TERMINAL:
            await asyncio.sleep(0.02)
        return end

    async def cancel(self, workflow_id: str) -> None:
        self._get(workflow_id)
        self.cancelled.append(workflow_id)

    async def pause(self, workflow_id: str, control: int = 0) -> None:
        self._get(workflow_id)
        self.signals.append((workflow_id, "pause", control))

    async def resume(self, workflow_id: str, control: int = 0) -> None:
        self._get(workflow_id)
        self.signals.append((workflow_id, "resume", control))

    async def tell_inquiry(self, workflow_id: str, state: dict[str, Any]) -> None:
        self._get(workflow_id)
        self.signals.append((workflow_id, "inquiry", state))

    async def parameters_of(self, workflow_id: str) -> dict[str, Any]:
        return dict(next(s["parameters"] for s in self.started if s["workflow_id"] == workflow_id))


def _implements_the_protocol(engine: FakeEngine) -> EngineClient:
    return engine  # mypy checks the fake against attune.contract.EngineClient here
