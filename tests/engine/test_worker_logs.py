"""A worker's log, as an operator reads it when Temporal goes away: every line in the stack's
format, the SDK core's included (they came with their own time format and ANSI colours, even
into a file)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from attune.engine.server import free_port, start_dev_server

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def test_the_sdk_cores_lines_come_in_the_logs_format_without_colours(tmp_path):
    port = free_port()
    server = start_dev_server(port=port, ui_port=None, db_file=None)
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "attune.cli", "worker", "--runtime", "shell",
             "--temporal-address", f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "ATTUNE_STATE_DIR": str(tmp_path)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not asyncio.run(_polled(port)) and time.monotonic() < deadline:
            time.sleep(0.2)  # its log says "polling" before the SDK has validated the namespace
        server.send_signal(signal.SIGKILL)  # the server is gone: the core retries and says so
        server.wait()
        while "temporalio.core" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    text = log.read_text()
    assert "temporalio.core" in text, text
    assert "\x1b[" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    starts = [line for line in lines if not line.startswith((" ", "\t", "Traceback"))]
    assert all(STAMP.match(line) for line in starts), [line for line in starts if not STAMP.match(line)]


HANDED_BACK = """
import logging
from temporalio.exceptions import ApplicationError
from attune import logs
logs.configure("info")
for kind in ("WorkerStopped", "SomethingElse"):
    try:
        raise ApplicationError("the shell worker was stopped; it runs again (attempt 2 of 5)", type=kind)
    except ApplicationError:
        logging.getLogger("temporalio.activity").warning("Completing activity as failed", exc_info=True)
"""


def test_a_task_handed_back_by_a_stopping_worker_is_one_line_not_a_traceback():
    """Stopping a worker hands its tasks back (Temporal runs them elsewhere), the documented
    path: each logged a 14-line traceback. Other activity failures keep theirs."""
    done = subprocess.run([sys.executable, "-c", HANDED_BACK], capture_output=True, text=True, timeout=60)
    lines = done.stderr.splitlines()
    assert STAMP.match(lines[0]) and lines[0].endswith(
        "Completing activity as failed: WorkerStopped: the shell worker was stopped; it runs again (attempt 2 of 5)"), lines
    assert lines[1].endswith("Completing activity as failed") and lines[2] == "Traceback (most recent call last):"


async def _polled(port: int) -> bool:
    """The worker polls its queue (so the server's death is met by polls, not start-up checks)."""
    try:
        client = await Client.connect(f"127.0.0.1:{port}")
        answer = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace="default", task_queue=TaskQueue(name="attune-shell"),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    except RuntimeError:
        return False
    return bool(answer.pollers)
