"""`attune up`: the embedded stack as child processes, stopped together on Ctrl-C.

Each pool is its own process (as in production), so a crash in one runtime does not take the
others down and each pool's memory can be measured on its own.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from rich.console import Console

from attune.engine.server import port_open, start_dev_server
from attune.secrets import load_key
from attune.settings import Settings

ROLES = ("orchestrator", "shell", "python", "nodejs")


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "attune.cli", *args], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


async def wait_http(url: str, timeout: float = 60.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            try:
                if (await client.get(url, timeout=1.0)).status_code < 500:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return False


def start_processes(settings: Settings, *, port: int, ui_port: int | None, with_api: bool,
                    console: Console) -> list[subprocess.Popen]:
    state = Path(settings.state_dir).resolve()
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    load_key(str(state))  # made once here, before the API and workers race to create it
    if port_open("127.0.0.1", port):
        raise RuntimeError(f"port {port} is already in use: is another `attune up` running?")
    procs = [start_dev_server(port=port, ui_port=ui_port, db_file=str(state / "temporal.db"),
                              log_file=str(logs / "temporal.log"))]
    env = {**os.environ, "ATTUNE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
           "ATTUNE_STATE_DIR": str(state), "ATTUNE_API_URL": settings.api_url}
    if ui_port:  # the web UI links runs to the Temporal Web UI
        env["ATTUNE_TEMPORAL_UI_PORT"] = str(ui_port)
    for role in ROLES:
        procs.append(_spawn(["worker", "--runtime", role], logs / f"worker-{role}.log", env))
    if with_api:
        procs.append(_spawn(["api", "--port", str(settings.api_port), "--host", settings.api_host],
                            logs / "api.log", env))
    console.print(f"logs in {logs}", highlight=False)
    return procs


def stop_processes(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def register_packs(settings: Settings, console: Console) -> None:
    root = Path(settings.packs_dir)
    if not root.is_dir():
        console.print(f"[yellow]no packs directory at {root}[/]")
        return
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    async with httpx.AsyncClient(base_url=settings.api_url, headers=headers) as client:
        for pack in sorted(p for p in root.iterdir() if (p / "pack.yaml").exists()):
            resp = await client.post("/api/v1/packs/register", json={"path": str(pack.resolve())},
                                     timeout=60)
            mark = "[green]registered[/]" if resp.status_code < 300 else f"[red]{resp.text}[/]"
            console.print(f"pack {pack.name}: {mark}", highlight=False)


async def run_stack(settings: Settings, *, port: int, ui_port: int | None, with_api: bool,
                    console: Console, demo: str | None = None) -> None:
    procs = start_processes(settings, port=port, ui_port=ui_port, with_api=with_api,
                            console=console)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if with_api:
            if not await wait_http(f"{settings.api_url}/api/v1/health"):
                raise RuntimeError(f"the API did not come up at {settings.api_url}; "
                                   f"see {settings.state_dir}/logs/api.log")
            await register_packs(settings, console)
            console.print(f"[bold]Web UI        {settings.api_url}/[/]")
        console.print(f"Temporal      {settings.temporal_address}")
        if ui_port:
            console.print(f"Temporal UI   http://127.0.0.1:{ui_port}")
        if with_api:
            console.print(f"API           {settings.api_url}/api/v1")
            console.print(f"API docs      {settings.api_url}/docs")
        console.print("[bold green]attune is up[/] — Ctrl-C stops everything")
        if demo:
            await _run_demo(demo, settings, console)
        while not stop.is_set():
            for proc in procs:
                if proc.poll() is not None:
                    console.print(f"[red]process {proc.args[-3:]} exited ({proc.returncode})[/]")
                    stop.set()
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
    finally:
        console.print("stopping…")
        stop_processes(procs)


async def _run_demo(action_ref: str, settings: Settings, console: Console) -> None:
    cmd = [sys.executable, "-m", "attune.cli", "run", action_ref, "--api-url", settings.api_url]
    console.print(f"$ attune run {action_ref}", highlight=False)
    proc = await asyncio.create_subprocess_exec(*cmd)
    await proc.wait()
