"""`attune worker`: run one worker role (a runtime pool member or the orchestrator) until stopped."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime

from attune.contract import EngineError
from attune.engine.client import EngineClient
from attune.engine.worker import build_workers
from attune.logs import temporal_telemetry
from attune.runtimes import warm
from attune.settings import Settings

log = logging.getLogger("attune.worker")


async def connect(settings: Settings, attempts: int = 1) -> Client:
    runtime = metrics_runtime(settings.metrics_bind) if settings.metrics_bind else None
    last: Exception | None = None
    for _ in range(attempts):
        try:
            engine = await EngineClient.connect(settings.temporal_address,
                                                settings.temporal_namespace,
                                                state_dir=settings.state_dir,
                                                blob_dir=settings.effective_blob_dir,
                                                runtime=runtime)
            return engine.client
        except Exception as exc:  # noqa: BLE001 - any connect failure is reported the same way
            last = exc
            await asyncio.sleep(0.5)
    if isinstance(last, EngineError):  # already says where, why and what to do
        raise ConnectionError(str(last))
    raise ConnectionError(f"cannot reach Temporal at {settings.temporal_address}: {last}")


def check_bind(bind: str, ports: int = 1) -> str | None:
    """Why `bind` is not a `host:port` to listen on (and on the `ports - 1` ports after it), or None."""
    host, colon, port = bind.rpartition(":")
    if not colon or not host:
        return f"{bind!r} is not host:port (e.g. 0.0.0.0:9464)"
    if not port.isdigit() or not 0 < int(port) <= 65536 - ports:
        return f"{bind!r}: the port must be a number from 1 to {65536 - ports}"
    return None


def metrics_runtime(bind: str) -> Runtime:
    """A Temporal runtime whose SDK metrics are served for Prometheus at http://<bind>/metrics.

    The SDK's own meters say what our logs cannot: how long tasks wait for a slot or a poller,
    and whether workflow tasks hit the sticky cache or replay whole histories."""
    try:
        address = _numeric(bind)
        return Runtime(telemetry=temporal_telemetry(metrics=PrometheusConfig(bind_address=address)))
    except (OSError, ValueError) as exc:  # the SDK says what failed (address in use, bad syntax)
        raise RuntimeError(f"cannot serve metrics at {bind}: {exc}") from None


def _numeric(bind: str) -> str:
    """`bind` with its host as an IP address: the SDK takes no names (`localhost:9464`)."""
    host, _, port = bind.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return bind
    except ValueError:
        family, *_, sockaddr = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
        return f"[{sockaddr[0]}]:{port}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{port}"


# SIGTERM also comes from the kernel when `attune up` dies (parent-death signal).
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
# Running actions are cancelled at once on shutdown and their groups end within seconds; what can
# take longer is reporting to a server that is gone.
SHUTDOWN_SECONDS = 20.0


async def run_workers(settings: Settings, roles: list[str], *, packs_root: str | None = None,
                      concurrency: int = 100) -> None:
    """Run until a worker fails or a stop signal arrives; then shut down: running actions are
    cancelled (their process groups ended) and the warm starters stop, so nothing outlives us."""
    client = await connect(settings, attempts=20)
    workers = build_workers(client, roles, packs_root=packs_root, concurrency=concurrency,
                            queue_prefix=settings.queue_prefix, state_dir=settings.state_dir,
                            sandboxed=settings.workflow_sandbox)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    runs = [asyncio.create_task(w.run()) for w in workers]
    log.info("worker %s polling %s (task queues %s)", "+".join(roles), settings.temporal_address,
             ", ".join(sorted({w.task_queue for w in workers})))
    try:
        await asyncio.wait([*runs, asyncio.create_task(stop.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        try:  # bounded: with the server gone too (its parent died), the SDK may retry for minutes
            await asyncio.wait_for(asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True),
                                   SHUTDOWN_SECONDS)
        except TimeoutError:
            log.warning("worker shutdown unfinished after %.0f s (Temporal unreachable?): stopping anyway",
                        SHUTDOWN_SECONDS)
        warm.shutdown()
    for run in runs:
        if run.done() and not run.cancelled() and run.exception():
            raise run.exception()  # type: ignore[misc]
