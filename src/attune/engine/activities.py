"""The activity every script task runs: one action process on this worker's runtime."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from attune import tokens
from attune.engine.claims import claim_record_id, reserve_record_ids
from attune.packs.current import ActionChanged, ActionFileGone, ActionFiles, as_on_disk, differences
from attune.packs.parameters import Validator, filled
from attune.runtimes import ProcessRequest, ProcessResult, run_process
from attune.runtimes.process import NotOnThisWorker, ProcessCancelled, ProcessLost
from attune.runtimes.safety import encodable
from attune.secrets import SecretError, key_source, load_key, mask, mask_cut, sealed_at, unseal
from attune.settings import DEFAULT_STATE_DIR
from attune.tokens import root_of

ACTIVITY_NAME = "run_action"
CHECKPOINT_ACTIVITY = "checkpoint"
RESERVE_ACTIVITY = "reserve_record_ids"
# A running action heartbeats this often, and the runtime workers let every heartbeat through:
# a cancel request (cancel_running) reaches the process within about this plus a round trip.
# The price is one heartbeat RPC per running action per interval (see README, "Cancellation").
HEARTBEAT_SECONDS = 0.5
log = logging.getLogger(__name__)
WORKER = f"worker {socket.gethostname()} pid {os.getpid()}"  # which of a pool's workers, in messages


@activity.defn(name=CHECKPOINT_ACTIVITY)
async def checkpoint() -> None:
    """Does nothing: the orchestrator schedules it to close a workflow task of local actions
    (see attune.engine.pacing)."""


def _infrastructure_failure(what: str, kind: str) -> ApplicationError:
    """A retryable failure: Temporal runs the task again (INFRA_RETRY), until its attempts
    (shared with workers' deaths) run out, which the message then says."""
    info = activity.info()
    limit = info.retry_policy.maximum_attempts if info.retry_policy else 0
    if limit and info.attempt >= limit:
        return ApplicationError(f"{what}: not run again, after {info.attempt} attempts (at most "
                                f"{limit} when workers stop, die or cannot run it)", type=kind, non_retryable=True)
    where = f" (attempt {info.attempt + 1} of {limit})" if limit else ""
    return ApplicationError(f"{what}; it runs again on a worker that is up{where}", type=kind)


def _worker_stopping() -> bool:
    """Whether this activity was cancelled because its worker is shutting down."""
    details = activity.cancellation_details()
    return bool(details and details.worker_shutdown) or activity.is_worker_shutdown()


class IdsRequest(BaseModel):
    api_url: str
    workflow_id: str
    count: int


def _secret_problems(request: ProcessRequest, parameters: dict[str, Any]) -> str:
    """Each sealed secret parameter given the defaults declared inside it and checked against
    its schema now that its value is known (the workflow saw only the sealed token, and filled
    nothing inside it): '' when they all pass. `parameters` is updated in place."""
    problems = []
    for name, schema in sorted(request.secret_checks.items()):
        if name in parameters:
            parameters[name] = filled(schema, parameters[name])
        validator = Validator(schema, format_checker=Validator.FORMAT_CHECKER)
        failed = sorted({str(error.validator) for error in validator.iter_errors(parameters.get(name))})
        if failed:
            problems.append(f"parameter '{name}': invalid value: fails {', '.join(map(repr, failed))}")
    return "; ".join(problems)


class ActionActivities:
    """Holds worker-level settings; `packs_root` lets a worker find packs at its own path."""

    def __init__(self, packs_root: str | None = None, state_dir: str = DEFAULT_STATE_DIR, *,
                 on_hand_back: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.packs_root = packs_root
        self.on_hand_back = on_hand_back  # a runtime worker's StepAside (engine/step_aside.py)
        self.state_dir = state_dir
        self._not_under_root: set[str] = set()
        self.action_files = ActionFiles()  # action YAMLs as read when tasks start

    async def _hand_back(self, what: str, kind: str) -> ApplicationError:
        """This worker cannot run the task (it lacks the pack's files or the key), another of
        the pool may: the failure that hands it back, after telling on_hand_back."""
        if self.on_hand_back:
            await self.on_hand_back(what)
        return _infrastructure_failure(what, kind)

    @activity.defn(name=RESERVE_ACTIVITY)
    async def reserve_record_ids(self, request: IdsRequest) -> list[int]:
        """Run by the orchestrators: execution ids for a run's next task attempts, from the
        API, with a token minted for the run; none (never an error) without an API."""
        token = tokens.mint(load_key(self.state_dir), key=request.workflow_id,
                            root=root_of(request.workflow_id), ttl_seconds=60, scope="run")
        return await reserve_record_ids(request.api_url, token, request.count, request.workflow_id)

    @activity.defn(name=ACTIVITY_NAME)
    async def run_action(self, request: ProcessRequest) -> ProcessResult:
        if self.packs_root:
            local = Path(self.packs_root) / request.pack_ref
            if local.is_dir():
                request = request.model_copy(update={"pack_dir": str(local.resolve())})
            elif request.pack_ref not in self._not_under_root:  # said once per pack
                self._not_under_root.add(request.pack_ref)
                where = f"the packs directory {self.packs_root} (--packs, ATTUNE_PACKS_DIR)"
                if request.pack_dir and Path(request.pack_dir).is_dir():
                    log.warning("pack %s is not in %s; its actions run from %s, where it was "
                                "registered", request.pack_ref, where, request.pack_dir)
                else:
                    log.warning("pack %s is neither in %s nor at %s, where it was registered: "
                                "its tasks are handed back to other workers", request.pack_ref,
                                where, request.pack_dir)
        # The script is read now, so its action YAML is too: a pack upgraded since the run
        # started runs as its files say now, script and YAML together (attune.packs.current).
        try:
            current = as_on_disk(request, self.action_files)
        except ActionChanged as exc:
            return ProcessResult(succeeded=False, exit_code=None, duration_ms=0, error=str(exc))
        except ActionFileGone as exc:
            raise await self._hand_back(f"{exc} on {WORKER}", "NotOnThisWorker") from None
        changes = differences(request, current) if current is not request else None
        if changes:
            log.info("%s (%s): its action YAML changed since the run started; it runs as it is "
                     "now: %s", request.action_ref, request.execution_id, changes)
        request = current
        secrets: list = []
        try:  # the key file is read only for a task that has sealed values
            parameters = (unseal(request.parameters, load_key(self.state_dir), found=secrets)
                          if sealed_at(request.parameters, "parameters") else dict(request.parameters))
        except SecretError as exc:  # this worker's key: another worker of the pool may have the right one
            raise await self._hand_back(f"{exc} (on {WORKER}, whose key is {key_source(self.state_dir)})",
                                        "WrongSecretKey") from None
        refused = _secret_problems(request, parameters)
        if refused:  # never the value: it is a secret
            return ProcessResult(succeeded=False, exit_code=None, duration_ms=0,
                                 error=f"invalid input for {request.action_ref}: {refused}")
        update: dict[str, object] = {"parameters": parameters}
        claim = request.claim_record and request.record_id is None  # none reserved: ask now
        if request.issue_token or claim:  # minted here: never through Temporal
            token = tokens.mint(load_key(self.state_dir), key=request.execution_id,
                                root=root_of(request.execution_id),
                                ttl_seconds=request.timeout_seconds + 60)
            if claim:
                update["record_id"] = await claim_record_id(request, token)
            if request.issue_token:
                update["api_token"] = token
                secrets.append(token)  # an action that prints it gets it masked
        request = request.model_copy(update=update)
        # A local activity (an action with `local: true`, run inside the orchestrator) has no
        # heartbeat timeout: the orchestrator's workflow task notices its death instead.
        beat = None if activity.info().is_local else activity.heartbeat
        try:
            result = await run_process(request, heartbeat=beat, heartbeat_interval=HEARTBEAT_SECONDS)
        except ProcessCancelled as stopped:  # the run is told how it ended, output and exit code
            if _worker_stopping():
                # Not the run's cancel: this worker is being stopped (attune down, Ctrl-C, a
                # deploy). A retryable failure has Temporal run the task again on a worker
                # that is up, as when a worker dies; a "cancelled" result failed the run.
                raise _infrastructure_failure(
                    f"the {request.runner} worker was stopped while {request.action_ref} ran (its "
                    f"process ended with {stopped.result.exit_code})", "WorkerStopped") from None
            result = stopped.result
        except NotOnThisWorker as exc:
            raise await self._hand_back(f"{exc} on {WORKER}", "NotOnThisWorker") from None
        except ProcessLost:  # killed or out of memory: how the action ended is unknown
            raise _infrastructure_failure(
                f"the {request.runner} worker's process launcher died while {request.action_ref} ran, "
                "so how the action ended is unknown", "LauncherDied") from None
        except Exception as exc:
            log.exception("running %s failed", request.action_ref)
            return ProcessResult(succeeded=False, exit_code=None, duration_ms=0,
                                 error=f"the worker failed running the action: {exc!r}")
        if secrets:
            result = result.model_copy(update={field: mask(getattr(result, field), secrets)
                                               for field in ("stdout", "stderr", "data", "error")})
            result = result.model_copy(update={  # a secret cut in two by a stream's cap
                "stdout": mask_cut(result.stdout, secrets, at_start=False) if result.stdout_truncated
                else result.stdout,
                "stderr": mask_cut(result.stderr, secrets, at_start=True) if result.stderr_truncated
                else result.stderr})
        return encodable(result)
