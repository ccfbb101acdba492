"""A worker process for the raw-SDK baseline: `python -m bench.raw_worker --role R --address A`.

Roles mirror Attune's processes: `orchestrator` runs the raw workflows on raw-orchestrator; `python`,
`shell` and `nodejs` run activities on raw-<runtime>, each spawning the same interpreter on the
same script of bench/packs with parameters on stdin, as Attune's runtime does (python -u for
Python, bash for shell, node for Node.js; JSON or dotenv on stdin; last stdout line parsed as JSON).
Worker limits match `attune.engine.worker`: 100 workflow tasks, 100 activities, 100 threads.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import shutil
import subprocess
import time
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from bench.raw_workflows import ORCHESTRATOR_QUEUE, RawChain, RawItems, runtime_queue

ACTIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "packs", "bench", "actions")
HEARTBEAT_SECONDS = 1.0  # Attune heartbeats every second while a process runs


def _real_python() -> str:
    """`python3` resolved to the real binary once (pyenv shims cost ~100 ms a spawn), as Attune
    does in `attune.runtimes.environments.system_python`."""
    candidate = os.environ.get("ATTUNE_PYTHON") or shutil.which("python3")
    out = subprocess.run([candidate, "-c", "import sys; print(sys.executable)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip() or candidate


INTERPRETERS: dict[str, list[str]] = {}


def _process_env() -> dict[str, str]:
    """The environment an Attune action gets (PATH, HOME, LANG, LC_ALL, TZ), not this worker's.
    A variable read at startup changes a process's cost: with NODE_EXTRA_CA_CERTS set (as on
    the benchmark VM), every node parses the whole CA bundle (55-80 ms of CPU each here), which Attune's
    actions never pay because their environment is built from nothing."""
    from attune.runtimes.isolation import action_environment

    return action_environment({}, {}, None)


def _argv(role: str, script: str) -> list[str]:
    if not INTERPRETERS:
        INTERPRETERS.update(python=[_real_python(), "-u"], shell=["/bin/bash"],
                            nodejs=[shutil.which("node") or "node"])
    return [*INTERPRETERS[role], os.path.join(ACTIONS_DIR, script)]


def _encode(params: dict[str, Any], fmt: str) -> bytes:
    if fmt == "dotenv":
        return "".join(f"{k}='{str(v).replace(chr(39), chr(39) + chr(92) + chr(39) + chr(39))}'\n"
                       for k, v in params.items()).encode()
    return json.dumps(params).encode()


async def _heartbeat() -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        activity.heartbeat()


async def _read_fd(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(fd, "rb", buffering=0))
    try:
        return await reader.read()
    finally:
        transport.close()


async def _run_warm(argv: list[str], payload: bytes) -> tuple[int | None, bytes, bytes] | None:
    """Fork the script from Attune's warm starter (the process launcher only, no engine code)."""
    from attune.runtimes import warm

    (in_r, in_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
    try:
        proc = await warm.launch(argv[0], argv[-1], argv[2:], ACTIONS_DIR, _process_env(),
                                 (in_r, out_w, err_w))
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    if proc is None:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        return None
    os.write(in_w, payload)  # a few bytes: fits the pipe buffer
    os.close(in_w)
    out, err = await asyncio.gather(_read_fd(out_r), _read_fd(err_r))
    return await proc.wait(), out, err


class Activities:
    def __init__(self, role: str) -> None:
        self.role = role

    @activity.defn(name="raw_run")
    async def raw_run(self, req: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        role = req.get("runtime", self.role)  # the orchestrator runs local activities of any runtime
        argv = _argv(role, req["script"])
        payload = _encode(req["params"], req["format"])
        beat = None if activity.info().is_local else asyncio.create_task(_heartbeat())
        try:
            done = None
            if req.get("mode") == "warm" and role == "python":
                done = await _run_warm(argv, payload)
            if done is None:
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    cwd=ACTIONS_DIR, env=_process_env(), start_new_session=True)
                out, err = await proc.communicate(payload)
                done = proc.returncode, out, err
        finally:
            if beat:
                beat.cancel()
        code, out, err = done
        result: dict[str, Any] = {"exit_code": code,
                                  "duration_ms": int((time.monotonic() - started) * 1000)}
        text = out.decode(errors="replace")
        if code != 0:
            raise RuntimeError(f"{argv[-1]} exited {code}: {err.decode(errors='replace')[-500:]}")
        lines = text.strip().splitlines()
        try:
            result["data"] = json.loads(lines[-1]) if lines else None
        except ValueError:
            result["stdout"] = text
        return result

    @activity.defn(name="raw_inproc")
    async def raw_inproc(self, params: dict[str, Any]) -> dict[str, Any]:
        """The work without a process: fibo(n) when given n (the chains), else an echo (the
        fan-outs and bench.three), the floor that plain in-process Temporal code sets."""
        started = time.monotonic()

        def fibo(k: int) -> int:
            return k if k < 2 else fibo(k - 1) + fibo(k - 2)

        data = {"n": params["n"], "result": fibo(params["n"])} if "n" in params else dict(params)
        return {"data": data, "duration_ms": int((time.monotonic() - started) * 1000)}


async def main(role: str, address: str, metrics_bind: str | None) -> None:
    runtime = None
    if metrics_bind:  # the same SDK meters as `attune worker --metrics-bind`
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics_bind)))
    client = await Client.connect(address, runtime=runtime)
    if role == "orchestrator":
        acts = Activities("python")  # for "local" chains: activities inside the orchestrator
        worker = Worker(client, task_queue=ORCHESTRATOR_QUEUE, workflows=[RawChain, RawItems],
                        activities=[acts.raw_run], max_concurrent_workflow_tasks=100,
                        max_concurrent_local_activities=100)
    else:
        acts = Activities(role)
        worker = Worker(client, task_queue=runtime_queue(role),
                        activities=[acts.raw_run, acts.raw_inproc], max_concurrent_activities=100,
                        activity_executor=concurrent.futures.ThreadPoolExecutor(100))
    print(f"raw worker {role} polling {address}", flush=True)
    await worker.run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", required=True, choices=["orchestrator", "python", "shell", "nodejs"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--metrics-bind")
    args = parser.parse_args()
    try:
        asyncio.run(main(args.role, args.address, args.metrics_bind))
    except KeyboardInterrupt:
        pass
