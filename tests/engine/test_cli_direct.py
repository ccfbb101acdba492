"""`attune run --direct` and `attune validate` as a user runs them: real processes, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from temporalio.client import WorkflowExecutionStatus

from tests.engine.helpers import TEST_PACKS


async def attune(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "attune.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def test_run_direct_completed_exits_0_with_json_result(temporal_stack):
    code, out, err = await attune("run", "qa.sequence", "start=3", "-o", "json", "--direct",
                                  "--packs", str(TEST_PACKS), "--temporal-address",
                                  temporal_stack.address)
    assert code == 0, err
    body = json.loads(out)
    assert body["status"] == "completed" and body["result"]["a"] == 31
    assert body["id"].startswith("qa.sequence-")


async def test_run_direct_failed_exits_1(temporal_stack):
    code, out, _ = await attune("run", "qa.fail", "-o", "yaml", "--direct", "--packs",
                                str(TEST_PACKS), "--temporal-address", temporal_stack.address)
    assert code == 1
    assert "status: failed" in out and "qa.fail failed on purpose" in out


async def test_run_direct_params_json_and_unknown_action(temporal_stack):
    code, out, _ = await attune("run", "qa.echo", "--params-json", '{"value": 7}', "-o", "json",
                                "--direct", "--packs", str(TEST_PACKS),
                                "--temporal-address", temporal_stack.address)
    assert code == 0 and json.loads(out)["result"]["data"] == {"value": 7}
    code, _, err = await attune("run", "qa.nope", "--direct", "--packs", str(TEST_PACKS),
                                "--temporal-address", temporal_stack.address)
    assert code == 2 and "unknown action 'qa.nope'" in err


async def test_run_direct_an_integral_number_for_an_integer_reaches_the_action_as_one(temporal_stack):
    """JSON Schema counts 7.0 and 7e0 as integers; the action got `7.0` (which `seq`, `range()`
    or `%d` refuse) where a workflow's `{{ 14 / 2 }}` gives it 7. NaN is a usage error (it was a
    traceback)."""
    for given in ('{"value": 7.0}', '{"value": 7e0}'):
        code, out, err = await attune("run", "qa.echo", "--params-json", given, "-o", "json", "--direct",
                                      "--packs", str(TEST_PACKS), "--temporal-address", temporal_stack.address)
        assert code == 0, err
        assert type(json.loads(out)["result"]["data"]["value"]) is int, out
    code, _, err = await attune("run", "qa.echo", "--params-json", '{"value": NaN}', "--direct", "--packs",
                                str(TEST_PACKS), "--temporal-address", temporal_stack.address)
    assert code == 2 and "parameter 'value' is NaN: not a finite number" in " ".join(err.split()), err
    assert "Traceback" not in err


async def test_run_direct_invalid_parameter_exits_2_naming_it(temporal_stack):
    code, _, err = await attune("run", "qa.echo", "value=notanumber", "--direct", "--packs",
                                str(TEST_PACKS), "--temporal-address", temporal_stack.address)
    assert code == 2 and "value" in err


async def test_run_direct_unreachable_temporal_exits_2():
    code, _, err = await attune("run", "qa.echo", "--direct", "--packs", str(TEST_PACKS),
                                "--temporal-address", "127.0.0.1:1")
    assert code == 2 and "Temporal at 127.0.0.1:1 is not reachable (connection refused): start it (attune up)" in err, err


async def test_bad_usage_exits_2():
    code, _, err = await attune("run", "qa.echo", "novalue", "--direct", "--packs", str(TEST_PACKS))
    assert code == 2 and "key=value" in err
    code, _, _ = await attune("run", "qa.echo", "-o", "xml", "--direct")
    assert code == 2


async def test_validate_clean_and_broken():
    code, out, _ = await attune("validate", str(TEST_PACKS / "qa"))
    assert code == 0, out
    code, out, _ = await attune("validate", "/nonexistent/path")
    assert code == 2
    # Where no installed packs are found, it says what it could not check instead of a bare "ok".
    code, out, err = await attune("validate", str(TEST_PACKS / "qa"), "--packs", "/nonexistent")
    assert code == 2 and "--packs /nonexistent: no such directory" in err
    code, out, err = await attune("validate", str(TEST_PACKS / "qa"), env={"ATTUNE_PACKS_DIR": "/nonexistent"})
    assert "note: no installed packs at /nonexistent: actions of other packs (core.*) are not checked" in err


async def test_validate_without_installed_packs_does_what_its_note_says(tmp_path):
    """It said other packs' actions were not checked, and then reported `core.noop` unknown
    (exit 1). They pass unchecked; a typo in the pack's own refs is still an error."""
    pack = tmp_path / "v"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text('ref: v\nversion: "1.0"\n')
    (pack / "actions" / "a.yaml").write_text("ref: v.a\nworkflow_file: workflows/a.workflow.yaml\n")
    flow = pack / "actions" / "workflows" / "a.workflow.yaml"
    flow.write_text('version: "1.0"\ntasks:\n  - name: t\n    action: core.noop\n')
    code, out, err = await attune("validate", str(pack), env={"ATTUNE_PACKS_DIR": str(tmp_path / "none")})
    assert code == 0 and "not checked" in err, out + err
    flow.write_text('version: "1.0"\ntasks:\n  - name: t\n    action: core.noop\n  - name: u\n    action: v.b\n')
    code, out, err = await attune("validate", str(flow), env={"ATTUNE_PACKS_DIR": str(tmp_path / "none")})
    assert code == 1 and out.strip() == f"{flow}:6:13: unknown action 'v.b'", out


