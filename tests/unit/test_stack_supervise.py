"""`attune up`'s supervision of its members (attune.stack._supervise), on a stand-in stack."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console

from attune import stack as stack_module


class _Exits:
    """A process that has exited with `code`."""

    def __init__(self, code: int) -> None:
        self.returncode = code

    def poll(self) -> int:
        return self.returncode


class _Stack:
    def __init__(self, tmp: Path, roles: dict[str, bool]) -> None:
        self.state = tmp
        self.recipes = {role: ([], tmp / f"{role}.log", {}) for role, restartable in roles.items() if restartable}
        self.members = [(role, _Exits(-9)) for role in roles]
        self.restarts: list[str] = []

    def exited(self) -> list[tuple[str, int]]:
        return [(role, proc.returncode) for role, proc in self.members if proc.poll() is not None]

    def restart(self, role: str) -> None:
        self.restarts.append(role)  # the new one dies at once too


@pytest.fixture
def no_waiting(monkeypatch):
    real = asyncio.sleep
    monkeypatch.setattr(stack_module.asyncio, "sleep", lambda _s: real(0))


def test_a_member_that_keeps_exiting_is_restarted_then_stops_the_stack(tmp_path, no_waiting):
    out = io.StringIO()
    fake = _Stack(tmp_path, {"shell": True})
    asyncio.run(asyncio.wait_for(stack_module._supervise(fake, Console(file=out, width=300)), 5))
    assert fake.restarts == ["shell"] * stack_module.MAX_RESTARTS
    text = out.getvalue()
    assert "shell exited (-9); starting it again in 1 s" in text and "again in 16 s" in text
    assert f"shell exited (-9): {stack_module.MAX_RESTARTS + 1} times in 60 s; stopping" in text


def test_the_server_exiting_stops_the_stack_at_once(tmp_path, no_waiting):
    out = io.StringIO()
    fake = _Stack(tmp_path, {"temporal": False})
    asyncio.run(asyncio.wait_for(stack_module._supervise(fake, Console(file=out, width=300)), 5))
    assert fake.restarts == [] and "temporal exited (-9): the stack cannot run without it; stopping" in out.getvalue()


def test_a_member_that_stops_the_stack_is_named_with_its_log_s_last_line(tmp_path, no_waiting):
    out = io.StringIO()
    fake = _Stack(tmp_path, {"api": True})
    (tmp_path / "api.log").write_text("starting\nModuleNotFoundError: No module named 'x'\x1b[2J\n\n")
    asyncio.run(asyncio.wait_for(stack_module._supervise(fake, Console(file=out, width=300)), 5))
    assert (f"stopping (see {tmp_path / 'api.log'}; its last line: ModuleNotFoundError: No module named "
            "'x'<U+001B>[2J)") in out.getvalue()


def test_a_member_that_exits_while_the_stack_starts_stops_it_at_once_naming_its_log(tmp_path):
    """The API (or a worker) that cannot even start: `attune up` waited a minute for the API and
    then said only that it did not come up."""
    from attune.engine.server import free_port
    from attune.settings import Settings

    fake = _Stack(tmp_path, {"api": True, "python": True})
    fake.members = [("api", _Running()), ("python", _Exits(1))]
    (tmp_path / "python.log").write_text("Traceback ...\nSystemExit: the user file click.py ran\n")
    settings = Settings(api_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError) as raised:
        asyncio.run(asyncio.wait_for(stack_module._wait_api(fake, settings), 5))
    assert str(raised.value) == (f"python exited (1) while the stack was starting; see {tmp_path / 'python.log'}; "
                                 "its last line: SystemExit: the user file click.py ran")


class _Running:
    returncode = None

    def poll(self) -> None:
        return None