async def test_ctrl_c_of_a_direct_run_exits_130_saying_it_goes_on_and_how_to_cancel_it(temporal_stack):
    """Ctrl-C of `run --direct` exited 130 silently: it now says the run goes on on Temporal
    (nothing cancels it) and gives the commands that wait for it and cancel it, which work."""
    started = datetime.now(UTC)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "attune.cli", "run", "qa.sleep", "seconds=120", "--direct", "--packs",
        str(TEST_PACKS), "--temporal-address", temporal_stack.address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        workflow_id = await _running_since(temporal_stack.engine, "qa.sleep-", started)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
    said = " ".join(err.decode().split())
    assert proc.returncode == 130 and out == b"", said
    assert (f"interrupted: workflow {workflow_id} goes on running on Temporal without this command; "
            "Ctrl-C does not cancel it") in said
    assert "Traceback" not in said
    handle = temporal_stack.engine.handle(workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING  # as said
    cancel = re.search(r"cancel it: `([^`]+)`", said)
    assert cancel and re.search(r"wait for its result: `[^`]+ workflow result --workflow-id ", said, re.I), said
    done = await asyncio.to_thread(subprocess.run, shlex.split(cancel.group(1)), capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def _running_since(engine, prefix: str, since: datetime) -> str:
    """The id of the run started by `since` whose id starts with `prefix`, once Temporal has it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async for run in engine.client.list_workflows("ExecutionStatus = 'Running'"):
            if run.id.startswith(prefix) and run.start_time >= since:
                return run.id
        await asyncio.sleep(0.3)
    raise AssertionError(f"no {prefix}* run started")


async def test_queue_prefix_covers_the_orchestrator_queue_too(temporal_stack):
    prefix = f"fleet{os.getpid()}"
    workers = [subprocess.Popen([sys.executable, "-m", "attune.cli", "worker", "--runtime", runtime,
                                 "--temporal-address", temporal_stack.address, "--queue-prefix", prefix],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for runtime in ("orchestrator", "shell")]
    try:
        code, out, err = await attune("run", "qa.echo", "value=5", "-o", "json", "--direct",
                                      "--packs", str(TEST_PACKS), "--temporal-address",
                                      temporal_stack.address, env={"ATTUNE_QUEUE_PREFIX": prefix})
        assert code == 0, err
        body = json.loads(out)
        described = await temporal_stack.engine.handle(body["id"]).describe()
        assert described.task_queue == f"{prefix}-orchestrator" and body["result"]["data"] == {"value": 5}
        history = await temporal_stack.engine.handle(body["id"]).fetch_history()
        queues = [e.activity_task_scheduled_event_attributes.task_queue.name for e in history.events
                  if e.HasField("activity_task_scheduled_event_attributes")]
        assert queues == [f"{prefix}-shell"]
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _metrics(port: int, wanted: str) -> str:
    """The worker's /metrics page once it shows `wanted` (the SDK exports on its own schedule)."""
    import httpx

    text = ""
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            except httpx.TransportError:
                text = ""
            if wanted in text:
                return text
            await asyncio.sleep(0.1)
    raise AssertionError(f"{wanted!r} not in the metrics page:\n{text[:2000]}")


async def test_workers_serve_sdk_metrics_for_prometheus(temporal_stack):
    """`--metrics-bind` (and ATTUNE_METRICS_BIND, here with a host name) serve the SDK's meters
    for the worker's own task queue: the orchestrator's workflow tasks and sticky cache, the
    runtime's activities."""
    prefix = f"meter{os.getpid()}"
    ports = {"orchestrator": _free_port(), "shell": _free_port()}
    workers = [
        subprocess.Popen([sys.executable, "-m", "attune.cli", "worker", "--runtime", "orchestrator",
                          "--temporal-address", temporal_stack.address, "--queue-prefix", prefix,
                          "--metrics-bind", f"127.0.0.1:{ports['orchestrator']}"],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "attune.cli", "worker", "--runtime", "shell",
                          "--temporal-address", temporal_stack.address, "--queue-prefix", prefix],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "ATTUNE_METRICS_BIND": f"localhost:{ports['shell']}"}),
    ]
    try:
        code, _, err = await attune("run", "qa.echo", "value=5", "--direct", "--packs", str(TEST_PACKS),
                                    "--temporal-address", temporal_stack.address,
                                    env={"ATTUNE_QUEUE_PREFIX": prefix})
        assert code == 0, err
        orchestrator = await _metrics(ports["orchestrator"], "temporal_workflow_completed")
        assert f'task_queue="{prefix}-orchestrator"' in orchestrator
        assert "temporal_sticky_cache_size" in orchestrator
        shell = await _metrics(ports["shell"], "temporal_activity_execution_latency")
        assert f'task_queue="{prefix}-shell"' in shell and 'activity_type="run_action"' in shell
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)


async def _worker_error(*args: str) -> tuple[int, str]:
    code, _, err = await attune(*args)
    return code, " ".join(err.split())  # Rich wraps the message at the terminal's width


async def test_a_metrics_address_that_cannot_serve_exits_2_naming_it():
    code, err = await _worker_error("worker", "--runtime", "shell", "--metrics-bind", "nonsense")
    assert code == 2 and "--metrics-bind 'nonsense' is not host:port" in err
    code, err = await _worker_error("worker", "--runtime", "shell", "--metrics-bind", "127.0.0.1:99999")
    assert code == 2 and "port must be a number from 1 to 65535" in err
    code, err = await _worker_error("worker", "--runtime", "shell", "--metrics-bind", "no-such-host.invalid:9464",
                                    "--temporal-address", "127.0.0.1:1")
    assert code == 2 and "cannot serve metrics at no-such-host.invalid:9464" in err, err
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        code, err = await _worker_error("worker", "--runtime", "shell", "--metrics-bind", bind,
                                        "--temporal-address", "127.0.0.1:1")
    assert code == 2 and f"cannot serve metrics at {bind}" in err and "in use" in err, err
